"""Settings through LSP: didChangeConfiguration, workspace/configuration, bad values, model check."""

import asyncio

from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import inline_params, open_doc, until


def change_settings(client: LanguageClient, settings: dict) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=settings))


async def test_did_change_configuration_applies(client: LanguageClient, fake):
    change_settings(client, {"deepseek": {"completion": {"model": "deepseek-v4-pro"}}})
    open_doc(client, "def f():\n    \n")
    await asyncio.sleep(0.2)
    await client.text_document_inline_completion_async(inline_params(1, 4, manual=True))
    assert fake.fim_requests()[-1].body["model"] == "deepseek-v4-pro"


async def test_workspace_configuration_is_pulled_and_wins(client: LanguageClient, fake):
    client.set_configuration({"completion": {"model": "deepseek-v4-pro"}}, section="deepseek")
    change_settings(client, {})  # clients that expect a pull send empty settings
    open_doc(client, "def f():\n    \n")
    await until(lambda: any(r.path == "/models" for r in fake.requests))
    await asyncio.sleep(0.3)
    await client.text_document_inline_completion_async(inline_params(1, 4, manual=True))
    assert fake.fim_requests()[-1].body["model"] == "deepseek-v4-pro"


async def test_bad_values_give_one_message_and_defaults(client: LanguageClient, fake):
    # Changed expectation (issue 10, item 8): a refused endpoint no longer falls back to the
    # layer below, which sent the key to an endpoint the user had just replaced; it blocks.
    change_settings(client, {"deepseek": {"completion": {"debounceMs": "fast"},
                                          "baseUrl": "http://example.com"}})
    await until(lambda: any("DeepSeek settings" in m.message for m in client.messages))
    [message] = [m.message for m in client.messages if "DeepSeek settings" in m.message]
    assert "deepseek.completion.debounceMs" in message and "plain http://" in message
    assert "Nothing is sent until it is fixed" in message
    open_doc(client, "def f():\n    \n")
    result = await client.text_document_inline_completion_async(inline_params(1, 4, manual=True))
    assert result.items == () and fake.fim_requests() == []  # answered at once, nothing sent
    # the bad values removed: the earlier layers (the fake's URL) apply again
    change_settings(client, {"deepseek": {}})
    await asyncio.sleep(0.2)
    result = await client.text_document_inline_completion_async(inline_params(1, 4, manual=True))
    assert result.items
    assert len([m for m in client.messages if "DeepSeek settings" in m.message]) == 1


async def test_unknown_model_named_once_with_available_names(client: LanguageClient, fake):
    change_settings(client, {"deepseek": {"completion": {"model": "deepseek-coder"}}})
    await until(lambda: any("does not serve" in m.message for m in client.messages))
    [message] = [m.message for m in client.messages if "does not serve" in m.message]
    assert "deepseek-coder" in message and "deepseek-flash" in message


async def test_toggle_auto_completion(client: LanguageClient, fake):
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="deepseek.toggleAutoCompletion", arguments=[{"enabled": False}]))
    assert result.enabled is False if hasattr(result, "enabled") else result["enabled"] is False
    open_doc(client, "def f():\n    \n")
    assert (await client.text_document_inline_completion_async(inline_params(1, 4))).items == ()
    assert fake.fim_requests() == []
    # a manual request still works
    assert (await client.text_document_inline_completion_async(inline_params(1, 4, manual=True))).items
    await until(lambda: any(s.state == "disabled" for s in client.statuses))


async def test_an_explicit_setting_beats_an_earlier_toggle(client: LanguageClient, fake):
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="deepseek.toggleAutoCompletion", arguments=[{"enabled": False}]))
    change_settings(client, {"deepseek": {"completion": {"enabled": True}}})
    await asyncio.sleep(0.2)
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="deepseek.usage", arguments=[{}]))
    assert result is not None
    await until(lambda: client.statuses and client.statuses[-1].autoCompletion is True)


# -- issue 10: removal, problems once, keys and endpoints that cannot work, live log level --
import sys  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402
import pytest_lsp  # noqa: E402
from pygls.exceptions import JsonRpcException  # noqa: E402
from pytest_lsp import ClientServerConfig, client_capabilities  # noqa: E402

from tests.conftest import ROOT, SERVER, server_env  # noqa: E402
from tests.lsp_raw import RawServer, env_without_deepseek  # noqa: E402


def _init(fake, **deepseek) -> types.InitializeParams:
    options = {"deepseek": {"baseUrl": fake.base_url, "completion": {"debounceMs": 0}, **deepseek}}
    return types.InitializeParams(capabilities=client_capabilities("neovim@v0.11.0"), root_uri=ROOT,
                                  initialization_options=options)


@pytest_lsp.fixture(config=SERVER)
async def bad_init_client(lsp_client: LanguageClient, fake):
    lsp_client.init_result = await lsp_client.initialize_session(_init(fake, chat={"maxTokens": "lots"}))
    yield
    await lsp_client.shutdown_session()


