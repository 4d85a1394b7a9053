"""End to end: secret files are never sent and secrets in other files are masked, on every path.

deepseek-ls runs as a subprocess with a real workspace folder on disk (for
``.deepseekignore``); the fake DeepSeek records every request, and each test
checks that no secret byte reached it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.conftest import change, inline_params, open_doc, server_env, until
from tests.fake_deepseek import ChatReply
from tests.test_code_actions import apply

WORKSPACE = Path(tempfile.mkdtemp(prefix="deepseek-ls-test-ws-"))
(WORKSPACE / ".deepseekignore").write_text("# this project's own\nprivate/\n")
ROOT = WORKSPACE.as_uri()
CACHE = Path(tempfile.mkdtemp(prefix="deepseek-ls-test-cache-"))
SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "deepseek_ls"],
                            server_env={**server_env(), "XDG_CACHE_HOME": str(CACHE)})

MAIN = f"{ROOT}/pkg/main.py"
UTIL = f"{ROOT}/pkg/util.py"
MAIN_TEXT = "import util\n\ndef add(a, b):\n    \n"
UTIL_TEXT = "def helper_visible_in_context(x):\n    return x\n"

# Secret bytes that must never reach the fake, and the files that hold them.
ENV_SECRET = "Zq8Wx7Ec6Rv5Tb4Yn3Um2Ik1Ol0P"
KEY_SECRET = "MIIEpAIBAAKCAQEA0Z3VS5JJcds3xfnygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB"
PRIVATE_SECRET = "internal-plan-do-not-share-42"
AWS = "AKIAIOSFODNN7EXAMPLE"
GH = "ghp_" + "a1B2c3D4e5" * 3 + "F6g7H8"
SECRET_FILES = {
    f"{ROOT}/.env": f"API_TOKEN={ENV_SECRET}\nDEBUG=1\n",
    f"{ROOT}/config/.env.local": f"password = '{ENV_SECRET}'\n",
    f"{ROOT}/certs/server.pem": f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_SECRET}\n-----END RSA PRIVATE KEY-----\n",
    f"{ROOT}/deploy/id_rsa": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_SECRET}\n-----END OPENSSH PRIVATE KEY-----\n",
    f"{ROOT}/secrets.yaml": f"db:\n  pass: {ENV_SECRET}\n",
    f"{ROOT}/private/plan.py": f"PLAN = '{PRIVATE_SECRET}'\n",  # excluded by .deepseekignore
}
NEVER = [ENV_SECRET, KEY_SECRET, PRIVATE_SECRET, AWS, GH]


def assert_never_sent(fake) -> None:
    """No secret byte in any request the fake received (raw body and decoded JSON)."""
    for request in fake.requests:
        raw = request.raw_body.decode("utf-8", "replace")
        decoded = json.dumps(request.body, ensure_ascii=False)
        for secret in NEVER:
            assert secret not in raw and secret not in decoded, (request.path, secret)


def open_as(client: LanguageClient, uri: str, text: str, language: str = "python") -> None:
    open_doc(client, text, uri=uri, language=language)


@pytest.fixture
def fake():
    from tests.fake_deepseek import FakeDeepSeek
    with FakeDeepSeek() as f:
        f.fim_handler = lambda body: "return a + b"
        yield f
        assert_never_sent(f)  # every test, whatever it did


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, fake):
    lsp_client.statuses = []
    lsp_client.feature("deepseek/status")(lambda params: lsp_client.statuses.append(params))
    lsp_client.feature("deepseek/chatStream")(lambda params: None)
    lsp_client.init_result = await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT,
        workspace_folders=[types.WorkspaceFolder(uri=ROOT, name="ws")],
        initialization_options={"deepseek": {
            "baseUrl": fake.base_url, "exclude": ["*.sql"], "chat": {"transcripts": False},
            "completion": {"debounceMs": 50, "adaptiveDebounce": False}}}))
    yield
    await lsp_client.shutdown_session()


def status_of(params) -> tuple[str, str | None]:
    get = params.get if isinstance(params, dict) else lambda k: getattr(params, k, None)
    return get("state"), get("message")


def command(client: LanguageClient, name: str, arg: dict):
    return client.workspace_execute_command_async(types.ExecuteCommandParams(command=name, arguments=[arg]))


def rng(l1, c1, l2, c2) -> dict:
    return {"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}}


# -- ghost text, automatic and invoked ------------------------------------------
@pytest.mark.parametrize("uri", sorted(SECRET_FILES))
async def test_secret_file_gets_no_ghost_text(client: LanguageClient, fake, uri):
    text = SECRET_FILES[uri]
    open_as(client, uri, text)
    line = text.count("\n")
    for manual in (False, True):
        result = await client.text_document_inline_completion_async(inline_params(line, 0, manual, uri=uri))
        assert result.items == ()
    assert fake.fim_requests() == []


async def test_user_setting_excludes_too(client: LanguageClient, fake):
    uri = f"{ROOT}/db/dump.sql"
    open_as(client, uri, "select 1;\n", language="sql")
    result = await client.text_document_inline_completion_async(inline_params(1, 0, True, uri=uri))
    assert result.items == () and fake.fim_requests() == []


async def test_told_once_quietly_in_the_status(client: LanguageClient, fake):
    uri = f"{ROOT}/.env"
    await until(lambda: client.statuses)  # start-up statuses first
    await asyncio.sleep(0.3)
    before = len(client.statuses)
    open_as(client, uri, SECRET_FILES[uri])
    for i in range(4):  # keystrokes: one status, one log line, no popup
        change(client, 2 + i, 2, i, "x", uri=uri)
        await client.text_document_inline_completion_async(inline_params(2, i + 1, uri=uri))
    await until(lambda: any(status_of(s)[0] == "excluded" for s in client.statuses))
    await asyncio.sleep(0.2)
    excluded = client.statuses[before:]
    assert [status_of(s)[0] for s in excluded] == ["excluded"]
    message = status_of(excluded[0])[1]
    assert ".env" in message and "never" in message
    excluded_uri = excluded[0]["excludedUri"] if isinstance(excluded[0], dict) else excluded[0].excludedUri
    assert excluded_uri == uri
    assert sum(".env is excluded" in m.message for m in client.log_messages) == 1
    assert not [m for m in client.messages if "excluded" in m.message]
    # back in an ordinary file: the state says so and ghost text works
    open_as(client, MAIN, MAIN_TEXT)
    result = await client.text_document_inline_completion_async(inline_params(3, 4, True, uri=MAIN))
    assert result.items[0].insert_text == "return a + b"
    await until(lambda: status_of(client.statuses[-1])[0] != "excluded")


def field(params, name: str):
    return params.get(name) if isinstance(params, dict) else getattr(params, name, None)


def close_as(client: LanguageClient, uri: str) -> None:
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))


async def test_closing_the_excluded_file_ends_the_excluded_state(client: LanguageClient, fake):
    secret, other = f"{ROOT}/.env", f"{ROOT}/certs/server.pem"
    await until(lambda: client.statuses)
    open_as(client, secret, SECRET_FILES[secret])
    open_as(client, other, SECRET_FILES[other])
    await client.text_document_inline_completion_async(inline_params(1, 0, uri=secret))
    await until(lambda: status_of(client.statuses[-1])[0] == "excluded")
    # closing another file (even an excluded one not asked about last) changes nothing
    close_as(client, other)
    open_as(client, MAIN, MAIN_TEXT)
    close_as(client, MAIN)
    await asyncio.sleep(0.3)
    assert status_of(client.statuses[-1])[0] == "excluded"
    assert field(client.statuses[-1], "excludedUri") == secret
    # closing the excluded file: back to the engine's state, no message about it
    count = len(client.statuses)
    close_as(client, secret)
    await until(lambda: len(client.statuses) > count)
    state, message = status_of(client.statuses[-1])
    assert state != "excluded" and ".env" not in (message or "")
    assert field(client.statuses[-1], "excludedUri") is None
    # reopened and asked about again: excluded again
    open_as(client, secret, SECRET_FILES[secret])
    result = await client.text_document_inline_completion_async(inline_params(1, 0, uri=secret))
    assert result.items == ()
    await until(lambda: status_of(client.statuses[-1])[0] == "excluded")
    assert fake.fim_requests() == []


# -- other files as context ---------------------------------------------------------
ORDERS = ["secrets-first", "secrets-last", "secret-changed", "secret-reopened"]


@pytest.mark.parametrize("order", ORDERS)
async def test_secret_files_are_never_context(client: LanguageClient, fake, order):
    def open_secrets():
        for uri, text in SECRET_FILES.items():
            open_as(client, uri, text)  # all "python": the same language as the file completed

    if order != "secrets-last":
        open_secrets()
    open_as(client, UTIL, UTIL_TEXT)
    open_as(client, MAIN, MAIN_TEXT)
    if order == "secrets-last":
        open_secrets()
    if order == "secret-changed":
        change(client, 2, 0, 0, f"MORE={ENV_SECRET}\n", uri=f"{ROOT}/.env")
    if order == "secret-reopened":
        uri = f"{ROOT}/.env"
        client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        open_as(client, uri, SECRET_FILES[uri])
    result = await client.text_document_inline_completion_async(inline_params(3, 4, True, uri=MAIN))
    assert result.items[0].insert_text == "return a + b"
    [request] = fake.fim_requests()
    prompt = request.body["prompt"]
    assert "helper_visible_in_context" in prompt  # other files are still used
    for uri in SECRET_FILES:
        name = uri.rsplit("/", 1)[-1]
        assert f"Other file: {name}" not in prompt and f"/{name}\n" not in prompt


# -- completion items ---------------------------------------------------------------
async def test_completion_items(client: LanguageClient, fake):
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"deepseek": {"completion": {"items": "always"}}}))
    await asyncio.sleep(0.2)
    uri = f"{ROOT}/.env"
    open_as(client, uri, SECRET_FILES[uri])
    params = types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=2, character=0),
        context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked))
    assert list((await client.text_document_completion_async(params)).items) == []
    assert fake.fim_requests() == []
    open_as(client, MAIN, MAIN_TEXT)
    params.text_document = types.TextDocumentIdentifier(uri=MAIN)
    params.position = types.Position(line=3, character=4)
    [item] = (await client.text_document_completion_async(params)).items
    assert item.text_edit.new_text == "return a + b"


# -- code actions ---------------------------------------------------------------------
def action_params(uri: str, line: int, character: int, end=None) -> types.CodeActionParams:
    start = types.Position(line=line, character=character)
    stop = types.Position(line=end[0], character=end[1]) if end else start
    return types.CodeActionParams(text_document=types.TextDocumentIdentifier(uri=uri),
                                  range=types.Range(start=start, end=stop),
                                  context=types.CodeActionContext(diagnostics=[]))


async def test_code_actions_are_not_offered_nor_resolved_for_secret_files(client: LanguageClient, fake):
    uri = f"{ROOT}/.env"
    open_as(client, uri, SECRET_FILES[uri])
    open_as(client, MAIN, MAIN_TEXT)
    assert list(await client.text_document_code_action_async(action_params(uri, 1, 0))) == []
    assert list(await client.text_document_code_action_async(action_params(uri, 0, 0, end=(1, 0)))) == []
    offered = await client.text_document_code_action_async(action_params(MAIN, 3, 4))
    assert offered  # an ordinary file still gets them
    # an action listed elsewhere, pointed at the secret file (or listed before an exclusion): refused
    forged = types.CodeAction(title="DeepSeek: complete the code at the cursor",
                              data={"uri": uri, "version": 1, "action": "complete", "range": rng(1, 0, 1, 0)})
    with pytest.raises(JsonRpcException) as info:
        await client.code_action_resolve_async(forged)
    assert "excluded" in str(info.value)
    with pytest.raises(JsonRpcException) as info:
        await command(client, "deepseek.rewriteSelection",
                      {"uri": uri, "range": rng(0, 0, 1, 0), "instruction": "tidy"})
    assert "excluded" in str(info.value)
    # the command form offered to clients without resolve support is refused the same way
    with pytest.raises(JsonRpcException) as info:
        await command(client, "deepseek.runCodeAction", forged.data)
    assert "excluded" in str(info.value)
    assert fake.chat_requests() == []


# -- chat and explain -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["deepseek.chat", "deepseek.explainSelection"])
async def test_chat_and_explain_about_a_secret_file_are_refused(client: LanguageClient, fake, name):
    uri = f"{ROOT}/certs/server.pem"
    open_as(client, uri, SECRET_FILES[uri])
    arg = {"uri": uri, "range": rng(0, 0, 2, 0)}
    if name == "deepseek.chat":
        arg["message"] = "what is this?"
    with pytest.raises(JsonRpcException) as info:
        await command(client, name, arg)
    text = str(info.value)
    assert "server.pem" in text and "excluded" in text and "deepseek.exclude" in text
    assert fake.chat_requests() == []
    # a chat without that file still works
    result = await command(client, "deepseek.chat", {"message": "hello"})
    assert result["content"]


# -- masking in ordinary files ----------------------------------------------------------
LEAKY = (f"AWS_ID = '{AWS}'\n"
         f"GITHUB = '{GH}'\n"
         f"KEY = '''-----BEGIN RSA PRIVATE KEY-----\n{KEY_SECRET}\n-----END RSA PRIVATE KEY-----'''\n"
         "\ndef add(a, b):\n    \n")


async def test_secrets_in_ordinary_files_are_masked_in_ghost_text_prompts(client: LanguageClient, fake):
    open_as(client, UTIL, f"TOKEN = '{GH}'\n")  # as context, too
    open_as(client, MAIN, LEAKY)
    result = await client.text_document_inline_completion_async(inline_params(7, 4, True, uri=MAIN))
    assert result.items[0].insert_text == "return a + b"
    prompt = fake.fim_requests()[0].body["prompt"]
    assert "<REDACTED:aws-access-key:" in prompt and "<REDACTED:github-token:" in prompt
    assert "<REDACTED:private-key:" in prompt
    # the next keystroke sends the same placeholders: the prompt start stays cacheable
    change(client, 2, 7, 4, "r", uri=MAIN)
    fake.fim_handler = lambda body: "eturn a + b"
    await client.text_document_inline_completion_async(inline_params(7, 5, True, uri=MAIN))
    second = fake.fim_requests()[-1].body["prompt"]
    assert second.startswith(prompt)


async def test_ghost_text_never_suggests_a_placeholder(client: LanguageClient, fake):
    open_as(client, MAIN, LEAKY)
    fake.fim_handler = lambda body: "return '" + body["prompt"].split("AWS_ID = '")[1].split("'")[0] + "'"
    result = await client.text_document_inline_completion_async(inline_params(7, 4, True, uri=MAIN))
    assert fake.fim_requests() and result.items == ()


async def test_chat_and_explain_mask_secrets(client: LanguageClient, fake):
    open_as(client, MAIN, LEAKY)
    await command(client, "deepseek.explainSelection", {"uri": MAIN, "range": rng(0, 0, 5, 0)})
    await command(client, "deepseek.chat", {"uri": MAIN, "message": f"is {GH} valid?"})
    bodies = [json.dumps(r.body) for r in fake.chat_requests()]
    assert len(bodies) == 2 and all("<REDACTED:" in b for b in bodies)


async def test_code_action_edit_keeps_the_real_secret(client: LanguageClient, fake):
    """The model rewrites a region holding a secret: it sees a placeholder, the edit puts the secret back."""
    open_as(client, MAIN, LEAKY)

    def rewrite(body):
        user = body["messages"][1]["content"]
        mark = user.split("AWS_ID = '")[1].split("'")[0]
        assert mark.startswith("<REDACTED:")
        return ChatReply(content=f"AWS_ID = '{mark}'  # tidy\n```")

    fake.chat_handler = rewrite
    actions = await client.text_document_code_action_async(action_params(MAIN, 0, 0, end=(1, 0)))
    [improve] = [a for a in actions if a.title.startswith("DeepSeek: improve")]
    resolved = await client.code_action_resolve_async(improve)
    after = apply(LEAKY, resolved.edit, "utf-16")
    assert "<REDACTED" not in after
    assert after.startswith(f"AWS_ID = '{AWS}'  # tidy\nGITHUB = '{GH}'\n")
    assert len(fake.chat_requests()) == 1


# -- the command line -----------------------------------------------------------------------
def test_cli_complete_refuses_a_secret_file_and_masks_others(tmp_path, fake):
    import subprocess

    from tests.lsp_raw import env_without_deepseek

    env = env_without_deepseek(DEEPSEEK_API_KEY="sk-test", DEEPSEEK_BASE_URL=fake.base_url)
    secret = tmp_path / ".env.production"
    secret.write_text(f"API_TOKEN={ENV_SECRET}\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "deepseek_ls", "complete", f"{secret}:1:1"],
                         capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode != 0 and "excluded" in out.stderr and ENV_SECRET not in out.stderr
    assert fake.requests == []
    source = tmp_path / "calc.py"
    source.write_text(f"TOKEN = '{GH}'\n\ndef add(a, b):\n    \n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "deepseek_ls", "complete", f"{source}:4:5"],
                         capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "<REDACTED:github-token:" in fake.fim_requests()[0].body["prompt"]
