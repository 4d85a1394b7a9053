"""The LSP-free heart of one deepseek-ls process.

Holds the layered settings, the API client, the completion engine and the
usage totals, and tells its owner (the LSP server's status feature, or the
CLI) about problems, state changes, usage and new settings through one
:class:`ServiceEvents` value. Nothing here imports pygls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import client_hints
from .api.client import DeepSeekClient
from .api.endpoints import PRIMARY, Endpoint, fallback_endpoint
from .api.errors import DeepSeekError, MissingApiKeyError, describe
from .api.types import Usage
from .completion.engine import CompletionEngine
from .ledger import Ledger, ledger_path
from .policy import ExclusionPolicy
from .settings import Problem, Settings, SettingsError, build_settings, env_layer, flatten
from .trace import Tracer, from_env
from .usage import UsageKind, UsageTotals

log = logging.getLogger(__name__)

LAYERS = ("env", "init", "didChange", "pull", "toggle")


def _quiet(*args: Any) -> None:
    """Default event handler: nobody listens (a one-shot command that does not ask)."""


@dataclass(frozen=True)
class ServiceEvents:
    """What the service tells its owner; each handler runs on the event loop's thread
    (the ledger's writer-thread failure excepted: see :attr:`ledger_failed`)."""

    #: ``(kind, message)``: a problem to show the user once (kind ``auth``, ``balance``,
    #: ``missing-key``, ``settings``, ``outage``...); the service and engine dedupe
    problem: Callable[[str, str], None] = _quiet
    #: ``()``: the completion state may have changed (paused, failing over, back)
    state: Callable[[], None] = _quiet
    #: ``(kind, model, usage)``: one answer was counted (kind ``fim``, ``chat`` or ``action``)
    usage: Callable[[str, str, Usage], None] = _quiet
    #: ``(settings)``: the settings changed (the server applies the log level)
    settings: Callable[[Settings], None] = _quiet
    #: ``()``: the ledger's writer thread failed (called on that thread)
    ledger_failed: Callable[[], None] = _quiet
    #: ``(error)``: a ghost-text request ended with this API error (the engine shows no
    #: error per request; a one-shot command names it)
    failure: Callable[[DeepSeekError], None] = _quiet


class Service:
    """Settings, client, engine and usage of one server process."""

    def __init__(self, *, environ: dict[str, str] | None = None, tracer: Tracer | None = None,
                 transport: Any = None, events: ServiceEvents | None = None) -> None:
        """``environ`` stands for ``os.environ`` (the env settings layer, the ledger's
        place); ``transport`` is handed to every HTTP client (tests); ``events`` says
        where problems, state changes and usage go (see :meth:`connect`)."""
        #: the environment the env layer and the fallbacks' key variables are read from
        self._environ = environ
        #: the settings layers by name (see :data:`LAYERS`), each replaced whole
        self._layers: dict[str, dict[str, Any]] = {"env": env_layer(environ)}
        #: the httpx transport of every client (None: the real network)
        self._transport = transport
        self.tracer = tracer or from_env()
        #: usage totals of this process (``deepseek.usage``, the status)
        self.usage = UsageTotals()
        #: usage of every request, kept on disk across restarts (written off the hot path)
        self.ledger = Ledger(ledger_path(environ))
        #: where problems, state changes and usage go (set once: here or by :meth:`connect`)
        self.events = events or ServiceEvents()
        #: settings problems in force that were already handed out to be shown
        self._active: set[str] = set()
        self.settings, problems = self._build()
        #: why this install cannot work (a module failed to import: :meth:`part_broken`), None when whole
        self.broken: str | None = None
        #: the problem that stops every request (a bad key or endpoint), if any
        self.blocked: Problem | None = next((p for p in problems if p.blocking), None)
        self.client = self._make_client(self.settings)
        # the engine's events go to whatever self.events is then (connect() may replace it)
        self.engine = CompletionEngine(self.settings, self.client, tracer=self.tracer,
                                       on_usage=self._fim_usage, on_problem=self._problem,
                                       on_state=lambda: self.events.state(),
                                       on_failure=lambda error: self.events.failure(error))
        #: failover: the fallback endpoints (own clients, own breakers), shared by ghost text and chat
        self.fallbacks: list[Endpoint] = self._make_fallbacks(self.settings)
        self.engine.set_fallbacks(self.fallbacks)
        self._pause_if_blocked()
        #: problems of the environment layer, for the owner to show once
        self.startup_problems: list[Problem] = self._take_new(problems)
        #: secret-file policy: which files are never sent (deepseek.exclude is read on each check)
        self.policy = ExclusionPolicy(lambda: self.settings.exclude)
        #: retired clients, closed once the chats still streaming from them end (or at aclose)
        self._old_clients: list[DeepSeekClient] = []
        self.connect(self.events)

    def connect(self, events: ServiceEvents) -> None:
        """Send the service's events to ``events`` from now on (the server's setup calls
        this once, when it is given a service built before it)."""
        self.events = events
        self.ledger.on_problem = events.ledger_failed

    # -- events ----------------------------------------------------------
    def _problem(self, kind: str, message: str) -> None:
        if kind == "missing-key" and self.blocked is not None:
            # there is no client because a setting blocks it: say that, and only once
            if str(self.blocked) in self._active:
                return
            self._active.add(str(self.blocked))
            kind, message = "settings", str(self.blocked)
        self.events.problem(kind, message)

    def _fim_usage(self, model: str, usage: Usage, endpoint: Endpoint | None = None) -> None:
        self.record_usage(model, usage, "fim", endpoint)

    def record_usage(self, model: str, usage: Usage, kind: UsageKind = "fim",
                     endpoint: Endpoint | None = None) -> None:
        """Count one answer's usage: totals, the ledger row (per endpoint), the owner's callback.

        A fallback's answer is priced at its own ``prices`` (unknown, 0 USD
        in the totals, when it has none), never at DeepSeek's table. An answer
        from DeepSeek itself lifts a 401/402 pause (a top-up, a new key).
        """
        if endpoint is None or endpoint.primary:
            self.engine.resume()
            self.usage.add(model, usage)
            self.ledger.record(model, usage.hit_tokens, usage.miss_tokens, usage.completion_tokens, kind)
        else:
            prices = endpoint.prices
            cost = prices.cost(usage.hit_tokens, usage.miss_tokens, usage.completion_tokens) if prices else 0.0
            self.usage.add(model, usage, cost=cost)
            self.ledger.record(model, usage.hit_tokens, usage.miss_tokens, usage.completion_tokens, kind,
                               endpoint=endpoint.name, cost=cost if prices else None)
        log.info(self.usage.log_line())
        self.events.usage(kind, model, usage)

    # -- endpoints -----------------------------------------------------
    def _make_fallbacks(self, settings: Settings) -> list[Endpoint]:
        return [fallback_endpoint(config, transport=self._transport) for config in settings.fallbacks]

    def primary_endpoint(self) -> Endpoint:
        """The primary endpoint (this process's DeepSeek client and the engine's breaker)."""
        models = {"fim": self.settings.completion_model, "chat": self.settings.chat_model}
        return Endpoint(PRIMARY, True, self.client, models, self.engine.breaker)

    def endpoints(self) -> list[Endpoint]:
        """Every endpoint in failover order: DeepSeek, then the fallbacks."""
        return [self.primary_endpoint(), *self.fallbacks]

    # -- settings ------------------------------------------------------
    def _build(self) -> tuple[Settings, list[Problem]]:
        # problems and endpoint hints name what this client's user set, where they set it
        client_hints.note_endpoint(next((name for name in reversed(LAYERS)
                                         if flatten(self._layers.get(name) or {}).get("baseUrl")), ""))
        return build_settings(*(self._layers.get(name) for name in LAYERS), sources=LAYERS,
                              fallback_environ=self._environ, namer=client_hints.setting_name)

    def _take_new(self, problems: list[Problem]) -> list[Problem]:
        """The problems not yet handed out while in force (each is shown once until it changes)."""
        current = list(dict.fromkeys(problems))
        new = [p for p in current if str(p) not in self._active]
        self._active = {str(p) for p in current}
        return new

    def in_force(self) -> set[str]:
        """The settings problems in force now (their texts)."""
        return set(self._active)

    def _make_client(self, settings: Settings) -> DeepSeekClient | None:
        if not settings.api_key or self.blocked is not None:
            return None
        return DeepSeekClient(settings.base_url, settings.api_key, transport=self._transport)

    def _pause_if_blocked(self) -> None:
        """A blocking setting or a broken install shows as the completion state ("paused",
        with the reason)."""
        if self.blocked is not None:
            self.engine.paused = str(self.blocked)
        elif self.broken is not None:
            self.engine.paused = self.broken

    def part_broken(self, name: str, exc: BaseException) -> bool:
        """The module ``name`` failed to import with ``exc`` (a broken install): completion is
        paused with the reason (:attr:`broken`) and the owner is told once, as the
        problem kind ``broken``. True the first time, False once already said."""
        if self.broken is not None:
            return False
        self.broken = (f"deepseek-ls cannot load the module {name!r} ({describe(exc)}), so it cannot "
                       "complete, chat or run code actions. Reinstall it (pip install --force-reinstall "
                       "deepseek-ls) and restart the language server.")
        log.error("%s", self.broken)
        self._pause_if_blocked()
        self.events.problem("broken", self.broken)
        self.events.state()
        return True

    def require_client(self) -> DeepSeekClient:
        """The client, or the error that says why there is none (a blocking setting, no key)."""
        if self.blocked is not None:
            raise SettingsError(str(self.blocked))
        if self.client is None:
            raise MissingApiKeyError()
        return self.client

    def already_told(self, error: DeepSeekError) -> bool:
        """True when the user has already been shown the problem behind ``error``
        (a blocking setting, shown as a settings problem; no key, shown once by the
        engine): a chat or an action failing on it answers with the error, without
        a second popup of the same problem."""
        if isinstance(error, SettingsError):
            # raised only for the blocking problem in force; shown once as a settings problem
            return self.blocked is not None and str(self.blocked) in self._active
        if type(error) is MissingApiKeyError:
            return self.engine.told("missing-key")
        return False

    def unavailable(self) -> DeepSeekError | None:
        """Why no request can be sent (for one-shot commands), or None."""
        try:
            self.require_client()
        except DeepSeekError as exc:
            return exc
        return None

    def update_settings(self, layer: str, values: dict[str, Any] | None) -> list[Problem]:
        """Replace one settings layer whole (None or {} empties it).

        Returns the problems to show now: those in force that were not shown
        before (a problem that stays is not repeated; one that goes away and
        comes back is new again).
        """
        self._layers[layer] = dict(values or {})
        log.debug("settings layer %r now sets %s", layer,
                  ", ".join(sorted(flatten(self._layers[layer]))) or "nothing")  # names only, no values
        if layer != "toggle" and "completion.enabled" in flatten(self._layers[layer]):
            # the user set it explicitly: that beats an earlier toggle command
            self._layers.pop("toggle", None)
        settings, problems = self._build()
        blocked = next((p for p in problems if p.blocking), None)
        changed = settings != self.settings or blocked != self.blocked
        self.settings = settings
        self.blocked = blocked
        new = self._take_new(problems)
        if problems:
            log.debug("settings problems in force: %d (%d new)", len(problems), len(new))
        if not changed:
            log.debug("settings unchanged")
        if changed:
            client = self.client
            wanted = blocked is None and bool(settings.api_key)
            if client is not None and (not wanted or client.base_url != settings.base_url.rstrip("/")
                                       or client.api_key != settings.api_key):
                client.retire()  # closes once a chat still streaming from it ends
                self._old_clients = [c for c in self._old_clients if c.is_open]
                self._old_clients.append(client)
                client = None
            self.client = client if client is not None else self._make_client(settings)
            fallbacks = None
            if settings.fallbacks != tuple(e.config for e in self.fallbacks):
                self._old_clients = [c for c in self._old_clients if c.is_open]
                for old in self.fallbacks:
                    if old.client is not None:
                        old.client.retire()  # closes once a chat still streaming from it ends
                        self._old_clients.append(old.client)
                self.fallbacks = fallbacks = self._make_fallbacks(settings)
            self.engine.configure(settings, self.client, fallbacks)
            self._pause_if_blocked()
            self.events.settings(settings)
            log.info("settings: %s", settings.redacted())
        else:
            self.engine.resume()  # settings sent again (or a toggle): try again after a 401/402 pause
            self._pause_if_blocked()  # not past a blocking setting or a broken install
        return new

    # -- checks --------------------------------------------------------
    async def check_models(self) -> str | None:
        """Compare configured model names with ``GET /models``; a message when one is missing."""
        if self.client is None:
            return None
        try:
            available = await self.client.models()
        except DeepSeekError as exc:
            log.warning("could not list models: %s", exc)
            return None
        wanted = {"deepseek.completion.model": self.settings.completion_model,
                  "deepseek.chat.model": self.settings.chat_model}
        missing = [f"{key} = {name!r}" for key, name in wanted.items() if name not in available]
        if not missing:
            return None
        return (f"DeepSeek does not serve {', '.join(missing)}. Available models: "
                f"{', '.join(sorted(available)) or 'none'}.")

    async def aclose(self) -> None:
        clients = [*self._old_clients, *([self.client] if self.client else []),
                   *(e.client for e in self.fallbacks if e.client is not None)]
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)
        await asyncio.to_thread(self.ledger.close)
        self.tracer.close()
