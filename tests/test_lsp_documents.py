"""End to end: the server's copy of each document, and line endings through the LSP.

The sync fuzz sends random incremental edits over real stdio in each
position encoding and asks the server for its text after every edit (the
``deepseek/inspectDocument`` request, registered when
``DEEPSEEK_LS_INSPECT=1``). Size: ``DEEPSEEK_LS_LSP_FUZZ_EDITS`` edits per
encoding (default 400), seed ``DEEPSEEK_LS_FUZZ_SEED``.
"""

from __future__ import annotations

import os
import random

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from deepseek_ls.positions import offset_at
from tests.conftest import URI, change, inline_params, open_doc
from tests.lsp_raw import RawServer, env_without_deepseek
from tests.test_documents import ENCODINGS, FUZZ_SEED, random_edit, random_text, ref_apply

LSP_FUZZ_EDITS = int(os.environ.get("DEEPSEEK_LS_LSP_FUZZ_EDITS", "400"))
FUZZ_URI = "file:///w/fuzz.py"


def start(encoding: str) -> RawServer:
    server = RawServer(env_without_deepseek(DEEPSEEK_LS_INSPECT="1"))
    server.request(0, "initialize", {"processId": None, "rootUri": None,
                                     "capabilities": {"general": {"positionEncodings": [encoding]}}})
    assert server.response(0)["result"]["capabilities"]["positionEncoding"] == encoding
    server.notify("initialized", {})
    return server


def lsp_change(start, end, text):
    if start is None:
        return {"text": text}
    return {"range": {"start": {"line": start[0], "character": start[1]},
                      "end": {"line": end[0], "character": end[1]}}, "text": text}


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_fuzz_incremental_sync_through_the_lsp(encoding):
    rng = random.Random(f"lsp-{FUZZ_SEED}-{encoding}")
    ref = random_text(rng, 40)
    server = start(encoding)
    try:
        server.notify("textDocument/didOpen", {"textDocument": {"uri": FUZZ_URI, "languageId": "python",
                                                                 "version": 1, "text": ref}})
        expected = []
        for n in range(LSP_FUZZ_EDITS):
            changes = []
            for _ in range(1 if rng.random() < 0.8 else rng.randint(2, 4)):  # several changes in one message
                start_, end_, new = random_edit(rng, ref, encoding)
                changes.append(lsp_change(start_, end_, new))
                ref = new if start_ is None else ref_apply(ref, start_, end_, new, encoding)
            version = n + 2
            server.notify("textDocument/didChange", {"textDocument": {"uri": FUZZ_URI, "version": version},
                                                     "contentChanges": changes})
            server.request(f"inspect-{n}", "deepseek/inspectDocument", {"uri": FUZZ_URI})
            expected.append((version, ref))
        for n, (version, text) in enumerate(expected):  # requests were pipelined; answers come in order
            result = server.response(f"inspect-{n}", timeout=30)["result"]
            assert (result["version"], result["text"]) == (version, text), f"edit {n}"
    finally:
        assert server.close() == 0


def test_close_forgets_and_a_change_to_an_unopened_document_harms_nothing():
    server = start("utf-16")
    try:
        server.notify("textDocument/didChange", {"textDocument": {"uri": FUZZ_URI, "version": 2},
                                                 "contentChanges": [lsp_change((0, 0), (0, 0), "x")]})
        server.request(1, "deepseek/inspectDocument", {"uri": FUZZ_URI})
        assert server.response(1)["result"] is None
        server.notify("textDocument/didOpen", {"textDocument": {"uri": FUZZ_URI, "languageId": "python",
                                                                 "version": 1, "text": "a\r\nb"}})
        server.request(2, "deepseek/inspectDocument", {"uri": FUZZ_URI})
        assert server.response(2)["result"] == {"uri": FUZZ_URI, "version": 1, "text": "a\r\nb", "eol": "\r\n",
                                                "lineCount": 2}
        server.notify("textDocument/didClose", {"textDocument": {"uri": FUZZ_URI}})
        server.request(3, "deepseek/inspectDocument", {"uri": FUZZ_URI})
        assert server.response(3)["result"] is None
        popups = [m["params"]["message"] for m in server.messages if m.get("method") == "window/showMessage"]
        assert all("API key" in p for p in popups)  # only the (expected) missing-key notice
    finally:
        assert server.close() == 0


