"""Serve LSP over stdio (or TCP): framing that survives a bad client, JSON-RPC
envelope checks, signals and exit codes.

Reading. pygls' stdio reader hands every header line and every body to a
worker thread (``run_in_executor(stdin.readline)``): three thread round
trips per message, about 2 ms per keystroke on a busy machine. Here stdin is
a non-blocking pipe read by the event loop itself where that is safe (a pipe
or socket that is not also stdout, not Windows); elsewhere (a terminal, a
file) one worker thread reads chunks.

Framing (:class:`Framer`). pygls' loop trusts every header: one
``Content-Length`` with no body, or a wrong length, and every later message
is read out of step, so the server never answers again. Here a framing error
costs only the broken message: a header block without a valid
``Content-Length`` (missing, non-numeric, garbage lines only) or bytes that
are not a header (a body sent without one) are skipped up to the next
``Content-Length:`` line; a body that contains the start of the next message
(``Content-Length: N`` and a raw line break, which no JSON text can contain)
was given too long a length and ends there; a body that is complete JSON
but shorter than its length, with nothing more arriving, is taken after a
short stall. Every problem is one warning on stderr.

Messages (:func:`dispatch`), per JSON-RPC 2.0: a body that is not JSON gets
``-32700`` Parse error with id null; a message that is not a valid request,
notification or response gets ``-32600`` Invalid Request (with its id when
it has a usable one, else null); a batch (an array; LSP never uses them) gets
one ``-32600`` per element that expects an answer, sent back as an array.

Stopping (:func:`serve`): ``exit`` ends with 0 after ``shutdown`` and 1
without; the end of the input likewise (0 after ``shutdown``, else 1);
SIGINT (Ctrl-C) ends at once with 130, SIGTERM with 143, SIGHUP with 129.
Every way out writes the usage ledger first.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import stat
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from pygls.io_ import StdinAsyncReader, StdoutWriter

from .api.jsonbody import loads as _loads  # only ever ValueError (deep nesting, huge ints)

log = logging.getLogger(__name__)

# A header line longer than this is junk: it is dropped, the stream goes on.
MAX_HEADER_LINE = 64 * 1024
#: A header block (all header lines) longer than this is junk.
MAX_HEADER_BLOCK = 64 * 1024
#: A declared body longer than this (bytes) is refused as a framing error.
MAX_BODY = 1 << 30
#: How long (s) an incomplete body may stall before a complete JSON text in
#: it is taken as the whole message (its Content-Length was too long).
STALL_S = 0.5
CHUNK = 65536

PARSE_ERROR = -32700
INVALID_REQUEST = -32600

_HEADER_END = re.compile(rb"\r?\n\r?\n")
# The start of a message: no JSON text contains a raw line break after this
# (inside a string it would have to be escaped), so it is safe to look for
# it inside a body.
_NEXT_HEADER = re.compile(rb"content-length[ \t]*:[ \t]*\d+[ \t]*\r?\n", re.IGNORECASE)


def _next_header(buf: bytes | bytearray, pos: int = 0) -> int:
    """Where the next ``Content-Length: N`` line starts at or after ``pos`` (-1: none).

    Looks at line breaks only (memchr-fast; a JSON body rarely has raw ones),
    then at the few bytes before each.
    """
    while True:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            return -1
        m = _NEXT_HEADER.search(buf, max(pos, nl - 80), nl + 1)
        if m is not None:
            return m.start()
        pos = nl + 1


_HEADER_LINE = re.compile(rb"([A-Za-z0-9!#$%&'*+.^_`|~-]+)[ \t]*:[ \t]*(.*?)[ \t]*")
_CONTENT_TYPE = re.compile(rb"application/vscode-jsonrpc\s*(;\s*charset\s*=\s*\"?utf-?8\"?\s*)?", re.IGNORECASE)


class LoopStdinReader:
    """Reads a pipe on the event loop (``read_chunk``; ``readline``/``readexactly`` for pygls)."""

    def __init__(self, stdin: BinaryIO) -> None:
        self._stdin = stdin
        self._reader: asyncio.StreamReader | None = None

    async def _stream(self) -> asyncio.StreamReader:
        if self._reader is None:
            loop = asyncio.get_running_loop()
            reader = asyncio.StreamReader(limit=MAX_HEADER_LINE)
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), self._stdin)
            self._reader = reader
        return self._reader

    async def read_chunk(self) -> bytes:
        """Up to 64 KiB as soon as any bytes are there; b"" at EOF."""
        reader = await self._stream()
        return await reader.read(CHUNK)

    async def readline(self) -> bytes:
        reader = await self._stream()
        try:
            return await reader.readline()
        except ValueError:  # over the limit: asyncio has dropped it; skip the line
            log.warning("dropped an LSP header line longer than %d bytes", MAX_HEADER_LINE)
            return b"X-Dropped: 1\r\n"

    async def readexactly(self, n: int) -> bytes:
        reader = await self._stream()
        try:
            return await reader.readexactly(n)
        except asyncio.IncompleteReadError as exc:  # EOF mid-body: the client is gone
            return exc.partial


def _loop_can_read(stdin: Any, stdout: Any) -> bool:
    if sys.platform == "win32":
        return False
    try:
        fd_in, fd_out = stdin.fileno(), stdout.fileno()
        st_in, st_out = os.fstat(fd_in), os.fstat(fd_out)
    except (AttributeError, OSError, ValueError):
        return False
    if not (stat.S_ISFIFO(st_in.st_mode) or stat.S_ISSOCK(st_in.st_mode)):
        return False  # a file or a terminal: keep the blocking reader
    return (st_in.st_dev, st_in.st_ino) != (st_out.st_dev, st_out.st_ino)


def make_reader(stdin: BinaryIO, stdout: BinaryIO, executor: Any = None) -> Any:
    """The loop reader where it is safe, pygls' threaded one elsewhere."""
    if os.environ.get("DEEPSEEK_LS_THREADED_STDIN") != "1" and _loop_can_read(stdin, stdout):
        return LoopStdinReader(stdin)
    return StdinAsyncReader(stdin, executor)


