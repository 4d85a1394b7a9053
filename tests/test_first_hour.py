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
