"""End to end through the LSP and the fake DeepSeek: cross-file context (issue 12).

deepseek-ls runs as a subprocess rooted at a real workspace on disk; the
fake records every FIM request.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.conftest import change, inline_params, open_doc, server_env, until

WORKSPACE = Path(tempfile.mkdtemp(prefix="deepseek-ls-test-ctx-"))
ROOT = WORKSPACE.as_uri()
SECRET = "Zq8Wx7Ec6Rv5Tb4Yn3Um2Ik1Ol0P"
FILES = {
    ".deepseekignore": "private/\n",
    ".env": f"API_TOKEN={SECRET}\n",
    "pkg/__init__.py": "",
    "pkg/helpers.py": 'def compute_total(items, tax_rate=0.2):\n    """Sum with tax."""\n'
                      "    return sum(items) * (1 + tax_rate)\n",
    "pkg/private/__init__.py": "",
    "pkg/private/keys.py": f'def signing_key():\n    return "{SECRET}"\n',
    "pkg/conf_values.py": f'API_TOKEN = "{SECRET}"\n',  # excluded by the user's deepseek.exclude
    "vendor/external.py": "def vendored_magic(n):\n    return n * 42\n",
    "pkg/discounts.py": "def _apply_discount(total, rate=0.1):\n    return total * (1 - rate)\n",  # private
}
for rel, body in FILES.items():
    (WORKSPACE / rel).parent.mkdir(parents=True, exist_ok=True)
    (WORKSPACE / rel).write_text(body)

APP = f"{ROOT}/pkg/app.py"
APP_TEXT = ("from .helpers import compute_total\nfrom .private.keys import signing_key\n"
            "from .conf_values import API_TOKEN\nfrom vendorlib import vendored_magic\n\n"
            "def checkout(cart):\n    key = signing_key()\n    total = compute_total(cart)\n"
            '    label = "😀 合計"; n = vendored_magic(total)\n    \n')
CURSOR = (9, 4)
SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "deepseek_ls"], server_env=server_env())


def plain(obj):
    """pygls hands unknown methods' params over as named tuples: as JSON-like dicts and lists."""
    if hasattr(obj, "_asdict"):
        return {k: plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def options(fake, **extra) -> dict:
    return {"deepseek": {"baseUrl": fake.base_url, "exclude": ["**/conf_values.py"],
                         "completion": {"debounceMs": 50, "adaptiveDebounce": False}}, **extra}


@pytest.fixture
def fake():
    from tests.fake_deepseek import FakeDeepSeek
    with FakeDeepSeek() as f:
        f.fim_handler = lambda body: "return total"
        yield f
        for request in f.requests:  # whatever the test did: no secret ever left
            assert SECRET not in request.raw_body.decode("utf-8", "replace")


async def start(client: LanguageClient, fake, **extra) -> None:
    client.definition_requests = []
    client.feature("deepseek/status")(lambda params: None)
    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT,
        workspace_folders=[types.WorkspaceFolder(uri=ROOT, name="ws")],
        initialization_options=options(fake, **extra)))


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, fake):
    await start(lsp_client, fake)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER)
async def editor_client(lsp_client: LanguageClient, fake):
    """A client answering deepseek/definitions (as the plugins do)."""
    lsp_client.definition_requests = []

    @lsp_client.feature("deepseek/definitions")
    def definitions(params):
        params = plain(params)
        lsp_client.definition_requests.append(params)
        text = APP_TEXT.split("\n")
        out = []
        for pos in params["positions"]:
            line, char = pos["line"], pos["character"]
            word = text[line].encode("utf-16-le")[2 * char:].decode("utf-16-le")
            if word.startswith("vendored_magic"):
                out.append([{"uri": f"{ROOT}/vendor/external.py",
                             "range": {"start": {"line": 0, "character": 4}, "end": {"line": 0, "character": 18}}}])
            else:
                out.append(None)
        return out

    lsp_client.feature("deepseek/status")(lambda params: None)
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT,
        workspace_folders=[types.WorkspaceFolder(uri=ROOT, name="ws")],
        initialization_options=options(fake, deepseekDefinitions=True)))
    yield
    await lsp_client.shutdown_session()


