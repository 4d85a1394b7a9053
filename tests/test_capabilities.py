"""Clients that lack a capability get what they can run, and are told what they cannot (issue 10).

Each fixture is one kind of client: Emacs eglot 29 (code actions, applyEdit, but no
``codeAction.resolveSupport``), a client with resolve but without ``workspace.applyEdit``, an
LSP-3.7-style client (no code action literals), and a minimal client that declares nothing.
"""

from typing import Union

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient, client_capabilities

from tests.conftest import ROOT, SERVER, URI, change, init_options, open_doc, until
from tests.test_code_actions import SOURCE, apply, params
from tests.test_lsp_chat import CACHE, CHAT_SERVER


def _fix_code_action_parsing(client: LanguageClient) -> None:
    """lsprotocol 2025.0.0 reads any code action that has a ``command`` as a bare Command
    (its hook tests ``"command" in obj``); a bare Command's ``command`` is a string."""
    conv = client.protocol._converter

    def hook(obj, _):
        kind = types.Command if isinstance(obj.get("command"), str) else types.CodeAction
        return conv.structure(obj, kind)

    # keyed by the very object lsprotocol annotates with (typing.Union, not the | union type)
    conv.register_structure_hook(Union[types.Command, types.CodeAction], hook)  # noqa: UP007


async def _start(lsp_client: LanguageClient, fake, caps: types.ClientCapabilities, applies: bool = True):
    _fix_code_action_parsing(lsp_client)
    lsp_client.applied = []

    def apply_edit(p: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        lsp_client.applied.append(p)
        if lsp_client.refuse:
            return types.ApplyWorkspaceEditResult(applied=False, failure_reason="the buffer is read-only")
        return types.ApplyWorkspaceEditResult(applied=True)

    lsp_client.refuse = False
    if applies:
        lsp_client.feature(types.WORKSPACE_APPLY_EDIT)(apply_edit)
    lsp_client.init_result = await lsp_client.initialize_session(types.InitializeParams(
        capabilities=caps, root_uri=ROOT, initialization_options=init_options(fake)))


@pytest_lsp.fixture(config=SERVER)
async def eglot(lsp_client: LanguageClient, fake):
    caps = client_capabilities("emacs")
    assert caps.text_document.code_action.resolve_support is None and caps.workspace.apply_edit
    await _start(lsp_client, fake, caps)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER)
async def no_apply_edit(lsp_client: LanguageClient, fake):
    caps = client_capabilities("neovim@v0.10.0")
    caps.workspace.apply_edit = False
    await _start(lsp_client, fake, caps, applies=False)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER)
async def no_literals(lsp_client: LanguageClient, fake):
    caps = types.ClientCapabilities(workspace=types.WorkspaceClientCapabilities(apply_edit=True))
    await _start(lsp_client, fake, caps)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CHAT_SERVER)  # transcripts go to a temporary cache
async def minimal(lsp_client: LanguageClient, fake):
    await _start(lsp_client, fake, types.ClientCapabilities(), applies=False)
    yield
    await lsp_client.shutdown_session()


def _by_title(actions, prefix):
    [action] = [a for a in actions if a.title.startswith(prefix)]
    return action


def _run(client: LanguageClient, command: types.Command):
    return client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=command.command, arguments=list(command.arguments)))


async def test_without_resolve_support_actions_carry_a_command_that_applies_the_edit(eglot, fake):
    client = eglot
    open_doc(client, SOURCE)
    fake.chat_handler = lambda body: "math.pi * r * r\n```"
    actions = await client.text_document_code_action_async(params(3, 33))
    assert actions and all(a.title.startswith("DeepSeek: ") for a in actions)
    assert all(a.command is not None and a.data is None and a.edit is None for a in actions)
    assert fake.chat_requests() == []  # listing stays free
    complete = _by_title(actions, "DeepSeek: complete")
    assert complete.command.command == "deepseek.runCodeAction"
    assert await _run(client, complete.command) == {"applied": True}
    [request] = fake.chat_requests()
    assert request.path == "/beta/chat/completions"
    [edit] = client.applied
    assert edit.label.startswith("DeepSeek: ")
    assert apply(SOURCE, edit.edit, "utf-32") == SOURCE.replace("total = \n", "total = math.pi * r * r\n")
    # eglot declares workDoneProgress: the wait shows as progress
    [reports] = client.progress_reports.values()
    assert isinstance(reports[0], types.WorkDoneProgressBegin) and reports[0].title == "DeepSeek: code action"
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)


