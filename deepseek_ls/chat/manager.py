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
from ..api.client import DeepSeekClient
from ..api.endpoints import PRIMARY, Endpoint
from ..api.errors import (
    APIConnectionError,
    APITimeoutError,
    DeepSeekError,
    InternalError,
    MissingApiKeyError,
    RateLimitError,
    ServerError,
    StreamError,
)
from ..api.retry import RetryPolicy
from ..api.types import Usage
from ..policy import MASKER
from ..prompt.chat import FileContext
from ..prompt.prefix import PrefixPlan
from ..settings import Settings
from .sessions import SessionStore

log = logging.getLogger(__name__)

#: Failures after which a chat is asked again at the next endpoint (when no answer text was
#: shown yet): the endpoint is down or overloaded, not the request wrong or the key refused.
FAILOVER_ERRORS = (ServerError, RateLimitError, APIConnectionError, APITimeoutError, StreamError)


@dataclass(frozen=True)
class ChatAnswer:
    """The final answer of a chat command."""

    #: the session it belongs to (ask again in it to follow up)
    session: str
    #: the answer's text (``\n`` line breaks)
    content: str
    #: the thinking model's reasoning ("" without thinking); never sent back in the history
    reasoning: str
    usage: Usage
    #: the model that answered
    model: str
    #: who answered: "deepseek" or a fallback endpoint's name
    endpoint: str = PRIMARY

    def to_json(self) -> dict[str, Any]:
        """The command result ``{session, content, reasoning?, usage, endpoint?}`` (``endpoint``
        only when a fallback answered)."""
        out: dict[str, Any] = {"session": self.session, "content": self.content}
        if self.reasoning:
            out["reasoning"] = self.reasoning
        out["usage"] = self.usage.to_json()
        if self.endpoint != PRIMARY:
            out["endpoint"] = self.endpoint
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
    task: asyncio.Task[ChatAnswer]
    tokens: set[str] = field(default_factory=set)


