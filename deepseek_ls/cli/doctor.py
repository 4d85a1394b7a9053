"""``deepseek-ls doctor``: check the API key, endpoint, models, balance, one tiny paid round trip
(``--no-fim`` skips it), the fallback endpoints and the usage ledger, each problem with what to do.
Exit 0 when all is well, 1 otherwise.

It never prints the API key: at most a masked form such as ``sk-…abcd``, and
every line goes through :func:`deepseek_ls.api.errors.redact` as well.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from ..api import jsonbody
from ..api.errors import redact

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
FIM_PROBE_PROMPT = "def add(a, b):\n    return"


@dataclass
class Check:
    """One line of the doctor's report."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def __post_init__(self) -> None:
        self.detail = redact(self.detail)
        self.fix = redact(self.fix)


def mask_key(key: str) -> str:
    """A form of the key that is safe to print (never more than its last 4 characters)."""
    key = key.strip()
    if len(key) < 16:
        return f"{len(key)} characters"
    head = "sk-" if key.startswith("sk-") else ""
    return f"{head}…{key[-4:]}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _balance_text(data: Mapping[str, Any]) -> tuple[str, bool]:
    """``"100.00 USD (granted 0.00, topped up 100.00)"`` and whether any amount is above zero."""
    parts, positive = [], False
    for info in data.get("balance_infos") or []:
        if not isinstance(info, dict):
            continue
        total = str(info.get("total_balance", "?"))
        try:
            positive = positive or float(total) > 0
        except ValueError:
            pass
        parts.append(f"{total} {info.get('currency', '?')} (granted {info.get('granted_balance', '?')}, "
                     f"topped up {info.get('topped_up_balance', '?')})")
    return "; ".join(parts) or "no amounts given", positive


@dataclass(frozen=True)
class _Key:
    """The API key as doctor found it: its value, where it came from, how to name it, what is wrong."""

    value: str
    source: str  # the variable (or "settings") it came from, as printed
    name: str  # what to tell the user to set (DEEPSEEK_API_KEY, or what an editor plugin named it)
    problem: Any  # the settings problem about it (characters no key has), or None


@dataclass(frozen=True)
class _Target:
    """What doctor checks over the network: client, key, where the URL came from, models wanted."""

    client: Any  # DeepSeekClient
    key: _Key
    url_source: str
    settings: Any  # Settings
    wanted: dict[str, str]  # how each model is named in the report -> model name


async def run_doctor(environ: Mapping[str, str] | None = None, *, base_url: str | None = None,
                     model: str | None = None, chat_model: str | None = None,
                     fim: bool = True, transport: Any = None, fallbacks: Any = None,
                     names: Mapping[str, str] | None = None) -> list[Check]:
    """Check key, endpoint, models, balance and round trip; one Check per finding.

    ``fallbacks`` is the value of ``deepseek.fallbacks`` (a list of endpoint
    objects; None: the ``DEEPSEEK_LS_FALLBACKS`` variable, JSON, if set):
    each one gets a ``fallback NAME`` check (reachable, its models, one
    tiny FIM request when it serves ghost text).

    ``names`` says how to name ``DEEPSEEK_API_KEY`` / ``DEEPSEEK_BASE_URL`` (keys ``apiKey``,
    ``baseUrl``) when an editor plugin set them for its user (``:checkhealth`` passes
    ``"api_key in setup()"``), so that the report names what that user set.
    """
    from ..api.client import DeepSeekClient
    from ..ledger import ledger_path

    environ = os.environ if environ is None else environ
    names = dict(names or {})
    checks: list[Check] = []
    if fallbacks is None:
        fallbacks = _env_fallbacks(environ, checks)
    settings, problems = _doctor_settings(environ, names, base_url=base_url, model=model,
                                          chat_model=chat_model, fallbacks=fallbacks)
    key = _find_key(settings, problems, environ, names)
    checks.append(_key_check(key))
    root, why, url_source = _endpoint(settings, environ, names, base_url)
    checks.append(_endpoint_check(root, why, url_source))
    checks += _settings_checks(problems)
    wanted = _wanted_models(settings, model=model, chat_model=chat_model)
    checks += _fim_model_check(settings, next(iter(wanted)))
    if not key.value or why:
        checks += _network_skipped(key)
    else:
        client = DeepSeekClient(root, key.value, transport=transport)
        try:
            await _network_checks(checks, _Target(client, key, url_source, settings, wanted), fim=fim)
        finally:
            await client.aclose()
    checks += [await _check_fallback(config, fim=fim, transport=transport) for config in settings.fallbacks]
    checks.append(_ledger_check(ledger_path(environ)))
    return checks


