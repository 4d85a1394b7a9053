"""Every way a server process ends (issue 10, items 17-19): signals, the usage
ledger written on the way out, shutdown while a chat streams, --tcp."""

from __future__ import annotations

import os
import pty
import re
import signal
import socket
import subprocess
import sys
import tty

import pytest

from deepseek_ls.ledger import Ledger, ledger_path
from tests.lsp_raw import RawServer, env_without_deepseek

DOC = "file:///w/a.py"


def initialize(s: RawServer, fake=None, key: str = "sk-test") -> None:
    options = {"deepseek": {"completion": {"debounceMs": 0}}}
    if fake is not None:
        options["deepseek"].update(baseUrl=fake.base_url, apiKey=key)
    s.request("init", "initialize", {"capabilities": {"window": {"workDoneProgress": True}},
                                     "initializationOptions": options})
    s.response("init")
    s.notify("initialized", {})


def complete(s: RawServer, msg_id: object) -> dict:
    s.notify("textDocument/didOpen", {"textDocument": {"uri": DOC, "languageId": "python", "version": 1,
                                                        "text": "def f():\n    \n"}})
    s.request(msg_id, "textDocument/inlineCompletion", {
        "textDocument": {"uri": DOC}, "position": {"line": 1, "character": 4}, "context": {"triggerKind": 1}})
    return s.response(msg_id)


def clean_stderr(s: RawServer) -> None:
    for bad in (b"Traceback", b"Fatal Python error", b"dictionary changed size", b"broke mid-answer"):
        assert bad not in s.stderr, s.stderr.decode(errors="replace")[-2000:]


def wait_exit(s: RawServer, timeout: float = 10.0) -> int:
    try:
        return s.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        s.proc.kill()
        raise


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_ends_the_server_at_once_and_cleanly(sig, code):
    s = RawServer(env_without_deepseek())
    initialize(s)
    s.send_signal = s.proc.send_signal(sig)
    assert wait_exit(s, 5) == code
    clean_stderr(s)


@pytest.mark.parametrize("threaded", [False, True], ids=["loop-reader", "threaded-reader"])
def test_ctrl_c_in_a_terminal_ends_it_at_once(threaded):
    """Started by hand: stdin is a terminal (a pty), read by a worker thread."""
    master, slave = pty.openpty()
    try:
        env = env_without_deepseek(**({"DEEPSEEK_LS_THREADED_STDIN": "1"} if threaded else {}))
        tty.setraw(slave)  # no line editing: the bytes arrive as written
        s = RawServer(env, stdin=slave)
        s.proc.stdin = os.fdopen(os.dup(master), "wb", buffering=0)  # what is typed in the terminal
        initialize(s)  # the server is up and reading the terminal
        s.proc.send_signal(signal.SIGINT)  # the first Ctrl-C is enough
        assert wait_exit(s, 5) == 130
        clean_stderr(s)
    finally:
        os.close(master)
        os.close(slave)


def test_ctrl_c_with_a_threaded_pipe_reader_ends_it_at_once():
    s = RawServer(env_without_deepseek(DEEPSEEK_LS_THREADED_STDIN="1"))
    initialize(s)
    s.proc.send_signal(signal.SIGINT)
    assert wait_exit(s, 5) == 130
    clean_stderr(s)


def test_exit_ends_the_process_even_with_a_threaded_reader():
    s = RawServer(env_without_deepseek(DEEPSEEK_LS_THREADED_STDIN="1"))
    initialize(s)
    s.request(2, "shutdown", None)
    s.response(2)
    s.notify("exit", None)  # stdin stays open: the reader thread is blocked on it
    assert wait_exit(s, 5) == 0


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "exit", "exit-without-shutdown", "eof"])
def test_the_usage_ledger_is_written_on_every_way_out(fake, tmp_path, how):
    env = env_without_deepseek(DEEPSEEK_LS_DATA_DIR=str(tmp_path))
    s = RawServer(env)
    initialize(s, fake)
    assert complete(s, 2)["result"]["items"]  # one billed request: one ledger row, queued for ~1 s
    expected = {"SIGTERM": 143, "SIGINT": 130, "exit": 0, "exit-without-shutdown": 1, "eof": 1}[how]
    if how.startswith("SIG"):
        s.proc.send_signal(getattr(signal, how))
    elif how == "exit":
        s.request(3, "shutdown", None)
        s.response(3)
        s.notify("exit", None)
    elif how == "exit-without-shutdown":
        s.notify("exit", None)
    else:
        s.proc.stdin.close()
    assert wait_exit(s) == expected
    ledger = Ledger(ledger_path({"DEEPSEEK_LS_DATA_DIR": str(tmp_path)}))
    try:
        assert ledger.count() == 1
    finally:
        ledger.close()
    clean_stderr(s)


