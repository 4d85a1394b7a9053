"""A lean HTTP/1.1 path for ghost-text requests.

A keystroke's FIM request should leave the moment the debounce ends. httpx
gets it there through a client, a transport, httpcore's pool and anyio's
checkpoints: about 1.5 ms of Python and several trips round the event loop
on this machine, per request. Here the request head and body are encoded by
h11 (the parser httpx itself uses) and handed to the socket in one write,
in the caller's own step; the response is parsed by h11 too. Connections
are kept alive and reused, opened ahead of need (``open_spare``), and
aborted (not drained) when a request is cancelled, so DeepSeek stops
generating at once.

Only plain ``http``/``https`` endpoints without a proxy take this path; the
client falls back to httpx for everything else (and for chat, balance and
model lists, where a millisecond does not matter).
"""

from __future__ import annotations

import asyncio
import codecs
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..lazy import LazyModule
from .errors import describe

if TYPE_CHECKING:
    import h11
    import httpx
else:  # imported at the first request, not at start-up
    h11 = LazyModule("h11")
    httpx = LazyModule("httpx")

#: Idle connections older than this are closed rather than reused (servers drop them).
KEEPALIVE_S = 50.0
MAX_IDLE = 8


#: spare-connection tasks in progress (a reference keeps them alive)
_background: set[asyncio.Task[None]] = set()


class LeanError(Exception):
    """A network or protocol failure (the caller maps it to its own errors)."""


def proxied(base_url: str) -> bool:
    """Whether the environment routes ``base_url`` through a proxy."""
    import urllib.request  # ~10 ms (http.client, email): not at start-up

    parts = urllib.parse.urlsplit(base_url)
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass_environment(parts.hostname or "", proxies)


def supported(base_url: str) -> bool:
    parts = urllib.parse.urlsplit(base_url)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not proxied(base_url)


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


class LeanResponse:
    """Status, headers and a body read on demand; ``aclose`` returns or aborts the connection."""

    def __init__(self, pool: LeanPool, conn: _Conn, status: int, headers: httpx.Headers) -> None:
        self._pool = pool
        self._conn: _Conn | None = conn
        self.status_code = status
        self.headers = headers
        self._complete = False

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None or self._complete:
            return
        while True:
            event = await _next_event(conn)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._complete = True
                return
            else:
                raise LeanError(f"unexpected {type(event).__name__} in the response body")

    async def aiter_lines(self) -> AsyncIterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # chunks split characters
        pending = ""
        async for chunk in self.aiter_bytes():
            pending += decoder.decode(chunk)
            *lines, pending = pending.split("\n")
            for line in lines:
                yield line.rstrip("\r")
        pending += decoder.decode(b"", final=True)
        if pending:
            yield pending.rstrip("\r")

    async def aread(self) -> bytes:
        return b"".join([chunk async for chunk in self.aiter_bytes()])

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._complete:
            self._pool._release(conn)
        else:
            conn.abort()


async def _next_event(conn: _Conn) -> Any:
    while True:
        try:
            event = conn.h11.next_event()
        except h11.RemoteProtocolError as exc:
            raise LeanError(f"bad HTTP from the server: {exc}") from None
        if event is not h11.NEED_DATA:
            if isinstance(event, h11.ConnectionClosed):
                raise LeanError("the server closed the connection")
            return event
        try:
            data = await conn.reader.read(65536)
        except OSError as exc:
            raise LeanError(describe(exc)) from None
        conn.received += len(data)
        conn.h11.receive_data(data)  # b"" is EOF


