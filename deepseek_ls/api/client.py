"""The DeepSeek HTTP client: one ``httpx.AsyncClient`` for ghost text, chat, models and balance.

FIM goes to ``POST {base}/beta/completions`` with no retries (the next
keystroke supersedes it) and a short timeout; cancelling the awaiting task
closes the connection, so the server stops generating tokens we would pay
for. Chat streaming lives in :mod:`deepseek_ls.api.chat` on top of this.

Every request goes through the client's one ``httpx.AsyncClient``; its
transport is chosen once, when the client is built: an injected one
(tests), else :class:`~deepseek_ls.api.transport.H11Transport` where it
serves (plain ``http``/``https``, no proxy), else httpx's own. Network
errors are mapped in one place (:func:`~deepseek_ls.api.errors.transport_errors`)
and both kinds of stream are read by one loop
(:func:`~deepseek_ls.api.sse.read_stream`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..lazy import LazyModule
from . import config as C
from . import jsonbody
from .errors import (
    APIConnectionError,
    APITimeoutError,
    DeepSeekError,
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
    transport_errors,
)
from .sse import StreamState, read_stream
from .types import EndpointKind, Usage

if TYPE_CHECKING:
    import httpx

    from .transport import H11Transport
else:
    httpx = LazyModule("httpx")  # imported at the first request, not at start-up

__all__ = ["DeepSeekClient", "FimRequest", "FimResult", "TraceHook", "Usage", "encode_json",
           "normalize_base_url"]

log = logging.getLogger(__name__)

TraceHook = Callable[[str, dict[str, Any]], None]
"""Called as ``hook(event, info)`` with ``"http_send"`` (about to send),
``"http_written"`` (the request is on the wire) and ``"http_first_byte"``
(the response head is in); ``info`` is empty (benchmark traces)."""

#: clients being closed after retirement (a reference keeps the task alive)
_closing: set[asyncio.Task[None]] = set()


@dataclass(frozen=True)
class FimRequest:
    """One fill-in-the-middle request: complete between ``prompt`` (the text before
    the cursor) and ``suffix`` (the text after it), at most ``max_tokens`` output
    tokens, stopping at any of ``stop``."""

    model: str
    prompt: str
    suffix: str
    max_tokens: int
    stop: tuple[str, ...] = ()
    temperature: float = 0.0

    def body(self) -> dict[str, Any]:
        """The JSON body of ``POST /beta/completions`` (not streamed; ``suffix`` and
        ``stop`` only when given)."""
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
    """The answer to a :class:`FimRequest`: ``text`` to insert at the cursor,
    ``finish_reason`` as DeepSeek gives it (``"stop"``, ``"length"``, or
    ``"stopped"`` when the caller stopped the stream), the token ``usage`` and the
    ``model`` that answered."""

    text: str
    finish_reason: str | None
    usage: Usage
    model: str
    #: stopped by the caller before the end: DeepSeek sent no usage, so
    #: ``usage`` holds only the output pieces received (one token each)
    stopped: bool = False


def _trace_extensions(trace: TraceHook | None) -> dict[str, Any]:
    """The ``trace`` request extension reporting ``http_written`` and ``http_first_byte``
    (httpcore's event names, which :class:`H11Transport` sends too)."""
    if trace is None:
        return {}

    async def on_trace(event: str, info: dict[str, Any]) -> None:
        if event == "http11.send_request_body.complete":
            trace("http_written", {})
        elif event == "http11.receive_response_headers.complete":
            trace("http_first_byte", {})

    return {"trace": on_trace}


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
    """Talks to one endpoint with one key, through one ``httpx.AsyncClient``.

    ``kind`` sets the URL paths under ``base_url`` (the API root, see
    :func:`deepseek_ls.settings.normalize_base_url`): ``"deepseek"`` uses
    DeepSeek's ``/beta/completions`` (FIM), ``/chat/completions`` and
    ``/models``; ``"openai"`` (any OpenAI-compatible server: Ollama,
    llama.cpp, another provider) uses ``/v1/completions`` (with
    ``suffix``), ``/v1/chat/completions`` and ``/v1/models``. A client with
    ``key_required=False`` (a local server) sends no ``Authorization``
    header when it has no key.

    ``transport``: an ``httpx.AsyncBaseTransport`` to send through (tests
    inject ``httpx.MockTransport``); without one the client picks
    :class:`~deepseek_ls.api.transport.H11Transport` or httpx's own when it
    is built (:func:`~deepseek_ls.api.transport.choose_transport`).

    Errors: the request methods raise :class:`~deepseek_ls.api.errors.DeepSeekError`
    subclasses (:class:`MissingApiKeyError` before sending anything,
    ``APIConnectionError`` / ``APITimeoutError`` for the network,
    ``APIStatusError`` subclasses for error statuses, ``MalformedAnswerError``
    for answers of another shape, ``StreamError`` for a cut stream).
    """

    base_url: str
    api_key: str
    transport: httpx.AsyncBaseTransport | None = None
    kind: EndpointKind = "deepseek"
    key_required: bool = True
    _h11: H11Transport | None = field(default=None, init=False, repr=False)
    _chosen: bool = field(default=False, init=False, repr=False)  # _h11 decided (on first use)
    #: ``DEEPSEEK_LS_HTTPX=1`` when the client was built (the transport itself is made on first use)
    _httpx_asked: bool = field(default=False, init=False, repr=False)
    _http: httpx.AsyncClient | None = field(default=None, init=False, repr=False)
    _warming: bool = field(default=False, init=False, repr=False)
    #: when the last warm-up request went out through httpx's own transport (monotonic s)
    _warmed_at: float | None = field(default=None, init=False, repr=False)
    _active: int = field(default=0, init=False, repr=False)
    _retired: bool = field(default=False, init=False, repr=False)
    _urls: dict[str, httpx.URL] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.base_url = normalize_base_url(self.base_url)
        if self.api_key:
            register_secret(self.api_key)
        self._httpx_asked = os.environ.get(C.HTTPX_ENV) == "1"

    # -- plumbing ------------------------------------------------------
    @property
    def http(self) -> httpx.AsyncClient:
        """The one AsyncClient of every request (created on first use, in the running loop)."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.base_url,
                # None: httpx's own (proxies honoured)
                transport=self.transport if self.transport is not None else self.h11_transport,
                limits=httpx.Limits(max_connections=16, max_keepalive_connections=8,
                                    keepalive_expiry=C.HTTPX_KEEPALIVE_S),
                follow_redirects=False,
                headers={"User-Agent": f"deepseek-ls/{__version__}"},
            )
        return self._http

    @property
    def h11_transport(self) -> H11Transport | None:
        """The :class:`H11Transport` requests go through, or None where another one
        does: an injected transport, a proxy, another scheme, ``DEEPSEEK_LS_HTTPX=1``.
        Decided once, on first use (so that the HTTP stack is not imported at start-up)."""
        if not self._chosen:
            self._chosen = True
            if self.transport is None:
                from .transport import choose_transport

                self._h11 = choose_transport(self.base_url, self._httpx_asked)
        return self._h11

    @property
    def fim_path(self) -> str:
        """The FIM endpoint (prompt + suffix) under the API root."""
        return "/beta/completions" if self.kind == "deepseek" else "/v1/completions"

    @property
    def models_path(self) -> str:
        """The model list endpoint under the API root."""
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

    def _url(self, path: str) -> httpx.URL:
        """``path`` under the API root, as httpx joins it, parsed once per path (URL
        parsing is the largest part of building a request)."""
        url = self._urls.get(path)
        if url is None:
            base = self.http.base_url  # with its trailing slash
            url = self._urls[path] = base.copy_with(raw_path=base.raw_path + path.lstrip("/").encode("ascii"))
        return url

    def _fim_headers(self) -> dict[str, str]:
        # Ghost-text answers are small and must not wait in a compressor's buffer:
        # ask for them uncompressed (httpx's client default offers gzip and others).
        return {**self.headers(), "Accept-Encoding": "identity"}

    async def aclose(self) -> None:
        """Close every connection now (the client still works: it opens new ones)."""
        if self._h11 is not None:
            self._h11.close()
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
        """Whether the AsyncClient exists or idle connections are kept."""
        return self._http is not None or bool(self._h11 and self._h11.idle_connections())

    def retire(self) -> None:
        """The key or endpoint changed: close the connections once the
        exchanges still running (a streaming chat answer) have ended."""
        self._retired = True
        if self._active == 0:
            self._close_soon()

    def _close_soon(self) -> None:
        if self._h11 is not None:
            self._h11.close()
        http, self._http = self._http, None
        if http is None:
            return
        try:
            task = asyncio.get_running_loop().create_task(http.aclose())
        except RuntimeError:  # no loop running: nothing is connected either
            return
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      timeout: httpx.Timeout) -> httpx.Response:
        """One whole request (body read) to ``path`` under the API root, with the key.

        ``json_body`` is sent as UTF-8 JSON (:func:`encode_json`) when not None.
        Returns the 2xx response; raises ``APIStatusError`` subclasses for other
        statuses and ``APIConnectionError`` / ``APITimeoutError`` for the network.
        """
        headers = self.headers()
        content = encode_json(json_body) if json_body is not None else None
        async with self.exchange():
            with transport_errors(f"{method} {path}"):
                response = await self.http.request(method, path, content=content, headers=headers,
                                                   timeout=timeout)
        if response.status_code >= 300:
            raise error_from_response(response.status_code, response.headers, response.content)
        return response

    @staticmethod
    def parse_json(response: httpx.Response) -> Any:
        """The JSON of a response body (leading blank keep-alive lines skipped);
        ``ServerError`` for an empty or non-JSON body."""
        return _json_body(response.status_code, response.content)

    async def open_stream(self, method: str, path: str, *, content: bytes, headers: dict[str, str],
                          timeout: httpx.Timeout, trace: TraceHook | None = None,
                          keep_spare: bool = False) -> httpx.Response:
        """Send a request; return the response once its head is in, whatever its status.

        The body is still to read (``aread``, or :func:`~deepseek_ls.api.sse.read_stream`);
        the caller must ``aclose`` the response (unread, that aborts the
        connection). ``content`` is the body as sent, ``headers`` the whole
        request headers (see :meth:`headers`). ``trace`` gets ``http_send``,
        ``http_written`` and ``http_first_byte``. ``keep_spare``: have a
        connection ready for the next request (ghost text). Raises
        ``APIConnectionError`` / ``APITimeoutError``.
        """
        if trace is not None:
            trace("http_send", {})
        extensions = _trace_extensions(trace)
        if keep_spare:
            from .transport import KEEP_SPARE

            extensions[KEEP_SPARE] = True
        http = self.http
        request = http.build_request(method, self._url(path), content=content, headers=headers,
                                     timeout=timeout, extensions=extensions)
        with transport_errors(f"{method} {path}"):
            return await http.send(request, stream=True)

    # -- endpoints -----------------------------------------------------
    async def fim(self, request: FimRequest, *, timeout_s: float = C.FIM_TIMEOUT_S,
                  trace: TraceHook | None = None) -> FimResult:
        """One FIM completion, no retries; the whole exchange is bounded by ``timeout_s``
        (s). ``trace``: see :meth:`open_stream`."""
        started = time.monotonic()
        content = encode_json(request.body())
        log.debug("FIM request: %s, %d prompt + %d suffix chars, %d bytes, max %d tokens", request.model,
                  len(request.prompt), len(request.suffix or ""), len(content), request.max_tokens)
        try:
            async with self.exchange(), asyncio.timeout(timeout_s):
                response = await self.open_stream("POST", self.fim_path, content=content,
                                                  headers=self._fim_headers(), timeout=_fim_timeout(timeout_s),
                                                  trace=trace, keep_spare=True)
                try:
                    with transport_errors(f"POST {self.fim_path}"):
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
        )
        log.debug("FIM answer: %d chars, finish %s, %s, %.0f ms", len(result.text), finish,
                  result.usage.brief(), (time.monotonic() - started) * 1000)
        return result

    async def fim_stream(self, request: FimRequest, on_text: Callable[[str], bool | None], *,
                         timeout_s: float = C.FIM_TIMEOUT_S,
                         trace: TraceHook | None = None) -> FimResult:
        """One streamed FIM completion, no retries; ``on_text`` gets each piece.

        When ``on_text`` returns True the caller has all it will use: the
        connection is closed at once (DeepSeek stops generating, and billing)
        and the text so far is returned with ``stopped`` set. The whole
        exchange is bounded by ``timeout_s``; cancelling the task closes the
        connection at once. A stream that ends without ``[DONE]`` is a
        ``StreamError``; a network failure after ``[DONE]`` is not an error.
        """
        pieces = 0
        started = time.monotonic()
        body = {**request.body(), "stream": True, "stream_options": {"include_usage": True}}
        headers = {**self._fim_headers(), "Accept": "text/event-stream"}
        content = encode_json(body)
        log.debug("FIM request (streamed): %s, %d prompt + %d suffix chars, %d bytes, max %d tokens",
                  request.model, len(request.prompt), len(request.suffix or ""), len(content), request.max_tokens)
        state = StreamState()
        stopped = False

        def on_delta(kind: str, text: str) -> bool | None:
            nonlocal pieces
            pieces += 1
            return on_text(text)

        try:
            async with self.exchange(), asyncio.timeout(timeout_s) as deadline:
                response = await self.open_stream("POST", self.fim_path, content=content, headers=headers,
                                                  timeout=_fim_timeout(timeout_s), trace=trace,
                                                  keep_spare=True)
                with transport_errors(f"POST {self.fim_path}"):
                    try:
                        if response.status_code >= 300:
                            raise error_from_response(response.status_code, response.headers,
                                                      await response.aread())
                        stopped = await read_stream(response, state, on_delta, deadline, drain_s=C.DRAIN_S)
                    finally:
                        await response.aclose()  # unfinished (stopped): aborts the connection
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
                             stopped=True)
        if not state.done:
            raise StreamError("the completion stream ended without [DONE]")
        log.debug("FIM answer (streamed): %d chars in %d pieces, finish %s, %s, %.0f ms",
                  sum(map(len, state.content)), pieces, state.finish_reason, (state.usage or Usage()).brief(),
                  (time.monotonic() - started) * 1000)
        return FimResult(text="".join(state.content), finish_reason=state.finish_reason,
                         usage=state.usage or Usage(), model=state.model or request.model)

    def idle_connections(self) -> int | None:
        """Idle keep-alive connections of the :class:`H11Transport` (None when another
        transport serves: its pool is not ours to count)."""
        h11 = self.h11_transport
        return h11.idle_connections() if h11 is not None else None

    async def warm(self) -> None:
        """Have a spare keep-alive connection ready for the next request.

        A cancelled FIM request closes its connection; without a spare, the
        next ghost text would pay a new TCP (+ proxy CONNECT) + TLS handshake.
        With an :class:`H11Transport` a connection is opened (no request) when
        none is idle. With httpx's own transport (a proxy, ``DEEPSEEK_LS_HTTPX=1``),
        whose pool is not ours to look into, a free ``GET /models`` opens one,
        at most once per :data:`~deepseek_ls.api.config.HTTPX_KEEPALIVE_S` (not a
        request per keystroke). Best effort: never raises; does nothing without
        a key or with an injected transport.
        """
        if self._warming or (self.key_required and not self.api_key) or self.transport is not None:
            return
        h11 = self.h11_transport
        if h11 is not None and h11.idle_connections():
            return
        if h11 is None:
            now = time.monotonic()
            if self._warmed_at is not None and now - self._warmed_at < C.HTTPX_KEEPALIVE_S:
                return
            self._warmed_at = now
        self._warming = True
        try:
            if h11 is not None:
                await h11.open_spare(self.base_url, C.FIM_CONNECT_TIMEOUT_S)  # a connection, no request
            else:
                await self.request("GET", self.models_path, timeout=httpx.Timeout(5.0,
                                   connect=C.FIM_CONNECT_TIMEOUT_S))
        except (httpx.TransportError, DeepSeekError) as exc:  # best effort: the next request connects itself
            log.debug("no spare connection: %s", describe(exc))
        finally:
            self._warming = False

    async def models(self, *, timeout_s: float = 10.0) -> list[str]:
        """Names served by ``GET /models`` (``/v1/models`` for other kinds)."""
        response = await self.request("GET", self.models_path, timeout=httpx.Timeout(timeout_s))
        data = self.parse_json(response)
        models = data.get("data") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise ServerError(response.status_code, "the model list is not a list")
        return [str(m.get("id")) for m in models if isinstance(m, dict)]

    async def balance(self, *, timeout_s: float = 10.0) -> dict[str, Any]:
        """The raw ``GET /user/balance`` answer (a JSON object); ``MalformedAnswerError``
        for another JSON type."""
        response = await self.request("GET", "/user/balance", timeout=httpx.Timeout(timeout_s))
        data = self.parse_json(response)
        if not isinstance(data, dict):
            raise MalformedAnswerError(f"JSON {json_kind(data)}, not an object", response.status_code)
        return data
