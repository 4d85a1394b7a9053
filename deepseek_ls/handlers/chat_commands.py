"""Chat commands: ``deepseek.chat``, ``deepseek.explainSelection``, ``deepseek.cancel``.

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
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcRequestCancelled

from ..api.client import Usage
from ..api.errors import DeepSeekError, RateLimitError, ServerError, StreamError, redact
from ..chat.manager import ChatAnswer, ChatManager
from ..chat.transcript import TranscriptWriter
from ..prompt.chat import EXPLAIN_QUESTION, FileContext, context_for, selection_budget
from ..server import DeepSeekLanguageServer

log = logging.getLogger(__name__)

CHAT_STREAM = "deepseek/chatStream"
#: LSP ``RequestFailed``: the request was valid but the backend failed.
REQUEST_FAILED = -32803
#: Minimum interval between two ``$/progress`` reports (s).
PROGRESS_INTERVAL_S = 0.25
#: Longest wait for the client to answer ``window/workDoneProgress/create`` before ending (s).
PROGRESS_CREATE_WAIT_S = 5.0


# -- helpers shared with code_actions ---------------------------------------
def manager(ls: DeepSeekLanguageServer) -> ChatManager:
    """The server's ChatManager (created on first use)."""
    chat = getattr(ls, "chat", None)
    if chat is None:
        def count(model: str, usage: Usage, endpoint: Any = None, kind: str = "chat") -> None:
            # totals, log line, the ledger row (per endpoint; kind chat, or action for a code
            # action) and a status notification
            ls.service.record_usage(model, usage, kind=kind, endpoint=endpoint)

        # require_client raises the error that says why there is no client (no key, a blocking setting)
        chat = ChatManager(ls.service.require_client, lambda: ls.service.settings, on_usage=count,
                           endpoints=ls.service.endpoints)  # i14 failover
        chat.on_action_usage = lambda model, usage, endpoint=None: count(model, usage, endpoint, kind="action")
        ls.chat = chat  # type: ignore[attr-defined]
    return chat


def on_request_cancelled(ls: DeepSeekLanguageServer, callback: Callable[[], Any]) -> None:
    """Call ``callback`` when the client sends ``$/cancelRequest`` for the request being handled.

    pygls cancels the request's outer future (and answers -32800) but never
    the command coroutine (pygls json_rpc.py
    ``_handle_cancel_notification``), so we watch that future. pygls has no
    public hook for this; without the attribute we simply cannot notice.
    """
    futures = getattr(ls.protocol, "_request_futures", None)
    msg_id = ls.protocol.msg_id
    future = futures.get(msg_id) if isinstance(futures, dict) and msg_id is not None else None
    if future is None:
        return

    def done(f: Any) -> None:
        if f.cancelled():
            callback()

    future.add_done_callback(done)


def user_message(error: DeepSeekError) -> str:
    """One clear sentence about a failure, with what to do (never a key)."""
    if isinstance(error, (ServerError, RateLimitError)) and error.endpoint is None:
        hint = "DeepSeek is busy or failing; try again in a moment."
    else:
        hint = error.hint
    return redact(f"{error} {hint}".strip())


def failure(error: DeepSeekError) -> JsonRpcException:
    """The JSON-RPC error result for a failed chat or action."""
    data: dict[str, Any] = {"kind": type(error).__name__}
    status = getattr(error, "status", None)
    if status is not None:
        data["status"] = status
    return JsonRpcException(message=user_message(error), code=REQUEST_FAILED, data=data)


def _arg(args: tuple[Any, ...]) -> dict[str, Any]:
    arg = args[0] if args else {}
    if not isinstance(arg, dict):
        raise JsonRpcInvalidParams("expected one argument object")
    return arg


def _position(value: Any) -> types.Position:
    if not isinstance(value, dict) or not isinstance(value.get("line"), int) \
            or not isinstance(value.get("character"), int):
        raise JsonRpcInvalidParams("a position needs integer line and character")
    return types.Position(line=max(0, value["line"]), character=max(0, value["character"]))


def parse_range(value: Any) -> types.Range:
    """A Range from the raw JSON of a command argument."""
    if isinstance(value, types.Range):
        return value
    if not isinstance(value, dict):
        raise JsonRpcInvalidParams("range must be {start, end}")
    return types.Range(start=_position(value.get("start")), end=_position(value.get("end")))


