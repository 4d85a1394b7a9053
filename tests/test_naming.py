"""Documents are named to the model without local paths, relative to their workspace folder (issue 10)."""

import asyncio
import json

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from deepseek_ls.naming import display_name
from tests.conftest import SERVER, init_options, inline_params, open_doc

ONE = [("file:///home/me/proj", "proj")]
TWO = [("file:///home/me/api", "api"), ("file:///home/me/web", "web")]


@pytest.mark.parametrize("uri, folders, name", [
    ("file:///home/me/proj/pkg/a.py", ONE, "pkg/a.py"),
    ("file:///home/me/proj/a%20b/c%23d.py", ONE, "a b/c#d.py"),
    ("file:///home/me/elsewhere/secret/a.py", ONE, "a.py"),
    ("file:///home/me/api/main.py", TWO, "api/main.py"),
    ("file:///home/me/web/src/app.ts", TWO, "web/src/app.ts"),
    ("file:///home/me/web2/x.ts", TWO, "x.ts"),  # a sibling with a common prefix is not inside
    ("file:///home/me/api/sub/x.py", [("file:///home/me/api", "api"), ("file:///home/me/api/sub", "sub")],
     "sub/x.py"),  # nested folders: the most specific one
    ("file:///c%3A/Users/me/proj/a.py", [("file:///c%3A/Users/me/proj", "proj")], "a.py"),
    ("file:///home/me/proj/a.py", [], "a.py"),
    ("untitled:Untitled-1", ONE, "untitled:Untitled-1"),
    ("untitled:/home/me/proj/draft.py", ONE, "untitled:draft.py"),
    ("untitled:/home/me/draft.py", ONE, "untitled:draft.py"),
    ("vscode-notebook-cell:/home/me/proj/nb/analysis.ipynb#W3sZmlsZQ%3D%3D", ONE, "nb/analysis.ipynb#cell3"),
    ("vscode-notebook-cell:/home/me/proj/n.ipynb#X10sZmlsZQ==", ONE, "n.ipynb#cell7"),
    ("vscode-notebook-cell:/home/me/other/n.ipynb#W0sZmlsZQ==", ONE, "n.ipynb#cell0"),
    ("vscode-interactive-input:/InteractiveInput-1", ONE, "InteractiveInput-1#cell"),
    ("git:/home/me/proj/a.py?%7B%22path%22%3A%22%2Fhome%2Fme%2Fproj%2Fa.py%22%7D", ONE, "git:a.py"),
    ("jdt://contents/rt.jar/java.lang/String.class?=abc%2Fhome%2Fme", ONE, "jdt:String.class"),
    ("deno:/https/deno.land/std/path/mod.ts", ONE, "deno:mod.ts"),
])
def test_display_names(uri, folders, name):
    assert display_name(uri, folders) == name
    assert "/home/me" not in display_name(uri, folders)


WEB = "file:///work/web/src/app.py"
TOOLS = "file:///work/tools/build.py"


@pytest_lsp.fixture(config=SERVER)
async def multi_root(lsp_client: LanguageClient, fake):
    folders = [types.WorkspaceFolder(uri="file:///work/api", name="api"),
               types.WorkspaceFolder(uri="file:///work/web", name="web")]
    lsp_client.init_result = await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri="file:///work/api",
        workspace_folders=folders, initialization_options=init_options(fake)))
    yield
    await lsp_client.shutdown_session()


async def _prompt_for(client: LanguageClient, fake, uri: str, text: str = "def f():\n    \n") -> str:
    open_doc(client, text, uri=uri)
    before = len(fake.fim_requests())
    await client.text_document_inline_completion_async(inline_params(1, 4, manual=True, uri=uri))
    assert len(fake.fim_requests()) == before + 1
    return fake.fim_requests()[-1].body["prompt"]


async def test_multi_root_names_and_folder_changes(multi_root: LanguageClient, fake):
    client = multi_root
    caps = client.init_result.capabilities.workspace.workspace_folders
    assert caps.supported and caps.change_notifications
    assert "Path: web/src/app.py" in await _prompt_for(client, fake, WEB)
    assert "Path: build.py" in await _prompt_for(client, fake, TOOLS, "def g():\n    \n")  # outside: base name
    # explain's header in the chat names the folder too
    fake.chat_handler = lambda body: "ok"
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="deepseek.explainSelection",
        arguments=[{"uri": WEB, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}}]))
    assert fake.chat_requests()[-1].body["messages"][1]["content"].startswith(
        "Selected code from `web/src/app.py` (lines 1-1, python):")
    client.workspace_did_change_workspace_folders(types.DidChangeWorkspaceFoldersParams(
        event=types.WorkspaceFoldersChangeEvent(
            added=[types.WorkspaceFolder(uri="file:///work/tools", name="tools")],
            removed=[types.WorkspaceFolder(uri="file:///work/web", name="web")])))
    await asyncio.sleep(0.2)
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=TOOLS)))
    assert "Path: tools/build.py" in await _prompt_for(client, fake, TOOLS, "def h():\n    \n")


async def test_non_file_documents_send_no_local_path(client: LanguageClient, fake):
    untitled = "untitled:Untitled-1"
    cell = "vscode-notebook-cell:/work/project/nb/analysis.ipynb#W3sZmlsZQ%3D%3D"
    git = "git:/work/project/pkg/a.py?%7B%22path%22%3A%22%2Fwork%2Fproject%2Fpkg%2Fa.py%22%7D"
    assert "Path: untitled:Untitled-1" in await _prompt_for(client, fake, untitled)
    assert "Path: nb/analysis.ipynb#cell3" in await _prompt_for(client, fake, cell, "def g():\n    \n")
    assert "Path: git:pkg/a.py" in await _prompt_for(client, fake, git, "def h():\n    \n")
    fake.chat_handler = lambda body: "ok"
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="deepseek.chat", arguments=[{"message": "what is this?", "uri": cell,
                                             "range": {"start": {"line": 0, "character": 0},
                                                       "end": {"line": 1, "character": 0}}}]))
    for request in fake.requests:
        assert "/work/project" not in json.dumps(request.body), request.path
