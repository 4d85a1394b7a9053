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

Values are structured by one cattrs :data:`converter`: strict hooks for the
JSON scalars (no ``bool("false")``, no truncated ``int(2.5)``), a setting's
bounds or choices attached to its type (:class:`Limits`, see
:func:`setting_type`), lists, and the entries of ``deepseek.fallbacks``
(:class:`FallbackEntry`: camelCase keys, unknown keys refused).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

import cattrs
from cattrs.errors import CattrsError, ClassValidationError, ForbiddenExtraKeysError
from cattrs.gen import make_dict_structure_fn, override

from .api.config import FIM_TIMEOUT_S
from .api.errors import DeepSeekError
from .api.types import EndpointKind, Use
from .models import default_model
from .prompt.config import FIM_MAX_TOKENS_BLOCK, PREFIX_CHARS, SUFFIX_CHARS

#: Base debounce before an automatic FIM request (ms): the default of ``completion.debounceMs``
#: and of :class:`~deepseek_ls.completion.rhythm.Rhythm`, whose adaptive debounce moves it
#: between the bounds in :mod:`deepseek_ls.completion.config`.
DEBOUNCE_MS = 120

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
USES: tuple[Use, ...] = get_args(Use)
#: Endpoint kinds and their URL paths under the API root (see DeepSeekClient).
ENDPOINT_KINDS: tuple[EndpointKind, ...] = get_args(EndpointKind)


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
    kind: EndpointKind = "openai"
    api_key: str = field(default="", repr=False)
    api_key_env: str = ""
    fim_model: str = ""
    chat_model: str = ""
    uses: tuple[Use, ...] = ()
    prices: Prices | None = None

    def serves(self, use: Use) -> bool:
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


#: ``deepseek.completion.items``: when the suggestion is also a ``textDocument/completion`` item
CompletionItems = Literal["auto", "always", "never"]
#: ``deepseek.logLevel``
LogLevel = Literal["debug", "info", "warning", "error"]


