"""``cxbot report``: the weekly summary for managers (see bot.report.cli)."""

from bot.report.cli import register

__all__ = ["register"]