#: the network checks, in order (skipped together when the key or endpoint cannot be used)
NETWORK_CHECKS = ("reachable", "models", "balance", "round trip")


def _skip(name: str, why: str) -> Check:
    return Check(name, SKIP, f"skipped ({why})")


def _env_fallbacks(environ: Mapping[str, str], checks: list[Check]) -> Any:
    """``deepseek.fallbacks`` from ``DEEPSEEK_LS_FALLBACKS`` (JSON), or None; a ``fallbacks`` FAIL
    appended to ``checks`` when it is not JSON."""
    if not (environ.get(FALLBACKS_ENV) or "").strip():
        return None
    try:
        return jsonbody.loads(environ[FALLBACKS_ENV])  # deep nesting too: ValueError
    except ValueError as exc:
        checks.append(Check("fallbacks", FAIL, f"{FALLBACKS_ENV} is not JSON: {exc}",
                            "Give a JSON list of endpoint objects (see README \"Failover\")."))
        return None


def _doctor_settings(environ: Mapping[str, str], names: Mapping[str, str], *, base_url: str | None,
                     model: str | None, chat_model: str | None, fallbacks: Any) -> tuple[Any, list[Any]]:
    """The settings doctor checks (the environment, then its own flags) and their problems, each
    problem naming the variable or flag the user set."""
    from ..settings import build_settings, env_layer

    overrides: dict[str, Any] = {}
    if base_url:
        overrides["baseUrl"] = base_url
    if model:
        overrides["completion.model"] = model
    if chat_model:
        overrides["chat.model"] = chat_model
    if fallbacks is not None:
        overrides["fallbacks"] = fallbacks

    def namer(key: str, source: str) -> str:
        if source == "env" and key in names:
            return names[key]
        return {"baseUrl": "DEEPSEEK_BASE_URL", "apiKey": "DEEPSEEK_API_KEY"}.get(key, f"deepseek.{key}") \
            if source == "env" else {"baseUrl": "--base-url", "completion.model": "--model",
                                     "chat.model": "--chat-model"}.get(key, f"deepseek.{key}")

    return build_settings(env_layer(environ), overrides, sources=("env", "args"),
                          fallback_environ=environ, namer=namer)


def _find_key(settings: Any, problems: list[Any], environ: Mapping[str, str],
              names: Mapping[str, str]) -> _Key:
    key_name = names.get("apiKey", "DEEPSEEK_API_KEY")
    source = key_name if environ.get("DEEPSEEK_API_KEY") else "settings"
    problem = next((p for p in problems if getattr(p, "key", "") == "apiKey"), None)
    return _Key(settings.api_key, source, key_name, problem)


def _key_check(key: _Key) -> Check:
    """``API key``: set, usable, shaped like a DeepSeek key (whether DeepSeek takes it is
    :func:`_reachable_check`'s to say)."""
    if key.problem is not None:  # set, but with characters no key has (the same words as `complete`)
        return Check("API key", FAIL, f"set (from {key.source}) but unusable: {key.problem}",
                     f"Set {key.name} to the key alone (printable ASCII, no spaces), "
                     "copied again from https://platform.deepseek.com/api_keys.")
    if not key.value:
        return Check("API key", FAIL, "not set", "Set the environment variable DEEPSEEK_API_KEY "
                     "(create a key at https://platform.deepseek.com/api_keys). Editors take it "
                     "from their own settings: doctor does not see those.")
    if not key.value.startswith("sk-") or any(c.isspace() for c in key.value):
        return Check("API key", WARN, f"set ({mask_key(key.value)}, from {key.source}) but does not look "
                     "like a DeepSeek key", "DeepSeek keys start with sk- and have no spaces; copy it "
                     "again from https://platform.deepseek.com/api_keys.")
    return Check("API key", OK, f"set ({mask_key(key.value)}, from {key.source})")


