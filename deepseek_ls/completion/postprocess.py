"""Clean a raw FIM answer into a suggestion worth showing.

In order: cut a single-line answer at the line end; cut a multi-line one at
a blank line, a dedent below the cursor's block, or the line limit; cut it
where it starts repeating the lines that follow the cursor; cut at a closing
bracket that has no opener, and before one whose closer already sits on a
line below the cursor (Enter between auto-pairs); drop empty, whitespace-only
and repetitive answers. Pure functions of strings.

Closers already after the cursor (auto-pairs, or code the model re-types)
are not trimmed from the answer: :func:`replaced_chars` says how many
characters after the cursor the suggestion covers, and the editor item
replaces them (its range ends there), so accepting leaves one of each.
A closer the editor moved to a line below (Enter between auto-pairs) is out
of an item's reach: :func:`cut_before_split_closer` cuts the answer before
its own closer of that bracket instead.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {")": "(", "]": "[", "}": "{"}
_QUOTES = "\"'`"


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


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


@dataclass(frozen=True)
class Syntax:
    """What the bracket and quote scan skips in one language.

    ``line``: line-comment markers; ``block``: the block-comment pair;
    ``lifetimes``: ``'a`` / ``'static`` (Rust) are not quotes; ``regex``:
    ``/.../`` in an expression-start position is a regex literal (JS/TS).
    """

    line: tuple[str, ...] = ()
    block: tuple[str, str] | None = None
    lifetimes: bool = False
    regex: bool = False


_HASH = ("python", "ruby", "shellscript", "sh", "bash", "zsh", "perl", "r", "yaml", "toml",
         "dockerfile", "makefile", "elixir", "julia", "nim", "coffeescript", "powershell")
_DASH = ("lua", "haskell", "elm", "ada")
_SEMI = ("lisp", "clojure", "scheme", "elisp", "emacs-lisp")
_JS = ("javascript", "typescript", "javascriptreact", "typescriptreact", "vue", "svelte")
_C_BLOCK = ("/*", "*/")


def syntax_for(language_id: str) -> Syntax:
    """The :class:`Syntax` of an LSP language id ('' or unknown: only ``#`` comments
    in the context before the cursor, as a plain text scan)."""
    lang = (language_id or "").lower()
    if not lang:
        return Syntax()
    if lang in _HASH:
        return Syntax(line=("#",))
    if lang in _DASH:
        return Syntax(line=("--",))
    if lang == "sql":
        return Syntax(line=("--",), block=_C_BLOCK)
    if lang in _SEMI:
        return Syntax(line=(";",))
    if lang in ("tex", "latex", "erlang", "matlab"):
        return Syntax(line=("%",))
    if lang == "php":
        return Syntax(line=("//", "#"), block=_C_BLOCK)
    if lang in ("plaintext", "markdown", "json", "html", "xml", "css", "scss"):
        return Syntax(block=_C_BLOCK if lang in ("css", "scss") else None)
    return Syntax(line=("//",), block=_C_BLOCK, lifetimes=lang == "rust", regex=lang in _JS)


_PLAIN = Syntax()
_CONTEXT_DEFAULT = Syntax(line=("#",))
#: after one of these (or at the start) a ``/`` begins a regex literal, not a division
_REGEX_AFTER = "(,=:[!&|?{};+-*%<>~^"
_REGEX_AFTER_WORDS = frozenset(("return", "typeof", "case", "yield", "await", "void", "delete",
                                "in", "of", "instanceof", "new", "do", "else", "throw"))


def _regex_may_start(prev: str) -> bool:
    """A ``/`` after ``prev`` (the last code token: a character, or an identifier) starts a regex."""
    return not prev or prev in _REGEX_AFTER or prev in _REGEX_AFTER_WORDS


def _is_lifetime(text: str, i: int) -> bool:
    """``text[i]`` is a ``'`` starting a Rust lifetime or label (``'a``, ``'static``),
    not a char literal (``'a'``, ``'\\n'``)."""
    nxt = text[i + 1: i + 2]
    if not nxt or not (nxt.isalpha() or nxt == "_"):
        return False
    return text[i + 2: i + 3] != "'"


def _regex_end(text: str, i: int) -> int:
    """The end of the regex literal starting at ``text[i] == '/'`` (flags included),
    or -1 when it does not end on its line (then it was no regex)."""
    j, in_class = i + 1, False
    while j < len(text):
        c = text[j]
        if c == "\n":
            return -1
        if c == "\\":
            j += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "/":
            j += 1
            while j < len(text) and text[j].isalpha():
                j += 1
            return j
        j += 1
    return -1


def _token_before(text: str, i: int, prev: str) -> str:
    """The code token before ``text[i]`` on its line: an identifier or one
    character; ``prev`` when ``text`` has none before ``i``."""
    j = i - 1
    while j >= 0 and text[j] in " \t":
        j -= 1
    if j < 0:
        return prev
    if not _is_word(text[j]):
        return "" if text[j] == "\n" else text[j]
    k = j
    while k > 0 and _is_word(text[k - 1]):
        k -= 1
    return text[k: j + 1]


def _skip_literal(text: str, j: int, quote: str) -> tuple[int, bool]:
    """From ``j`` inside a one-line literal opened by ``quote``: ``(index after its closing
    quote, True)``, or ``(index of the line break or len(text), False)`` when it stays open."""
    escaped = False
    n = len(text)
    while j < n:
        c = text[j]
        if c == "\n":
            return j, False
        j += 1
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == quote:
            return j, True
    return n, False


def _lex(text: str, syntax: Syntax, quote: str = "", prev: str = "",
         ) -> Generator[tuple[int, str, bool], None, str]:
    """Yield ``(index, char, False)`` for each character of code in ``text`` and
    ``(index, quote, True)`` where the literal open before it (``quote``) ends.

    Skipped: string literals (``'``, ``"``, backtick; backslash escapes; they
    end at a line end), the comments of ``syntax`` (block comments span
    lines), Rust lifetimes and JS regex literals. ``prev``: the last code
    token before ``text``, a character or an identifier (decides whether a
    ``/`` at its start begins a regex). Returns the quote of the literal
    still open at the end ('' when none, also inside a comment).
    """
    block = syntax.block
    special = set(_QUOTES + "\n")
    special.update(m[0] for m in syntax.line)
    if block:
        special.add(block[0][0])
    if syntax.regex:
        special.add("/")
    i, n = 0, len(text)
    if quote:  # the cursor's literal: up to its closing quote or the line end
        i, closed = _skip_literal(text, 0, quote)
        if closed:
            yield i - 1, quote, True
        elif i >= n:
            return quote
    while i < n:
        ch = text[i]
        if ch not in special:
            yield i, ch, False
            i += 1
            continue
        if ch == "\n":
            yield i, ch, False
            i += 1
            continue
        if block and text.startswith(block[0], i):
            stop = text.find(block[1], i + len(block[0]))
            if stop < 0:
                return ""
            i = stop + len(block[1])
            continue
        if syntax.line and any(text.startswith(m, i) for m in syntax.line):
            stop = text.find("\n", i)
            if stop < 0:
                return ""
            i = stop
            continue
        if ch in _QUOTES:
            if ch == "'" and syntax.lifetimes and _is_lifetime(text, i):
                i += 1
                continue  # the lifetime's name is code without brackets
            i, closed = _skip_literal(text, i + 1, ch)
            if not closed and i >= n:
                return ch  # still open at the end
            continue
        if ch == "/" and syntax.regex and _regex_may_start(_token_before(text, i, prev)):
            j = _regex_end(text, i)
            if j > 0:
                i = j
                continue
        yield i, ch, False
        i += 1
    return ""


def _code_chars(text: str, syntax: Syntax = _PLAIN) -> Generator[tuple[int, str], None, str]:
    """Yield ``(index, char)`` for characters of code (see :func:`_lex`); returns
    the quote of the literal still open at the end."""
    scan = _lex(text, syntax)
    while True:
        try:
            i, ch, _ = next(scan)
        except StopIteration as end:
            quote: str = end.value
            return quote
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


def _open_brackets(text: str, syntax: Syntax = _CONTEXT_DEFAULT) -> list[str]:
    """Unmatched openers in ``text``, ignoring strings and comments."""
    stack: list[str] = []
    for _ in _unmatched_closers(stack, _code_chars(text, syntax)):
        stack.clear()
    return stack


#: Characters editors insert after the cursor by themselves (auto-pairs).
AUTO_CLOSERS = ")]}" + _QUOTES


def quote_at_end(line_prefix: str, language_id: str = "") -> str:
    """The quote of the string literal open at the end of ``line_prefix``, or ''.

    Single-line literals (``'``, ``"``, backtick) with backslash escapes;
    comments, Rust lifetimes and JS regex literals as in :func:`syntax_for`.
    """
    scan = _code_chars(line_prefix, syntax_for(language_id))
    while True:
        try:
            next(scan)
        except StopIteration as end:
            quote: str = end.value
            return quote


def _last_code_char(line_prefix: str) -> str:
    """The last token of ``line_prefix``: its trailing identifier, else its last non-blank character."""
    stripped = line_prefix.rstrip()
    word = re.search(r"\w+$", stripped)
    return word.group() if word else stripped[-1:]


def _outer_walk(text: str, quote: str, syntax: Syntax = _PLAIN,
                prev: str = "") -> tuple[list[tuple[int, str]], list[str], str]:
    """Walk ``text`` typed at a cursor inside a ``quote`` literal ('' outside).

    Returns ``(events, stack, end_quote)``: ``events`` the ``(index, char)``
    of each closer or quote in ``text`` that closes something opened before
    the cursor (or closes nothing; ``"!"`` for a closer of the wrong
    opener), ``stack`` the openers ``text`` leaves open, ``end_quote`` the
    literal open at its end. Literals end at a line end; comments, Rust
    lifetimes and JS regex literals of ``syntax`` are skipped (see
    :func:`_lex`, ``prev`` the last code token before the cursor).
    """
    events: list[tuple[int, str]] = []
    stack: list[str] = []
    scan = _lex(text, syntax, quote, prev)
    while True:
        try:
            i, ch, outer = next(scan)
        except StopIteration as end:
            return events, stack, end.value
        if outer:
            events.append((i, ch))
        elif ch in _OPEN:
            stack.append(ch)
        elif ch in _CLOSE:
            if stack and stack[-1] == _CLOSE[ch]:
                stack.pop()
            else:
                events.append((i, "!" if stack else ch))  # "!": closes the wrong opener


def cut_unbalanced(text: str, context_before: str, language_id: str = "") -> str:
    """Cut ``text`` before the first closer that has no opener in context or text.

    The text starts inside the string literal the cursor is in, if any.
    """
    syntax = syntax_for(language_id)
    stack = _open_brackets(context_before, syntax if language_id else _CONTEXT_DEFAULT)
    line_prefix = context_before[context_before.rfind("\n") + 1:]
    quote = quote_at_end(line_prefix, language_id)
    for i, ch in _outer_walk(text, quote, syntax, _last_code_char(line_prefix))[0]:
        if ch in _QUOTES:
            continue  # the end of the cursor's literal
        if ch not in _CLOSE or not stack or stack.pop() != _CLOSE[ch]:
            return text[:i]
    return text


def _open_with_indent(text: str, syntax: Syntax) -> list[tuple[str, int]]:
    """Unmatched openers in ``text`` (innermost last), each with the indentation
    width of the line it is on; strings and comments of ``syntax`` skipped."""
    stack: list[int] = []
    for i, ch in _code_chars(text, syntax):
        if ch in _OPEN:
            stack.append(i)
        elif ch in _CLOSE:
            if stack and text[stack[-1]] == _CLOSE[ch]:
                stack.pop()
            else:
                stack.clear()
    return [(text[i], _indent_width(text[text.rfind("\n", 0, i) + 1:])) for i in stack]


_LEADING_CLOSERS = re.compile(r"[ \t]*([)\]}](?:[ \t]*[)\]}])*)")


def _split_closers(stack: list[tuple[str, int]], following: str) -> set[int]:
    """Indices into ``stack`` of the openers whose closer is already on a line below the cursor.

    ``following``: the document after the cursor; its first line (the rest of
    the cursor line) must be blank. The lines after it that start with
    closers (blank lines between allowed; ``    )``, ``});``, ``) {``, ``],``)
    close the innermost openers in order. An opener on a line indented deeper
    than the closer line has no closer of its own there (``foo(⏎    bar(|⏎)``:
    the ``)`` is ``foo``'s); the scan stops at a closer of another kind.
    """
    lines = following.split("\n")
    if lines[0].strip():
        return set()
    found: set[int] = set()
    top = len(stack) - 1
    for line in lines[1:]:
        if not line.strip():
            continue
        m = _LEADING_CLOSERS.match(line)
        if not m:
            break
        width = _indent_width(line)
        for ch in m.group(1):
            if ch in " \t":
                continue
            while top >= 0 and stack[top][1] > width:
                top -= 1  # opened deeper: not this line's closer
            if top < 0 or stack[top][0] != _CLOSE[ch]:
                return found
            found.add(top)
            top -= 1
    return found


def cut_before_split_closer(text: str, context_before: str, following: str, language_id: str = "") -> str:
    """Cut ``text`` before its closer of a bracket whose closer the editor already
    moved to a line of its own below the cursor, keeping that line.

    After Enter between auto-paired brackets (``return cls(|)`` becoming
    ``return cls(⏎        |⏎    )``) an answer that ends the call itself
    (``a=1,⏎        **kw).encode(obj)``) would leave two ``)``: it is cut to
    ``a=1,⏎        **kw`` (trailing blanks dropped) and the ``    )`` line
    stays. An inline item's range cannot reach that line (VS Code shows no
    ghost text for a range over several lines). ``following``: the document
    after the cursor (see :func:`_split_closers`); nothing is cut when the
    rest of the cursor line is not blank, or when ``text`` closes only
    brackets it opened itself or brackets whose closer is not below.
    """
    first, sep, below = following.partition("\n")
    if not sep or not text or first.strip() or not _LEADING_CLOSERS.match(below.lstrip("\n \t")):
        return text  # no closer line right below: nothing to lex
    syntax = syntax_for(language_id)
    stack = _open_with_indent(context_before, syntax if language_id else _CONTEXT_DEFAULT)
    if not stack:
        return text
    split = _split_closers(stack, following)
    if not split:
        return text
    line_prefix = context_before[context_before.rfind("\n") + 1:]
    quote = quote_at_end(line_prefix, language_id)
    depth = len(stack) - 1
    for i, ch in _outer_walk(text, quote, syntax, _last_code_char(line_prefix))[0]:
        if ch in _QUOTES:
            continue  # the end of the cursor's literal
        if ch not in _CLOSE or depth < 0:
            break
        if depth in split:
            return text[:i].rstrip()
        depth -= 1
    return text


def _shape(text: str, quote: str, syntax: Syntax = _PLAIN, prev: str = "") -> tuple[str, str, str]:
    """What ``text`` closes, leaves open and ends inside, as compared strings."""
    events, stack, end = _outer_walk(text, quote, syntax, prev)
    return "".join(ch for _, ch in events), "".join(stack), end


def _cover_candidates(text: str, events: list[tuple[int, str]], rest: str) -> list[int]:
    """Lengths of ``rest`` (the line after the cursor) that ``text`` may cover, longest first."""
    found = {0}
    pending: list[int] = []  # punctuation: covered only up to a closer or the line end
    at, used, closed = 0, 0, False
    for k, ch in enumerate(rest):
        if ch in " \t":
            continue
        if ch in AUTO_CLOSERS:
            # a closer after the cursor is covered by the text's own closer of the same opener
            if used < len(events) and events[used][1] == ch:
                at, used, closed = events[used][0] + 1, used + 1, True
                found.update(pending, (k + 1,))
                pending.clear()
                continue
            break
        if closed and not _is_word(ch):
            # punctuation after a covered closer (`);`, `) {`) found later in the text
            j = text.find(ch, at)
            if j < 0:
                break
            at = j + 1
            pending.append(k + 1)
            continue
        break
    else:
        found.update(pending)
    # the text ends by re-typing the start of the rest of the line
    last = text[text.rfind("\n") + 1:]
    for k in range(min(len(rest), len(last)), 0, -1):
        if last.endswith(rest[:k]) and (k == len(rest) or not rest[:k].strip().isalnum()):
            found.add(k)
            break
    return sorted(found, reverse=True)


def replaced_chars(text: str, line_prefix: str, line_suffix: str, language_id: str = "") -> int:
    """How many characters after the cursor ``text`` replaces (0..len(line_suffix)).

    ``line_prefix``/``line_suffix``: the cursor line before/after the cursor;
    ``language_id``: the document's (its comments, Rust lifetimes and JS
    regex literals are not brackets or quotes; see :func:`syntax_for`).
    The suggestion covers closers after the cursor when its own closer ends
    the same opener (``def area(|)`` + ``w: float) -> float:`` covers ``)``;
    ``print(|)`` + ``f(x)`` covers nothing, its ``)`` is its own), a closing
    quote of the literal the cursor is in, punctuation after them found
    later in the text when that covers the whole line (``);``, ``) {``),
    and the rest of the line when the text ends by re-typing it. Of those
    lengths the longest is taken for which the line after the edit closes
    and opens the same brackets and quotes as the line before it, or, when
    what is left after it is nothing (blanks, comments) or starts with a
    closer the text's last open bracket does not take, for which the text
    closes the closers it covers first (and maybe more openers before the
    cursor): it may then leave new openers open at its end
    (``function f(|)`` + ``a, b) {`` gives ``function f(a, b) {``;
    ``foo(function(|))`` + ``a) {`` gives ``foo(function(a) {)``). 0 when
    none does.
    """
    rest = line_suffix.rstrip()
    if not rest or not text:
        return 0
    syntax = syntax_for(language_id)
    prev = _last_code_char(line_prefix)
    quote = quote_at_end(line_prefix, language_id)
    events, opened, text_end = _outer_walk(text, quote, syntax, prev)
    want = _shape(rest, quote, syntax, prev)
    closes = "".join(ch for _, ch in events)
    for k in _cover_candidates(text, events, rest):
        if k == 0 or _shape(text + rest[k:], quote, syntax, prev) == want:
            return k
        if not text_end and closes.startswith(_shape(rest[:k], quote, syntax, prev)[0]):
            left = [ch for _, ch in _code_chars(rest[k:], syntax) if not ch.isspace()]
            if not left or (opened and left[0] in _CLOSE and _CLOSE[left[0]] != opened[-1]):
                # the text opens a block of its own at its end; what is left after
                # it (nothing, or closers of openers before the cursor) stays
                return k
    return 0


def _same_line(a: str, b: str) -> bool:
    """Equal lines; a long line also at another indentation."""
    if a.rstrip() == b.rstrip():
        return True
    a = a.strip()
    return len(a) >= 8 and a == b.strip()


def trim_repeated_lines(text: str, following: str, line_prefix: str = "") -> str:
    """Cut ``text`` where it starts repeating the lines after the cursor line.

    ``following``: the document after the cursor (its first line is the rest
    of the cursor line). A suggested line (the first one too, with
    ``line_prefix`` before it) starts a repetition when it equals one of the
    next three non-blank lines and that is certain enough: two or more
    equal lines in a row, a line of four characters or more equal to the
    very next line (eight or more for the two after it), or a short line
    (``}``, ``7,``) equal to the next line that ends the suggestion.
    """
    follow = [line for line in following.split("\n")[1:] if line.strip()][:16]
    if not follow:
        return text
    lines = text.split("\n")
    absolute = [line_prefix + lines[0], *lines[1:]]
    for i, line in enumerate(absolute):
        size = len(line.strip())
        if not size:
            continue
        for j in range(min(3, len(follow))):
            run = 0
            while (i + run < len(absolute) and j + run < len(follow)
                   and _same_line(absolute[i + run], follow[j + run])):
                run += 1
            if not run:
                continue
            if run >= 2 or size >= (4 if j == 0 else 8) or (j == 0 and i + run == len(lines)):
                return "\n".join(lines[:i]).rstrip()
    return text


def is_repetitive(text: str) -> bool:
    """Degenerate output: one line three times in a row, or a short unit looping."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    for a, b, c in zip(lines, lines[1:], lines[2:], strict=False):
        if a == b == c:
            return True
    compact = text.strip()
    return len(compact) >= 24 and re.fullmatch(r"(.{1,8}?)\1{5,}.{0,8}", compact, re.S) is not None


def cut_block(text: str, line_prefix: str, max_lines: int) -> str:
    """Cut a multi-line answer at a blank line, a dedent, or ``max_lines``.

    After an opener (``foo(|``, ``{|``) a line that starts with a closer at
    the cursor line's indentation ends the block and is kept (``)``, ``});``).
    """
    cursor_line_blank = not line_prefix.strip()
    lines = text.split("\n")
    if cursor_line_blank:  # the block's indentation: the cursor's plus the first line's own
        first = lines[0]
        base = _indent_width(line_prefix + first[: len(first) - len(first.lstrip(" \t"))])
    else:
        base = _indent_width(line_prefix) + 1
    kept: list[str] = []
    for i, line in enumerate(lines):
        if i > 0:
            if not line.strip():
                break
            if _indent_width(line) < base:
                closes = line.lstrip(" \t")[:1] in _CLOSE and _indent_width(line) >= base - 1
                if closes and not cursor_line_blank:
                    kept.append(line)  # closes the cursor line's opener
                break
        kept.append(line)
        if len(kept) >= max_lines:
            break
    return "\n".join(kept)


#: a line ending with one of these opens a block: the next line is deeper
_OPENS_BLOCK = (":", "{", "(", "[", "=>", "->", "=", "\\", " do", " then")


def _unindent_first_line(text: str, line_prefix: str) -> str:
    """On a blank line, drop the first line's indentation that repeats the cursor's.

    The cursor at column 4 and ``"        x"``: ``"    x"`` (lands at 8). The
    cursor at column 0: the first line keeps all of its indentation. An
    indentation shorter than the cursor's is dropped (the text starts at the
    cursor).

    A multi-line answer keeps its block consistent: when its first line
    has more indentation than the cursor's, that could be the line's own
    column (strip: cursor column + its own whitespace is too deep) or
    indentation on top of the cursor's. The next non-blank line decides:
    when the first line does not open a block and the next line sits at
    cursor column + first line's whitespace, nothing is stripped
    (``    |`` + ``"    x = 1\\n        return x"``: both at 8). A
    single-line answer is stripped (``    |`` + ``"    return 1"`` lands at
    4): one line cannot tell, and models mostly repeat the indentation.
    """
    if line_prefix.strip():
        return text
    first, sep, rest = text.partition("\n")
    if not first.strip():
        return text
    lead = first[: len(first) - len(first.lstrip(" \t"))]
    drop = len(line_prefix) if lead.startswith(line_prefix) else len(lead)
    if drop and rest and not first.rstrip().endswith(_OPENS_BLOCK):
        following = next((line for line in rest.split("\n") if line.strip()), "")
        kept_column = _indent_width(line_prefix + lead)
        if following and _indent_width(following) == kept_column != _indent_width(line_prefix + lead[drop:]):
            return text
    return first[drop:] + sep + rest


def indent_undecided(text: str, line_prefix: str) -> bool:
    """True while the first line's indentation of a streamed multi-line answer
    depends on a line not yet received (see :func:`_unindent_first_line`):
    the cursor line is blank, ``text`` has one non-blank line, with more
    indentation than the cursor's, and it does not open a block."""
    if line_prefix.strip():
        return False
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) != 1 or not text.split("\n", 1)[0].strip():
        return False
    first = lines[0]
    lead = first[: len(first) - len(first.lstrip(" \t"))]
    return len(lead) > 0 and lead.startswith(line_prefix) and not first.rstrip().endswith(_OPENS_BLOCK)


