"""Chat and explain: ``deepseek.chat``, ``deepseek.explainSelection``, ``deepseek.cancel``.

Answers stream three ways at once (see docs/PROTOCOL.md and README.md):
the ``deepseek/chatStream`` notification (for the editor plugins),
``$/progress`` begin/report/end when the client supports
``window.workDoneProgress`` (cancellable), and, for plain LSP clients, a
Markdown transcript opened with ``window/showDocument`` (setting
``chat.transcripts``). A chat stops at once on ``deepseek.cancel``, on
``window/workDoneProgress/cancel`` of its progress, or on ``$/cancelRequest``
of its ``workspace/executeCommand`` (pygls answers -32800 but keeps running
the command coroutine, so we watch the request ourselves).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcRequestCancelled

from ..api.endpoints import Endpoint
from ..api.errors import DeepSeekError, StreamError
from ..api.types import Usage
from ..service import Service
from .commands import argument, failure, parse_range, user_message
from .connection import DeepSeekLanguageServer
from .documents import DocumentsFeature

if TYPE_CHECKING:  # the chat machinery (and its HTTP stack) is imported at the first chat, not at start-up
    from ..chat.manager import ChatAnswer, ChatManager
    from ..chat.transcript import TranscriptWriter
    from ..prompt.chat import FileContext

log = logging.getLogger(__name__)

#: The chat's streaming notification (server -> client); see docs/PROTOCOL.md.
CHAT_STREAM = "deepseek/chatStream"
#: Minimum interval between two ``$/progress`` reports (s).
PROGRESS_INTERVAL_S = 0.25
#: Longest wait for the client to answer ``window/workDoneProgress/create`` before ending (s).
PROGRESS_CREATE_WAIT_S = 5.0


class ChatFeature:
    """The chats of one connection: sessions, running chats, transcripts."""

    def __init__(self, server: DeepSeekLanguageServer, service: Service, documents: DocumentsFeature) -> None:
        self.server = server
        self.service = service
        self.documents = documents
        #: where transcripts are written; made on first use (finding the cache directory costs
        #: ~0.1 s, not paid at start-up)
        self._transcripts: TranscriptWriter | None = None

    def _count(self, model: str, usage: Usage, endpoint: Endpoint | None = None) -> None:
        """A chat's usage: totals, log line, the ledger row (kind ``chat``, per endpoint), status."""
        self.service.record_usage(model, usage, kind="chat", endpoint=endpoint)

    @functools.cached_property
    def manager(self) -> ChatManager:
        """Sessions and running chats (made at the first use: the chat machinery is not imported
        at start-up); ``require_client`` raises why there is no client (no key, a blocking
        setting); every endpoint in failover order."""
        from ..chat.manager import ChatManager

        return ChatManager(self.service.require_client, lambda: self.service.settings, on_usage=self._count,
                           endpoints=self.service.endpoints)

    @property
    def transcripts(self) -> TranscriptWriter:
        """The transcript writer (made on first use)."""
        if self._transcripts is None:
            from ..chat.transcript import TranscriptWriter

            self._transcripts = TranscriptWriter()
        return self._transcripts

    # -- commands -------------------------------------------------------------
    async def chat(self, args: tuple[Any, ...]) -> dict[str, Any]:
        """``deepseek.chat`` ``{message, uri?, range?, session?, stream?}``; returns
        ``{session, content, reasoning?, usage, endpoint?}``."""
        arg = argument(args)
        message = arg.get("message")
        if not isinstance(message, str) or not message.strip():
            raise JsonRpcInvalidParams("message must be a non-empty string")
        context = (self._context(arg["uri"], arg.get("range"), question=message, session=arg.get("session"))
                   if arg.get("uri") else None)
        title = " ".join(message.split())
        title = title if len(title) <= 60 else title[:59] + "…"
        return await self.ask(question=message, title=title, context=context,
                              session=arg.get("session"), stream=arg.get("stream"))

    async def explain_selection(self, args: tuple[Any, ...]) -> dict[str, Any]:
        """``deepseek.explainSelection`` ``{uri, range, session?, stream?}`` (an empty range:
        the line at the cursor); returns what :meth:`chat` returns."""
        arg = argument(args)
        if "range" not in arg:
            raise JsonRpcInvalidParams("explainSelection needs {uri, range}")
        from ..prompt.chat import EXPLAIN_QUESTION

        context = self._context(arg.get("uri"), arg["range"], whole_line=True, question=EXPLAIN_QUESTION,
                                session=arg.get("session"))
        title = f"Explain {_span(context)}"
        return await self.ask(question=EXPLAIN_QUESTION, title=title, context=context,
                              session=arg.get("session"), stream=arg.get("stream"), transcript_question="")

    def cancel(self, args: tuple[Any, ...]) -> dict[str, int]:
        """``deepseek.cancel`` ``{session?}``: stop the running chats of a session (all without
        one); returns ``{cancelled: <how many>}``."""
        session = argument(args).get("session")
        return {"cancelled": self.manager.cancel(session if isinstance(session, str) else None)}

    def progress_cancelled(self, params: types.WorkDoneProgressCancelParams) -> None:
        """``window/workDoneProgress/cancel``: stop the chat showing that progress."""
        self.manager.cancel_token(str(params.token))

    async def stop_all(self, timeout_s: float) -> None:
        """Cancel every running chat and wait (up to ``timeout_s``) until each has ended."""
        if "manager" in self.__dict__:  # else no chat ever ran
            await self.manager.stop_all(timeout_s)

    # -- one chat, end to end ----------------------------------------------------
    async def ask(self, *, question: str, title: str, context: FileContext | None, session: Any, stream: Any,
                  transcript_question: str | None = None) -> dict[str, Any]:
        """Run one chat command end to end; returns ``{session, content, reasoning?, usage}``.

        Raises ``RequestFailed`` (a backend failure), ``RequestCancelled`` or InvalidParams."""
        if session is not None and not isinstance(session, str):
            raise JsonRpcInvalidParams("session must be a string")
        stream_id = str(stream) if isinstance(stream, (str, int)) and str(stream) else uuid.uuid4().hex[:12]
        chat = self.manager
        sink = EditorSink(self, stream_id, title=title, question=transcript_question or question, context=context)
        self.server.on_request_cancelled(lambda: chat.cancel_stream(stream_id))
        try:
            answer = await chat.ask(question, sink, stream=stream_id, session=session or None, context=context)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # we ourselves are being cancelled (shutdown)
            raise JsonRpcRequestCancelled("The chat was cancelled.") from None
        except DeepSeekError as exc:
            raise failure(exc) from None
        return answer.to_json()

    def _context(self, uri: Any, rng: Any, *, whole_line: bool = False, question: str = "",
                 session: Any = None) -> FileContext:
        """The code context of a chat: the selection (cut to what the chat model can read with
        ``question`` in ``session``, and then said so), or the file around the range."""
        from ..prompt.chat import context_for, selection_budget

        if not isinstance(uri, str) or not uri:
            raise JsonRpcInvalidParams("uri must be a document URI")
        snap = self.documents.snapshot(uri)
        if snap is None:
            raise JsonRpcInvalidParams(f"{uri} is not open in the editor")
        self.documents.refuse_excluded(uri)  # a secret file is never sent: a clear error
        if rng is None:  # the file from its start, up to the context limit
            return context_for(snap.path, snap.language_id, snap.text, 0, 0)
        start, end = self.server.offsets(snap.text, parse_range(rng))
        if start == end and whole_line:  # explain with an empty selection: the line at the cursor
            start = snap.text.rfind("\n", 0, start) + 1
            nl = snap.text.find("\n", end)
            end = len(snap.text) if nl < 0 else nl
        settings = self.service.settings
        history = self.manager.store.history_size(session if isinstance(session, str) else None)
        budget = selection_budget(settings.chat_model, settings.chat_max_tokens, question, history_chars=history)
        context = context_for(snap.path, snap.language_id, snap.text, start, end, budget_tokens=budget)
        notice = context.notice(settings.chat_model)
        if notice:
            log.warning("%s", notice)
            self.server.show_message(f"DeepSeek: {notice}")
        return context


