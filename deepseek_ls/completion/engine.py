"""The completion loop: memory, debounce, latest-wins, in-flight joining.

One ``complete()`` call per editor request. In order:

1. typed-ahead: if the user typed the start of a suggestion on screen, the
   rest comes from memory (no request);
2. the result cache: the same prompt answered before;
3. joining: an identical request in flight, or one made a few keystrokes
   ago whose answer may still agree with what was typed since, is awaited
   instead of sending another;
4. debounce (automatic requests only): wait for a pause in typing; a newer
   request for the same document supersedes this one, which then returns
   nothing and never reaches the network;
5. the FIM request, shared by every caller waiting on it; when the last
   caller goes away (superseded or ``$/cancelRequest``) the HTTP exchange is
   cancelled, which closes its connection at once.

Nothing here knows about LSP; the server adapts positions and results.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache

from .. import constants as C
from ..api.breaker import CircuitBreaker
from ..api.client import DeepSeekClient, FimRequest, Usage
from ..api.endpoints import PRIMARY, Endpoint, answering, peek, pick
from ..api.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    DeepSeekError,
    InsufficientBalanceError,
    MissingApiKeyError,
    RateLimitError,
    ServerError,
    StreamError,
)
from ..policy import has_placeholder, mask_fim
from ..prompt.config import LEAN_PREFIX_CHARS
from ..prompt.fim import FimPrompt, build_fim_prompt, completion_mode
from ..settings import Settings
from ..snapshot import DocumentSnapshot
from ..trace import Tracer
from .memory import Remembered, ResultCache, SuggestionMemory, follow, request_key
from .postprocess import AUTO_CLOSERS, block_finished, indent_undecided, postprocess, replaced_chars
from .rhythm import Rhythm

log = logging.getLogger(__name__)

#: How far (characters) the user may type past an in-flight request's
#: cursor and still wait for its answer instead of asking again.
JOIN_TYPED_MAX = 48
#: When the last caller of an in-flight request goes away, how long (ms) the
#: HTTP exchange is kept for the next keystroke's request to adopt it.
#: Editors cancel the previous request *before* sending the next one, so
#: without this every keystroke typed during the latency would kill an
#: answer it could have used. A request that cannot adopt it cancels it at
#: once.
ADOPT_GRACE_MS = 50
#: The "waiting" status goes out this long after a request leaves (not on its path).
STATUS_LAG_S = 0.02
#: Multi-line answers stream; the editor gets the complete lines received so
#: far once there are this many, or once this long (s) has passed since the
#: request left with at least one. The rest lands in memory, so accepting
#: the first lines shows the next ones at once.
EARLY_LINES = 3
EARLY_AFTER_S = 0.3
#: An outage of the API (one warning) ends with a success this long (s) after its last failure.
OUTAGE_QUIET_S = 60.0
#: how a pause after a 401 (key rejected) or 402 (balance used up) ends, told with it
PAUSE_ENDS = ("Automatic ghost text is paused until a request succeeds (ask for a completion by hand, "
              "or use chat or a code action, after fixing it) or the settings change.")


@dataclass(frozen=True)
class CompletionRequest:
    doc: DocumentSnapshot
    offset: int
    manual: bool = False
    others: tuple[DocumentSnapshot, ...] = ()
    request_id: str | int | None = None


@dataclass(frozen=True)
class Suggestion:
    """Text to insert at the cursor, replacing the next ``replace`` characters.

    ``replace`` counts code points of the cursor line after the cursor
    (closers the text runs through, see :func:`postprocess.replaced_chars`);
    the editor item's range ends there.
    """

    id: str
    text: str
    source: str  # "network" | "memory" | "cache" | "join"
    replace: int = 0


@dataclass
class _Ticket:
    """One editor request; ``superseded`` resolves when a newer one arrives."""

    uri: str
    superseded: asyncio.Future[None]


_AUTO_OR_BLANK = AUTO_CLOSERS + " \t\n"


@dataclass
class _Flight:
    key: str
    uri: str
    prefix: str
    suffix: str
    task: asyncio.Task[tuple[str, str] | None]
    #: the first answer worth showing (early lines of a streamed answer, or the whole)
    first: asyncio.Future[tuple[str, str] | None]
    refs: int = 1
    orphan_timer: asyncio.TimerHandle | None = None
    #: the first full prompt with a new head: DeepSeek caches it only if it completes
    builds_cache: bool = False
    #: i14 failover: where the request went
    endpoint: Endpoint | None = None
    #: the document's LSP language id (for the closer scan)
    language: str = ""

    def can_serve(self, uri: str, prefix: str, suffix: str) -> bool:
        """Could this request's answer still fit the text around a later cursor?

        Same document, the text before the cursor is this request's plus at
        most ``JOIN_TYPED_MAX`` typed characters, and the text after it the
        same up to closers the editor inserted or typed over (auto-pairs, also
        moved to a line of their own by Enter between brackets; whether the
        answer writes them is checked when it arrives).
        """
        if not (self.uri == uri and len(self.prefix) <= len(prefix) <= len(self.prefix) + JOIN_TYPED_MAX
                and prefix.startswith(self.prefix)):
            return False
        if suffix == self.suffix:
            return True
        short, long = sorted((suffix, self.suffix), key=len)
        extra = len(long) - len(short)
        return (extra <= len(prefix) - len(self.prefix) and all(ch in _AUTO_OR_BLANK for ch in long[:extra])
                and long.endswith(short))


def _replaced(prefix: str, suffix: str, text: str, language: str = "") -> int:
    """Characters after the cursor that ``text`` replaces (see :func:`replaced_chars`)."""
    eol = suffix.find("\n")
    return replaced_chars(text, prefix[prefix.rfind("\n") + 1:], suffix if eol < 0 else suffix[:eol],
                          language)


def answered_to_end_of_line(prefix: str, suffix: str) -> bool:
    """The cursor ends a line that would get a single-line request (not a block opener)."""
    line_prefix = prefix[prefix.rfind("\n") + 1:]
    eol = suffix.find("\n")
    line_suffix = (suffix if eol < 0 else suffix[:eol]).strip()
    return not line_suffix and bool(line_prefix.strip()) and not completion_mode(line_prefix, line_suffix)


@dataclass
class UsageEstimate:
    """Usage for a stream stopped early, which DeepSeek never reports.

    Output: the pieces received (DeepSeek streams a token per chunk). Prompt:
    its characters at the characters-per-token and the cache-hit share of
    the last exact reports. Recorded like any other usage, and logged as an
    estimate.
    """

    chars_per_token: float = 3.5
    hit_share: float = 0.0

    def observe(self, fim: FimPrompt, usage: Usage) -> Usage:
        if usage.prompt_tokens > 0:
            chars = len(fim.prompt) + len(fim.suffix)
            self.chars_per_token = 0.7 * self.chars_per_token + 0.3 * chars / usage.prompt_tokens
            self.hit_share = 0.7 * self.hit_share + 0.3 * usage.hit_tokens / usage.prompt_tokens
        return usage

    def estimate(self, fim: FimPrompt, output_tokens: int) -> Usage:
        prompt = round((len(fim.prompt) + len(fim.suffix)) / self.chars_per_token)
        hit = round(prompt * self.hit_share)
        log.info("stream stopped early: usage estimated (%d prompt tokens, %d output)", prompt, output_tokens)
        return Usage(prompt_tokens=prompt, completion_tokens=output_tokens, hit_tokens=hit,
                     miss_tokens=prompt - hit)


@dataclass
class EngineStats:
    requests_sent: int = 0
    memory_hits: int = 0
    cache_hits: int = 0
    joins: int = 0
    superseded: int = 0
    shown: int = 0
    accepted: int = 0
    errors: int = 0


Callback = Callable[..., None]


def _noop(*_args: object, **_kw: object) -> None:
    return None


@dataclass
class CompletionEngine:
    settings: Settings
    client: DeepSeekClient | None
    tracer: Tracer = field(default_factory=Tracer)
    on_usage: Callable[[str, Usage], None] = _noop
    on_problem: Callable[[str, str], None] = _noop
    on_state: Callable[[], None] = _noop
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.memory = SuggestionMemory()
        self.results = ResultCache()
        self.rhythm = Rhythm(self.settings.completion_debounce_ms, self.settings.completion_adaptive_debounce)
        #: the primary's breaker (each fallback endpoint has its own)
        self.breaker = CircuitBreaker(clock=self.clock)
        #: i14 failover: endpoints tried, in order, while the primary's breaker is open
        self.fallbacks: list[Endpoint] = []
        self.stats = EngineStats()
        self.paused: str | None = None      # why automatic requests are paused (auth)
        self._api_pause = False             # paused by a 401/402 answer (lifted by a success)
        self.last_error: str | None = None
        self._tickets: dict[str, _Ticket] = {}
        self._flights: dict[str, _Flight] = {}
        self._reported: set[str] = set()
        self._closing = False
        self._last_failure_at = float("-inf")  # of the API (for the outage warning)
        self._background: set[asyncio.Task[None]] = set()
        #: prompt heads sent in full: completion time, or -1 while in flight
        self._warm: LRUCache[str, float] = LRUCache(maxsize=256)
        #: per endpoint and document: the window start line of the last full prompt sent
        #: (each provider has its own prompt cache, so each keeps its own window)
        self._windows: LRUCache[tuple[str, str], int] = LRUCache(maxsize=256)
        self.usage_estimate = UsageEstimate()

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
        self.paused = None
        self._api_pause = False
        self.last_error = None
        # "no key" stays said while there is still no key (an unrelated change is no news)
        kept = self._reported & {"missing-key"} if client is None else set()
        self._reported.clear()
        self._reported |= kept
        self.breaker.record_success()
        self.on_state()

    def set_fallbacks(self, fallbacks: list[Endpoint]) -> None:
        """Use these fallback endpoints (their breakers run on the engine's clock)."""
        for endpoint in fallbacks:
            endpoint.breaker.clock = lambda: self.clock()
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
    def busy(self) -> bool:
        return bool(self._flights)

    def note_edit(self, uri: str, inserted: str = "") -> None:
        """An edit (keystroke) of ``uri`` inserting ``inserted`` arrived: feeds the adaptive debounce."""
        self.rhythm.note_edit(uri, self.clock(), inserted)

    def forget(self, uri: str) -> None:
        """The document was closed."""
        self.memory.forget(uri)
        self.rhythm.forget(uri)
        for endpoint in self.endpoints():
            self._windows.pop((endpoint.name, uri), None)
        ticket = self._tickets.pop(uri, None)
        if ticket and not ticket.superseded.done():
            ticket.superseded.set_result(None)

    def did_show(self, suggestion_id: str) -> None:
        self.stats.shown += 1

    def did_accept(self, suggestion_id: str, length: int | None = None) -> None:
        self.stats.accepted += 1

    def resume(self) -> bool:
        """A request succeeded (ghost text, chat, code action) or the settings were sent
        again: lift a pause that a 401/402 answer caused (a top-up or a new key fixed it).
        True when a pause was lifted; a pause caused by a blocking setting stays."""
        if not self._api_pause:
            return False
        self._api_pause = False
        self.paused = None
        self.last_error = None
        self._reported.difference_update({"auth", "balance"})
        self.on_state()
        return True

    def auto_allowed(self) -> bool:
        return self.settings.completion_enabled and self.paused is None

    # -- the loop ------------------------------------------------------
    def _supersede(self, uri: str) -> _Ticket:
        old = self._tickets.get(uri)
        if old and not old.superseded.done():
            old.superseded.set_result(None)
            self.stats.superseded += 1
        ticket = _Ticket(uri, asyncio.get_running_loop().create_future())
        self._tickets[uri] = ticket
        return ticket

    def _decision(self, req: CompletionRequest, decision: str, **extra: object) -> None:
        log.debug("completion %s at %s v%s: %s%s", req.request_id, req.doc.path, req.doc.version, decision,
                  "".join(f", {k}={v}" for k, v in extra.items()))
        self.tracer.event("decision", id=req.request_id, uri=req.doc.uri,
                          version=req.doc.version, decision=decision, **extra)

    async def complete(self, req: CompletionRequest) -> Suggestion | None:
        """The suggestion for ``req``, or None. Raises CancelledError when cancelled."""
        doc = req.doc
        if len(doc.text) > C.MAX_DOCUMENT_CHARS:
            self._decision(req, "drop", reason="document-too-large")
            return None
        prefix = doc.text[: req.offset]
        suffix = doc.text[req.offset:]

        recall = self.memory.recall(doc.uri, prefix, suffix)
        if recall is not None and recall.text:
            self._supersede(doc.uri)
            self.stats.memory_hits += 1
            self._decision(req, "memory")
            return Suggestion(recall.id, recall.text, "memory", recall.replace)
        if recall is not None and not req.manual and answered_to_end_of_line(prefix, suffix):
            # the whole suggestion is typed (accepted) and it ended this line: asking
            # again here would ask for the rest of a finished line
            self._supersede(doc.uri)
            self._decision(req, "drop", reason="suggestion-finished")
            return None

        # the endpoint likely to answer (prompt warm-up and window are kept per endpoint);
        # the choice is made at send time and the prompt rebuilt if it differs
        endpoint = peek(self.endpoints(), "fim") or self.primary()
        fim, warm_key, lean = self._cache_aware_prompt(req, endpoint)
        model = endpoint.models.get("fim", self.settings.completion_model)
        key = request_key(model, fim.prompt, fim.suffix, fim.max_tokens, fim.stop,
                          self.settings.completion_temperature)
        cached = self.results.get(key)
        if cached is not None:
            self._supersede(doc.uri)
            self.stats.cache_hits += 1
            self._decision(req, "cache")
            return self._suggest(doc.uri, prefix, suffix, cached, "cache", doc.language_id) if cached else None

        self._cancel_orphans(doc.uri, prefix, suffix)
        flight = self._flights.get(key)
        if flight is not None:
            self._adopt(flight)
            ticket = self._supersede(doc.uri)
            self.stats.joins += 1
            self._decision(req, "join")
            return await self._await(flight, ticket, "", "join", suffix)

        flight = self._compatible_flight(doc.uri, prefix, suffix)
        if flight is not None:
            typed = prefix[len(flight.prefix):]
            self._adopt(flight)
            ticket = self._supersede(doc.uri)
            self._decision(req, "join", typed=len(typed))
            self.tracer.event("wait_start", id=req.request_id, reason="join")
            try:
                result = await self._await(flight, ticket, typed, "join", suffix)
            finally:
                self.tracer.event("wait_end", id=req.request_id)
            if result is not None:
                self.stats.joins += 1
                return result
            if ticket.superseded.done():
                return None
        else:
            ticket = self._supersede(doc.uri)

        if not req.manual and not self.auto_allowed():
            self._decision(req, "drop", reason="paused" if self.paused else "disabled")
            return None
        if self.client is None or not self.client.api_key:
            self.report_missing_key()
            self._decision(req, "drop", reason="no-key")
            return None

        if not req.manual:
            delay = self.rhythm.debounce_ms(doc.uri) / 1000
            self.tracer.event("wait_start", id=req.request_id, ms=round(delay * 1000, 1))
            done, _ = await asyncio.wait({ticket.superseded}, timeout=delay)
            self.tracer.event("wait_end", id=req.request_id)
            if done:
                self._decision(req, "drop", reason="superseded")
                return None
        chosen = pick(self.endpoints(), "fim", force=req.manual)
        if chosen is None:
            self._decision(req, "drop", reason="breaker-open")
            return None
        if chosen.name != endpoint.name:  # the breakers changed during the debounce
            endpoint = chosen
            fim, warm_key, lean = self._cache_aware_prompt(req, endpoint)
            model = endpoint.model("fim")
            key = request_key(model, fim.prompt, fim.suffix, fim.max_tokens, fim.stop,
                              self.settings.completion_temperature)

        builds_cache = warm_key is not None and not lean and self._warm.get(warm_key) is None
        if builds_cache:
            self._warm[warm_key] = -1.0  # in flight: requests meanwhile go lean
        self._decision(req, "send", lean=lean, **({} if endpoint.primary else {"endpoint": endpoint.name}))
        if not lean:
            self._windows[(endpoint.name, doc.uri)] = fim.window_line
        flight = self._start(key, doc, prefix, suffix, fim, model, req.request_id,
                             warm_key if builds_cache else None, endpoint)
        return await self._await(flight, ticket, "", "network", suffix)

    def _prompt(self, req: CompletionRequest, lean: bool = False, endpoint: str = PRIMARY) -> FimPrompt:
        s = self.settings
        return mask_fim(build_fim_prompt(  # i14: secrets masked before anything is sent
            req.doc, req.offset, others=req.others if s.completion_other_files else (),
            prefix_chars=s.completion_prefix_chars, suffix_chars=s.completion_suffix_chars,
            max_tokens_block=s.completion_max_tokens, use_other_files=s.completion_other_files,
            lean=lean, window_hint=self._windows.get((endpoint, req.doc.uri))))

    def _cache_aware_prompt(self, req: CompletionRequest,
                            endpoint: Endpoint | None = None) -> tuple[FimPrompt, str | None, bool]:
        """The full prompt, or a lean one while the full prompt's head is being cached.

        DeepSeek persists a prefix seconds after a request ends; until then
        every request repeating a new head would pay it in full. Returns the
        prompt, the key of its head (None when the prompt is small), and
        whether the prompt is the lean one. The warm-up state is kept per
        ``endpoint`` (the primary when None): another provider has its own cache.
        """
        name = endpoint.name if endpoint is not None else PRIMARY
        model = endpoint.models.get("fim", "") if endpoint is not None else self.settings.completion_model
        fim = self._prompt(req, endpoint=name)
        if len(fim.prompt) - LEAN_PREFIX_CHARS < C.LEAN_MIN_HEAD_CHARS:
            return fim, None, False  # small: a lean prompt would save little
        # the head and the start of the window (which moves in aligned steps)
        end = fim.head_len + min(256, (len(fim.prompt) - fim.head_len) // 2)
        warm_key = request_key(model, fim.prompt[:end]) if name == PRIMARY else \
            request_key(name, model, fim.prompt[:end])
        since = self._warm.get(warm_key)
        if since is None or (since >= 0 and self.clock() - since >= C.CACHE_WARMUP_S):
            return fim, warm_key, False
        return self._prompt(req, lean=True, endpoint=name), warm_key, True

    def _compatible_flight(self, uri: str, prefix: str, suffix: str) -> _Flight | None:
        for flight in reversed(list(self._flights.values())):
            if len(prefix) > len(flight.prefix) and flight.can_serve(uri, prefix, suffix):
                return flight
        return None

    def _suggest(self, uri: str, prefix: str, suffix: str, text: str, source: str,
                 language: str = "") -> Suggestion:
        entry = Remembered(uuid.uuid4().hex[:16], prefix, suffix, text, language=language)
        self.memory.remember(uri, entry)
        return Suggestion(entry.id, text, source, _replaced(prefix, suffix, text, language))

    async def _await(self, flight: _Flight, ticket: _Ticket, typed: str, source: str,
                     suffix: str) -> Suggestion | None:
        outcome: tuple[str, str] | None = None
        try:
            await asyncio.wait({flight.first, ticket.superseded}, return_when=asyncio.FIRST_COMPLETED)
            if flight.first.done() and not flight.first.cancelled():
                outcome = flight.first.result()
                if (outcome is not None and not flight.task.done()
                        and ((len(outcome[1]) <= len(typed) and typed.startswith(outcome[1]))
                             or "\n" in suffix[: len(suffix) - len(flight.suffix)])):
                    # typed past the early lines, or Enter moved a closer to the next
                    # line (the early lines may stop before the suggestion's own):
                    # the rest of the stream may still agree
                    await asyncio.wait({flight.task, ticket.superseded}, return_when=asyncio.FIRST_COMPLETED)
                if (outcome is not None and flight.task.done() and not flight.task.cancelled()
                        and flight.task.exception() is None and flight.task.result() is not None):
                    outcome = flight.task.result()  # the whole answer, not only its early lines
        finally:
            flight.refs -= 1
            if flight.refs <= 0 and not flight.task.done():
                if ticket.superseded.done():
                    self._abort(flight)  # superseded by an incompatible request
                elif not flight.first.done():  # cancelled: the next keystroke may adopt it
                    flight.orphan_timer = asyncio.get_running_loop().call_later(
                        ADOPT_GRACE_MS / 1000, self._abort_if_orphan, flight)
                # else: the early lines are shown; the rest streams into memory
        if ticket.superseded.done() or outcome is None:
            return None
        suggestion_id, text = outcome
        hit = follow(Remembered(suggestion_id, flight.prefix, flight.suffix, text, language=flight.language),
                     flight.prefix + typed, suffix)
        if hit is None or not hit.text:
            return None
        return Suggestion(suggestion_id, hit.text, source, hit.replace)

    def _adopt(self, flight: _Flight) -> None:
        flight.refs += 1
        if flight.orphan_timer is not None:
            flight.orphan_timer.cancel()
            flight.orphan_timer = None

    def _abort(self, flight: _Flight) -> None:
        """Cancel the HTTP exchange (closing its connection).

        Except for a request that is building the cache of a new prompt
        head: cut off, DeepSeek would not persist its prefix and the next
        full prompt would pay for the whole head again (thousands of tokens
        against the few output tokens left). It runs on into memory.
        """
        if flight.orphan_timer is not None:
            flight.orphan_timer.cancel()
            flight.orphan_timer = None
        if flight.task.done() or flight.builds_cache:
            return
        flight.task.cancel()
        self._warm_spare_connection(flight.endpoint.client if flight.endpoint else None)

    def _abort_if_orphan(self, flight: _Flight) -> None:
        flight.orphan_timer = None
        if flight.refs <= 0:
            self._abort(flight)

    def _cancel_orphans(self, uri: str, prefix: str, suffix: str) -> None:
        """Abort orphaned requests of ``uri`` that this request cannot adopt."""
        for flight in list(self._flights.values()):
            if flight.uri == uri and flight.refs <= 0 and not flight.can_serve(uri, prefix, suffix):
                self._abort(flight)

    def _warm_spare_connection(self, client: DeepSeekClient | None = None) -> None:
        client = client or self.client
        if client is None:
            return
        task = asyncio.get_running_loop().create_task(client.warm())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _start(self, key: str, doc: DocumentSnapshot, prefix: str, suffix: str,
               fim: FimPrompt, model: str, request_id: object, warm_key: str | None,
               endpoint: Endpoint | None = None) -> _Flight:
        endpoint = endpoint or self.primary()
        first: asyncio.Future[tuple[str, str] | None] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._guarded(first, warm_key, self._fetch(
            key, doc, prefix, suffix, fim, model, request_id, first, warm_key, endpoint), endpoint))
        flight = _Flight(key, doc.uri, prefix, suffix, task, first, builds_cache=warm_key is not None,
                         endpoint=endpoint, language=doc.language_id)
        self._flights[key] = flight
        self.stats.requests_sent += 1
        if len(self._flights) == 1:
            # "waiting" in the status bar can lag a little; the request must not
            asyncio.get_running_loop().call_later(STATUS_LAG_S, self._waiting_state)
        return flight

    def _waiting_state(self) -> None:
        if self._flights:
            self.on_state()

    async def _fetch(self, key: str, doc: DocumentSnapshot, prefix: str, suffix: str, fim: FimPrompt,
                     model: str, request_id: object, first: asyncio.Future[tuple[str, str] | None],
                     warm_key: str | None = None, endpoint: Endpoint | None = None) -> tuple[str, str] | None:
        """Run one FIM request at ``endpoint`` (the primary when None); resolve
        ``first`` as soon as something is worth showing."""
        self.tracer.event("fetch_start", id=request_id)
        s = self.settings
        endpoint = endpoint or self.primary()
        client = endpoint.client
        assert client is not None
        request = FimRequest(model=model, prompt=fim.prompt, suffix=fim.suffix,
                             max_tokens=fim.max_tokens, stop=fim.stop,
                             temperature=s.completion_temperature)
        tracer = self.tracer
        suggestion_id = uuid.uuid4().hex[:16]
        lines_before = prefix[max(0, len(prefix) - 3000):]
        previous_line = prefix[: len(prefix) - len(fim.line_prefix)].rstrip("\n").rsplit("\n", 1)[-1]

        def clean(raw: str) -> str:
            text = postprocess(raw, multiline=fim.multiline, line_prefix=fim.line_prefix,
                               line_suffix=fim.line_suffix, following=suffix[:2000],
                               context_before=lines_before, max_lines=s.completion_max_lines,
                               previous_line=previous_line, language_id=doc.language_id)
            return "" if has_placeholder(text) else text  # i14: never suggest a masked token back

        def settle(text: str) -> tuple[str, str] | None:
            outcome = (suggestion_id, text) if text else None
            if not first.done():
                # what the user waits for: the first answer, not the whole stream
                self.rhythm.note_latency(self.clock() - started)
            if text:
                self.memory.remember(doc.uri, Remembered(suggestion_id, prefix, suffix, text,
                                                         language=doc.language_id))
            if not first.done():
                first.set_result(outcome)
            return outcome

        def trace(event: str, fields: dict) -> None:
            tracer.event(event, id=request_id, **fields)

        started = self.clock()
        received: list[str] = []

        def on_text(piece: str) -> bool:
            """Show the first lines early; True (stop generating) once the rest would be cut."""
            received.append(piece)
            if "\n" not in piece:
                return False
            raw = "".join(received)
            complete = raw[: raw.rfind("\n")]
            if not first.done():
                lines = sum(1 for line in complete.split("\n") if line.strip())
                if lines >= EARLY_LINES or (lines and self.clock() - started >= EARLY_AFTER_S
                                            and not indent_undecided(complete, fim.line_prefix)):
                    early = clean(complete)
                    if early:
                        tracer.event("early_answer", id=request_id, lines=lines)
                        settle(early)
            return block_finished(complete, fim.line_prefix, s.completion_max_lines)

        timeout_s = s.completion_timeout_ms / 1000
        try:
            if fim.multiline:
                result = await client.fim_stream(request, on_text, timeout_s=timeout_s,
                                                 trace=trace if tracer.enabled else None)
            else:
                result = await client.fim(request, timeout_s=timeout_s,
                                          trace=trace if tracer.enabled else None)
        except asyncio.CancelledError:
            endpoint.breaker.release_probe()
            if warm_key is not None:
                self._warm.pop(warm_key, None)  # the next request builds the cache instead
            tracer.event("http_done", id=request_id, outcome="cancelled")
            if not first.done():
                first.set_result(None)
            raise
        except DeepSeekError as exc:
            if warm_key is not None:
                self._warm.pop(warm_key, None)
            tracer.event("http_done", id=request_id, outcome="error")
            if endpoint.primary:  # (the one-argument form is the seam the CLI hooks)
                self._failed(exc)
            else:
                self._failed(exc, endpoint)
            if not first.done():
                first.set_result(None)
            return None
        finally:
            self._flights.pop(key, None)
            if not self._flights:
                self.on_state()
        tracer.event("http_done", id=request_id, outcome="stopped" if result.stopped else "ok")
        if result.stopped:
            self._warm_spare_connection(client)  # stopping closed the connection
        if warm_key is not None:
            self._warm[warm_key] = self.clock()  # persisted a few seconds from now
        was_failing = self.last_error is not None or endpoint.breaker.state != "closed"
        if endpoint.primary:
            self.resume()  # a success after a 401/402 (a top-up, a new key): ghost text comes back
        endpoint.breaker.record_success()
        self.last_error = None
        if self._outage_over():
            self._reported.discard("unavailable")
            if endpoint.primary:
                self._reported.discard("failover")  # DeepSeek is back for good: a next failover is news
        if was_failing:
            self.on_state()
        usage = self.usage_estimate.observe(fim, result.usage) if not result.stopped else \
            self.usage_estimate.estimate(fim, result.usage.completion_tokens)
        if endpoint.primary:
            self.on_usage(result.model or model, usage)
        else:
            self.on_usage(result.model or model, usage, endpoint)

        text = clean(result.text)
        self.results.put(key, text)
        return settle(text)

    # -- failures ------------------------------------------------------
    async def _guarded(self, first: asyncio.Future[tuple[str, str] | None], warm_key: str | None,
                       fetch: Coroutine[Any, Any, tuple[str, str] | None],
                       endpoint: Endpoint | None = None) -> tuple[str, str] | None:
        """Run one flight so that whatever fails inside it, its waiters get an answer.

        An exception that is not a :class:`DeepSeekError` (a bug, an answer
        of an unexpected shape) is logged, reported once, and the waiting
        editor requests get "no suggestion" instead of waiting forever.
        """
        try:
            return await fetch
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.stats.errors += 1
            # a probe that ended in a bug must not hold the breaker
            (endpoint.breaker if endpoint else self.breaker).release_probe()
            if warm_key is not None:
                self._warm.pop(warm_key, None)
            log.error("completion request failed unexpectedly: %s: %s", type(exc).__name__, exc,
                      exc_info=exc)
            self._report("internal", f"Ghost text hit an internal error ({type(exc).__name__}); "
                                     "see the server log. Other requests go on.")
            return None
        finally:
            if not first.done():
                first.set_result(None)

    def close(self) -> None:
        """Shutting down: cancel the requests in flight and stop reporting problems."""
        self._closing = True
        for flight in list(self._flights.values()):
            if flight.orphan_timer is not None:
                flight.orphan_timer.cancel()
            flight.task.cancel()

    def _outage_over(self) -> bool:
        """Has the API been healthy long enough to call the last outage over?

        An outage starts with the failure that opens the breaker (one
        warning) and lasts until a request succeeds at least
        ``OUTAGE_QUIET_S`` after the last failure: a flapping API (a few
        503s, one success, again) is one outage, one warning.
        """
        return self.clock() - self._last_failure_at >= OUTAGE_QUIET_S

    def report_missing_key(self) -> None:
        """Say once that there is no key (completions stay off until there is one)."""
        self._report("missing-key", f"{MissingApiKeyError()} {MissingApiKeyError.hint} "
                                    "Completions stay off until then.")

    def told(self, kind: str) -> bool:
        """True when the problem ``kind`` (e.g. "missing-key") was reported and still stands."""
        return kind in self._reported

    def _report(self, kind: str, message: str) -> None:
        """Tell the user once per kind of problem (until it is resolved)."""
        if kind in self._reported or self._closing:
            return
        self._reported.add(kind)
        self.on_problem(kind, message)

    def _failed(self, exc: DeepSeekError, endpoint: Endpoint | None = None) -> None:
        self.stats.errors += 1
        endpoint = endpoint or self.primary()
        if not endpoint.primary:  # fix14: its message and hint name the fallback and its key variable
            exc.at_endpoint(endpoint.name, endpoint.config.api_key_env if endpoint.config else "")
        where = "" if endpoint.primary else f"fallback {endpoint.name!r}: "
        log.warning("completion request failed: %s%s", where, exc)
        self.last_error = f"{where}{exc}"
        if not endpoint.primary and isinstance(exc, (AuthenticationError, InsufficientBalanceError,
                                                     BadRequestError, ServerError, RateLimitError,
                                                     APIConnectionError, StreamError)):
            # a fallback failing: its own breaker opens (a refused key keeps it out longest);
            # nothing else pauses, the primary's state is its own
            hard = isinstance(exc, (AuthenticationError, InsufficientBalanceError, BadRequestError))
            endpoint.breaker.record_failure(endpoint.breaker.cooldown_max_s if hard else
                                            getattr(exc, "retry_after", None))
            self._report(f"fallback:{endpoint.name}:{type(exc).__name__}",
                         f"Fallback endpoint {endpoint.name!r} failed: {exc} {exc.hint}")
        elif isinstance(exc, (AuthenticationError, InsufficientBalanceError)):
            self.paused = f"{exc} {exc.hint} {PAUSE_ENDS}"
            self._api_pause = True
            kind = "auth" if isinstance(exc, AuthenticationError) else "balance"
            self._report(kind, f"{exc} {exc.hint} {PAUSE_ENDS}")
        elif isinstance(exc, MissingApiKeyError):
            self._report("missing-key", f"{exc} {exc.hint}")
        elif isinstance(exc, (RateLimitError, ServerError, APIConnectionError, StreamError)):
            # StreamError: a stream cut off or of another kind (an HTML page): the service is failing
            retry_after = getattr(exc, "retry_after", None)
            self.breaker.record_failure(retry_after)
            self._last_failure_at = self.clock()
            if self.breaker.state != "closed":
                standin = answering(self.fallbacks, "fim")
                if standin is not None:
                    self._report("failover", f"{exc} Ghost text comes from the fallback endpoint "
                                             f"{standin.name!r} until DeepSeek answers again.")
                else:
                    self._report("unavailable", f"{exc} {exc.hint}")
        elif isinstance(exc, BadRequestError):
            self._report(f"bad-request:{exc.api_message}", f"{exc} {exc.hint}")
        self.on_state()

    def state(self) -> tuple[str, str | None]:
        """("idle"|"waiting"|"error"|"paused"|"disabled", why)."""
        if self.paused:
            return "paused", self.paused
        if self.client is None or not self.client.api_key:
            return "error", f"{MissingApiKeyError()} {MissingApiKeyError.hint}"  # the problem, then the fix
        if answering(self.endpoints(), "fim") is None or self.last_error:
            return "error", self.last_error
        if self._flights:
            return "waiting", None
        if not self.settings.completion_enabled:
            return "disabled", None
        return "idle", None
