"""The DeepSeek HTTP client (one shared ``httpx.AsyncClient``).

FIM goes to ``POST {base}/beta/completions`` with no retries (the next
keystroke supersedes it) and a short timeout; cancelling the awaiting task
closes the connection, so the server stops generating tokens we would pay
for. Chat streaming lives in :mod:`deepseek_ls.api.chat` on top of this.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..lazy import LazyModule
from . import config as C
from . import jsonbody
from .errors import (
    APIConnectionError,
    APITimeoutError,
    InvalidApiKeyError,
    MalformedAnswerError,
    MissingApiKeyError,
    ServerError,
    StreamError,
    describe,
    error_from_response,
    json_kind,
    register_secret,
    text_field,
)
from .lean import LeanError, LeanPool, LeanResponse
from .lean import supported as lean_supported
from .sse import SSEDecoder, StreamState
from .types import Usage

if TYPE_CHECKING:
    import httpx
else:
    httpx = LazyModule("httpx")  # imported at the first request, not at start-up

log = logging.getLogger(__name__)

TraceHook = Callable[[str, dict[str, Any]], None]

#: pools of retired clients being closed (a reference keeps the task alive)
_closing: set[asyncio.Task[None]] = set()


@dataclass(frozen=True)
class FimRequest:
    """One fill-in-the-middle request."""

    model: str
    prompt: str
    suffix: str
    max_tokens: int
    stop: tuple[str, ...] = ()
    temperature: float = 0.0

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "prompt": self.prompt,
                                "max_tokens": self.max_tokens, "temperature": self.temperature,
                                "stream": False}
        if self.suffix:
            body["suffix"] = self.suffix
        if self.stop:
            body["stop"] = list(self.stop)
        return body


@dataclass(frozen=True)
class FimResult:
    text: str
    finish_reason: str | None
    usage: Usage
    model: str
    latency_s: float = 0.0
    #: stopped by the caller before the end: DeepSeek sent no usage, so
    #: ``usage`` holds only the output pieces received (one token each)
    stopped: bool = False


def _trace_extensions(trace: TraceHook | None) -> dict[str, Any]:
    """httpcore trace hooks that report ``http_written`` and ``http_first_byte``."""
    if trace is None:
        return {}

    async def on_trace(event: str, info: dict[str, Any]) -> None:
        if event == "http11.send_request_body.complete":
            trace("http_written", {})
        elif event == "http11.receive_response_headers.complete":
            trace("http_first_byte", {})

    return {"trace": on_trace}


@contextmanager
def _transport_errors(what: str) -> Iterator[None]:
    """Turn httpx's network errors into the typed, key-free ones."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise APITimeoutError(f"{what} timed out ({type(exc).__name__})") from None
    except (httpx.HTTPError, LeanError) as exc:
        raise APIConnectionError(f"{what} failed: {describe(exc)}") from None


def _fim_timeout(timeout_s: float) -> httpx.Timeout:
    return httpx.Timeout(timeout_s, connect=min(timeout_s, C.FIM_CONNECT_TIMEOUT_S))


def _json_body(status: int, content: bytes) -> Any:
    # Queued requests get blank keep-alive lines before the body;
    # json.loads skips leading whitespace, an empty body is a server fault.
    text = content.strip()
    if not text:
        raise ServerError(status, "empty response body")
    try:
        return jsonbody.loads(text)
    except ValueError as exc:  # also a body nested too deeply or with a 5000-digit number
        raise ServerError(status, f"response body is not JSON ({exc})") from None


def _sendable_key(key: str) -> bool:
    """Visible ASCII only: anything else cannot go in a header (or is a pasted note)."""
    return all(33 <= ord(c) < 127 for c in key)


