"""Markdown transcripts of chat sessions, for editors without the deepseek-ls plugins.

One file per session under the user's cache directory
(``platformdirs.user_cache_dir("deepseek-ls")/transcripts``); each finished
answer is appended (the question, the reasoning apart in a collapsed
block, the answer), and the server opens the file with
``window/showDocument``.
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

from ..api.jsonbody import clean_text
from ..prompt.chat import FileContext

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def default_directory() -> Path:
    """Where transcripts go: ``<user cache dir>/deepseek-ls/transcripts``."""
    from platformdirs import user_cache_dir  # imported late: it costs ~0.1 s at server start

    return Path(user_cache_dir("deepseek-ls")) / "transcripts"


class TranscriptWriter:
    """Appends finished exchanges to one Markdown file per session."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_directory()

    def path_for(self, session_id: str) -> Path:
        name = _UNSAFE.sub("_", session_id)[:64] or "session"
        return self.directory / f"chat-{name}.md"

    def append(self, session_id: str, *, title: str, question: str, context: FileContext | None,
               content: str, reasoning: str = "", model: str = "",
               when: _dt.datetime | None = None) -> Path:
        """Append one exchange; returns the file's path.

        Raises OSError when the file cannot be written; any text (lone
        surrogates included) can be written.
        """
        path = self.path_for(session_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        when = when or _dt.datetime.now().astimezone()
        parts: list[str] = []
        if not path.exists():
            parts.append(f"# DeepSeek chat `{session_id}`\n\n")
        parts.append(f"## {title}\n\n*{when:%Y-%m-%d %H:%M}{' · ' + model if model else ''}*\n\n")
        if question:
            parts.append("".join(f"> {line}\n" if line else ">\n" for line in question.strip().split("\n")) + "\n")
        if context is not None:
            parts.append(context.render() + "\n\n")
        if reasoning.strip():
            parts.append("<details><summary>Reasoning</summary>\n\n" + reasoning.strip() + "\n\n</details>\n\n")
        parts.append(content.strip() + "\n\n---\n\n")
        # the question and the document may hold lone surrogates (half an emoji): U+FFFD in the file
        with path.open("a", encoding="utf-8", errors="replace") as handle:
            handle.write(clean_text("".join(parts)))
        return path
