"""A broken install (a module imported after start-up fails to import) is said once.

Start-up imports only what the ``initialize`` answer needs; the rest
(:data:`deepseek_ls.lazy.LATER`) is imported in the background once the
server is up. A module that fails there is reported once, clearly (one
``window/showMessage`` naming it, the status ``paused`` with the reason), and
ghost text and code actions then answer empty: never an error per keystroke
(review of issue 11: each ghost-text request answered -32603 with the same
ImportError).
"""

import os
from pathlib import Path

import pytest

from tests.lsp_raw import RawServer, env_without_deepseek

URI = "file:///tmp/broken-install/a.py"


def _told(server: RawServer, name: str) -> list[dict]:
    return [m for m in server.messages if m.get("method") == "window/showMessage"
            and name in str(m.get("params"))]


@pytest.mark.parametrize("wait", [True, False], ids=["typing-after-the-message", "typing-at-once"])
@pytest.mark.parametrize("module", ["pathspec", "h11", "httpx", "sqlite3", "statistics", "tenacity"])
def test_a_broken_lazy_module_is_said_once_and_is_not_an_error_per_keystroke(tmp_path: Path, fake,
                                                                              module: str, wait: bool) -> None:
    broken = tmp_path / "broken" / module
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text(f'raise ImportError("{module} is broken (test)")\n')
    env = env_without_deepseek(PYTHONPATH=os.pathsep.join([os.getcwd(), str(tmp_path / "broken")]),
                               DEEPSEEK_LS_DATA_DIR=str(tmp_path / "data"), HOME=str(tmp_path))
    server = RawServer(env)
    try:
        server.request(1, "initialize", {"processId": None, "rootUri": None, "capabilities": {},
                                         "initializationOptions": {"deepseek": {
                                             "baseUrl": fake.base_url, "apiKey": "sk-test"}}})
        assert "result" in server.response(1, timeout=20)  # start-up does not need the module
        server.notify("initialized", {})
        if wait:  # the background import has found it by then
            server.wait_for(lambda m: m.get("method") == "window/showMessage"
                            and module in str(m.get("params")), timeout=20)
        server.notify("textDocument/didOpen", {"textDocument": {
            "uri": URI, "languageId": "python", "version": 1, "text": "def add(a, b):\n    return \n"}})
        answers = []
        for n in range(3):
            server.request(10 + n, "textDocument/inlineCompletion", {
                "textDocument": {"uri": URI}, "position": {"line": 1, "character": 11},
                "context": {"triggerKind": 1}})
            answers.append(server.response(10 + n, timeout=20))
        server.request(20, "textDocument/codeAction", {
            "textDocument": {"uri": URI}, "range": {"start": {"line": 1, "character": 0},
                                                    "end": {"line": 1, "character": 11}},
            "context": {"diagnostics": []}})
        answers.append(server.response(20, timeout=20))
        assert [a for a in answers if "error" in a] == []
        if wait:  # before the report, a request that does not need the module may still be answered
            assert [a["result"]["items"] for a in answers[:3]] == [[], [], []]
        server.wait_for(lambda m: m.get("method") == "window/showMessage" and module in str(m.get("params")),
                        timeout=20)
        server.request(30, "shutdown", None)
        server.response(30, timeout=20)
        told = _told(server, module)
        assert len(told) == 1, told
        assert told[0]["params"]["type"] == 1  # an error
        assert "Reinstall" in told[0]["params"]["message"]
        statuses = [m["params"] for m in server.messages if m.get("method") == "deepseek/status"]
        assert statuses[-1]["state"] == "paused" and module in statuses[-1]["message"]
    finally:
        server.close()
