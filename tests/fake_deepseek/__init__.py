"""Local fake of the DeepSeek API for tests and the benchmark.  See README.md."""
from .server import ChatReply, Fault, FakeDeepSeek, RecordedRequest
from .validation import ApiError
from . import profiles

__all__ = ["FakeDeepSeek", "ChatReply", "RecordedRequest", "Fault", "ApiError", "profiles"]
