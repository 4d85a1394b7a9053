"""FIM requests in flight: joining them, adopting orphans, aborting.

A request in flight is shared by every editor request that can use its
answer: an identical one (same prompt), or one made a few keystrokes later
whose text still agrees with it (the answer is then served from what was
typed since). When the last waiter goes away the HTTP exchange is aborted,
which closes its connection at once, except:

* a waiter cancelled by the editor (``$/cancelRequest``, sent before the next
  keystroke's request) leaves the exchange running for ``ADOPT_GRACE_MS``, for
  that next request to adopt;
* a request building the prompt cache of a new head is never cut off (see
  :meth:`Flights.abort`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..api.client import DeepSeekClient
from ..api.endpoints import Endpoint
from .clock import Clock, Timer
from .memory import Remembered, follow
from .postprocess import AUTO_CLOSERS
from .request import Source, Suggestion
from .tickets import Ticket

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

_AUTO_OR_BLANK = AUTO_CLOSERS + " \t\n"

#: an answer: (suggestion id, cleaned text)
Outcome = tuple[str, str]


@dataclass(eq=False)
class Flight:
    """One FIM request on its way, and what its waiters need to use its answer."""

    key: str
    uri: str
    prefix: str
    suffix: str
    endpoint: Endpoint
    #: the document's LSP language id (for the closer scan)
    language: str = ""
    #: the first full prompt with a new head: DeepSeek caches it only if it completes
    builds_cache: bool = False
    request_id: object = None
    #: the id of the suggestion this request's answer becomes
    suggestion_id: str = ""
    #: when the exchange started (clock seconds), for the latency and early display
    started: float = 0.0
    refs: int = 1
    orphan_timer: Timer | None = None
    #: the first answer worth showing (early lines of a streamed answer, or the whole)
    first: asyncio.Future[Outcome | None] = field(init=False)
    #: the exchange; its result is the whole answer
    task: asyncio.Task[Outcome | None] = field(init=False)

    def __post_init__(self) -> None:
        self.first = asyncio.get_running_loop().create_future()

    def show(self, outcome: Outcome | None) -> None:
        """Resolve the first answer (once; later calls do nothing)."""
        if not self.first.done():
            self.first.set_result(outcome)

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

    def whole_answer(self) -> Outcome | None:
        """The whole answer once the exchange ended with one (None before, or without)."""
        task = self.task
        if task.done() and not task.cancelled() and task.exception() is None:
            return task.result()
        return None


async def _first_of(*futures: asyncio.Future[Any]) -> None:
    """Wait until one of ``futures`` is done (none is cancelled by this)."""
    await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)


class Flights:
    """The requests in flight, by request key.

    ``warm_spare`` is called with the client of an aborted exchange (aborting
    closes its connection; the next request should not pay a new handshake).
    """

    def __init__(self, clock: Callable[[], Clock], warm_spare: Callable[[DeepSeekClient | None], None]) -> None:
        self._clock = clock
        self._warm_spare = warm_spare
        self._by_key: dict[str, Flight] = {}

    def __bool__(self) -> bool:
        return bool(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[Flight]:
        return iter(list(self._by_key.values()))

    def get(self, key: str) -> Flight | None:
        return self._by_key.get(key)

    def add(self, flight: Flight) -> None:
        self._by_key[flight.key] = flight

    def remove(self, flight: Flight) -> None:
        self._by_key.pop(flight.key, None)

    def pending(self) -> list[asyncio.Task[Outcome | None]]:
        """The exchanges still running."""
        return [flight.task for flight in self._by_key.values()]

    def compatible(self, uri: str, prefix: str, suffix: str) -> Flight | None:
        """The newest flight made a few keystrokes before this cursor that may still agree."""
        for flight in reversed(list(self._by_key.values())):
            if len(prefix) > len(flight.prefix) and flight.can_serve(uri, prefix, suffix):
                return flight
        return None

    def adopt(self, flight: Flight) -> None:
        """One more waiter (keeps an orphan from being aborted)."""
        flight.refs += 1
        if flight.orphan_timer is not None:
            flight.orphan_timer.cancel()
            flight.orphan_timer = None

    def cancel_orphans(self, uri: str, prefix: str, suffix: str) -> None:
        """Abort orphaned requests of ``uri`` that a request at this cursor cannot adopt."""
        for flight in list(self._by_key.values()):
            if flight.uri == uri and flight.refs <= 0 and not flight.can_serve(uri, prefix, suffix):
                self.abort(flight)

    def abort(self, flight: Flight) -> None:
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
        self._warm_spare(flight.endpoint.client)

    def _abort_if_orphan(self, flight: Flight) -> None:
        flight.orphan_timer = None
        if flight.refs <= 0:
            self.abort(flight)

    def close(self) -> None:
        """Cancel every exchange (shutting down)."""
        for flight in list(self._by_key.values()):
            if flight.orphan_timer is not None:
                flight.orphan_timer.cancel()
            flight.task.cancel()

    async def answer(self, flight: Flight, ticket: Ticket, typed: str, source: Source,
                     suffix: str) -> Suggestion | None:
        """Wait for ``flight``'s answer as one of its waiters, for the cursor after ``typed``.

        ``typed``: what the user typed after the flight's cursor, ``suffix``:
        the text after the cursor now. None when ``ticket`` is superseded
        first, or the answer does not fit what was typed since.
        """
        outcome: Outcome | None = None
        try:
            await _first_of(flight.first, ticket.superseded)
            if flight.first.done() and not flight.first.cancelled():
                outcome = flight.first.result()
                if (outcome is not None and not flight.task.done()
                        and ((len(outcome[1]) <= len(typed) and typed.startswith(outcome[1]))
                             or "\n" in suffix[: len(suffix) - len(flight.suffix)])):
                    # typed past the early lines, or Enter moved a closer to the next
                    # line (the early lines may stop before the suggestion's own):
                    # the rest of the stream may still agree
                    await _first_of(flight.task, ticket.superseded)
                if outcome is not None:
                    outcome = flight.whole_answer() or outcome  # the whole answer, not only its early lines
        finally:
            self._leave(flight, ticket)
        if ticket.superseded.done() or outcome is None:
            return None
        suggestion_id, text = outcome
        hit = follow(Remembered(suggestion_id, flight.prefix, flight.suffix, text, language=flight.language),
                     flight.prefix + typed, suffix)
        if hit is None or not hit.text:
            return None
        return Suggestion(suggestion_id, hit.text, source, hit.replace)

    def _leave(self, flight: Flight, ticket: Ticket) -> None:
        """A waiter is done: the last one aborts the exchange, or leaves it for adoption."""
        flight.refs -= 1
        if flight.refs > 0 or flight.task.done():
            return
        if ticket.superseded.done():
            self.abort(flight)  # superseded by an incompatible request
        elif not flight.first.done():  # cancelled: the next keystroke may adopt it
            flight.orphan_timer = self._clock().call_later(ADOPT_GRACE_MS / 1000, self._abort_if_orphan, flight)
        # else: the early lines are shown; the rest streams into memory