def _endpoint(settings: Any, environ: Mapping[str, str], names: Mapping[str, str],
              base_url: str | None) -> tuple[str, str | None, str]:
    """``(root, why, url_source)``: the API root, why it cannot be used (None: it can), and where
    the URL came from (for the messages)."""
    from ..settings import normalize_base_url

    env_url_name = names.get("baseUrl", "DEEPSEEK_BASE_URL")
    wanted_url = (base_url or environ.get("DEEPSEEK_BASE_URL") or settings.base_url).strip().rstrip("/")
    url_source = ("--base-url" if base_url else env_url_name if environ.get("DEEPSEEK_BASE_URL")
                  else "the default; set DEEPSEEK_BASE_URL or --base-url to change it")
    root, why = normalize_base_url(wanted_url, "--base-url" if base_url else env_url_name)
    return root, why, url_source


def _endpoint_check(root: str, why: str | None, url_source: str) -> Check:
    """``endpoint``: the URL's shape (https, or http on a loopback host)."""
    if why:
        return Check("endpoint", FAIL, why, "Use https://, or plain http:// only for localhost / "
                     f"127.0.0.1 / ::1 (the URL came from {url_source}).")
    scheme = urlsplit(root).scheme
    return Check("endpoint", OK, f"{root} ({'https' if scheme == 'https' else 'http on a loopback host'})")


def _settings_checks(problems: list[Any]) -> list[Check]:
    """The other settings problems (key and URL have their own checks)."""
    checks = []
    for problem in problems:
        if getattr(problem, "key", "") == "fallbacks":
            checks.append(Check("fallbacks", FAIL, problem, "Fix the fallback named (see README \"Failover\")."))
        elif getattr(problem, "key", "") not in ("baseUrl", "apiKey"):
            checks.append(Check("settings", WARN, problem, "Fix the setting named."))
    return checks


def _wanted_models(settings: Any, *, model: str | None, chat_model: str | None) -> dict[str, str]:
    """``{how the report names it: model}``, completion model first. Each is named by where it came
    from: doctor reads only its own flags (never editor settings)."""
    fim_name = "--model" if model else "the default completion model"
    chat_name = "--chat-model" if chat_model else "the default chat model"
    return {fim_name: settings.completion_model, chat_name: settings.chat_model}


def _fim_model_check(settings: Any, fim_name: str) -> list[Check]:
    """A ``models`` FAIL when the completion model is known not to take FIM requests; else nothing."""
    from ..models import model_info

    info = model_info(settings.completion_model)
    if info is not None and not info.fim:
        return [Check("models", FAIL, f"{fim_name} {settings.completion_model!r} does not support FIM "
                      "completion", "Pick a model with FIM, e.g. --model deepseek-flash.")]
    return []


def _network_skipped(key: _Key) -> list[Check]:
    reason = ("API key unusable" if key.problem is not None else "no API key" if not key.value
              else "endpoint not usable")
    return [_skip(name, reason) for name in NETWORK_CHECKS]


async def _network_checks(checks: list[Check], target: _Target, *, fim: bool) -> None:
    """``reachable``, ``models``, ``balance`` and ``round trip``, appended to ``checks`` (a rejected
    key replaces the key's line); stops after ``reachable`` when nothing more can be learnt."""
    available, go_on = await _reachable_check(checks, target)
    if not go_on:
        return
    models_ok = True
    if available is not None:
        models_check, models_ok = _models_check(available, target.settings, target.wanted)
        checks.append(models_check)
    balance_check, balance_ok = await _balance_check(target.client)
    checks.append(balance_check)
    if not fim:
        checks.append(_skip("round trip", "--no-fim"))
    elif not (models_ok and balance_ok):
        checks.append(_skip("round trip", "fix the problems above first"))
    else:
        checks.append(await _round_trip_check(target.client, target.settings.completion_model))


