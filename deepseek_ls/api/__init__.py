"""The DeepSeek HTTP client: FIM, chat, models, balance; typed errors; resilience.

One ``httpx.AsyncClient`` per endpoint carries every request, through
:class:`H11Transport` (keep-alive HTTP/1.1 on h11) where it serves.
"""

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

__all__ = [
    "APIConnectionError", "APIStatusError", "APITimeoutError", "AuthenticationError",
    "BadRequestError", "DeepSeekClient", "DeepSeekError", "FimRequest", "FimResult", "H11Transport",
    "InsufficientBalanceError", "MissingApiKeyError", "RateLimitError", "ServerError",
    "StreamError", "Usage", "redact",
]
