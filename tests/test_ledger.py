"""The usage ledger: rows survive restarts and concurrent writers, days, models, prices."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from deepseek_ls import ledger as ledger_module
from deepseek_ls.api.client import Usage
from deepseek_ls.ledger import ENV_DATA_DIR, Ledger, ledger_path, make_row
from deepseek_ls.models import table

UTC = dt.UTC
PLUS2 = dt.timezone(dt.timedelta(hours=2))
MONDAY_PEAK = dt.datetime(2026, 11, 16, 2, 30, tzinfo=UTC)      # Mon 02:30 UTC: peak
MONDAY_OFFPEAK = dt.datetime(2026, 11, 16, 12, 0, tzinfo=UTC)   # Mon 12:00 UTC: off-peak
SATURDAY_EARLY = dt.datetime(2026, 11, 21, 2, 30, tzinfo=UTC)   # weekend: off-peak all day


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "ledger.sqlite3"


def test_path_comes_from_env(tmp_path: Path) -> None:
    assert ledger_path({ENV_DATA_DIR: str(tmp_path)}) == tmp_path / "ledger.sqlite3"
    default = ledger_path({})
    assert default is not None and default.name == "ledger.sqlite3" and "deepseek-ls" in str(default)


def test_restart_keeps_rows_and_file_is_wal(path: Path) -> None:
    first = Ledger(path, flush_delay_s=0)
    for _ in range(3):
        first.record("deepseek-flash", 100, 20, 5)
    first.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()

    second = Ledger(path, flush_delay_s=0)
    assert second.count() == 3
    second.record("deepseek-flash", 1, 2, 3, kind="chat")
    assert second.flush()
    assert second.count() == 4
    today = second.today()  # refreshed by the flush: the earlier process's rows count too
    assert (today.requests, today.hit_tokens, today.miss_tokens, today.completion_tokens) == (4, 301, 62, 18)
    second.close()
    assert [r.kind for r in Ledger(path).rows()] == ["fim", "fim", "fim", "chat"]


WRITER = textwrap.dedent("""
    import sys, time
    from deepseek_ls.ledger import Ledger
    path, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    start = float(sys.argv[4])
    while time.time() < start:
        time.sleep(0.001)
    ledger = Ledger(path, flush_delay_s=0.002, busy_timeout_ms=10000)
    for i in range(n):
        ledger.record(name, i, 1, 1)
        if i % 7 == 0:
            ledger.flush()
    ledger.close()
