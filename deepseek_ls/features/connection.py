"""The connection to the editor: the pygls server and protocol, no feature logic.

:class:`TracingProtocol` keeps the LSP lifecycle (nothing before ``initialize``,
nothing after ``shutdown``), answers malformed requests, checks the shape of the
client's answers to our own requests and records ``lsp_recv`` for the benchmark.
:class:`DeepSeekLanguageServer` adds what every feature needs from the
connection: the negotiated position encoding, requests to the client within a
deadline, progress tokens, messages and log lines, client capabilities. The
feature owners (:mod:`deepseek_ls.features`) are built on top of it by
:func:`deepseek_ls.server.create_server`; this module imports none of them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import uuid
from collections.abc import Callable
from typing import Any

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.exceptions import JsonRpcException, JsonRpcInternalError
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from .. import __version__
from ..api.errors import json_kind, redact
from ..positions import Encoding, offset_at, position_at
from ..service import Service

log = logging.getLogger(__name__)


class _Rejected:
    """Stands for a request that failed to deserialize and was already answered."""

    jsonrpc = None


#: How long each server-to-client request may take before the server goes on without
#: its answer (seconds). A chat's answer is returned without its transcript shown; an
#: edit not answered is reported as not applied ("the editor did not answer").
CLIENT_DEADLINES = {
    types.WINDOW_SHOW_DOCUMENT: 5.0,
    types.WORKSPACE_APPLY_EDIT: 30.0,
    types.WORKSPACE_CONFIGURATION: 10.0,
    types.WINDOW_WORK_DONE_PROGRESS_CREATE: 5.0,
}

#: how long (s) a request that timed out still takes its late answer quietly (then forgotten)
LATE_ANSWER_GRACE_S = 120.0


def _forget(protocol: Any, msg_id: str) -> None:
    """Drop a timed-out request's placeholder (see :meth:`DeepSeekLanguageServer.ask_client`)."""
    protocol._request_futures.pop(msg_id, None)
    protocol._result_types.pop(msg_id, None)


#: What a usable answer to each request looks like, checked on the raw JSON (anything else is
#: "not done"): lsprotocol's structuring would take ``{"applied": "false"}`` for applied.
CLIENT_RESULT_SHAPES = {
    types.WORKSPACE_APPLY_EDIT: lambda r: isinstance(r, dict) and isinstance(r.get("applied"), bool)
    and isinstance(r.get("failureReason", ""), (str, type(None))),
    types.WINDOW_SHOW_DOCUMENT: lambda r: isinstance(r, dict) and isinstance(r.get("success"), bool),
    types.WORKSPACE_CONFIGURATION: lambda r: isinstance(r, list),
}

#: JSON-RPC / LSP error codes for the lifecycle
INVALID_REQUEST = -32600
SERVER_NOT_INITIALIZED = -32002


