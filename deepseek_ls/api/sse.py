"""Server-sent events as DeepSeek streams them (chat and FIM).

Lines starting with ``:`` are comments (``: keep-alive`` while a request is
queued); ``data: [DONE]`` ends a complete stream; usage comes on the finish
chunk (today) or on a trailing ``choices: []`` chunk (older API). Chat
chunks carry ``delta.content`` / ``delta.reasoning_content``, FIM chunks
``text``.

:func:`read_stream` is the one read loop of both: it reads a streaming
``httpx.Response`` line by line (:func:`iter_lines`) into a
:class:`StreamState`, under the caller's deadline.
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import httpx

from .errors import MalformedAnswerError, StreamError, json_kind, text_field
from .jsonbody import loads
from .types import Usage

StreamHook = Callable[[str, str], "bool | None"]
"""Called as ``hook(kind, text)`` per delta, kind ``"reasoning"`` or ``"content"``
(FIM pieces are ``"content"``); returning True stops the reading."""


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
    """Accumulates the chunks of one stream (chat or FIM).

    ``content`` / ``reasoning``: the text pieces in order; ``usage``: the
    usage chunk's (None until one came); ``model``, ``finish_reason``: the
    last ones seen; ``done``: ``data: [DONE]`` arrived (the answer is whole).
    """

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


async def iter_lines(response: httpx.Response) -> AsyncGenerator[str, None]:
    """The lines of a streaming response body, without their line breaks.

    UTF-8 (undecodable bytes become U+FFFD; a character split between two
    reads is joined). Lines end at CR LF, LF or CR, as the SSE format says,
    and nowhere else: httpx's ``aiter_lines`` also splits at U+2028, U+0085
    and the like (``str.splitlines``), which JSON text may carry unescaped,
    and which would cut an event in two.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    async for chunk in response.aiter_bytes():
        text = pending + decoder.decode(chunk)
        held = text.endswith("\r")  # its LF may come in the next read
        if held:
            text = text[:-1]
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        pending = lines.pop() + ("\r" if held else "")
        for line in lines:
            yield line
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending.removesuffix("\r")


async def read_stream(response: httpx.Response, state: StreamState, on_delta: StreamHook | None,
                      deadline: asyncio.Timeout, *, drain_s: float, idle_s: float | None = None) -> bool:
    """Read the SSE events of ``response`` into ``state``, calling ``on_delta(kind, text)`` per delta.

    Returns True when ``on_delta`` returned True: reading stopped there and
    the rest of the body is unread (closing the response then aborts its
    connection, so the server stops generating). Otherwise it returns at the
    end of the body; after ``data: [DONE]`` the rest is still read (so the
    connection can serve the next request), with ``deadline`` (the caller's
    ``asyncio.timeout``) moved to ``drain_s`` seconds ahead. With ``idle_s``,
    each line moves ``deadline`` to ``idle_s`` seconds ahead (a watchdog of
    silence) until then. An event left without its closing blank line at the
    end of the body still counts.

    Raises what :meth:`StreamState.feed` raises (``StreamError``,
    ``MalformedAnswerError``) and the transport's ``httpx.HTTPError``; the
    caller decides what a broken or unfinished stream means (``state.done``).
    """
    loop = asyncio.get_running_loop()
    decoder = SSEDecoder()
    async with aclosing(iter_lines(response)) as lines:
        async for line in lines:
            if state.done:
                continue  # reading to the end keeps the connection for the next request
            if idle_s is not None:
                deadline.reschedule(loop.time() + idle_s)
            data = decoder.feed(line)
            after = "more" if data is None else _apply(state, data, on_delta)
            if after == "stop":
                return True
            if after == "done":
                deadline.reschedule(loop.time() + drain_s)
    data = None if state.done else decoder.flush()
    return data is not None and _apply(state, data, on_delta) == "stop"


def _apply(state: StreamState, data: str, on_delta: StreamHook | None) -> Literal["stop", "done", "more"]:
    """Feed one event to ``state``: ``"stop"`` when ``on_delta`` asks to stop, else
    ``"done"`` once ``[DONE]`` came, else ``"more"``."""
    if any(on_delta is not None and on_delta(kind, text) for kind, text in state.feed(data)):
        return "stop"
    return "done" if state.done else "more"