def chunk_source(reader: Any) -> Callable[[], Awaitable[bytes]]:
    """``read()`` -> the next bytes (b"" at EOF) for a reader from :func:`make_reader`."""
    if isinstance(reader, LoopStdinReader):
        return reader.read_chunk
    stdin = reader.stdin
    read = getattr(stdin, "read1", None) or stdin.read

    def read_chunk() -> Awaitable[bytes]:
        return asyncio.get_running_loop().run_in_executor(reader.executor, read, CHUNK)

    return read_chunk


# -- framing -----------------------------------------------------------------
@dataclass
class Frame:
    """One unit of input: a message body, or junk that framed nothing."""

    body: bytes | None
    junk: bytes = b""
    #: what was wrong with the framing (None when nothing was)
    problem: str | None = None


def _parse_headers(block: bytes) -> tuple[int | None, str | None]:
    """``(content length, problem)`` of one header block (without its blank line)."""
    length: int | None = None
    problems: list[str] = []
    for line in re.split(rb"\r?\n", block):
        m = _HEADER_LINE.fullmatch(line)
        if m is None:
            problems.append(f"a header line that is not 'Name: value' ({line[:40]!r})")
            continue
        name, value = m.group(1).lower(), m.group(2)
        if name == b"content-length":
            if not value.isdigit():
                return None, f"a Content-Length that is not a number ({value[:40]!r})"
            if length is not None and int(value) != length:
                return None, "two different Content-Length headers"
            length = int(value)
        elif name == b"content-type" and not _CONTENT_TYPE.fullmatch(value):
            # the body is length-delimited all the same: it is read as UTF-8 JSON
            problems.append(f"an unexpected Content-Type ({value[:60]!r}; read as UTF-8 JSON)")
    if length is None:
        return None, "a header block without Content-Length" + (f" ({problems[0]})" if problems else "")
    if length > MAX_BODY:
        return None, f"a Content-Length of {length} bytes (more than {MAX_BODY})"
    return length, "; ".join(problems) or None