class TracingProtocol(LanguageServerProtocol):
    """Records ``lsp_recv`` the moment a message is handed over by the reader,
    answers malformed requests instead of leaving the client waiting, and
    keeps the LSP lifecycle: before ``initialize`` a request gets -32002
    (ServerNotInitialized) and a notification is dropped; after ``shutdown``
    a request gets -32600 (InvalidRequest) and a notification is dropped;
    ``exit`` is always obeyed."""

    initialize_seen = False
    shutdown_requested = False
    shutdown_id: Any = None
    #: an ``exit`` that arrived while ``shutdown`` was still running (written at once, not
    #: waiting for its answer): handled by :meth:`run_deferred_exit` once shutdown is answered
    deferred_exit: Any = None

    def shutdown_pending(self) -> bool:
        """Is the ``shutdown`` request still running (not answered yet)?"""
        return self.shutdown_id is not None and self.shutdown_id in self._request_futures

    def run_deferred_exit(self) -> None:
        """Handle the ``exit`` held back by :meth:`handle_message` (raises SystemExit)."""
        message, self.deferred_exit = self.deferred_exit, None
        if message is not None:
            super().handle_message(message)

    def __init__(self, server: Any, converter: Any) -> None:
        super().__init__(server, converter)
        #: method of each of our own requests still waiting for the client's answer (see
        #: :meth:`DeepSeekLanguageServer.ask_client`): their answers are checked by shape
        self.asked: dict[Any, str] = {}

    def _not_done(self, data: dict[str, Any]) -> Any:
        """Resolve the wait for an answer that is null or of another shape with None ("not done")."""
        future = self._request_futures.pop(data["id"], None)
        self._result_types.pop(data["id"], None)
        log.warning("the editor's answer to request %s is not of the expected shape (%s): "
                    "taken as not done", data["id"], json_kind(data.get("result")))
        if future is not None and not future.done():
            future.set_result(None)
        return _Rejected()

    def structure_message(self, data: dict[str, Any]) -> Any:
        if "id" in data and "method" not in data and "error" not in data:
            method = self.asked.get(data.get("id"))
            check = CLIENT_RESULT_SHAPES.get(method) if method else None
            if check is not None and not check(data.get("result")):
                # checked on the raw JSON: the structuring would read "false" or 1 as True
                return self._not_done(data)
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "jsonrpc" in data and "id" in data and "method" in data:
                # pygls would only log this; the client would wait forever.
                self._send_response(data["id"], error=exc.to_response_error())
                return _Rejected()
            if "id" in data and "method" not in data and "error" not in data:
                # the client's answer to one of our requests is null or of another shape
                # (showDocument -> null, applyEdit -> null): the request was "not done",
                # and whoever waits for it learns so now instead of never
                return self._not_done(data)
            raise

    def _send_response(self, msg_id: Any, result: Any = None, error: Any = None) -> None:
        """pygls puts the traceback of an unexpected exception into the error's
        ``data``: the editor gets the message only (the log has the traceback)."""
        if error is not None and isinstance(getattr(error, "data", None), dict) and "traceback" in error.data:
            error = types.ResponseError(code=error.code, data=None, message=redact(
                f"{error.message} (an internal error in deepseek-ls; the server log has the details)"))
        super()._send_response(msg_id, result, error)

    def _refuse(self, message: Any, code: int, text: str) -> None:
        msg_id = getattr(message, "id", None)
        if msg_id is None:  # a notification: nothing to answer
            log.info("ignored %s: %s", getattr(message, "method", "?"), text)
            return
        log.warning("refused %s: %s", message.method, text)
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": text}})

    def _lifecycle_allows(self, message: Any) -> bool:
        method = getattr(message, "method", None)
        if method is None or method == types.EXIT:  # responses, and exit at any time
            return True
        if self.shutdown_requested:
            self._refuse(message, INVALID_REQUEST, f"{method}: the server is shutting down "
                                                   "(no requests after shutdown)")
            return False
        if not self.initialize_seen:
            if method != types.INITIALIZE:
                self._refuse(message, SERVER_NOT_INITIALIZED, f"{method}: the server is not initialized "
                                                              "(send initialize first)")
                return False
            self.initialize_seen = True
        elif method == types.INITIALIZE:
            self._refuse(message, INVALID_REQUEST, "initialize: the server is already initialized")
            return False
        if method == types.SHUTDOWN:
            self.shutdown_requested = True
            self.shutdown_id = getattr(message, "id", None)
        return True

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Any:
        """pygls' shutdown, without cancelling requests while iterating over them
        (a cancelled thread or command future removes itself from the dict at once)."""
        if (user_handler := self.fm.features.get(types.SHUTDOWN)) is not None:
            yield user_handler, args, None
        current_id = self.msg_id
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current_id and not future.done():
                future.cancel()
        self._shutdown = True
        return None

    def handle_message(self, message: Any) -> None:
        if isinstance(message, _Rejected):
            return
        if not self._lifecycle_allows(message):
            return
        if getattr(message, "method", None) == types.EXIT and self.shutdown_pending():
            # a client that writes shutdown and exit at once: answer shutdown first, then exit 0
            self.deferred_exit = message
            return
        tracer = self._server.tracer if isinstance(self._server, DeepSeekLanguageServer) else None
        if tracer is not None and tracer.enabled:
            method = getattr(message, "method", None)
            if method in (types.TEXT_DOCUMENT_INLINE_COMPLETION, types.TEXT_DOCUMENT_COMPLETION,
                          types.TEXT_DOCUMENT_DID_CHANGE):
                params = getattr(message, "params", None)
                doc = getattr(params, "text_document", None)
                tracer.event("lsp_recv", method=method, id=getattr(message, "id", None),
                             version=getattr(doc, "version", None))
        super().handle_message(message)



