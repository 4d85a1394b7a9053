"""Ghost text: the completion loop, one module per job.

``engine``        the loop: ``CompletionEngine.complete()`` as a sequence of named steps
``request``       ``CompletionRequest`` in, ``Suggestion`` out
``tickets``       latest wins: one live request per document
``flights``       requests in flight: joining, adopting orphans, aborting
``prompt_cache``  which prompt goes out: full, or short while a new head warms; window hints
``early``         early display of a streamed multi-line answer, stopping it once cut
``answer``        a raw answer cleaned for one cursor (``postprocess``)
``memory``        typed-ahead memory and the result cache
``rhythm``        the adaptive debounce
``failures``      pauses, breakers, outages, once-per-kind problem reports
``usage``         usage of stopped streams, estimated
``clock``         time and timers, one seam (tests pass a ``ManualClock``)
``config``        the loop's fixed numbers (debounce bounds, rhythm window, document size)

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
