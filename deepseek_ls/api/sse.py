"""Server-sent events as DeepSeek streams them (chat and FIM).

Lines starting with ``:`` are comments (``: keep-alive`` while a request is
queued); ``data: [DONE]`` ends a complete stream; usage comes on the finish
chunk (today) or on a trailing ``choices: []`` chunk (older API). Chat
chunks carry ``delta.content`` / ``delta.reasoning_content``, FIM chunks
``text``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import MalformedAnswerError, StreamError, json_kind, text_field
from .jsonbody import loads
from .types import Usage


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
        """Apply one event's data; returns the deltas it carried as ``(kind, text)``.

        Raises :class:`StreamError` for an event that is not JSON or reports an
        error, and :class:`MalformedAnswerError` for an event of another shape
        (not an object, ``choices`` not a list, a null ``delta``, a ``content``
        that is not text, ...): such a stream is never taken for an empty answer.
        """
        if data.strip() == "[DONE]":
            self.done = True
            return []
        try:
            chunk = loads(data)
        except ValueError:
            raise StreamError("DeepSeek sent a malformed stream event.") from None
        if not isinstance(chunk, dict):
            raise MalformedAnswerError(f"a stream event is {json_kind(chunk)}, not an object")
        if isinstance(chunk.get("error"), dict):  # an error reported inside the stream
            message = chunk["error"].get("message")
            raise StreamError("DeepSeek reported an error mid-answer: "
                              f"{message if isinstance(message, str) and message else 'no details'}")
        if chunk.get("error"):
            raise StreamError(f"DeepSeek reported an error mid-answer: {str(chunk['error'])[:200]}")
        model = chunk.get("model")
        if model is not None and not isinstance(model, str):
            raise MalformedAnswerError(f"a stream event's model is {json_kind(model)}, not text")
        if model:
            self.model = model
        if chunk.get("usage") is not None:  # on the finish chunk, or a trailing choices: [] chunk
            self.usage = Usage.parse(chunk["usage"])
        choices = chunk.get("choices")
        if choices is None and "usage" in chunk:
            return []
        if not isinstance(choices, list):
            raise MalformedAnswerError(f"a stream event's choices is {json_kind(choices)}, not a list")
        out: list[tuple[str, str]] = []
        for choice in choices:
            if not isinstance(choice, dict):
                raise MalformedAnswerError(f"a stream event's choice is {json_kind(choice)}, not an object")
            if "delta" in choice:  # chat
                delta = choice["delta"]
                if not isinstance(delta, dict):
                    raise MalformedAnswerError(f"a stream event's delta is {json_kind(delta)}, not an object")
                reasoning = text_field(delta, "reasoning_content", "delta.")
                if reasoning:
                    self.reasoning.append(reasoning)
                    out.append(("reasoning", reasoning))
                content = text_field(delta, "content", "delta.")
                if content:
                    self.content.append(content)
                    out.append(("content", content))
            elif "text" in choice:  # FIM (legacy completions) chunks
                text = text_field(choice, "text", "choices[].")
                if text:
                    self.content.append(text)
                    out.append(("content", text))
            else:
                raise MalformedAnswerError("a stream event's choice has neither delta nor text")
            finish = text_field(choice, "finish_reason", "choices[].")
            if finish:
                self.finish_reason = finish
        return out