async def invoke(client: LanguageClient, line: int, character: int, uri: str = APP):
    return await client.text_document_inline_completion_async(inline_params(line, character, True, uri=uri))


async def test_definition_of_an_imported_name_reaches_the_prompt_with_one_tab(client: LanguageClient, fake):
    open_doc(client, APP_TEXT, uri=APP)
    await invoke(client, *CURSOR)
    prompt = fake.fim_requests()[-1].body["prompt"]
    assert 'def compute_total(items, tax_rate=0.2):\n    """Sum with tax."""' in prompt
    assert "# Other file: pkg/helpers.py" in prompt
    # no file on disk imports helpers.py (app.py is only open): its definition is the file's
    # own context, right after the file's header, not the project block's
    assert prompt.index("# Path: pkg/app.py") < prompt.index("def compute_total(")
    # excluded files (.deepseekignore, deepseek.exclude) are never read for context
    assert "signing_key():" not in prompt.replace("key = signing_key()", "")
    assert SECRET not in prompt
    assert "vendored_magic(n)" not in prompt  # no editor answers: the parser cannot resolve vendorlib


async def test_block_is_byte_identical_across_keystrokes(client: LanguageClient, fake):
    fake.fim_handler = lambda body: "\u00a7"  # never what is typed next: each keystroke asks again
    open_doc(client, APP_TEXT, uri=APP)
    await invoke(client, *CURSOR)
    typed = ""
    for version, ch in enumerate("return tot", start=2):
        change(client, version, CURSOR[0], CURSOR[1] + len(typed), ch, uri=APP)
        typed += ch
        await client.text_document_inline_completion_async(inline_params(CURSOR[0], CURSOR[1] + len(typed), True,
                                                                         uri=APP))
    prompts = [r.body["prompt"] for r in fake.fim_requests()]
    assert len(prompts) >= 3
    heads = {p[: p.rindex("# Path: pkg/app.py\n")] for p in prompts}
    assert len(heads) == 1, "the context block changed while the set of names did not"
    assert "def compute_total(" in heads.pop()


@pytest_lsp.fixture(config=SERVER)
async def off_client(lsp_client: LanguageClient, fake):
    lsp_client.feature("deepseek/status")(lambda params: None)
    opts = options(fake)
    opts["deepseek"]["context"] = {"enabled": False}
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT, initialization_options=opts))
    yield
    await lsp_client.shutdown_session()


async def test_context_can_be_switched_off(off_client: LanguageClient, fake):
    open_doc(off_client, APP_TEXT, uri=APP)
    await invoke(off_client, *CURSOR)
    prompt = fake.fim_requests()[-1].body["prompt"]
    assert "def compute_total(" not in prompt and "# Other file" not in prompt


async def test_editor_definitions_request(editor_client: LanguageClient, fake):
    open_doc(editor_client, APP_TEXT, uri=APP)
    await until(lambda: editor_client.definition_requests, timeout=10)
    params = editor_client.definition_requests[0]
    assert params["textDocument"]["uri"] == APP
    positions = params["positions"]
    assert 0 < len(positions) <= 16
    # UTF-16 columns: the use after "😀 合計" on line 8
    want = APP_TEXT.split("\n")[8]
    char = len(want[: want.index("vendored_magic")].encode("utf-16-le")) // 2
    assert {"line": 8, "character": char} in positions
    await asyncio.sleep(0.3)
    await invoke(editor_client, *CURSOR)
    prompt = fake.fim_requests()[-1].body["prompt"]
    assert "def vendored_magic(n):\n    return n * 42" in prompt  # from the editor's answer
    assert "def compute_total(" in prompt  # the parser's still there


