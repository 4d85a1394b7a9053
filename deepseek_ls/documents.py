"""The server's own copy of each open document, kept with LSP's rules.

Plain Python (no LSP types): the handlers pass line/character numbers and
text in, and read :class:`Document` views out.

Rules (LSP 3.17, "Text Documents"):

* Lines end at ``\\n``, ``\\r\\n`` or ``\\r`` only. Form feed, vertical tab,
  U+0085, U+2028, U+2029 and the other characters ``str.splitlines`` breaks
  at stay inside their line.
* ``character`` counts code units of the negotiated position encoding
  (``utf-16`` by default, ``utf-8`` or ``utf-32``); a position inside a
  multi-unit character rounds forward to the next character
  (:func:`deepseek_ls.positions.column_to_index`).
* Out-of-range positions clamp, never fail: a character past its line's end
  means the end of that line (before its line break), a line past the last
  one means the end of the document. A range whose start is after its end is
  taken as the same range written the right way round (as editors do).

Storage is a list of line contents (no line break characters) and a parallel
list of the line breaks that end them (``""`` for the last line). An
incremental change rebuilds only the lines it touches, so a keystroke costs
the touched lines plus one list splice (a move of pointers), never a copy of
the whole text. The full text is joined lazily, once per version.

Line-ending policy: the core (prompt, stops, post-processing, typed-ahead
memory, result cache) sees :attr:`Document.text`, where every line break is
``\\n`` (same lines, same columns as the editor's text, so LSP positions map
onto it directly); :attr:`Document.eol` is the document's own style, and
:func:`to_eol` converts text going back to the editor.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

from .positions import Encoding, column_to_index, units

__all__ = ["Document", "DocumentStore", "normalize_eol", "split_lines", "to_eol"]

_BREAK = re.compile(r"(\r\n|\r|\n)")
_BREAKS = {"\n": "\n", "\r\n": "\r\n", "\r": "\r"}  # one shared object per kind
#: Preference when two line-break styles are equally common.
_EOL_ORDER = ("\n", "\r\n", "\r")


def split_lines(text: str) -> tuple[list[str], list[str]]:
    """``(contents, breaks)`` of ``text`` split with LSP's rules.

    ``contents[i]`` is line ``i`` without its break, ``breaks[i]`` the break
    ending it (``"\\n"``, ``"\\r\\n"`` or ``"\\r"``; ``""`` for the last line).
    There is always at least one line (``""`` for an empty text). Runs at C
    speed: one ``str.split`` for LF-only or CRLF-only text, one ``re.split`` else.
    """
    if "\r" not in text:
        contents = text.split("\n")
        return contents, ["\n"] * (len(contents) - 1) + [""]
    crlf = text.count("\r\n")
    if crlf == text.count("\r") == text.count("\n"):  # CRLF only: no regex needed
        contents = text.split("\r\n")
        return contents, ["\r\n"] * (len(contents) - 1) + [""]
    parts = _BREAK.split(text)
    return parts[0::2], [_BREAKS[b] for b in parts[1::2]] + [""]


def normalize_eol(text: str) -> str:
    """``text`` with every ``\\r\\n`` and lone ``\\r`` turned into ``\\n``."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def to_eol(text: str, eol: str) -> str:
    """``text`` (any line breaks) with every line break written as ``eol``.

    For text going back to the editor: the core works on ``\\n`` only.
    """
    text = normalize_eol(text)
    return text if eol == "\n" else text.replace("\n", eol)


