"""The only place where LSP positions become string offsets and back.

LSP positions count ``character`` in the negotiated encoding (UTF-16 code
units by default, UTF-8 bytes or UTF-32 code points when negotiated); Python
strings index code points. Lines end at ``\\n``, ``\\r\\n`` or ``\\r`` only,
as the LSP specification says: form feeds and U+2028 stay inside a line
(``str.splitlines`` would split there and shift every later line).

Out-of-range positions are clamped, never an error: a line past the end
means the end of the document, a character past the end of its line means
the end of that line (before the line break). Nothing here mutates its
arguments.

The server keeps its documents in :mod:`deepseek_ls.documents` (same rules,
applied per line); the functions here work on any string, such as a
snapshot's ``\\n``-only text.
"""

from __future__ import annotations

import re
from typing import Literal

Encoding = Literal["utf-16", "utf-8", "utf-32"]

_EOL = re.compile(r"\r\n|\r|\n")


def _has_lone_cr(text: str) -> bool:
    return "\r" in text and text.count("\r") != text.count("\r\n")


def line_bounds(text: str, line: int) -> tuple[int, int]:
    """Return ``(start, end)`` offsets of ``line`` without its line break.

    A line past the last one gives ``(len(text), len(text))``.
    """
    if line < 0:
        line = 0
    n = len(text)
    if not _has_lone_cr(text):
        parts = text.split("\n", line)
        if len(parts) <= line:
            return n, n
        start = n - len(parts[-1])
        end = text.find("\n", start)
        if end < 0:
            end = n
        elif end > start and text[end - 1] == "\r":
            end -= 1
        return start, end
    start = 0
    for i, match in enumerate(_EOL.finditer(text)):
        if i == line:
            return start, match.start()
        start = match.end()
    # the last line (no break after it), or past the end
    count = len(_EOL.findall(text))
    return (start, n) if line == count else (n, n)


def units(s: str, encoding: Encoding) -> int:
    """Length of ``s`` in the code units of ``encoding``."""
    if encoding == "utf-32" or s.isascii():
        return len(s)
    if encoding == "utf-16":
        return len(s) + sum(1 for ch in s if ord(ch) > 0xFFFF)
    return len(s.encode("utf-8", "surrogatepass"))


def _char_width(ch: str, encoding: Encoding) -> int:
    cp = ord(ch)
    if encoding == "utf-16":
        return 2 if cp > 0xFFFF else 1
    if encoding == "utf-8":
        return 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4
    return 1


def column_to_index(line_text: str, character: int, encoding: Encoding) -> int:
    """Code-point index in ``line_text`` of a ``character`` counted in ``encoding``.

    A position inside a multi-unit character rounds forward to the next
    character; one past the end clamps to the end of the line.
    """
    if character <= 0:
        return 0
    if encoding == "utf-32" or line_text.isascii():
        return min(character, len(line_text))
    seen = 0
    for index, ch in enumerate(line_text):
        if seen >= character:
            return index
        seen += _char_width(ch, encoding)
    return len(line_text)


def offset_at(text: str, line: int, character: int, encoding: Encoding = "utf-16") -> int:
    """Offset (code points) in ``text`` of the LSP position ``(line, character)``."""
    start, end = line_bounds(text, line)
    return start + column_to_index(text[start:end], character, encoding)


def position_at(text: str, offset: int, encoding: Encoding = "utf-16") -> tuple[int, int]:
    """LSP ``(line, character)`` of the code-point ``offset`` in ``text``."""
    offset = max(0, min(offset, len(text)))
    if "\r" not in text:  # LF only (every snapshot's text): count in place, no copy
        start = text.rfind("\n", 0, offset) + 1
        return text.count("\n", 0, offset), units(text[start:offset], encoding)
    head = text[:offset]
    if not _has_lone_cr(head):
        line = head.count("\n")
        start = head.rfind("\n") + 1
    else:
        line = 0
        start = 0
        for match in _EOL.finditer(head):
            line += 1
            start = match.end()
    if start == offset and offset > 0 and text[offset - 1] == "\r" and offset < len(text) and text[offset] == "\n":
        # inside a CRLF: treat as the end of the previous line
        line -= 1
        start = head[: offset - 1].rfind("\n") + 1
        return line, units(text[start : offset - 1], encoding)
    return line, units(text[start:offset], encoding)