def _header_start_tail(buf: bytearray) -> int:
    """How many bytes at the end of ``buf`` may be the start of a ``Content-Length:`` line."""
    lowered = bytes(buf[-24:]).lower()
    for i in range(len(lowered)):
        tail = lowered[i:]
        if b"content-length:".startswith(tail) or re.fullmatch(rb"content-length[ \t]*:[ \t]*\d*[ \t]*\r?", tail):
            return len(tail)
    return 0


def _complete_json(data: bytes | bytearray) -> bool:
    tail = data.rstrip()
    if not tail or tail[-1:] not in (b"}", b"]"):
        return False
    try:
        _loads(data)
    except ValueError:
        return False
    return True


class Framer:
    """Split a byte stream into LSP messages, resynchronising after framing errors.

    ``read()`` returns the next bytes (b"" at EOF). :meth:`next` returns the
    next :class:`Frame`, or None at the end of the input.
    """

    def __init__(self, read: Callable[[], Awaitable[bytes]], stall_s: float = STALL_S) -> None:
        self._read = read
        self._buf = bytearray()
        self._eof = False
        self._pending: asyncio.Future[bytes] | None = None
        self.stall_s = stall_s

    async def _fill(self, timeout: float | None = None) -> bool:
        """Read more; False at EOF, or when ``timeout`` s passed without data.

        A read that times out stays pending (a threaded read cannot be
        taken back), so no byte is ever lost.
        """
        if self._eof:
            return False
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._read())
        done, _ = await asyncio.wait({self._pending}, timeout=timeout)
        if not done:
            return False
        future, self._pending = self._pending, None
        try:
            chunk = future.result()
        except (OSError, ValueError) as exc:  # a closed or broken input is an end too
            log.info("LSP input closed: %s", exc)
            chunk = b""
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def close(self) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()

    async def next(self) -> Frame | None:
        buf = self._buf
        while True:
            blank = 0
            while blank < len(buf) and buf[blank] in b"\r\n \t":
                blank += 1
            if blank:
                del buf[:blank]  # blank lines between messages are harmless
            if not buf:
                if not await self._fill():
                    return None
                continue
            end = _HEADER_END.search(buf)
            if end is None:
                if len(buf) > MAX_HEADER_BLOCK:
                    return self._skip("more than 64 KiB without the end of a header block")
                if await self._fill(self.stall_s if bytes(buf[:1]) in (b"{", b"[") else None):
                    continue
                if self._eof:
                    junk = bytes(buf)
                    buf.clear()
                    return Frame(None, junk, "the input ended inside a header block")
                # a JSON text where a header should be, and nothing more coming
                return self._skip("a message without a Content-Length header")
            length, problem = _parse_headers(bytes(buf[:end.start()]))
            if length is None:
                return self._skip(problem or "a bad header block")
            return await self._body(end.end(), length, problem)

    def _skip(self, problem: str) -> Frame:
        """Drop bytes up to the next ``Content-Length:`` line (or all but a tail that may start one)."""
        at = _next_header(self._buf, 1)
        cut = at if at >= 0 else max(1, len(self._buf) - _header_start_tail(self._buf))
        junk = bytes(self._buf[:cut])
        del self._buf[:cut]
        return Frame(None, junk, problem)

    async def _body(self, start: int, length: int, problem: str | None) -> Frame:
        buf = self._buf
        end = start + length
        scanned = start
        while True:
            at = _next_header(buf, scanned)
            if 0 <= at < end:  # the next message starts inside this one
                body = bytes(buf[start:at])
                del buf[:at]
                return Frame(body, problem=f"Content-Length {length} but the next message starts "
                                           f"after {len(body)} bytes")
            if len(buf) >= end:
                break
            scanned = max(start, len(buf) - 64)
            if await self._fill(self.stall_s):
                continue
            if self._eof:
                body = bytes(buf[start:])
                buf.clear()
                return Frame(body, problem=f"the input ended {length - len(body)} bytes short of a body")
            if _complete_json(buf[start:]):  # stalled on a whole message: the length was too long
                body = bytes(buf[start:])
                buf.clear()
                return Frame(body, problem=f"Content-Length {length} but the message has {len(body)} bytes")
        body = bytes(buf[start:end])
        del buf[:end]
        return Frame(body, problem=problem)

    def continuation(self) -> bytes:
        """The bytes already read after the last body, up to the next header
        (for a Content-Length that was too short)."""
        at = _next_header(self._buf)
        return bytes(self._buf[: at if at >= 0 else len(self._buf)])

    def drop(self, n: int) -> None:
        del self._buf[:n]