async def _reachable_check(checks: list[Check], target: _Target) -> tuple[list[str] | None, bool]:
    """``GET /models``, timed: ``(the models served or None, whether to go on)``."""
    from ..api.errors import APIConnectionError, AuthenticationError, DeepSeekError

    client, key = target.client, target.key
    started = time.monotonic()
    try:
        available = await client.models()
    except AuthenticationError as exc:
        rejected = Check("API key", FAIL, f"the key ({mask_key(key.value)}, from {key.source}) was "
                          f"rejected: {exc}", f"The API key was rejected. Set a valid key in {key.name} "
                          "(https://platform.deepseek.com/api_keys).")
        # the key's line says it was rejected (found by name: a line about DEEPSEEK_LS_FALLBACKS
        # not being JSON may come first)
        at = next((i for i, c in enumerate(checks) if c.name == "API key"), None)
        if at is None:
            checks.insert(0, rejected)
        else:
            checks[at] = rejected
        checks.append(Check("reachable", OK, f"{client.base_url} answered (401) in "
                            f"{_ms(time.monotonic() - started)}"))
        checks += [_skip(name, "the key was rejected") for name in NETWORK_CHECKS[1:]]
        return None, False
    except APIConnectionError as exc:
        checks.append(Check("reachable", FAIL, f"cannot reach {client.base_url} ({target.url_source}): {exc}",
                            f"Check your network connection and the URL ({target.url_source}). Is a proxy "
                            "or firewall in the way? Try again in a minute if DeepSeek is down."))
        checks += [_skip(name, "endpoint unreachable") for name in NETWORK_CHECKS[1:]]
        return None, False
    except DeepSeekError as exc:
        checks.append(Check("reachable", FAIL, f"GET /models failed: {exc}", exc.hint))
        return None, True
    checks.append(Check("reachable", OK, f"GET {client.base_url}/models answered in "
                        f"{_ms(time.monotonic() - started)} (connection setup included)"))
    return available, True


def _models_check(available: list[str], settings: Any, wanted: Mapping[str, str]) -> tuple[Check, bool]:
    """``models``: both models served; ``(check, whether the completion model is served)``."""
    missing = [f"{setting} {name!r}" for setting, name in wanted.items() if name not in available]
    served = ", ".join(sorted(available)) or "none"
    if missing:
        return Check("models", FAIL, f"DeepSeek does not serve {', '.join(missing)}. "
                     f"Available models: {served}.",
                     f"Pass one of them with --model / --chat-model (in an editor, "
                     f"set the completion or chat model setting): {served}."), \
            settings.completion_model in available
    return Check("models", OK, f"{settings.completion_model} (completion) and "
                 f"{settings.chat_model} (chat) are served"), True


async def _balance_check(client: Any) -> tuple[Check, bool]:
    """``balance``: ``(check, False only when DeepSeek says the account cannot make API calls)``."""
    from ..api.errors import DeepSeekError, InsufficientBalanceError

    try:
        data = await client.balance()
    except DeepSeekError as exc:
        return Check("balance", WARN, f"GET /user/balance failed: {exc}", exc.hint), True
    text, positive = _balance_text(data if isinstance(data, dict) else {})
    if data.get("is_available") is False or not positive:
        balance_ok = data.get("is_available") is not False
        return Check("balance", WARN, f"{'not ' if not balance_ok else ''}available for "
                     f"API calls: {text}", InsufficientBalanceError.hint), balance_ok
    return Check("balance", OK, f"available: {text}"), True


async def _round_trip_check(client: Any, model: str) -> Check:
    """``round trip``: one FIM request with ``max_tokens`` 1 (a fraction of a cent), timed."""
    from ..api.client import FimRequest
    from ..api.errors import DeepSeekError

    started = time.monotonic()
    try:
        result = await client.fim(FimRequest(model=model, prompt=FIM_PROBE_PROMPT, suffix="", max_tokens=1),
                                  timeout_s=30.0)
    except DeepSeekError as exc:
        return Check("round trip", FAIL, f"FIM request failed: {exc}", exc.hint)
    u = result.usage
    return Check("round trip", OK, f"FIM with max_tokens 1 answered in {_ms(time.monotonic() - started)} "
                 f"({u.prompt_tokens} prompt + {u.completion_tokens} output tokens; costs a fraction of a cent)")


#: doctor reads deepseek.fallbacks from this variable (JSON) when --fallbacks is not given
FALLBACKS_ENV = "DEEPSEEK_LS_FALLBACKS"