def _span(context: FileContext) -> str:
    """``path:first-last`` of a context, saying so when the selection was cut."""
    if not context.truncated:
        return f"{context.path}:{context.first_line}-{context.last_line}"
    return context.span()


class EditorSink:
    """Shows one running chat: chatStream notifications, $/progress, transcript
    (a :class:`~deepseek_ls.chat.manager.ChatSink`)."""

    def __init__(self, feature: ChatFeature, stream: str, *, title: str, question: str,
                 context: FileContext | None) -> None:
        self.feature = feature
        self.server = feature.server
        #: the stream id the editor follows this chat by (``deepseek/chatStream``'s ``stream``)
        self.stream = stream
        #: the progress title and the transcript's heading
        self.title = title
        #: the question as the transcript shows it ("" for explain)
        self.question = question
        self.context = context
        #: the chat's session id (known at ``begin``)
        self.session = ""
        #: the ``$/progress`` token, when the client shows progress
        self.token: str | None = None
        #: ``window/workDoneProgress/create`` in flight (True once the client accepted it)
        self._progress: asyncio.Task[bool] | None = None
        #: when the last progress report was sent (``time.monotonic()``)
        self._last_report = 0.0
        #: the answer's last 200 characters (its last line is the progress message)
        self._answer_tail = ""
        #: ``waiting``, ``thinking`` or ``answering``: a report is forced when it changes
        self._phase = "waiting"

    def _notify(self, event: str, **fields: Any) -> None:
        self.server.notify(CHAT_STREAM, {"stream": self.stream, "session": self.session, "event": event, **fields})

    # ChatSink --------------------------------------------------------
    def begin(self, session: str) -> None:
        self.session = session
        self._notify("begin")
        if self.server.client_supports("window.work_done_progress"):
            self.token = str(uuid.uuid4())  # pygls never forgets tokens: a fresh one each time
            self.feature.manager.bind_token(self.stream, self.token)
            self._progress = asyncio.ensure_future(self._start_progress(self.token))

    async def _start_progress(self, token: str) -> bool:
        if not await self.server.create_progress(token):  # refused or not answered: the chat goes on
            return False
        self.server.work_done_progress.begin(token, types.WorkDoneProgressBegin(
            title=self.title, cancellable=True, message="waiting for DeepSeek…"))
        return True

    def _progress_ready(self) -> bool:
        p = self._progress
        return p is not None and p.done() and not p.cancelled() and p.exception() is None and p.result()

    def _report(self, message: str, force: bool = False) -> None:
        now = time.monotonic()
        if self.token is None or not self._progress_ready():
            return
        if not force and now - self._last_report < PROGRESS_INTERVAL_S:
            return
        self._last_report = now
        self.server.work_done_progress.report(self.token, types.WorkDoneProgressReport(message=message))

    def delta(self, kind: str, text: str) -> None:
        self._notify(kind, text=text)
        if kind == "reasoning":
            phase_changed = self._phase != "thinking"
            self._phase = "thinking"
            self._report("thinking…", force=phase_changed)
        else:
            phase_changed = self._phase != "answering"
            self._phase = "answering"
            self._answer_tail = (self._answer_tail + text)[-200:]
            line = self._answer_tail.rstrip("\n").rsplit("\n", 1)[-1].strip()
            self._report(line[-60:] or "answering…", force=phase_changed)

    def retrying(self, attempt: int, error: BaseException, wait_s: float) -> None:
        log.warning("chat attempt %d failed (%s); retrying in %.1fs", attempt, error, wait_s)
        self._report(f"DeepSeek is busy; retrying (attempt {attempt + 1})…", force=True)

    async def _end(self, message: str) -> None:
        if self._progress is None or self.token is None:
            return
        try:
            ok = await asyncio.wait_for(asyncio.shield(self._progress), PROGRESS_CREATE_WAIT_S)
        except Exception:  # noqa: BLE001  # timed out or failed: no progress to end
            ok = False
        if ok:
            self.server.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))

    async def done(self, answer: ChatAnswer) -> None:
        self._notify("done", result=answer.to_json())
        await self._end("done")
        await self._transcript(answer)

    async def failed(self, error: DeepSeekError) -> None:
        message = user_message(error)
        self._notify("error", message=message)
        await self._end("failed")
        if self.feature.service.already_told(error):  # the error answers the command; no second popup
            return
        self.server.show_message(f"DeepSeek: {message}", types.MessageType.Warning if isinstance(
            error, StreamError) else types.MessageType.Error)

    async def cancelled(self) -> None:
        self._notify("error", message="Cancelled.")
        await self._end("cancelled")

    async def _transcript(self, answer: ChatAnswer) -> None:
        if not self.feature.service.settings.chat_transcripts:
            return
        try:
            path = self.feature.transcripts.append(
                answer.session, title=self.title, question=self.question, context=self.context,
                content=answer.content, reasoning=answer.reasoning, model=answer.model)
        except (OSError, ValueError) as exc:  # a full disk, a path the OS refuses
            log.warning("transcript not written: %s", exc)
            return
        if not self.server.client_supports("window.show_document.support"):
            # the client cannot open it: say where it is, in the log (the command's result has the answer)
            self.server.log_message(f"DeepSeek: the answer is also in {path}", types.MessageType.Info)
            return
        try:  # within its deadline: a client that never answers does not hold the chat's answer
            shown = await self.server.ask_client(types.WINDOW_SHOW_DOCUMENT, types.ShowDocumentParams(
                uri=path.as_uri(), take_focus=True))
        except (TimeoutError, JsonRpcException) as exc:
            log.info("showDocument failed: %s", exc or type(exc).__name__)
            return
        if not getattr(shown, "success", False):  # refused, null or of another shape
            self.server.log_message(f"DeepSeek: the answer is also in {path}", types.MessageType.Info)