# -- JSON-RPC envelopes ----------------------------------------------------------
def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _error(msg_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id if _valid_id(msg_id) else None,
            "error": {"code": code, "message": message}}


def envelope_problem(data: Any) -> str | None:
    """Why ``data`` is not a JSON-RPC 2.0 request, notification or response (None if it is one)."""
    if not isinstance(data, dict):
        return f"Invalid Request: a message must be a JSON object, not {type(data).__name__}"
    if data.get("jsonrpc") != "2.0":
        return 'Invalid Request: "jsonrpc" must be "2.0"'
    if "id" in data and not (_valid_id(data["id"]) or (data["id"] is None and "method" not in data)):
        return "Invalid Request: an id must be an integer or a string"
    if "method" in data:
        if not isinstance(data["method"], str) or not data["method"]:
            return "Invalid Request: method must be a non-empty string"
        if data.get("params") is not None and not isinstance(data["params"], (dict, list)):
            return "Invalid Request: params must be an object or an array"
        return None
    if "id" not in data or ("result" not in data and "error" not in data):
        return "Invalid Request: neither a request (method) nor a response (id with result or error)"
    return None


def _send(protocol: Any, payload: Any) -> None:
    try:
        protocol._send_data(payload)
    except Exception:  # the editor is gone; the read loop notices the end of input
        log.debug("could not send an error response", exc_info=True)


def _answer_batch(protocol: Any, batch: list[Any]) -> None:
    if not batch:
        _send(protocol, _error(None, INVALID_REQUEST, "Invalid Request: an empty batch"))
        return
    errors = [_error(item.get("id") if isinstance(item, dict) else None, INVALID_REQUEST,
                     "Invalid Request: JSON-RPC batches are not supported by this LSP server; "
                     "send each message on its own")
              for item in batch
              if not (isinstance(item, dict) and "method" in item and "id" not in item)]  # notifications: no answer
    log.warning("refused a JSON-RPC batch of %d messages", len(batch))
    if errors:
        _send(protocol, errors)


def _answer_junk(protocol: Any, junk: bytes) -> None:
    """A request sent without a usable header still gets its answer (an error)."""
    start = junk.find(b"{")
    if start < 0:
        return
    text = junk[start:].strip()
    try:
        data = _loads(text)
    except ValueError:
        return
    if isinstance(data, dict) and "method" in data and _valid_id(data.get("id")):
        _send(protocol, _error(data["id"], INVALID_REQUEST,
                               "Invalid Request: the message had no valid Content-Length header"))


