"""Failover end to end: deepseek-ls as a subprocess, two fakes (DeepSeek failing, a fallback
answering), ghost text and chat through LSP, the status, the ledger, recovery."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from deepseek_ls.ledger import Ledger
from tests.conftest import KEY, ROOT, change, inline_params, open_doc, server_env, until
from tests.fake_deepseek import FakeDeepSeek

FALLBACK_KEY = "sk-fallback-lsp-0123456789"
DATA = Path(tempfile.mkdtemp(prefix="deepseek-ls-test-failover-"))
SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "deepseek_ls"],
    server_env={**server_env(), "BACKUP_KEY": FALLBACK_KEY, "DEEPSEEK_LS_DATA_DIR": str(DATA),
                "XDG_CACHE_HOME": str(DATA / "cache")})
SOURCE = "def add(a, b):\n    \n"


@pytest.fixture
def fallback():
    with FakeDeepSeek() as f:
        f.add_key(FALLBACK_KEY)
        f.openai_compatible = True  # a generic OpenAI-compatible server (an Ollama stand-in)
        f.fim_handler = lambda body: "return a + 2"
        f.chat_handler = lambda body: "answered by the fallback"
        yield f


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, fake: FakeDeepSeek, fallback: FakeDeepSeek):
    lsp_client.statuses = []
    lsp_client.feature("deepseek/status")(lambda params: lsp_client.statuses.append(params))
    lsp_client.feature("deepseek/chatStream")(lambda params: None)
    options = {"deepseek": {
        "baseUrl": fake.base_url,
        "completion": {"debounceMs": 50, "adaptiveDebounce": False},
        "chat": {"transcripts": False},
        "fallbacks": [{"name": "local", "baseUrl": fallback.base_url + "/v1", "kind": "openai",
                       "apiKeyEnv": "BACKUP_KEY", "fimModel": "deepseek-flash",
                       "chatModel": "deepseek-flash"}],
    }}
    lsp_client.init_result = await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT,
        initialization_options=options))
    yield
    if not lsp_client.stopped:  # the first test stops it itself, to read the ledger after
        await lsp_client.shutdown_session()


def endpoint_of(status) -> dict | None:
    ep = getattr(status, "endpoint", None)
    if ep is None:
        return None
    return {"name": ep.name, "primary": ep.primary} if not isinstance(ep, dict) else ep


async def test_failover_and_recovery_through_the_lsp(client: LanguageClient, fake, fallback):
    rows_before = len(Ledger(DATA / "ledger.sqlite3").rows())
    fake.inject(path="/beta/completions", status=503, times=3)
    open_doc(client, SOURCE)
    version = 1
    for ch in "abc":  # three failures open DeepSeek's breaker
        version += 1
        change(client, version, 1, 3 + version, ch)
        result = await client.text_document_inline_completion_async(inline_params(1, 4 + version - 1, manual=True))
        assert result.items == ()
    await until(lambda: any("fallback endpoint 'local'" in m.message for m in client.messages))

    # automatic ghost text now comes from the fallback
    version += 1
    change(client, version, 1, 7, "d")
    result = await client.text_document_inline_completion_async(inline_params(1, 8))
    assert result.items[0].insert_text == "return a + 2"
    sent = fallback.fim_requests()[-1]
    assert sent.path == "/v1/completions" and "suffix" in sent.body
    await until(lambda: endpoint_of(client.statuses[-1]) == {"name": "local", "primary": False})
    assert client.statuses[-1].state == "idle"

    # chat goes to the fallback too while DeepSeek's breaker is open
    answer = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="deepseek.chat", arguments=[{"message": "Hello?"}]))
    assert answer["content"] == "answered by the fallback" and answer["endpoint"] == "local"
    assert fake.chat_requests() == [] and len(fallback.chat_requests()) == 1

    # after the cooldown the next request probes DeepSeek, which answers: taken back
    await asyncio.sleep(2.2)
    version += 1
    change(client, version, 1, 8, "e")
    result = await client.text_document_inline_completion_async(inline_params(1, 9))
    assert result.items[0].insert_text == "return a + b"
    await until(lambda: endpoint_of(client.statuses[-1]) == {"name": "deepseek", "primary": True})
    assert len(fallback.fim_requests()) == 1

    # no key went anywhere but its own endpoint, nor into any message
    assert {r.headers["authorization"] for r in fake.requests} == {f"Bearer {KEY}"}
    assert {r.headers["authorization"] for r in fallback.requests} == {f"Bearer {FALLBACK_KEY}"}
    said = " ".join(m.message for m in client.messages + client.log_messages)
    assert FALLBACK_KEY not in said and KEY not in said

    # the ledger (written by the server) has rows per endpoint
    await client.shutdown_session()
    rows = Ledger(DATA / "ledger.sqlite3").rows()[rows_before:]
    assert sorted((r.endpoint, r.kind) for r in rows) == [
        ("deepseek", "fim"), ("local", "chat"), ("local", "fim")]
    assert all(r.prices == "unknown" and r.cost == 0 for r in rows if r.endpoint == "local")


async def test_a_bad_fallback_setting_is_one_message_and_deepseek_goes_on(client: LanguageClient, fake):
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"deepseek": {
        "baseUrl": fake.base_url,
        "fallbacks": [{"name": "far", "baseUrl": "http://example.com/v1", "fimModel": "m"}]}}))
    await until(lambda: any("fallbacks[0]" in m.message for m in client.messages))
    assert any("plain http://" in m.message for m in client.messages)
    open_doc(client, SOURCE)
    result = await client.text_document_inline_completion_async(inline_params(1, 4, manual=True))
    assert result.items[0].insert_text == "return a + b"
