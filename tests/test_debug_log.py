"""deepseek.logLevel = debug adds detail on the request path (the decision, the request sent with
its sizes, the answer with its usage) and on settings, never prompt text or the key."""

from __future__ import annotations

import time

from tests.fake_deepseek import FakeDeepSeek
from tests.lsp_raw import RawServer, env_without_deepseek

DOC = "file:///w/a.py"
MARKER = "unmistakable_prompt_marker_42"
KEY = "sk-test"  # the key the fake accepts


def test_debug_logs_say_what_happens_without_prompt_text_or_key():
    with FakeDeepSeek() as fake:
        fake.chat_handler = lambda body: "An answer."
        s = RawServer(env_without_deepseek())
        s.request("init", "initialize", {"capabilities": {}, "initializationOptions": {"deepseek": {
            "baseUrl": fake.base_url, "apiKey": KEY, "logLevel": "debug", "chat": {"transcripts": False}}}})
        s.response("init")
        s.notify("initialized", {})
        s.notify("textDocument/didOpen", {"textDocument": {"uri": DOC, "languageId": "python", "version": 1,
                                                            "text": f"def {MARKER}(x):\n    \n"}})
        s.request("g", "textDocument/inlineCompletion", {
            "textDocument": {"uri": DOC}, "position": {"line": 1, "character": 4}, "context": {"triggerKind": 1}})
        s.response("g")
        s.request("c", "workspace/executeCommand", {"command": "deepseek.chat", "arguments": [
            {"message": f"what is {MARKER}?"}]})
        reply = s.response("c")
        assert reply.get("result", {}).get("content") == "An answer.", (reply, s.stderr.decode(errors="replace")[-3000:])
        s.notify("workspace/didChangeConfiguration", {"settings": {"deepseek": {"completion": {"debounceMs": 90}}}})
        time.sleep(0.3)
        assert s.close() == 0
        log = s.stderr.decode(errors="replace")
    for needle in ("completion ", ": send", "FIM request", "prompt + ", "FIM answer", "output tokens",
                   "chat request:", "chat answer:", "settings layer 'didChange' now sets completion.debounceMs"):
        assert needle in log, needle
    assert MARKER not in log and KEY not in log