def offsets(ls: DeepSeekLanguageServer, text: str, rng: types.Range) -> tuple[int, int]:
    """Code-point offsets of a range (in the negotiated encoding), ordered."""
    a, b = ls.offset(text, rng.start), ls.offset(text, rng.end)
    return (a, b) if a <= b else (b, a)


def refuse_excluded(ls: DeepSeekLanguageServer, uri: str) -> None:
    """i14: raise a clear ``RequestFailed`` (data ``{"kind": "excluded"}``) when ``uri`` is never sent."""
    why = ls.exclusion(uri)
    if why is None:
        return
    name = ls.display_path(uri)
    raise JsonRpcException(
        message=f"{why.message(name)} Nothing was sent. To allow it, add `!{name}` to the setting deepseek.exclude.",
        code=REQUEST_FAILED, data={"kind": "excluded", "pattern": why.pattern, "source": why.source})


def _context(ls: DeepSeekLanguageServer, uri: Any, rng: Any, *, whole_line: bool = False,
             question: str = "", session: Any = None) -> FileContext:
    """The code context of a chat: the selection (cut to what the chat model can read with
    ``question`` in ``session``, and then said so), or the file around the range."""
    if not isinstance(uri, str) or not uri:
        raise JsonRpcInvalidParams("uri must be a document URI")
    snap = ls.snapshot(uri)
    if snap is None:
        raise JsonRpcInvalidParams(f"{uri} is not open in the editor")
    refuse_excluded(ls, uri)  # i14
    if rng is None:  # the file from its start, up to the context limit
        return context_for(snap.path, snap.language_id, snap.text, 0, 0)
    start, end = offsets(ls, snap.text, parse_range(rng))
    if start == end and whole_line:  # explain with an empty selection: the line at the cursor
        start = snap.text.rfind("\n", 0, start) + 1
        nl = snap.text.find("\n", end)
        end = len(snap.text) if nl < 0 else nl
    settings = ls.service.settings
    history = manager(ls).store.history_size(session if isinstance(session, str) else None)
    budget = selection_budget(settings.chat_model, settings.chat_max_tokens, question, history_chars=history)
    context = context_for(snap.path, snap.language_id, snap.text, start, end, budget_tokens=budget)
    notice = context.notice(settings.chat_model)
    if notice:
        log.warning("%s", notice)
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning,
                                                       message=f"DeepSeek: {notice}"))
    return context


def _span(context: FileContext) -> str:
    """``path:first-last`` of a context, saying so when the selection was cut."""
    if not context.truncated:
        return f"{context.path}:{context.first_line}-{context.last_line}"
    return context.span()


# -- the editor side of a running chat -------------------------------------------
class EditorSink:
    """Shows one running chat: chatStream notifications, $/progress, transcript."""

    def __init__(self, ls: DeepSeekLanguageServer, stream: str, *, title: str, question: str,
                 context: FileContext | None) -> None:
        self.ls = ls
        self.stream = stream
        self.title = title
        self.question = question
        self.context = context
        self.session = ""
        self.token: str | None = None
        self._progress: asyncio.Task | None = None
        self._last_report = 0.0
        self._answer_tail = ""
        self._phase = "waiting"
        self.started = time.monotonic()

    def _notify(self, event: str, **fields: Any) -> None:
        payload = {"stream": self.stream, "session": self.session, "event": event, **fields}
        try:
            self.ls.protocol.notify(CHAT_STREAM, payload)
        except Exception:  # the client went away
            log.debug("chatStream not sent", exc_info=True)

    # ChatSink --------------------------------------------------------
    def begin(self, session: str) -> None:
        self.session = session
        self._notify("begin")
        if self.ls.client_supports("window.work_done_progress"):
            self.token = str(uuid.uuid4())  # pygls never forgets tokens: a fresh one each time
            manager(self.ls).bind_token(self.stream, self.token)
            self._progress = asyncio.ensure_future(self._start_progress(self.token))

    async def _start_progress(self, token: str) -> bool:
        if not await self.ls.create_progress(token):  # refused or not answered: the chat goes on
            return False
        self.ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(
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
        self.ls.work_done_progress.report(self.token, types.WorkDoneProgressReport(message=message))

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
        except (TimeoutError, Exception):
            ok = False
        if ok:
            self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))

    async def done(self, answer: ChatAnswer) -> None:
        self._notify("done", result=answer.to_json())
        await self._end("done")
        await self._transcript(answer)

    async def failed(self, error: DeepSeekError) -> None:
        message = user_message(error)
        self._notify("error", message=message)
        await self._end("failed")
        if self.ls.service.already_told(error):  # the error answers the command; no second popup
            return
        self.ls.window_show_message(types.ShowMessageParams(
            type=types.MessageType.Error if not isinstance(error, StreamError) else types.MessageType.Warning,
            message=f"DeepSeek: {message}"))

    async def cancelled(self) -> None:
        self._notify("error", message="Cancelled.")
        await self._end("cancelled")

    async def _transcript(self, answer: ChatAnswer) -> None:
        settings = self.ls.service.settings
        if not settings.chat_transcripts:
            return
        writer = getattr(self.ls, "transcripts", None)
        if writer is None:
            writer = TranscriptWriter()
            self.ls.transcripts = writer  # type: ignore[attr-defined]
        try:
            path = writer.append(answer.session, title=self.title, question=self.question,
                                 context=self.context, content=answer.content, reasoning=answer.reasoning,
                                 model=answer.model)
        except (OSError, ValueError) as exc:  # a full disk, a path the OS refuses
            log.warning("transcript not written: %s", exc)
            return
        if not self.ls.client_supports("window.show_document.support"):
            # the client cannot open it: say where it is, in the log (the command's result has the answer)
            self.ls.log_message(f"DeepSeek: the answer is also in {path}", types.MessageType.Info)
            return
        try:  # within its deadline: a client that never answers does not hold the chat's answer
            shown = await self.ls.ask_client(types.WINDOW_SHOW_DOCUMENT, types.ShowDocumentParams(
                uri=path.as_uri(), take_focus=True))
        except (TimeoutError, JsonRpcException) as exc:
            log.info("showDocument failed: %s", exc or type(exc).__name__)
            return
        if not getattr(shown, "success", False):  # refused, null or of another shape
            self.ls.log_message(f"DeepSeek: the answer is also in {path}", types.MessageType.Info)


