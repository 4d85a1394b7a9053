"""The one settings model of deepseek-ls.

Sources, later wins: defaults < environment (``DEEPSEEK_API_KEY``,
``DEEPSEEK_BASE_URL``, ``DEEPSEEK_LS_LOG``) < ``initializationOptions`` <
the settings of ``workspace/didChangeConfiguration`` <
``workspace/configuration``. Each source is one layer that a new message
replaces whole (never merged into), so a setting removed from the editor's
configuration falls back to the layer below, and in the end to its default.
Keys live in the section ``deepseek``; nested (``{"completion":
{"debounceMs": 80}}``) and dotted (``{"completion.debounceMs": 80}``) forms
are both accepted; ``null`` and (for ``apiKey`` / ``baseUrl``) ``""`` mean
"not set here".

An invalid value gives one :class:`Problem` and the value of the layer below
(or the default). Two problems *block* requests instead, because falling
back would send the key somewhere the user did not choose or fail inside
the HTTP stack: an API key with characters no key has (a pasted note, a
line break), and an endpoint that is not a plain ``https://`` URL (or
``http://`` on a loopback host). Forms users paste for the endpoint
(``/v1``, ``/beta``, a full endpoint path such as ``/chat/completions``, a
trailing slash, no scheme) are normalised to the API root.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import constants as C
from .api import config as api_config
from .api.errors import DeepSeekError
from .models import default_model
from .prompt import config as prompt_config

SECTION = "deepseek"
#: The API root used when no endpoint is set.
DEFAULT_BASE_URL = "https://api.deepseek.com"
#: Defaults of ``chat.maxTokens`` and ``completion.maxLines``.
CHAT_MAX_TOKENS = 8192
FIM_MAX_LINES = 12


def _setting(key: str, default: Any, doc: str, *, lo: float | None = None,
             hi: float | None = None, choices: tuple[str, ...] | None = None,
             secret: bool = False, schema: dict[str, Any] | None = None) -> Any:
    return field(default=default, metadata={
        "key": key, "doc": doc, "lo": lo, "hi": hi, "choices": choices, "secret": secret,
        "schema": schema,
    })


#: What an endpoint can be used for.
USES = ("fim", "chat")
#: Endpoint kinds and their URL paths under the API root (see DeepSeekClient).
ENDPOINT_KINDS = ("openai", "deepseek")


@dataclass(frozen=True)
class Prices:
    """USD per million tokens: prompt tokens from the provider's cache, other prompt tokens, output."""

    hit: float
    miss: float
    out: float

    def cost(self, hit: int, miss: int, out: int) -> float:
        return (hit * self.hit + miss * self.miss + out * self.out) / 1_000_000


@dataclass(frozen=True)
class EndpointConfig:
    """One fallback endpoint of ``deepseek.fallbacks`` (validated, URL normalised).

    ``api_key`` is the key itself (from ``apiKeyEnv``'s variable, or given
    by the editor from its secret store); it never appears in ``repr`` or
    :meth:`Settings.redacted`. ``prices`` None means the cost is unknown.
    """

    name: str
    base_url: str
    kind: str = "openai"
    api_key: str = field(default="", repr=False)
    api_key_env: str = ""
    fim_model: str = ""
    chat_model: str = ""
    uses: tuple[str, ...] = ()
    prices: Prices | None = None

    def serves(self, use: str) -> bool:
        return use in self.uses

    def redacted(self) -> dict[str, Any]:
        return {"name": self.name, "baseUrl": self.base_url, "kind": self.kind,
                "apiKey": "set" if self.api_key else "unset", "apiKeyEnv": self.api_key_env,
                "fimModel": self.fim_model, "chatModel": self.chat_model, "uses": list(self.uses),
                "prices": dataclasses.asdict(self.prices) if self.prices else None}