class Document:
    """One open document.

    ``uri``, ``language_id`` and ``version`` as the client sent them; the text
    through :attr:`text` (``\\n`` line breaks), :attr:`raw_text` (the editor's
    exact text) and :attr:`eol` (the most common line break, ``"\\n"`` when
    there is none or on a tie with it).
    """

    __slots__ = ("_breaks", "_eol_counts", "_lines", "_raw", "_size", "_text", "language_id", "uri", "version")

    _lines: list[str]           # line contents, no line break characters
    _breaks: list[str]          # the break ending each line ("" for the last)
    _eol_counts: Counter[str]   # how many of each break
    _size: int                  # len(text), in code points
    _text: str | None           # the joined "\n" text, None until asked for
    _raw: str | None            # the editor's exact text, None until asked for

    def __init__(self, uri: str, text: str, *, language_id: str = "plaintext", version: int | None = None) -> None:
        self.uri = uri
        self.language_id = language_id
        self.version = version
        self._set(text)

    # -- reading ----------------------------------------------------------
    @property
    def text(self) -> str:
        """The document with ``\\n`` line breaks only (joined once per version)."""
        if self._text is None:
            self._text = "\n".join(self._lines)
        return self._text

    @property
    def raw_text(self) -> str:
        """The document exactly as the editor has it (its own line breaks)."""
        if self._raw is None:
            if not self._eol_counts["\r\n"] and not self._eol_counts["\r"]:
                self._raw = self.text
            else:
                self._raw = "".join([s for pair in zip(self._lines, self._breaks, strict=True) for s in pair])
        return self._raw

    @property
    def eol(self) -> str:
        """The document's line-break style: the most common of ``\\n``, ``\\r\\n``, ``\\r``."""
        counts = self._eol_counts
        return max(_EOL_ORDER, key=lambda b: (counts[b], -_EOL_ORDER.index(b)))

    @property
    def line_count(self) -> int:
        return len(self._lines)

    def line(self, line: int) -> str:
        """Contents of ``line`` (no line break); ``""`` past the end."""
        return self._lines[line] if 0 <= line < len(self._lines) else ""

    def __len__(self) -> int:
        """Length of :attr:`text` in code points (kept up to date, never joins the text)."""
        return self._size

    # -- positions ------------------------------------------------------------
    def clamp(self, line: int, character: int, encoding: Encoding = "utf-16") -> tuple[int, int]:
        """``(line, index)`` of an LSP position: a valid line and a code-point index in it."""
        last = len(self._lines) - 1
        if line > last:
            return last, len(self._lines[last])
        line = max(0, line)
        return line, column_to_index(self._lines[line], character, encoding)

    def offset_at(self, line: int, character: int, encoding: Encoding = "utf-16") -> int:
        """Code-point offset in :attr:`text` of an LSP position (clamped)."""
        line, index = self.clamp(line, character, encoding)
        return sum(map(len, self._lines[:line])) + line + index

    def position_at(self, offset: int, encoding: Encoding = "utf-16") -> tuple[int, int]:
        """LSP ``(line, character)`` of a code-point offset in :attr:`text` (clamped)."""
        text = self.text
        offset = max(0, min(offset, len(text)))
        line = text.count("\n", 0, offset)
        start = text.rfind("\n", 0, offset) + 1
        return line, units(text[start:offset], encoding)

    # -- changing -------------------------------------------------------------
    def _set(self, text: str) -> None:
        self._lines, self._breaks = split_lines(text)
        self._eol_counts = Counter(self._breaks)
        self._size = sum(map(len, self._lines)) + len(self._lines) - 1
        self._text = text if "\r" not in text else None
        self._raw = text

    def replace_all(self, text: str, version: int | None = None) -> None:
        """A full-document change."""
        self._set(text)
        self.version = version

    def change(self, start: tuple[int, int], end: tuple[int, int], text: str,
               encoding: Encoding = "utf-16", version: int | None = None) -> None:
        """An incremental change: replace the range ``start``-``end`` (LSP
        ``(line, character)`` pairs in ``encoding``) with ``text``.

        Out-of-range positions clamp (see the module docstring); a reversed
        range is taken the right way round. ``text`` may hold any line breaks.
        """
        sl, si = self.clamp(start[0], start[1], encoding)
        el, ei = self.clamp(end[0], end[1], encoding)
        if (sl, si) > (el, ei):
            sl, si, el, ei = el, ei, sl, si
        lines, breaks = self._lines, self._breaks
        last = el == len(lines) - 1
        region = lines[sl][:si] + text + lines[el][ei:] + breaks[el]
        if si == 0 and sl > 0 and breaks[sl - 1] == "\r" and region.startswith("\n"):
            # a lone CR before the change now meets a LF: together they are one break
            sl -= 1
            region = lines[sl] + "\r" + region
        new_lines, new_breaks = split_lines(region)
        if not last:
            # the region ends with line el's break: the empty "line" after it is not ours
            new_lines.pop()
            new_breaks.pop()
        old_breaks = breaks[sl:el + 1]
        self._size += sum(map(len, new_lines)) + len(new_lines) - sum(map(len, lines[sl:el + 1])) - (el + 1 - sl)
        lines[sl:el + 1] = new_lines
        breaks[sl:el + 1] = new_breaks
        counts = self._eol_counts
        counts.subtract(old_breaks)
        counts.update(new_breaks)
        self._text = self._raw = None
        self.version = version


class DocumentStore:
    """The open documents by URI (exactly as the client spelled it)."""

    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}

    def open(self, uri: str, text: str, *, language_id: str = "plaintext", version: int | None = None) -> Document:
        """``didOpen``: (re)place the document."""
        doc = Document(uri, text, language_id=language_id, version=version)
        self._docs[uri] = doc
        return doc

    def get(self, uri: str) -> Document | None:
        return self._docs.get(uri)

    def close(self, uri: str) -> bool:
        """``didClose``; False when it was not open."""
        return self._docs.pop(uri, None) is not None

    def __contains__(self, uri: object) -> bool:
        return uri in self._docs

    def __iter__(self) -> Iterator[Document]:
        return iter(list(self._docs.values()))

    def __len__(self) -> int:
        return len(self._docs)
