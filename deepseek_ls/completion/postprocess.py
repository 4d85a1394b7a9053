"""Clean a raw FIM answer into a suggestion worth showing.

In order: cut a single-line answer at the line end; cut a multi-line one at
a blank line, a dedent below the cursor's block, or the line limit; trim
text that repeats what already follows the cursor; cut at a closing bracket
that has no opener (the suffix closes it); drop empty, whitespace-only and
repetitive answers. Pure functions of strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {")": "(", "]": "[", "}": "{"}
_QUOTES = "\"'`"


def _indent_width(line: str) -> int:
    width = 0
    for ch in line:
        if ch == " ":
            width += 1
        elif ch == "\t":
            width += 4
        else:
            break
    return width


def _code_chars(text: str, comments: bool = False):
    """Yield ``(index, char)`` for characters outside simple string literals.

    Quotes do not span lines; with ``comments`` a ``#`` ends the line.
    """
    quote = ""
    escaped = False
    for i, ch in enumerate(text):
        if ch == "\n":
            quote, escaped = "", False
            yield i, ch
        elif quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in _QUOTES:
            quote = ch
        elif comments and ch == "#":
            quote = "\n"  # skip to the end of the line
        else:
            yield i, ch


def _unmatched_closers(stack: list[str], chars: Iterable[tuple[int, str]]) -> Iterator[int]:
    """Push openers onto ``stack`` and pop the closers they match; yield the
    offset of every closer that matches nothing on it."""
    for i, ch in chars:
        if ch in _OPEN:
            stack.append(ch)
        elif ch in _CLOSE:
            if stack and stack[-1] == _CLOSE[ch]:
                stack.pop()
            else:
                yield i


def _open_brackets(text: str) -> list[str]:
    """Unmatched openers in ``text``, ignoring strings and ``#`` comments."""
    stack: list[str] = []
    for _ in _unmatched_closers(stack, _code_chars(text, comments=True)):
        stack.clear()
    return stack


def cut_unbalanced(text: str, context_before: str) -> str:
    """Cut ``text`` before the first closer that has no opener in context or text."""
    for i in _unmatched_closers(_open_brackets(context_before), _code_chars(text)):
        return text[:i]
    return text


def trim_suffix_overlap(text: str, line_suffix: str) -> str:
    """Drop the end of ``text`` that repeats the start of the rest of the line."""
    rest = line_suffix.rstrip()
    if not rest or "\n" in text.rstrip("\n"):
        last_line_start = text.rfind("\n") + 1
    else:
        last_line_start = 0
    tail = text[last_line_start:]
    for k in range(min(len(rest), len(tail)), 0, -1):
        if tail.endswith(rest[:k]) and (k == len(rest) or not rest[:k].strip().isalnum()):
            return text[: len(text) - k]
    return text


def trim_repeated_lines(text: str, following: str) -> str:
    """Cut ``text`` where it starts repeating the lines after the cursor."""
    follow = [line.strip() for line in following.split("\n")[1:] if line.strip()]
    if not follow:
        return text
    first = follow[0]
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if i == 0:
            continue
        if line.strip() == first and len(first) >= 4:
            return "\n".join(lines[:i]).rstrip() if i else ""
    return text


def is_repetitive(text: str) -> bool:
    """Degenerate output: one line three times in a row, or a short unit looping."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    for a, b, c in zip(lines, lines[1:], lines[2:]):
        if a == b == c:
            return True
    compact = text.strip()
    if len(compact) >= 24 and re.fullmatch(r"(.{1,8}?)\1{5,}.{0,8}", compact, re.S):
        return True
    return False


def cut_block(text: str, line_prefix: str, max_lines: int) -> str:
    """Cut a multi-line answer at a blank line, a dedent, or ``max_lines``."""
    cursor_line_blank = not line_prefix.strip()
    base = _indent_width(line_prefix) if cursor_line_blank else _indent_width(line_prefix) + 1
    lines = text.split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        if i > 0:
            if not line.strip():
                break
            if _indent_width(line) < base and not (cursor_line_blank and i == 0):
                break
        kept.append(line)
        if len(kept) >= max_lines:
            break
    return "\n".join(kept)


def _unindent_first_line(text: str, line_prefix: str) -> str:
    """The cursor sits after the indentation: the answer must not re-indent."""
    if line_prefix.strip():
        return text
    first, sep, rest = text.partition("\n")
    return first.lstrip(" \t") + sep + rest if first.strip() else text


def block_finished(text: str, line_prefix: str, max_lines: int) -> bool:
    """True when ``text`` (complete lines of a multi-line answer so far) already
    reaches a point where :func:`cut_block` cuts: nothing more would be kept."""
    text = _unindent_first_line(text, line_prefix)
    lines = text.count("\n") + 1
    kept = cut_block(text, line_prefix, max_lines).count("\n") + 1
    return kept < lines or kept >= max_lines


def postprocess(text: str, *, multiline: bool, line_prefix: str, line_suffix: str,
                following: str, context_before: str, max_lines: int = 12,
                previous_line: str = "") -> str:
    """Turn a raw FIM answer into the suggestion to show ('' to show nothing)."""
    text = text.replace("\r\n", "\n")
    if not multiline:
        text = text.split("\n", 1)[0]
    else:
        text = cut_block(_unindent_first_line(text, line_prefix), line_prefix, max_lines)
        text = trim_repeated_lines(text, following)
    text = cut_unbalanced(text, context_before)
    text = trim_suffix_overlap(text, line_suffix)
    text = text.rstrip()
    if not text.strip() or is_repetitive(text):
        return ""
    if not multiline and text.strip() == line_suffix.strip():
        return ""
    if previous_line.strip() and text.strip() == previous_line.strip() and len(text.strip()) > 3:
        return ""
    return text
