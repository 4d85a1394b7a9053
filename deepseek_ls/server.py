"""Build the pygls LanguageServer and register the handlers.

The server object only carries the :class:`~deepseek_ls.service.Service`
and a few helpers every handler needs (snapshots, positions, messages to
the user); the handlers in :mod:`deepseek_ls.handlers` adapt LSP messages to
the core and back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import uuid
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls import uris
from pygls.capabilities import get_capability
from pygls.exceptions import JsonRpcException, JsonRpcInternalError
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from . import __version__
from .api.errors import json_kind, redact
from .constants import MAX_DOCUMENT_CHARS
from .documents import Document, DocumentStore, to_eol
from .naming import display_name
from .policy import Exclusion
from .positions import Encoding, offset_at, position_at
from .service import Service
from .settings import sentence
from .snapshot import DocumentSnapshot

log = logging.getLogger(__name__)

STATUS = "deepseek/status"


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

    #: method of each of our own requests still waiting for the client's answer (see ask_client)
    asked: dict[Any, str]

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
            method = getattr(self, "asked", {}).get(data.get("id"))
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
        server = self._server
        tracer = getattr(server, "service", None) and server.service.tracer
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
    """pygls server carrying the deepseek-ls service."""

    def __init__(self, service: Service | None = None) -> None:
        super().__init__("deepseek-ls", __version__,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         protocol_cls=TracingProtocol, max_workers=2)
        self.service = service or Service()
        self._last_status: dict[str, Any] | None = None
        self.pending_problems: list[str] = []
        self.ready = False  # no notifications before the initialize response
        self.last_model_message: str | None = None  # said once, even when checks overlap
        self.excluded_note: str | None = None  # i14: why the last completion asked for got nothing
        self.excluded_uri: str | None = None
        self._excluded_told: set[str] = set()
        self.service.on_problem = self.report_problem
        self.service.on_state = self.send_status
        self.service.on_usage = lambda model, usage: self.send_status(force=True)
        self._status_loop: asyncio.AbstractEventLoop | None = None
        self.service.ledger.on_problem = self._ledger_failed

    def _ledger_failed(self) -> None:
        """The ledger's writer thread failed: resend the status (its todayNote says what to do)."""
        loop = self._status_loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self.send_status)
            except RuntimeError:  # the loop closed meanwhile
                pass

    # -- documents and positions ---------------------------------------
    @property
    def encoding(self) -> Encoding:
        """The negotiated position encoding (utf-16 unless the client chose otherwise)."""
        try:
            kind = self.server_capabilities.position_encoding
        except Exception:  # before initialize
            kind = None
        value = getattr(kind, "value", kind) or "utf-16"
        return value if value in ("utf-8", "utf-16", "utf-32") else "utf-16"

    def workspace_folders(self) -> list[tuple[str, str]]:
        """``[(folder URI, name), ...]``: the workspace folders (kept current by pygls on
        ``workspace/didChangeWorkspaceFolders``), or the root URI when the client sent no folders."""
        try:
            folders = [(f.uri, f.name) for f in self.workspace.folders.values()]
            root = self.workspace.root_uri
        except RuntimeError:  # before initialize
            return []
        if not folders and root:
            folders = [(root, "")]
        return folders

    def display_path(self, uri: str) -> str:
        """How ``uri`` is named to the model and in titles: never a local absolute path
        (see :mod:`deepseek_ls.naming`)."""
        return display_name(uri, self.workspace_folders())

    @functools.cached_property
    def documents(self) -> DocumentStore:
        """The open documents (:mod:`deepseek_ls.documents`), kept by handlers/documents.py."""
        return DocumentStore()

    def document(self, uri: str) -> Document | None:
        """The open document ``uri`` (also when the client spells it with other percent-escapes)."""
        doc = self.documents.get(uri)
        if doc is None and self.documents:
            plain = unquote(uri)
            doc = next((d for d in self.documents if unquote(d.uri) == plain), None)
        return doc

    def _freeze(self, uri: str, doc: Document) -> DocumentSnapshot:
        return DocumentSnapshot.from_text(uri, self.display_path(uri), doc.language_id, doc.text,
                                          doc.version, doc.eol)

    def snapshot(self, uri: str) -> DocumentSnapshot | None:
        """A frozen copy of an open document, or None if it is not open.

        Its ``text`` has ``\\n`` line breaks only (same lines and columns as the
        editor's text); ``eol`` is the document's own line break.
        """
        doc = self.document(uri)
        return None if doc is None else self._freeze(uri, doc)

    def others(self, uri: str) -> tuple[DocumentSnapshot, ...]:
        """Snapshots of the other open documents (documents too large to complete in are left out)."""
        mine = self.document(uri)
        return tuple(self._freeze(doc.uri, doc) for doc in self.documents
                     if doc is not mine and len(doc) <= MAX_DOCUMENT_CHARS
                     and self.exclusion(doc.uri) is None)  # i14

    def editor_text(self, uri: str, text: str) -> str:
        """``text`` (from the core, ``\\n`` line breaks) with the line breaks of document ``uri``."""
        doc = self.document(uri)
        return to_eol(text, doc.eol if doc is not None else "\n")

    # -- i14: files never sent (see deepseek_ls/policy.py) ------------------
    def _roots(self) -> list[str]:
        try:
            folders = [f.uri for f in self.workspace.folders.values()] or [self.workspace.root_uri]
        except RuntimeError:  # before initialize
            return []
        return [p for p in (uris.to_fs_path(u) for u in folders if u) if p]

    def exclusion(self, uri: str) -> Exclusion | None:
        """Why ``uri`` is never sent to DeepSeek, or None when it may be."""
        policy = self.service.policy
        policy.set_roots(self._roots())
        return policy.check(uri)

    def withhold(self, uri: str) -> bool:
        """True when ``uri`` is excluded: no completion there. Says why once, quietly:
        the ``deepseek/status`` state ``excluded`` (and one log line per file), no popup."""
        why = self.exclusion(uri)
        note = why.message(self.display_path(uri)) if why is not None else None
        if note is not None and uri not in self._excluded_told:
            self._excluded_told.add(uri)
            log.info("%s", note)
            self.log_message(f"DeepSeek: {note}")
        if note != self.excluded_note:
            self.excluded_note = note
            self.excluded_uri = uri if note else None
            self.send_status()
        return why is not None

    def closed(self, uri: str) -> None:
        """``uri`` was closed: the ``excluded`` state it caused (if any) ends."""
        if self.excluded_note is not None and self.excluded_uri == uri:
            self.excluded_note = self.excluded_uri = None
            self.send_status()

    def offset(self, text: str, position: types.Position) -> int:
        """Code-point offset in a snapshot's ``text`` of an LSP position (clamped)."""
        return offset_at(text, position.line, position.character, self.encoding)

    def position(self, text: str, offset: int) -> types.Position:
        """LSP position of a code-point offset in a snapshot's ``text``."""
        line, character = position_at(text, offset, self.encoding)
        return types.Position(line=line, character=character)

    # -- requests to the client ------------------------------------------
    async def ask_client(self, method: str, params: Any, timeout_s: float | None = None) -> Any:
        """Send a server-to-client request and wait at most ``timeout_s`` seconds
        (default: :data:`CLIENT_DEADLINES` for ``method``) for its result.

        Returns the client's result (structured as lsprotocol's type for
        ``method``), or **None** when the client answered ``null`` or a result of
        another shape: callers take None as "not done". Raises ``TimeoutError``
        when no answer came in time (the request is then forgotten: a late answer
        is ignored) and ``JsonRpcException`` when the client answered an error.
        """
        timeout_s = CLIENT_DEADLINES.get(method, 10.0) if timeout_s is None else timeout_s
        cap = os.environ.get("DEEPSEEK_LS_CLIENT_DEADLINE_S")  # tests and slow-client debugging
        if cap:
            try:
                timeout_s = min(timeout_s, float(cap))
            except ValueError:
                pass
        msg_id = str(uuid.uuid4())
        asked = self.protocol.__dict__.setdefault("asked", {})
        asked[msg_id] = method
        future = self.protocol.send_request(method, params, msg_id=msg_id)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
        except TimeoutError:
            self.protocol._request_futures.pop(msg_id, None)
            self.protocol._result_types.pop(msg_id, None)
            log.warning("the editor did not answer %s within %g s; going on without it", method, timeout_s)
            raise
        finally:
            asked.pop(msg_id, None)

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

    # -- talking to the user -------------------------------------------
    def client_supports(self, path: str) -> bool:
        return bool(get_capability(self.client_capabilities, path, False))

    def report_problem(self, kind: str, message: str) -> None:
        """One clear message per problem (the engine dedupes), and a log line."""
        message = sentence(message)
        log.warning("%s: %s", kind, message)
        severity = types.MessageType.Error if kind in ("auth", "balance", "missing-key") else types.MessageType.Warning
        self.window_show_message(types.ShowMessageParams(type=severity, message=f"DeepSeek: {message}"))
        self.send_status()

    def log_message(self, message: str, level: types.MessageType = types.MessageType.Log) -> None:
        self.window_log_message(types.LogMessageParams(type=level, message=message))

    def status_payload(self) -> dict[str, Any]:
        state, why = self.service.engine.state()
        payload: dict[str, Any] = {
            "state": state,
            "autoCompletion": self.service.settings.completion_enabled,
            "model": self.service.settings.completion_model,
            "usage": self.service.usage.to_json(),
            "today": self.service.ledger.today().to_json(),
        }
        if why:
            payload["message"] = why
        if self.service.ledger.problem:  # "today" is then only this session's queued rows
            payload["todayNote"] = self._ledger_note(self.service.ledger.problem)
        # i14 failover: which endpoint ghost text comes from now
        payload["endpoint"] = self.service.engine.answering_endpoint().to_json()
        if self.excluded_note:  # i14: the file asked about last is never sent
            payload["state"] = "excluded"
            payload["message"] = self.excluded_note
            payload["excludedUri"] = self.excluded_uri
        return payload

    def _ledger_note(self, problem: str) -> str:
        """What failed with the usage ledger and how to fix it (as ``stats`` and ``doctor`` say it)."""
        cached = getattr(self, "_ledger_note_cache", None)
        if cached is None or cached[0] != problem:
            from .ledger import ledger_problem

            path = self.service.ledger.path
            found = ledger_problem(path) if path is not None else None
            text = (f"Today's figures are incomplete: {found[0]}. {found[1]}" if found else
                    f"Today's figures are incomplete: {problem}.")
            cached = self._ledger_note_cache = (problem, text)
        return cached[1]

    def send_status(self, force: bool = False) -> None:
        """Send ``deepseek/status`` when it changed."""
        if not self.ready:
            return
        if self._status_loop is None:
            try:
                self._status_loop = asyncio.get_running_loop()
            except RuntimeError:
                pass
        payload = self.status_payload()
        if not force and payload == self._last_status:
            return
        self._last_status = payload
        try:
            self.protocol.notify(STATUS, payload)
        except Exception:  # no transport yet (before initialize) or shutting down
            log.debug("status not sent", exc_info=True)

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


def create_server(service: Service | None = None) -> DeepSeekLanguageServer:
    """A server with every feature registered."""
    from .handlers import register_all

    server = DeepSeekLanguageServer(service)
    register_all(server)
    return server