class DeepSeekLanguageServer(LanguageServer):
    """pygls server for one editor connection, serving one :class:`~deepseek_ls.service.Service`."""

    def __init__(self, service: Service) -> None:
        super().__init__("deepseek-ls", __version__,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         protocol_cls=TracingProtocol, max_workers=2)
        #: the LSP-free core this connection serves (settings, clients, engine, usage, ledger)
        self.service = service
        #: benchmark trace records (``lsp_recv``, ``lsp_sent``); a no-op unless DEEPSEEK_LS_TRACE is set
        self.tracer = service.tracer
        #: the client answers ``deepseek/definitions`` (initializationOptions.deepseekDefinitions)
        self.deepseek_definitions = False

    @property
    def tracing_protocol(self) -> TracingProtocol:
        """The protocol, with its type (pygls types it as the base class)."""
        protocol = self.protocol
        assert isinstance(protocol, TracingProtocol)
        return protocol

    # -- positions (the negotiated encoding) ---------------------------
    @property
    def encoding(self) -> Encoding:
        """The negotiated position encoding (utf-16 unless the client chose otherwise)."""
        try:
            kind = self.server_capabilities.position_encoding
        except Exception:  # noqa: BLE001  # before initialize pygls has no capabilities yet
            kind = None
        value = getattr(kind, "value", kind) or "utf-16"
        if value == "utf-8":
            return "utf-8"
        return "utf-32" if value == "utf-32" else "utf-16"

    def offset(self, text: str, position: types.Position) -> int:
        """Code-point offset in a snapshot's ``text`` of an LSP position (clamped)."""
        return offset_at(text, position.line, position.character, self.encoding)

    def offsets(self, text: str, rng: types.Range) -> tuple[int, int]:
        """Code-point offsets ``(start, end)`` of a range in ``text``, ordered."""
        a, b = self.offset(text, rng.start), self.offset(text, rng.end)
        return (a, b) if a <= b else (b, a)

    def position(self, text: str, offset: int) -> types.Position:
        """LSP position of a code-point offset in a snapshot's ``text``."""
        line, character = position_at(text, offset, self.encoding)
        return types.Position(line=line, character=character)

    # -- requests to the client ------------------------------------------
    async def ask_client(self, method: str, params: Any, timeout_s: float | None = None, *,
                         quiet: bool = False) -> Any:
        """Send a server-to-client request and wait at most ``timeout_s`` seconds
        (default: :data:`CLIENT_DEADLINES` for ``method``) for its result.

        Returns the client's result (structured as lsprotocol's type for
        ``method``), or **None** when the client answered ``null`` or a result of
        another shape: callers take None as "not done". Raises ``TimeoutError``
        when no answer came in time (the request is then forgotten: a late answer
        is ignored) and ``JsonRpcException`` when the client answered an error.
        ``quiet``: the caller logs a timeout itself (no warning here).
        """
        timeout_s = CLIENT_DEADLINES.get(method, 10.0) if timeout_s is None else timeout_s
        cap = os.environ.get("DEEPSEEK_LS_CLIENT_DEADLINE_S")  # tests and slow-client debugging
        if cap:
            try:
                timeout_s = min(timeout_s, float(cap))
            except ValueError:
                pass
        protocol = self.tracing_protocol
        msg_id = str(uuid.uuid4())
        protocol.asked[msg_id] = method
        future = protocol.send_request(method, params, msg_id=msg_id)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
        except TimeoutError:
            # a late answer lands in a placeholder (pygls warns of an "unknown message id" otherwise),
            # dropped after LATE_ANSWER_GRACE_S
            protocol._request_futures[msg_id] = concurrent.futures.Future()
            asyncio.get_running_loop().call_later(LATE_ANSWER_GRACE_S, _forget, protocol, msg_id)
            (log.debug if quiet else log.warning)(
                "the editor did not answer %s within %g s; going on without it", method, timeout_s)
            raise
        finally:
            protocol.asked.pop(msg_id, None)

    async def create_progress(self, token: str) -> bool:
        """``window/workDoneProgress/create`` for ``token``, within its deadline; False when
        the client refused it or did not answer in time (no progress is shown then)."""
        try:
            await self.ask_client(types.WINDOW_WORK_DONE_PROGRESS_CREATE,
                                  types.WorkDoneProgressCreateParams(token=token))
        except (TimeoutError, JsonRpcException) as exc:
            log.info("progress not created: %s", exc or type(exc).__name__)
            return False
        return True

    def on_request_cancelled(self, callback: Callable[[], Any]) -> None:
        """Call ``callback`` when the client sends ``$/cancelRequest`` for the request being handled.

        pygls cancels the request's outer future (and answers -32800) but never
        the command coroutine (pygls json_rpc.py
        ``_handle_cancel_notification``), so we watch that future. pygls has no
        public hook for this; without the attribute we simply cannot notice.
        """
        futures = getattr(self.protocol, "_request_futures", None)
        msg_id = self.protocol.msg_id
        future = futures.get(msg_id) if isinstance(futures, dict) and msg_id is not None else None
        if future is None:
            return

        def done(f: Any) -> None:
            if f.cancelled():
                callback()

        future.add_done_callback(done)

    # -- talking to the user -------------------------------------------
    def client_supports(self, path: str) -> bool:
        """Does the client declare the capability at ``path`` (pygls' snake_case path)?"""
        return bool(get_capability(self.client_capabilities, path, False))

    def show_message(self, message: str, level: types.MessageType = types.MessageType.Warning) -> None:
        """A ``window/showMessage`` (a popup in most editors)."""
        self.window_show_message(types.ShowMessageParams(type=level, message=message))

    def log_message(self, message: str, level: types.MessageType = types.MessageType.Log) -> None:
        """A ``window/logMessage`` (the editor's output panel for this server)."""
        self.window_log_message(types.LogMessageParams(type=level, message=message))

    def notify(self, method: str, payload: Any) -> None:
        """Send a notification; a client that went away is logged, not raised."""
        try:
            self.protocol.notify(method, payload)
        except Exception:  # no transport yet (before initialize), or the client went away
            log.debug("%s not sent", method, exc_info=True)

    # -- pygls hooks -----------------------------------------------------
    def shutdown(self) -> None:
        """Stop without waiting for the worker threads (one may be blocked
        reading a terminal: waiting for it would hang ``exit`` and Ctrl-C)."""
        if self._stop_event is not None:
            self._stop_event.set()
        if self._thread_pool:
            self._thread_pool.shutdown(wait=False, cancel_futures=True)
        if self._server:
            self._server.close()

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Log handler errors instead of popping them up in the editor."""
        if isinstance(error, JsonRpcException) and error.code != JsonRpcInternalError.CODE:
            # a chosen error (a failed chat, a bad argument, a cancel), answered already: no traceback
            log.info("request answered with error %s: %s", error.code, error)
            return
        log.error("internal error in %s: %s", getattr(source, "__name__", source), error, exc_info=error)
