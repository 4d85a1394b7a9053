"""Switching the editor's definitions off applies at once (review of issue 12): the engine
heard of new settings only at the next document event, so the retries of
``deepseek/definitions`` already planned (2, 5, 15, 30, 60 s after an answer that found
nothing) went on for a minute after ``context.enabled`` or ``context.editorDefinitions``
was set to false."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.lsp_raw import RawServer, env_without_deepseek


def _definition_requests(server: RawServer) -> list[dict]:
    with server._lock:
        return [m for m in server.messages if isinstance(m, dict) and m.get("method") == "deepseek/definitions"]


def _answer_server_requests(server: RawServer, answered: set[object]) -> None:
    """Answer every request the server sent so far with null (the definitions: found nothing)."""
    with server._lock:
        pending = [m for m in server.messages if isinstance(m, dict) and "method" in m and "id" in m
                   and m["id"] not in answered]
    for m in pending:
        answered.add(m["id"])
        server.send({"jsonrpc": "2.0", "id": m["id"], "result": None})


@pytest.mark.parametrize("setting", ["enabled", "editorDefinitions"])
def test_switching_the_editor_definitions_off_stops_the_planned_retries(tmp_path: Path, fake, setting: str) -> None:
    (tmp_path / ".git").mkdir()
    app = tmp_path / "app.py"
    text = "def run(cart):\n    total = compute_total(cart)\n    \n"
    app.write_text(text, encoding="utf-8")
    server = RawServer(env_without_deepseek(DEEPSEEK_API_KEY="sk-test", DEEPSEEK_BASE_URL=fake.base_url,
                                            DEEPSEEK_LS_DATA_DIR=str(tmp_path / "data")))
    answered: set[object] = set()
    try:
        server.request(1, "initialize", {"processId": None, "rootUri": tmp_path.as_uri(),
                                         "capabilities": {"textDocument": {"inlineCompletion": {}}},
                                         "initializationOptions": {"deepseekDefinitions": True}})
        server.response(1)
        server.notify("initialized", {})
        server.notify("textDocument/didOpen", {"textDocument": {"uri": app.as_uri(), "languageId": "python",
                                                                "version": 1, "text": text}})
        server.wait_for(lambda m: isinstance(m, dict) and m.get("method") == "deepseek/definitions", timeout=15)
        _answer_server_requests(server, answered)  # found nothing: a retry is planned 2 s later
        server.notify("workspace/didChangeConfiguration",
                      {"settings": {"deepseek": {"context": {setting: False}}}})
        asked = len(_definition_requests(server))
        end = time.monotonic() + 7.0  # past the first two retries (2 s and 5 s)
        while time.monotonic() < end:
            _answer_server_requests(server, answered)
            time.sleep(0.05)
        assert len(_definition_requests(server)) == asked, "asked again after it was switched off"
    finally:
        server.close()