""")


def test_two_processes_writing_at_once_lose_no_rows(path: Path) -> None:
    n = 300
    start = time.time() + 0.8  # both begin together, after interpreter start-up
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, str(n), str(start)])
             for name in ("deepseek-flash", "deepseek-v4-pro")]
    assert [p.wait(timeout=30) for p in procs] == [0, 0]
    ledger = Ledger(path)
    assert ledger.count() == 2 * n
    report = ledger.report()
    assert {m["model"]: m["requests"] for m in report["perModel"]} == {"deepseek-flash": n,
                                                                        "deepseek-v4-pro": n}
    assert report["today"]["requests"] == 2 * n


class _SpyLock:
    """A lock that notes which threads entered it."""

    def __init__(self, lock) -> None:
        self.lock, self.threads = lock, []

    def __enter__(self):
        self.threads.append(threading.current_thread())
        return self.lock.__enter__()

    def __exit__(self, *exc):
        return self.lock.__exit__(*exc)


def test_record_never_waits_for_the_disk(path: Path, monkeypatch) -> None:
    """While another process holds the database's write lock, record() and today() on the
    caller's thread never reach the disk: the only ways there are the writer's lock (flush)
    and a new connection, and neither is taken on this thread (no timing: the spies say it)."""
    ledger = Ledger(path, flush_delay_s=0, busy_timeout_ms=200, retry_s=0.05)
    ledger.record("deepseek-flash", 1, 1, 1)
    assert ledger.flush()
    spy = _SpyLock(ledger._write_lock)
    ledger._write_lock = spy
    connecting = []
    real_connect = ledger_module._connect
    monkeypatch.setattr(ledger_module, "_connect",
                        lambda *a, **k: (connecting.append(threading.current_thread()), real_connect(*a, **k))[1])
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        for _ in range(50):
            ledger.record("deepseek-flash", 10, 10, 10)
            ledger.today()
        here = threading.current_thread()
        assert here not in spy.threads and here not in connecting
        assert ledger.today().requests == 51  # queued rows count at once
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    deadline = time.monotonic() + 5
    while ledger.count() < 51 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ledger.count() == 51
    ledger.close()


def test_write_failure_is_logged_once_and_never_raises(tmp_path: Path, caplog) -> None:
    (tmp_path / "not-a-dir").write_text("x")
    ledger = Ledger(tmp_path / "not-a-dir" / "ledger.sqlite3", flush_delay_s=0, retry_s=0.01)
    with caplog.at_level(logging.DEBUG, logger="deepseek_ls.ledger"):
        for _ in range(5):
            assert ledger.record("deepseek-flash", 1, 2, 3) is not None
            assert ledger.flush() is False
        assert ledger.today().requests == 5  # still counted in memory
        ledger.close(timeout_s=1)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "completions go on" in warnings[0].getMessage()


def test_disabled_ledger_is_harmless() -> None:
    ledger = Ledger(None)
    ledger.record("deepseek-flash", 1, 2, 3)
    assert ledger.today().requests == 0 and ledger.flush() and ledger.count() == 0
    ledger.close()


def test_day_boundaries_follow_the_ledger_time_zone(path: Path) -> None:
    ledger = Ledger(path, tz=PLUS2, flush_delay_s=0)
    # 21:59:59 UTC is 23:59:59 on the 20th in UTC+2; 22:00:00 UTC is already the 21st.
    before = dt.datetime(2026, 11, 20, 21, 59, 59, tzinfo=UTC)
    after = dt.datetime(2026, 11, 20, 22, 0, 0, tzinfo=UTC)
    week_ago = dt.datetime(2026, 11, 14, 21, 59, 59, tzinfo=UTC)  # the 14th in UTC+2: outside 7 days
    for when in (before, after, after, week_ago):
        ledger.record("deepseek-flash", 10, 0, 0, when=when)
    assert ledger.flush()
    now = dt.datetime(2026, 11, 21, 12, 0, tzinfo=UTC).timestamp()
    report = ledger.report(days=7, now=now)
    by_day = {d["date"]: d["requests"] for d in report["perDay"]}
    assert report["today"] == {**report["today"], "date": "2026-11-21", "requests": 2}
    assert by_day["2026-11-20"] == 1 and by_day["2026-11-15"] == 0
    assert "2026-11-14" not in by_day and len(by_day) == 7
    assert report["total"]["requests"] == 3
    assert report["days"] == 7
    assert ledger.report(days=8, now=now)["total"]["requests"] == 4
    ledger.close()


def test_today_only_counts_today(path: Path) -> None:
    ledger = Ledger(path, flush_delay_s=0)
    ledger.record("deepseek-flash", 5, 5, 5, when=dt.datetime.now(UTC) - dt.timedelta(days=2))
    ledger.record("deepseek-flash", 7, 7, 7)
    assert ledger.today().requests == 1          # queued rows
    assert ledger.flush()
    assert ledger.today().hit_tokens == 7        # written rows, from disk
    ledger.close()


def test_per_model_and_per_kind(path: Path) -> None:
    ledger = Ledger(path, flush_delay_s=0)
    ledger.record("deepseek-flash", 100, 0, 10)
    ledger.record("deepseek-flash", 0, 100, 10, kind="action")
    ledger.record("deepseek-v4-pro", 1_000_000, 0, 0, kind="chat")
    ledger.record("unknown-model", 10, 10, 10)
    assert ledger.flush()
    report = ledger.report()
    models = {m["model"]: m for m in report["perModel"]}
    assert models["deepseek-flash"]["requests"] == 2
    assert models["deepseek-flash"]["hitRate"] == 0.5
    assert models["unknown-model"]["costUsd"] == 0.0  # no price known: counted, not priced
    assert report["perModel"][0]["model"] == "deepseek-v4-pro"  # most expensive first
    assert {k["kind"]: k["requests"] for k in report["perKind"]} == {"action": 1, "chat": 1, "fim": 2}
    ledger.close()


def test_peak_and_offpeak_prices(path: Path) -> None:
    prices = table()["models"]["deepseek-flash"]["usdPerMillion"]
    peak = make_row("deepseek-flash", 1_000_000, 1_000_000, 1_000_000, when=MONDAY_PEAK)
    off = make_row("deepseek-flash", 1_000_000, 1_000_000, 1_000_000, when=MONDAY_OFFPEAK)
    weekend = make_row("deepseek-flash", 1_000_000, 1_000_000, 1_000_000, when=SATURDAY_EARLY)
    assert peak.peak and not off.peak and not weekend.peak
    assert peak.cost == pytest.approx(sum(prices["peak"].values()))       # 0.006 + 0.30 + 1.20
    assert off.cost == pytest.approx(sum(prices["offpeak"].values()))     # 0.003 + 0.15 + 0.60
    assert weekend.cost == off.cost
    assert peak.prices == table()["asOf"]
    ledger = Ledger(path, flush_delay_s=0)
    ledger.record("deepseek-flash", 0, 1_000_000, 0, when=MONDAY_PEAK)
    ledger.record("deepseek-flash", 0, 1_000_000, 0, when=MONDAY_OFFPEAK)
    assert ledger.flush()
    rows = ledger.rows()
    assert [r.peak for r in rows] == [True, False]
    assert [round(r.cost, 6) for r in rows] == [0.30, 0.15]
    ledger.close()


def test_service_records_into_the_ledger_and_status_has_today(tmp_path: Path) -> None:
    from deepseek_ls.server import build
    from deepseek_ls.service import Service

    service = Service(environ={ENV_DATA_DIR: str(tmp_path), "DEEPSEEK_API_KEY": "sk-test"})
    service.ledger.flush_delay_s = 0
    service.record_usage("deepseek-flash", Usage(prompt_tokens=30, completion_tokens=4, hit_tokens=20,
                                                 miss_tokens=10))
    payload = build(service).status.payload()
    assert payload["today"] == payload["usage"]
    assert set(payload["today"]) == {"requests", "promptHitTokens", "promptMissTokens",
                                     "completionTokens", "costUsd", "hitRate"}
    assert payload["today"]["requests"] == 1 and payload["today"]["hitRate"] == pytest.approx(2 / 3, abs=1e-4)
    service.ledger.close()
    assert Ledger(tmp_path / "ledger.sqlite3").count() == 1
