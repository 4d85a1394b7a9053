"""Logging on stderr (stdout is the protocol), with keys redacted everywhere."""

from __future__ import annotations

import logging
import sys

from .api.errors import redact
from .api.jsonbody import clean_text


class RedactingFilter(logging.Filter):
    """Mask API keys in every record, including exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001  a bad %-format or a raising __str__ in an argument: logging reports it, not the filter
            return True
        record.msg = clean_text(redact(message))  # a lone surrogate must not break a strict log stream
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.exc_text = clean_text(redact(logging.Formatter().formatException(record.exc_info)))
            record.exc_info = None
            record.msg = f"{record.msg} ({type(exc).__name__})"
        return True


class QuietCancellations(logging.Filter):
    """pygls logs a cancelled request as an ERROR with a traceback; it is routine.

    A request answered with a deliberate JSON-RPC error (RequestFailed with
    the reason, InvalidParams, ContentModified) is logged on one line, not
    as an internal error with a traceback; real internal errors keep theirs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and type(exc).__name__ in ("JsonRpcRequestCancelled", "CancelledError"):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.exc_info = None
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        names = {c.__name__ for c in type(exc).__mro__} if exc is not None else set()
        if "JsonRpcException" in names and "JsonRpcInternalError" not in names:
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001  as above: a filter never raises
                message = str(record.msg)
            record.msg = f"{message.replace('internal error in', 'request failed in')} ({type(exc).__name__}: {exc})"
            record.args = None
            record.exc_info = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


LEVELS = ("debug", "info", "warning", "error")


def set_level(level: str) -> bool:
    """Apply ``deepseek.logLevel`` now (the server calls it on every settings change).

    Unknown names are ignored. Returns True when the level changed. pygls,
    httpx and httpcore stay at WARNING (their debug output would carry
    document text and request headers).
    """
    name = str(level).lower()
    if name not in LEVELS:
        return False
    root = logging.getLogger()
    wanted = getattr(logging, name.upper())
    if root.level == wanted:
        return False
    root.setLevel(wanted)
    return True


def setup(level: str = "info") -> None:
    """Configure the root logger once (later calls only change the level)."""
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(QuietCancellations())
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
        for name in ("pygls", "httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
    if not set_level(level) and str(level).lower() not in LEVELS:
        root.setLevel(logging.INFO)
