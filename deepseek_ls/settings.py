"""The one settings model of deepseek-ls.

Sources, later wins: defaults < environment (``DEEPSEEK_API_KEY``,
``DEEPSEEK_BASE_URL``) < ``initializationOptions`` < the settings of
``workspace/didChangeConfiguration`` < ``workspace/configuration``.
Keys live in the section ``deepseek``; nested (``{"completion":
{"debounceMs": 80}}``) and dotted (``{"completion.debounceMs": 80}``) forms
are both accepted. An invalid value gives one clear problem and its default.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import constants as C
from .models import default_model

SECTION = "deepseek"


def _setting(key: str, default: Any, doc: str, *, lo: float | None = None,
             hi: float | None = None, choices: tuple[str, ...] | None = None,
             secret: bool = False) -> Any:
    return field(default=default, metadata={
        "key": key, "doc": doc, "lo": lo, "hi": hi, "choices": choices, "secret": secret,
    })


@dataclass(frozen=True)
class Settings:
    """All settings; each field documents itself (README's table is built from these)."""

    api_key: str = _setting("apiKey", "", "DeepSeek API key. Prefer the env var `DEEPSEEK_API_KEY` or the editor's secret storage.", secret=True)
    base_url: str = _setting("baseUrl", C.DEFAULT_BASE_URL, "API endpoint (env `DEEPSEEK_BASE_URL`). Plain `http://` only for loopback hosts.")
    completion_enabled: bool = _setting("completion.enabled", True, "Automatic ghost text while typing. Manually invoked completions work either way.")
    completion_model: str = _setting("completion.model", default_model("fim"), "Model for fill-in-the-middle completions (must support FIM).")
    completion_debounce_ms: int = _setting("completion.debounceMs", C.DEBOUNCE_MS, "Debounce before an automatic request (ms); the starting point of the adaptive debounce.", lo=0, hi=5000)
    completion_adaptive_debounce: bool = _setting("completion.adaptiveDebounce", True, "Adapt the debounce to your typing rhythm and the measured latency.")
    completion_max_tokens: int = _setting("completion.maxTokens", C.FIM_MAX_TOKENS_BLOCK, "max_tokens of a multi-line suggestion (single-line ones use 64).", lo=1, hi=4096)
    completion_max_lines: int = _setting("completion.maxLines", C.FIM_MAX_LINES, "Lines of a multi-line suggestion at most.", lo=1, hi=200)
    completion_timeout_ms: int = _setting("completion.timeoutMs", int(C.FIM_TIMEOUT_S * 1000), "Drop a ghost text that takes longer than this (ms).", lo=200, hi=60000)
    completion_temperature: float = _setting("completion.temperature", 0.0, "Sampling temperature for completions.", lo=0.0, hi=2.0)
    completion_prefix_chars: int = _setting("completion.prefixChars", C.PREFIX_CHARS, "Characters of the file before the cursor sent as context.", lo=200, hi=400000)
    completion_suffix_chars: int = _setting("completion.suffixChars", C.SUFFIX_CHARS, "Characters after the cursor sent as context (all billed as cache misses).", lo=0, hi=20000)
    completion_items: str = _setting("completion.items", "auto", "Offer the suggestion as a `textDocument/completion` item too: `auto` = only for clients that do not declare inline completion.", choices=("auto", "always", "never"))
    completion_other_files: bool = _setting("completion.otherFiles", True, "Add context from other open files of the same language.")
    chat_model: str = _setting("chat.model", default_model("chat"), "Model for chat, explain and code actions.")
    chat_thinking: bool = _setting("chat.thinking", False, "Let the chat model think first (slower; reasoning is shown apart). Off = fast path, thinking disabled explicitly.")
    chat_max_tokens: int = _setting("chat.maxTokens", C.CHAT_MAX_TOKENS, "max_tokens of a chat answer.", lo=1, hi=393216)
    chat_transcripts: bool = _setting("chat.transcripts", True, "Write chat answers to a Markdown transcript and open it with window/showDocument (for clients without the plugins).")
    # i14 (secrets): files never sent; see deepseek_ls/policy.py
    exclude: tuple[str, ...] = _setting("exclude", (), "More files never sent to DeepSeek (gitignore-style globs, e.g. `[\"config/*.ini\"]`), on top of the built-in list of secret files and the workspace's `.deepseekignore`; `!glob` re-includes a file the built-in list excludes.")
    log_level: str = _setting("logLevel", "info", "Server log level (stderr).", choices=("debug", "info", "warning", "error"))

    def redacted(self) -> dict[str, Any]:
        """Settings as a dict, safe to log (the key is masked)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.metadata["key"]] = ("set" if value else "unset") if f.metadata["secret"] else value
        return out


def setting_fields() -> list[dataclasses.Field]:
    """The documented fields of Settings, in order."""
    return list(dataclasses.fields(Settings))


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def section_of(options: Any) -> dict[str, Any]:
    """Pick the ``deepseek`` section from whatever a client sent."""
    if not isinstance(options, Mapping):
        return {}
    inner = options.get(SECTION)
    if isinstance(inner, Mapping):
        return dict(inner)
    return {k: v for k, v in options.items() if k != SECTION}


def env_layer(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Settings taken from the environment."""
    environ = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    if environ.get("DEEPSEEK_API_KEY"):
        out["apiKey"] = environ["DEEPSEEK_API_KEY"].strip()
    if environ.get("DEEPSEEK_BASE_URL"):
        out["baseUrl"] = environ["DEEPSEEK_BASE_URL"].strip()
    return out


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str | None:
    """Why ``url`` is not an acceptable endpoint, or None when it is."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"baseUrl {url!r} is not an http(s) URL"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return f"baseUrl {url!r} uses plain http:// on a non-loopback host; use https://"
    if parts.username or parts.password:
        return "baseUrl must not carry credentials"
    return None


def _coerce(f: dataclasses.Field, value: Any) -> Any:
    meta = f.metadata
    kind = type(f.default)
    if kind is tuple:  # i14: a list of strings (one string is a list of one)
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
            raise ValueError("expected a list of strings")
        return tuple(i.strip() for i in items if i.strip())
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError("expected true or false")
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("expected a whole number")
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ValueError("expected a whole number") from None
        number = value
        if isinstance(number, float):
            if not number.is_integer():
                raise ValueError("expected a whole number")
            number = int(number)
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("expected a number")
        try:
            number = float(value)
        except ValueError:
            raise ValueError("expected a number") from None
    else:
        if not isinstance(value, str):
            raise ValueError("expected a string")
        value = value.strip()
        if meta["choices"] and value.lower() not in meta["choices"]:
            raise ValueError(f"expected one of {', '.join(meta['choices'])}")
        return value.lower() if meta["choices"] else value
    if meta["lo"] is not None and number < meta["lo"]:
        raise ValueError(f"must be at least {meta['lo']}")
    if meta["hi"] is not None and number > meta["hi"]:
        raise ValueError(f"must be at most {meta['hi']}")
    return number


def build_settings(*layers: Mapping[str, Any] | None) -> tuple[Settings, list[str]]:
    """Merge layers (later wins) into Settings; return it and the problems found.

    Every problem names the setting and what was wrong, never the value of a
    secret; the offending setting keeps its default (or the earlier layer's
    value).
    """
    by_key = {f.metadata["key"]: f for f in setting_fields()}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for layer in layers:
        if not layer:
            continue
        for key, value in _flatten(layer).items():
            f = by_key.get(key)
            if f is None:
                continue  # unknown keys belong to the editor plugins
            if value is None:
                continue
            try:
                coerced = _coerce(f, value)
            except ValueError as exc:
                shown = "<hidden>" if f.metadata["secret"] else repr(value)
                problems.append(f"{SECTION}.{key} = {shown}: {exc}; using the default")
                continue
            if key == "baseUrl":
                coerced = coerced.rstrip("/")
                why = check_base_url(coerced)
                if why:
                    problems.append(f"{why}; using {values.get(key, C.DEFAULT_BASE_URL)}")
                    continue
            values[f.name] = coerced
    return Settings(**values), problems


def settings_table_markdown() -> str:
    """The README's settings table, generated from the fields' own docs."""
    rows = ["| setting | default | what it does |", "| --- | --- | --- |"]
    for f in setting_fields():
        meta = f.metadata
        default = f.default
        if isinstance(default, bool):
            shown = str(default).lower()
        elif isinstance(default, tuple):  # i14
            shown = "`[]`" if not default else f"`{list(default)}`"
        elif isinstance(default, str):
            shown = f'`"{default}"`'
        else:
            shown = str(default)
        extra = ""
        if meta["lo"] is not None:
            extra = f" ({meta['lo']}–{meta['hi']})"
        if meta["choices"]:
            extra = " (" + ", ".join(meta["choices"]) + ")"
        rows.append(f"| `{SECTION}.{meta['key']}` | {shown} | {meta['doc']}{extra} |")
    return "\n".join(rows) + "\n"
