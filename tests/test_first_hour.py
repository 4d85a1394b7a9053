"""What a new user hits in the first hour (issue 13 follow-ups): the usage ledger's
problems in the status, the no-key status message, pipelined shutdown/exit, a terminal on stdin."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time

from tests.fake_deepseek import FakeDeepSeek
from tests.lsp_raw import RawServer, env_without_deepseek
from tests.test_stopping import clean_stderr, complete, initialize, wait_exit


def statuses(s: RawServer) -> list[dict]:
    return [m["params"] for m in list(s.messages) if isinstance(m, dict) and m.get("method") == "deepseek/status"]


def test_status_today_says_when_the_ledger_cannot_be_written(tmp_path):
    """A corrupt ledger: the status's today figures come with what failed and how to move the file away."""
    ledger = tmp_path / "ledger.sqlite3"
    ledger.write_bytes(bytes(range(256)) * 40)
    with FakeDeepSeek() as fake:
        fake.fim_handler = lambda body: "return 1"
        s = RawServer(env_without_deepseek(DEEPSEEK_LS_DATA_DIR=str(tmp_path)))
        try:
            initialize(s, fake)
            assert complete(s, "c1")["result"]["items"]
            # the row is written off the hot path (about a second later); a status then says so
            s.wait_for(lambda m: isinstance(m, dict) and m.get("method") == "deepseek/status"
                       and "todayNote" in m["params"], timeout=15)
            note = next(p["todayNote"] for p in statuses(s) if "todayNote" in p)
            assert "damaged or not a usage ledger" in note and f"mv '{ledger}'" in note
        finally:
            assert s.close() == 0
        clean_stderr(s)


def _unused_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session(env: dict, init_options: dict, client_name: str, manual: bool = False) -> RawServer:
    s = RawServer(env_without_deepseek(**env))
    s.request("init", "initialize", {"processId": None, "rootUri": None, "capabilities": {},
                                     "clientInfo": {"name": client_name}, "initializationOptions": init_options})
    s.response("init")
    s.notify("initialized", {})
    if manual:
        complete(s, "manual")
    return s


def _shown(s: RawServer, needle: str, timeout: float = 10.0) -> str:
    found = s.wait_for(lambda m: isinstance(m, dict) and m.get("method") == "window/showMessage"
                       and needle in m["params"]["message"], timeout=timeout)
    return found["params"]["message"]


NVIM_SETUP = {"deepseek": {}, "deepseekClient": "nvim", "deepseekSources": {"apiKey": "setup", "baseUrl": "setup"}}
NVIM_SHELL = {"deepseek": {}, "deepseekClient": "nvim", "deepseekSources": {"apiKey": "env", "baseUrl": "env"}}


def test_a_bad_key_names_what_this_user_set():
    """A key with a space: Neovim's setup({ api_key }) is named as such; a shell variable by its name."""
    for options, client, named, not_named in (
            (NVIM_SETUP, "Neovim", "api_key (given to require('deepseek_ls').setup())", "DEEPSEEK_API_KEY contains"),
            (NVIM_SHELL, "Neovim", "DEEPSEEK_API_KEY contains", "setup())"),
            ({"deepseek": {}, "deepseekClient": "vscode", "deepseekSources": {"apiKey": "secret"}},
             "Visual Studio Code", 'the API key stored with "DeepSeek: Set API Key" contains', "DEEPSEEK_API_KEY"),
            ({}, "Eglot", "DEEPSEEK_API_KEY contains", "setup(")):
        s = _session({"DEEPSEEK_API_KEY": "sk-test my key"}, options, client)
        try:
            message = _shown(s, "contains a space")
            assert named in message and not_named not in message, message
            assert message.rstrip().endswith("."), message
            assert "sk-test my key" not in s.stdout.decode() + s.stderr.decode()
        finally:
            s.close()


def test_an_unreachable_endpoint_names_where_it_was_set():
    port = _unused_port()
    url = f"http://127.0.0.1:{port}"
    cases = (
        ({"DEEPSEEK_BASE_URL": url}, NVIM_SETUP, "Neovim", "base_url (given to require('deepseek_ls').setup())"),
        ({"DEEPSEEK_BASE_URL": url}, NVIM_SHELL, "Neovim", "DEEPSEEK_BASE_URL"),
        ({}, {"deepseek": {"baseUrl": url}, "deepseekClient": "vscode"}, "Visual Studio Code", "deepseek.baseUrl"),
        ({}, {"deepseek": {"baseUrl": url}, "deepseekClient": "nvim"}, "Neovim",
         "settings.deepseek.baseUrl (in require('deepseek_ls').setup())"),
        ({"DEEPSEEK_BASE_URL": url}, {}, "Eglot", "DEEPSEEK_BASE_URL"),
    )
    for env, options, client, named in cases:
        s = _session({"DEEPSEEK_API_KEY": "sk-test", **env}, options, client)
        try:
            for n in range(3):  # the breaker opens after a few failures: then one warning
                complete(s, f"m{n}")
            message = _shown(s, "network connection")
            assert f"the endpoint you set in {named}." in message, (client, message)
            assert message.endswith("."), message
            if "deepseek.baseUrl" not in named:
                assert "deepseek.baseUrl" not in message, message
        finally:
            s.close()