def block_finished(text: str, line_prefix: str, max_lines: int) -> bool:
    """True when ``text`` (complete lines of a multi-line answer so far) already
    reaches a point where :func:`cut_block` cuts: nothing more would be kept."""
    text = _unindent_first_line(text, line_prefix)
    lines = text.count("\n") + 1
    kept = cut_block(text, line_prefix, max_lines).count("\n") + 1
    return kept < lines or kept >= max_lines


#: the line-comment markers the prompt's scaffolding lines use (deepseek_ls/prompt/fim.py ``_COMMENT``)
_SCAFFOLD_LINE = re.compile(
    r'^(?P<c>#|//|--|;;|"|%) (?:(?P<path>Path): (?P<p>\S.*?)(?P<later> \(later in this file\))?'
    r'|(?P<other>Other file): (?P<o>\S.*)|(?P<lang>Language): (?P<l>\S.*))$')

#: a line that may be one (found with one scan of the prompt's head)
_SCAFFOLD_CANDIDATE = re.compile(r'^(?:#|//|--|;;|"|%) (?:Path|Other file|Language): [^\n]*', re.M)


@dataclass(frozen=True)
class Scaffolding:
    """The prompt's own scaffolding lines, to keep them out of ghost text.

    The FIM prompt names files with comment lines (deepseek_ls/prompt/fim.py,
    deepseek_ls/context/engine.py): ``<c> Path: <path>``, ``<c> Language:
    <language>``, ``<c> Path: <path> (later in this file)`` and ``<c> Other
    file: <path>``. A model sometimes copies one into its answer. A line of
    the answer is scaffolding when it has one of these shapes with a comment
    marker, a path and a language the prompt's scaffolding used (any of the
    path shapes for any such path): a user's own ``# Path: explained below``
    is not. Built by :func:`scaffolding_of`.
    """

    markers: frozenset[str] = frozenset()
    paths: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()

    def matches(self, line: str) -> bool:
        """True when ``line`` (whitespace and a CR around it ignored) is a scaffolding line."""
        m = _SCAFFOLD_LINE.match(line.strip())
        if m is None or m.group("c") not in self.markers:
            return False
        if m.group("lang"):
            return m.group("l") in self.languages
        return (m.group("p") or m.group("o")) in self.paths


