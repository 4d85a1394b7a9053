"""Ctrl-C during a one-shot command (complete, doctor, stats) ends it cleanly: exit 130 and
one line on stderr, no traceback, as the server does. Run in a terminal (a pty), the signal
sent to the whole process group as the terminal's Ctrl-C does."""

from __future__ import annotations

import importlib
import os
import pty
import signal
import socket
import subprocess
import sys
import time

import pytest

from deepseek_ls import __main__ as cli
from tests.lsp_raw import env_without_deepseek


def read_all(fd: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return out
        if not chunk:
            return out
        out += chunk


@pytest.mark.parametrize("command", ["complete", "doctor"])
def test_ctrl_c_while_a_command_waits_for_the_api_exits_130_with_one_line(tmp_path, command):
    source = tmp_path / "a.py"
    source.write_text("def f(x):\n    \n")
    silent = socket.socket()  # accepts the connection, never answers: the command waits
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    silent.settimeout(20)
    args = ["complete", f"{source}:2:5"] if command == "complete" else ["doctor"]
    env = env_without_deepseek(DEEPSEEK_API_KEY="sk-test",
                               DEEPSEEK_BASE_URL=f"http://127.0.0.1:{silent.getsockname()[1]}",
                               DEEPSEEK_LS_DATA_DIR=str(tmp_path / "data"), XDG_CACHE_HOME=str(tmp_path))
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "deepseek_ls", *args], stdin=slave, stdout=slave,
                            stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    try:
        conn, _ = silent.accept()  # the request is on its way: the command is waiting
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        assert proc.wait(timeout=10) == 130
        text = read_all(master).decode(errors="replace")
        assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
        assert f"deepseek-ls {command}: interrupted" in text
        assert text.count("interrupted") == 1
        conn.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        silent.close()


@pytest.mark.parametrize("command", ["stats", "doctor", "complete"])
def test_an_interrupt_anywhere_in_a_command_is_130_and_one_line(monkeypatch, capsys, tmp_path, command):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    if command == "complete":
        from deepseek_ls.cli import complete

        monkeypatch.setattr(complete, "complete", interrupted)
        argv = ["complete", "x.py:1:1"]
    else:
        module = importlib.import_module(f"deepseek_ls.cli.{command}")
        monkeypatch.setattr(module, command, interrupted)  # looked up when the parser is built
        argv = [command]
    monkeypatch.setenv("DEEPSEEK_LS_DATA_DIR", str(tmp_path))
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert err.strip() == f"deepseek-ls {command}: interrupted"


def test_complete_on_a_directory_says_it_is_a_directory(tmp_path, capsys):
    assert cli.main(["complete", f"{tmp_path}:1:1"]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_doctor_with_deeply_nested_fallbacks_json_says_it_is_not_json(tmp_path):
    nested = "[" * 20_000 + "]" * 20_000
    env = env_without_deepseek(DEEPSEEK_API_KEY="sk-test", DEEPSEEK_BASE_URL="http://127.0.0.1:9",
                               DEEPSEEK_LS_FALLBACKS=nested, DEEPSEEK_LS_DATA_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "deepseek_ls", "doctor", "--no-fim"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr + done.stdout
    assert "nested too deeply" in done.stdout + done.stderr
    (tmp_path / "f.json").write_text(nested)
    done = subprocess.run([sys.executable, "-m", "deepseek_ls", "doctor", "--fallbacks", f"@{tmp_path}/f.json"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "nested too deeply" in done.stderr and "Traceback" not in done.stderr