def test_shutdown_while_a_chat_streams_ends_it_quietly_as_cancelled(fake):
    fake.inject(path="/chat/completions", kind="stall", after_chunks=3)  # the answer stops mid-stream, hangs
    s = RawServer(env_without_deepseek())
    initialize(s, fake)
    s.request("chat", "workspace/executeCommand", {"command": "deepseek.chat", "arguments": [{"message": "hi"}]})
    assert fake.wait_for(lambda: fake.chat_requests())
    s.wait_for(lambda m: isinstance(m, dict) and m.get("method") == "deepseek/chatStream"
               and m["params"].get("event") == "content")
    s.request("bye", "shutdown", None)
    assert s.response("bye") == {"jsonrpc": "2.0", "id": "bye", "result": None}
    assert s.response("chat")["error"]["code"] == -32800  # cancelled
    s.notify("exit", None)
    assert wait_exit(s) == 0
    assert [m for m in s.messages if isinstance(m, dict) and m.get("method") == "window/showMessage"] == []
    events = [m["params"]["event"] for m in s.messages if isinstance(m, dict)
              and m.get("method") == "deepseek/chatStream"]
    assert events[-1] == "error" and "failed" not in events
    clean_stderr(s)


def test_shutdown_while_ghost_text_waits_answers_everything(fake):
    fake.inject(kind="stall", path="/beta/completions")
    s = RawServer(env_without_deepseek())
    initialize(s, fake)
    s.notify("textDocument/didOpen", {"textDocument": {"uri": DOC, "languageId": "python", "version": 1,
                                                        "text": "def f():\n    \n"}})
    s.request(2, "textDocument/inlineCompletion", {
        "textDocument": {"uri": DOC}, "position": {"line": 1, "character": 4}, "context": {"triggerKind": 1}})
    assert fake.wait_for(lambda: fake.fim_requests())
    s.request(3, "shutdown", None)
    assert s.response(3)["result"] is None
    assert "error" in s.response(2) or s.response(2)["result"] is not None
    s.notify("exit", None)
    assert wait_exit(s) == 0
    assert [m for m in s.messages if isinstance(m, dict) and m.get("method") == "window/showMessage"] == []
    clean_stderr(s)


def test_tcp_says_where_it_listens_and_ends_on_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-m", "deepseek_ls", "--tcp", "127.0.0.1:0"],
                            env=env_without_deepseek(), stderr=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        line = proc.stderr.readline().decode()
        found = re.search(r"listening for LSP on 127\.0\.0\.1:(\d+)", line)
        assert found, line
        with socket.create_connection(("127.0.0.1", int(found.group(1))), timeout=5) as conn:
            init = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}'
            conn.sendall(b"Content-Length: %d\r\n\r\n" % len(init) + init)
            data = b""
            while b"serverInfo" not in data:
                chunk = conn.recv(65536)
                assert chunk
                data += chunk
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=5) == 130
        rest = proc.stderr.read()
        assert b"Traceback" not in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_tcp_with_a_bad_address_says_so():
    out = subprocess.run([sys.executable, "-m", "deepseek_ls", "--tcp", "127.0.0.1:notaport"],
                         env=env_without_deepseek(), capture_output=True, timeout=30)
    assert out.returncode == 2 and b"HOST:PORT" in out.stderr
