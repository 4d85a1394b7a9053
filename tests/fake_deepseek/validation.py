"""Request validation with the real API's messages (docs/DEEPSEEK-API-NOTES.md, Errors; the list in this folder's README.md).

Deserialization errors imitate serde / axum text: ``Failed to deserialize the
JSON body into the target type: <path>: <error> at line L column C``.
Messages marked [I] in comments are invented (real text undocumented).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from . import profiles as P


class ApiError(Exception):
    def __init__(self, status: int, message: str, etype: str = "invalid_request_error",
                 code: str = "invalid_request_error", plain: bool = False,
                 headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.etype = etype
        self.code = code
        self.plain = plain
        self.headers = headers or []

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.etype, "param": None, "code": self.code}}


# ---------------------------------------------------------------- JSON spans

class _SpanParser:
    """Tiny JSON parser recording the end offset (exclusive) of each value by path."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.ends: dict[tuple, int] = {}

    def ws(self) -> None:
        s, i = self.s, self.i
        while i < len(s) and s[i] in " \t\r\n":
            i += 1
        self.i = i

    def value(self, path: tuple) -> None:
        self.ws()
        s = self.s
        c = s[self.i]
        if c == "{":
            self.i += 1
            self.ws()
            if s[self.i] == "}":
                self.i += 1
            else:
                while True:
                    self.ws()
                    k = json.loads(self.string())
                    self.ws()
                    self.i += 1  # ':'
                    self.value(path + (k,))
                    self.ws()
                    if s[self.i] == ",":
                        self.i += 1
                        continue
                    self.i += 1  # '}'
                    break
        elif c == "[":
            self.i += 1
            self.ws()
            if s[self.i] == "]":
                self.i += 1
            else:
                n = 0
                while True:
                    self.value(path + (n,))
                    n += 1
                    self.ws()
                    if s[self.i] == ",":
                        self.i += 1
                        continue
                    self.i += 1
                    break
        elif c == '"':
            self.string()
        else:
            j = self.i
            while j < len(s) and s[j] not in ",}] \t\r\n":
                j += 1
            self.i = j
        self.ends[path] = self.i

    def string(self) -> str:
        s = self.s
        start = self.i
        j = start + 1
        while s[j] != '"':
            j += 2 if s[j] == "\\" else 1
        self.i = j + 1
        return s[start:self.i]


def _line_col(text: str, end: int) -> tuple[int, int]:
    line = text.count("\n", 0, end) + 1
    ls = text.rfind("\n", 0, end) + 1
    return line, end - ls


def _position(text: str, path: tuple) -> str:
    try:
        sp = _SpanParser(text)
        sp.value(())
        end = sp.ends.get(path, len(text.rstrip()))
    except Exception:  # noqa: BLE001  the position is a courtesy: any failure points at the end
        end = len(text.rstrip())
    line, col = _line_col(text, end)
    return f" at line {line} column {col}"


# ---------------------------------------------------------------- type checks

class _DeErr(Exception):
    def __init__(self, path: tuple, msg: str, at: tuple | None = None) -> None:
        self.path = path
        self.msg = msg
        self.at = path if at is None else at


def _fmt_path(path: tuple) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + p
    return out