async def ask(ls: DeepSeekLanguageServer, *, question: str, title: str, context: FileContext | None,
              session: Any, stream: Any, transcript_question: str | None = None) -> dict[str, Any]:
    """Run one chat command end to end; returns ``{session, content, reasoning?, usage}``."""
    if session is not None and not isinstance(session, str):
        raise JsonRpcInvalidParams("session must be a string")
    stream_id = str(stream) if isinstance(stream, (str, int)) and str(stream) else uuid.uuid4().hex[:12]
    chat = manager(ls)
    sink = EditorSink(ls, stream_id, title=title, question=transcript_question or question, context=context)
    on_request_cancelled(ls, lambda: chat.cancel_stream(stream_id))
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


def register(server: DeepSeekLanguageServer) -> None:
    manager(server)
    server.transcripts = None  # type: ignore[attr-defined]  # a TranscriptWriter, made on first use

    @server.command("deepseek.chat")
    async def chat(ls: DeepSeekLanguageServer, *args: Any) -> dict[str, Any]:
        arg = _arg(args)
        message = arg.get("message")
        if not isinstance(message, str) or not message.strip():
            raise JsonRpcInvalidParams("message must be a non-empty string")
        context = (_context(ls, arg["uri"], arg.get("range"), question=message, session=arg.get("session"))
                   if arg.get("uri") else None)
        title = " ".join(message.split())
        title = title if len(title) <= 60 else title[:59] + "…"
        return await ask(ls, question=message, title=title, context=context,
                         session=arg.get("session"), stream=arg.get("stream"))

    @server.command("deepseek.explainSelection")
    async def explain_selection(ls: DeepSeekLanguageServer, *args: Any) -> dict[str, Any]:
        arg = _arg(args)
        if "range" not in arg:
            raise JsonRpcInvalidParams("explainSelection needs {uri, range}")
        context = _context(ls, arg.get("uri"), arg["range"], whole_line=True, question=EXPLAIN_QUESTION,
                           session=arg.get("session"))
        title = f"Explain {_span(context)}"
        return await ask(ls, question=EXPLAIN_QUESTION, title=title, context=context,
                         session=arg.get("session"), stream=arg.get("stream"), transcript_question="")

    @server.command("deepseek.cancel")
    def cancel(ls: DeepSeekLanguageServer, *args: Any) -> dict[str, int]:
        arg = _arg(args)
        session = arg.get("session")
        return {"cancelled": manager(ls).cancel(session if isinstance(session, str) else None)}

    @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def work_done_progress_cancel(ls: DeepSeekLanguageServer, params: types.WorkDoneProgressCancelParams) -> None:
        manager(ls).cancel_token(str(params.token))
