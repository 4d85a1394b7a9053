"""Editor model for the typing replay: what VS Code and Neovim (nvim-autopairs) do to keystrokes.

Pure functions on ``(text, cursor)``; every keystroke becomes one :class:`Edit` (replace
``text[start:end]`` by ``new``, then put the cursor at ``cursor``; ``start == end`` and ``new == ""``
is a cursor move, e.g. typing over a closer in Neovim).  Offsets are Python string indices into
the document as the editor holds it (``\\r\\n`` kept in CRLF files).

Modelled behaviour (both flavours unless said):

* **auto-pairs**: typing ``(`` ``[`` ``{`` inserts the closer too when the next character is
  whitespace, a closer or the end of the line; quotes likewise, and not after a word character
  (VS Code also pairs after a string prefix ``f r b u rb br fr rf``; nvim-autopairs does not) nor
  inside a string already open on the line;
* **overtype**: typing a closer or quote that is the next character skips over it (VS Code: a
  one-character replace edit; Neovim: a cursor move, no buffer change);
* **backspace** between an auto-pair deletes both; in leading whitespace it deletes back to the
  previous tab stop (4 columns: VS Code ``useTabStops``, Neovim ``softtabstop=4`` of the Python
  ftplugin);
* **Enter**: the new line gets the current line's indentation, +4 after a line ending in ``:``
  or an opener, -4 after ``return/pass/break/continue/raise``; VS Code +4 / Neovim +8 after a
  line ending in an opener, and inside an unclosed bracket with text after it Neovim aligns with
  the character after the bracket (Vim's python indent).  Enter between a pair (``(|)``) splits
  it: the cursor line is indented, the closer goes on its own line at the outer indentation.
  Enter on a line holding only whitespace before the cursor trims it (VS Code
  ``trimAutoWhitespace``; Vim drops unused autoindent).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from tests.fake_deepseek.closers import CLOSE, OPEN, QUOTES, consume, parse_pending  # noqa: F401

TAB = 4
DEDENT_KW = re.compile(r"^\s*(return|pass|break|continue|raise)\b")
STRING_PREFIX = re.compile(r"(?:^|[^A-Za-z0-9_])(?:[fFrRbBuU]|[rR][bBfF]|[bBfF][rR])$")
FLAVOURS = ("vscode", "nvim")


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    new: str
    cursor: int          # cursor after the edit (offset in the new text)
    kind: str = "ins"    # ins | nl | bs | mv | fix | accept

    @property
    def is_move(self) -> bool:
        return self.start == self.end and not self.new


def apply(text: str, e: Edit) -> str:
    return text[: e.start] + e.new + text[e.end:]


def _line_bounds(text: str, cursor: int) -> tuple[int, int]:
    ls = text.rfind("\n", 0, cursor) + 1
    le = text.find("\n", cursor)
    if le < 0:
        le = len(text)
    if le > 0 and text[le - 1:le] == "\r" and le - 1 >= cursor:
        le -= 1
    return ls, le


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _in_string(before: str, q: str) -> bool:
    """Crude: an odd number of unescaped ``q`` on the line before the cursor."""
    n, i = 0, 0
    while i < len(before):
        c = before[i]
        if c == "\\":
            i += 2
            continue
        if c == q:
            n += 1
        i += 1
    return n % 2 == 1


def _pair_ok_next(nxt: str) -> bool:
    return nxt == "" or nxt in " \t\r\n" or nxt in CLOSE


@dataclass(frozen=True)
class EditorModel:
    flavour: str = "vscode"        # vscode | nvim
    eol: str = "\n"                # "\n" or "\r\n"

    # ---------------------------------------------------------------- keys
    def type_char(self, text: str, cursor: int, c: str) -> Edit:
        nxt = text[cursor:cursor + 1]
        ls, _ = _line_bounds(text, cursor)
        before = text[ls:cursor]
        prev = before[-1:]
        if (c in CLOSE or c in QUOTES) and nxt == c:
            if self.flavour == "nvim":
                return Edit(cursor, cursor, "", cursor + 1, "mv")
            return Edit(cursor, cursor + 1, c, cursor + 1, "ins")
        if c in OPEN and _pair_ok_next(nxt):
            return Edit(cursor, cursor, c + OPEN[c], cursor + 1, "ins")
        if c in QUOTES and _pair_ok_next(nxt) and not _in_string(before, c):
            word_before = prev.isalnum() or prev == "_"
            prefixed = self.flavour == "vscode" and bool(STRING_PREFIX.search(before))
            if not word_before or prefixed:
                return Edit(cursor, cursor, c + c, cursor + 1, "ins")
        return Edit(cursor, cursor, c, cursor + 1, "ins")

    def backspace(self, text: str, cursor: int) -> Edit:
        if cursor == 0:
            return Edit(0, 0, "", 0, "bs")
        p, n = text[cursor - 1], text[cursor:cursor + 1]
        if (p in OPEN and OPEN[p] == n) or (p in QUOTES and n == p):
            return Edit(cursor - 1, cursor + 1, "", cursor - 1, "bs")
        ls, _ = _line_bounds(text, cursor)
        before = text[ls:cursor]
        if before and not before.strip(" "):
            col = len(before)
            stop = (col - 1) // TAB * TAB
            return Edit(ls + stop, cursor, "", ls + stop, "bs")
        if p == "\n" and cursor >= 2 and text[cursor - 2] == "\r":
            return Edit(cursor - 2, cursor, "", cursor - 2, "bs")
        return Edit(cursor - 1, cursor, "", cursor - 1, "bs")

    def indent_after(self, text: str, cursor: int) -> str:
        """The indentation the editor gives the new line when Enter is pressed at ``cursor``."""
        ls, _ = _line_bounds(text, cursor)
        before = text[ls:cursor]
        base = _indent_of(before)
        code = before.rstrip()
        # strip a trailing comment (crude: no '#' inside strings on the same line)
        if "#" in code and not _in_string(code[: code.index("#")], "'") and not _in_string(code[: code.index("#")], '"'):
            code = code[: code.index("#")].rstrip()
        if code.endswith(":"):
            return base + " " * TAB
        if code and code[-1] in OPEN:
            return base + " " * (2 * TAB if self.flavour == "nvim" else TAB)
        if self.flavour == "nvim":
            depth, col = [], None
            for i, ch in enumerate(before):
                if ch in OPEN:
                    depth.append(i)
                elif ch in CLOSE and depth:
                    depth.pop()
            if depth:
                col = depth[-1] + 1
                return " " * col
        if DEDENT_KW.match(before):
            return base[: max(0, len(base) - TAB)]
        return base

    def enter(self, text: str, cursor: int) -> Edit:
        ls, le = _line_bounds(text, cursor)
        before = text[ls:cursor]
        after = text[cursor:le]
        eol = self.eol
        start = cursor
        if before and not before.strip(" \t") and not after.strip():
            start = ls          # trim the auto-inserted whitespace of a blank line
            indent = before
        else:
            indent = self.indent_after(text, cursor)
        prev = before.rstrip()[-1:] if before.rstrip() else ""
        if prev in OPEN and after[:1] == OPEN[prev] and before.endswith(prev):
            outer = _indent_of(before)
            new = eol + indent + eol + outer
            return Edit(start, cursor, new, start + len(eol) + len(indent), "nl")
        new = eol + indent
        return Edit(start, cursor, new, start + len(new), "nl")


# ---------------------------------------------------------------- pending closers

def to_eol(s: str, eol: str) -> str:
    """Normalise every line break of ``s`` to ``eol`` (what VS Code does with inserted text)."""
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    return s.replace("\n", eol) if eol != "\n" else s


def indent_keys(current: str, target: str) -> list[tuple[str, int]]:
    """Keystrokes that turn the leading whitespace ``current`` into ``target`` (spaces only):
    backspaces to the previous tab stop while too deep, then Tab (to the next stop) and spaces.
    Returns a list of ("bs", 0) / ("ins", n spaces)."""
    keys: list[tuple[str, int]] = []
    col, want = len(current), len(target)
    while col > want:
        col = (col - 1) // TAB * TAB
        keys.append(("bs", 0))
    while col < want:
        nxt = (col // TAB + 1) * TAB
        if nxt <= want:
            keys.append(("ins", nxt - col))
            col = nxt
        else:
            keys.append(("ins", 1))
            col += 1
    return keys