def _unexpected(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"boolean `{'true' if v else 'false'}`"
    if isinstance(v, int):
        return f"integer `{v}`"
    if isinstance(v, float):
        return f"floating point `{v!r}`"
    if isinstance(v, str):
        return f"string {json.dumps(v)}"
    if isinstance(v, list):
        return "sequence"
    return "map"


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check(body: dict, path: tuple, key: str, kind: str, required: bool = False,
           nullable: bool = True, variants: list[str] | None = None) -> None:
    if key not in body:
        if required:
            raise _DeErr(path, f"missing field `{key}`")
        return
    v = body[key]
    p = path + (key,)
    if v is None:
        if nullable and not required:
            return
        raise _DeErr(p, f"invalid type: null, expected {_EXPECT[kind]}")
    ok = {
        "str": isinstance(v, str),
        "f32": _is_num(v),
        "u32": isinstance(v, int) and not isinstance(v, bool),
        "bool": isinstance(v, bool),
        "seq": isinstance(v, list),
        "map": isinstance(v, dict),
    }[kind]
    if not ok:
        raise _DeErr(p, f"invalid type: {_unexpected(v)}, expected {_EXPECT[kind]}")
    if kind == "u32" and (v < 0 or v > 0xFFFFFFFF):
        raise _DeErr(p, f"invalid value: integer `{v}`, expected u32")
    if variants is not None and v not in variants:
        raise _DeErr(p, f"unknown variant `{v}`, expected one of " + ", ".join(f"`{x}`" for x in variants))


_EXPECT = {"str": "a string", "f32": "f32", "u32": "u32", "bool": "a boolean",
           "seq": "a sequence", "map": "a map"}

ROLES = ["system", "user", "assistant", "tool", "latest_reminder"]


def _check_stop(body: dict) -> None:
    if "stop" not in body or body["stop"] is None:
        return
    v = body["stop"]
    if isinstance(v, str):
        return
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return
    raise _DeErr(("stop",), "data did not match any variant of untagged enum StopSequences")


def _check_common(body: dict) -> None:
    _check(body, (), "model", "str", required=True)
    for k in ("temperature", "top_p", "frequency_penalty", "presence_penalty"):
        _check(body, (), k, "f32")
    _check(body, (), "max_tokens", "u32")
    _check(body, (), "stream", "bool")
    _check(body, (), "stream_options", "map")
    if isinstance(body.get("stream_options"), dict):
        _check(body["stream_options"], ("stream_options",), "include_usage", "bool")
    _check_stop(body)


def _check_chat_types(body: dict, profile: dict) -> None:
    _check(body, (), "messages", "seq", required=True)
    v4 = profile["era"] == "E4"
    for i, m in enumerate(body["messages"]):
        p = ("messages", i)
        if not isinstance(m, dict):
            raise _DeErr(p, f"invalid type: {_unexpected(m)}, expected internally tagged enum Message")
        if "role" not in m:
            raise _DeErr(p, "missing field `role`")
        role = m["role"]
        if not isinstance(role, str):
            raise _DeErr(p + ("role",), f"invalid type: {_unexpected(role)}, expected a string")
        if role not in ROLES:
            raise _DeErr(p, f"unknown variant `{role}`, expected one of " + ", ".join(f"`{r}`" for r in ROLES))
        _check(m, p, "name", "str")
        if role == "user" and v4 and isinstance(m.get("content"), list):
            for j, part in enumerate(m["content"]):
                if not isinstance(part, dict):
                    raise _DeErr(p + ("content", j), f"invalid type: {_unexpected(part)}, expected a map")
                _check(part, p + ("content", j), "type", "str", required=True,
                       variants=["text", "image_url", "file"])
        elif role in ("system", "user", "tool", "latest_reminder"):
            _check(m, p, "content", "str", required=True)
        if role == "tool":
            _check(m, p, "tool_call_id", "str", required=True)
        if role == "assistant":
            _check(m, p, "content", "str")
            _check(m, p, "reasoning_content", "str")
            _check(m, p, "prefix", "bool")
            _check(m, p, "tool_calls", "seq")
    _check(body, (), "thinking", "map")
    if isinstance(body.get("thinking"), dict):
        _check(body["thinking"], ("thinking",), "type", "str", required=True,
               variants=["enabled", "disabled"])
    if profile.get("reasoning_effort_values"):
        _check(body, (), "reasoning_effort", "str", variants=list(profile["reasoning_effort_values"]))
    _check(body, (), "response_format", "map")
    if isinstance(body.get("response_format"), dict):
        _check(body["response_format"], ("response_format",), "type", "str", required=True,
               variants=["text", "json_object"])
    _check(body, (), "tools", "seq")
    for i, t in enumerate(body.get("tools") or []):
        p = ("tools", i)
        if not isinstance(t, dict):
            raise _DeErr(p, f"invalid type: {_unexpected(t)}, expected struct Tool")
        _check(t, p, "type", "str", required=True, variants=["function"])
        _check(t, p, "function", "map", required=True)
        _check(t["function"], p + ("function",), "name", "str", required=True)
    if "tool_choice" in body and body["tool_choice"] is not None:
        tc = body["tool_choice"]
        if isinstance(tc, str):
            if tc not in ("none", "auto", "required"):
                raise _DeErr(("tool_choice",), f"unknown variant `{tc}`, expected one of `none`, `auto`, `required`")
        elif not isinstance(tc, dict):
            raise _DeErr(("tool_choice",), "data did not match any variant of untagged enum ToolChoice")
    _check(body, (), "logprobs", "bool")
    _check(body, (), "top_logprobs", "u32")
    _check(body, (), "user_id", "str")


def _check_fim_types(body: dict) -> None:
    _check(body, (), "prompt", "str", required=True)
    _check(body, (), "suffix", "str")
    _check(body, (), "echo", "bool")
    _check(body, (), "logprobs", "u32")


# ---------------------------------------------------------------- request model

@dataclass
class Job:
    kind: str                      # "fim" | "chat"
    model: str                     # as requested
    canonical: str
    table: dict
    stream: bool
    include_usage: bool
    max_tokens: int
    max_tokens_given: bool
    stop: list[str]
    thinking: bool
    body: dict
    beta: bool
    messages: list[dict] = field(default_factory=list)


def parse_body(raw: bytes, legacy422: bool) -> Any:
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text), text
    except json.JSONDecodeError as e:
        if not text.strip():
            detail = "EOF while parsing a value at line 1 column 0"
        else:
            detail = f"expected value at line {e.lineno} column {e.colno}"
        raise ApiError(400, f"Failed to parse the request body as JSON: {detail}", plain=legacy422)


