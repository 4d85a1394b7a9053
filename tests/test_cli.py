"""`deepseek-ls complete FILE:LINE:COL`, `--help` and `--tcp`."""

import json
import socket
import subprocess
import sys
import time

from deepseek_ls.ledger import Ledger
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
    assert "1 request," in out.stderr and "$0.0000" in out.stderr
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


FIB = "if n < 2:\n        return n\n    a, b = 0, 1\n    for _ in range(n - 1):\n        a, b = b, a + b\n    return b\n"


def test_complete_prints_the_whole_multiline_suggestion_and_records_every_request(tmp_path, fake):
    """The editor gets the first lines early; the CLI waits for the whole answer and its usage."""
    fake.latency_ms = 200
    fake.ms_per_output_token = 15  # the stream is still running when the early lines are ready
    fake.fim_handler = lambda body: FIB
    source = tmp_path / "fib.py"
    source.write_text("def fib(n):\n    \n", encoding="utf-8")
    env = env_without_deepseek(DEEPSEEK_API_KEY="sk-test", DEEPSEEK_BASE_URL=fake.base_url,
                               DEEPSEEK_LS_DATA_DIR=str(tmp_path / "data"))
    for run_no in range(1, 5):
        out = run(["complete", f"{source}:2:5"], env)
        assert out.returncode == 0, out.stderr
        assert out.stdout == FIB, out.stdout  # all six lines, not the first three
        assert "1 request," in out.stderr and "$0.00000," not in out.stderr, out.stderr
        assert " 0 output tokens" not in out.stderr
        ledger = Ledger(tmp_path / "data" / "ledger.sqlite3")
        rows = ledger.rows()
        ledger.close()
        assert len(rows) == run_no == len(fake.fim_requests())  # no row lost across runs
        billed = fake.fim_requests()[-1]
        assert (rows[-1].hit, rows[-1].miss, rows[-1].out) == (billed.hit, billed.miss, billed.out)


