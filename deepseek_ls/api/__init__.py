"""The DeepSeek HTTP client: FIM, chat, models, balance; typed errors; resilience."""

from .client import DeepSeekClient, FimRequest, FimResult, Usage
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

__all__ = [
    "APIConnectionError", "APIStatusError", "APITimeoutError", "AuthenticationError",
    "BadRequestError", "DeepSeekClient", "DeepSeekError", "FimRequest", "FimResult",
    "InsufficientBalanceError", "MissingApiKeyError", "RateLimitError", "ServerError",
    "StreamError", "Usage", "redact",
]
