"""A ``.deepseekignore`` that is no regular file (review of issue 12): a FIFO by that name made
``open().read()`` block forever, on the event loop (the server stopped answering on the
``didOpen`` of a file beside it) and in ``deepseek-ls complete``. It is now skipped with a warning."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from deepseek_ls.policy import IGNORE_FILE, ExclusionPolicy
from tests.lsp_raw import env_without_deepseek

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


def _check_in_thread(policy: ExclusionPolicy, uri: str) -> list[object]:
    out: list[object] = []
    worker = threading.Thread(target=lambda: out.append(policy.check(uri)), daemon=True)
    worker.start()
    worker.join(10)
    return out


@pytest.mark.parametrize("nested", [False, True])
def test_a_fifo_ignore_file_is_skipped_not_read(tmp_path, caplog, nested):
    folder = tmp_path / "sub" if nested else tmp_path
    folder.mkdir(exist_ok=True)
    os.mkfifo(folder / IGNORE_FILE)
    policy = ExclusionPolicy(lambda: ())
    policy.set_roots([str(tmp_path)])
    out = _check_in_thread(policy, (folder / "main.py").as_uri())
    assert out == [None], "the check blocked on the FIFO"
    assert any("not a regular file" in r.getMessage() for r in caplog.records)
    # the built-in list still holds beside it
    assert _check_in_thread(policy, (folder / ".env").as_uri())[0] is not None


def test_an_ignore_file_that_becomes_regular_again_is_read(tmp_path):
    now = [0.0]
    os.mkfifo(tmp_path / IGNORE_FILE)
    policy = ExclusionPolicy(lambda: (), clock=lambda: now[0])
    policy.set_roots([str(tmp_path)])
    assert _check_in_thread(policy, (tmp_path / "main.py").as_uri()) == [None]
    (tmp_path / IGNORE_FILE).unlink()
    (tmp_path / IGNORE_FILE).write_text("main.py\n", encoding="utf-8")
    now[0] += 2
    assert policy.check((tmp_path / "main.py").as_uri()) is not None


def test_complete_beside_a_fifo_ignore_file_answers(tmp_path, fake):
    (tmp_path / ".git").mkdir()
    os.mkfifo(tmp_path / IGNORE_FILE)
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    \n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "deepseek_ls", "complete", f"{source}:2:5"], capture_output=True,
                         text=True, timeout=60, env=env_without_deepseek(
                             DEEPSEEK_API_KEY="sk-test", DEEPSEEK_BASE_URL=fake.base_url,
                             DEEPSEEK_LS_DATA_DIR=str(tmp_path / "data")))
    assert out.returncode == 0, out.stderr
    assert "not a regular file" in out.stderr
