"""Chat completions: streamed answers (chat, explain) and prefix completions (code actions).

``POST {base}/chat/completions`` with ``stream: true`` and
``stream_options.include_usage``; the SSE stream may start with
``: keep-alive`` comments while the request is queued, carries
``reasoning_content`` deltas before ``content`` deltas in thinking mode, and
reports usage either on the finish chunk (today) or on a trailing chunk with
``choices: []`` (older API). A stream that ends without ``data: [DONE]`` or
goes silent for ``idle_timeout_s`` is a :class:`StreamError`; retries (see
:mod:`.retry`) only happen before the first byte of an answer.

Prefix completions (``POST {base}/beta/chat/completions`` whose last
message is an assistant message with ``prefix: true``) are not streamed:
the code actions need the whole text before they can build an edit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from . import config as C
from .client import DeepSeekClient, encode_json
from .errors import (
    MalformedAnswerError,
    StreamError,
    error_from_response,
    json_kind,
    text_field,
)
from .retry import RetryPolicy, with_retries
from .sse import StreamState, read_stream
from .types import Usage

log = logging.getLogger(__name__)

DeltaHook = Callable[[str, str], None]
"""Called as ``hook(kind, text)`` with kind ``"reasoning"`` or ``"content"``."""


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion request (messages are plain API dicts)."""

    model: str
    messages: tuple[dict[str, Any], ...]
    thinking: bool = False
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    stream: bool = True
    beta: bool = False
    temperature: float | None = None

    @property
    def path(self) -> str:
        return "/beta/chat/completions" if self.beta else "/chat/completions"

    def body(self) -> dict[str, Any]:
        """The JSON body. Thinking is always explicit: today's models think unless told not to."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in self.messages],
            "thinking": {"type": "enabled" if self.thinking else "disabled"},
            "stream": self.stream,
        }
        if self.stream:
            body["stream_options"] = {"include_usage": True}
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.stop:
            body["stop"] = list(self.stop)
        if self.temperature is not None and not self.thinking:
            body["temperature"] = self.temperature
        return body


@dataclass(frozen=True)
class ChatResult:
    """The whole answer of one request."""

    content: str
    reasoning: str
    usage: Usage
    model: str
    finish_reason: str | None = None


@dataclass(frozen=True)
class Timeouts:
    """Timeouts of chat requests (s)."""

    connect_s: float = C.CHAT_CONNECT_TIMEOUT_S
    #: Longest wait for the response head / one socket read (a thinking model may be silent for minutes).
    read_s: float = C.CHAT_READ_TIMEOUT_S
    #: Longest silence inside a stream (keep-alive comments count as life).
    idle_s: float = C.CHAT_IDLE_TIMEOUT_S

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(self.read_s, connect=self.connect_s, write=self.connect_s, pool=self.connect_s)


# -- requests ---------------------------------------------------------------
async def _open_stream(client: DeepSeekClient, request: ChatRequest, timeouts: Timeouts) -> httpx.Response:
    """Send the request; return the streaming response once its status is 2xx."""
    headers = {**client.headers(), "Accept": "text/event-stream"}
    path = client.chat_path(request.beta)
    content = encode_json(client.adapt_chat_body(request.body()))
    log.debug("chat request: %s, %d messages, %d chars, %d bytes, thinking %s", request.model,
              len(request.messages), sum(len(str(m.get("content") or "")) for m in request.messages),
              len(content), request.thinking)
    response = await client.open_stream("POST", path, content=content, headers=headers,
                                        timeout=timeouts.httpx())
    if response.status_code >= 300:
        try:
            body = await response.aread()
        except httpx.HTTPError:
            body = b""
        finally:
            await response.aclose()
        raise error_from_response(response.status_code, response.headers, body)
    return response


async def stream_chat(client: DeepSeekClient, request: ChatRequest, on_delta: DeltaHook | None = None, *,
                      timeouts: Timeouts | None = None, policy: RetryPolicy | None = None,
                      on_retry: Callable[[int, BaseException, float], None] | None = None) -> ChatResult:
    """Stream one chat answer, calling ``on_delta`` per delta; return the whole answer.

    Retries (``policy``; ``on_retry(attempt, error, wait_s)`` before each wait)
    only until the answer starts. Raises ``StreamError`` when the stream breaks,
    goes silent for ``timeouts.idle_s`` or ends without ``[DONE]``, and the
    other :class:`~deepseek_ls.api.errors.DeepSeekError` subclasses as
    :class:`~deepseek_ls.api.client.DeepSeekClient` does. Cancelling the
    awaiting task closes the connection at once.
    """
    async with client.exchange():
        return await _stream_chat(client, request, on_delta, timeouts or Timeouts(), policy, on_retry)


async def _stream_chat(client: DeepSeekClient, request: ChatRequest, on_delta: DeltaHook | None,
                       timeouts: Timeouts, policy: RetryPolicy | None,
                       on_retry: Callable[[int, BaseException, float], None] | None) -> ChatResult:
    response = await with_retries(lambda: _open_stream(client, request, timeouts), policy, on_retry=on_retry)
    state = StreamState()
    try:
        try:
            async with asyncio.timeout(timeouts.idle_s) as watchdog:
                await read_stream(response, state, on_delta, watchdog, drain_s=C.DRAIN_S,
                                  idle_s=timeouts.idle_s)
        except TimeoutError:
            if not state.done:
                raise StreamError(f"DeepSeek sent nothing for {timeouts.idle_s:g} s; the answer was abandoned.") from None
        except httpx.TimeoutException:
            if not state.done:
                raise StreamError("DeepSeek stopped sending mid-answer (read timeout).") from None
        except httpx.HTTPError as exc:
            if not state.done:
                raise StreamError(f"The connection to DeepSeek broke mid-answer ({type(exc).__name__}).") from None
    finally:
        await response.aclose()
    if not state.done:
        raise StreamError("The answer stream ended without [DONE]; it is incomplete.")
    log.debug("chat answer: %d chars (+%d reasoning), finish %s, %s", sum(map(len, state.content)),
              sum(map(len, state.reasoning)), state.finish_reason, (state.usage or Usage()).brief())
    return ChatResult(content="".join(state.content), reasoning="".join(state.reasoning),
                      usage=state.usage or Usage(), model=state.model or request.model,
                      finish_reason=state.finish_reason)


async def complete_once(client: DeepSeekClient, request: ChatRequest, *, timeouts: Timeouts | None = None,
                        policy: RetryPolicy | None = None) -> ChatResult:
    """One non-streamed chat completion (used for prefix completions), with retries."""
    timeouts = timeouts or Timeouts()
    if request.stream:
        raise ValueError("complete_once needs a request with stream=False")

    async def call() -> ChatResult:
        log.debug("prefix chat request: %s, %d messages, %d chars, max %s tokens", request.model,
                  len(request.messages), sum(len(str(m.get("content") or "")) for m in request.messages),
                  request.max_tokens)
        response = await client.request("POST", client.chat_path(request.beta),
                                        json_body=client.adapt_chat_body(request.body()),
                                        timeout=timeouts.httpx())
        data = client.parse_json(response)
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise MalformedAnswerError(f"JSON {json_kind(data)} without choices", response.status_code)
        message = choices[0].get("message")
        if not isinstance(message, dict):
            raise MalformedAnswerError(f"choices[0].message is {json_kind(message)}, not an object",
                                       response.status_code)
        content = text_field(message, "content", "choices[0].message.")
        reasoning = text_field(message, "reasoning_content", "choices[0].message.")
        finish = text_field(choices[0], "finish_reason", "choices[0].")
        model = text_field(data, "model", "")
        result = ChatResult(content=content or "", reasoning=reasoning or "",
                            usage=Usage.parse(data.get("usage")), model=model or request.model,
                            finish_reason=finish)
        log.debug("prefix chat answer: %d chars, finish %s, %s", len(result.content), finish, result.usage.brief())
        return result

    return await with_retries(call, policy)
