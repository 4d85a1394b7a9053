"""Build cache-friendly fill-in-the-middle prompts.

DeepSeek bills prompt tokens that repeat the start of an earlier prompt at a
small fraction of the price, but only an exact prefix counts, and only in
whole units: legacy caching in 64-token units from token 0; v4 persists a
"cache prefix unit" at the end of every request's input, at a prefix it
finds common to several requests, and at fixed intervals, and a request
hits only a unit it matches in full. So the prompt is laid out from the
part shared by most requests to the part that changes per keystroke:

0. ``project_context``: the project block (:mod:`deepseek_ls.context`), the
   same for every file of a language family and large enough to fill whole units.
   A switch to another file shares it with the last prompt, so v4 persists
   it (a common prefix) and the first prompt in the new file hits it. It is
   never appended to mid-session (that would cut every cached prompt at
   its old end);
1. a header naming the file and its language (stable for the file);
2. ``file_context``: the file's own cross-file block (definitions it needs
   beyond the project block, in the order first needed; then snippets), as
   it stood when the file's head was last laid out (its first prompt, or
   the cursor moving to another band, which changes 3 anyway);
3. the rest of the current file beyond the suffix window, aligned by lines
   counted from the end of the file (stable while typing above it);
4. other open files of the same language, in the order they were opened
   (a newly opened tab comes last), each cut to whole lines. With the
   context engine on, the server lists them afresh only when this file's
   head changes anyway (its file block, the project block, or the cursor
   moving to another band): until then each stays at the content it had
   when listed and a tab opened meanwhile waits
   (:meth:`deepseek_ls.context.ContextEngine.pin_others`), so a return to
   the file after visiting others finds its head unchanged;
4b. ``late_context``: definitions that joined the file's block since (a name
   used for the first time brings its definition): last in the head, so
   such a change re-bills only them and the window (on the ``ci`` typing
   replay a definition joining ``json/tool.py``'s block re-billed its
   other-file listing, ~800 tokens, each time). They move into 2 at the
   next band change. Putting the whole file block there instead cost
   real-model exact matches (the model copies what sits right above the
   window), so only what joined late sits there;
5. the current file from a start line that moves in aligned steps of
   ``PREFIX_STEP_LINES`` lines (stable while the cursor stays in the window);
6. the text nearest the cursor, last.

Parts 0-4 form the file's head: a return to a file (A -> B -> A) sends a
head byte for byte as A's last one, which v4 persisted at the end of that
request, so the return hits up to the window.

The suffix is short and cut at a line end: in the FIM layout it follows the
prompt, so every suffix token is a cache miss.

While DeepSeek has not cached a new head yet, the *short prompt* (project
block, header and the nearest lines only, :func:`short_fim_prompt`) is sent
instead: the project block is cached already (it starts every prompt).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from ..snapshot import DocumentSnapshot
from . import config as C

_COMMENT = {
    "python": "#", "ruby": "#", "shellscript": "#", "sh": "#", "bash": "#", "zsh": "#",
    "perl": "#", "r": "#", "yaml": "#", "toml": "#", "dockerfile": "#", "makefile": "#",
    "elixir": "#", "julia": "#", "nim": "#", "coffeescript": "#", "powershell": "#",
    "lua": "--", "sql": "--", "haskell": "--", "elm": "--", "ada": "--",
    "lisp": ";;", "clojure": ";;", "scheme": ";;", "elisp": ";;", "emacs-lisp": ";;",
    "vim": '"', "tex": "%", "latex": "%", "erlang": "%", "matlab": "%",
}
_BLOCK_OPENERS = (":", "{", "(", "[", "=>", "->", "do", "then", "=")
_CLOSERS_ONLY = re.compile(r"^[\s\)\]\}\"'`;:,.]*$")


@dataclass(frozen=True)
class FimPrompt:
    """One FIM request's text and limits, and the cursor context post-processing needs.

    ``prompt`` / ``suffix``: the text before and after the cursor as sent
    (the prompt may start with a header and other files' context;
    ``head_len`` characters of it come before the current file's window,
    which starts at 0-based line ``window_line``). ``max_tokens``: the
    answer's limit in tokens; ``stop``: stop sequences; ``multiline``: a
    multi-line suggestion is wanted (:func:`wants_multiline`).
    ``line_prefix`` / ``line_suffix``: the cursor line's text before and
    after the cursor. Lengths are code points; built by
    :func:`build_fim_prompt` and :func:`short_fim_prompt`, never raises.
    """

    prompt: str
    suffix: str
    max_tokens: int
    stop: tuple[str, ...]
    multiline: bool
    line_prefix: str      # text of the cursor line before the cursor
    line_suffix: str      # text of the cursor line after the cursor
    head_len: int = 0     # characters of the prompt before the current file's window
    window_line: int = 0  # line of the current file where the window starts (0-based)
    project_len: int = 0  # characters of the project block at the start of the prompt


def comment_prefix(language_id: str) -> str:
    """The line-comment marker used for headers in ``language_id``."""
    return _COMMENT.get(language_id.lower(), "//")


def wants_multiline(line_prefix: str, line_suffix: str) -> bool:
    """True when the cursor calls for a multi-line suggestion.

    Mid-line (real code after the cursor) and at the end of a non-empty
    statement: one line. On an empty or indentation-only line, or right after
    a block opener: several lines.
    """
    if not _CLOSERS_ONLY.match(line_suffix):
        return False
    stripped = line_prefix.strip()
    if not stripped:
        return True
    return stripped.endswith(_BLOCK_OPENERS)


def _cut_to_lines(text: str, limit: int) -> str:
    """The longest run of whole lines from the start of ``text`` within ``limit`` chars."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    return text[: cut + 1] if cut >= 0 else ""


