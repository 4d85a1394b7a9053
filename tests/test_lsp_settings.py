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
