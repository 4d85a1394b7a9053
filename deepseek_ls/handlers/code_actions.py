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
any request is paid for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.exceptions import (
    JsonRpcContentModified,
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcRequestCancelled,
)

from ..api.errors import DeepSeekError
from ..documents import to_eol
from ..edits import Edit
from ..policy import MASKER
from ..prompt.prefix import (
    PrefixPlan,
    docstring_site,
    plan_complete,
    plan_docstring,
    plan_fix,
    plan_rewrite,
    title_snippet,
)
from ..server import DeepSeekLanguageServer
from ..snapshot import DocumentSnapshot
from .chat_commands import (
    REQUEST_FAILED,
    failure,
    manager,
    offsets,
    on_request_cancelled,
    parse_range,
    refuse_excluded,
    user_message,
)

log = logging.getLogger(__name__)

KINDS = [types.CodeActionKind.QuickFix, types.CodeActionKind.RefactorRewrite]
#: The instruction of the "improve the selection" action (the command takes any instruction).
IMPROVE_INSTRUCTION = "Make this code clearer and more idiomatic without changing what it does."
#: Runs a listed action for clients that cannot resolve one: computes the edit, applies it.
RUN_COMMAND = "deepseek.runCodeAction"


def resolves_edits(ls: DeepSeekLanguageServer) -> bool:
    """The client fills in an action's ``edit`` through ``codeAction/resolve``."""
    props = get_capability(ls.client_capabilities, "text_document.code_action.resolve_support.properties", None)
    return bool(props) and "edit" in props


def unsupported(ls: DeepSeekLanguageServer, what: str) -> JsonRpcException:
    """The error (and one message) for a command the client cannot carry out: no ``workspace/applyEdit``."""
    message = (f"This editor does not support workspace/applyEdit, so DeepSeek cannot change the document: "
               f"{what} is not available here. Nothing was sent to DeepSeek.")
    ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=f"DeepSeek: {message}"))
    return JsonRpcException(message=message, code=REQUEST_FAILED,
                            data={"kind": "Unsupported", "capability": "workspace.applyEdit"})


def _wanted(only: Any, kind: types.CodeActionKind) -> bool:
    if not only:
        return True
    value = kind.value
    return any(value == k or value.startswith(f"{getattr(k, 'value', k)}.") for k in only)


def _range_json(rng: types.Range) -> dict[str, Any]:
    return {"start": {"line": rng.start.line, "character": rng.start.character},
            "end": {"line": rng.end.line, "character": rng.end.character}}


def list_actions(ls: DeepSeekLanguageServer,
                 params: types.CodeActionParams) -> list[types.CodeAction | types.Command]:
    """The DeepSeek actions at a range (pure string work, no network), in the form the client can run."""
    uri = params.text_document.uri
    snap = ls.snapshot(uri)
    if snap is None or ls.service.client is None or ls.exclusion(uri) is not None:  # i14
        return []
    resolve = resolves_edits(ls)
    literal = ls.client_supports("text_document.code_action.code_action_literal_support")
    if not (resolve and literal) and not ls.client_supports("workspace.apply_edit"):
        return []  # the client could neither resolve an edit nor apply one
    only = params.context.only
    start, end = offsets(ls, snap.text, params.range)
    base = {"uri": uri, "version": snap.version}
    actions: list[types.CodeAction | types.Command] = []

    def add(title: str, kind: types.CodeActionKind, data: dict[str, Any],
            diagnostics: list[types.Diagnostic] | None = None) -> None:
        if not _wanted(only, kind):
            return
        title = f"DeepSeek: {title}"
        if resolve and literal:
            actions.append(types.CodeAction(title=title, kind=kind, diagnostics=diagnostics, data={**base, **data}))
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


def plan_for(ls: DeepSeekLanguageServer, snap: DocumentSnapshot, data: dict[str, Any]) -> PrefixPlan | None:
    """Rebuild the plan of a listed action from its ``data``."""
    start, end = offsets(ls, snap.text, parse_range(data.get("range")))
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


def workspace_edit(ls: DeepSeekLanguageServer, snap: DocumentSnapshot, edits: list[Edit]) -> types.WorkspaceEdit:
    """A WorkspaceEdit for ``edits`` (versioned documentChanges when the client takes them).

    ``edits`` are offsets in the snapshot's ``\\n``-only text; their new text is
    written with the document's own line break (``snap.eol``).
    """
    text_edits = [types.TextEdit(range=types.Range(start=ls.position(snap.text, e.start),
                                                   end=ls.position(snap.text, e.end)),
                                 new_text=to_eol(e.new_text, snap.eol)) for e in edits]
    if ls.client_supports("workspace.workspace_edit.document_changes"):
        doc = types.OptionalVersionedTextDocumentIdentifier(uri=snap.uri, version=snap.version)
        return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(text_document=doc, edits=text_edits)])
    return types.WorkspaceEdit(changes={snap.uri: text_edits})


