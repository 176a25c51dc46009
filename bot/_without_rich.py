"""Keeps rich and pygments (~5 MiB) out of processes that never show them.

Two libraries import them at import time only for extras cxbot does not use: ``structlog.dev``
(imported by ``import structlog``) for pretty tracebacks, which cxbot never renders
(bot.observability.logs formats every exception itself), and ``httpx._main`` (imported by
``import httpx``) for httpx's command line, which falls back to a stub without them. Those two
modules are loaded with rich and pygments hidden (as if not installed) unless already imported;
the commands that use rich (the demo, tables, progress bars) import it as usual.
"""

from __future__ import annotations

import sys
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType
from typing import Any

HIDDEN = ("rich", "pygments")
#: The modules loaded with HIDDEN hidden.
LOADED_WITHOUT = frozenset({"structlog.dev", "httpx._main"})


class _Hiding:
    """A module's loader, run with HIDDEN hidden (``import rich`` raises ImportError)."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:  # get_source and the rest, for tracebacks
        return getattr(self._loader, name)

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self._loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        hidden = [name for name in HIDDEN if name not in sys.modules]
        for name in hidden:
            sys.modules[name] = None  # type: ignore[assignment]
        try:
            self._loader.exec_module(module)
        finally:
            for name in hidden:
                if name in sys.modules and sys.modules[name] is None:
                    del sys.modules[name]


class _Finder:
    """Finds LOADED_WITHOUT as usual and gives each the hiding loader."""

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name not in LOADED_WITHOUT:
            return None
        spec = PathFinder.find_spec(name, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _Hiding(spec.loader)  # type: ignore[assignment]
        return spec


def install() -> None:
    """Load LOADED_WITHOUT without rich and pygments from now on."""
    if _Finder not in sys.meta_path:
        sys.meta_path.insert(0, _Finder)
