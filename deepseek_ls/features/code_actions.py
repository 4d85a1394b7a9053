"""``textDocument/codeAction`` + ``codeAction/resolve``, ``deepseek.runCodeAction`` and
``deepseek.rewriteSelection``.

The list is instant and makes no request. What an action carries depends on
what the client can run (docs/CAPABILITIES.md):

- ``codeAction.resolveSupport`` with ``edit``: the action carries only
  ``data``; resolve makes one Chat Prefix Completion request
  (:mod:`deepseek_ls.prompt.prefix`) and returns a ``WorkspaceEdit`` of minimal
  edits with ranges in the negotiated position encoding.
- no resolve, but ``workspace.applyEdit``: the action carries the command
  ``deepseek.runCodeAction`` (a bare ``Command`` for clients without
  ``codeActionLiteralSupport``), which makes the same request and sends the
  edit with ``workspace/applyEdit``.
- neither: no DeepSeek actions (an action that does nothing when picked
  would be worse than none).

A document that changed in between gives ``ContentModified`` instead of a
stale edit. Commands that need ``workspace/applyEdit`` check for it before
any request is paid for. Their usage is counted as kind ``action`` (the
ledger's per-kind table), never as ``chat``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.exceptions import (
    JsonRpcContentModified,
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcRequestCancelled,
)

from ..api.endpoints import Endpoint
from ..api.errors import DeepSeekError
from ..api.types import Usage
from ..documents import to_eol
from ..policy import MASKER
from ..service import Service
from ..snapshot import DocumentSnapshot
from .commands import REQUEST_FAILED, failure, parse_range, user_message
from .connection import DeepSeekLanguageServer
from .documents import DocumentsFeature

if TYPE_CHECKING:  # the prefix-completion machinery (and its HTTP stack) is imported at the first request
    from ..chat.manager import ChatManager
    from ..edits import Edit
    from ..prompt.prefix import PrefixPlan

log = logging.getLogger(__name__)

#: The kinds of action offered (declared in the server's capabilities).
KINDS = [types.CodeActionKind.QuickFix, types.CodeActionKind.RefactorRewrite]
#: The instruction of the "improve the selection" action (the command takes any instruction).
IMPROVE_INSTRUCTION = "Make this code clearer and more idiomatic without changing what it does."
#: Runs a listed action for clients that cannot resolve one: computes the edit, applies it.
RUN_COMMAND = "deepseek.runCodeAction"
#: Rewrites a selection by an instruction and applies the edit.
REWRITE_COMMAND = "deepseek.rewriteSelection"


def _wanted(only: Any, kind: types.CodeActionKind) -> bool:
    if not only:
        return True
    value = kind.value
    return any(value == k or value.startswith(f"{getattr(k, 'value', k)}.") for k in only)


def _range_json(rng: types.Range) -> dict[str, Any]:
    return {"start": {"line": rng.start.line, "character": rng.start.character},
            "end": {"line": rng.end.line, "character": rng.end.character}}


class CodeActionsFeature:
    """Prefix-completion code actions: listed for free, computed when resolved or run."""

    def __init__(self, server: DeepSeekLanguageServer, service: Service, documents: DocumentsFeature) -> None:
        self.server = server
        self.service = service
        self.documents = documents

    @functools.cached_property
    def runner(self) -> ChatManager:
        """Runs the prefix-completion requests (failover to DeepSeek-kind endpoints only); its
        usage is counted as kind ``action``. Made at the first run (not imported at start-up)."""
        from ..chat.manager import ChatManager

        return ChatManager(self.service.require_client, lambda: self.service.settings, on_usage=self._count,
                           endpoints=self.service.endpoints)

    def _count(self, model: str, usage: Usage, endpoint: Endpoint | None = None) -> None:
        """An action's usage: totals, log line, the ledger row (kind ``action``, per endpoint), status."""
        self.service.record_usage(model, usage, kind="action", endpoint=endpoint)

    # -- what the client can do ---------------------------------------------------
    def resolves_edits(self) -> bool:
        """The client fills in an action's ``edit`` through ``codeAction/resolve``."""
        props = get_capability(self.server.client_capabilities,
                               "text_document.code_action.resolve_support.properties", None)
        return isinstance(props, (list, tuple)) and "edit" in props

    def unsupported(self, what: str) -> JsonRpcException:
        """The error (and one message) for a command the client cannot carry out: no ``workspace/applyEdit``."""
        message = (f"This editor does not support workspace/applyEdit, so DeepSeek cannot change the document: "
                   f"{what} is not available here. Nothing was sent to DeepSeek.")
        self.server.show_message(f"DeepSeek: {message}")
        return JsonRpcException(message=message, code=REQUEST_FAILED,
                                data={"kind": "Unsupported", "capability": "workspace.applyEdit"})

    # -- textDocument/codeAction, codeAction/resolve --------------------------------
    def list_actions(self, params: types.CodeActionParams) -> list[types.CodeAction | types.Command]:
        """The DeepSeek actions at a range (pure string work, no network), in the form the client can run;
        none when the install is broken (said once, never per cursor move)."""
        if self.service.broken is not None:
            return []
        try:
            return self._list_actions(params)
        except ImportError as exc:  # a module imported late is broken (before the start-up preload saw it)
            self.service.part_broken(exc.name or "?", exc)
            return []

    def _list_actions(self, params: types.CodeActionParams) -> list[types.CodeAction | types.Command]:
        from ..prompt.prefix import docstring_site, title_snippet

        server = self.server
        uri = params.text_document.uri
        snap = self.documents.snapshot(uri)
        if snap is None or self.service.client is None or self.documents.exclusion(uri) is not None:  # secret file: no actions
            return []
        resolve = self.resolves_edits()
        literal = server.client_supports("text_document.code_action.code_action_literal_support")
        if not (resolve and literal) and not server.client_supports("workspace.apply_edit"):
            return []  # the client could neither resolve an edit nor apply one
        only = params.context.only
        start, end = server.offsets(snap.text, params.range)
        base = {"uri": uri, "version": snap.version}
        actions: list[types.CodeAction | types.Command] = []

        def add(title: str, kind: types.CodeActionKind, data: dict[str, Any],
                diagnostics: list[types.Diagnostic] | None = None) -> None:
            if not _wanted(only, kind):
                return
            title = f"DeepSeek: {title}"
            if resolve and literal:
                actions.append(types.CodeAction(title=title, kind=kind, diagnostics=diagnostics,
                                                data={**base, **data}))
                return
            command = types.Command(title=title, command=RUN_COMMAND, arguments=[{**base, **data}])
            if literal:
                actions.append(types.CodeAction(title=title, kind=kind, diagnostics=diagnostics, command=command))
            else:  # LSP before 3.8: plain commands
                actions.append(command)

        for diagnostic in params.context.diagnostics or []:
            add(f"fix {title_snippet(diagnostic.message)}", types.CodeActionKind.QuickFix,
                {"action": "fix", "range": _range_json(diagnostic.range), "message": diagnostic.message},
                diagnostics=[diagnostic])
        if start == end:
            add("complete the code at the cursor", types.CodeActionKind.RefactorRewrite,
                {"action": "complete", "range": _range_json(params.range)})
        if docstring_site(snap, start) is not None:
            add("add a docstring", types.CodeActionKind.RefactorRewrite,
                {"action": "docstring", "range": _range_json(params.range)})
        if start < end:
            add("improve the selection", types.CodeActionKind.RefactorRewrite,
                {"action": "rewrite", "range": _range_json(params.range), "instruction": IMPROVE_INSTRUCTION})
        return actions

    async def resolve(self, action: types.CodeAction) -> types.CodeAction:
        """Fill in the action's ``edit`` (one prefix request); ContentModified when the document
        changed since it was listed."""
        data = action.data if isinstance(action.data, dict) else {}
        snap = self.documents.snapshot(str(data.get("uri") or ""))
        if snap is None or snap.version != data.get("version"):
            raise JsonRpcContentModified("The document changed since the action was listed; ask again.")
        self.documents.refuse_excluded(snap.uri)  # a secret file is never sent: a clear error
        plan = self.plan_for(snap, data)
        if plan is None:
            return action
        action.edit = self.workspace_edit(snap, await self.run_plan(snap, plan))
        return action

    # -- commands -----------------------------------------------------------------
    async def run_code_action(self, args: tuple[Any, ...]) -> dict[str, Any]:
        """``deepseek.runCodeAction`` with a listed action's arguments: compute its edit and
        apply it; returns ``{applied, failureReason?}``."""
        data = args[0] if args else None
        if not isinstance(data, dict) or not isinstance(data.get("uri"), str):
            raise JsonRpcInvalidParams("runCodeAction needs the arguments of a listed action")
        if not self.server.client_supports("workspace.apply_edit"):
            raise self.unsupported("running a DeepSeek code action")
        snap = self.documents.snapshot(data["uri"])
        if snap is None or snap.version != data.get("version"):
            raise JsonRpcContentModified("The document changed since the action was listed; ask again.")
        self.documents.refuse_excluded(snap.uri)  # a secret file is never sent: a clear error
        plan = self.plan_for(snap, data)
        if plan is None:
            raise JsonRpcInvalidParams(f"unknown action {data.get('action')!r}")
        return await self._run_and_apply(snap, plan, label="DeepSeek: code action")

    async def rewrite_selection(self, args: tuple[Any, ...]) -> dict[str, Any]:
        """``deepseek.rewriteSelection`` ``{uri, range, instruction}``: rewrite and apply;
        returns ``{applied, failureReason?}``."""
        arg = args[0] if args else None
        if not isinstance(arg, dict) or not isinstance(arg.get("uri"), str):
            raise JsonRpcInvalidParams("rewriteSelection needs {uri, range, instruction}")
        instruction = arg.get("instruction")
        if not isinstance(instruction, str) or not instruction.strip():
            raise JsonRpcInvalidParams("instruction must be a non-empty string")
        if not self.server.client_supports("workspace.apply_edit"):
            raise self.unsupported(REWRITE_COMMAND)  # before paying for a request
        snap = self.documents.snapshot(arg["uri"])
        if snap is None:
            raise JsonRpcInvalidParams(f"{arg['uri']} is not open in the editor")
        self.documents.refuse_excluded(arg["uri"])  # a secret file is never sent: a clear error
        start, end = self.server.offsets(snap.text, parse_range(arg.get("range")))
        from ..prompt.prefix import plan_rewrite

        plan = plan_rewrite(snap, start, end, instruction)
        return await self._run_and_apply(snap, plan, label="DeepSeek: rewrite selection")

    # -- the work -------------------------------------------------------------------
    def plan_for(self, snap: DocumentSnapshot, data: dict[str, Any]) -> PrefixPlan | None:
        """Rebuild the plan of a listed action from its ``data``."""
        from ..prompt.prefix import plan_complete, plan_docstring, plan_fix, plan_rewrite

        start, end = self.server.offsets(snap.text, parse_range(data.get("range")))
        action = data.get("action")
        if action == "complete":
            return plan_complete(snap, end)
        if action == "docstring":
            return plan_docstring(snap, start)
        if action == "fix":
            return plan_fix(snap, start, end, str(data.get("message") or ""))
        if action == "rewrite":
            return plan_rewrite(snap, start, end, str(data.get("instruction") or IMPROVE_INSTRUCTION))
        return None

    def workspace_edit(self, snap: DocumentSnapshot, edits: list[Edit]) -> types.WorkspaceEdit:
        """A WorkspaceEdit for ``edits`` (versioned documentChanges when the client takes them).

        ``edits`` are offsets in the snapshot's ``\\n``-only text; their new text is
        written with the document's own line break (``snap.eol``).
        """
        position = self.server.position
        text_edits = [types.TextEdit(range=types.Range(start=position(snap.text, e.start),
                                                       end=position(snap.text, e.end)),
                                     new_text=to_eol(e.new_text, snap.eol)) for e in edits]
        if self.server.client_supports("workspace.workspace_edit.document_changes"):
            doc = types.OptionalVersionedTextDocumentIdentifier(uri=snap.uri, version=snap.version)
            return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(text_document=doc, edits=text_edits)])
        return types.WorkspaceEdit(changes={snap.uri: text_edits})

    async def run_plan(self, snap: DocumentSnapshot, plan: PrefixPlan) -> list[Edit]:
        """One prefix request; its answer as minimal edits of ``snap``. Failures give one message."""
        try:
            result = await self.runner.prefix_complete(plan)
        except DeepSeekError as exc:
            if not self.service.already_told(exc):  # a problem already shown is not shown again
                self.server.show_message(f"DeepSeek: {user_message(exc)}", types.MessageType.Error)
            raise failure(exc) from None
        # secret masking: a placeholder in the answer stands for a secret of this file: put it back, never write it
        edits = plan.edits(snap.text, MASKER.unmask(result.content))
        current = self.documents.snapshot(snap.uri)
        if current is None or current.version != snap.version:
            raise JsonRpcContentModified("The document changed while DeepSeek was writing; try again.")
        return edits

    @contextlib.asynccontextmanager
    async def _progress(self, title: str) -> AsyncIterator[None]:
        """``$/progress`` begin/end around a command, when the client declares ``window.workDoneProgress``.

        The ``create`` round trip runs beside the work, never before it.
        """
        server = self.server
        if not server.client_supports("window.work_done_progress"):
            yield
            return
        token = str(uuid.uuid4())

        async def start() -> bool:
            if not await server.create_progress(token):  # refused or not answered: no progress
                return False
            server.work_done_progress.begin(token, types.WorkDoneProgressBegin(
                title=title, message="waiting for DeepSeek…"))
            return True

        started = asyncio.ensure_future(start())
        try:
            yield
        finally:
            try:
                ok = await asyncio.wait_for(asyncio.shield(started), 5.0)
            except Exception:  # noqa: BLE001  # timed out or failed: no progress to end
                ok = False
            if ok:
                server.work_done_progress.end(token, types.WorkDoneProgressEnd())

    async def _run_and_apply(self, snap: DocumentSnapshot, plan: PrefixPlan, *, label: str) -> dict[str, Any]:
        """Run ``plan`` (cancellable by ``$/cancelRequest``) and send its edit with ``workspace/applyEdit``.

        Returns ``{applied}``, plus ``failureReason`` when the client refused the edit.
        """
        server = self.server
        task = asyncio.ensure_future(self.run_plan(snap, plan))
        server.on_request_cancelled(task.cancel)
        try:
            async with self._progress(label):
                edits = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            raise JsonRpcRequestCancelled("The request was cancelled.") from None
        if not edits:
            server.show_message("DeepSeek: the answer changes nothing.", types.MessageType.Info)
            return {"applied": False}
        reason = None
        try:  # within its deadline; null or an answer of another shape is "not applied"
            result = await server.ask_client(types.WORKSPACE_APPLY_EDIT, types.ApplyWorkspaceEditParams(
                edit=self.workspace_edit(snap, edits), label=label))
        except TimeoutError:
            result, reason = None, "the editor did not answer"
        except JsonRpcException as exc:
            result, reason = None, f"the editor refused it: {exc.message or type(exc).__name__}"
        applied = isinstance(result, types.ApplyWorkspaceEditResult) and result.applied is True
        out: dict[str, Any] = {"applied": applied}
        if not applied:
            if reason is None:
                reason = (result.failure_reason if isinstance(result, types.ApplyWorkspaceEditResult)
                          and isinstance(result.failure_reason, str) and result.failure_reason
                          else "no reason given" if isinstance(result, types.ApplyWorkspaceEditResult)
                          else "the editor's answer could not be read")
            out["failureReason"] = reason
            server.show_message(f"DeepSeek: the editor did not apply the edit ({reason}).")
        return out