def dispatch(server: Any, frame: Frame, framer: Framer | None = None) -> None:
    """Handle one frame: check the JSON-RPC envelope, then hand it to pygls.

    Raises SystemExit when the message was ``exit``.
    """
    protocol = server.protocol
    if frame.problem:
        log.warning("LSP framing error: %s; skipped to the next message", frame.problem)
    if frame.body is None:
        _answer_junk(protocol, frame.junk)
        return
    body = frame.body
    try:
        data = _loads(body)
    except ValueError as exc:
        more = framer.continuation() if framer is not None and body else b""
        try:
            if not more:
                raise ValueError("no continuation")
            data = _loads(body + more)  # the Content-Length was too short
        except ValueError:
            log.warning("LSP message is not JSON (%s): %r", exc, body[:80])
            _send(protocol, _error(None, PARSE_ERROR, f"Parse error: {exc}"))
            return
        framer.drop(len(more))  # type: ignore[union-attr]  # more is non-empty only when framer is not None
        log.warning("LSP framing error: Content-Length %d but the message has %d bytes",
                    len(body), len(body) + len(more))
    if isinstance(data, list):
        _answer_batch(protocol, data)
        return
    problem = envelope_problem(data)
    if problem is not None:
        log.warning("LSP message refused: %s", problem)
        _send(protocol, _error(data.get("id") if isinstance(data, dict) else None, INVALID_REQUEST, problem))
        return
    # members JSON-RPC does not define are dropped (pygls would fail on them)
    data = {k: data[k] for k in ("jsonrpc", "id", "method", "params", "result", "error") if k in data}
    try:
        protocol.handle_message(protocol.structure_message(data))
    except (SystemExit, BrokenPipeError):
        raise
    except Exception as exc:  # noqa: BLE001  the read loop never dies; pygls has answered what it could (a notification or a response)
        log.warning("LSP message not handled: %s: %s", type(exc).__name__, exc)


class _AnsweredErrors(logging.Filter):
    """pygls logs every error response with a traceback, even a chosen one
    (a failed chat, a bad argument): one line is enough for those."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("Unable to deserialize message"):
            # answered with -32602 by TracingProtocol; the traceback is in the text: keep its last line
            lines = record.getMessage().strip().splitlines()
            record.msg, record.args = f"Unable to deserialize message: {lines[-1] if lines else ''}", None
            record.levelno, record.levelname = logging.INFO, "INFO"
            return logging.getLogger().isEnabledFor(logging.INFO)
        exc = record.exc_info[1] if record.exc_info else None
        code = getattr(exc, "code", None)
        if isinstance(code, int) and code != -32603 and type(exc).__name__.startswith("JsonRpc"):
            record.msg = f"{record.getMessage()}: {exc}"
            record.args = None
            record.exc_info = None
            record.levelno, record.levelname = logging.INFO, "INFO"
            return logging.getLogger().isEnabledFor(logging.INFO)
        return True


logging.getLogger("pygls.protocol.json_rpc").addFilter(_AnsweredErrors())


# -- the loop ----------------------------------------------------------------
async def run(server: Any, read: Callable[[], Awaitable[bytes]]) -> int:
    """Read and handle messages until ``exit`` or the end of the input; returns the exit code."""
    framer = Framer(read)
    try:
        while True:
            frame = await framer.next()
            if frame is None:
                log.info("the editor closed the connection")
                break
            try:
                dispatch(server, frame, framer)
                if getattr(server.protocol, "deferred_exit", None) is not None:
                    await _shutdown_answered(server.protocol)
                    server.protocol.run_deferred_exit()
            except SystemExit as exc:
                return exc.code if isinstance(exc.code, int) else 0
            except BrokenPipeError:
                log.error("the connection to the editor is lost; shutting down")
                return 0 if shutdown_requested(server) else 1
    finally:
        framer.close()
    return 0 if shutdown_requested(server) else 1


#: Longest wait (s) for a running ``shutdown`` to be answered when ``exit`` already arrived.
SHUTDOWN_WAIT_S = 10.0


async def _shutdown_answered(protocol: Any, timeout_s: float = SHUTDOWN_WAIT_S) -> None:
    """Wait until the ``shutdown`` request has been answered (its response written)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while protocol.shutdown_pending() and loop.time() < deadline:
        await asyncio.sleep(0.005)
    await asyncio.sleep(0)  # let the response's done-callbacks run


