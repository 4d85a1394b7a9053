"""The DeepSeek HTTP client: FIM, chat, models, balance; typed errors; resilience.

One ``httpx.AsyncClient`` per endpoint carries every request, through
:class:`H11Transport` (keep-alive HTTP/1.1 on h11) where it serves.

The names below are imported on first use (PEP 562): importing a submodule
(``deepseek_ls.api.errors``) does not load the client and its HTTP stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import DeepSeekClient, FimRequest, FimResult
    from .errors import (
        APIConnectionError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        DeepSeekError,
        InsufficientBalanceError,
        MissingApiKeyError,
        RateLimitError,
        ServerError,
        StreamError,
        redact,
    )
    from .transport import H11Transport
    from .types import Usage

_HOMES = {"DeepSeekClient": "client", "FimRequest": "client", "FimResult": "client", "Usage": "types",
          "H11Transport": "transport"}

__all__ = [
    "APIConnectionError", "APIStatusError", "APITimeoutError", "AuthenticationError",
    "BadRequestError", "DeepSeekClient", "DeepSeekError", "FimRequest", "FimResult", "H11Transport",
    "InsufficientBalanceError", "MissingApiKeyError", "RateLimitError", "ServerError",
    "StreamError", "Usage", "redact",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES.get(name, 'errors')}", __name__), name)
    globals()[name] = value
    return value
