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
    from ..api.client import DeepSeekClient, FimRequest
    from ..api.errors import APIConnectionError, AuthenticationError, DeepSeekError, InsufficientBalanceError
    from ..ledger import ledger_path
    from ..models import model_info
    from ..settings import build_settings, env_layer, normalize_base_url

    environ = os.environ if environ is None else environ
    checks: list[Check] = []
    overrides: dict[str, Any] = {}
    if base_url:
        overrides["baseUrl"] = base_url
    if model:
        overrides["completion.model"] = model
    if chat_model:
        overrides["chat.model"] = chat_model
    if fallbacks is None and (environ.get(FALLBACKS_ENV) or "").strip():
        try:
            fallbacks = jsonbody.loads(environ[FALLBACKS_ENV])  # deep nesting too: ValueError
        except ValueError as exc:
            checks.append(Check("fallbacks", FAIL, f"{FALLBACKS_ENV} is not JSON: {exc}",
                                "Give a JSON list of endpoint objects (see README \"Failover\")."))
    if fallbacks is not None:
        overrides["fallbacks"] = fallbacks
    names = dict(names or {})
    key_name = names.get("apiKey", "DEEPSEEK_API_KEY")
    env_url_name = names.get("baseUrl", "DEEPSEEK_BASE_URL")

    def namer(key: str, source: str) -> str:
        if source == "env" and key in names:
            return names[key]
        return {"baseUrl": "DEEPSEEK_BASE_URL", "apiKey": "DEEPSEEK_API_KEY"}.get(key, f"deepseek.{key}") \
            if source == "env" else {"baseUrl": "--base-url", "completion.model": "--model",
                                     "chat.model": "--chat-model"}.get(key, f"deepseek.{key}")

    settings, problems = build_settings(env_layer(environ), overrides, sources=("env", "args"),
                                        fallback_environ=environ, namer=namer)

    # -- key
    key = settings.api_key
    source = key_name if environ.get("DEEPSEEK_API_KEY") else "settings"
    key_problem = next((p for p in problems if getattr(p, "key", "") == "apiKey"), None)
    if key_problem is not None:  # set, but with characters no key has (the same words as `complete`)
        checks.append(Check("API key", FAIL, f"set (from {source}) but unusable: {key_problem}",
                            f"Set {key_name} to the key alone (printable ASCII, no spaces), "
                            "copied again from https://platform.deepseek.com/api_keys."))
    elif not key:
        checks.append(Check("API key", FAIL, "not set", "Set the environment variable DEEPSEEK_API_KEY "
                            "(create a key at https://platform.deepseek.com/api_keys). Editors take it "
                            "from their own settings: doctor does not see those."))
    elif not key.startswith("sk-") or any(c.isspace() for c in key):
        checks.append(Check("API key", WARN, f"set ({mask_key(key)}, from {source}) but does not look like "
                            "a DeepSeek key", "DeepSeek keys start with sk- and have no spaces; copy it "
                            "again from https://platform.deepseek.com/api_keys."))
    else:
        checks.append(Check("API key", OK, f"set ({mask_key(key)}, from {source})"))

    # -- endpoint (URL shape)
    wanted_url = (base_url or environ.get("DEEPSEEK_BASE_URL") or settings.base_url).strip().rstrip("/")
    url_source = ("--base-url" if base_url else env_url_name if environ.get("DEEPSEEK_BASE_URL")
                  else "the default; set DEEPSEEK_BASE_URL or --base-url to change it")
    root, why = normalize_base_url(wanted_url, "--base-url" if base_url else env_url_name)
    if why:
        checks.append(Check("endpoint", FAIL, why,
                            "Use https://, or plain http:// only for localhost / 127.0.0.1 / ::1 "
                            f"(the URL came from {url_source})."))
    else:
        scheme = urlsplit(root).scheme
        checks.append(Check("endpoint", OK, f"{root} "
                            f"({'https' if scheme == 'https' else 'http on a loopback host'})"))
    for problem in problems:
        if getattr(problem, "key", "") == "fallbacks":
            checks.append(Check("fallbacks", FAIL, problem, "Fix the fallback named (see README \"Failover\")."))
        elif getattr(problem, "key", "") not in ("baseUrl", "apiKey"):  # those have their own checks
            checks.append(Check("settings", WARN, problem, "Fix the setting named."))

    # name each model by where it came from: doctor reads only its own flags (never editor settings)
    fim_name = "--model" if model else "the default completion model"
    chat_name = "--chat-model" if chat_model else "the default chat model"
    wanted = {fim_name: settings.completion_model, chat_name: settings.chat_model}
    info = model_info(settings.completion_model)
    if info is not None and not info.fim:
        checks.append(Check("models", FAIL, f"{fim_name} {settings.completion_model!r} "
                            "does not support FIM completion",
                            "Pick a model with FIM, e.g. --model deepseek-flash."))

    def skip(name: str, why_text: str) -> None:
        checks.append(Check(name, SKIP, f"skipped ({why_text})"))

    network_names = ("reachable", "models", "balance", "round trip")
    if not key or why:
        for name in network_names:
            skip(name, "API key unusable" if key_problem is not None else "no API key" if not key
                 else "endpoint not usable")
        checks.extend([await _check_fallback(config, fim=fim, transport=transport) for config in settings.fallbacks])
        checks.append(_ledger_check(ledger_path(environ)))
        return checks

    client = DeepSeekClient(root, key, transport=transport)

    async def network() -> None:
        # -- reachable + model list, timed
        started = time.monotonic()
        try:
            available = await client.models()
        except AuthenticationError as exc:
            checks[0] = Check("API key", FAIL, f"the key ({mask_key(key)}, from {source}) was rejected: {exc}",
                              f"The API key was rejected. Set a valid key in {key_name} "
                              "(https://platform.deepseek.com/api_keys).")
            checks.append(Check("reachable", OK, f"{client.base_url} answered (401) in "
                                f"{_ms(time.monotonic() - started)}"))
            for name in network_names[1:]:
                skip(name, "the key was rejected")
            return
        except APIConnectionError as exc:
            checks.append(Check("reachable", FAIL, f"cannot reach {client.base_url} ({url_source}): {exc}",
                                f"Check your network connection and the URL ({url_source}). Is a proxy "
                                "or firewall in the way? Try again in a minute if DeepSeek is down."))
            for name in network_names[1:]:
                skip(name, "endpoint unreachable")
            return
        except DeepSeekError as exc:
            checks.append(Check("reachable", FAIL, f"GET /models failed: {exc}", exc.hint))
            available = None
        else:
            checks.append(Check("reachable", OK, f"GET {client.base_url}/models answered in "
                                f"{_ms(time.monotonic() - started)} (connection setup included)"))
        models_ok = True
        if available is not None:
            missing = [f"{setting} {name!r}" for setting, name in wanted.items() if name not in available]
            names = ", ".join(sorted(available)) or "none"
            if missing:
                models_ok = settings.completion_model in available
                checks.append(Check("models", FAIL, f"DeepSeek does not serve {', '.join(missing)}. "
                                    f"Available models: {names}.",
                                    f"Pass one of them with --model / --chat-model (in an editor, "
                                    f"set the completion or chat model setting): {names}."))
            else:
                checks.append(Check("models", OK, f"{settings.completion_model} (completion) and "
                                    f"{settings.chat_model} (chat) are served"))

        # -- balance
        balance_ok = True
        try:
            data = await client.balance()
        except DeepSeekError as exc:
            checks.append(Check("balance", WARN, f"GET /user/balance failed: {exc}", exc.hint))
        else:
            text, positive = _balance_text(data if isinstance(data, dict) else {})
            if data.get("is_available") is False or not positive:
                balance_ok = data.get("is_available") is not False
                checks.append(Check("balance", WARN, f"{'not ' if not balance_ok else ''}available for "
                                    f"API calls: {text}", InsufficientBalanceError.hint))
            else:
                checks.append(Check("balance", OK, f"available: {text}"))

        # -- one tiny FIM request
        if not fim:
            skip("round trip", "--no-fim")
        elif not (models_ok and balance_ok):
            skip("round trip", "fix the problems above first")
        else:
            started = time.monotonic()
            try:
                result = await client.fim(FimRequest(model=settings.completion_model,
                                                     prompt=FIM_PROBE_PROMPT, suffix="", max_tokens=1),
                                          timeout_s=30.0)
            except DeepSeekError as exc:
                checks.append(Check("round trip", FAIL, f"FIM request failed: {exc}", exc.hint))
            else:
                u = result.usage
                checks.append(Check("round trip", OK, f"FIM with max_tokens 1 answered in "
                                    f"{_ms(time.monotonic() - started)} ({u.prompt_tokens} prompt + "
                                    f"{u.completion_tokens} output tokens; costs a fraction of a cent)"))

    try:
        await network()
    finally:
        await client.aclose()
    checks.extend([await _check_fallback(config, fim=fim, transport=transport) for config in settings.fallbacks])
    checks.append(_ledger_check(ledger_path(environ)))
    return checks


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