def settings_messages(client: LanguageClient) -> list[str]:
    return [m.message for m in client.messages if m.message.startswith("DeepSeek settings")]


_docs = iter(range(10**6))


async def model_used(client: LanguageClient, fake) -> str:
    """The completion model of a manual completion request (after pending notifications),
    in a fresh document so that no remembered suggestion answers it."""
    await asyncio.sleep(0.3)
    before = len(fake.fim_requests())
    uri = f"{ROOT}/fresh{next(_docs)}.py"
    open_doc(client, "def f():\n    \n", uri=uri)
    result = await client.text_document_inline_completion_async(inline_params(1, 4, manual=True, uri=uri))
    assert result.items and len(fake.fim_requests()) == before + 1
    return fake.fim_requests()[-1].body["model"]


async def test_removed_settings_bring_the_defaults_back_for_every_client_form(client: LanguageClient, fake):
    # Zed: {"deepseek": null}; Neovim: {}; others: null, or a section of another server only
    for removed in ({"deepseek": None}, {}, None, {"python": {"analysis": True}}):
        change_settings(client, {"deepseek": {"completion": {"model": "deepseek-v4-pro"}}})
        assert await model_used(client, fake) == "deepseek-v4-pro"
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=removed))
        assert await model_used(client, fake) == "deepseek-flash", removed


async def test_a_pull_answered_null_brings_the_defaults_back(client: LanguageClient, fake):
    client.set_configuration({"completion": {"model": "deepseek-v4-pro"}}, section="deepseek")
    change_settings(client, None)
    assert await model_used(client, fake) == "deepseek-v4-pro"
    client.set_configuration(None, section="deepseek")  # the client answers [null]
    change_settings(client, None)
    assert await model_used(client, fake) == "deepseek-flash"


async def test_a_problem_is_said_once_until_it_changes(bad_init_client: LanguageClient, fake):
    client = bad_init_client
    await until(lambda: settings_messages(client))
    # the same bad value also in didChangeConfiguration and in the pull: still one problem, said once
    client.set_configuration({"chat": {"maxTokens": "lots"}}, section="deepseek")
    change_settings(client, {"deepseek": {"chat": {"maxTokens": "lots"}}})
    # unrelated changes
    change_settings(client, {"deepseek": {"chat": {"maxTokens": "lots"}, "completion": {"maxLines": 5}}})
    change_settings(client, {"deepseek": {"chat": {"maxTokens": "lots"}, "completion": {"maxLines": 6}}})
    await asyncio.sleep(0.5)
    [message] = settings_messages(client)
    assert message.count("deepseek.chat.maxTokens") == 1
    # it changes: said again, once
    client.set_configuration({"chat": {"maxTokens": "many"}}, section="deepseek")
    change_settings(client, {"deepseek": {"chat": {"maxTokens": "many"}}})
    await until(lambda: len(settings_messages(client)) == 2)
    await asyncio.sleep(0.3)
    assert len(settings_messages(client)) == 2 and "'many'" in settings_messages(client)[1]


PASTED_KEY = "sk-test — work laptop"
KEY_SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "deepseek_ls"],
                                server_env=server_env(PASTED_KEY))


@pytest_lsp.fixture(config=KEY_SERVER)
async def pasted_key_client(lsp_client: LanguageClient, fake):
    lsp_client.init_result = await lsp_client.initialize_session(_init(fake))
    yield
    await lsp_client.shutdown_session()


async def test_a_key_with_a_pasted_note_is_refused_clearly(pasted_key_client: LanguageClient, fake):
    client = pasted_key_client
    await until(lambda: settings_messages(client))
    [message] = settings_messages(client)
    assert "DEEPSEEK_API_KEY" in message and "non-ASCII" not in message  # the first bad character only
    assert "DEEPSEEK_API_KEY contains a space at character 8" in message
    assert "sk-test" not in message and "laptop" not in message
    open_doc(client, "def f():\n    \n")
    # a manual completion is answered (empty), not left hanging
    result = await asyncio.wait_for(
        client.text_document_inline_completion_async(inline_params(1, 4, manual=True)), 5)
    assert result.items == ()
    # chat: a clear RequestFailed naming the variable, no internal error, no key
    with pytest.raises(JsonRpcException) as info:
        await asyncio.wait_for(client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="deepseek.chat", arguments=[{"message": "hi"}])), 5)
    assert info.value.code == -32803 and "DEEPSEEK_API_KEY" in info.value.message
    assert "sk-test" not in info.value.message
    assert fake.requests == []  # nothing left the machine, not even the models check
    assert len(settings_messages(client)) == 1  # the completion did not say it again
    # the editor's setting with a control character is named as the setting
    change_settings(client, {"deepseek": {"apiKey": "sk-abc\x07def"}})
    await until(lambda: len(settings_messages(client)) == 2)
    assert "deepseek.apiKey contains a control character (U+0007)" in settings_messages(client)[1]
    # a good key: works again
    change_settings(client, {"deepseek": {"apiKey": "sk-test"}})
    assert await model_used(client, fake) == "deepseek-flash"


