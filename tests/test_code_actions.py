"""End to end: prefix-completion code actions and deepseek.rewriteSelection."""

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from deepseek_ls.positions import offset_at
from tests.conftest import URI, change, open_doc

SOURCE = (
    "import math\n"
    "\n"
    "def area(r):\n"
    "    label = '😋 circle'; total = \n"
    "    return math.pi * r * r\n"
)


def apply(text: str, edit: types.WorkspaceEdit, encoding: str) -> str:
    """Apply a WorkspaceEdit the way a client does (positions in the negotiated encoding)."""
    if edit.document_changes:
        [doc_edit] = edit.document_changes
        edits = doc_edit.edits
    else:
        [edits] = edit.changes.values()
    spans = [(offset_at(text, e.range.start.line, e.range.start.character, encoding),
              offset_at(text, e.range.end.line, e.range.end.character, encoding), e.new_text) for e in edits]
    for start, end, new in sorted(spans, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def params(line: int, character: int, end: tuple[int, int] | None = None,
           diagnostics: list[types.Diagnostic] | None = None) -> types.CodeActionParams:
    start = types.Position(line=line, character=character)
    stop = types.Position(line=end[0], character=end[1]) if end else start
    return types.CodeActionParams(text_document=types.TextDocumentIdentifier(uri=URI),
                                  range=types.Range(start=start, end=stop),
                                  context=types.CodeActionContext(diagnostics=diagnostics or []))


def by_title(actions, prefix: str) -> types.CodeAction:
    [action] = [a for a in actions if a.title.startswith(prefix)]
    return action


async def test_listing_is_instant_and_makes_no_request(client: LanguageClient, fake):
    open_doc(client, SOURCE)
    diagnostic = types.Diagnostic(range=types.Range(start=types.Position(line=4, character=11),
                                                    end=types.Position(line=4, character=15)),
                                  message="\"math\" is possibly unbound", source="pyright")
    actions = await client.text_document_code_action_async(params(3, 33, diagnostics=[diagnostic]))
    titles = [a.title for a in actions]
    assert all(t.startswith("DeepSeek: ") for t in titles)
    assert "DeepSeek: complete the code at the cursor" in titles and "DeepSeek: add a docstring" in titles
    fix = by_title(actions, "DeepSeek: fix ")
    assert fix.kind == types.CodeActionKind.QuickFix and list(fix.diagnostics) == [diagnostic]
    assert all(a.edit is None for a in actions)
    quickfixes = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=URI), range=params(3, 33).range,
        context=types.CodeActionContext(diagnostics=[diagnostic], only=[types.CodeActionKind.QuickFix])))
    assert [a.title for a in quickfixes] == [fix.title]
    assert fake.chat_requests() == []
    # the document moved on before resolve: no stale edit, no request
    change(client, 2, 0, 0, "# hi\n")
    with pytest.raises(JsonRpcException) as info:
        await client.code_action_resolve_async(by_title(actions, "DeepSeek: complete"))
    assert info.value.code == -32801
    assert fake.chat_requests() == []


async def test_complete_resolves_with_one_prefix_request_after_an_emoji(client: LanguageClient, fake):
    open_doc(client, SOURCE)
    fake.chat_handler = lambda body: "math.pi * r * r\n```\nmore text"
    # "    label = '😋 circle'; total = " is 33 UTF-16 units (the emoji counts 2)
    action = by_title(await client.text_document_code_action_async(params(3, 33)), "DeepSeek: complete")
    resolved = await client.code_action_resolve_async(action)
    [request] = fake.chat_requests()
    assert request.path == "/beta/chat/completions" and request.body["stop"] == ["```"]
    assert request.body["thinking"] == {"type": "disabled"} and request.body["stream"] is False
    last = request.body["messages"][-1]
    assert last["prefix"] is True
    assert last["content"] == "```python\ndef area(r):\n    label = '😋 circle'; total = "
    assert apply(SOURCE, resolved.edit, "utf-16") == SOURCE.replace("total = \n", "total = math.pi * r * r\n")
    doc_edit = resolved.edit.document_changes[0]
    assert doc_edit.text_document.version == 1
    assert doc_edit.edits[0].range.start == types.Position(line=3, character=33)


async def test_docstring_in_utf8(utf8_client: LanguageClient, fake):
    open_doc(utf8_client, SOURCE)
    fake.chat_handler = lambda body: 'Return the area of a circle of radius r."""\n    x = 1'
    # 35 bytes in UTF-8: the emoji is 4
    action = by_title(await utf8_client.text_document_code_action_async(params(3, 35)), "DeepSeek: add a docstring")
    resolved = await utf8_client.code_action_resolve_async(action)
    assert fake.chat_requests()[0].body["messages"][-1]["content"] == '```python\ndef area(r):\n    """'
    assert resolved.edit.changes  # neovim takes plain changes
    assert apply(SOURCE, resolved.edit, "utf-8") == SOURCE.replace(
        "def area(r):\n", 'def area(r):\n    """Return the area of a circle of radius r."""\n')


