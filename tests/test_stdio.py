"""deepseek_ls/stdio.py: stdin read on the event loop, with pygls' reader as the fallback."""

import asyncio
import os
import tempfile

from pygls.io_ import StdinAsyncReader

from deepseek_ls.stdio import MAX_HEADER_LINE, LoopStdinReader, make_reader


def _message(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def test_reads_headers_and_bodies_including_a_large_one():
    r, w = os.pipe()
    big = b'{"x": "' + b"a" * 3_000_000 + b'"}'
    with os.fdopen(r, "rb", buffering=0) as stdin:
        reader = LoopStdinReader(stdin)

        def feed():
            with os.fdopen(w, "wb") as out:
                out.write(_message(b"{}") + b"X-Junk: " + b"j" * (MAX_HEADER_LINE + 10) + b"\r\n"
                          + _message(big) + b"Content-Length: 10\r\n\r\n{\"trunc")

        writer = asyncio.get_running_loop().run_in_executor(None, feed)
        assert await reader.readline() == b"Content-Length: 2\r\n"
        assert await reader.readline() == b"\r\n"
        assert await reader.readexactly(2) == b"{}"
        assert await reader.readline() == b"X-Dropped: 1\r\n"  # over the limit: skipped, not fatal
        assert await reader.readline() == b"Content-Length: %d\r\n" % len(big)
        assert await reader.readline() == b"\r\n"
        assert await reader.readexactly(len(big)) == big
        assert await reader.readline() == b"Content-Length: 10\r\n"
        assert await reader.readline() == b"\r\n"
        assert await reader.readexactly(10) == b'{"trunc'  # EOF mid-body: what there is
        assert await reader.readline() == b""             # then EOF
        await writer


def test_pipes_use_the_loop_reader_files_and_shared_descriptors_do_not():
    r, w = os.pipe()
    with os.fdopen(r, "rb") as stdin, os.fdopen(w, "wb") as stdout, tempfile.TemporaryFile() as f:
        out_r, out_w = os.pipe()
        with os.fdopen(out_r, "rb"), os.fdopen(out_w, "wb") as other_out:
            assert isinstance(make_reader(stdin, other_out), LoopStdinReader)
        # stdin and stdout the same pipe end (one descriptor, shared flags)
        dup = os.fdopen(os.dup(r), "wb")
        try:
            assert isinstance(make_reader(stdin, dup), StdinAsyncReader)
        finally:
            dup.close()
        assert isinstance(make_reader(f, stdout), StdinAsyncReader)  # a regular file