def test_inspect_is_not_there_unless_asked_for():
    server = RawServer(env_without_deepseek())
    try:
        server.request(0, "initialize", {"processId": None, "capabilities": {}})
        server.response(0)
        server.request(1, "deepseek/inspectDocument", {"uri": FUZZ_URI})
        assert server.response(1)["error"]["code"] == -32601
    finally:
        server.close()


def test_a_50_mb_document_takes_edits_and_blocks_nothing(fake):
    server = RawServer(env_without_deepseek(DEEPSEEK_LS_INSPECT="1", DEEPSEEK_API_KEY="sk-test"))
    try:
        options = {"deepseek": {"baseUrl": fake.base_url, "completion": {"debounceMs": 0}}}
        server.request(0, "initialize", {"capabilities": {}, "initializationOptions": options})
        server.response(0)
        server.notify("initialized", {})
        line = "x = 1  # padding padding 😀 padding 中文 padding padding padding\r\n"
        big = line * 800_000
        assert len(big) > 50_000_000
        server.notify("textDocument/didOpen", {"textDocument": {"uri": "file:///w/big.py", "languageId": "python",
                                                                 "version": 1, "text": big}})
        for i in range(20):  # keystrokes in the middle of it
            server.notify("textDocument/didChange", {"textDocument": {"uri": "file:///w/big.py", "version": i + 2},
                                                     "contentChanges": [lsp_change((400_000, i), (400_000, i), "y")]})
        server.request(1, "deepseek/inspectDocument", {"uri": "file:///w/big.py"})
        result = server.response(1, timeout=60)["result"]
        assert result["version"] == 21 and result["eol"] == "\r\n" and result["lineCount"] == 800_001
        assert result["text"] == line * 400_000 + "y" * 20 + line * 400_000
        server.request(2, "textDocument/inlineCompletion", {
            "textDocument": {"uri": "file:///w/big.py"}, "position": {"line": 400_000, "character": 20},
            "context": {"triggerKind": 1}})
        assert server.response(2, timeout=30)["result"]["items"] == []  # too large to complete in
        server.notify("textDocument/didOpen", {"textDocument": {"uri": "file:///w/a.py", "languageId": "python",
                                                                 "version": 1, "text": "def f():\n    \n"}})
        server.request(3, "textDocument/inlineCompletion", {
            "textDocument": {"uri": "file:///w/a.py"}, "position": {"line": 1, "character": 4},
            "context": {"triggerKind": 1}})
        assert server.response(3, timeout=30)["result"]["items"]
        assert all("padding" not in r.body["prompt"] for r in fake.fim_requests())  # not used as context
    finally:
        assert server.close() == 0


# -- the examples through pytest-lsp ------------------------------------------
@pytest.mark.parametrize("separator", ["\f", "\u2028", "\v"])
async def test_edits_below_a_page_break_land_on_their_line(client: LanguageClient, fake, separator):
    text = f"import os\n{separator}\ndef f():\n    return 1\n\ndef g():\n    \n"
    open_doc(client, text)
    change(client, 2, 3, 11, "2", end=(3, 12))  # return 1 -> return 2, below the page break
    change(client, 3, 6, 4, "y = ")
    result = await client.text_document_inline_completion_async(inline_params(6, 8, manual=True))
    assert result.items[0].insert_text == "return a + b"
    [request] = fake.fim_requests()
    assert request.body["prompt"].endswith(f"import os\n{separator}\ndef f():\n    return 2\n\ndef g():\n    y = ")


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
async def test_typed_ahead_in_crlf_files_answers_from_memory_as_in_lf_files(client: LanguageClient, fake, eol):
    # The model indents its first line again (as real models do): until a second line
    # decides that indentation, the stream's first line is not shown early, so the
    # answer comes whole, however slow the machine (early display is timed).
    fake.fim_handler = lambda body: "    x = 1\n    return x"
    open_doc(client, f"def f():{eol}    {eol}{eol}print(f()){eol}")
    first = await client.text_document_inline_completion_async(inline_params(1, 4, manual=True))
    assert first.items[0].insert_text == f"x = 1{eol}    return x"  # in the file's own line endings
    [request] = fake.fim_requests()
    assert "\r" not in request.body["prompt"] + request.body.get("suffix", "")  # the model sees LF only
    assert request.body["stop"] == ["\n\n"]  # the multi-line stop can match a blank line
    # the user accepts the first line (the editor inserts its own line break and indentation)
    change(client, 2, 1, 4, f"x = 1{eol}    ")
    second = await client.text_document_inline_completion_async(inline_params(2, 4))
    assert second.items[0].insert_text == "return x"
    assert len(fake.fim_requests()) == 1  # answered from memory


