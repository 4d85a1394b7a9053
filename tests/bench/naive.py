"""The frozen naive baseline client (tests/bench/README.md: one FIM request per keystroke, no debounce, no cache, no cancelling).  Do not tune it.

For every keystroke one FIM request straight to the API: ``prompt`` = the
last 6,000 characters before the cursor (a sliding window), ``suffix`` = the
next 1,500 characters, ``max_tokens`` 64, no debounce, no cache, no
cancellation, no stop sequence.  A result is discarded when a newer keystroke
has arrived (the caller checks the version).  Plain HTTP/1.1 over asyncio
streams, one connection per request (loopback only).
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit

PROMPT_CHARS = 6000
SUFFIX_CHARS = 1500
MAX_TOKENS = 64
MODEL = "deepseek-flash"


def naive_body(text: str, cursor: int) -> dict[str, Any]:
    return {"model": MODEL, "prompt": text[max(0, cursor - PROMPT_CHARS):cursor],
            "suffix": text[cursor:cursor + SUFFIX_CHARS], "max_tokens": MAX_TOKENS, "stream": False}


class NaiveClient:
    def __init__(self, base_url: str, api_key: str) -> None:
        u = urlsplit(base_url)
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 80
        self.key = api_key

    async def fim(self, body: dict[str, Any], tag: str = "") -> tuple[int, str | None]:
        """POST /beta/completions; returns (monotonic_ns when the answer was read, text or None)."""
        data = json.dumps(body).encode("utf-8")
        head = (f"POST /beta/completions HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Authorization: Bearer {self.key}\r\nContent-Type: application/json\r\n"
                f"X-Bench-Tag: {tag}\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n")
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            return time.monotonic_ns(), None
        try:
            writer.write(head.encode("ascii") + data)
            await writer.drain()
            raw = await reader.read()   # until the server closes (Connection: close)
        except (OSError, asyncio.IncompleteReadError):
            return time.monotonic_ns(), None
        finally:
            writer.close()
        t = time.monotonic_ns()
        headers, _, payload = raw.partition(b"\r\n\r\n")
        if not headers.startswith(b"HTTP/1.1 200"):
            return t, None
        if b"transfer-encoding: chunked" in headers.lower():
            payload = _dechunk(payload)
        try:
            return t, json.loads(payload)["choices"][0]["text"]
        except (ValueError, KeyError, IndexError, TypeError):
            return t, None


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        n = int(size_line.split(b";")[0] or b"0", 16)
        if n == 0:
            break
        out += rest[:n]
        data = rest[n + 2:]
    return bytes(out)