@dataclass(frozen=True)
class Settings:
    """All settings, frozen; each field documents itself (README's table is built from these).

    Field ``x_y`` is the setting ``deepseek.x.y`` (the key in each field's
    metadata); units are in the names (``_ms``, ``_chars``, tokens for
    ``max_tokens``). Built by :func:`build_settings` from the layers
    (defaults, environment, editor): a bad value never raises there, it
    gives a :class:`Problem` and keeps the default. ``api_key`` never
    appears in :meth:`redacted`.
    """

    api_key: str = _setting("apiKey", "", "DeepSeek API key. Prefer the env var `DEEPSEEK_API_KEY` or the editor's secret storage.", secret=True)
    base_url: str = _setting("baseUrl", DEFAULT_BASE_URL, "API endpoint (env `DEEPSEEK_BASE_URL`). Plain `http://` only for loopback hosts.")
    completion_enabled: bool = _setting("completion.enabled", True, "Automatic ghost text while typing. Manually invoked completions work either way.")
    completion_model: str = _setting("completion.model", default_model("fim"), "Model for fill-in-the-middle completions (must support FIM).")
    completion_debounce_ms: int = _setting("completion.debounceMs", DEBOUNCE_MS, "Debounce before an automatic request (ms); the starting point of the adaptive debounce.", lo=0, hi=5000)
    completion_adaptive_debounce: bool = _setting("completion.adaptiveDebounce", True, "Adapt the debounce to your typing rhythm and the measured latency.")
    completion_max_tokens: int = _setting("completion.maxTokens", FIM_MAX_TOKENS_BLOCK, "max_tokens of a multi-line suggestion (single-line ones use 64).", lo=1, hi=4096)
    completion_max_lines: int = _setting("completion.maxLines", FIM_MAX_LINES, "Lines of a multi-line suggestion at most.", lo=1, hi=200)
    completion_timeout_ms: int = _setting("completion.timeoutMs", int(FIM_TIMEOUT_S * 1000), "Drop a ghost text that takes longer than this (ms).", lo=200, hi=60000)
    completion_temperature: float = _setting("completion.temperature", 0.0, "Sampling temperature for completions.", lo=0.0, hi=2.0)
    completion_prefix_chars: int = _setting("completion.prefixChars", PREFIX_CHARS, "Characters of the file before the cursor sent as context (and up to half as many of the rest of the file, in the cached head).", lo=200, hi=400000)
    completion_suffix_chars: int = _setting("completion.suffixChars", SUFFIX_CHARS, "Characters after the cursor sent as context (all billed as cache misses).", lo=0, hi=20000)
    completion_items: CompletionItems = _setting("completion.items", "auto", "Offer the suggestion as a `textDocument/completion` item too: `auto` = only for clients that do not declare inline completion.", choices=get_args(CompletionItems))
    completion_other_files: bool = _setting("completion.otherFiles", True, "Add context from other open files of the same language.")
    # cross-file context (deepseek_ls/context); completion.otherFiles keeps adding the open files' starts
    context_enabled: bool = _setting("context.enabled", True, "Add definitions and snippets from other files of the project to the FIM prompt (parsed locally; excluded files never).")
    context_budget_tokens: int = _setting("context.budgetTokens", 2048, "Token budget of the cross-file context (estimated at 3.5 characters a token); half at most is the project block shared by all files.", lo=0, hi=16000)
    context_definitions: bool = _setting("context.definitions", True, "Definitions of the names the file imports (Python, TypeScript/JavaScript, Go), read from the workspace.")
    context_editor_definitions: bool = _setting("context.editorDefinitions", True, "Ask the editor's other language servers where names near the cursor are defined (`deepseek/definitions`; VS Code and Neovim plugins).")
    context_recent_files: bool = _setting("context.recentFiles", True, "Snippets of recently viewed or edited files similar to the code around the cursor.")
    context_open_files: bool = _setting("context.openFiles", True, "Snippets of other open files similar to the code around the cursor.")
    chat_model: str = _setting("chat.model", default_model("chat"), "Model for chat, explain and code actions.")
    chat_thinking: bool = _setting("chat.thinking", False, "Let the chat model think first (slower; reasoning is shown apart). Off = fast path, thinking disabled explicitly.")
    chat_max_tokens: int = _setting("chat.maxTokens", CHAT_MAX_TOKENS, "max_tokens of a chat answer.", lo=1, hi=393216)
    chat_transcripts: bool = _setting("chat.transcripts", True, "Write chat answers to a Markdown transcript and open it with window/showDocument (for clients without the plugins).")
    # secret files: never sent, see deepseek_ls/policy.py (`exclude` below)
    # failover: endpoints that stand in while DeepSeek fails, see deepseek_ls/api/endpoints.py
    fallbacks: tuple[EndpointConfig, ...] = _setting("fallbacks", (), "Endpoints that answer while DeepSeek fails (its circuit breaker is open), first healthy one first: a list of `{name, baseUrl, kind, apiKeyEnv, fimModel, chatModel, uses, prices}`. Ghost text needs an endpoint taking `prompt` + `suffix` (Ollama, llama.cpp, another provider's FIM); chat any OpenAI-compatible one. See README \"Failover\".", schema=_FALLBACK_SCHEMA)
    exclude: tuple[str, ...] = _setting("exclude", (), "More files never sent to DeepSeek (gitignore-style globs, e.g. `[\"config/*.ini\"]`), on top of the built-in list of secret files and the workspace's `.deepseekignore`; `!glob` re-includes a file the built-in list excludes.")
    log_level: LogLevel = _setting("logLevel", "info", "Server log level (stderr).", choices=get_args(LogLevel))

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