async def _check_fallback(config: Any, *, fim: bool = True, transport: Any = None) -> Check:
    """One fallback endpoint: reachable (its model list), models served, a tiny FIM round trip."""
    from ..api.client import DeepSeekClient, FimRequest
    from ..api.errors import APIConnectionError, AuthenticationError, DeepSeekError

    name = f"fallback {config.name}"
    client = DeepSeekClient(config.base_url, config.api_key, transport=transport, kind=config.kind,
                            key_required=False)
    key_text = (f"key from {config.api_key_env}" if config.api_key_env else
                "key from the editor" if config.api_key else "no key")
    where = f"{client.base_url} ({config.kind}, {key_text})"
    models = {use: config.fim_model if use == "fim" else config.chat_model for use in config.uses}
    notes: list[str] = []
    status = OK
    try:
        started = time.monotonic()
        try:
            try:
                available = await client.models()
            except DeepSeekError as exc:  # the message names this endpoint, not DeepSeek
                raise exc.at_endpoint(config.name, config.api_key_env) from None
        except AuthenticationError as exc:
            return Check(name, FAIL, f"{where}: the key was rejected: {exc}",
                         f"Set a valid key in {config.api_key_env or 'the apiKeyEnv variable'}.")
        except APIConnectionError as exc:
            return Check(name, FAIL, f"cannot reach {where}: {exc}",
                         "Is the server running, and the URL its API root (e.g. http://localhost:11434/v1)?")
        except DeepSeekError as exc:
            available = None
            status = WARN
            notes.append(f"GET {client.models_path} failed ({exc}); models not checked")
        else:
            notes.append(f"reachable in {_ms(time.monotonic() - started)}")
        if available is not None:
            for use, model in models.items():
                if model not in available:
                    status = FAIL
                    notes.append(f"does not list {use} model {model!r} (lists: "
                                 f"{', '.join(sorted(available)[:10]) or 'none'})")
        notes.append("serves " + ", ".join(f"{u} ({m})" for u, m in models.items()))
        if "fim" in models and fim and status != FAIL:
            started = time.monotonic()
            try:
                await client.fim(FimRequest(model=models["fim"], prompt=FIM_PROBE_PROMPT, suffix="\n",
                                            max_tokens=1), timeout_s=30.0)
            except DeepSeekError as exc:
                status = FAIL
                exc.at_endpoint(config.name, config.api_key_env)
                notes.append(f"FIM request (prompt + suffix) to {client.fim_path} failed: {exc}")
            else:
                notes.append(f"FIM round trip {_ms(time.monotonic() - started)}")
        prices = "unknown cost" if config.prices is None else "priced from settings"
        notes.append(prices)
    finally:
        await client.aclose()
    fix = "" if status == OK else ("Ghost text needs an endpoint taking prompt + suffix (FIM); "
                                   "check the model names and the kind (openai: /v1/...).")
    return Check(name, status, f"{where}: " + "; ".join(notes), fix)


def _ledger_check(path: Any) -> Check:
    from ..ledger import ENV_DATA_DIR, Ledger, ledger_problem

    if path is None:
        return Check("ledger", WARN, "no data directory; usage is not kept",
                     f"Set {ENV_DATA_DIR} to a writable folder.")
    problem = ledger_problem(path)
    if problem is not None:
        return Check("ledger", WARN, *problem)
    reason = ""
    try:
        ledger = Ledger(path)
        ok = ledger.flush()  # opens (creates) the file; nothing is queued, so nothing is written
        rows = ledger.count()
        ledger.close()
    except Exception as exc:  # noqa: BLE001  (flush() already catches; any other failure is a warning line)
        ok, rows, reason = False, 0, f" ({exc})"
    if not ok:
        return Check("ledger", WARN, f"cannot write {path}{reason}",
                     f"Make the folder {path.parent} writable, or set {ENV_DATA_DIR} to a writable folder.")
    return Check("ledger", OK, f"{path} ({rows:,} request{'' if rows == 1 else 's'} recorded)")


_MARK = {OK: "ok  ", WARN: "WARN", FAIL: "FAIL", SKIP: "skip"}