async def test_a_stale_command_pays_nothing(eglot, fake):
    client = eglot
    open_doc(client, SOURCE)
    complete = _by_title(await client.text_document_code_action_async(params(3, 33)), "DeepSeek: complete")
    change(client, 2, 0, 0, "# moved on\n")
    with pytest.raises(JsonRpcException) as info:
        await _run(client, complete.command)
    assert info.value.code == -32801 and fake.chat_requests() == [] and client.applied == []


async def test_an_edit_the_editor_refuses_is_said(eglot, fake):
    client = eglot
    client.refuse = True
    open_doc(client, SOURCE)
    fake.chat_handler = lambda body: "math.pi * r * r\n```"
    complete = _by_title(await client.text_document_code_action_async(params(3, 33)), "DeepSeek: complete")
    result = await _run(client, complete.command)
    assert result == {"applied": False, "failureReason": "the buffer is read-only"}
    await until(lambda: any("did not apply" in m.message for m in client.messages))


async def test_without_apply_edit_rewrite_is_refused_before_any_request(no_apply_edit, fake):
    client = no_apply_edit
    open_doc(client, SOURCE)
    with pytest.raises(JsonRpcException) as info:
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="deepseek.rewriteSelection",
            arguments=[{"uri": URI, "range": {"start": {"line": 2, "character": 0}, "end": {"line": 4, "character": 0}},
                        "instruction": "use tau"}]))
    assert info.value.code == -32803 and "workspace/applyEdit" in info.value.message
    assert "Nothing was sent" in info.value.message
    assert info.value.data == {"kind": "Unsupported", "capability": "workspace.applyEdit"}
    assert fake.chat_requests() == []
    await until(lambda: any("workspace/applyEdit" in m.message for m in client.messages))
    # resolve needs no applyEdit: the code actions still work, through resolve
    fake.chat_handler = lambda body: "math.pi * r * r\n```"
    complete = _by_title(await client.text_document_code_action_async(params(3, 33)), "DeepSeek: complete")
    assert complete.data is not None and complete.command is None
    resolved = await client.code_action_resolve_async(complete)
    assert resolved.edit is not None


async def test_without_code_action_literals_actions_are_plain_commands(no_literals, fake):
    client = no_literals
    open_doc(client, SOURCE)
    fake.chat_handler = lambda body: "math.pi * r * r\n```"
    actions = await client.text_document_code_action_async(params(3, 33))
    assert actions and all(isinstance(a, types.Command) for a in actions)
    complete = _by_title(actions, "DeepSeek: complete")
    assert await _run(client, complete) == {"applied": True}
    assert len(fake.chat_requests()) == 1


async def test_a_client_that_can_neither_resolve_nor_apply_gets_no_dead_actions(minimal, fake):
    client = minimal
    open_doc(client, SOURCE)
    assert not await client.text_document_code_action_async(params(3, 33))
    with pytest.raises(JsonRpcException) as info:
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="deepseek.runCodeAction",
            arguments=[{"uri": URI, "version": 1, "action": "complete",
                        "range": {"start": {"line": 3, "character": 33}, "end": {"line": 3, "character": 33}}}]))
    assert "workspace/applyEdit" in info.value.message and fake.chat_requests() == []
    # what needs no capability still works: chat returns the answer as the command's result,
    # with no progress and no showDocument (neither was declared)
    fake.chat_handler = lambda body: "An answer."
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="deepseek.chat", arguments=[{"message": "hi", "uri": URI}]))
    assert result["content"] == "An answer."
    # the transcript cannot be opened: its place is logged instead
    await until(lambda: any("the answer is also in" in m.message for m in client.log_messages))
    [logged] = [m.message for m in client.log_messages if "the answer is also in" in m.message]
    assert str(CACHE) in logged
    assert client.progress_reports == {} and client.shown_documents == []
