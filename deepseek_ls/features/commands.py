"""What every ``workspace/executeCommand`` feature shares: reading arguments, failing clearly.

A command's argument arrives as raw JSON (pygls does not structure it):
:func:`argument` and :func:`parse_range` check it and raise
``InvalidParams`` with a sentence saying what was expected. A backend
failure becomes :func:`failure`: LSP ``RequestFailed`` (-32803) whose message
is :func:`user_message` (what happened and what to do, never a key) and whose
``data`` names the error class (and HTTP status).
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from ..api.errors import DeepSeekError, RateLimitError, ServerError, redact

#: LSP ``RequestFailed``: the request was valid but the backend failed.
REQUEST_FAILED = -32803


def user_message(error: DeepSeekError) -> str:
    """One clear sentence about a failure, with what to do (never a key)."""
    if isinstance(error, (ServerError, RateLimitError)) and error.endpoint is None:
        hint = "DeepSeek is busy or failing; try again in a moment."
    else:
        hint = error.hint
    return redact(f"{error} {hint}".strip())


def failure(error: DeepSeekError) -> JsonRpcException:
    """The JSON-RPC error result for a failed chat or action: ``RequestFailed`` with
    ``data`` ``{"kind": <error class>, "status"?: <HTTP status>}``."""
    data: dict[str, Any] = {"kind": type(error).__name__}
    status = getattr(error, "status", None)
    if status is not None:
        data["status"] = status
    return JsonRpcException(message=user_message(error), code=REQUEST_FAILED, data=data)


def argument(args: tuple[Any, ...]) -> dict[str, Any]:
    """The command's one argument object (``{}`` when none was sent); raises InvalidParams otherwise."""
    arg = args[0] if args else {}
    if not isinstance(arg, dict):
        raise JsonRpcInvalidParams("expected one argument object")
    return arg


def _position(value: Any) -> types.Position:
    if not isinstance(value, dict) or not isinstance(value.get("line"), int) \
            or not isinstance(value.get("character"), int):
        raise JsonRpcInvalidParams("a position needs integer line and character")
    return types.Position(line=max(0, value["line"]), character=max(0, value["character"]))


def parse_range(value: Any) -> types.Range:
    """A Range from the raw JSON ``{start: {line, character}, end: {...}}`` of a command
    argument (negative numbers are clamped to 0); raises InvalidParams otherwise."""
    if isinstance(value, types.Range):
        return value
    if not isinstance(value, dict):
        raise JsonRpcInvalidParams("range must be {start, end}")
    return types.Range(start=_position(value.get("start")), end=_position(value.get("end")))