def format_doctor(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = ["deepseek-ls doctor", ""]
    for c in checks:
        lines.append(f"  {_MARK[c.status]}  {c.name.ljust(width)}  {c.detail}")
        if c.fix and c.status in (WARN, FAIL):
            lines.append(f"        {' ' * width}  → {c.fix}")
    bad = [c for c in checks if c.status in (WARN, FAIL)]
    lines += ["", "All checks passed." if not bad else
              f"{len(bad)} problem{'s' if len(bad) > 1 else ''} found (see → for what to do)."]
    return redact("\n".join(lines)) + "\n"


def doctor_exit_code(checks: list[Check]) -> int:
    return 1 if any(c.status in (WARN, FAIL) for c in checks) else 0


def _read_fallbacks(text: str) -> Any:
    """``--fallbacks``: JSON, or ``@FILE`` holding JSON: a list of endpoints, or
    settings with ``deepseek.fallbacks`` (nested or dotted, as in an editor's settings)."""
    from ..settings import flatten, section_of

    if text.startswith("@"):
        text = Path(text[1:]).expanduser().read_text(encoding="utf-8")
    data = jsonbody.loads(text)
    if isinstance(data, dict):
        flat = flatten(section_of(data))
        for key in ("fallbacks", "deepseek.fallbacks"):
            if key in flat:
                return flat[key]
        raise ValueError("no deepseek.fallbacks in it")
    return data


def doctor(args: argparse.Namespace, *, environ: Mapping[str, str] | None = None,
           out: TextIO | None = None) -> int:
    out = out or sys.stdout
    fallbacks = None
    if getattr(args, "fallbacks", None):
        try:
            fallbacks = _read_fallbacks(args.fallbacks)
        except (OSError, ValueError) as exc:
            print(f"deepseek-ls doctor: --fallbacks: {exc}", file=sys.stderr)
            return 2
    names = {k: v for k, v in (("apiKey", args.key_named), ("baseUrl", args.url_named)) if v}
    checks = asyncio.run(run_doctor(environ, base_url=args.base_url, model=args.model,
                                    chat_model=args.chat_model, fim=not args.no_fim, fallbacks=fallbacks,
                                    names=names))
    if args.json:
        payload = {"ok": doctor_exit_code(checks) == 0, "checks": [asdict(c) for c in checks]}
        out.write(redact(json.dumps(payload, indent=2, ensure_ascii=False)) + "\n")
    else:
        out.write(format_doctor(checks))
    return doctor_exit_code(checks)


def register(parser: argparse.ArgumentParser) -> None:
    """check the API key, endpoint, models, balance, round trip and ledger"""
    parser.description = (
        "Check, in order: the API key (DEEPSEEK_API_KEY), the endpoint (--base-url or "
        "DEEPSEEK_BASE_URL), that it answers, that the models are served, the balance, one tiny FIM "
        "request (max_tokens 1, a fraction of a cent; --no-fim skips it) and the usage ledger. Each "
        "problem comes with what to do. Settings made in an editor are not visible here: pass them "
        "as options. Exit 0 when every check passed, 1 otherwise.")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument("--base-url", metavar="URL", help="endpoint to check (default: DEEPSEEK_BASE_URL "
                        "or https://api.deepseek.com)")
    parser.add_argument("--model", metavar="NAME", help="completion model to check")
    parser.add_argument("--chat-model", metavar="NAME", help="chat model to check")
    parser.add_argument("--fallbacks", metavar="JSON|@FILE",
                        help="fallback endpoints to check too: the value of deepseek.fallbacks as JSON, or "
                             "@FILE (a JSON list, or settings holding deepseek.fallbacks); default: "
                             f"the variable {FALLBACKS_ENV}")
    parser.add_argument("--no-fim", action="store_true",
                        help="skip the one tiny FIM request (max_tokens 1, a fraction of a cent)")
    # for editor plugins: how their user set DEEPSEEK_API_KEY / DEEPSEEK_BASE_URL (e.g. "api_key in setup()")
    parser.add_argument("--key-named", metavar="NAME", help=argparse.SUPPRESS)
    parser.add_argument("--url-named", metavar="NAME", help=argparse.SUPPRESS)
    parser.set_defaults(func=doctor)
