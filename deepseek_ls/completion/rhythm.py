"""Adaptive debounce from the typing rhythm and the measured latency.

A request should leave when the user pauses, not between two keystrokes of
a word. Per document we keep the recent intervals between edits (pauses
longer than ``TYPING_GAP_MAX_MS`` are not rhythm) and the recent upstream
latencies. The debounce is the 95th percentile of the typing intervals
(so 19 keystrokes in 20 supersede the wait before it fires), capped so
that debounce + median latency stays within ``GHOST_BUDGET_MS``: when the
service is slow we wait less, to keep ghost text arriving in a pause.

A line break is different: most people stop to think after Enter. The
pauses after line breaks are kept apart; when nine in ten of them last
longer than the time to the first answer, waiting only delays the ghost
text (and makes answers arrive after the user has moved on), so the
request leaves after the minimum debounce.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from ..lazy import LazyModule
from ..settings import DEBOUNCE_MS
from . import config as C

if TYPE_CHECKING:
    import statistics
else:
    statistics = LazyModule("statistics")  # at the first measured latency, not at start-up


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def is_line_break(inserted: str) -> bool:
    """An edit that ends a line: Enter, with whatever indentation the editor added."""
    head, nl, tail = inserted.rpartition("\n")
    return bool(nl) and not tail.strip(" \t") and not head.strip(" \t\r\n")


class Rhythm:
    """The debounce of automatic requests, learned per server from typing and latency.

    ``base_ms``: the debounce until enough rhythm is known (and always when
    not ``adaptive``). Times are seconds on the engine's clock
    (:meth:`note_edit`, :meth:`note_latency`); the debounce is milliseconds.
    """

    def __init__(self, base_ms: float = DEBOUNCE_MS, adaptive: bool = True) -> None:
        self.base_ms = base_ms
        self.adaptive = adaptive
        self._intervals: deque[float] = deque(maxlen=C.RHYTHM_WINDOW)
        self._after_breaks: deque[float] = deque(maxlen=C.RHYTHM_WINDOW)
        self._latencies: deque[float] = deque(maxlen=C.RHYTHM_WINDOW)
        self._last_edit: dict[str, tuple[float, bool]] = {}

    def note_edit(self, uri: str, now_s: float, inserted: str = "") -> None:
        """Record one edit (keystroke) of ``uri`` at monotonic time ``now_s``.

        ``inserted``: the text the edit inserted (tells line breaks apart).
        """
        last = self._last_edit.get(uri)
        self._last_edit[uri] = (now_s, is_line_break(inserted))
        if last is None:
            return
        gap_ms = (now_s - last[0]) * 1000
        if gap_ms <= 0:
            return
        if last[1]:
            self._after_breaks.append(min(gap_ms, C.PAUSE_CAP_MS))
        elif gap_ms <= C.TYPING_GAP_MAX_MS:
            self._intervals.append(gap_ms)

    def note_latency(self, seconds: float) -> None:
        """Record the time (s) from a request leaving to its first answer worth showing."""
        self._latencies.append(seconds * 1000)

    def forget(self, uri: str) -> None:
        """The document was closed."""
        self._last_edit.pop(uri, None)

    def debounce_ms(self, uri: str | None = None) -> float:
        """The wait before an automatic request for ``uri`` leaves."""
        if not self.adaptive:
            return self.base_ms
        latency = statistics.median(self._latencies) if self._latencies else 250.0
        last = self._last_edit.get(uri) if uri is not None else None
        if last is not None and last[1] and len(self._after_breaks) >= 8:
            short_pause = _quantile(list(self._after_breaks), 0.10)
            if short_pause - latency >= C.DEBOUNCE_MIN_MS:
                return C.DEBOUNCE_MIN_MS
        if len(self._intervals) < 8:
            return self.base_ms
        typing = _quantile(list(self._intervals), 0.95)
        cap = max(C.DEBOUNCE_MIN_MS, C.GHOST_BUDGET_MS - latency)
        return max(C.DEBOUNCE_MIN_MS, min(typing, cap, C.DEBOUNCE_MAX_MS))
