"""Server-sent events as DeepSeek streams them (chat and FIM).

Lines starting with ``:`` are comments (``: keep-alive`` while a request is
queued); ``data: [DONE]`` ends a complete stream; usage comes on the finish
chunk (today) or on a trailing ``choices: []`` chunk (older API). Chat
chunks carry ``delta.content`` / ``delta.reasoning_content``, FIM chunks
``text``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .types import Usage
from .errors import StreamError


class SSEDecoder:
    """Turn SSE lines into event data strings (comments and other fields are dropped)."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        """Feed one line (without its line break); returns an event's data when one completes."""
        if line == "":
            return self.flush()
        if line.startswith(":"):
            return None  # comment, e.g. ": keep-alive"
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        return None

    def flush(self) -> str | None:
        """The pending event at the end of the stream (or at a blank line)."""
        if not self._data:
            return None
        data = "\n".join(self._data)
        self._data = []
        return data


@dataclass
class StreamState:
    """Accumulates the chunks of one chat stream."""

    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    usage: Usage | None = None
    model: str = ""
    finish_reason: str | None = None
    done: bool = False

    def feed(self, data: str) -> list[tuple[str, str]]:
        """Apply one event's data; returns the deltas it carried as ``(kind, text)``."""
        if data.strip() == "[DONE]":
            self.done = True
            return []
        try:
            chunk = json.loads(data)
        except ValueError:
            raise StreamError("DeepSeek sent a malformed stream event.") from None
        if not isinstance(chunk, dict):
            return []
        if isinstance(chunk.get("error"), dict):  # an error reported inside the stream
            raise StreamError(f"DeepSeek reported an error mid-answer: {chunk['error'].get('message', '')}")
        if "error" in chunk and chunk["error"]:
            raise StreamError(f"DeepSeek reported an error mid-answer: {str(chunk['error'])[:200]}")
        if chunk.get("model"):
            self.model = str(chunk["model"])
        if isinstance(chunk.get("usage"), dict):  # on the finish chunk, or a trailing choices: [] chunk
            self.usage = Usage.from_api(chunk["usage"])
        out: list[tuple[str, str]] = []
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            delta = delta if isinstance(delta, dict) else {}
            reasoning = delta.get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                self.reasoning.append(reasoning)
                out.append(("reasoning", reasoning))
            content = delta.get("content")
            if isinstance(content, str) and content:
                self.content.append(content)
                out.append(("content", content))
            text = choice.get("text")  # FIM (legacy completions) chunks
            if isinstance(text, str) and text:
                self.content.append(text)
                out.append(("content", text))
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        return out



