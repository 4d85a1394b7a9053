"""Debounce + latest-wins scheduling, caches and post-processing of ghost text.

The names below are imported on first use (PEP 562): importing a submodule
(``deepseek_ls.completion.postprocess``) does not load the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import CompletionEngine, CompletionRequest, Suggestion

__all__ = ["CompletionEngine", "CompletionRequest", "Suggestion"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(".engine", __name__), name)
    globals()[name] = value
    return value