@functools.lru_cache(maxsize=16)  # the head is the same across most keystrokes of a file
def scaffolding_of(head: str) -> Scaffolding:
    """The scaffolding of a prompt whose head (the text before the current file's window) is ``head``.

    Scaffolding lines in the head start it or follow a blank line or another
    scaffolding line (the blocks' layout); lines of quoted code in between
    (other files, definitions) are not read as scaffolding unless placed so.
    """
    markers: set[str] = set()
    paths: set[str] = set()
    languages: set[str] = set()
    for found in _SCAFFOLD_CANDIDATE.finditer(head):
        at = found.start()
        before = head[head.rfind("\n", 0, max(0, at - 1)) + 1:max(0, at - 1)].rstrip("\r")
        m = _SCAFFOLD_LINE.match(found.group(0).rstrip("\r"))
        if m is None or (at and before.strip() and not _SCAFFOLD_LINE.match(before)):
            continue
        markers.add(m.group("c"))
        if m.group("lang"):
            languages.add(m.group("l"))
        else:
            paths.add(m.group("p") or m.group("o"))
    return Scaffolding(frozenset(markers), frozenset(paths), frozenset(languages))


def strip_scaffolding(text: str, scaffolding: Scaffolding, line_prefix: str) -> str:
    """``text`` (an answer, ``\\n`` line ends) without the prompt's scaffolding lines.

    At a line start (``line_prefix`` blank) leading scaffolding lines, and the
    blank lines among them, are dropped; the answer is cut before a later
    scaffolding line (what follows it would be another file's text).
    ``"# Path: a.py\\nx = 1"`` -> ``"x = 1"``; ``"x = 1\\n\\n# Other file: b.py\\ny"`` -> ``"x = 1\\n\\n"``.
    """
    if not scaffolding.markers:
        return text
    lines = text.split("\n")
    if not line_prefix.strip():
        j, dropped = 0, False
        while j < len(lines) and (not lines[j].strip() or scaffolding.matches(lines[j])):
            dropped = dropped or bool(lines[j].strip())
            j += 1
        if dropped:
            lines = lines[j:]
            if not lines:
                return ""
    start = 0 if not line_prefix.strip() else 1
    for k in range(start, len(lines)):
        if scaffolding.matches(lines[k]):
            lines = lines[:k]
            break
    return "\n".join(lines)


