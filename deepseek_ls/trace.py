"""Trace records for the benchmark (``DEEPSEEK_LS_TRACE=path``).

JSON lines with ``time.monotonic_ns()`` (CLOCK_MONOTONIC is system-wide on
Linux, so the harness and the fake can compare timestamps): ``lsp_recv``,
``decision``, ``wait_start``/``wait_end``, ``fetch_start``, ``http_send``, ``http_written``,
``http_first_byte``, ``http_done``, ``lsp_sent``. Without the variable every
call is a no-op.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, TextIO


class Tracer:
    def __init__(self, path: str | None = None) -> None:
        # open for the process's life (closed by close()), hence no context manager
        self._file: TextIO | None = open(path, "a", encoding="utf-8", buffering=1) if path else None  # noqa: SIM115
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._file is not None

    def event(self, kind: str, **fields: Any) -> None:
        """Write one record (cheap no-op when tracing is off)."""
        if self._file is None:
            return
        record = {"t": time.monotonic_ns(), "ev": kind, **fields}
        line = json.dumps(record, separators=(",", ":"))
        with self._lock:
            self._file.write(line + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def from_env() -> Tracer:
    return Tracer(os.environ.get("DEEPSEEK_LS_TRACE") or None)