def setting_fields() -> list[dataclasses.Field[Any]]:
    """The documented fields of Settings, in order."""
    return list(dataclasses.fields(Settings))


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested settings section as dotted names: ``{"completion": {"debounceMs": 90}}``
    gives ``{"completion.debounceMs": 90}``, each name prefixed with ``prefix``.

    A mapping under a name that is itself a setting (a setting whose value
    is an object) stays one entry, not opened up. Values
    are returned as given (nothing is checked or coerced here); never raises
    for a mapping of any shape.
    """
    out: dict[str, Any] = {}
    leaves = _leaf_keys()
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and name not in leaves:  # a setting's own value is never opened up
            out.update(flatten(value, name + "."))
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
        host = parts.hostname or ""
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


# -- coercion: one cattrs converter ------------------------------------------------------------
#
# Editors send JSON, so a setting's value is checked strictly against its field's type: no
# ``bool("false")``, no silently truncated ``int(2.5)``. The scalar hooks below say what a value
# must be; cattrs dispatches by type, structures the lists and the fallback entries (renamed
# camelCase keys, unknown keys refused) and gathers every failure of an entry.


@dataclass(frozen=True)
class Limits:
    """The bounds (``lo``/``hi``) or the choices (matched case-insensitively) of a setting;
    attached to its type as ``Annotated[int, Limits(...)]`` (see :func:`setting_type`)."""

    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] | None = None


def _structure_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError("expected true or false")


def _structure_int(value: Any, _: Any) -> int:
    """A whole number: an int, a float without fraction, or a string of one."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("expected a whole number")
    number = value
    if isinstance(number, str):
        try:
            number = float(number)
        except ValueError:
            raise ValueError("expected a whole number") from None
    if isinstance(number, float):
        if not number.is_integer():
            raise ValueError("expected a whole number")
        return int(number)
    return number


def _structure_float(value: Any, _: Any) -> float:
    """A number, or a string of one."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("expected a number")
    try:
        return float(value)
    except ValueError:
        raise ValueError("expected a number") from None


def _structure_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value.strip()


def _structure_price(value: Any, _: Any) -> float:
    """USD per million tokens: a number (not a string), at least 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError("prices are numbers of USD per million tokens, at least 0")
    return float(value)


def _is_limited(type_: Any) -> bool:
    return get_origin(type_) is Annotated and any(isinstance(m, Limits) for m in type_.__metadata__)


