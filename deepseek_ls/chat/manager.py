"""Run, stream and cancel chats; run prefix-completion actions (no LSP here).

Every chat runs in its own task, registered under its stream id, so that
any stop signal (the ``deepseek.cancel`` command, a cancelled progress, a
``$/cancelRequest`` that pygls does not propagate to commands) can cancel
it; cancelling the task closes the HTTP stream at once. What the user sees
goes through a :class:`ChatSink` (the LSP adapter implements it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..api.chat import ChatRequest, ChatResult, Timeouts, complete_once, stream_chat
from ..api.client import DeepSeekClient, Usage
from ..api.errors import DeepSeekError, InternalError, MissingApiKeyError
from ..api.retry import RetryPolicy
from ..policy import MASKER
from ..settings import Settings
from .prefix import PrefixPlan
from .prompts import FileContext
from .sessions import SessionStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatAnswer:
    """The final answer of a chat command."""

    session: str
    content: str
    reasoning: str
    usage: Usage
    model: str
    finish_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The command result ``{session, content, reasoning?, usage}``."""
        out: dict[str, Any] = {"session": self.session, "content": self.content}
        if self.reasoning:
            out["reasoning"] = self.reasoning
        out["usage"] = self.usage.to_json()
        return out


class ChatSink(Protocol):
    """Where a running chat shows itself."""

    def begin(self, session: str) -> None: ...
    def delta(self, kind: str, text: str) -> None: ...
    def retrying(self, attempt: int, error: BaseException, wait_s: float) -> None: ...
    async def done(self, answer: ChatAnswer) -> None: ...
    async def failed(self, error: DeepSeekError) -> None: ...
    async def cancelled(self) -> None: ...


@dataclass
class Run:
    """One running chat."""

    stream: str
    session: str
    task: asyncio.Task
    tokens: set[str] = field(default_factory=set)


class ChatManager:
    """Sessions plus the running chats, with their cancellation."""

    def __init__(self, client: Callable[[], DeepSeekClient | None], settings: Callable[[], Settings], *,
                 on_usage: Callable[..., None] = lambda model, usage, kind="chat": None,
                 timeouts: Timeouts | None = None, policy: RetryPolicy | None = None,
                 store: SessionStore | None = None) -> None:
        self._client = client
        self._settings = settings
        self.on_usage = on_usage
        self.timeouts = timeouts or Timeouts()
        self.policy = policy or RetryPolicy()
        self.store = store or SessionStore()
        self.runs: dict[str, Run] = {}

    # -- chat ----------------------------------------------------------
    def request_for(self, messages: list[dict[str, Any]]) -> ChatRequest:
        """The streamed request for ``messages`` under the current settings."""
        s = self._settings()
        return ChatRequest(model=s.chat_model, messages=MASKER.mask_messages(messages),  # i14
                           thinking=s.chat_thinking,
                           max_tokens=s.chat_max_tokens)

    async def ask(self, question: str, sink: ChatSink, *, stream: str, session: str | None = None,
                  context: FileContext | None = None) -> ChatAnswer:
        """Ask ``question`` in ``session`` (a new one when None), streaming into ``sink``.

        Raises the :class:`DeepSeekError` that ended it, or ``CancelledError``.
        """
        chat = self.store.get(session)
        task = asyncio.ensure_future(self._run(chat.id, question, context, sink))
        self.runs[stream] = Run(stream, chat.id, task)
        try:
            return await task
        finally:
            self.runs.pop(stream, None)

    async def _run(self, session_id: str, question: str, context: FileContext | None,
                   sink: ChatSink) -> ChatAnswer:
        chat = self.store.get(session_id)
        sink.begin(chat.id)
        try:
            async with chat.lock:  # one question at a time per session: the history stays ordered
                client = self._client()
                if client is None:
                    raise MissingApiKeyError()
                request = self.request_for(chat.messages(question, context))
                result = await stream_chat(client, request, sink.delta, timeouts=self.timeouts,
                                           policy=self.policy, on_retry=sink.retrying)
                self.on_usage(result.model, result.usage)
                chat.record(question, result.content, context)
        except asyncio.CancelledError:
            await sink.cancelled()
            raise
        except DeepSeekError as exc:
            await sink.failed(exc)
            raise
        except Exception as exc:  # a bug or an unexpected answer: still one clear end, never a hang
            log.error("chat failed unexpectedly: %s: %s", type(exc).__name__, exc, exc_info=exc)
            error = InternalError(f"The chat hit an internal error ({type(exc).__name__}).")
            await sink.failed(error)
            raise error from None
        answer = ChatAnswer(chat.id, result.content, result.reasoning, result.usage, result.model,
                            result.finish_reason)
        await sink.done(answer)
        return answer

    def bind_token(self, stream: str, token: str) -> None:
        """Tie a progress token to a running chat (its cancel stops the chat)."""
        run = self.runs.get(stream)
        if run is not None:
            run.tokens.add(token)

    def cancel(self, session: str | None = None) -> int:
        """Cancel the running chats of ``session`` (all when None); returns how many."""
        hits = [r for r in list(self.runs.values()) if session is None or r.session == session]
        for run in hits:
            run.task.cancel()
        return len(hits)

    async def stop_all(self, timeout_s: float = 2.0) -> int:
        """Cancel every running chat and wait (up to ``timeout_s``) until each
        has ended as cancelled (shutdown: before the connections close, so
        none ends as "the connection broke"). Returns how many there were."""
        tasks = [run.task for run in list(self.runs.values()) if not run.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        return len(tasks)

    def cancel_stream(self, stream: str) -> bool:
        run = self.runs.get(stream)
        if run is None:
            return False
        run.task.cancel()
        return True

    def cancel_token(self, token: str) -> int:
        hits = [r for r in list(self.runs.values()) if token in r.tokens]
        for run in hits:
            run.task.cancel()
        return len(hits)

    # -- code actions --------------------------------------------------
    async def prefix_complete(self, plan: PrefixPlan) -> ChatResult:
        """Run one prefix-completion request (with retries) and count its usage."""
        client = self._client()
        if client is None:
            raise MissingApiKeyError()
        s = self._settings()
        request = plan.request(s.chat_model, s.chat_max_tokens)
        request = dataclasses.replace(request, messages=MASKER.mask_messages(request.messages))  # i14
        result = await complete_once(client, request,
                                     timeouts=self.timeouts, policy=self.policy)
        self.on_usage(result.model, result.usage, kind="action")  # the ledger's kind of a code action
        return result
