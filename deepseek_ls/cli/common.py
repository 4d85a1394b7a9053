"""What the commands share: the one-line usage error and leaving the process."""

from __future__ import annotations

import logging
import os
import sys
import threading


def fail(message: str) -> int:
    """Print ``deepseek-ls: message`` to stderr; the usage-error exit code (2)."""
    print(f"deepseek-ls: {message}", file=sys.stderr)
    return 2


def leave(code: int) -> None:
    """End now if a worker thread would hold the process (one blocked
    reading a terminal never returns): everything that must be written
    (the usage ledger, logs, stdout) is written by then."""
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