#: A run of characters a token (API key, password) may be made of.
_TOKEN_RUN = re.compile(r"[A-Za-z0-9_+/=.~-]*")
_LONGEST_TOKEN = 1024


def _after_token(text: str, at: int) -> int:
    """``at``, or the end of the token-like run it cuts through: a character cut
    never sends the tail of a secret without its recognisable start (secret masking needs it)."""
    if 0 < at < len(text) and _TOKEN_RUN.fullmatch(text[at - 1]):
        run = _TOKEN_RUN.match(text, at, min(len(text), at + _LONGEST_TOKEN + 1))
        end = run.end() if run else at  # (the pattern matches the empty string: never None)
        return end if end - at <= _LONGEST_TOKEN else at  # a longer run is data, not a token
    return at


def _before_token(text: str, at: int) -> int:
    """``at``, or the start of the token-like run it cuts through (the suffix's character cut)."""
    if 0 < at < len(text) and _TOKEN_RUN.fullmatch(text[at]):
        start = at
        while start > 0 and at - start <= _LONGEST_TOKEN and _TOKEN_RUN.fullmatch(text[start - 1]):
            start -= 1
        return start if at - start <= _LONGEST_TOKEN else at
    return at


def window_start(prefix: str, budget: int, step: int = C.PREFIX_STEP_LINES) -> int:
    """Offset where the current file's window starts.

    The smallest start line whose text up to the cursor fits the budget,
    rounded up to a multiple of ``step`` lines, so that it only moves when
    the cursor crosses a step boundary, never per keystroke.
    """
    if len(prefix) <= budget:
        return 0
    cut = len(prefix) - budget
    first_full = prefix.find("\n", cut)
    if first_full < 0:  # one enormous line: fall back to a character window
        return _after_token(prefix, cut - (cut % 4096) if cut % 4096 else cut)
    line = prefix.count("\n", 0, first_full + 1)
    aligned = -(-line // step) * step
    parts = prefix.split("\n", aligned)
    if len(parts) <= aligned:  # the aligned line is past the cursor line
        return first_full + 1
    return len(prefix) - len(parts[-1])


def sticky_window_start(prefix: str, budget: int, previous: int | None,
                        slack: float | None = None) -> int:
    """``window_start``, but keep the start line of the previous full prompt
    while the window from it stays within ``budget * (1 + slack)``.

    Without this the window jumps a step every ~64 typed lines and whenever
    an accepted suggestion pushes it over the budget; every jump is a prompt
    DeepSeek has never cached. ``previous`` is a line number (0-based).
    """
    start = window_start(prefix, budget)
    if previous is None:
        return start
    slack = C.WINDOW_SLACK if slack is None else slack
    line = prefix.count("\n", 0, start)
    if previous >= line:  # the fresh window is at least as long: it has more context
        return start
    parts = prefix.split("\n", previous)
    if len(parts) <= previous:
        return start
    kept = len(prefix) - len(parts[-1])
    return kept if len(prefix) - kept <= budget * (1 + slack) else start


def _suffix(text: str, limit: int, max_lines: int) -> str:
    """The text after the cursor, cut at a line end within the limits."""
    lines = text[: limit + 1].split("\n", max_lines + 1)
    kept: list[str] = []
    total = 0
    for i, line in enumerate(lines[: max_lines + 1]):
        piece = line + "\n" if i < len(lines) - 1 else line
        if total + len(piece) > limit:
            if i == 0:
                return piece[:_before_token(piece, limit)]
            break
        kept.append(piece)
        total += len(piece)
    return "".join(kept)


def file_tail(rest: str, budget: int = C.TAIL_CHARS, skip_lines: int = C.SUFFIX_LINES,
              step: int = C.TAIL_STEP_LINES) -> str:
    """The current file after the suffix window, for the cached head of the prompt.

    Its start is aligned by ``step`` lines counted from the end of the file:
    typing (even new lines) before it leaves it byte-identical, because the
    number of lines after the cursor does not change.
    """
    if budget <= 0 or not rest:
        return ""
    lines = rest.split("\n")
    after = len(lines) - 1 - skip_lines  # whole lines after the suffix window
    count = (after // step) * step
    if count <= 0:
        return ""
    region = "\n".join(lines[len(lines) - count:])
    return _cut_to_lines(region if region.endswith("\n") else region + "\n", budget)


def _header(doc: DocumentSnapshot) -> str:
    c = comment_prefix(doc.language_id)
    return f"{c} Path: {doc.path}\n{c} Language: {doc.language_id}\n"


def _other_files(doc: DocumentSnapshot, others: tuple[DocumentSnapshot, ...]) -> str:
    """The other open files of ``doc``'s language in the order given (the order they were
    opened: a new tab is appended, never inserted), each cut to whole lines, within the budget;
    a file that does not fit ends the list (so the files after it do not come and go)."""
    c = comment_prefix(doc.language_id)
    budget = C.OTHER_FILES_CHARS
    parts: list[str] = []
    for other in others:
        if other.uri == doc.uri or other.language_id != doc.language_id or not other.text.strip():
            continue
        body = _cut_to_lines(other.text, min(C.OTHER_FILE_CHARS, budget))
        if not body.strip():
            continue
        block = f"{c} Other file: {other.path}\n{body}{'' if body.endswith(chr(10)) else chr(10)}\n"
        if len(block) > budget:
            break
        parts.append(block)
        budget -= len(block)
    return "".join(parts)


def build_fim_prompt(doc: DocumentSnapshot, offset: int, *,
                     others: tuple[DocumentSnapshot, ...] = (),
                     prefix_chars: int = C.PREFIX_CHARS,
                     suffix_chars: int = C.SUFFIX_CHARS,
                     max_tokens_block: int = C.FIM_MAX_TOKENS_BLOCK,
                     use_other_files: bool = True,
                     tail_chars: int = C.TAIL_CHARS,
                     window_hint: int | None = None,
                     project_context: str = "",
                     file_context: str = "",
                     late_context: str = "") -> FimPrompt:
    """Build the full FIM request for the cursor at code-point ``offset`` of ``doc``.

    ``window_hint``: the window's start line in the previous full prompt for
    this document (see :func:`sticky_window_start`). ``project_context``: a
    rendered block about the project, put first (before the file header:
    the most stable part of the prompt); "" for none. ``file_context``: the
    file's own cross-file block (deepseek_ls/context), right after its header;
    ``late_context``: the definitions that joined it lately, right before the window.
    """
    text = doc.text
    prefix = text[:offset]
    line_prefix = prefix[prefix.rfind("\n") + 1:]
    rest = text[offset:]
    eol = rest.find("\n")
    line_suffix = (rest if eol < 0 else rest[:eol]).rstrip("\r")
    multiline = wants_multiline(line_prefix, line_suffix)

    if project_context and not project_context.endswith("\n"):
        project_context += "\n"
    head = project_context + _header(doc)
    c = comment_prefix(doc.language_id)
    start = sticky_window_start(prefix, prefix_chars, window_hint)
    context = file_context
    tail = file_tail(rest, tail_chars)
    if tail.strip():
        context += f"{c} Path: {doc.path} (later in this file)\n{tail}\n"
    if use_other_files:
        context += _other_files(doc, others)
    context += late_context  # last of the head: a definition joining it re-bills only it and the window
    if context:
        head = f"{head}{context}{c} Path: {doc.path}\n"
    suffix = _suffix(rest, suffix_chars, C.SUFFIX_LINES)
    if multiline:
        return FimPrompt(head + prefix[start:], suffix, max_tokens_block, ("\n\n",), True,
                         line_prefix, line_suffix, len(head), prefix.count("\n", 0, start), len(project_context))
    return FimPrompt(head + prefix[start:], suffix, C.FIM_MAX_TOKENS_LINE, ("\n",), False,
                     line_prefix, line_suffix, len(head), prefix.count("\n", 0, start), len(project_context))


def short_fim_prompt(full: FimPrompt, doc: DocumentSnapshot, offset: int) -> FimPrompt:
    """The short prompt for the cursor ``full`` was built for (at ``offset`` of ``doc``).

    ``full``'s project block (cached already: it starts every full prompt),
    the file header and the whole lines within the nearest
    ``SHORT_PREFIX_CHARS`` before the cursor: no file block, other files or
    file tail. Sent while the full prompt's head is not in DeepSeek's cache
    yet. The suffix and everything about the cursor line are ``full``'s.
    """
    prefix = doc.text[:offset]
    cut = max(0, len(prefix) - C.SHORT_PREFIX_CHARS)
    start = prefix.find("\n", cut) + 1 if cut else 0
    head = full.prompt[:full.project_len] + _header(doc)
    return dataclasses.replace(full, prompt=head + prefix[start:], head_len=len(head),
                               window_line=prefix.count("\n", 0, start))
