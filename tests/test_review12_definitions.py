"""Review of issue 12: the deepseek/definitions request, with well- and ill-behaved clients."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.conftest import change, inline_params, open_doc, server_env

WORKSPACE = Path(tempfile.mkdtemp(prefix="deepseek-ls-review12-defs-"))
ROOT = WORKSPACE.as_uri()
(WORKSPACE / "lib.py").write_text("def vendored_magic(n):\n    return n * 42\n")
APP = f"{ROOT}/app.py"
KEYWORDS = {"def", "return", "if", "else", "elif", "for", "in", "not", "and", "or", "self", "None",
            "True", "False", "while", "is", "with", "as", "try", "except", "class", "pass", "import", "from"}
APP_TEXT = (
    "import vendorlib\n\n"
    "class Cart:\n"
    "    def total(self, items, discount=None):\n"
    "        value = vendored_magic(len(items))\n"
    "        for item in items:\n"
    "            if item is not None and item.price > 0:\n"
    "                value += item.price\n"
    "            elif item is None or not item:\n"
    "                continue\n"
    "            else:\n"
    "                pass\n"
    "        while value > 100 and discount is not None:\n"
    "            value -= discount\n"
    "        try:\n"
    "            return value if value else False\n"
    "        except ValueError as exc:\n"
    "            raise\n"
    "        \n")
CURSOR = (18, 8)
SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "deepseek_ls"], server_env=server_env())


def plain(obj):
    if hasattr(obj, "_asdict"):
        return {k: plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def word_at(text: str, pos: dict) -> str:
    line = text.split("\n")[pos["line"]].encode("utf-16-le")[2 * pos["character"]:].decode("utf-16-le")
    import re
    return re.match(r"\w+", line).group(0)


async def start(client: LanguageClient, fake, answer) -> None:
    fake.fim_handler = lambda body: "\u00a7"
    client.definition_requests = []

    @client.feature("deepseek/definitions")
    async def definitions(params):
        params = plain(params)
        client.definition_requests.append(params)
        return await answer(params)

    client.feature("deepseek/status")(lambda params: None)
    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT,
        workspace_folders=[types.WorkspaceFolder(uri=ROOT, name="ws")],
        initialization_options={"deepseek": {"baseUrl": fake.base_url,
                                             "completion": {"debounceMs": 50, "adaptiveDebounce": False}},
                                "deepseekDefinitions": True}))


async def honest(params):
    out = []
    for pos in params["positions"]:
        out.append([{"uri": f"{ROOT}/lib.py", "range": {"start": {"line": 0, "character": 4},
                                                        "end": {"line": 0, "character": 18}}}]
                   if word_at(APP_TEXT, pos) == "vendored_magic" else None)
    return out


@pytest_lsp.fixture(config=SERVER)
async def raw(lsp_client: LanguageClient):
    yield lsp_client


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, fake):
    await start(lsp_client, fake, honest)
    yield
    await lsp_client.shutdown_session()


async def wait_requests(client, count=1, timeout=10.0):
    for _ in range(int(timeout / 0.1)):
        if len(client.definition_requests) >= count:
            return
        await asyncio.sleep(0.1)


async def test_keywords_do_not_take_the_16_positions(client: LanguageClient, fake):
    """The 16 positions should go to names the parser could not resolve, not to Python keywords
    (`def`, `return`, `if`, `self`, `None` ...): today the keywords fill the slots and the unresolved
    `vendored_magic` above them is never asked, so its definition never reaches the prompt."""
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=APP, language_id="python", version=1, text=APP_TEXT)))
    await client.text_document_inline_completion_async(inline_params(*CURSOR, True, uri=APP))
    await wait_requests(client)
    assert client.definition_requests, "sanity: the request was sent"
    asked = [word_at(APP_TEXT, p) for r in client.definition_requests for p in r["positions"]]
    assert "vendored_magic" in asked, f"the unresolved name was not asked; asked {asked}"
    assert not KEYWORDS & set(asked), f"keywords asked: {sorted(KEYWORDS & set(asked))}"


async def _never(params):
    await asyncio.sleep(4)  # past the 1.5 s deadline (not longer: pygls' client cannot cancel it at teardown)


async def _garbage(params):
    return {"positions": "what?", "line": -1}


async def _garbage_entries(params):
    return ["x", 5, [{"uri": 5}], [{"uri": f"{ROOT}/lib.py", "range": {"start": {"line": "0"}}}], {"uri": None}]


async def _huge(params):
    loc = {"uri": f"{ROOT}/lib.py", "range": {"start": {"line": 0, "character": 4},
                                               "end": {"line": 0, "character": 18}}}
    return [[loc] * 20000 for _ in params["positions"]]


@pytest.mark.parametrize("answer", [_never, _garbage, _garbage_entries, _huge],
                         ids=["never", "garbage", "garbage-entries", "huge"])
async def test_ill_behaved_client_costs_nothing_visible(raw: LanguageClient, fake, answer):
    """Whatever the client answers, completions go on, the server stays up, and the user
    gets no message about it."""
    client = raw
    await start(client, fake, answer)
    try:
        open_doc(client, APP_TEXT, uri=APP)
        await wait_requests(client)
        await asyncio.sleep(4.5)  # past the 1.5 s deadline and the slow answer
        for n in range(3):
            before = len(fake.fim_requests())
            await client.text_document_inline_completion_async(inline_params(CURSOR[0], CURSOR[1] - n, True, uri=APP))
            assert len(fake.fim_requests()) == before + 1
        assert not client.messages, [m.message for m in client.messages]
        assert client.definition_requests
    finally:
        await client.shutdown_session()


EMOJI_TEXT = 'import vendorlib\n\ndef f(total):\n    label = "😀 合計"; n = vendored_magic(total)\n    \n'


@pytest.mark.parametrize("encoding", ["utf-8", "utf-32", "utf-16"])
async def test_positions_in_the_negotiated_encoding(raw: LanguageClient, fake, encoding):
    client = raw
    fake.fim_handler = lambda body: "\u00a7"
    client.definition_requests = []

    @client.feature("deepseek/definitions")
    def definitions(params):
        params = plain(params)
        client.definition_requests.append(params)
        return [None] * len(params["positions"])

    client.feature("deepseek/status")(lambda params: None)
    caps = client_capabilities("visual-studio-code")
    caps.general = types.GeneralClientCapabilities(position_encodings=[types.PositionEncodingKind(encoding)])
    result = await client.initialize_session(types.InitializeParams(
        capabilities=caps, root_uri=ROOT, workspace_folders=[types.WorkspaceFolder(uri=ROOT, name="ws")],
        initialization_options={"deepseek": {"baseUrl": fake.base_url}, "deepseekDefinitions": True}))
    try:
        assert result.capabilities.position_encoding == encoding
        open_doc(client, EMOJI_TEXT, uri=APP)
        await wait_requests(client)
        line = EMOJI_TEXT.split("\n")[3]
        head = line[: line.index("vendored_magic")]
        unit = {"utf-8": len(head.encode("utf-8")), "utf-16": len(head.encode("utf-16-le")) // 2,
                "utf-32": len(head)}[encoding]
        positions = [p for r in client.definition_requests for p in r["positions"]]
        assert {"line": 3, "character": unit} in positions, positions
    finally:
        await client.shutdown_session()


async def test_a_silent_client_is_logged_once(raw: LanguageClient, fake, capsys):
    """docs/PROTOCOL.md: a late answer "is ignored, and logged once at info level". A client
    that never answers within the deadline, while the user types new names: one log line,
    not one per typing pause."""
    client = raw

    async def late(params):
        await asyncio.sleep(1.8)  # past the 1.5 s deadline
        return None

    await start(client, fake, late)
    try:
        uri = f"{ROOT}/typing.py"
        open_doc(client, "import vendorlib\n\n", uri=uri)
        await asyncio.sleep(2.5)
        for version, word in enumerate(["alpha_one(1)\n", "beta_two(2)\n", "gamma_three(3)\n"], start=2):
            change(client, version, version, 0, word, uri=uri)
            await asyncio.sleep(2.6)
        assert len(client.definition_requests) >= 3, "sanity: asked again for new names"
        await asyncio.sleep(0.5)
        err = capsys.readouterr().err
        assert err.count("deepseek/definitions: no answer") <= 1, err.count("deepseek/definitions: no answer")
    finally:
        await client.shutdown_session()
