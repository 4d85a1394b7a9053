"""No-key and rejected-key messages name what the user of *that* client can do."""

from __future__ import annotations

import time

import pytest

from deepseek_ls import client_hints
from tests.lsp_raw import RawServer, env_without_deepseek


@pytest.mark.parametrize("init, name, kind", [
    ({"deepseek": {}, "deepseekClient": "vscode"}, "Visual Studio Code", "vscode"),
    ({"deepseek": {}, "deepseekClient": "nvim"}, "Neovim", "nvim"),
    (None, "Neovim", "neovim"),
    ({}, "Eglot", "generic"),
    (None, None, "generic"),
    ({"deepseekClient": "something else"}, "helix", "generic"),
])
def test_client_kind(init, name, kind):
    assert client_hints.client_kind(init, name) == kind


def missing_key_message(init_options, client_name: str) -> str:
    server = RawServer(env_without_deepseek())
    try:
        params = {"processId": None, "rootUri": None, "capabilities": {},
                  "clientInfo": {"name": client_name}, "initializationOptions": init_options}
        server.request(1, "initialize", params)
        server.response(1)
        server.notify("initialized", {})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            shown = [m["params"]["message"] for m in list(server.messages)
                     if m.get("method") == "window/showMessage" and "API key" in m["params"]["message"]]
            if shown:
                return shown[0]
            time.sleep(0.02)
        raise AssertionError("no missing-key message")
    finally:
        server.close()


def test_each_client_is_told_what_it_can_do():
    vscode = missing_key_message({"deepseek": {}, "deepseekClient": "vscode"}, "Visual Studio Code")
    assert '"DeepSeek: Set API Key"' in vscode and "deepseek.apiKey" not in vscode
    nvim = missing_key_message({"deepseek": {}, "deepseekClient": "nvim"}, "Neovim")
    assert "setup({ api_key = ... })" in nvim and "DEEPSEEK_API_KEY" in nvim
    assert "deepseek.apiKey" not in nvim and "Set API Key" not in nvim
    other = missing_key_message({}, "Eglot")
    assert "DEEPSEEK_API_KEY" in other and "deepseek.apiKey" in other and "setup(" not in other
    for message in (vscode, nvim, other):
        assert message.startswith("DeepSeek: No DeepSeek API key is configured. ")
        assert "https://platform.deepseek.com/api_keys" in message


def test_rejected_key_hint_follows_the_client():
    _, rejected = client_hints.hints("vscode")
    assert rejected.startswith("The API key was rejected. ") and "Set API Key" in rejected
