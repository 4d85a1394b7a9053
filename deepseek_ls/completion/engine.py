"""The completion loop: one ``complete()`` call per editor request, in named steps.

1. ``_typed_ahead``: the user typed the start of a suggestion on screen: the
   rest comes from memory (no request);
2. ``_plan``: the prompt to send (full, or short while the head warms,
   :mod:`.prompt_cache`) at the endpoint likely to answer;
3. ``_cached``: the same prompt was answered before (result cache);
4. ``_join``: an identical request in flight, or one made a few keystrokes
   ago whose answer may still agree with what was typed since, is awaited
   instead of sending another (:mod:`.flights`);
5. ``_may_send``: automatic requests paused or disabled, or no key;
6. ``_debounce`` (automatic requests only): wait for a pause in typing; a
   newer request for the same document supersedes this one (:mod:`.tickets`),
   which then returns nothing and never reaches the network;
7. ``_choose_endpoint``: the breakers decide where it goes (the prompt is
   planned again if that is not where it was planned for);
8. ``_send``: the FIM request, shared by every caller waiting on it; a
   streamed answer shows its first lines early (:mod:`.early`); when the last
   caller goes away the HTTP exchange is cancelled, which closes its
   connection at once. Its outcome feeds the failure policy
   (:mod:`.failures`) and the usage (:mod:`.usage`).

Time is read and waited for through one :class:`~.clock.Clock`. Nothing here
knows about LSP; the server adapts positions and results.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..api.breaker import CircuitBreaker
from ..api.client import DeepSeekClient, FimRequest, FimResult, TraceHook
from ..api.endpoints import PRIMARY, Endpoint, answering, peek, pick
from ..api.errors import DeepSeekError, MissingApiKeyError
from ..prompt.fim import wants_multiline
from ..settings import Settings
from ..trace import Tracer
from . import config as C
from .answer import AnswerCleaner
from .clock import Clock, LoopClock, wait_or_timeout
from .early import StreamReader
from .failures import FailurePolicy
from .flights import Flight, Flights, Outcome
from .memory import Remembered, ResultCache, SuggestionMemory
from .postprocess import replaced_chars
from .prompt_cache import PlannedPrompt, PromptCache
from .request import CompletionRequest, Source, Suggestion
from .rhythm import Rhythm
from .tickets import Ticket, Tickets
from .usage import UsageEstimate

__all__ = ["CompletionEngine", "CompletionRequest", "EngineState", "Suggestion", "answered_to_end_of_line"]

log = logging.getLogger(__name__)

#: The "waiting" status goes out this long after a request leaves (not on its path).
STATUS_LAG_S = 0.02

#: what :meth:`CompletionEngine.state` names
EngineState = Literal["idle", "waiting", "error", "paused", "disabled"]
#: what a request came to (logged and traced as ``decision``)
Decision = Literal["drop", "memory", "cache", "join", "send"]


@dataclass(frozen=True)
class _Cursor:
    """The document around the cursor of one request."""

    uri: str
    prefix: str
    suffix: str
    language: str

    @classmethod
    def of(cls, req: CompletionRequest) -> _Cursor:
        text = req.doc.text
        return cls(req.doc.uri, text[: req.offset], text[req.offset:], req.doc.language_id)


@dataclass(frozen=True)
class _Finished:
    """A step answered the request (``suggestion`` may be None: nothing to show)."""

    suggestion: Suggestion | None


def answered_to_end_of_line(prefix: str, suffix: str) -> bool:
    """The cursor ends a line that would get a single-line request (not a block opener)."""
    line_prefix = prefix[prefix.rfind("\n") + 1:]
    eol = suffix.find("\n")
    line_suffix = (suffix if eol < 0 else suffix[:eol]).strip()
    return not line_suffix and bool(line_prefix.strip()) and not wants_multiline(line_prefix, line_suffix)


def _replaced(prefix: str, suffix: str, text: str, language: str = "") -> int:
    """Characters after the cursor that ``text`` replaces (see :func:`replaced_chars`)."""
    eol = suffix.find("\n")
    return replaced_chars(text, prefix[prefix.rfind("\n") + 1:], suffix if eol < 0 else suffix[:eol],
                          language)


def _noop(*_args: object, **_kw: object) -> None:
    return None


@dataclass
class CompletionEngine:
    """Ghost text for editor requests: memory, debounce, latest-wins, joining, caching.

    ``client``: the primary (DeepSeek) client, None without a key.
    ``on_usage(model, usage[, endpoint])``: each answer's usage (the endpoint
    only for a fallback's). ``on_problem(kind, message)``: a problem to tell
    the user (once per kind). ``on_state()``: :meth:`state` may have changed.
    ``on_failure(error)``: each API error a request ended with (after the
    engine handled it). ``clock``: time and timers (tests pass a
    :class:`~.clock.ManualClock`).

    :meth:`complete` answers a :class:`~.request.CompletionRequest` with a
    :class:`~.request.Suggestion` or None. Only ``asyncio.CancelledError``
    escapes it (the editor cancelled): an API error goes to ``on_failure``,
    ``on_problem`` and the state; a bug inside a request is logged and
    reported once, and its waiters get None.
    """

    settings: Settings
    client: DeepSeekClient | None
    tracer: Tracer = field(default_factory=Tracer)
    on_usage: Callable[..., None] = _noop
    on_problem: Callable[[str, str], None] = _noop
    on_state: Callable[[], None] = _noop
    on_failure: Callable[[DeepSeekError], None] = _noop
    clock: Clock = field(default_factory=LoopClock)

    def __post_init__(self) -> None:
        #: suggestions shown, for typed-ahead answers
        self.memory = SuggestionMemory()
        #: cleaned answers by request key
        self.results = ResultCache()
        self.rhythm = Rhythm(self.settings.completion_debounce_ms, self.settings.completion_adaptive_debounce)
        #: the primary's breaker (each fallback endpoint has its own)
        self.breaker = CircuitBreaker(clock=self._now)
        #: failover: endpoints tried, in order, while the primary's breaker is open
        self.fallbacks: list[Endpoint] = []
        self.failures = FailurePolicy(self._now, lambda: self.fallbacks,
                                      on_problem=lambda kind, message: self.on_problem(kind, message),
                                      on_state=lambda: self.on_state())
        self.prompts = PromptCache(self._now)
        self.flights = Flights(lambda: self.clock, self._warm_spare_connection)
        self.usage_estimate = UsageEstimate()
        self._tickets = Tickets()
        self._background: set[asyncio.Task[None]] = set()

    def _now(self) -> float:
        return self.clock.now()

    # -- configuration -------------------------------------------------
    def configure(self, settings: Settings, client: DeepSeekClient | None,
                  fallbacks: list[Endpoint] | None = None) -> None:
        """New settings: forget caches, lift an auth pause, allow messages again.

        ``fallbacks`` (None: keep the current ones) are the endpoints that
        stand in, in order, while the primary's breaker is open.
        """
        self.settings = settings
        self.client = client
        if fallbacks is not None:
            self.set_fallbacks(fallbacks)
        for endpoint in self.fallbacks:
            endpoint.breaker.record_success()
        self.rhythm.base_ms = settings.completion_debounce_ms
        self.rhythm.adaptive = settings.completion_adaptive_debounce
        self.results.clear()
        self.failures.reset(keep_missing_key=client is None)
        self.breaker.record_success()
        self.on_state()

    def set_fallbacks(self, fallbacks: list[Endpoint]) -> None:
        """Use these fallback endpoints (their breakers run on the engine's clock)."""
        for endpoint in fallbacks:
            endpoint.breaker.clock = self._now
        self.fallbacks = list(fallbacks)

    def primary(self) -> Endpoint:
        """The primary (DeepSeek) endpoint: this engine's client and breaker."""
        return Endpoint(PRIMARY, True, self.client, {"fim": self.settings.completion_model}, self.breaker)

    def endpoints(self) -> list[Endpoint]:
        """Every endpoint in failover order (the primary first)."""
        return [self.primary(), *self.fallbacks]

    def answering_endpoint(self) -> Endpoint:
        """The endpoint ghost text comes from now (the primary when every one fails)."""
        endpoints = self.endpoints()
        return answering(endpoints, "fim") or endpoints[0]

    @property
    def paused(self) -> str | None:
        """Why automatic requests are paused (a 401/402 answer, a blocking setting), or None."""
        return self.failures.paused

    @paused.setter
    def paused(self, why: str | None) -> None:
        """Pause automatic requests (a blocking setting) or lift the pause (None)."""
        self.failures.paused = why

    @property
    def last_error(self) -> str | None:
        """The error of the last request while it stands (cleared by a success or new settings)."""
        return self.failures.last_error

    def note_edit(self, uri: str, inserted: str = "") -> None:
        """An edit (keystroke) of ``uri`` inserting ``inserted`` arrived: feeds the adaptive debounce."""
        self.rhythm.note_edit(uri, self._now(), inserted)

    def forget(self, uri: str) -> None:
        """The document was closed."""
        self.memory.forget(uri)
        self.rhythm.forget(uri)
        self.prompts.forget(uri, self.endpoints())
        self._tickets.release(uri)

    def resume(self) -> bool:
        """A request succeeded (ghost text, chat, code action) or the settings were sent
        again: lift a pause that a 401/402 answer caused (a top-up or a new key fixed it).
        True when a pause was lifted; a pause caused by a blocking setting stays."""
        return self.failures.resume()

    def auto_allowed(self) -> bool:
        """May automatic (as-you-type) requests go out?"""
        return self.settings.completion_enabled and self.paused is None

    def report_missing_key(self) -> None:
        """Say once that there is no key (completions stay off until there is one)."""
        self.failures.report_missing_key()

    def told(self, kind: str) -> bool:
        """True when the problem ``kind`` (e.g. "missing-key") was reported and still stands."""
        return self.failures.told(kind)

    def state(self) -> tuple[EngineState, str | None]:
        """The state for the status bar, and why (for "paused" and "error")."""
        if self.paused:
            return "paused", self.paused
        if self.client is None or not self.client.api_key:
            return "error", f"{MissingApiKeyError()} {MissingApiKeyError.hint}"  # the problem, then the fix
        if answering(self.endpoints(), "fim") is None or self.last_error:
            return "error", self.last_error
        if self.flights:
            return "waiting", None
        if not self.settings.completion_enabled:
            return "disabled", None
        return "idle", None

    def pending(self) -> list[asyncio.Task[Outcome | None]]:
        """The FIM requests in flight (a stream whose first lines were shown runs on into memory)."""
        return self.flights.pending()

    async def wait_idle(self) -> None:
        """Wait until the requests in flight now have ended (their errors are handled already)."""
        pending = self.pending()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def close(self) -> None:
        """Shutting down: cancel the requests in flight and stop reporting problems."""
        self.failures.closing = True
        self.flights.close()

    # -- the loop ------------------------------------------------------
    async def complete(self, req: CompletionRequest) -> Suggestion | None:
        """The suggestion for ``req``, or None. Raises CancelledError when cancelled."""
        if len(req.doc.text) > C.MAX_DOCUMENT_CHARS:
            self._decision(req, "drop", reason="document-too-large")
            if req.manual:  # asked for: say why nothing comes (once; typing stays quiet)
                self.failures.report("document-too-large", f"this file is too large for completions "
                                     f"({len(req.doc.text):,} characters; at most {C.MAX_DOCUMENT_CHARS:,})")
            return None
        at = _Cursor.of(req)
        done = self._typed_ahead(req, at)
        if done is not None:
            return done.suggestion
        # the endpoint likely to answer (prompt warm-up and window are kept per endpoint);
        # the choice is made at send time and the prompt planned again if it differs
        plan = self.prompts.plan(req, peek(self.endpoints(), "fim") or self.primary(), self.settings)
        done = self._cached(req, at, plan)
        if done is not None:
            return done.suggestion
        ticket, done = await self._join(req, at, plan)
        if done is not None:
            return done.suggestion
        if not self._may_send(req):
            return None
        if not req.manual and await self._debounce(req, ticket):
            return None
        chosen = self._choose_endpoint(req, plan)
        if chosen is None:
            return None
        return await self._send(req, at, chosen, ticket)

    def _typed_ahead(self, req: CompletionRequest, at: _Cursor) -> _Finished | None:
        """The rest of a suggestion the user is typing, from memory."""
        recall = self.memory.recall(at.uri, at.prefix, at.suffix)
        if recall is None:
            return None
        if recall.text:
            self._tickets.take(at.uri)
            self._decision(req, "memory")
            return _Finished(Suggestion(recall.id, recall.text, "memory", recall.replace))
        if not req.manual and answered_to_end_of_line(at.prefix, at.suffix):
            # the whole suggestion is typed (accepted) and it ended this line: asking
            # again here would ask for the rest of a finished line
            self._tickets.take(at.uri)
            self._decision(req, "drop", reason="suggestion-finished")
            return _Finished(None)
        return None

    def _cached(self, req: CompletionRequest, at: _Cursor, plan: PlannedPrompt) -> _Finished | None:
        """The same prompt answered before."""
        cached = self.results.get(plan.key)
        if cached is None:
            return None
        self._tickets.take(at.uri)
        self._decision(req, "cache")
        return _Finished(self._suggest(at, cached, "cache") if cached else None)

    async def _join(self, req: CompletionRequest, at: _Cursor,
                    plan: PlannedPrompt) -> tuple[Ticket, _Finished | None]:
        """Wait for a request in flight that can answer this one; the ticket of this request."""
        self.flights.cancel_orphans(at.uri, at.prefix, at.suffix)
        flight = self.flights.get(plan.key)
        if flight is not None:  # the same prompt
            self.flights.adopt(flight)
            ticket = self._tickets.take(at.uri)
            self._decision(req, "join")
            return ticket, _Finished(await self.flights.answer(flight, ticket, "", "join", at.suffix))
        flight = self.flights.compatible(at.uri, at.prefix, at.suffix)
        if flight is None:
            return self._tickets.take(at.uri), None
        typed = at.prefix[len(flight.prefix):]
        self.flights.adopt(flight)
        ticket = self._tickets.take(at.uri)
        self._decision(req, "join", typed=len(typed))
        self.tracer.event("wait_start", id=req.request_id, reason="join")
        try:
            result = await self.flights.answer(flight, ticket, typed, "join", at.suffix)
        finally:
            self.tracer.event("wait_end", id=req.request_id)
        if result is not None or ticket.superseded.done():
            return ticket, _Finished(result)
        return ticket, None  # its answer does not fit what was typed: ask anew

    def _may_send(self, req: CompletionRequest) -> bool:
        """Not paused or disabled (automatic requests), and there is a key."""
        if not req.manual and not self.auto_allowed():
            self._decision(req, "drop", reason="paused" if self.paused else "disabled")
            return False
        if self.client is None or not self.client.api_key:
            self.report_missing_key()
            self._decision(req, "drop", reason="no-key")
            return False
        return True

    async def _debounce(self, req: CompletionRequest, ticket: Ticket) -> bool:
        """Wait for a pause in typing; True when a newer request superseded this one meanwhile."""
        delay = self.rhythm.debounce_ms(req.doc.uri) / 1000
        self.tracer.event("wait_start", id=req.request_id, ms=round(delay * 1000, 1))
        superseded = await wait_or_timeout(self.clock, ticket.superseded, delay)
        self.tracer.event("wait_end", id=req.request_id)
        if superseded:
            self._decision(req, "drop", reason="superseded")
        return superseded

    def _choose_endpoint(self, req: CompletionRequest, plan: PlannedPrompt) -> PlannedPrompt | None:
        """Where the request goes now (the breakers may have changed during the debounce)."""
        chosen = pick(self.endpoints(), "fim", force=req.manual)
        if chosen is None:
            self._decision(req, "drop", reason="breaker-open")
            return None
        if chosen.name != plan.endpoint.name:
            return self.prompts.plan(req, chosen, self.settings)
        return plan

    async def _send(self, req: CompletionRequest, at: _Cursor, plan: PlannedPrompt,
                    ticket: Ticket) -> Suggestion | None:
        """Start the FIM request and wait for its answer."""
        builds_cache = self.prompts.sending(plan, at.uri)
        endpoint = plan.endpoint
        self._decision(req, "send", short=plan.short, **({} if endpoint.primary else {"endpoint": endpoint.name}))
        flight = Flight(plan.key, at.uri, at.prefix, at.suffix, endpoint, language=at.language,
                        builds_cache=builds_cache, request_id=req.request_id,
                        suggestion_id=uuid.uuid4().hex[:16])
        flight.task = asyncio.create_task(self._run(flight, plan))
        self.flights.add(flight)
        if len(self.flights) == 1:
            # "waiting" in the status bar can lag a little; the request must not
            self.clock.call_later(STATUS_LAG_S, self._waiting_state)
        return await self.flights.answer(flight, ticket, "", "network", at.suffix)

    def _suggest(self, at: _Cursor, text: str, source: Source) -> Suggestion:
        """A suggestion of ``text`` at the cursor, remembered for typed-ahead answers."""
        entry = Remembered(uuid.uuid4().hex[:16], at.prefix, at.suffix, text, language=at.language)
        self.memory.remember(at.uri, entry)
        return Suggestion(entry.id, text, source, _replaced(at.prefix, at.suffix, text, at.language))

    def _decision(self, req: CompletionRequest, decision: Decision, **extra: object) -> None:
        log.debug("completion %s at %s v%s: %s%s", req.request_id, req.doc.path, req.doc.version, decision,
                  "".join(f", {k}={v}" for k, v in extra.items()))
        self.tracer.event("decision", id=req.request_id, uri=req.doc.uri,
                          version=req.doc.version, decision=decision, **extra)

    def _waiting_state(self) -> None:
        if self.flights:
            self.on_state()

    def _warm_spare_connection(self, client: DeepSeekClient | None = None) -> None:
        """Open a spare connection in the background (an aborted or stopped request closed one)."""
        client = client or self.client
        if client is None:
            return
        task = asyncio.get_running_loop().create_task(client.warm())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- one flight ------------------------------------------------------
    async def _run(self, flight: Flight, plan: PlannedPrompt) -> Outcome | None:
        """The life of one flight: whatever fails inside it, its waiters get an answer.

        An exception that is not a :class:`DeepSeekError` (a bug, an answer
        of an unexpected shape) is logged, reported once, and the waiting
        editor requests get "no suggestion" instead of waiting forever.
        """
        try:
            return await self._exchange(flight, plan)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any bug in a flight must still answer its waiters
            plan.endpoint.breaker.release_probe()  # a probe that ended in a bug must not hold the breaker
            self._cache_not_built(flight, plan)
            self.failures.report_internal(exc)
            return None
        finally:
            flight.show(None)

    async def _exchange(self, flight: Flight, plan: PlannedPrompt) -> Outcome | None:
        """Send the request, settle its waiters and record its outcome; the whole answer."""
        self.tracer.event("fetch_start", id=flight.request_id)
        cleaner = AnswerCleaner(plan.fim, flight.prefix, flight.suffix, flight.language,
                                self.settings.completion_max_lines)
        flight.started = self._now()
        try:
            result = await self._request(flight, plan, cleaner)
        except asyncio.CancelledError:
            plan.endpoint.breaker.release_probe()
            self._cache_not_built(flight, plan)  # the next request builds the cache instead
            self.tracer.event("http_done", id=flight.request_id, outcome="cancelled")
            flight.show(None)
            raise
        except DeepSeekError as exc:
            self._cache_not_built(flight, plan)
            self.tracer.event("http_done", id=flight.request_id, outcome="error")
            self.failures.failed(exc, plan.endpoint)
            self.on_failure(exc)
            flight.show(None)
            return None
        finally:
            self.flights.remove(flight)
            if not self.flights:
                self.on_state()
        self._answered(flight, plan, result)
        text = cleaner.clean(result.text)
        self.results.put(plan.key, text)
        return self._settle(flight, text)

    async def _request(self, flight: Flight, plan: PlannedPrompt, cleaner: AnswerCleaner) -> FimResult:
        """The HTTP exchange: streamed (showing early lines) for a multi-line answer."""
        fim, s = plan.fim, self.settings
        client = plan.endpoint.client
        assert client is not None  # a flight only starts at an endpoint with a client
        request = FimRequest(model=plan.model, prompt=fim.prompt, suffix=fim.suffix, max_tokens=fim.max_tokens,
                             stop=fim.stop, temperature=s.completion_temperature)
        timeout_s = s.completion_timeout_ms / 1000
        trace = self._trace_hook(flight.request_id)
        if not fim.multiline:
            return await client.fim(request, timeout_s=timeout_s, trace=trace)
        reader = StreamReader(fim.line_prefix, s.completion_max_lines,
                              waiting=lambda: not flight.first.done(),
                              elapsed=lambda: self._now() - flight.started,
                              show=lambda complete, lines: self._show_early(flight, cleaner, complete, lines))
        return await client.fim_stream(request, reader.on_text, timeout_s=timeout_s, trace=trace)

    def _trace_hook(self, request_id: object) -> TraceHook | None:
        if not self.tracer.enabled:
            return None
        tracer = self.tracer

        def trace(event: str, fields: dict[str, Any]) -> None:
            tracer.event(event, id=request_id, **fields)

        return trace

    def _show_early(self, flight: Flight, cleaner: AnswerCleaner, complete: str, lines: int) -> None:
        """Show the complete lines of a stream received so far (the rest goes on into memory)."""
        early = cleaner.clean(complete)
        if early:
            self.tracer.event("early_answer", id=flight.request_id, lines=lines)
            self._settle(flight, early)

    def _settle(self, flight: Flight, text: str) -> Outcome | None:
        """Remember ``text`` as the flight's suggestion and show it, if nothing was shown yet."""
        outcome = (flight.suggestion_id, text) if text else None
        if not flight.first.done():
            # what the user waits for: the first answer, not the whole stream
            self.rhythm.note_latency(self._now() - flight.started)
        if text:
            self.memory.remember(flight.uri, Remembered(flight.suggestion_id, flight.prefix, flight.suffix,
                                                        text, language=flight.language))
        flight.show(outcome)
        return outcome

    def _answered(self, flight: Flight, plan: PlannedPrompt, result: FimResult) -> None:
        """A request ended with an answer: connection, prompt cache, failure state, usage."""
        endpoint = plan.endpoint
        self.tracer.event("http_done", id=flight.request_id, outcome="stopped" if result.stopped else "ok")
        if result.stopped:
            self._warm_spare_connection(endpoint.client)  # stopping closed the connection
        if flight.builds_cache and plan.warm_key is not None:
            self.prompts.built(plan.warm_key)  # persisted a few seconds from now
        self.failures.succeeded(endpoint)
        usage = self.usage_estimate.of(plan.fim, result.usage, result.stopped)
        if endpoint.primary:
            self.on_usage(result.model or plan.model, usage)
        else:
            self.on_usage(result.model or plan.model, usage, endpoint)

    def _cache_not_built(self, flight: Flight, plan: PlannedPrompt) -> None:
        if flight.builds_cache and plan.warm_key is not None:
            self.prompts.not_built(plan.warm_key)
