"""Closers an editor auto-inserted after the cursor, and where a text closes them.

Shared by the oracle (the fill-in-the-middle answer stops where the truth closes the closers the
suffix begins with) and the benchmark's editor model (tests/bench/editor_model.py).  Line breaks
may be ``\\n`` or ``\\r\\n``.
"""
from __future__ import annotations

import re

OPEN = {"(": ")", "[": "]", "{": "}"}
CLOSE = {v: k for k, v in OPEN.items()}
QUOTES = "\"'"
_SEG = re.compile(r"((?:\r?\n[ \t]*)?)([)\]}\"'])")


def parse_pending(x: str) -> list[tuple[str, str]] | None:
    """Split ``x`` (the editor-inserted text right after the cursor) into (line break +
    indentation, closer) segments, innermost first; None when ``x`` is not such text.
    ``")"`` -> [("", ")")]; ``"\\n    ]"`` -> [("\\n    ", "]")]; ``""`` -> []."""
    out, i = [], 0
    while i < len(x):
        m = _SEG.match(x, i)
        if not m:
            return None
        out.append((m.group(1), m.group(2)))
        i = m.end()
    return out


def leading_pending(suffix: str) -> list[tuple[str, str]]:
    """The closer segments ``suffix`` starts with (as many as parse), e.g. ``")\\n\\nx = 1"`` -> [("", ")")]."""
    out, i = [], 0
    while True:
        m = _SEG.match(suffix, i)
        if not m:
            return out
        out.append((m.group(1), m.group(2)))
        i = m.end()


def closing_positions(segs: list[tuple[str, str]], t: str, quote: str = "") -> list[int]:
    """Indices in ``t`` of the characters that close ``segs[0]``, ``segs[1]``, ... in order (as
    many as ``t`` closes).  A bracket segment is closed by its closer at depth 0 of ``t``'s own
    brackets and strings (comments skipped); a quote segment (the cursor is inside that string)
    by the first unescaped same quote.  A mismatched closer at depth 0 stops the scan.

    ``quote``: the string literal the cursor is in (a bracket typed inside it was auto-closed
    there): until ``t`` ends that string, other quotes and ``#`` are text and brackets still pair
    (``r'(|)'`` + ``?P<d>[^"\\'])...`` closes the ``)`` at the ``)`` after ``]``)."""
    pos: list[int] = []
    k, i, stack = 0, 0, []
    comment = False
    if segs and segs[0][1] in QUOTES:
        quote = ""  # a quote segment: the cursor's string is the one being closed
    while i < len(t) and k < len(segs):
        c = t[i]
        closer = segs[k][1]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = ""
            elif c in OPEN:
                stack.append(c)
            elif c in CLOSE:
                if stack and stack[-1] in OPEN:
                    stack.pop()
                elif c == closer:
                    pos.append(i)
                    k += 1
            i += 1
            continue
        if comment:
            comment = c != "\n"
            i += 1
            continue
        if not stack and closer in QUOTES:
            if c == "\\":
                i += 2
                continue
            if c == closer:
                pos.append(i)
                k += 1
            i += 1
            continue
        if stack and stack[-1] in QUOTES:
            if c == "\\":
                i += 2
                continue
            if c == stack[-1]:
                stack.pop()
            i += 1
            continue
        if c == "#":
            comment = True
        elif c in OPEN or c in QUOTES:
            stack.append(c)
        elif c in CLOSE:
            if stack:
                stack.pop()
            elif c == closer:
                pos.append(i)
                k += 1
            else:
                break
        i += 1
    return pos


def consume(x: str, t: str, quote: str = "") -> str | None:
    """What remains of the pending text ``x`` after ``t`` is typed before it (each segment ``t``
    closes goes, with its line break and indentation); None if ``x`` does not parse.
    ``quote``: the string literal the cursor is in (see :func:`closing_positions`)."""
    segs = parse_pending(x)
    if segs is None:
        return None
    k = len(closing_positions(segs, t, quote))
    return "".join(a + b for a, b in segs[k:])


def cursor_quote(line_before: str) -> str:
    """The quote of the string literal open at the end of ``line_before`` (the cursor's line up
    to the cursor), or ''."""
    opened = open_at_end(line_before)
    return opened[-1] if opened and opened[-1] in QUOTES else ""


def open_at_end(t: str) -> list[str]:
    """The brackets and quotes ``t`` opens and leaves open (its own, innermost last); closers of
    brackets ``t`` did not open are ignored.  ``"f(a, [b"`` -> ["(", "["]; ``"x = 'ab"`` -> ["'"]."""
    stack: list[str] = []
    i, comment = 0, False
    while i < len(t):
        c = t[i]
        if comment:
            comment = c != "\n"
        elif stack and stack[-1] in QUOTES:
            if c == "\\":
                i += 1
            elif c == stack[-1]:
                stack.pop()
            elif c == "\n":
                stack.pop()          # an unterminated one-line string ends at the line break
        elif c == "#":
            comment = True
        elif c in OPEN or c in QUOTES:
            stack.append(c)
        elif c in CLOSE and stack and OPEN.get(stack[-1]) == c:
            stack.pop()
        i += 1
    return stack