class LeanPool:
    """Keep-alive HTTP/1.1 connections to one origin."""

    def __init__(self, base_url: str, user_agent: str) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base_path = parts.path.rstrip("/")
        default_port = self.port == (443 if parts.scheme == "https" else 80)
        name = f"[{self.host}]" if ":" in self.host else self.host  # IPv6 literal
        self._host_header = name if default_port else f"{name}:{self.port}"
        self._user_agent = user_agent
        self._ssl: Any = None
        self._idle: list[_Conn] = []
        self._opening = 0
        self._closed = False

    def idle_count(self) -> int:
        now = time.monotonic()
        alive = []
        for conn in self._idle:
            if conn.usable(now):
                alive.append(conn)
            else:
                conn.abort()
        self._idle = alive
        return len(alive)

    async def _connect(self, timeout_s: float) -> _Conn:
        ssl_context = None
        if self.scheme == "https":
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()  # the same trust store as httpx
            ssl_context = self._ssl
        try:
            async with asyncio.timeout(timeout_s):
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, ssl=ssl_context,
                    server_hostname=self.host if ssl_context else None)
        except TimeoutError:  # an OSError too: it stays a timeout
            raise
        except OSError as exc:  # includes ssl.SSLError
            raise LeanError(f"cannot connect to {self.host}:{self.port}: {describe(exc)}") from None
        return _Conn(reader, writer, h11.Connection(h11.CLIENT))

    async def open_spare(self, timeout_s: float) -> None:
        """Open a connection ahead of need (a cancelled request took the last one)."""
        if self.idle_count() or self._opening:
            return
        self._opening += 1
        try:
            conn = await self._connect(timeout_s)
        finally:
            self._opening -= 1
        conn.idle_since = time.monotonic()
        if self._closed:
            conn.abort()
        else:
            self._idle.append(conn)

    def _keep_a_spare(self, timeout_s: float) -> None:
        """Open a connection in the background when none is left idle: a request
        made while this one runs (a keystroke while an answer streams) then
        does not wait for a TCP + TLS handshake."""
        if self._idle or self._opening or self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._spare(timeout_s))
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _spare(self, timeout_s: float) -> None:
        try:
            await self.open_spare(timeout_s)
        except (LeanError, TimeoutError):
            pass  # the next request connects itself and says what went wrong

    def _take(self) -> _Conn | None:
        return self._idle.pop() if self.idle_count() else None

    def _release(self, conn: _Conn) -> None:
        if self._closed:
            conn.abort()
            return
        if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
            conn.h11.start_next_cycle()
            conn.idle_since = time.monotonic()
            if len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
                return
        conn.abort()

    async def send(self, method: str, path: str, headers: dict[str, str], body: bytes | None, *,
                   connect_timeout_s: float,
                   on_written: Callable[[], None] | None = None,
                   on_first_byte: Callable[[], None] | None = None) -> LeanResponse:
        """Send one request; return once the response head is in.

        A reused connection that turns out dead before any response byte
        (the server closed it while idle) is replaced once.
        """
        for attempt in (0, 1):
            conn = self._take() if attempt == 0 else None
            reused = conn is not None
            if conn is None:
                conn = await self._connect(connect_timeout_s)
            self._keep_a_spare(connect_timeout_s)  # starts after this step's write
            try:
                return await self._exchange(conn, method, path, headers, body, on_written, on_first_byte)
            except LeanError:
                conn.abort()
                if not (reused and conn.received == 0):  # a dead idle connection: once more
                    raise
            except BaseException:  # cancelled or timed out: the server must see us go
                conn.abort()
                raise
        raise AssertionError("unreachable")

    async def _exchange(self, conn: _Conn, method: str, path: str, headers: dict[str, str],
                        body: bytes | None, on_written: Callable[[], None] | None,
                        on_first_byte: Callable[[], None] | None) -> LeanResponse:
        fields = [("Host", self._host_header), ("User-Agent", self._user_agent),
                  *headers.items(), ("Content-Length", str(len(body or b"")))]
        conn.received = 0
        data = conn.h11.send(h11.Request(method=method, target=self.base_path + path, headers=fields))
        if body:
            data += conn.h11.send(h11.Data(data=body))
        data += conn.h11.send(h11.EndOfMessage())
        try:
            conn.writer.write(data)  # one send(2) in this very step when the socket has room
            if conn.writer.transport.get_write_buffer_size():
                await conn.writer.drain()
                while conn.writer.transport.get_write_buffer_size():
                    await asyncio.sleep(0.001)
        except OSError as exc:
            raise LeanError(describe(exc)) from None
        if on_written is not None:
            on_written()
        while True:
            event = await _next_event(conn)
            if isinstance(event, h11.InformationalResponse):
                continue
            if not isinstance(event, h11.Response):
                raise LeanError(f"unexpected {type(event).__name__} before the response")
            if on_first_byte is not None:
                on_first_byte()
            response_headers = httpx.Headers([(k.decode("latin-1"), v.decode("latin-1"))
                                              for k, v in event.headers])
            return LeanResponse(self, conn, event.status_code, response_headers)

    def close(self) -> None:
        self._closed = True
        for conn in self._idle:
            conn.abort()
        self._idle.clear()