def _limited_hook(type_: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    base = get_args(type_)[0]
    limits = next(m for m in type_.__metadata__ if isinstance(m, Limits))
    inner = conv.get_structure_hook(base)

    def structure(value: Any, _: Any) -> Any:
        out = inner(value, base)
        if limits.choices:
            if out.lower() not in limits.choices:
                raise ValueError(f"expected one of {', '.join(limits.choices)}")
            return out.lower()
        if limits.lo is not None and out < limits.lo:
            raise ValueError(f"must be at least {limits.lo}")
        if limits.hi is not None and out > limits.hi:
            raise ValueError(f"must be at most {limits.hi}")
        return out

    return structure


def _is_list_of(type_: Any) -> bool:
    args = get_args(type_)
    return get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis


def _list_hook(type_: Any, conv: cattrs.Converter) -> Callable[[Any, Any], tuple[Any, ...]]:
    """``tuple[T, ...]`` from a JSON list (one string is a list of one); empty strings are dropped."""
    item = get_args(type_)[0]
    inner = conv.get_structure_hook(item)
    what = "strings" if item is str else ", ".join(map(str, get_args(item))) or str(item)

    def structure(value: Any, _: Any) -> tuple[Any, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ValueError(f"expected a list of {what}")
        try:
            out = tuple(inner(i, item) for i in items)
        except (ValueError, CattrsError) as exc:
            raise ValueError(f"expected a list of {what}") from exc
        return tuple(i for i in out if i != "")

    return structure


@dataclass(frozen=True)
class FallbackEntry:
    """One entry of ``deepseek.fallbacks`` as written (camelCase keys), before the checks of
    :func:`coerce_fallbacks`; None means "not given"."""

    name: str | None = None
    base_url: str | None = None
    kind: str | None = None
    api_key: str | None = None
    api_key_env: str | None = None
    fim_model: str | None = None
    chat_model: str | None = None
    uses: tuple[Literal["fim", "chat"], ...] | None = None
    prices: Prices | None = None


#: FallbackEntry's attributes and their keys in the settings, in the order they are checked.
_ENTRY_KEYS = {"name": "name", "base_url": "baseUrl", "kind": "kind", "api_key": "apiKey",
               "api_key_env": "apiKeyEnv", "fim_model": "fimModel", "chat_model": "chatModel",
               "uses": "uses", "prices": "prices"}


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook_factory(_is_limited, _limited_hook)
    conv.register_structure_hook_factory(_is_list_of, _list_hook)
    price = override(struct_hook=_structure_price)
    conv.register_structure_hook(Prices, make_dict_structure_fn(  # other keys are ignored
        Prices, conv, _cattrs_forbid_extra_keys=False, hit=price, miss=price, out=price))
    conv.register_structure_hook(FallbackEntry, make_dict_structure_fn(
        FallbackEntry, conv, base_url=override(rename="baseUrl"), api_key=override(rename="apiKey"),
        api_key_env=override(rename="apiKeyEnv"), fim_model=override(rename="fimModel"),
        chat_model=override(rename="chatModel")))
    return conv


#: The one converter of settings values (see :func:`setting_type` for a setting's type).
converter = _make_converter()


def setting_type(name: str) -> Any:
    """The type a value of the Settings field ``name`` is structured as: its annotation, with its
    :class:`Limits` (from the field's ``lo``/``hi``/``choices``) when it has any."""
    return _setting_types()[name]


@functools.cache
def _setting_types() -> dict[str, Any]:
    hints = get_type_hints(Settings)
    types: dict[str, Any] = {}
    for f in setting_fields():
        meta = f.metadata
        limited = meta["lo"] is not None or meta["hi"] is not None or meta["choices"]
        # a Literal of choices is structured as a str, then matched case-insensitively (Limits)
        base = str if meta["choices"] else hints[f.name]
        types[f.name] = Annotated[base, Limits(meta["lo"], meta["hi"], meta["choices"])] if limited else base
    return types


def _structure_setting(f: dataclasses.Field[Any], value: Any) -> Any:
    """``value`` as the setting ``f``; ``ValueError`` (what it must be) when it cannot be."""
    try:
        return converter.structure(value, setting_type(f.name))
    except CattrsError as exc:  # not raised by our hooks; kept a plain message all the same
        raise ValueError(str(exc)) from None


def _structure_entry(item: Mapping[str, Any]) -> tuple[FallbackEntry, list[str], list[str]]:
    """A fallback entry, the keys whose values failed, and the unknown keys.

    A failed value is left out (None), so the checks can still run in their order."""
    try:
        return converter.structure(item, FallbackEntry), [], []
    except ClassValidationError as group:
        with_notes, others = group.group_exceptions()
        failed = {note.name for _, note in with_notes}
        unknown = sorted(k for e in others if isinstance(e, ForbiddenExtraKeysError) for k in e.extra_fields)
        keep = {k: v for k, v in item.items() if k not in unknown and k not in
                {_ENTRY_KEYS[a] for a in failed}}
        return (converter.structure(keep, FallbackEntry),
                [key for attr, key in _ENTRY_KEYS.items() if attr in failed], unknown)


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
        if not isinstance(item, Mapping):
            why: str | None = "expected an object with name and baseUrl"
        else:
            entry, failed, unknown = _structure_entry(item)
            why = _entry_problem(entry, item, failed, unknown, index, names, environ)
        if why is not None:
            problems.append(Problem(f"{where}: {why}; this fallback is not used", "fallbacks"))
            continue
        names.add(entry.name or f"fallback{index + 1}")
        out.append(_endpoint(entry, index, environ))
    return tuple(out), problems


def _entry_key(entry: FallbackEntry, environ: Mapping[str, str]) -> str:
    """The entry's key: its ``apiKey``, else the value of its ``apiKeyEnv`` variable ("" for none)."""
    if entry.api_key or not entry.api_key_env:
        return entry.api_key or ""
    return (environ.get(entry.api_key_env) or "").strip()


def _entry_problem(entry: FallbackEntry, item: Mapping[str, Any], failed: list[str], unknown: list[str],
                   index: int, names: set[str], environ: Mapping[str, str]) -> str | None:
    """Why the entry cannot be used (the first reason, in a fixed order), or None."""
    if unknown:
        return f"unknown field(s) {', '.join(unknown)}"
    bad_string = next((key for key in failed if key not in ("uses", "prices")), None)
    if bad_string is not None:
        return f"{bad_string} must be a string"
    name = entry.name or f"fallback{index + 1}"
    if name in names or name == "deepseek":
        return f"the name {name!r} is taken (names must be unique and not 'deepseek')"
    if not entry.base_url:
        return "baseUrl is missing"
    env_name = entry.api_key_env or ""
    key_place = (f"the environment variable {env_name} (its apiKeyEnv)" if env_name
                 else "the environment variable named by its apiKeyEnv")
    why = normalize_base_url(entry.base_url, "baseUrl", key_place)[1]
    if why:
        return why
    if (entry.kind or "openai").lower() not in ENDPOINT_KINDS:
        return f"kind must be one of {', '.join(ENDPOINT_KINDS)}"
    key = _entry_key(entry, environ)
    if not key and not entry.api_key and env_name:
        return f"the environment variable {env_name} (apiKeyEnv) is not set"
    if key:
        why = check_api_key(key, "its key")
        if why:
            return why.split(". Copy it again")[0]
    if "uses" in failed:
        return f"uses must be a list of {', '.join(USES)}"
    uses = _entry_uses(entry)
    missing = [u for u in uses if not (entry.fim_model if u == "fim" else entry.chat_model)]
    if missing:
        return f"uses {missing[0]} but has no {'fimModel' if missing[0] == 'fim' else 'chatModel'}"
    if not uses:
        return "serves nothing (give fimModel and/or chatModel)"
    if "prices" in failed:
        return ("prices must be an object {hit, miss, out}" if not isinstance(item.get("prices"), Mapping)
                else "prices are numbers of USD per million tokens, at least 0")
    return None


def _entry_uses(entry: FallbackEntry) -> tuple[Use, ...]:
    """What the entry serves: its ``uses`` (in the order of USES), else each use it has a model for."""
    if entry.uses is None:
        return tuple(u for u in USES if (entry.fim_model if u == "fim" else entry.chat_model))
    return tuple(u for u in USES if u in entry.uses)


def _endpoint(entry: FallbackEntry, index: int, environ: Mapping[str, str]) -> EndpointConfig:
    """The endpoint config of an entry that passed :func:`_entry_problem`."""
    env_name = entry.api_key_env or ""
    key_place = f"the environment variable {env_name} (its apiKeyEnv)"
    return EndpointConfig(name=entry.name or f"fallback{index + 1}",
                          base_url=normalize_base_url(entry.base_url or "", "baseUrl", key_place)[0],
                          kind="deepseek" if (entry.kind or "").lower() == "deepseek" else "openai",
                          api_key=_entry_key(entry, environ),
                          api_key_env=env_name, fim_model=entry.fim_model or "",
                          chat_model=entry.chat_model or "", uses=_entry_uses(entry), prices=entry.prices)


def build_settings(*layers: Mapping[str, Any] | None,
                   sources: tuple[str, ...] | None = None,
                   fallback_environ: Mapping[str, str] | None = None,
                   namer: Callable[[str, str], str] | None = None) -> tuple[Settings, list[Problem]]:
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
        for key, value in flatten(layer).items():
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
                endpoints, found = coerce_fallbacks(value, environ=fallback_environ)
                for old in [k for k in problems if k.startswith(f"{key}#")]:
                    del problems[old]  # this layer's list replaces the one below
                for index, problem in enumerate(found):
                    problems[f"{key}#{index}"] = problem
                values[f.name] = endpoints
                continue
            try:
                coerced = _structure_setting(f, value)
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
        elif isinstance(default, tuple):  # fallbacks, exclude
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