def test_no_key_status_says_the_key_is_missing_then_how_to_set_it():
    s = _session({}, {"deepseek": {}, "deepseekClient": "nvim"}, "Neovim")
    try:
        s.wait_for(lambda m: isinstance(m, dict) and m.get("method") == "deepseek/status", timeout=10)
        status = statuses(s)[-1]
        assert status["state"] == "error"
        assert status["message"].startswith("No DeepSeek API key is configured. "), status
        assert "setup({ api_key = ... })" in status["message"]
    finally:
        s.close()


def _frame(obj: dict) -> bytes:
    import json
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "initialized", "params": {}}
SHUTDOWN = {"jsonrpc": "2.0", "id": 2, "method": "shutdown"}
EXIT = {"jsonrpc": "2.0", "method": "exit"}
OPEN = {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
    "uri": "file:///w/a.py", "languageId": "python", "version": 1, "text": "def f():\n    \n"}}}
ASK = {"jsonrpc": "2.0", "id": 3, "method": "textDocument/inlineCompletion", "params": {
    "textDocument": {"uri": "file:///w/a.py"}, "position": {"line": 1, "character": 4}, "context": {"triggerKind": 1}}}


import pytest  # noqa: E402


@pytest.mark.parametrize("messages", [
    [INIT, SHUTDOWN, EXIT],
    [INIT, INITIALIZED, SHUTDOWN, EXIT],
    [INIT, INITIALIZED, OPEN, ASK, SHUTDOWN, EXIT],
], ids=["bare", "initialized", "request-in-flight"])
@pytest.mark.parametrize("key", ["sk-test", None], ids=["key", "no-key"])
@pytest.mark.parametrize("stdin_open", [False, True], ids=["eof", "open"])
def test_pipelined_shutdown_and_exit_answer_shutdown_and_exit_0(messages, key, stdin_open):
    """A client that writes initialize, shutdown and exit at once (not waiting for replies):
    shutdown is answered, the exit code is 0, and stderr has no traceback."""
    with FakeDeepSeek() as fake:
        fake.latency_ms = 300  # the completion is still running when shutdown comes
        env = env_without_deepseek(DEEPSEEK_BASE_URL=fake.base_url, **({"DEEPSEEK_API_KEY": key} if key else {}))
        proc = subprocess.Popen([sys.executable, "-m", "deepseek_ls"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        proc.stdin.write(b"".join(_frame(m) for m in messages))
        proc.stdin.flush()
        if not stdin_open:
            proc.stdin.close()
        try:
            code = proc.wait(timeout=30)
            out, err = proc.stdout.read(), proc.stderr.read().decode(errors="replace")
        finally:
            if proc.poll() is None:
                proc.kill()
            if not proc.stdin.closed:
                proc.stdin.close()
    assert b'{"id": 2, "jsonrpc": "2.0", "result": null}' in out, (out[-500:], err[-2000:])
    assert code == 0, err[-2000:]
    for bad in ("Traceback", "never awaited", "closed file", "ERROR"):
        assert bad not in err, err[-2000:]


def test_started_by_hand_in_a_terminal_it_says_what_it_waits_for():
    import signal
    import tty
    master, slave = pty.openpty()
    try:
        tty.setraw(slave)
        s = RawServer(env_without_deepseek(), stdin=slave)
        deadline = time.monotonic() + 15
        while b"waits for an editor" not in s.stderr and time.monotonic() < deadline:
            time.sleep(0.02)
        text = s.stderr.decode()
        assert "this is a language server" in text and "deepseek-ls --help" in text, text
        assert text.count("waits for an editor") == 1
        s.proc.send_signal(signal.SIGINT)
        assert wait_exit(s, 5) == 130
    finally:
        os.close(master)
        os.close(slave)


def test_started_by_an_editor_it_says_nothing_of_the_kind():
    s = RawServer(env_without_deepseek())
    initialize(s)
    assert s.close() == 0
    assert b"waits for an editor" not in s.stderr


def test_no_reference_to_documents_outside_the_repository():
    """Docs, code and data cite only what the repository holds (no design-document sections)."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    outside = ("DEEPSEEK_API" + ".md", "BENCHMARK" + ".md", "PYGLS2" + ".md", "/work/" + "shared", "\u00a7")
    found = []
    for path in root.rglob("*"):
        if (path.suffix not in (".py", ".md", ".json", ".lua", ".ts", ".txt", ".toml", ".sh")
                or any(part in ("node_modules", ".git", "work", ".venv") for part in path.parts[len(root.parts):])
                or not path.is_file()):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{path.relative_to(root)}: {needle}" for needle in outside if needle in text]
    assert not found, found


def test_readme_says_what_keeps_the_fake_out_of_the_ledger_and_how_editors_use_the_fake():
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    readme = root.joinpath("README.md").read_text()
    assert "keeps its rows out" not in readme
    assert "`DEEPSEEK_LS_DATA_DIR` below points the ledger at a scratch folder" in readme
    first_try = readme.split("**A first try without a key.**")[1].split("\n\n", 3)
    text = " ".join(first_try[:3])
    for needed in ("sk-test", "base_url = 'http://127.0.0.1:8765'", '"deepseek.baseUrl": "http://127.0.0.1:8765"',
                   "DEEPSEEK_BASE_URL=http://127.0.0.1:8765", "DeepSeek: Set API Key"):
        assert needed in text, needed
    config = root.joinpath("editors/nvim/lua/deepseek_ls/config.lua").read_text()
    for option in ("api_key = nil", "base_url = nil", "cmd_env = nil"):
        assert option in config  # the options the Neovim line uses exist