def deserialize(body: Any, text: str, kind: str, profile: dict, legacy422: bool) -> None:
    try:
        if not isinstance(body, dict):
            raise _DeErr((), f"invalid type: {_unexpected(body)}, expected struct "
                             + ("ChatCompletionRequest" if kind == "chat" else "CompletionRequest"))
        _check_common(body)
        if kind == "chat":
            _check_chat_types(body, profile)
        else:
            _check_fim_types(body)
    except _DeErr as e:
        prefix = _fmt_path(e.path)
        at_missing = e.msg.startswith("missing field")
        pos = _position(text, e.at if not at_missing else e.path)
        msg = ("Failed to deserialize the JSON body into the target type: "
               + (f"{prefix}: " if prefix else "") + e.msg + pos)
        if legacy422:
            raise ApiError(422, msg, plain=True)
        raise ApiError(400, msg)


def _bad(msg: str) -> ApiError:
    return ApiError(400, msg)


def validate(body: dict, kind: str, profile: dict, beta: bool) -> Job:
    """Semantic checks after deserialization.  Raises ApiError."""
    res = P.resolve_model(profile, body["model"])
    if res is None:
        raise _bad("Model Not Exist")
    canonical, table = res
    stream = bool(body.get("stream"))
    so = body.get("stream_options")
    if so is not None and not stream and profile["stream_options_requires_stream"]:
        # [I] wording; status documented for E4
        raise _bad("stream_options should be set along with stream = true")
    include_usage = bool(isinstance(so, dict) and so.get("include_usage"))
    stop = body.get("stop")
    stop_list = [stop] if isinstance(stop, str) else list(stop or [])
    if len(stop_list) > 16:
        raise _bad("Invalid stop value, the number of stop sequences must be at most 16")  # [I]
    for k, lo, hi in (("temperature", 0.0, 2.0),):
        v = body.get(k)
        if v is not None and not (lo <= v <= hi):
            raise _bad(f"Invalid {k} value, the valid range of {k} is [{lo:g}, {hi:g}]")  # [I]
    tp = body.get("top_p")
    if tp is not None and not (0 < tp <= 1):
        raise _bad("Invalid top_p value, the valid range of top_p is (0, 1]")  # [I]
    if profile["penalty_range_checked"]:
        for k in ("frequency_penalty", "presence_penalty"):
            v = body.get(k)
            if v is not None and not (-2 <= v <= 2):
                raise _bad(f"Invalid {k} value, the valid range of {k} is [-2, 2]")  # [I]

    if kind == "fim":
        if not table["fim"]:
            raise _bad(f"{body['model']} does not support FIM completion")  # [I]
        fmax = profile["fim_max_tokens"]
        mt = body.get("max_tokens")
        if mt is not None and not (1 <= mt <= fmax):
            raise _bad(f"Invalid max_tokens value, the valid range of max_tokens is [1, {fmax}]")
        lp = body.get("logprobs")
        if lp is not None and lp > 20:
            raise _bad("Invalid logprobs value, the valid range of logprobs is [0, 20]")  # [I]
        if profile["era"] == "E4" and body.get("echo") and (body.get("suffix") is not None or lp is not None):
            raise _bad("echo cannot be used together with suffix or logprobs")  # [I]
        return Job("fim", body["model"], canonical, table, stream, include_usage,
                   mt if mt is not None else fmax, mt is not None, stop_list, False, body, beta)

    # ---- chat
    msgs: list[dict] = body["messages"]
    if not msgs:
        raise _bad("Invalid messages: messages must not be empty")  # [I]
    for i, m in enumerate(msgs):
        if m.get("prefix"):
            if not beta:
                raise _bad('prefix is only available when using beta api '
                           '(set base_url="https://api.deepseek.com/beta")')
            if i != len(msgs) - 1 or m.get("role") != "assistant":
                raise _bad("prefix is only allowed on the last message, "
                           "which must be an assistant message")  # [I]
    # thinking mode
    th = table["thinking"]
    tobj = body.get("thinking") or {}
    ttype = tobj.get("type") if isinstance(tobj, dict) else None
    effort = body.get("reasoning_effort")
    rev = profile.get("reasoning_effort_values")
    effort_n = rev.get(effort) if (rev and isinstance(effort, str)) else None
    if th == "always":
        thinking = True
    elif th == "on":
        thinking = not (ttype == "disabled" or effort_n == "none")
    else:
        thinking = ttype == "enabled"
    limits = table["thinking_limits"] if thinking else table["nonthinking"]
    mmax = limits["max"]
    mt = body.get("max_tokens")
    if mt is not None and not (1 <= mt <= mmax):
        raise _bad(f"Invalid max_tokens value, the valid range of max_tokens is [1, {mmax}]")
    default = limits["default"]
    if thinking and effort_n == "max" and "default_max_effort" in limits:
        default = limits["default_max_effort"]
    if body.get("top_logprobs") is not None:
        if not body.get("logprobs"):
            raise _bad("top_logprobs requires logprobs to be true")  # [I]
        if body["top_logprobs"] > 20:
            raise _bad("Invalid top_logprobs value, the valid range of top_logprobs is [0, 20]")  # [I]
    if thinking and profile["logprobs_thinking_400"] and body.get("logprobs"):
        raise _bad("logprobs is not supported in thinking mode")  # [I]
    tools = body.get("tools") or []
    if thinking and profile["tool_choice_thinking_400"]:
        tc = body.get("tool_choice")
        if tc == "required" or isinstance(tc, dict):
            raise _bad("tool_choice `required` or a named function is not supported in thinking mode")  # [I]
    if thinking:
        _reasoning_rules(msgs, tools, profile)
    return Job("chat", body["model"], canonical, table, stream, include_usage,
               mt if mt is not None else default, mt is not None, stop_list, thinking, body, beta, msgs)


def _reasoning_rules(msgs: list[dict], tools: list, profile: dict) -> None:
    last = len(msgs) - 1
    if profile["reasoning_rule"] == "v4":
        if not tools:
            return
        for i, m in enumerate(msgs):
            if m.get("role") != "assistant" or (i == last and m.get("prefix")):
                continue
            if m.get("reasoning_content") is None:
                raise _bad("The `reasoning_content` in the thinking mode must be passed back to the API.")
        return
    # v32: inside the current tool loop (after the last user message)
    last_user = max((i for i, m in enumerate(msgs) if m.get("role") == "user"), default=-1)
    for i in range(last_user + 1, len(msgs)):
        m = msgs[i]
        if m.get("role") == "assistant" and m.get("tool_calls") and m.get("reasoning_content") is None:
            raise _bad(f"Missing `reasoning_content` field in the assistant message at message index {i}. "
                       "For more information, please refer to "
                       "https://api-docs.deepseek.com/guides/thinking_with_tools")