async def test_mixed_line_endings_send_lf_and_answer_in_the_dominant_style(client: LanguageClient, fake):
    fake.fim_handler = lambda body: "a = 1\n    b = 2"
    open_doc(client, "def f():\r\n    \r\n\r\nx = 1\nprint(f())\r\n")
    result = await client.text_document_inline_completion_async(inline_params(1, 4, manual=True))
    assert result.items[0].insert_text == "a = 1\r\n    b = 2"
    assert result.items[0].range.start == types.Position(line=1, character=4)
    assert "\r" not in fake.fim_requests()[0].body["prompt"]


def _apply(text: str, edit: types.WorkspaceEdit) -> str:
    edits = edit.document_changes[0].edits if edit.document_changes else list(edit.changes.values())[0]
    spans = [(offset_at(text, e.range.start.line, e.range.start.character),
              offset_at(text, e.range.end.line, e.range.end.character), e.new_text) for e in edits]
    for start, end, new in sorted(spans, reverse=True):
        text = text[:start] + new + text[end:]
    return text


async def test_code_action_edits_keep_crlf_line_endings(client: LanguageClient, fake):
    text = "def mean(xs):\r\n    s = '😋'\r\n    return sum(xs) / len(x)\r\n\r\nprint(1)\r\n"
    open_doc(client, text)
    fake.chat_handler = lambda body: "return sum(xs) / len(xs)\n    # 😋 done\n"
    diagnostic = types.Diagnostic(range=types.Range(start=types.Position(line=2, character=25),
                                                    end=types.Position(line=2, character=26)),
                                  message='"x" is not defined')
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=URI), range=diagnostic.range,
        context=types.CodeActionContext(diagnostics=[diagnostic])))
    [fix] = [a for a in actions if a.title.startswith("DeepSeek: fix")]
    resolved = await client.code_action_resolve_async(fix)
    request = fake.chat_requests()[0]
    assert all("\r" not in m["content"] for m in request.body["messages"])
    new = _apply(text, resolved.edit)
    assert new == text.replace("len(x)\r\n", "len(xs)\r\n    # 😋 done\r\n")
    assert new.count("\n") == new.count("\r\n")  # no LF-only line break spliced in
    for edit in resolved.edit.document_changes[0].edits:  # nothing rewrites an existing break
        assert edit.range.start.line == 2


async def test_rewrite_selection_keeps_crlf_and_touches_only_changed_lines(client: LanguageClient, fake):
    text = "values = [1, 2, 3]\r\ntotal = 0\r\nfor v in values:\r\n    total += v\r\nprint('😋', total)\r\n"
    open_doc(client, text)
    applied = []

    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        applied.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    client.feature(types.WORKSPACE_APPLY_EDIT)(apply_edit)
    fake.chat_handler = lambda body: "total = 0\nfor value in values:\n    total += value\n"
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="deepseek.rewriteSelection",
        arguments=[{"uri": URI, "range": {"start": {"line": 1, "character": 0}, "end": {"line": 4, "character": 0}},
                    "instruction": "rename v"}]))
    assert result == {"applied": True}
    [params_] = applied
    edits = params_.edit.document_changes[0].edits
    assert all("\r" not in e.new_text and "\n" not in e.new_text for e in edits)  # no line break rewritten
    assert _apply(text, params_.edit) == text.replace("for v in", "for value in").replace("+= v\r", "+= value\r")


@pytest.mark.parametrize("eol", ["\r\n", "\r"])
async def test_docstring_action_writes_the_documents_line_break(client: LanguageClient, fake, eol):
    text = f"def area(r):{eol}    return 3.14 * r * r{eol}"
    open_doc(client, text)
    fake.chat_handler = lambda body: 'Area of a circle.\n\n    r: the radius."""'
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=URI),
        range=types.Range(start=types.Position(line=1, character=4), end=types.Position(line=1, character=4)),
        context=types.CodeActionContext(diagnostics=[])))
    [docstring] = [a for a in actions if a.title == "DeepSeek: add a docstring"]
    new = _apply(text, (await client.code_action_resolve_async(docstring)).edit)
    assert new == f'def area(r):{eol}    """Area of a circle.{eol}{eol}    r: the radius.{eol}    """{eol}' \
                  f"    return 3.14 * r * r{eol}"
    assert "\r" not in "".join(m["content"] for m in fake.chat_requests()[0].body["messages"])