def shutdown_requested(server: Any) -> bool:
    protocol = server.protocol
    return bool(getattr(protocol, "shutdown_requested", False) or getattr(protocol, "_shutdown", False))


STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None),
                                 getattr(signal, "SIGHUP", None)) if s is not None)


async def until_signal(work: Awaitable[int]) -> int:
    """Await ``work``; SIGINT/SIGTERM/SIGHUP cancel it and give ``128 + signal``."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    stopped: asyncio.Future[int] = loop.create_future()

    def on_signal(signum: int) -> None:
        if not stopped.done():
            log.info("stopping on %s", signal.Signals(signum).name)
            stopped.set_result(128 + signum)

    installed = []
    for signum in STOP_SIGNALS:
        try:
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            pass
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
        return stopped.result()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _finish(server: Any) -> None:
    """What every way out does: write the usage ledger, let go of the threads."""
    service = getattr(server, "service", None)
    if service is not None:
        try:
            service.ledger.close()
            service.tracer.close()
        except Exception:
            log.warning("usage ledger not written at exit", exc_info=True)
    server.shutdown()


def serve(server: Any, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> int:
    """Run ``server`` (a pygls LanguageServer) on stdio until exit, EOF or a signal; the exit code."""
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    reader = make_reader(stdin, stdout, server.thread_pool)
    server.protocol.set_writer(StdoutWriter(stdout))
    code = 1
    try:
        code = asyncio.run(until_signal(run(server, chunk_source(reader))))
    except BrokenPipeError:
        log.error("the connection to the editor is lost; shutting down")
    except KeyboardInterrupt:  # a Ctrl-C before the handlers were in place
        code = 130
    except Exception as exc:  # a bug in the loop itself: say so, still write the ledger
        log.critical("the server loop failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
    finally:
        _finish(server)
    return code


class _StreamWriter:
    """pygls' writer interface over an asyncio StreamWriter."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    def write(self, data: bytes) -> None:
        if not self._writer.is_closing():
            self._writer.write(data)

    def close(self) -> None:
        self._writer.close()


def serve_tcp(server: Any, host: str, port: int, announce: Callable[[str], None] | None = None) -> int:
    """Listen on ``host:port`` (0: any free port) for one editor; serve it until it leaves.

    ``announce`` gets ``"HOST:PORT"`` once listening (stderr by default).
    """
    def say(where: str) -> None:
        print(f"deepseek-ls: listening for LSP on {where} (TCP)", file=sys.stderr, flush=True)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[int] = loop.create_future()
        busy = False

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal busy
            if busy:  # one editor per server process
                writer.close()
                return
            busy = True
            log.info("editor connected from %s", writer.get_extra_info("peername"))
            server.protocol.set_writer(_StreamWriter(writer))
            try:
                code = await run(server, lambda: reader.read(CHUNK))
            except Exception as exc:  # noqa: BLE001  any failure ends the session with code 1, not a dead listener task
                log.error("TCP session failed: %s", exc)
                code = 1
            writer.close()
            if not finished.done():
                finished.set_result(code)

        listener = await asyncio.start_server(on_connect, host, port)
        try:
            sock_host, sock_port = listener.sockets[0].getsockname()[:2]
            where = f"[{sock_host}]:{sock_port}" if ":" in sock_host else f"{sock_host}:{sock_port}"
            (announce or say)(where)
            return await until_signal(finished)
        finally:
            listener.close()

    code = 1
    try:
        code = asyncio.run(main())
    except OSError as exc:
        print(f"deepseek-ls: cannot listen on {host}:{port}: {exc}", file=sys.stderr, flush=True)
        code = 2
    except KeyboardInterrupt:
        code = 130
    finally:
        _finish(server)
    return code
