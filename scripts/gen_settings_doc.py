"""Regenerate the README's settings reference and .env.example from the settings class (`make docs`)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.cli.config_check import env_example, settings_reference

README = Path(__file__).resolve().parents[1] / "README.md"
text = README.read_text(encoding="utf-8")
block = f"<!-- settings:start -->\n{settings_reference()}\n<!-- settings:end -->"
pattern = re.compile(r"<!-- settings:start -->.*?<!-- settings:end -->", flags=re.S)
README.write_text(pattern.sub(lambda _: block, text), encoding="utf-8")
print("README.md settings reference regenerated")
(README.parent / ".env.example").write_text(env_example(), encoding="utf-8")
print(".env.example regenerated")
