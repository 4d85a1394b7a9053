"""Review of issue 12 (cross-file context): failing reproductions through the LSP.

Each test starts deepseek-ls as a subprocess on a workspace on disk and reads the
FIM requests the fake DeepSeek recorded.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.conftest import change, inline_params, open_doc, server_env

PARENT = Path(tempfile.mkdtemp(prefix="deepseek-ls-review12-"))
WORKSPACE = PARENT / "ws"
ROOT = WORKSPACE.as_uri()
FILES = {
    "pkg/__init__.py": "",
    "pkg/helpers.py": 'def compute_total(items, tax_rate=0.2):\n    """Sum with tax."""\n'
                      "    return sum(items) * (1 + tax_rate)\n",
    "pkg/extra.py": "def vendored_magic(n):\n    return n * 42\n",
    "pkg/starmod.py": "def star_function(a, b):\n    return a - b\n",
}
for rel, body in FILES.items():
    (WORKSPACE / rel).parent.mkdir(parents=True, exist_ok=True)
    (WORKSPACE / rel).write_text(body)

APP = f"{ROOT}/pkg/app.py"
APP_TEXT = ("from .helpers import compute_total\n\n"
            "def checkout(cart):\n    total = compute_total(cart)\n    n = vendored_magic(total)\n    \n")
CURSOR = (5, 4)
SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "deepseek_ls"], server_env=server_env())


def plain(obj):
    if hasattr(obj, "_asdict"):
        return {k: plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def base(fake) -> dict:
    return {"baseUrl": fake.base_url, "completion": {"debounceMs": 50, "adaptiveDebounce": False}}


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, fake):
    fake.fim_handler = lambda body: "\u00a7"
    lsp_client.feature("deepseek/status")(lambda params: None)
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT,
        workspace_folders=[types.WorkspaceFolder(uri=ROOT, name="ws")],
        initialization_options={"deepseek": base(fake)}))
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER)
async def editor_client(lsp_client: LanguageClient, fake):
    """Answers deepseek/definitions: vendored_magic is in pkg/extra.py (as a plugin would)."""
    fake.fim_handler = lambda body: "\u00a7"
    lsp_client.definition_requests = []

    @lsp_client.feature("deepseek/definitions")
    def definitions(params):
        params = plain(params)
        lsp_client.definition_requests.append(params)
        lines = APP_TEXT.split("\n")
        out = []
        for pos in params["positions"]:
            word = lines[pos["line"]][pos["character"]:]
            out.append([{"uri": f"{ROOT}/pkg/extra.py", "range": {"start": {"line": 0, "character": 4},
                                                                  "end": {"line": 0, "character": 18}}}]
                       if word.startswith("vendored_magic") else None)
        return out

    lsp_client.feature("deepseek/status")(lambda params: None)
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT,
        workspace_folders=[types.WorkspaceFolder(uri=ROOT, name="ws")],
        initialization_options={"deepseek": base(fake), "deepseekDefinitions": True}))
    yield
    await lsp_client.shutdown_session()


def settings(client: LanguageClient, fake, **deepseek) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"deepseek": {**base(fake), **deepseek}}))


async def prompt_after(client: LanguageClient, fake, line: int, character: int, uri: str = APP) -> str:
    await client.text_document_inline_completion_async(inline_params(line, character, True, uri=uri))
    return fake.fim_requests()[-1].body["prompt"]


# -- secrets: a file excluded while the server runs ------------------------------------------

async def test_file_excluded_live_is_no_longer_sent_as_context(client: LanguageClient, fake):
    """`deepseek.exclude` gains helpers.py while the server runs: its definition must stop
    being sent (as a definition in an excluded file is never sent). Today it stays in the
    project block for the rest of the session."""
    open_doc(client, APP_TEXT, uri=APP)
    assert "def compute_total(" in await prompt_after(client, fake, *CURSOR)  # sanity: context works
    settings(client, fake, exclude=["**/helpers.py"])
    await asyncio.sleep(0.5)
    change(client, 2, 5, 4, "t", uri=APP)  # a keystroke: the file is analysed again
    await asyncio.sleep(1.5)
    prompt = await prompt_after(client, fake, 5, 5)
    assert "def compute_total(" not in prompt, "a file excluded by deepseek.exclude is still sent as context"


async def test_file_ignored_live_by_deepseekignore_is_no_longer_sent(client: LanguageClient, fake, tmp_path):
    """The same through a `.deepseekignore` written while the server runs."""
    ignore = WORKSPACE / ".deepseekignore"
    try:
        open_doc(client, APP_TEXT, uri=APP)
        assert "def compute_total(" in await prompt_after(client, fake, *CURSOR)
        ignore.write_text("pkg/helpers.py\n")
        await asyncio.sleep(1.0)
        change(client, 2, 5, 4, "t", uri=APP)
        await asyncio.sleep(1.5)
        prompt = await prompt_after(client, fake, 5, 5)
        assert "def compute_total(" not in prompt, ".deepseekignore'd file is still sent as context"
    finally:
        ignore.unlink(missing_ok=True)


# -- settings switched live -------------------------------------------------------------------

async def test_editor_definitions_switched_off_live(editor_client: LanguageClient, fake):
    """context.editorDefinitions=false must stop the editor's definitions; today they stay.
    The parser's definitions are off throughout: the project block (a map of every definition
    the project uses) would otherwise carry vendored_magic on its own."""
    client = editor_client
    settings(client, fake, context={"definitions": False})
    await asyncio.sleep(0.3)
    open_doc(client, APP_TEXT, uri=APP)
    for _ in range(50):
        await asyncio.sleep(0.1)
        if client.definition_requests:
            break
    await asyncio.sleep(0.5)
    assert "def vendored_magic(n):" in await prompt_after(client, fake, *CURSOR)  # sanity
    settings(client, fake, context={"definitions": False, "editorDefinitions": False})
    await asyncio.sleep(0.5)
    change(client, 2, 5, 4, "t", uri=APP)
    await asyncio.sleep(1.5)
    prompt = await prompt_after(client, fake, 5, 5)
    assert "def vendored_magic(n):" not in prompt, "editor definitions still sent with editorDefinitions=false"


async def test_definitions_switched_off_live_first_request(client: LanguageClient, fake):
    """context.definitions=false: the very next (automatic) request must not carry the parser's definitions;
    today it is built from the analysis made before the switch."""
    open_doc(client, APP_TEXT, uri=APP)
    assert "def compute_total(" in await prompt_after(client, fake, *CURSOR)
    settings(client, fake, context={"definitions": False})
    await asyncio.sleep(0.5)
    before = len(fake.fim_requests())
    # an automatic request (as while typing) at another spot (not the result cache)
    await client.text_document_inline_completion_async(inline_params(3, 4, False, uri=APP))
    assert len(fake.fim_requests()) == before + 1
    prompt = fake.fim_requests()[-1].body["prompt"]
    assert "def compute_total(" not in prompt, "first request after definitions=false still has definitions"


# -- resolver -------------------------------------------------------------------------------

async def test_python_star_import(client: LanguageClient, fake):
    text = "from .starmod import *\n\ndef g(x):\n    y = star_function(x, 1)\n    \n"
    open_doc(client, text, uri=APP)
    prompt = await prompt_after(client, fake, 4, 4)
    assert "def star_function(a, b):" in prompt, "`from .starmod import *` gives no definitions"


async def test_python_dotted_import_without_alias(client: LanguageClient, fake):
    text = "import pkg.helpers\n\ndef g(x):\n    y = pkg.helpers.compute_total(x)\n    \n"
    open_doc(client, text, uri=APP)
    prompt = await prompt_after(client, fake, 4, 4)
    assert "def compute_total(" in prompt, "`import pkg.helpers` + `pkg.helpers.compute_total` not resolved"


# -- cost: the same code twice ----------------------------------------------------------------

async def test_open_file_definition_is_not_sent_twice(client: LanguageClient, fake):
    """helpers.py open in another tab: its definition comes through the parser (context block)
    and again through the older `completion.otherFiles` / open-file snippets. Each copy is
    paid for (and the second copy is a cache miss when it moves)."""
    helpers = (WORKSPACE / "pkg" / "helpers.py").read_text()
    open_doc(client, helpers, uri=f"{ROOT}/pkg/helpers.py")
    open_doc(client, APP_TEXT, uri=APP)
    await asyncio.sleep(1.0)
    prompt = await prompt_after(client, fake, *CURSOR)
    assert prompt.count("def compute_total(") == 1, prompt


async def test_deleted_file_is_no_longer_sent(client: LanguageClient, fake):
    """A file deleted (or renamed away) after it was analysed: once the importing file is
    analysed again its definition should go; today the project block keeps it for the session
    (the same cause as the live exclusions above: the project block never drops an item)."""
    gone = WORKSPACE / "pkg" / "gone_soon.py"
    gone.write_text("def soon_gone(a):\n    return a + 1\n")
    uri = f"{ROOT}/pkg/other_app.py"
    text = "from .gone_soon import soon_gone\n\ndef f(x):\n    y = soon_gone(x)\n    \n"
    open_doc(client, text, uri=uri)
    assert "def soon_gone(a):" in await prompt_after(client, fake, 4, 4, uri=uri)
    gone.unlink()
    change(client, 2, 4, 4, "z", uri=uri)
    await asyncio.sleep(1.5)
    prompt = await prompt_after(client, fake, 4, 5, uri=uri)
    assert "def soon_gone(a):" not in prompt, "a deleted file's definition is still sent"
