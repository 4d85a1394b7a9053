"""Shared fixtures: the fake DeepSeek and pytest-lsp clients running deepseek-ls.

The server runs as a real subprocess (``python -m deepseek_ls``) and talks
only to the fake on 127.0.0.1. The endpoint reaches it through
``initializationOptions`` (as an editor would send it), the key through the
environment (as a user would set it).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.fake_deepseek import FakeDeepSeek

#: The usage ledger of every server and Service under test lives here, never in ~.
DATA_DIR = tempfile.mkdtemp(prefix="deepseek-ls-test-data-")
os.environ["DEEPSEEK_LS_DATA_DIR"] = DATA_DIR

KEY = "sk-test"
ROOT = "file:///work/project"
URI = f"{ROOT}/pkg/example.py"


def server_env(key: str | None = KEY) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPSEEK_")}
    if key:
        env["DEEPSEEK_API_KEY"] = key
    env["DEEPSEEK_LS_LOG"] = "info"
    env["DEEPSEEK_LS_DATA_DIR"] = DATA_DIR
    return env


SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "deepseek_ls"], server_env=server_env())
SERVER_NO_KEY = ClientServerConfig(server_command=[sys.executable, "-m", "deepseek_ls"],
                                   server_env=server_env(None))


@pytest.fixture
def fake():
    with FakeDeepSeek() as f:
        f.fim_handler = lambda body: "return a + b"
        yield f


def init_options(fake: FakeDeepSeek, **completion) -> dict:
    return {"deepseek": {"baseUrl": fake.base_url,
                         "completion": {"debounceMs": 150, "adaptiveDebounce": False, **completion}}}


def vscode_params(fake: FakeDeepSeek, **completion) -> types.InitializeParams:
    return types.InitializeParams(capabilities=client_capabilities("visual-studio-code"),
                                  root_uri=ROOT, initialization_options=init_options(fake, **completion))


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, fake: FakeDeepSeek):
    lsp_client.statuses = []
    lsp_client.feature("deepseek/status")(lambda params: lsp_client.statuses.append(params))
    lsp_client.init_result = await lsp_client.initialize_session(vscode_params(fake))
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER)
async def utf8_client(lsp_client: LanguageClient, fake: FakeDeepSeek):
    caps = client_capabilities("neovim@v0.11.0")  # offers utf-8 first
    lsp_client.init_result = await lsp_client.initialize_session(
        types.InitializeParams(capabilities=caps, root_uri=ROOT, initialization_options=init_options(fake)))
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER_NO_KEY)
async def keyless_client(lsp_client: LanguageClient, fake: FakeDeepSeek):
    lsp_client.init_result = await lsp_client.initialize_session(vscode_params(fake))
    yield
    await lsp_client.shutdown_session()


# -- helpers used by the end-to-end tests --------------------------------
def open_doc(client: LanguageClient, text: str, uri: str = URI, language: str = "python") -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)))


def change(client: LanguageClient, version: int, line: int, character: int, text: str,
           end: tuple[int, int] | None = None, uri: str = URI) -> None:
    start = types.Position(line=line, character=character)
    stop = types.Position(line=end[0], character=end[1]) if end else start
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(range=types.Range(start=start, end=stop),
                                                                text=text)]))


def inline_params(line: int, character: int, manual: bool = False, uri: str = URI) -> types.InlineCompletionParams:
    kind = types.InlineCompletionTriggerKind.Invoked if manual else types.InlineCompletionTriggerKind.Automatic
    return types.InlineCompletionParams(
        context=types.InlineCompletionContext(trigger_kind=kind),
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character))


async def until(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (DEEPSEEK_LS_REQUIRE_EDITORS=1) a skipped real-editor test is a failure:
    a missing install step must not pass as green."""
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and os.environ.get("DEEPSEEK_LS_REQUIRE_EDITORS") == "1"
            and "tests/editors/" in str(item.fspath).replace(os.sep, "/")):
        report.outcome = "failed"
        report.longrepr = f"required editor test was skipped: {report.longrepr}"
