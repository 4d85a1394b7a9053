"""Chat sessions: bounded history per session id.

A session keeps its turns (question, answer, optional file context) and
builds the message list of the next request: the system prompt, the
history, the new question last. Only the answer's ``content`` is kept:
reasoning is never sent back. The store keeps at most ``max_sessions``
sessions (least recently used evicted); a history longer than
``history_chars`` loses its oldest turns, while the system prompt and the
session's file context stay first.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from ..prompt.chat import SYSTEM_PROMPT, FileContext, user_message

#: Sessions kept at most (the least recently used is dropped).
SESSIONS_MAX = 32
#: Characters of history sent with a question at most (the oldest turns go first).
SESSION_HISTORY_CHARS = 60000


@dataclass(frozen=True)
class Turn:
    """One exchange (the answer is empty while it is pending)."""

    question: str
    answer: str = ""
    context: FileContext | None = None


def _fit(turns: list[Turn], system: str, budget: int) -> tuple[list[Turn], FileContext | None]:
    """Drop the oldest turns until the messages fit ``budget`` characters.

    Returns the kept turns and the pinned file context to put before the
    first kept question (None when the first kept turn carries its own, or
    when the session has none). The last turn is always kept.
    """
    pinned = next((t.context for t in turns if t.context is not None), None)
    sizes = [len(t.question) + len(t.answer) + (len(t.context.render()) if t.context else 0) for t in turns]
    pinned_size = len(pinned.render()) if pinned else 0

    def carried(first: int) -> bool:
        kept = turns[first:]
        return pinned is not None and kept[0].context is None and all(t.context is not pinned for t in kept)

    def size(first: int) -> int:
        return len(system) + sum(sizes[first:]) + (pinned_size if carried(first) else 0)

    first = 0
    while first < len(turns) - 1 and size(first) > budget:
        first += 1
    return turns[first:], (pinned if carried(first) else None)


@dataclass
class Session:
    """History of one conversation."""

    id: str
    system: str = SYSTEM_PROMPT
    history_chars: int = SESSION_HISTORY_CHARS
    turns: list[Turn] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False, compare=False)

    def messages(self, question: str, context: FileContext | None = None) -> list[dict[str, Any]]:
        """The messages of a request asking ``question`` next (history trimmed to fit)."""
        kept, pinned = _fit([*self.turns, Turn(question, "", context)], self.system, self.history_chars)
        out: list[dict[str, Any]] = [{"role": "system", "content": self.system}]
        for i, turn in enumerate(kept):
            ctx = turn.context if turn.context is not None else (pinned if i == 0 else None)
            out.append({"role": "user", "content": user_message(turn.question, ctx)})
            if i < len(kept) - 1:
                out.append({"role": "assistant", "content": turn.answer})
        return out

    def record(self, question: str, answer: str, context: FileContext | None = None) -> None:
        """Remember a finished exchange (answer content only, never reasoning)."""
        kept, pinned = _fit([*self.turns, Turn(question, answer, context)], self.system, self.history_chars)
        if pinned is not None:
            kept[0] = Turn(kept[0].question, kept[0].answer, pinned)
        self.turns = kept


class SessionStore:
    """Sessions by id, least recently used evicted beyond ``max_sessions``."""

    def __init__(self, max_sessions: int = SESSIONS_MAX, history_chars: int = SESSION_HISTORY_CHARS,
                 system: str = SYSTEM_PROMPT) -> None:
        self.max_sessions = max_sessions
        self.history_chars = history_chars
        self.system = system
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._sessions

    def history_size(self, session_id: str | None) -> int:
        """Characters of history a new question in ``session_id`` may carry (0 for a new session)."""
        session = self._sessions.get(session_id) if session_id else None
        if session is None:
            return 0
        size = sum(len(t.question) + len(t.answer) + (len(t.context.render()) if t.context else 0)
                   for t in session.turns)
        return min(size, session.history_chars)

    def get(self, session_id: str | None = None) -> Session:
        """The session ``session_id`` (created when unknown), or a new one when None."""
        if session_id is None:
            session_id = uuid.uuid4().hex[:12]
        session = self._sessions.get(session_id)
        if session is None:
            session = Session(session_id, system=self.system, history_chars=self.history_chars)
            self._sessions[session_id] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(session_id)
        return session
