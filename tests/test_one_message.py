"""One message per problem: "no key" is said once until the key changes (not again after every
unrelated settings change), and a chat or action failing on a problem already shown (a refused
key or base URL, no key) answers with its error without a second popup of the same problem."""

from __future__ import annotations

import time

import pytest

from tests.lsp_raw import RawServer, env_without_deepseek

DOC = "file:///w/a.py"


def popups(s: RawServer) -> list[str]:
    return [m["params"]["message"] for m in s.messages
            if isinstance(m, dict) and m.get("method") == "window/showMessage"]


def start(options: dict) -> RawServer:
    s = RawServer(env_without_deepseek())
    s.request("init", "initialize", {"capabilities": {}, "initializationOptions": {"deepseek": options}})
    s.response("init")
    s.notify("initialized", {})
    s.notify("textDocument/didOpen", {"textDocument": {"uri": DOC, "languageId": "python", "version": 1,
                                                        "text": "def f(x):\n    \n"}})
    return s


def ghost(s: RawServer, msg_id: str) -> dict:
    s.request(msg_id, "textDocument/inlineCompletion", {
        "textDocument": {"uri": DOC}, "position": {"line": 1, "character": 4}, "context": {"triggerKind": 1}})
    return s.response(msg_id)


def chat(s: RawServer, msg_id: str) -> dict:
    s.request(msg_id, "workspace/executeCommand", {"command": "deepseek.chat", "arguments": [{"message": "hi"}]})
    return s.response(msg_id)


def settle(s: RawServer) -> None:
    """Round trip: everything the server sent before answering a request sent now is in (it
    answers in order, after the notifications before it)."""
    ping = f"ping-{time.monotonic():f}"
    s.request(ping, "no/such", {})
    s.response(ping)
    time.sleep(0.1)  # a popup a task sends just after (checks that say "no second one" need it)


def popup(s: RawServer, text: str) -> None:
    """Wait for a popup containing ``text`` (sent from a task of the server: no fixed delay)."""
    s.wait_for(lambda m: isinstance(m, dict) and m.get("method") == "window/showMessage"
               and text in m["params"]["message"])


def test_no_key_is_said_once_across_unrelated_setting_changes():
    s = start({})
    ghost(s, "g1")
    settle(s)
    assert sum("No DeepSeek API key" in p for p in popups(s)) == 1
    for i, debounce in enumerate((50, 80, 120)):
        s.notify("workspace/didChangeConfiguration", {"settings": {"deepseek": {"completion": {"debounceMs": debounce}}}})
        ghost(s, f"g2-{i}")
    reply = chat(s, "c1")
    assert "No DeepSeek API key" in reply["error"]["message"]  # the chat still says why it failed
    settle(s)
    assert sum("No DeepSeek API key" in p for p in popups(s)) == 1
    # the key comes and goes: that is news again
    s.notify("workspace/didChangeConfiguration", {"settings": {"deepseek": {"apiKey": "sk-test",
                                                                           "baseUrl": "http://127.0.0.1:9"}}})
    s.notify("workspace/didChangeConfiguration", {"settings": {"deepseek": {}}})
    ghost(s, "g3")
    settle(s)
    assert sum("No DeepSeek API key" in p for p in popups(s)) == 2
    assert s.close() == 0


@pytest.mark.parametrize("options,needle", [
    ({"apiKey": "sk-abc123 (my work key ü)"}, "apiKey"),
    ({"apiKey": "sk-test", "baseUrl": "http://example.com"}, "baseUrl"),
], ids=["invalid-key", "refused-base-url"])
def test_a_blocking_setting_is_one_popup_however_many_chats_fail_on_it(options, needle):
    s = start(options)
    settle(s)
    first = popups(s)
    assert len(first) == 1 and needle in first[0]
    for i in range(3):
        reply = chat(s, f"c{i}")
        assert needle in reply["error"]["message"]
    s.request("rw", "workspace/executeCommand", {"command": "deepseek.rewriteSelection", "arguments": [
        {"uri": DOC, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}}]})
    s.response("rw")
    ghost(s, "g1")
    s.notify("workspace/didChangeConfiguration", {"settings": {"deepseek": {**options, "completion": {"debounceMs": 60}}}})
    settle(s)
    assert popups(s) == first
    assert s.close() == 0


def test_a_misspelt_setting_is_reported_once_and_other_servers_sections_never():
    s = start({"apiKey": "sk-test", "baseUrl": "http://127.0.0.1:9"})
    for debounce in (5, 6):  # a changed value of the same misspelt key is the same problem
        s.notify("workspace/didChangeConfiguration",
                 {"settings": {"deepseek": {"completion": {"debounceMS": debounce}}}})
    s.notify("workspace/didChangeConfiguration", {"settings": {"pyright": {"analysis": {"mode": "x"}},
                                                               "rust-analyzer": {"checkOnSave": True}}})
    s.notify("workspace/didChangeConfiguration", {"settings": {"deepseek": {"exclude": {"x": 1}}}})
    popup(s, "did you mean deepseek.completion.debounceMs?")
    popup(s, "deepseek.exclude = {'x': 1}")
    settle(s)
    shown = popups(s)
    assert sum("did you mean deepseek.completion.debounceMs?" in p for p in shown) == 1
    assert sum("deepseek.exclude = {'x': 1}" in p for p in shown) == 1
    assert not any("pyright" in p or "rust-analyzer" in p for p in shown)
    assert s.close() == 0