async def run_plan(ls: DeepSeekLanguageServer, snap: DocumentSnapshot, plan: PrefixPlan) -> list[Edit]:
    """One prefix request; its answer as minimal edits of ``snap``. Failures give one message."""
    try:
        result = await manager(ls).prefix_complete(plan)
    except DeepSeekError as exc:
        if not ls.service.already_told(exc):  # a problem already shown is not shown again
            ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Error,
                                                           message=f"DeepSeek: {user_message(exc)}"))
        raise failure(exc) from None
    # i14: a placeholder in the answer stands for a secret of this file: put it back, never write it
    edits = plan.edits(snap.text, MASKER.unmask(result.content))
    current = ls.snapshot(snap.uri)
    if current is None or current.version != snap.version:
        raise JsonRpcContentModified("The document changed while DeepSeek was writing; try again.")
    return edits


def register(server: DeepSeekLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                    types.CodeActionOptions(code_action_kinds=KINDS, resolve_provider=True))
    def code_action(ls: DeepSeekLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return list_actions(ls, params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def code_action_resolve(ls: DeepSeekLanguageServer, action: types.CodeAction) -> types.CodeAction:
        data = action.data if isinstance(action.data, dict) else {}
        snap = ls.snapshot(str(data.get("uri") or ""))
        if snap is None or snap.version != data.get("version"):
            raise JsonRpcContentModified("The document changed since the action was listed; ask again.")
        refuse_excluded(ls, snap.uri)  # i14
        plan = plan_for(ls, snap, data)
        if plan is None:
            return action
        action.edit = workspace_edit(ls, snap, await run_plan(ls, snap, plan))
        return action

    @server.command(RUN_COMMAND)
    async def run_code_action(ls: DeepSeekLanguageServer, *args: Any) -> dict[str, Any]:
        data = args[0] if args else None
        if not isinstance(data, dict) or not isinstance(data.get("uri"), str):
            raise JsonRpcInvalidParams("runCodeAction needs the arguments of a listed action")
        if not ls.client_supports("workspace.apply_edit"):
            raise unsupported(ls, "running a DeepSeek code action")
        snap = ls.snapshot(data["uri"])
        if snap is None or snap.version != data.get("version"):
            raise JsonRpcContentModified("The document changed since the action was listed; ask again.")
        refuse_excluded(ls, snap.uri)  # i14
        plan = plan_for(ls, snap, data)
        if plan is None:
            raise JsonRpcInvalidParams(f"unknown action {data.get('action')!r}")
        return await _run_and_apply(ls, snap, plan, label="DeepSeek: code action")

    @server.command("deepseek.rewriteSelection")
    async def rewrite_selection(ls: DeepSeekLanguageServer, *args: Any) -> dict[str, Any]:
        arg = args[0] if args else None
        if not isinstance(arg, dict) or not isinstance(arg.get("uri"), str):
            raise JsonRpcInvalidParams("rewriteSelection needs {uri, range, instruction}")
        instruction = arg.get("instruction")
        if not isinstance(instruction, str) or not instruction.strip():
            raise JsonRpcInvalidParams("instruction must be a non-empty string")
        if not ls.client_supports("workspace.apply_edit"):
            raise unsupported(ls, "deepseek.rewriteSelection")  # before paying for a request
        snap = ls.snapshot(arg["uri"])
        if snap is None:
            raise JsonRpcInvalidParams(f"{arg['uri']} is not open in the editor")
        refuse_excluded(ls, arg["uri"])  # i14
        start, end = offsets(ls, snap.text, parse_range(arg.get("range")))
        plan = plan_rewrite(snap, start, end, instruction)
        return await _run_and_apply(ls, snap, plan, label="DeepSeek: rewrite selection")


@contextlib.asynccontextmanager
async def _progress(ls: DeepSeekLanguageServer, title: str) -> AsyncIterator[None]:
    """``$/progress`` begin/end around a command, when the client declares ``window.workDoneProgress``.

    The ``create`` round trip runs beside the work, never before it.
    """
    if not ls.client_supports("window.work_done_progress"):
        yield
        return
    token = str(uuid.uuid4())

    async def start() -> bool:
        if not await ls.create_progress(token):  # refused or not answered: no progress
            return False
        ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title=title, message="waiting for DeepSeek…"))
        return True

    started = asyncio.ensure_future(start())
    try:
        yield
    finally:
        try:
            ok = await asyncio.wait_for(asyncio.shield(started), 5.0)
        except Exception:
            ok = False
        if ok:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd())


async def _run_and_apply(ls: DeepSeekLanguageServer, snap: DocumentSnapshot, plan: PrefixPlan, *,
                         label: str) -> dict[str, Any]:
    """Run ``plan`` (cancellable by ``$/cancelRequest``) and send its edit with ``workspace/applyEdit``.

    Returns ``{applied}``, plus ``failureReason`` when the client refused the edit.
    """
    task = asyncio.ensure_future(run_plan(ls, snap, plan))
    on_request_cancelled(ls, task.cancel)
    try:
        async with _progress(ls, label):
            edits = await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
        raise JsonRpcRequestCancelled("The request was cancelled.") from None
    if not edits:
        ls.window_show_message(types.ShowMessageParams(
            type=types.MessageType.Info, message="DeepSeek: the answer changes nothing."))
        return {"applied": False}
    reason = None
    try:  # within its deadline; null or an answer of another shape is "not applied"
        result = await ls.ask_client(types.WORKSPACE_APPLY_EDIT, types.ApplyWorkspaceEditParams(
            edit=workspace_edit(ls, snap, edits), label=label))
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
        ls.window_show_message(types.ShowMessageParams(
            type=types.MessageType.Warning, message=f"DeepSeek: the editor did not apply the edit ({reason})."))
    return out
