"""Reply understanding: what a customer's chat reply to a survey question means (ANSWER_POLICY.md).

Pure functions over text: no clock, files, network or asyncio at call time.
"""

from __future__ import annotations

from flows.understanding.model import Intent, ReaskReason, Understanding
from flows.understanding.negativity import analyse_comment
from flows.understanding.understand import understand

__all__ = ["Intent", "ReaskReason", "Understanding", "analyse_comment", "understand"]
