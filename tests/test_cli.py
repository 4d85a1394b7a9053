"""`deepseek-ls complete FILE:LINE:COL` and `--tcp`."""

import json
import socket
import subprocess
import sys
import time

from tests.lsp_raw import env_without_deepseek


def run(args, env, timeout=20):
    return subprocess.run([sys.executable, "-m", "deepseek_ls", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_complete_prints_the_suggestion(tmp_path, fake):
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    \n", encoding="utf-8")
    out = run(["complete", f"{source}:2:5"], env_without_deepseek(DEEPSEEK_API_KEY="sk-test",
                                                                  DEEPSEEK_BASE_URL=fake.base_url))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "return a + b\n"
    assert "1 requests" in out.stderr
    assert fake.fim_requests()[0].body["prompt"].endswith("def add(a, b):\n    ")


def test_complete_errors_are_clear(tmp_path, fake):
    source = tmp_path / "calc.py"
    source.write_text("x = 1\n", encoding="utf-8")
    env = env_without_deepseek(DEEPSEEK_BASE_URL=fake.base_url)
    missing_key = run(["complete", f"{source}:1:1"], env)
    assert missing_key.returncode == 2 and "DEEPSEEK_API_KEY" in missing_key.stderr
    env["DEEPSEEK_API_KEY"] = "sk-test"
    assert "no such file" in run(["complete", f"{tmp_path}/nope.py:1:1"], env).stderr
    bad_line = run(["complete", f"{source}:9:1"], env)
    assert bad_line.returncode == 2 and "line 9 is outside" in bad_line.stderr
    bad_col = run(["complete", f"{source}:1:40"], env)
    assert bad_col.returncode == 2 and "column 40 is outside" in bad_col.stderr
    assert "FILE:LINE:COL" in run(["complete", "calc.py"], env).stderr
    assert fake.requests == []


def test_complete_reports_a_rejected_key(tmp_path, fake):
    source = tmp_path / "calc.py"
    source.write_text("def f():\n    \n", encoding="utf-8")
    out = run(["complete", f"{source}:2:5"], env_without_deepseek(DEEPSEEK_API_KEY="sk-wrong-key-123",
                                                                  DEEPSEEK_BASE_URL=fake.base_url))
    assert out.returncode == 1
    assert "401" in out.stderr and "sk-wrong-key-123" not in out.stderr + out.stdout


def test_tcp_mode_serves_lsp(fake):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "deepseek_ls", "--tcp", f"127.0.0.1:{port}"],
                            env=env_without_deepseek(), stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                time.sleep(0.05)
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                           "params": {"capabilities": {}}}).encode()
        conn.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        data = b""
        while b"serverInfo" not in data:
            chunk = conn.recv(65536)
            assert chunk
            data += chunk
        assert b'"deepseek-ls"' in data
        conn.close()
    finally:
        proc.kill()
        proc.wait()
