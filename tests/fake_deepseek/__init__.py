"""Local fake of the DeepSeek API for tests and the benchmark.  See README.md."""
from . import profiles
from .server import ChatReply, FakeDeepSeek, Fault, RecordedRequest
from .validation import ApiError

__all__ = ["FakeDeepSeek", "ChatReply", "RecordedRequest", "Fault", "ApiError", "profiles"]