async def test_quickfix_rewrites_only_what_changed(client: LanguageClient, fake):
    text = "def mean(xs):\n    s = '😋'\n    return sum(xs) / len(x)\n"
    open_doc(client, text)
    fake.chat_handler = lambda body: "return sum(xs) / len(xs)\n"
    diagnostic = types.Diagnostic(range=types.Range(start=types.Position(line=2, character=25),
                                                    end=types.Position(line=2, character=26)),
                                  message='"x" is not defined')
    action = by_title(await client.text_document_code_action_async(params(2, 25, diagnostics=[diagnostic])),
                      "DeepSeek: fix ")
    resolved = await client.code_action_resolve_async(action)
    assert len(fake.chat_requests()) == 1
    body = fake.chat_requests()[0].body
    assert body["messages"][-1]["content"] == "```python\n    " and '"x" is not defined' in body["messages"][1]["content"]
    [edit] = resolved.edit.document_changes[0].edits
    assert edit.new_text == "s" and edit.range.start == types.Position(line=2, character=26)
    assert apply(text, resolved.edit, "utf-16") == text.replace("len(x)", "len(xs)")


async def test_rewrite_selection_applies_an_edit(client: LanguageClient, fake):
    text = "values = [1, 2, 3]\ntotal = 0\nfor v in values:\n    total += v\nprint('😋', total)\n"
    open_doc(client, text)
    applied = []

    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        applied.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    client.feature(types.WORKSPACE_APPLY_EDIT)(apply_edit)
    fake.chat_handler = lambda body: "total = sum(values)\n"
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="deepseek.rewriteSelection",
        arguments=[{"uri": URI, "range": {"start": {"line": 1, "character": 0}, "end": {"line": 4, "character": 0}},
                    "instruction": "use sum()"}]))
    assert result == {"applied": True}
    [params_] = applied
    assert params_.label.startswith("DeepSeek: ")
    assert apply(text, params_.edit, "utf-16") == "values = [1, 2, 3]\ntotal = sum(values)\nprint('😋', total)\n"
    [request] = fake.chat_requests()
    assert "use sum()" in request.body["messages"][1]["content"]


async def test_resolve_failure_is_one_clear_error(client: LanguageClient, fake):
    open_doc(client, SOURCE)
    fake.inject(path="/beta/chat/completions", status=402, message="Insufficient Balance")
    action = by_title(await client.text_document_code_action_async(params(3, 33)), "DeepSeek: complete")
    with pytest.raises(JsonRpcException) as info:
        await client.code_action_resolve_async(action)
    assert info.value.code == -32803 and "top up" in info.value.message.lower()
    assert len(fake.chat_requests()) == 1
    assert [m.type for m in client.messages if "Insufficient" in m.message] == [types.MessageType.Error]


async def test_a_code_action_is_recorded_as_kind_action(client: LanguageClient, fake):
    """`stats` promises a per-kind table with action = code actions: a code action's row says so."""
    import asyncio
    import os
    import time
    from pathlib import Path

    from deepseek_ls.ledger import Ledger

    started = time.time()
    text = "values = [1, 2, 3]\ntotal = 0\nfor v in values:\n    total += v\n"
    open_doc(client, text)
    client.feature(types.WORKSPACE_APPLY_EDIT)(lambda params: types.ApplyWorkspaceEditResult(applied=True))
    fake.chat_handler = lambda body: "total = sum(values)\n"
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="deepseek.rewriteSelection",
        arguments=[{"uri": URI, "range": {"start": {"line": 1, "character": 0}, "end": {"line": 4, "character": 0}},
                    "instruction": "use sum()"}]))
    ledger = Ledger(Path(os.environ["DEEPSEEK_LS_DATA_DIR"]) / "ledger.sqlite3")
    kinds: list[str] = []
    for _ in range(200):  # written off the hot path, about a second later
        kinds = [row.kind for row in ledger.rows(start=started)]
        if kinds:
            break
        await asyncio.sleep(0.05)
    assert kinds == ["action"], kinds


async def _ledger_kinds(since: float, count: int) -> list[str]:
    """The kinds of the ledger rows written since ``since`` (waits for ``count`` of them:
    rows are written off the hot path, about a second later)."""
    import asyncio
    import os
    from pathlib import Path

    from deepseek_ls.ledger import Ledger

    ledger = Ledger(Path(os.environ["DEEPSEEK_LS_DATA_DIR"]) / "ledger.sqlite3")
    kinds: list[str] = []
    for _ in range(200):
        kinds = [row.kind for row in ledger.rows(start=since)]
        if len(kinds) >= count:
            break
        await asyncio.sleep(0.05)
    ledger.close()
    return kinds


@pytest.mark.parametrize("path", ["resolve", "runCodeAction"])
async def test_every_code_action_path_is_recorded_as_action_and_a_chat_as_chat(client: LanguageClient, fake,
                                                                                path: str):
    """Issue 11: code actions shared the chat's usage callback. Each way of running an action
    (codeAction/resolve, deepseek.runCodeAction; rewriteSelection above) writes a row of kind
    ``action``; a chat in the same server still writes ``chat``; the usage totals count both."""
    import time

    started = time.time()
    open_doc(client, SOURCE)
    client.feature(types.WORKSPACE_APPLY_EDIT)(lambda params: types.ApplyWorkspaceEditResult(applied=True))
    fake.chat_handler = lambda body: "math.pi * r * r\n"
    action = by_title(await client.text_document_code_action_async(params(3, 33)), "DeepSeek: complete")
    if path == "resolve":
        resolved = await client.code_action_resolve_async(action)
        assert resolved.edit is not None
    else:
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="deepseek.runCodeAction", arguments=[action.data]))
        assert result == {"applied": True}
    assert await _ledger_kinds(started, 1) == ["action"]
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"deepseek": {"chat": {"transcripts": False}}}))  # no file in the user's cache
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="deepseek.chat", arguments=[{"message": "hi"}]))
    assert await _ledger_kinds(started, 2) == ["action", "chat"]
    usage = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="deepseek.usage"))
    assert usage["requests"] == 2
