"""Early display of a streamed multi-line answer, and stopping it once the rest would be cut.

Multi-line answers stream. The editor gets the complete lines received so
far once there are ``EARLY_LINES`` of them, or once ``EARLY_AFTER_S`` has
passed since the request left with at least one (and the first line's
indentation is decided). The rest lands in memory, so accepting the first
lines shows the next ones at once. The stream is stopped as soon as
post-processing would cut everything after what was received (generating
it would be paid for nothing).
"""

from __future__ import annotations

from collections.abc import Callable

from .postprocess import block_finished, indent_undecided

EARLY_LINES = 3
EARLY_AFTER_S = 0.3


def early_enough(complete: str, lines: int, elapsed_s: float, line_prefix: str) -> bool:
    """Are ``lines`` complete non-blank lines (``complete``), ``elapsed_s`` after the request left, worth showing?"""
    return lines >= EARLY_LINES or bool(lines and elapsed_s >= EARLY_AFTER_S
                                        and not indent_undecided(complete, line_prefix))


class StreamReader:
    """The ``on_text`` callback of one streamed FIM request.

    ``waiting()``: True while nothing was shown yet; ``elapsed()``: seconds
    since the request left; ``show(complete, lines)``: show the complete
    lines received so far.
    """

    def __init__(self, line_prefix: str, max_lines: int, *, waiting: Callable[[], bool],
                 elapsed: Callable[[], float], show: Callable[[str, int], None]) -> None:
        self.line_prefix = line_prefix
        self.max_lines = max_lines
        self._waiting = waiting
        self._elapsed = elapsed
        self._show = show
        self._received: list[str] = []

    def on_text(self, piece: str) -> bool:
        """Take one streamed piece; True (stop generating) once the rest would be cut."""
        self._received.append(piece)
        if "\n" not in piece:
            return False
        raw = "".join(self._received)
        complete = raw[: raw.rfind("\n")]
        if self._waiting():
            lines = sum(1 for line in complete.split("\n") if line.strip())
            if early_enough(complete, lines, self._elapsed(), self.line_prefix):
                self._show(complete, lines)
        return block_finished(complete, self.line_prefix, self.max_lines)