class ChatManager:
    """Sessions plus the running chats, with their cancellation."""

    def __init__(self, client: Callable[[], DeepSeekClient | None], settings: Callable[[], Settings], *,
                 on_usage: Callable[..., None] = lambda model, usage, endpoint=None: None,
                 timeouts: Timeouts | None = None, policy: RetryPolicy | None = None,
                 store: SessionStore | None = None,
                 endpoints: Callable[[], list[Endpoint]] | None = None) -> None:
        """``client()`` gives the primary client or raises why there is none;
        ``endpoints`` (failover) gives every endpoint in failover order, the
        primary first; without it every request goes to ``client()``. ``on_usage``
        gets ``(model, usage)``, plus the endpoint when a fallback answered, for
        every answer this manager gets (its owner knows what kind of use it
        counts: the chat feature and the code-action feature each have their own
        manager)."""
        #: the primary client (or None), or raises the error that says why there is none
        self._client = client
        #: every endpoint in failover order (None: only ``client()``)
        self._endpoints = endpoints
        #: the current settings (model, thinking, max tokens)
        self._settings = settings
        #: called with ``(model, usage[, endpoint])`` for each answer
        self.on_usage = on_usage
        self.timeouts = timeouts or Timeouts()
        self.policy = policy or RetryPolicy()
        #: the chat sessions (bounded history per session id)
        self.store = store or SessionStore()
        #: the running chats by stream id
        self.runs: dict[str, Run] = {}

    # -- chat ----------------------------------------------------------
    def request_for(self, messages: list[dict[str, Any]], model: str | None = None) -> ChatRequest:
        """The streamed request for ``messages`` under the current settings (``model``
        overrides ``deepseek.chat.model``: a fallback's own)."""
        s = self._settings()
        return ChatRequest(model=model or s.chat_model, messages=MASKER.mask_messages(messages),  # secrets masked
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
                messages = chat.messages(question, context)
                shown = False

                def delta(kind: str, text: str) -> None:
                    nonlocal shown
                    shown = True
                    sink.delta(kind, text)

                async def call(client: DeepSeekClient, model: str | None) -> ChatResult:
                    return await stream_chat(client, self.request_for(messages, model), delta,
                                             timeouts=self.timeouts, policy=self.policy,
                                             on_retry=sink.retrying)

                result, endpoint = await self._failover("chat", call, lambda: shown)
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
        answer = ChatAnswer(chat.id, result.content, result.reasoning, result.usage, result.model, endpoint)
        await sink.done(answer)
        return answer

    def _candidates(self, use: str, deepseek_only: bool = False) -> Any:
        """Endpoints to try for ``use``, in order, each claimed from its breaker as it
        comes (a half-open one gives its single probe); when every breaker is
        open, the first endpoint serving ``use`` anyway (the user asked)."""
        endpoints = [e for e in self._endpoints() if e.serves(use)] if self._endpoints else []
        if deepseek_only:
            endpoints = [e for e in endpoints if e.client is not None and e.client.kind == "deepseek"]
        given = False
        for endpoint in endpoints:
            if endpoint.breaker.allow():
                given = True
                yield endpoint
        if not given and endpoints:
            yield endpoints[0]

    async def _failover(self, use: str, call: Callable[[DeepSeekClient, str | None], Any],
                        shown: Callable[[], bool] = lambda: False,
                        deepseek_only: bool = False) -> tuple[ChatResult, str]:
        """Run ``call(client, model)`` at the first endpoint that answers; returns
        the result and the endpoint's name.

        The next endpoint is tried after a failure of :data:`FAILOVER_ERRORS`
        (retries at that endpoint included) when ``shown()`` says no answer
        text reached the user yet; other failures (a refused key, a bad
        request) end the chat at once. Each outcome feeds that endpoint's
        breaker; usage goes to ``on_usage`` with the endpoint.
        """
        if self._endpoints is None:
            client = self._client()
            if client is None:
                raise MissingApiKeyError()
            result = await call(client, None)
            self._count(result)
            return result, PRIMARY
        self._client()  # raises why the primary cannot be used at all (no key, a blocking setting)
        last: DeepSeekError | None = None
        for endpoint in self._candidates(use, deepseek_only):
            assert endpoint.client is not None
            try:
                result = await call(endpoint.client, None if endpoint.primary else endpoint.model(use))
            except asyncio.CancelledError:
                endpoint.breaker.release_probe()
                raise
            except DeepSeekError as exc:
                if not endpoint.primary:  # a fallback failed: the message and hint name this endpoint, not DeepSeek
                    exc.at_endpoint(endpoint.name, endpoint.config.api_key_env if endpoint.config else "")
                if not isinstance(exc, FAILOVER_ERRORS):
                    endpoint.breaker.release_probe()
                    raise
                endpoint.breaker.record_failure(getattr(exc, "retry_after", None))
                if shown():
                    raise
                log.warning("%s at %s failed (%s); trying the next endpoint", use, endpoint.name, exc)
                last = exc
                continue
            except BaseException:
                endpoint.breaker.release_probe()
                raise
            endpoint.breaker.record_success()
            if endpoint.primary:
                self._count(result)
            else:
                log.info("%s answered by fallback endpoint %r", use, endpoint.name)
                self._count(result, endpoint)
            return result, endpoint.name
        if last is not None:
            raise last
        raise MissingApiKeyError()

    def _count(self, result: ChatResult, endpoint: Endpoint | None = None) -> None:
        if endpoint is None:
            self.on_usage(result.model, result.usage)
        else:
            self.on_usage(result.model, result.usage, endpoint)

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
        s = self._settings()

        async def call(client: DeepSeekClient, model: str | None) -> ChatResult:
            request = plan.request(model or s.chat_model, s.chat_max_tokens)
            request = dataclasses.replace(request, messages=MASKER.mask_messages(request.messages))  # secrets masked
            return await complete_once(client, request, timeouts=self.timeouts, policy=self.policy)

        # prefix completion is DeepSeek's beta: only endpoints of that kind stand in
        result, _endpoint = await self._failover("chat", call, deepseek_only=True)
        return result
