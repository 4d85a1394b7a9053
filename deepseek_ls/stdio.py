"""Serve LSP over stdio, reading stdin on the event loop.

pygls' stdio reader hands every header line and every body to a worker
thread (``run_in_executor(stdin.readline)``): three thread round trips per
message, each a wake-up through the loop's self-pipe and a GIL hand-over,
about 2 ms per keystroke on a busy machine before the server even sees it.
Here stdin is a non-blocking pipe read by the event loop itself, and a
message already in the buffer is parsed without a single context switch.

The asyncio reader is used only where it is safe: a pipe or socket that is
not also stdout (making a shared descriptor non-blocking would break the
writes), and not on Windows, whose stdio pipes the loop cannot watch.
Anywhere else pygls' own reader runs as before.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
import threading
from typing import Any, BinaryIO

from pygls.io_ import StdinAsyncReader, StdoutWriter, run_async

log = logging.getLogger(__name__)

# A header line longer than this is junk: it is dropped, the stream goes on.
MAX_HEADER_LINE = 64 * 1024


class LoopStdinReader:
    """pygls' reader interface (``readline``, ``readexactly``) over an asyncio pipe."""

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


def serve(server: Any, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
    """Run ``server`` (a pygls LanguageServer) on stdio until exit or EOF."""
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    reader = make_reader(stdin, stdout, server.thread_pool)
    server.protocol.set_writer(StdoutWriter(stdout))
    stop = threading.Event()
    try:
        asyncio.run(run_async(stop_event=stop, reader=reader, protocol=server.protocol,
                              logger=log, error_handler=server.report_server_error))
    except BrokenPipeError:
        log.error("the connection to the editor is lost; shutting down")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        stop.set()
        server.shutdown()
