"""Hostile input over raw stdio: malformed messages, huge files, leaked keys."""

import pytest

from tests.lsp_raw import RawServer, env_without_deepseek

SECRET = "sk-SECRETKEY-0123456789"


def init(server: RawServer, base_url: str, key: str | None = None) -> dict:
    options = {"deepseek": {"baseUrl": base_url, "completion": {"debounceMs": 0}}}
    if key:
        options["deepseek"]["apiKey"] = key
    server.request(1, "initialize", {"capabilities": {}, "initializationOptions": options})
    result = server.response(1)
    server.notify("initialized", {})
    return result


def open_doc(server: RawServer, text: str, uri: str = "file:///w/a.py") -> None:
    server.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python",
                                                             "version": 1, "text": text}})


def inline(server: RawServer, msg_id, line, character, uri="file:///w/a.py") -> dict:
    server.request(msg_id, "textDocument/inlineCompletion", {
        "textDocument": {"uri": uri}, "position": {"line": line, "character": character},
        "context": {"triggerKind": 1}})
    return server.response(msg_id)


@pytest.fixture
def raw(fake):
    server = RawServer(env_without_deepseek(DEEPSEEK_LS_LOG="debug"))
    yield server
    assert server.close() == 0


def test_nothing_but_the_response_before_initialize_returns(raw, fake):
    init(raw, fake.base_url, "sk-test")
    assert raw.messages[0].get("id") == 1


def test_malformed_messages_are_answered_and_the_server_lives_on(raw, fake):
    init(raw, fake.base_url, "sk-test")
    raw.send(raw=b"{this is not json")
    raw.request(2, "textDocument/inlineCompletion", {"bogus": True})
    assert raw.response(2)["error"]["code"] == -32602
    raw.request(3, "no/suchMethod", {})
    assert raw.response(3)["error"]["code"] == -32601
    open_doc(raw, "def f():\n    \n")
    assert inline(raw, 4, 1, 4)["result"]["items"][0]["insertText"] == "return a + b"
    popups = [m for m in raw.messages if m.get("method") == "window/showMessage"]
    assert popups == []


def test_unopened_document_and_wild_positions_give_empty_results(raw, fake):
    init(raw, fake.base_url, "sk-test")
    assert inline(raw, 2, 0, 0, uri="file:///never/opened.py")["result"]["items"] == []
    open_doc(raw, "x = 1\n")
    assert inline(raw, 3, 10**6, 10**6)["result"] is not None
    assert inline(raw, 4, 0, 10**6)["result"]["items"][0]["range"]["start"] == {"line": 0, "character": 5}


def test_a_50_mb_file_is_refused_quietly(raw, fake):
    init(raw, fake.base_url, "sk-test")
    big = ("x = 1  # padding padding padding padding padding padding padding\n") * 800_000
    assert len(big) > 50_000_000
    open_doc(raw, big, uri="file:///w/big.py")
    assert inline(raw, 2, 10, 0, uri="file:///w/big.py")["result"]["items"] == []
    open_doc(raw, "def f():\n    \n")  # and everything else still works
    assert inline(raw, 3, 1, 4)["result"]["items"]
    assert fake.fim_requests() and all(len(r.body["prompt"]) < 100_000 for r in fake.fim_requests())


def test_the_key_never_leaves_except_to_the_endpoint(raw, fake):
    fake.add_key(SECRET)
    init(raw, fake.base_url, SECRET)
    open_doc(raw, "def f():\n    \n")
    inline(raw, 2, 1, 4)
    fake.inject(path="/beta/completions", status=401, times=1)
    raw.notify("textDocument/didChange", {"textDocument": {"uri": "file:///w/a.py", "version": 2},
                                           "contentChanges": [{"range": {"start": {"line": 1, "character": 4},
                                                                         "end": {"line": 1, "character": 4}},
                                                               "text": "x"}]})
    inline(raw, 3, 1, 5)
    raw.close()
    assert SECRET.encode() not in raw.stdout
    assert SECRET.encode() not in raw.stderr
    assert b"Authorization" not in raw.stderr
    sent = [r.headers.get("authorization") for r in fake.requests]
    assert sent and all(h == f"Bearer {SECRET}" for h in sent)