def encode_json(obj: Any) -> bytes:
    """A request body as UTF-8 JSON, whatever text it carries.

    Editor text can hold lone UTF-16 surrogates (half an emoji, from a
    client's bad edit), which UTF-8 cannot encode; they become U+FFFD, so
    one odd character costs that character, not the request (nor every
    other file's requests that carry this file as context).
    """
    text = json.dumps(obj, ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def _completion_choice(status: int, data: Any) -> dict[str, Any]:
    """The first choice of a FIM answer; ServerError for an answer of another shape."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedAnswerError(f"JSON {json_kind(data)} without choices", status)
    return choices[0]


def normalize_base_url(url: str) -> str:
    """Strip a trailing slash and the ``/v1`` or ``/beta`` alias paths."""
    url = url.rstrip("/")
    for tail in ("/v1", "/beta"):
        if url.endswith(tail):
            url = url[: -len(tail)]
    return url


@dataclass
class DeepSeekClient:
    """Talks to one endpoint with one key.

    ``kind`` sets the URL paths under ``base_url`` (the API root, see
    :func:`deepseek_ls.settings.normalize_base_url`): ``"deepseek"`` uses
    DeepSeek's ``/beta/completions`` (FIM), ``/chat/completions`` and
    ``/models``; ``"openai"`` (any OpenAI-compatible server: Ollama,
    llama.cpp, another provider) uses ``/v1/completions`` (with
    ``suffix``), ``/v1/chat/completions`` and ``/v1/models``. A client with
    ``key_required=False`` (a local server) sends no ``Authorization``
    header when it has no key.
    """

    base_url: str
    api_key: str
    transport: httpx.AsyncBaseTransport | None = None
    kind: str = "deepseek"
    key_required: bool = True
    _http: httpx.AsyncClient | None = field(default=None, init=False, repr=False)
    _warming: bool = field(default=False, init=False, repr=False)
    _active: int = field(default=0, init=False, repr=False)
    _retired: bool = field(default=False, init=False, repr=False)
    _lean: LeanPool | None = field(default=None, init=False, repr=False)
    _lean_checked: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.base_url = normalize_base_url(self.base_url)
        if self.api_key:
            register_secret(self.api_key)

    # -- plumbing ------------------------------------------------------
    @property
    def http(self) -> httpx.AsyncClient:
        """The shared AsyncClient (created on first use, in the running loop)."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.base_url,
                transport=self.transport,
                limits=httpx.Limits(max_connections=16, max_keepalive_connections=8,
                                    keepalive_expiry=60.0),
                follow_redirects=False,
                headers={"User-Agent": f"deepseek-ls/{__version__}"},
            )
        return self._http

    @property
    def lean(self) -> LeanPool | None:
        """The lean HTTP/1.1 pool for ghost-text requests (see :mod:`.lean`), or
        None where httpx must do it: an injected transport, a proxy, another
        scheme, or ``DEEPSEEK_LS_HTTPX=1``."""
        if not self._lean_checked:
            self._lean_checked = True
            if (self.transport is None and os.environ.get("DEEPSEEK_LS_HTTPX") != "1"
                    and lean_supported(self.base_url)):
                self._lean = LeanPool(self.base_url, f"deepseek-ls/{__version__}")
        return self._lean

    @property
    def fim_path(self) -> str:
        """The FIM endpoint (prompt + suffix) under the API root."""
        return "/beta/completions" if self.kind == "deepseek" else "/v1/completions"

    @property
    def models_path(self) -> str:
        return "/models" if self.kind == "deepseek" else "/v1/models"

    def chat_path(self, beta: bool = False) -> str:
        """The chat endpoint; ``beta`` (prefix completion) exists on DeepSeek only."""
        if self.kind == "deepseek":
            return "/beta/chat/completions" if beta else "/chat/completions"
        return "/v1/chat/completions"

    def adapt_chat_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """A chat body for this endpoint: DeepSeek's ``thinking`` switch is not
        OpenAI's, so other kinds do not get it."""
        if self.kind != "deepseek":
            body.pop("thinking", None)
        return body

    def headers(self) -> dict[str, str]:
        """Request headers with the key; raises MissingApiKeyError without one
        (unless the endpoint needs none)."""
        base = {"Content-Type": "application/json", "Accept": "application/json"}
        if not self.api_key:
            if not self.key_required:
                return base
            raise MissingApiKeyError()
        if not _sendable_key(self.api_key):
            raise InvalidApiKeyError()
        return {"Authorization": f"Bearer {self.api_key}", **base}

    async def aclose(self) -> None:
        if self._lean is not None:
            self._lean.close()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    @asynccontextmanager
    async def exchange(self) -> AsyncIterator[None]:
        """Brackets one HTTP exchange (a retired client closes after the last)."""
        self._active += 1
        try:
            yield
        finally:
            self._active -= 1
            if self._retired and self._active == 0:
                self._close_soon()

    @property
    def is_open(self) -> bool:
        """Whether an httpx pool or idle lean connections exist."""
        return self._http is not None or bool(self._lean and self._lean.idle_count())

    def retire(self) -> None:
        """The key or endpoint changed: close the connections once the
        exchanges still running (a streaming chat answer) have ended."""
        self._retired = True
        if self._active == 0:
            self._close_soon()

    def _close_soon(self) -> None:
        if self._lean is not None:
            self._lean.close()
        http, self._http = self._http, None
        if http is None:
            return
        try:
            task = asyncio.get_running_loop().create_task(http.aclose())
        except RuntimeError:  # no loop running: nothing is connected either
            return
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    async def _request(self, method: str, path: str, *, json_body: Any = None,
                       timeout: httpx.Timeout) -> httpx.Response:
        headers = self.headers()
        content = encode_json(json_body) if json_body is not None else None
        async with self.exchange():
            with _transport_errors(f"{method} {path}"):
                response = await self.http.request(method, path, content=content, headers=headers,
                                                   timeout=timeout)
        if response.status_code >= 300:
            raise error_from_response(response.status_code, response.headers, response.content)
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        return _json_body(response.status_code, response.content)

    async def _open(self, method: str, path: str, content: bytes, headers: dict[str, str],
                    timeout_s: float, trace: TraceHook | None) -> httpx.Response | LeanResponse:
        """Send a ghost-text request; the response with its body still to read.

        Goes the lean way when it can (see :attr:`lean`), through httpx
        otherwise; both responses offer ``status_code``, ``headers``,
        ``aread``, ``aiter_lines`` and ``aclose``.
        """
        if trace is not None:
            trace("http_send", {})
        pool = self.lean
        with _transport_errors(f"{method} {path}"):
            if pool is not None:
                return await pool.send(
                    method, path, headers, content,
                    connect_timeout_s=min(timeout_s, C.FIM_CONNECT_TIMEOUT_S),
                    on_written=(lambda: trace("http_written", {})) if trace else None,
                    on_first_byte=(lambda: trace("http_first_byte", {})) if trace else None)
            http_request = self.http.build_request(method, path, content=content, headers=headers,
                                                   timeout=_fim_timeout(timeout_s),
                                                   extensions=_trace_extensions(trace))
            return await self.http.send(http_request, stream=True)

    # -- endpoints -----------------------------------------------------
    async def fim(self, request: FimRequest, *, timeout_s: float = C.FIM_TIMEOUT_S,
                  trace: TraceHook | None = None) -> FimResult:
        """One FIM completion, no retries."""
        started = time.monotonic()
        content = encode_json(request.body())
        log.debug("FIM request: %s, %d prompt + %d suffix chars, %d bytes, max %d tokens", request.model,
                  len(request.prompt), len(request.suffix or ""), len(content), request.max_tokens)
        try:
            async with self.exchange(), asyncio.timeout(timeout_s):
                response = await self._open("POST", self.fim_path, content, self.headers(),
                                            timeout_s, trace)
                try:
                    with _transport_errors(f"POST {self.fim_path}"):
                        body = await response.aread()
                finally:
                    await response.aclose()
        except TimeoutError:
            raise APITimeoutError(f"POST {self.fim_path} took longer than {timeout_s:g} s") from None
        if response.status_code >= 300:
            raise error_from_response(response.status_code, response.headers, body)
        data = _json_body(response.status_code, body)
        choice = _completion_choice(response.status_code, data)
        text = text_field(choice, "text", "choices[0].")
        finish = text_field(choice, "finish_reason", "choices[0].")
        model = text_field(data, "model", "")
        result = FimResult(
            text=text or "",
            finish_reason=finish,
            usage=Usage.parse(data.get("usage")),
            model=model or request.model,
            latency_s=time.monotonic() - started,
        )
        log.debug("FIM answer: %d chars, finish %s, %s, %.0f ms", len(result.text), finish,
                  result.usage.brief(), result.latency_s * 1000)
        return result

    async def fim_stream(self, request: FimRequest, on_text: Callable[[str], bool | None], *,
                         timeout_s: float = C.FIM_TIMEOUT_S,
                         trace: TraceHook | None = None) -> FimResult:
        """One streamed FIM completion, no retries; ``on_text`` gets each piece.

        When ``on_text`` returns True the caller has all it will use: the
        connection is closed at once (DeepSeek stops generating, and billing)
        and the text so far is returned with ``stopped`` set. The whole
        exchange is bounded by ``timeout_s``; cancelling the task closes the
        connection at once.
        """
        pieces = 0
        started = time.monotonic()
        body = {**request.body(), "stream": True, "stream_options": {"include_usage": True}}
        headers = {**self.headers(), "Accept": "text/event-stream"}
        content = encode_json(body)
        log.debug("FIM request (streamed): %s, %d prompt + %d suffix chars, %d bytes, max %d tokens",
                  request.model, len(request.prompt), len(request.suffix or ""), len(content), request.max_tokens)
        decoder, state = SSEDecoder(), StreamState()
        stopped = False
        try:
            async with self.exchange(), asyncio.timeout(timeout_s) as deadline:
                response = await self._open("POST", self.fim_path, content, headers, timeout_s, trace)
                with _transport_errors(f"POST {self.fim_path}"):
                    try:
                        if response.status_code >= 300:
                            raise error_from_response(response.status_code, response.headers,
                                                      await response.aread())
                        async for line in response.aiter_lines():
                            if state.done:
                                continue  # reading to the end keeps the connection for the next request
                            data = decoder.feed(line)
                            if data is not None:
                                for _kind, text in state.feed(data):
                                    pieces += 1
                                    if on_text(text):
                                        stopped = True
                                        break
                            if stopped:
                                break  # aclose() aborts the unfinished response
                            if state.done:
                                deadline.reschedule(asyncio.get_running_loop().time() + C.DRAIN_S)
                    finally:
                        await response.aclose()
        except TimeoutError:
            if not state.done:
                raise APITimeoutError(f"POST {self.fim_path} took longer than {timeout_s:g} s") from None
            # the answer is whole; the body did not end: the connection is closed instead
        except (APIConnectionError, APITimeoutError):
            if not state.done:
                raise  # else: the answer is whole, only the end of the body was lost
        if stopped:
            return FimResult(text="".join(state.content), finish_reason="stopped",
                             usage=Usage(completion_tokens=pieces), model=state.model or request.model,
                             latency_s=time.monotonic() - started, stopped=True)
        if not state.done:
            raise StreamError("the completion stream ended without [DONE]")
        log.debug("FIM answer (streamed): %d chars in %d pieces, finish %s, %s, %.0f ms",
                  sum(map(len, state.content)), pieces, state.finish_reason, (state.usage or Usage()).brief(),
                  (time.monotonic() - started) * 1000)
        return FimResult(text="".join(state.content), finish_reason=state.finish_reason,
                         usage=state.usage or Usage(), model=state.model or request.model,
                         latency_s=time.monotonic() - started)

    def idle_connections(self) -> int | None:
        """Idle keep-alive connections in the pool (None when unknown)."""
        if self.lean is not None:
            return self.lean.idle_count()
        try:
            pool = self.http._transport._pool  # type: ignore[attr-defined]
            return sum(1 for c in pool.connections if c.is_idle())
        except Exception:
            return None

    async def warm(self) -> None:
        """Open a spare keep-alive connection with a free ``GET /models``.

        A cancelled FIM request closes its connection; without a spare, the
        next ghost text would pay a new TCP + TLS handshake.
        """
        if self._warming or (self.key_required and not self.api_key) or self.idle_connections() not in (0,):
            return
        self._warming = True
        try:
            if self.lean is not None:
                await self.lean.open_spare(C.FIM_CONNECT_TIMEOUT_S)  # a connection, no request
            else:
                await self._request("GET", self.models_path, timeout=httpx.Timeout(5.0))
        except Exception:  # best effort: the next real request connects itself
            pass
        finally:
            self._warming = False

    async def models(self, *, timeout_s: float = 10.0) -> list[str]:
        """Names served by ``GET /models`` (``/v1/models`` for other kinds)."""
        response = await self._request("GET", self.models_path, timeout=httpx.Timeout(timeout_s))
        data = self._json(response)
        models = data.get("data") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise ServerError(response.status_code, "the model list is not a list")
        return [str(m.get("id")) for m in models if isinstance(m, dict)]

    async def balance(self, *, timeout_s: float = 10.0) -> dict[str, Any]:
        """The raw ``GET /user/balance`` answer."""
        response = await self._request("GET", "/user/balance", timeout=httpx.Timeout(timeout_s))
        return self._json(response)


Factory = Callable[[str, str], DeepSeekClient]