INSECURE_SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "deepseek_ls"],
                                     server_env={**server_env(), "DEEPSEEK_BASE_URL": "http://example.com"})


@pytest_lsp.fixture(config=INSECURE_SERVER)
async def insecure_env_client(lsp_client: LanguageClient, fake):
    params = _init(fake)
    del params.initialization_options["deepseek"]["baseUrl"]
    lsp_client.statuses = []
    lsp_client.feature("deepseek/status")(lambda p: lsp_client.statuses.append(p))
    lsp_client.init_result = await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


async def test_an_insecure_env_endpoint_is_refused_not_replaced_by_the_default(insecure_env_client, fake):
    client = insecure_env_client
    await until(lambda: settings_messages(client))
    [message] = settings_messages(client)
    assert "DEEPSEEK_BASE_URL 'http://example.com' uses plain http://" in message
    assert "Nothing is sent until it is fixed" in message
    # the status line says why, too
    await until(lambda: client.statuses and "DEEPSEEK_BASE_URL" in (getattr(client.statuses[-1], "message", "") or ""))
    assert client.statuses[-1].state == "paused"
    open_doc(client, "def f():\n    \n")
    result = await client.text_document_inline_completion_async(inline_params(1, 4, manual=True))
    assert result.items == ()
    with pytest.raises(JsonRpcException) as info:
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="deepseek.chat", arguments=[{"message": "hi"}]))
    assert "DEEPSEEK_BASE_URL" in info.value.message
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri="file:///work/project/pkg/example.py"),
        range=types.Range(start=types.Position(line=1, character=4), end=types.Position(line=1, character=4)),
        context=types.CodeActionContext(diagnostics=[])))
    assert not actions
    # the full endpoint pasted in the editor: normalised, and it works
    change_settings(client, {"deepseek": {"baseUrl": fake.base_url + "/beta/completions/"}})
    assert await model_used(client, fake) == "deepseek-flash"
    assert fake.fim_requests()[-1].path == "/beta/completions"


def _stderr_after(raw: RawServer, mark: int) -> str:
    with raw._lock:
        return raw.stderr[mark:].decode("utf-8", "replace")


def _settle(raw: RawServer, msg_id: int) -> None:
    """Wait until every notification sent before is handled (a request answered after them)."""
    raw.request(msg_id, "workspace/executeCommand", {"command": "deepseek.usage", "arguments": [{}]})
    raw.response(msg_id)
    time.sleep(0.2)


def test_log_level_applies_live(fake):
    raw = RawServer(env_without_deepseek(DEEPSEEK_API_KEY="sk-test"))
    try:
        raw.request(1, "initialize", {"capabilities": {}, "initializationOptions": {
            "deepseek": {"baseUrl": fake.base_url}}})
        raw.response(1)
        raw.notify("initialized", {})
        _settle(raw, 2)
        mark = len(raw.stderr)
        # the change that sets "error" is itself logged at the new level: not at all
        raw.notify("workspace/didChangeConfiguration", {"settings": {"deepseek": {
            "logLevel": "error", "completion": {"maxLines": 5}}}})
        _settle(raw, 3)
        raw.notify("workspace/didChangeConfiguration", {"settings": {"deepseek": {
            "logLevel": "error", "completion": {"maxLines": 6}}}})
        _settle(raw, 4)
        assert "INFO" not in _stderr_after(raw, mark)
        raw.notify("workspace/didChangeConfiguration", {"settings": {"deepseek": {"logLevel": "info"}}})
        _settle(raw, 5)
        assert "INFO deepseek_ls.service: settings:" in _stderr_after(raw, mark)
        raw.notify("workspace/didChangeConfiguration", {"settings": {"deepseek": {"logLevel": "error"}}})
        _settle(raw, 6)
        mark = len(raw.stderr)
        # removed: back to the default (info), not stuck at the last value
        raw.notify("workspace/didChangeConfiguration", {"settings": {}})
        _settle(raw, 7)
        assert "'logLevel': 'info'" in _stderr_after(raw, mark)
    finally:
        assert raw.close() == 0


async def test_a_wrong_endpoint_path_names_the_setting(client: LanguageClient, fake):
    # a path the normaliser cannot know (a proxy prefix that does not exist): DeepSeek answers 404
    change_settings(client, {"deepseek": {"baseUrl": fake.base_url + "/no-such-proxy"}})
    open_doc(client, "def f():\n    \n")
    await asyncio.sleep(0.2)
    result = await client.text_document_inline_completion_async(inline_params(1, 4, manual=True))
    assert result.items == ()
    await until(lambda: any("404" in m.message for m in client.messages))
    [ghost] = [m.message for m in client.messages if "404" in m.message]
    assert "deepseek.baseUrl" in ghost and "API root" in ghost
    with pytest.raises(JsonRpcException) as info:
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="deepseek.chat", arguments=[{"message": "hi"}]))
    assert info.value.code == -32803 and "deepseek.baseUrl" in info.value.message
    assert info.value.data["status"] == 404