_FALLBACK_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name", "baseUrl"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "description": "Shown in the status and the usage ledger."},
            "baseUrl": {"type": "string", "description": "API root, e.g. `http://localhost:11434/v1` (same rules as deepseek.baseUrl)."},
            "kind": {"type": "string", "enum": list(ENDPOINT_KINDS), "default": "openai",
                     "description": "`openai`: /v1/completions (prompt + suffix) and /v1/chat/completions; `deepseek`: /beta/completions and /chat/completions."},
            "apiKeyEnv": {"type": "string", "description": "Environment variable holding this endpoint's key (none: a local server)."},
            "fimModel": {"type": "string", "description": "Model for ghost text (must take prompt + suffix)."},
            "chatModel": {"type": "string", "description": "Model for chat."},
            "uses": {"type": "array", "items": {"type": "string", "enum": list(USES)},
                     "description": "What it stands in for (default: each use it has a model for)."},
            "prices": {"type": "object", "required": ["hit", "miss", "out"],
                       "properties": {k: {"type": "number", "minimum": 0} for k in ("hit", "miss", "out")},
                       "description": "USD per million tokens (cache hit, miss, output); none = unknown cost."},
        },
    },
    "default": [],
}


@dataclass(frozen=True)
class Settings:
    """All settings; each field documents itself (README's table is built from these)."""

    api_key: str = _setting("apiKey", "", "DeepSeek API key. Prefer the env var `DEEPSEEK_API_KEY` or the editor's secret storage.", secret=True)
    base_url: str = _setting("baseUrl", DEFAULT_BASE_URL, "API endpoint (env `DEEPSEEK_BASE_URL`). Plain `http://` only for loopback hosts.")
    completion_enabled: bool = _setting("completion.enabled", True, "Automatic ghost text while typing. Manually invoked completions work either way.")
    completion_model: str = _setting("completion.model", default_model("fim"), "Model for fill-in-the-middle completions (must support FIM).")
    completion_debounce_ms: int = _setting("completion.debounceMs", C.DEBOUNCE_MS, "Debounce before an automatic request (ms); the starting point of the adaptive debounce.", lo=0, hi=5000)
    completion_adaptive_debounce: bool = _setting("completion.adaptiveDebounce", True, "Adapt the debounce to your typing rhythm and the measured latency.")
    completion_max_tokens: int = _setting("completion.maxTokens", prompt_config.FIM_MAX_TOKENS_BLOCK, "max_tokens of a multi-line suggestion (single-line ones use 64).", lo=1, hi=4096)
    completion_max_lines: int = _setting("completion.maxLines", FIM_MAX_LINES, "Lines of a multi-line suggestion at most.", lo=1, hi=200)
    completion_timeout_ms: int = _setting("completion.timeoutMs", int(api_config.FIM_TIMEOUT_S * 1000), "Drop a ghost text that takes longer than this (ms).", lo=200, hi=60000)
    completion_temperature: float = _setting("completion.temperature", 0.0, "Sampling temperature for completions.", lo=0.0, hi=2.0)
    completion_prefix_chars: int = _setting("completion.prefixChars", prompt_config.PREFIX_CHARS, "Characters of the file before the cursor sent as context.", lo=200, hi=400000)
    completion_suffix_chars: int = _setting("completion.suffixChars", prompt_config.SUFFIX_CHARS, "Characters after the cursor sent as context (all billed as cache misses).", lo=0, hi=20000)
    completion_items: str = _setting("completion.items", "auto", "Offer the suggestion as a `textDocument/completion` item too: `auto` = only for clients that do not declare inline completion.", choices=("auto", "always", "never"))
    completion_other_files: bool = _setting("completion.otherFiles", True, "Add context from other open files of the same language.")
    chat_model: str = _setting("chat.model", default_model("chat"), "Model for chat, explain and code actions.")
    chat_thinking: bool = _setting("chat.thinking", False, "Let the chat model think first (slower; reasoning is shown apart). Off = fast path, thinking disabled explicitly.")
    chat_max_tokens: int = _setting("chat.maxTokens", CHAT_MAX_TOKENS, "max_tokens of a chat answer.", lo=1, hi=393216)
    chat_transcripts: bool = _setting("chat.transcripts", True, "Write chat answers to a Markdown transcript and open it with window/showDocument (for clients without the plugins).")
    # i14 (secrets): files never sent; see deepseek_ls/policy.py
    # i14 (failover): endpoints that stand in while DeepSeek fails; see deepseek_ls/api/endpoints.py
    fallbacks: tuple[EndpointConfig, ...] = _setting("fallbacks", (), "Endpoints that answer while DeepSeek fails (its circuit breaker is open), first healthy one first: a list of `{name, baseUrl, kind, apiKeyEnv, fimModel, chatModel, uses, prices}`. Ghost text needs an endpoint taking `prompt` + `suffix` (Ollama, llama.cpp, another provider's FIM); chat any OpenAI-compatible one. See README \"Failover\".", schema=_FALLBACK_SCHEMA)
    exclude: tuple[str, ...] = _setting("exclude", (), "More files never sent to DeepSeek (gitignore-style globs, e.g. `[\"config/*.ini\"]`), on top of the built-in list of secret files and the workspace's `.deepseekignore`; `!glob` re-includes a file the built-in list excludes.")
    log_level: str = _setting("logLevel", "info", "Server log level (stderr).", choices=("debug", "info", "warning", "error"))

    def redacted(self) -> dict[str, Any]:
        """Settings as a dict, safe to log (the key is masked)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "fallbacks":
                value = [e.redacted() for e in value]
            out[f.metadata["key"]] = ("set" if value else "unset") if f.metadata["secret"] else value
        return out


def sentence(text: str) -> str:
    """``text`` ending with a full stop (unless it ends with one, or with ``?``, ``!``, ``…``)."""
    text = text.rstrip()
    return text if not text or text.endswith((".", "!", "?", "…")) else f"{text}."


class Problem(str):
    """One settings problem: the sentence to show (a ``str``), plus which setting and
    whether it blocks every request (``blocking``) rather than falling back."""

    key: str
    blocking: bool

    def __new__(cls, text: str, key: str = "", blocking: bool = False) -> Problem:
        obj = super().__new__(cls, sentence(text))
        obj.key = key
        obj.blocking = blocking
        return obj


class SettingsError(DeepSeekError):
    """No request can be sent until a setting is fixed; the message names it."""

    hint = ""


#: Environment variables and the setting each one stands for.
ENV_NAMES = {"apiKey": "DEEPSEEK_API_KEY", "baseUrl": "DEEPSEEK_BASE_URL", "logLevel": "DEEPSEEK_LS_LOG"}


def setting_fields() -> list[dataclasses.Field]:
    """The documented fields of Settings, in order."""
    return list(dataclasses.fields(Settings))


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    leaves = _leaf_keys()
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and name not in leaves:  # a setting's own value is never opened up
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


@functools.cache
def _leaf_keys() -> frozenset[str]:
    return frozenset(f.metadata["key"] for f in setting_fields())


#: Keys of the ``deepseek`` section that the editor plugins read themselves (never reported).
CLIENT_KEYS = ("pythonPath", "serverArgs", "serverPath", "trace", "ui", "keymaps", "deepseekClient", "deepseekSources")


def unknown_setting(key: str) -> Problem | None:
    """The problem to report for a key the server does not know, or None when it is
    not ours to judge (an editor plugin's own key, or another server's section sent
    along by a client without the ``deepseek`` wrapper)."""
    known = sorted(_leaf_keys())
    top = key.split(".", 1)[0]
    if top in CLIENT_KEYS:
        return None
    tops = {k.split(".", 1)[0] for k in known}
    parent, _, leaf = key.rpartition(".")
    siblings = {k.rpartition(".")[2].lower(): k for k in known if k.rpartition(".")[0] == parent}
    close = [siblings[m] for m in difflib.get_close_matches(leaf.lower(), list(siblings), n=1, cutoff=0.7)]
    if not close:  # misplaced or misspelt higher up: compare whole keys, strictly
        lower = {k.lower(): k for k in known}
        close = [lower[m] for m in difflib.get_close_matches(key.lower(), list(lower), n=1, cutoff=0.85)]
    if top not in tops and not close:
        return None
    hint = f"; did you mean {SECTION}.{close[0]}?" if close else ""
    return Problem(f"{SECTION}.{key} is not a setting of deepseek-ls, so it is ignored{hint}", key)


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
    for key, name in ENV_NAMES.items():
        if environ.get(name, "").strip():
            out[key] = environ[name].strip()
    return out


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


#: Endpoint paths users paste after the API root (stripped, longest first).
_ENDPOINT_TAILS = ("/chat/completions", "/completions", "/user/balance", "/models")
_VERSION_TAILS = ("/v1", "/beta")


def normalize_base_url(url: str, name: str = f"{SECTION}.baseUrl",
                       key_place: str = f"{SECTION}.apiKey") -> tuple[str, str | None]:
    """The API root for a pasted endpoint, and why it cannot be used (None when it can).

    Accepted and normalised: a trailing slash, ``/v1`` and ``/beta``, a full
    endpoint path (``/chat/completions``, ``/beta/completions``, ``/models``,
    ``/user/balance``) and a missing scheme (``https://``, or ``http://`` for
    a loopback host). A fragment is dropped. Refused (the reason names
    ``name``): other schemes, plain ``http://`` on a non-loopback host,
    credentials in the URL, a query string. A refused URL is returned as given.
    """
    raw = url.strip()
    text = raw
    if "://" not in text:
        host = urlsplit("//" + text).hostname or ""
        text = ("http://" if host and is_loopback(host) else "https://") + text
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        return raw, f"{name} {raw!r} is not a valid URL"
    if parts.username or parts.password:
        return raw, f"{name} must not carry credentials (user:password@); give the key in {key_place}"
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not host:
        return raw, f"{name} {raw!r} is not an http(s) URL"
    if scheme == "http" and not is_loopback(host):
        return raw, f"{name} {raw!r} uses plain http:// on a non-loopback host; use https://"
    if parts.query:
        return raw, f"{name} {raw!r} has a query string (?…), which deepseek-ls cannot send; give the API root"
    path = parts.path.rstrip("/")
    for tails in (_ENDPOINT_TAILS, _VERSION_TAILS):
        for tail in tails:
            if path.endswith(tail):
                path = path[: -len(tail)].rstrip("/")
                break
    return f"{scheme}://{parts.netloc}{path}", None


def check_base_url(url: str) -> str | None:
    """Why ``url`` is not an acceptable endpoint, or None when it is."""
    return normalize_base_url(url)[1]


def check_api_key(key: str, name: str = f"{SECTION}.apiKey") -> str | None:
    """Why ``key`` cannot be an API key (never quoting it), or None when it can.

    A key is printable ASCII without spaces; anything else (a note pasted
    after it, a line break, a typographic dash) would fail inside the HTTP
    stack or be rejected by DeepSeek.
    """
    for index, char in enumerate(key, 1):
        if " " < char <= "~":
            continue
        if char in " \t":
            what = "a space" if char == " " else "a tab"
        elif char.isspace():
            what = f"a line break or other white space (U+{ord(char):04X})"
        elif ord(char) < 32 or ord(char) == 127:
            what = f"a control character (U+{ord(char):04X})"
        else:
            what = f"a non-ASCII character (U+{ord(char):04X})"
        return (f"{name} contains {what} at character {index} of {len(key)}; an API key is ASCII letters, "
                f"digits and dashes only. Copy it again from https://platform.deepseek.com/api_keys "
                f"(without any note after it). Nothing is sent to DeepSeek until it is fixed.")
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


def _price(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError("prices are numbers of USD per million tokens, at least 0")
    return float(value)


def coerce_fallbacks(value: Any, *, environ: Mapping[str, str] | None = None
                     ) -> tuple[tuple[EndpointConfig, ...], list[Problem]]:
    """``deepseek.fallbacks`` as endpoint configs, and a problem per entry left out.

    Each entry is an object (see the setting's schema). Its ``baseUrl``
    follows the rules of ``deepseek.baseUrl`` (normalised; refused when not
    ``https://`` or loopback ``http://``, with credentials or a query). The
    key comes from ``apiKey`` (the editor's secret store) or the variable
    named by ``apiKeyEnv``; a key with characters no key has leaves the
    entry out. Problems never quote a key.
    """
    environ = os.environ if environ is None else environ
    items = [value] if isinstance(value, Mapping) else value
    if not isinstance(items, (list, tuple)):
        return (), [Problem(f"{SECTION}.fallbacks: expected a list of endpoint objects; no fallback is used",
                            "fallbacks")]
    out: list[EndpointConfig] = []
    problems: list[Problem] = []
    names: set[str] = set()
    for index, item in enumerate(items):
        where = f"{SECTION}.fallbacks[{index}]"

        def bad(why: str) -> None:
            problems.append(Problem(f"{where}: {why}; this fallback is not used", "fallbacks"))

        if not isinstance(item, Mapping):
            bad("expected an object with name and baseUrl")
            continue
        unknown = sorted(set(item) - {"name", "baseUrl", "kind", "apiKey", "apiKeyEnv", "fimModel",
                                      "chatModel", "uses", "prices"})
        if unknown:
            bad(f"unknown field(s) {', '.join(unknown)}")
            continue
        strings = {}
        for k in ("name", "baseUrl", "kind", "apiKey", "apiKeyEnv", "fimModel", "chatModel"):
            v = item.get(k)
            if v is not None and not isinstance(v, str):
                strings = None
                bad(f"{k} must be a string")
                break
            strings[k] = (v or "").strip()
        if strings is None:
            continue
        name = strings["name"] or f"fallback{index + 1}"
        if name in names or name == "deepseek":
            bad(f"the name {name!r} is taken (names must be unique and not 'deepseek')")
            continue
        if not strings["baseUrl"]:
            bad("baseUrl is missing")
            continue
        key_place = (f"the environment variable {strings['apiKeyEnv']} (its apiKeyEnv)" if strings["apiKeyEnv"]
                     else "the environment variable named by its apiKeyEnv")
        root, why = normalize_base_url(strings["baseUrl"], "baseUrl", key_place)
        if why:
            bad(why)
            continue
        kind = (strings["kind"] or "openai").lower()
        if kind not in ENDPOINT_KINDS:
            bad(f"kind must be one of {', '.join(ENDPOINT_KINDS)}")
            continue
        key = strings["apiKey"]
        if not key and strings["apiKeyEnv"]:
            key = (environ.get(strings["apiKeyEnv"]) or "").strip()
            if not key:
                bad(f"the environment variable {strings['apiKeyEnv']} (apiKeyEnv) is not set")
                continue
        if key:
            why = check_api_key(key, "its key")
            if why:
                bad(why.split(". Copy it again")[0])
                continue
        uses_raw = item.get("uses")
        if uses_raw is None:
            uses = tuple(u for u, m in (("fim", strings["fimModel"]), ("chat", strings["chatModel"])) if m)
        else:
            if isinstance(uses_raw, str):
                uses_raw = [uses_raw]
            if not isinstance(uses_raw, (list, tuple)) or not all(u in USES for u in uses_raw):
                bad(f"uses must be a list of {', '.join(USES)}")
                continue
            uses = tuple(u for u in USES if u in uses_raw)
        missing = [u for u in uses if not strings["fimModel" if u == "fim" else "chatModel"]]
        if missing:
            bad(f"uses {missing[0]} but has no {'fimModel' if missing[0] == 'fim' else 'chatModel'}")
            continue
        if not uses:
            bad("serves nothing (give fimModel and/or chatModel)")
            continue
        prices = None
        if item.get("prices") is not None:
            p = item["prices"]
            try:
                if not isinstance(p, Mapping):
                    raise ValueError("prices must be an object {hit, miss, out}")
                prices = Prices(_price(p.get("hit")), _price(p.get("miss")), _price(p.get("out")))
            except ValueError as exc:
                bad(str(exc))
                continue
        names.add(name)
        out.append(EndpointConfig(name=name, base_url=root, kind=kind, api_key=key,
                                  api_key_env=strings["apiKeyEnv"], fim_model=strings["fimModel"],
                                  chat_model=strings["chatModel"], uses=uses, prices=prices))
    return tuple(out), problems


def build_settings(*layers: Mapping[str, Any] | None,
                   sources: tuple[str, ...] | None = None,
                   fallback_environ: Mapping[str, str] | None = None,
                   namer: Any = None) -> tuple[Settings, list[Problem]]:
    """Resolve layers (later wins, per setting) into Settings; return it and the problems found.

    ``sources`` names the layers (``"env"`` makes problems name the
    environment variable). At most one problem per setting: the one of the
    value that would apply. Every problem names the setting and what was
    wrong, never the value of a secret. An invalid value falls back to the
    layer below (or the default); a blocking one (API key characters, an
    unusable endpoint) is reported with ``blocking=True``. A fallback
    endpoint that cannot be used is left out (one problem each, never
    blocking); ``fallback_environ`` is where ``apiKeyEnv`` names are read
    (``os.environ`` when None). ``namer(key, source)``, when given, names a
    setting in problems (the server names what its client's user set).
    """
    by_key = {f.metadata["key"]: f for f in setting_fields()}
    values: dict[str, Any] = {}
    problems: dict[str, Problem] = {}
    for index, layer in enumerate(layers):
        if not layer or not isinstance(layer, Mapping):
            continue
        source = sources[index] if sources and index < len(sources) else ""
        for key, value in _flatten(layer).items():
            f = by_key.get(key)
            if f is None:  # a misspelt key is said (once: the caller shows each problem once)
                problem = unknown_setting(key) if source != "env" else None
                if problem is not None:
                    problems[f"unknown:{key}"] = problem
                continue
            if value is None:
                continue  # not set in this layer
            name = ENV_NAMES.get(key, f"{SECTION}.{key}") if source == "env" else f"{SECTION}.{key}"
            if namer is not None:
                name = namer(key, source)
            if key in ("apiKey", "baseUrl") and isinstance(value, str) and not value.strip():
                continue  # an emptied field: not set here
            if key == "fallbacks":
                coerced, found = coerce_fallbacks(value, environ=fallback_environ)
                for old in [k for k in problems if k.startswith(f"{key}#")]:
                    del problems[old]  # this layer's list replaces the one below
                for index, problem in enumerate(found):
                    problems[f"{key}#{index}"] = problem
                values[f.name] = coerced
                continue
            try:
                coerced = _coerce(f, value)
            except ValueError as exc:
                shown = "<hidden>" if f.metadata["secret"] else repr(value)
                kept = "the value set before" if f.name in values else "the default"
                problems[key] = Problem(f"{name} = {shown}: {exc}; using {kept}", key)
                continue
            if key == "baseUrl":
                coerced, why = normalize_base_url(coerced, name)
                if why:
                    problems[key] = Problem(f"{why}. Nothing is sent until it is fixed.", key, blocking=True)
                    continue
            if key == "apiKey":
                why = check_api_key(coerced, name)
                if why:
                    problems[key] = Problem(why, key, blocking=True)
                    continue
            values[f.name] = coerced
            problems.pop(key, None)
    return Settings(**values), list(problems.values())


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
