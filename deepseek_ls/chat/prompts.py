"""Cache-friendly chat prompts.

DeepSeek bills a prompt prefix it has seen before at a fraction of the
price, so every chat request starts with the same bytes: a fixed system
prompt, then the file context (a path header and the code), then the
history, then the question last. Nothing volatile (time, random ids,
cursor positions) is put early in the prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Characters of file context sent with one question (about 4 characters a token).
CONTEXT_CHARS = 24000

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


@dataclass(frozen=True)
class FileContext:
    """Code from one file, given with a question."""

    path: str
    language_id: str
    code: str
    first_line: int = 1     # 1-based line number of the code's first line
    last_line: int | None = None
    selection: bool = False  # the user selected this code (vs. the file around the cursor)

    def render(self) -> str:
        """The context block: a path header, then the code in a fence."""
        tag = language_tag(self.language_id)
        fence = fence_for(self.code)
        last = self.last_line if self.last_line is not None else self.first_line + self.code.count("\n")
        what = "Selected code" if self.selection else "Code"
        header = f"{what} from `{self.path}` (lines {self.first_line}-{last}, {self.language_id or 'plaintext'}):"
        code = self.code if self.code.endswith("\n") else self.code + "\n"
        return f"{header}\n\n{fence}{tag}\n{code}{fence}"


def context_for(path: str, language_id: str, text: str, start: int, end: int, *,
                limit: int = CONTEXT_CHARS) -> FileContext:
    """File context for the code between offsets ``start`` and ``end`` of ``text``.

    A selection (``start < end``) is sent as is (cut to ``limit``); with an
    empty range, the lines around the position are sent, up to ``limit``.
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
        code = text[start:end][:limit]
    else:
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
                       last_line=last_line, selection=selection)


def user_message(question: str, context: FileContext | None) -> str:
    """A user turn: the context block first, the question last."""
    question = question.strip()
    if context is None:
        return question
    return f"{context.render()}\n\n{question}"
