"""Review of issue 11 part 7 (lazy imports): a module that fails to import now fails
at its first use instead of at start-up. Before (84f7a58) the server stopped at
start-up with the ImportError, once; now every ghost-text request answers -32603
with the same ImportError (one error per keystroke, no message to the user)."""

import os
import time
from pathlib import Path

from tests.lsp_raw import RawServer, env_without_deepseek

URI = "file:///tmp/review11/a.py"


def test_review11_a_broken_lazy_module_is_not_an_error_per_keystroke(tmp_path: Path, fake) -> None:
    broken = tmp_path / "broken" / "pathspec"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text('raise ImportError("pathspec is broken (review11)")\n')
    env = env_without_deepseek(PYTHONPATH=os.pathsep.join([os.getcwd(), str(tmp_path / "broken")]),
                               DEEPSEEK_LS_DATA_DIR=str(tmp_path / "data"), HOME=str(tmp_path))
    server = RawServer(env)
    try:
        server.request(1, "initialize", {"processId": None, "rootUri": None, "capabilities": {},
                                         "initializationOptions": {"deepseek": {
                                             "baseUrl": fake.base_url, "apiKey": "sk-test"}}})
        try:
            server.response(1, timeout=20)
        except TimeoutError:
            assert server.proc.poll() not in (None, 0)  # before: start-up failed, once, clearly
            return
        server.notify("initialized", {})
        server.notify("textDocument/didOpen", {"textDocument": {
            "uri": URI, "languageId": "python", "version": 1, "text": "def add(a, b):\n    return \n"}})
        errors = 0
        for n in range(3):
            server.request(10 + n, "textDocument/inlineCompletion", {
                "textDocument": {"uri": URI}, "position": {"line": 1, "character": 11},
                "context": {"triggerKind": 1}})
            answer = server.response(10 + n, timeout=20)
            errors += "error" in answer
        time.sleep(0.2)
        told = [m for m in server.messages if m.get("method") == "window/showMessage"
                and "pathspec" in str(m.get("params"))]
        assert errors <= 1, f"{errors} of 3 ghost-text requests answered with an error; told once: {bool(told)}"
    finally:
        server.close()