async def test_no_definitions_request_without_the_announcement(client: LanguageClient, fake):
    asked = []
    client.feature("deepseek/definitions")(lambda params: asked.append(params))
    open_doc(client, APP_TEXT, uri=APP)
    await invoke(client, *CURSOR)
    await asyncio.sleep(0.5)
    assert asked == []


def test_definitions_answer_shapes():
    from deepseek_ls.features.context import parse_definitions

    loc = {"uri": f"{ROOT}/vendor/external.py", "range": {"start": {"line": 3, "character": 0},
                                                          "end": {"line": 3, "character": 5}}}
    link = {"targetUri": f"{ROOT}/vendor/external.py", "targetRange": loc["range"],
            "targetSelectionRange": {"start": {"line": 4, "character": 4}, "end": {"line": 4, "character": 9}}}
    path = str(WORKSPACE / "vendor" / "external.py")
    assert parse_definitions(None, 2) is None
    assert parse_definitions({"not": "a list"}, 2) is None
    assert parse_definitions([[loc], [link]], 2) == [[(path, 3)], [(path, 4)]]
    assert parse_definitions([loc], 1) == [[(path, 3)]]  # a bare Location instead of an array
    assert parse_definitions([[loc]], 3) == [[(path, 3)], None, None]  # too short: the rest is null
    assert parse_definitions([None, [], "x", [{"uri": 5}], [{"uri": "untitled:x", "range": loc["range"]}]], 5) \
        == [None, None, None, None, None]
    bad_line = {"uri": loc["uri"], "range": {"start": {"line": True, "character": 0}}}
    negative = {"uri": loc["uri"], "range": {"start": {"line": -1, "character": 0}}}
    assert parse_definitions([[bad_line, negative, loc]], 1) == [[(path, 3)]]


async def test_an_import_typed_in_brings_its_definition(client: LanguageClient, fake):
    fake.fim_handler = lambda body: "\u00a7"
    open_doc(client, "\n\ndef checkout(cart):\n    \n", uri=APP)
    await invoke(client, 3, 4)
    first = fake.fim_requests()[-1].body["prompt"]
    assert "def _apply_discount(" not in first  # private, used by no file: not in the project map
    change(client, 2, 0, 0, "from .discounts import _apply_discount", uri=APP)  # typed (pasted) above
    await asyncio.sleep(1.0)  # the background analysis runs after a quiet moment
    await invoke(client, 3, 4)
    prompt = fake.fim_requests()[-1].body["prompt"]
    assert "def _apply_discount(total, rate=0.1):" in prompt
    # it goes to the file's own block, after the header; the project block is unchanged
    assert prompt.index("# Path: pkg/app.py") < prompt.index("def _apply_discount(")
    assert prompt[:prompt.index("# Path: pkg/app.py")] == first[:first.index("# Path: pkg/app.py")]


async def test_an_other_open_file_edited_elsewhere_keeps_this_files_head(client: LanguageClient, fake):
    fake.fim_handler = lambda body: "\u00a7"  # never what is typed next
    other = f"{ROOT}/pkg/notes.py"
    open_doc(client, "def jot(text):\n    return text.strip()\n", uri=other)
    open_doc(client, APP_TEXT, uri=APP)
    await invoke(client, *CURSOR)
    change(client, 2, 0, 0, "EDITED_ELSEWHERE = 1\n", uri=other)  # the user edits the other tab...
    await asyncio.sleep(0.8)
    change(client, 2, CURSOR[0], CURSOR[1], "r", uri=APP)  # ...and comes back to type here
    await invoke(client, CURSOR[0], CURSOR[1] + 1)
    first, second = (r.body["prompt"] for r in fake.fim_requests()[-2:])
    assert "# Other file: pkg/notes.py\ndef jot(text):" in first
    head = first[: first.rindex("# Path: pkg/app.py\n")]
    assert second.startswith(head)  # byte for byte: the other file as first listed here
    assert "EDITED_ELSEWHERE" not in second