def postprocess(text: str, *, multiline: bool, line_prefix: str, line_suffix: str,
                following: str, context_before: str, max_lines: int = 12,
                previous_line: str = "", language_id: str = "",
                scaffolding: Scaffolding | None = None) -> str:
    """Turn a raw FIM answer into the suggestion to show ('' to show nothing).

    ``scaffolding``: the prompt's scaffolding lines (:func:`scaffolding_of`),
    never shown (:func:`strip_scaffolding`).

    The text may run through closers after the cursor: see :func:`replaced_chars`.
    """
    text = text.replace("\r\n", "\n")
    if scaffolding is not None:
        stripped = strip_scaffolding(text, scaffolding, line_prefix)
        if stripped != text and not multiline:
            stripped = _unindent_first_line(stripped.split("\n", 1)[0], line_prefix)
        text = stripped
    if not multiline:
        text = text.split("\n", 1)[0]
    else:
        text = cut_block(_unindent_first_line(text, line_prefix), line_prefix, max_lines)
        text = trim_repeated_lines(text, following, line_prefix)
    text = cut_unbalanced(text, context_before, language_id)
    text = cut_before_split_closer(text, context_before, following, language_id)
    text = text.rstrip()
    if not text.strip() or is_repetitive(text):
        return ""
    if not multiline and text.strip() == line_suffix.strip():
        return ""
    if previous_line.strip() and text.strip() == previous_line.strip() and len(text.strip()) > 3:
        return ""
    return text
