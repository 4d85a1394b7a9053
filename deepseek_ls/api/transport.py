"""``H11Transport``: keep-alive HTTP/1.1 connections on h11, under httpx's transport seam.

One ``httpx.AsyncClient`` serves every request (ghost text, chat, models,
balance); this module decides which transport it sends them through.

A keystroke's FIM request should leave the moment the debounce ends.
httpx's own transport gets it there through httpcore's pool and anyio's
checkpoints: about 1.5 ms of Python and several trips round the event loop
per request on a small machine. :class:`H11Transport` encodes the request
head and body with h11 (the parser httpcore itself uses), hands them to the
socket in one write, in the caller's own step, and parses the response with
h11 too. Connections are kept alive and reused, opened ahead of need
(:meth:`H11Transport.open_spare`, and in the background for requests that
carry the :data:`KEEP_SPARE` extension), and aborted, not drained, when a
response is closed unread (a cancelled request), so DeepSeek stops
generating at once.

It honours the request extensions ``timeout`` (``connect``, ``read`` and
``write`` in seconds; ``pool`` is not used: connections are not capped) and
``trace`` (the events ``http11.send_request_body.complete`` and
``http11.receive_response_headers.complete``, as httpcore names them), and
raises httpx's exceptions (``ConnectError``, ``ConnectTimeout``,
``WriteError``, ``WriteTimeout``, ``ReadError``, ``ReadTimeout``,
``RemoteProtocolError``, ``LocalProtocolError``, ``UnsupportedProtocol``),
so callers map one family of errors whichever transport served them.

Only plain ``http``/``https`` endpoints without a proxy take this
transport (:func:`choose_transport`); httpx's own transport serves the rest
(proxies in the environment, ``DEEPSEEK_LS_HTTPX=1``).
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import h11
import httpx

from .errors import describe

#: Idle connections older than this (s) are closed rather than reused (servers drop them).
KEEPALIVE_S = 50.0
#: Idle connections kept per origin; more are closed when released.
MAX_IDLE = 8
#: Request extension: when true, a connection is opened in the background if this
#: request took the last idle one, so the next request (the next keystroke) finds one.
KEEP_SPARE = "deepseek_ls.keep_spare"

#: Happy Eyeballs: seconds before the next address of a host is tried (RFC 8305's 250 ms).
HAPPY_EYEBALLS_DELAY_S = 0.25

_DEFAULT_PORTS = {"http": 80, "https": 443}
_READ_SIZE = 65536

#: ``(scheme, host, port)`` of a server; connections are kept per origin.
Origin = tuple[str, str, int]
_Trace = Callable[[str, dict[str, Any]], Awaitable[None]]


def proxied(base_url: str) -> bool:
    """Whether the environment (``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``...) routes
    ``base_url`` through a proxy."""
    parts = urllib.parse.urlsplit(base_url)
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    bypass: Callable[[str, dict[str, str]], bool] = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]  # in the stdlib, missing from typeshed
    return not bypass(parts.hostname or "", proxies)


def serves(base_url: str) -> bool:
    """Whether :class:`H11Transport` can carry requests to ``base_url``: ``http`` or
    ``https`` with a host name, and no proxy in the way."""
    parts = urllib.parse.urlsplit(base_url)
    return parts.scheme in _DEFAULT_PORTS and bool(parts.hostname) and not proxied(base_url)


def choose_transport(base_url: str, httpx_asked: bool) -> H11Transport | None:
    """The transport for a client of ``base_url``: an :class:`H11Transport` where it
    serves (see :func:`serves`), None (httpx builds its own, proxies included) where
    it cannot or ``DEEPSEEK_LS_HTTPX=1`` asks for httpx's (``httpx_asked``: that
    variable as read when the client was built)."""
    if httpx_asked or not serves(base_url):
        return None
    return H11Transport()


def origin_of(url: httpx.URL) -> Origin:
    """``(scheme, host, port)`` of ``url``; ``httpx.UnsupportedProtocol`` for a scheme
    other than ``http``/``https`` or a URL without a host."""
    default = _DEFAULT_PORTS.get(url.scheme)
    if default is None or not url.host:
        raise httpx.UnsupportedProtocol(f"H11Transport serves http and https URLs, not {url.scheme!r}")
    return url.scheme, url.host, url.port or default


class CannotConnect(httpx.ConnectError):
    """``httpx.ConnectError`` whose text says what failed and why ("cannot connect to
    HOST:PORT: ConnectionRefusedError: ..."), so messages show the text alone
    (:func:`~deepseek_ls.api.errors.describe`), not "ConnectError: cannot connect"."""

    names_its_cause = True


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection
    idle_since: float = 0.0
    received: int = 0  # bytes of the current exchange's response

    def usable(self, now: float) -> bool:
        return (not self.writer.transport.is_closing() and not self.reader.at_eof()
                and self.h11.our_state is h11.IDLE and now - self.idle_since < KEEPALIVE_S)

    def abort(self) -> None:
        self.writer.transport.abort()


async def _next_event(conn: _Conn, read_s: float | None, request: httpx.Request | None) -> Any:
    """The next h11 event of ``conn``, reading from the socket as needed (each read
    bounded by ``read_s``)."""
    while True:
        try:
            event = conn.h11.next_event()
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(f"bad HTTP from the server: {exc}", request=request) from None
        if event is not h11.NEED_DATA:
            if isinstance(event, h11.ConnectionClosed):
                raise httpx.RemoteProtocolError("the server closed the connection", request=request)
            return event
        try:
            if read_s is None:
                data = await conn.reader.read(_READ_SIZE)
            else:
                async with asyncio.timeout(read_s):
                    data = await conn.reader.read(_READ_SIZE)
        except TimeoutError:  # an OSError too: it stays a timeout
            raise httpx.ReadTimeout(f"no data from the server for {read_s:g} s", request=request) from None
        except OSError as exc:
            raise httpx.ReadError(describe(exc), request=request) from None
        conn.received += len(data)
        conn.h11.receive_data(data)  # b"" is EOF


class _ResponseBody(httpx.AsyncByteStream):
    """The body of one response, read from its connection on demand.

    Closing it returns the connection to the pool when the body was read to
    its end, and aborts it otherwise (the server sees the request go).
    """

    def __init__(self, pool: H11Transport, origin: Origin, conn: _Conn, read_s: float | None,
                 request: httpx.Request) -> None:
        self._pool = pool
        self._origin = origin
        self._conn: _Conn | None = conn
        self._read_s = read_s
        self._request = request
        self._complete = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None or self._complete:
            return
        while True:
            event = await _next_event(conn, self._read_s, self._request)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._complete = True
                return
            else:
                raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__} in the response body",
                                                request=self._request)

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._complete:
            self._pool._release(self._origin, conn)
        else:
            conn.abort()


class H11Transport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` sending HTTP/1.1 over keep-alive connections with h11.

    Give it to ``httpx.AsyncClient(transport=...)``. Connections are kept per
    origin (:data:`Origin`), at most :data:`MAX_IDLE` idle ones each, for
    :data:`KEEPALIVE_S` seconds; their number is not capped. A reused
    connection found dead before any response byte (the server closed it
    while idle) is replaced once. ``https`` uses ``ssl_context`` (default:
    ``httpx.create_ssl_context()``, httpx's trust store, ``SSL_CERT_FILE``
    honoured). After :meth:`aclose` it still sends requests, on a fresh
    connection each.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context
        self._idle: dict[Origin, list[_Conn]] = {}
        self._opening: dict[Origin, int] = {}
        self._closed = False
        #: spare-connection tasks in progress (a reference keeps them alive)
        self._background: set[asyncio.Task[None]] = set()

    # -- the pool, for the client ------------------------------------------
    def idle_connections(self) -> int:
        """Idle keep-alive connections ready for a request (all origins); closes
        those the server dropped or that are too old."""
        return sum(self._idle_count(origin) for origin in list(self._idle))

    async def open_spare(self, url: httpx.URL | str, timeout_s: float | None) -> None:
        """Open a keep-alive connection to ``url``'s origin ahead of need, unless one
        is idle or being opened already (sends no request).

        Raises ``httpx.ConnectError`` / ``httpx.ConnectTimeout`` (after
        ``timeout_s`` seconds) when the server cannot be reached.
        """
        origin = origin_of(httpx.URL(url))
        if self._idle_count(origin) or self._opening.get(origin):
            return
        self._opening[origin] = self._opening.get(origin, 0) + 1
        try:
            conn = await self._connect(origin, timeout_s, None)
        finally:
            self._opening[origin] -= 1
        conn.idle_since = time.monotonic()
        if self._closed:
            conn.abort()
        else:
            self._idle.setdefault(origin, []).append(conn)

    def close(self) -> None:
        """Close the idle connections now and keep none from here on (no event loop needed)."""
        self._closed = True
        for conns in self._idle.values():
            for conn in conns:
                conn.abort()
        self._idle.clear()

    async def aclose(self) -> None:
        """As :meth:`close` (``httpx.AsyncClient.aclose`` calls this)."""
        self.close()

    # -- httpx's seam ------------------------------------------------------
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; return once the response head is in (the body is read
        as the response is iterated). Raises httpx's transport exceptions."""
        origin = origin_of(request.url)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        connect_s, read_s, write_s = timeouts.get("connect"), timeouts.get("read"), timeouts.get("write")
        trace: _Trace | None = request.extensions.get("trace")
        try:
            body = request.content
        except httpx.RequestNotRead:  # a streamed request body: read it whole
            body = await request.aread()
        try:
            head = h11.Request(method=request.method, target=request.url.raw_path, headers=request.headers.raw)
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from None
        for attempt in (0, 1):
            conn = self._take(origin) if attempt == 0 else None
            reused = conn is not None
            if conn is None:
                conn = await self._connect(origin, connect_s, request)
            if request.extensions.get(KEEP_SPARE):
                self._keep_a_spare(origin, connect_s)  # starts after this step's write
            try:
                status, headers, reason = await self._exchange(conn, request, head, body, write_s,
                                                               read_s, trace)
            except (httpx.NetworkError, httpx.RemoteProtocolError):
                conn.abort()
                if not (reused and conn.received == 0):  # a dead idle connection: once more
                    raise
                continue
            except BaseException:  # cancelled, timed out, a bug: the server must see us go
                conn.abort()
                raise
            return httpx.Response(status, headers=headers,
                                  stream=_ResponseBody(self, origin, conn, read_s, request),
                                  extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason})
        raise AssertionError("unreachable")

    # -- inside ------------------------------------------------------------
    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()  # the same trust store as httpx
        return self._ssl

    async def _connect(self, origin: Origin, timeout_s: float | None,
                       request: httpx.Request | None) -> _Conn:
        scheme, host, port = origin
        ssl_context = self._ssl_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(timeout_s):
                # Happy Eyeballs (RFC 8305), as httpx's own transport (anyio) does: a host's next
                # address is tried 250 ms after the previous one, so an address that drops SYNs
                # (a broken IPv6 route, a dead front server) does not hold the request up to the
                # connect timeout
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=ssl_context, server_hostname=host if ssl_context else None,
                    happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY_S, interleave=1)
        except TimeoutError:  # an OSError too: it stays a timeout
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} took longer than {timeout_s:g} s",
                                       request=request) from None
        except OSError as exc:  # includes ssl.SSLError
            raise CannotConnect(f"cannot connect to {host}:{port}: {describe(exc)}", request=request) from None
        return _Conn(reader, writer, h11.Connection(h11.CLIENT))

    def _idle_count(self, origin: Origin) -> int:
        now = time.monotonic()
        conns = self._idle.get(origin, [])
        alive = [conn for conn in conns if conn.usable(now)]
        for conn in conns:
            if conn not in alive:
                conn.abort()
        self._idle[origin] = alive
        return len(alive)

    def _take(self, origin: Origin) -> _Conn | None:
        return self._idle[origin].pop() if self._idle_count(origin) else None

    def _keep_a_spare(self, origin: Origin, timeout_s: float | None) -> None:
        """Open a connection in the background when none is left idle: a request
        made while this one runs (a keystroke while an answer streams) then does
        not wait for a TCP + TLS handshake."""
        if self._idle.get(origin) or self._opening.get(origin) or self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._spare(origin, timeout_s))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _spare(self, origin: Origin, timeout_s: float | None) -> None:
        scheme, host, port = origin
        try:
            await self.open_spare(httpx.URL(scheme=scheme, host=host, port=port), timeout_s)
        except httpx.TransportError:
            pass  # the next request connects itself and says what went wrong

    def _release(self, origin: Origin, conn: _Conn) -> None:
        if self._closed:
            conn.abort()
            return
        if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
            conn.h11.start_next_cycle()
            conn.idle_since = time.monotonic()
            idle = self._idle.setdefault(origin, [])
            if len(idle) < MAX_IDLE:
                idle.append(conn)
                return
        conn.abort()

    async def _exchange(self, conn: _Conn, request: httpx.Request, head: h11.Request, body: bytes,
                        write_s: float | None, read_s: float | None,
                        trace: _Trace | None) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Write the request in one go; read up to the response head: status, headers, reason."""
        conn.received = 0
        try:
            data = conn.h11.send(head) or b""
            if body:
                data += conn.h11.send(h11.Data(data=body)) or b""
            data += conn.h11.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from None
        try:
            conn.writer.write(data)  # one send(2) in this very step when the socket has room
            if conn.writer.transport.get_write_buffer_size():
                async with asyncio.timeout(write_s):
                    await conn.writer.drain()
                    while conn.writer.transport.get_write_buffer_size():
                        await asyncio.sleep(0.001)
        except TimeoutError:  # an OSError too: it stays a timeout
            raise httpx.WriteTimeout(f"the request was not sent in {write_s:g} s", request=request) from None
        except OSError as exc:
            raise httpx.WriteError(describe(exc), request=request) from None
        if trace is not None:
            await trace("http11.send_request_body.complete", {"request": request})
        while True:
            event = await _next_event(conn, read_s, request)
            if isinstance(event, h11.InformationalResponse):
                continue
            if not isinstance(event, h11.Response):
                raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__} before the response",
                                                request=request)
            if trace is not None:
                await trace("http11.receive_response_headers.complete", {"request": request})
            return event.status_code, list(event.headers), event.reason