def test_complete_with_the_endpoint_unreachable_says_what_failed_and_what_to_do(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    \n", encoding="utf-8")
    out = run(["complete", f"{source}:2:5"], env_without_deepseek(
        DEEPSEEK_API_KEY="sk-test", DEEPSEEK_BASE_URL=f"http://127.0.0.1:{port}",
        DEEPSEEK_LS_DATA_DIR=str(tmp_path)))
    assert out.returncode == 1 and out.stdout == ""
    assert f"cannot reach http://127.0.0.1:{port} (DEEPSEEK_BASE_URL)" in out.stderr, out.stderr
    assert "deepseek-ls doctor" in out.stderr and "no suggestion" not in out.stderr
    assert "Traceback" not in out.stderr and "WARNING" not in out.stderr


def test_complete_names_each_api_failure_with_its_fix(tmp_path, fake):
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    \n", encoding="utf-8")
    fake.add_key("sk-broke-key-000000000", balance="0.00")
    env = env_without_deepseek(DEEPSEEK_BASE_URL=fake.base_url, DEEPSEEK_LS_DATA_DIR=str(tmp_path))
    broke = run(["complete", f"{source}:2:5"], {**env, "DEEPSEEK_API_KEY": "sk-broke-key-000000000"})
    assert broke.returncode == 1 and "402" in broke.stderr and "top_up" in broke.stderr, broke.stderr
    assert "Insufficient Balance.\n" in broke.stderr  # a sentence, then the hint on its own line
    fake.inject(status=503, times=1)
    busy = run(["complete", f"{source}:2:5"], {**env, "DEEPSEEK_API_KEY": "sk-test"})
    assert busy.returncode == 1 and "503" in busy.stderr and "→" in busy.stderr, busy.stderr
    for out in (broke, busy):
        assert "sk-broke-key" not in out.stderr and "Traceback" not in out.stderr


def test_error_messages_end_with_a_full_stop_before_their_hint():
    from deepseek_ls.api.errors import APIConnectionError, InsufficientBalanceError, ServerError

    broke = InsufficientBalanceError(402, "Insufficient Balance")
    assert f"{broke} {broke.hint}".startswith("DeepSeek API error 402: Insufficient Balance. Your DeepSeek")
    assert str(ServerError(503, "Service Unavailable!")).endswith("Unavailable!")  # no doubled stop
    assert str(APIConnectionError("GET /models failed: ConnectError: refused")).endswith("refused.")


def test_complete_with_an_empty_answer_says_so_and_records_the_request(tmp_path, fake):
    fake.fim_handler = lambda body: ""
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    \n", encoding="utf-8")
    out = run(["complete", f"{source}:2:5"], env_without_deepseek(
        DEEPSEEK_API_KEY="sk-test", DEEPSEEK_BASE_URL=fake.base_url, DEEPSEEK_LS_DATA_DIR=str(tmp_path)))
    assert out.returncode == 1 and out.stdout == ""
    assert "nothing worth inserting" in out.stderr and "1 request," in out.stderr, out.stderr


def test_complete_refuses_an_endpoint_it_must_not_use(tmp_path, fake):
    """An insecure DEEPSEEK_BASE_URL is refused (as doctor does), never replaced by the default."""
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    \n", encoding="utf-8")
    for url in ("http://example.com", "ftp://127.0.0.1/", "https://user:pw@api.deepseek.com"):
        out = run(["complete", f"{source}:2:5"], env_without_deepseek(DEEPSEEK_API_KEY="sk-test",
                                                                      DEEPSEEK_BASE_URL=url))
        assert out.returncode == 2, (url, out.stderr)
        assert "DEEPSEEK_BASE_URL" in out.stderr and "Nothing is sent" in out.stderr
        assert "no API key" not in out.stderr and out.stdout == ""
        assert "pw" not in out.stderr.replace("https://", "")


def test_complete_accepts_a_pasted_endpoint_path(tmp_path, fake):
    """A full endpoint pasted as the base URL is reduced to the API root."""
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    \n", encoding="utf-8")
    for tail in ("/chat/completions", "/beta/completions", "/v1/", "/beta"):
        out = run(["complete", f"{source}:2:5"], env_without_deepseek(DEEPSEEK_API_KEY="sk-test",
                                                                      DEEPSEEK_BASE_URL=fake.base_url + tail))
        assert out.returncode == 0, (tail, out.stderr)
        assert out.stdout == "return a + b\n"


def test_complete_says_when_the_usage_row_could_not_be_written(tmp_path, fake):
    """A corrupt ledger: no "recorded in", but what failed and how to move the file away, and no raw log line."""
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    \n", encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    ledger = data / "ledger.sqlite3"
    ledger.write_bytes(bytes(range(256)) * 40)  # random bytes, not SQLite
    out = run(["complete", f"{source}:2:5"], env_without_deepseek(
        DEEPSEEK_API_KEY="sk-test", DEEPSEEK_BASE_URL=fake.base_url, DEEPSEEK_LS_DATA_DIR=str(data)))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "return a + b\n"
    assert "recorded in" not in out.stderr, out.stderr
    assert "could not be written" in out.stderr and f"mv '{ledger}' '{ledger}.broken'" in out.stderr
    assert all(line.startswith("deepseek-ls: ") for line in out.stderr.splitlines()), out.stderr
    assert "WARNING" not in out.stderr and "Traceback" not in out.stderr
    # a folder that cannot hold the ledger: the same kind of message, with the folder's fix
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = run(["complete", f"{source}:2:5"], env_without_deepseek(
        DEEPSEEK_API_KEY="sk-test", DEEPSEEK_BASE_URL=fake.base_url, DEEPSEEK_LS_DATA_DIR=str(blocker)))
    assert out.returncode == 0, out.stderr
    assert "recorded in" not in out.stderr and "could not be written" in out.stderr, out.stderr
    assert all(line.startswith("deepseek-ls: ") for line in out.stderr.splitlines()), out.stderr


def test_complete_brings_the_project_context(tmp_path, fake):
    """The parser's definitions of the names the file imports, from its project (the nearest folder
    above it with a project marker), as in an editor; the file named by its path in the project;
    a file the exclusion policy keeps home never read into the prompt; off with --no-context."""
    project = tmp_path / "proj"
    (project / "pkg").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\n", encoding="utf-8")
    (project / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    (project / "pkg" / "lib.py").write_text(
        'def magic_number(x: int) -> int:\n    """面积😀 the magic."""\n    return 42 * x\n', encoding="utf-8")
    (project / "pkg" / ".env").write_text("SECRET_TOKEN=sk-live-do-not-send\n", encoding="utf-8")
    source = project / "pkg" / "app.py"
    source.write_text("from pkg.lib import magic_number\n\ny = \n", encoding="utf-8")
    env = env_without_deepseek(DEEPSEEK_API_KEY="sk-test", DEEPSEEK_BASE_URL=fake.base_url)
    out = run(["complete", f"{source}:3:5"], env)
    assert out.returncode in (0, 1), out.stderr
    prompt = fake.fim_requests()[-1].body["prompt"]
    assert "def magic_number(x: int) -> int:" in prompt and "return 42 * x" in prompt
    assert "pkg/lib.py" in prompt and "pkg/app.py" in prompt  # paths in the project
    assert "sk-live" not in prompt and str(tmp_path) not in prompt
    assert prompt.endswith("y = ")
    off = run(["complete", "--no-context", f"{source}:3:5"], env)
    assert off.returncode in (0, 1), off.stderr
    assert "magic_number(x: int)" not in fake.fim_requests()[-1].body["prompt"]


def test_complete_on_a_loose_file_reads_its_imports_but_not_its_folder(tmp_path, fake):
    """No project marker above the file (a script in /tmp): like an editor without a workspace
    folder, the file's own imports are followed, but no project block is made of whatever else
    lies in its folder (the README's /tmp/fib.py once sent 1,097 tokens of other files in /tmp)."""
    loose = tmp_path / "downloads"
    loose.mkdir()
    (loose / "lib.py").write_text("def magic_number(x):\n    return 42 * x\n", encoding="utf-8")
    (loose / "unrelated.py").write_text("from lib import magic_number\n\nclass PrivateNotes:\n    pass\n",
                                        encoding="utf-8")
    source = loose / "app.py"
    source.write_text("from lib import magic_number\n\ny = \n", encoding="utf-8")
    out = run(["complete", f"{source}:3:5"], env_without_deepseek(DEEPSEEK_API_KEY="sk-test",
                                                                  DEEPSEEK_BASE_URL=fake.base_url))
    assert out.returncode in (0, 1), out.stderr
    prompt = fake.fim_requests()[-1].body["prompt"]
    assert "def magic_number(x):" in prompt and "PrivateNotes" not in prompt
