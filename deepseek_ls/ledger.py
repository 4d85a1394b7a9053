"""A small SQLite ledger of every request's usage, kept across restarts.

One row per request (time, model, kind, cache hit / miss tokens, output
tokens, cost in USD at the price table of :mod:`deepseek_ls.models`, and the
endpoint that answered: ``deepseek`` or a fallback's name). A fallback's
rows are priced at its own prices; without any, their cost is 0 and their
``prices`` column says ``unknown``. Ledgers written before the ``endpoint``
column existed get it on open (``ALTER TABLE``, default ``deepseek``:
every older row came from DeepSeek); older servers writing the same file
go on working, their rows count as DeepSeek's. The
file lives in ``platformdirs.user_data_dir("deepseek-ls")`` or in the folder
named by ``DEEPSEEK_LS_DATA_DIR``.

Several servers (two editors) may write at once: the database is in WAL mode
with a busy timeout and every write is one short ``BEGIN IMMEDIATE``
transaction. Writing happens off the hot path: :meth:`Ledger.record` only
appends to a queue; a background thread writes the queue in batches. A write
failure is logged once and never reaches the caller; the rows stay queued
(up to a limit) and are retried later.

"Today" and the per-day figures use the local calendar day (or the ``tz``
given to the ledger).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as _dt
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .api.jsonbody import clean_text
from .lazy import LazyModule
from .models import cost_usd, is_peak, table
from .usage import UsageKind, UsageTotals

if TYPE_CHECKING:
    import sqlite3
else:
    sqlite3 = LazyModule("sqlite3")  # at the first write or read, not at start-up

log = logging.getLogger(__name__)

ENV_DATA_DIR = "DEEPSEEK_LS_DATA_DIR"
FILENAME = "ledger.sqlite3"
KINDS: tuple[UsageKind, ...] = ("fim", "chat", "action")

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,            -- unix time (seconds, UTC) the answer arrived
    model TEXT NOT NULL,
    kind TEXT NOT NULL,          -- fim | chat | action
    hit INTEGER NOT NULL,        -- prompt tokens served from the cache
    miss INTEGER NOT NULL,       -- prompt tokens not in the cache
    out INTEGER NOT NULL,        -- output tokens (reasoning included)
    cost REAL NOT NULL,          -- USD
    peak INTEGER NOT NULL,       -- 1 when billed at peak prices
    prices TEXT NOT NULL,        -- date of the price table the cost was computed with
                                 -- ("settings": a fallback's own prices; "unknown": none, cost 0)
    endpoint TEXT NOT NULL DEFAULT 'deepseek'  -- which endpoint answered
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
"""
#: The column added after the first release (see :func:`_migrate`).
MIGRATION = "ALTER TABLE requests ADD COLUMN endpoint TEXT NOT NULL DEFAULT 'deepseek'"
PRIMARY_ENDPOINT = "deepseek"
UNKNOWN_PRICES = "unknown"
INSERT = ("INSERT INTO requests (ts, model, kind, hit, miss, out, cost, peak, prices, endpoint) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
SUMS = ("SELECT COUNT(*), COALESCE(SUM(hit), 0), COALESCE(SUM(miss), 0), COALESCE(SUM(out), 0), "
        "COALESCE(SUM(cost), 0.0) FROM requests")


def data_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """The folder of the ledger: ``$DEEPSEEK_LS_DATA_DIR`` or the user data dir."""
    environ = os.environ if environ is None else environ
    override = (environ.get(ENV_DATA_DIR) or "").strip()
    if override:
        return Path(override).expanduser()
    try:
        import platformdirs

        return Path(platformdirs.user_data_dir("deepseek-ls", appauthor=False))
    except Exception:  # noqa: BLE001  no home directory, exotic platform: the ledger is optional, never a failed start
        log.warning("no user data directory; the usage ledger is off (set %s)", ENV_DATA_DIR)
        return None


def ledger_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the ledger file is (None: nowhere to keep it)."""
    folder = data_dir(environ)
    return folder / FILENAME if folder else None


@dataclass(frozen=True)
class Row:
    """One request."""

    ts: float
    model: str
    kind: UsageKind
    hit: int
    miss: int
    out: int
    cost: float
    peak: bool
    prices: str
    endpoint: str = PRIMARY_ENDPOINT

    def values(self) -> tuple[Any, ...]:
        return (self.ts, self.model, self.kind, self.hit, self.miss, self.out, self.cost,
                int(self.peak), self.prices, self.endpoint)


def make_row(model: str, hit: int, miss: int, out: int, kind: UsageKind = "fim",
             when: _dt.datetime | None = None, *, endpoint: str = PRIMARY_ENDPOINT,
             cost: float | None = None) -> Row:
    """A row priced at the table in force (peak or off-peak at ``when``).

    A fallback ``endpoint``'s row carries the ``cost`` computed at its own
    prices, or (``cost`` None) cost 0 with prices ``unknown``.
    """
    when = when or _dt.datetime.now(_dt.UTC)
    if when.tzinfo is None:
        when = when.astimezone()
    # a lone surrogate (from a setting or an answer) would make SQLite refuse the whole batch
    endpoint, model = clean_text(str(endpoint or PRIMARY_ENDPOINT)), clean_text(str(model))
    if endpoint == PRIMARY_ENDPOINT:
        price, prices = cost_usd(model, hit, miss, out, when), str(table().get("asOf", ""))
    elif cost is None:
        price, prices = 0.0, UNKNOWN_PRICES
    else:
        price, prices = float(cost), "settings"
    return Row(ts=when.timestamp(), model=str(model), kind=kind if kind in KINDS else "fim",
               hit=int(hit), miss=int(miss), out=int(out), cost=price,
               peak=is_peak(when) if endpoint == PRIMARY_ENDPOINT else False, prices=prices,
               endpoint=endpoint)


def _totals(count: int, hit: int, miss: int, out: int, cost: float) -> UsageTotals:
    return UsageTotals(requests=int(count), hit_tokens=int(hit), miss_tokens=int(miss),
                       completion_tokens=int(out), cost_usd=float(cost))


def _add(totals: UsageTotals, row: Row) -> None:
    totals.requests += 1
    totals.hit_tokens += row.hit
    totals.miss_tokens += row.miss
    totals.completion_tokens += row.out
    totals.cost_usd += row.cost


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the ``endpoint`` column to a ledger written before it existed.

    Safe when two servers open the same old file at once: the loser of the
    race sees "duplicate column" and finds the column there.
    """
    columns = {row[1] for row in conn.execute("PRAGMA table_info(requests)")}
    if "endpoint" in columns:
        return
    try:
        conn.execute(MIGRATION)
    except sqlite3.OperationalError as exc:
        if "duplicate column" not in str(exc).lower():
            raise


def _connect(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """Open (and create) the database in WAL mode with a busy timeout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=busy_timeout_ms / 1000, isolation_level=None,
                           check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(SCHEMA)
        _migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


class Ledger:
    """The usage ledger of one process (thread-safe; ``record`` never blocks on disk)."""

    def __init__(self, path: Path | str | None, *, tz: _dt.tzinfo | None = None,
                 flush_delay_s: float = 1.0, busy_timeout_ms: int = 5000,
                 max_pending: int = 10_000, retry_s: float = 5.0) -> None:
        self.path = Path(path) if path is not None else None
        self.tz = tz
        self.flush_delay_s = flush_delay_s
        self.busy_timeout_ms = busy_timeout_ms
        self.max_pending = max_pending
        self.retry_s = retry_s
        self._lock = threading.Lock()          # guards the queues and the snapshot (never held over I/O)
        self._write_lock = threading.Lock()    # one writer at a time (thread or flush())
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pending: list[Row] = []
        self._inflight: list[Row] = []
        self._snapshot: tuple[_dt.date, UsageTotals] | None = None
        self._snapshot_at = 0.0
        self._want_refresh = False
        self._conn: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        self._warned = False
        #: the last write or read failure (``"cannot write the usage ledger PATH: why"``), None once one works
        self.problem: str | None = None
        #: called (from any thread) when a write or read fails, e.g. to show it in the status
        self.on_problem: Callable[[], None] | None = None
        self._dropped = 0
        self._closed = False

    @property
    def enabled(self) -> bool:
        return self.path is not None

    # -- days ------------------------------------------------------------
    def day_of(self, ts: float) -> _dt.date:
        """The calendar day of a unix time in this ledger's time zone."""
        return _dt.datetime.fromtimestamp(ts, self.tz).date()

    def day_start(self, day: _dt.date) -> float:
        """Unix time of midnight starting ``day``."""
        midnight = _dt.datetime.combine(day, _dt.time())
        if self.tz is None:
            return midnight.astimezone().timestamp()
        return midnight.replace(tzinfo=self.tz).timestamp()

    def today_date(self, now: float | None = None) -> _dt.date:
        return self.day_of(time.time() if now is None else now)

    # -- writing (hot path) ------------------------------------------------
    def record(self, model: str, hit: int, miss: int, out: int, kind: UsageKind = "fim",
               when: _dt.datetime | None = None, *, endpoint: str = PRIMARY_ENDPOINT,
               cost: float | None = None) -> Row | None:
        """Queue one request's usage; returns the row (None when the ledger is off).

        ``endpoint`` names who answered (see :func:`make_row` for a fallback's ``cost``).
        """
        try:
            row = make_row(model, hit, miss, out, kind, when, endpoint=endpoint, cost=cost)
        except Exception as exc:  # noqa: BLE001  never let bookkeeping break a completion
            self._failed("cannot price a row", exc)
            return None
        self.add(row)
        return row

    def add(self, row: Row) -> None:
        """Queue a ready row (after :meth:`close`, write it at once: a request
        that ended while the server was stopping is still billed)."""
        if not self.enabled:
            return
        if self._closed:
            with self._lock:
                self._pending.append(row)
            self.flush(refresh=False)
            with self._write_lock:
                self._reset_connection()
            return
        with self._lock:
            self._pending.append(row)
            self._trim_locked()
        self._ensure_thread()
        self._wake.set()

    def _trim_locked(self) -> None:
        extra = len(self._pending) - self.max_pending
        if extra > 0:
            del self._pending[:extra]
            self._dropped += extra

    def today(self) -> UsageTotals:
        """Today's totals of every process (last read from disk) plus this one's queued rows.

        Never touches the disk: the background thread refreshes the figures
        after each write (and when they are older than a minute).
        """
        now = time.time()
        day = self.today_date(now)
        with self._lock:
            snapshot = self._snapshot
            rows = [*self._inflight, *self._pending]
            if snapshot is None or now - self._snapshot_at > 60:
                self._want_refresh = True
        totals = UsageTotals()
        if snapshot is not None and snapshot[0] == day:
            base = snapshot[1]
            totals = _totals(base.requests, base.hit_tokens, base.miss_tokens,
                             base.completion_tokens, base.cost_usd)
        for row in rows:
            if self.day_of(row.ts) == day:
                _add(totals, row)
        if self.enabled and not self._closed and self._want_refresh:
            self._ensure_thread()
            self._wake.set()
        return totals

    # -- background thread -------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is not None or self._closed or not self.enabled:
            return
        with self._lock:
            if self._thread is None:  # not started by another thread meanwhile
                self._thread = threading.Thread(target=self._run, name="deepseek-ls-ledger", daemon=True)
                self._thread.start()
                atexit.register(self.close)

    def _run(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.is_set():
                break
            if backoff:
                self._stop.wait(backoff)
            elif self.flush_delay_s:
                self._stop.wait(self.flush_delay_s)  # gather a batch
            if self._stop.is_set():
                break
            self._wake.clear()
            ok = self.flush(refresh=True)
            if ok:
                backoff = 0.0
            else:
                backoff = min(max(backoff * 2, self.retry_s), 60.0)
                self._wake.set()  # try again after the back-off

    def flush(self, refresh: bool = True) -> bool:
        """Write every queued row now (blocking; for the thread, shutdown and tests).

        Returns False when the write failed (the rows stay queued).
        """
        if not self.enabled:
            return True
        with self._write_lock:
            with self._lock:
                batch = self._pending
                self._pending = []
                self._inflight = batch
                want_refresh = refresh and (bool(batch) or self._want_refresh)
            try:
                conn = self._connection()
                if batch:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        conn.executemany(INSERT, [row.values() for row in batch])
                        conn.execute("COMMIT")
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
            except Exception as exc:  # noqa: BLE001  the writer thread never dies: any failure requeues the rows
                self._reset_connection()
                with self._lock:
                    self._pending = batch + self._pending
                    self._inflight = []
                    self._trim_locked()
                self._failed("cannot write the usage ledger", exc)
                return False
            if batch:
                self.problem = None
            snapshot = None
            if want_refresh:
                try:
                    day = self.today_date()
                    snapshot = (day, self._sum(conn, self.day_start(day), self.day_start(day + _dt.timedelta(days=1))))
                    self.problem = None
                except Exception as exc:  # noqa: BLE001  as above: the totals stay the last good ones
                    self._reset_connection()
                    self._failed("cannot read the usage ledger", exc)
            with self._lock:
                self._inflight = []
                if snapshot is not None:
                    self._snapshot = snapshot
                    self._snapshot_at = time.time()
                    self._want_refresh = False
            return True

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            assert self.path is not None
            self._conn = _connect(self.path, self.busy_timeout_ms)
        return self._conn

    def _reset_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):  # closing a broken connection
                conn.close()

    @property
    def unwritten(self) -> int:
        """Rows queued but not (yet) in the file: after :meth:`close`, rows that were lost."""
        with self._lock:
            return len(self._pending) + len(self._inflight)

    def _failed(self, what: str, exc: BaseException) -> None:
        self.problem = f"{what} {self.path} ({exc})"
        if self.on_problem is not None:
            try:
                self.on_problem()
            except Exception:  # never let the report break bookkeeping
                log.debug("ledger problem callback failed", exc_info=True)
        if not self._warned:
            self._warned = True
            log.warning("%s %s: %s: %s (completions go on; will retry, further errors at debug level)",
                        what, self.path, type(exc).__name__, exc)
        else:
            log.debug("%s %s: %s: %s", what, self.path, type(exc).__name__, exc)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the thread and write what is queued (call on shutdown)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)  # does nothing when not registered
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
        if self._pending:
            self.flush(refresh=False)
        if self._pending and not self._warned:
            count = len(self._pending)
            log.warning("usage ledger: %d row%s could not be written", count, "" if count == 1 else "s")
        with self._write_lock:
            self._reset_connection()

    # -- reading (CLI, tests) ----------------------------------------------
    def _sum(self, conn: sqlite3.Connection, start: float, end: float,
             model: str | None = None) -> UsageTotals:
        sql = SUMS + " WHERE ts >= ? AND ts < ?"
        args: list[float | str] = [start, end]
        if model is not None:
            sql += " AND model = ?"
            args.append(model)
        return _totals(*conn.execute(sql, args).fetchone())

    def _reader(self) -> sqlite3.Connection | None:
        """A connection for reading, or None when there is no ledger file yet."""
        if self.path is None or not self.path.exists():
            return None
        return _connect(self.path, self.busy_timeout_ms)

    def totals(self, start: float, end: float) -> UsageTotals:
        """Totals of the rows with ``start <= ts < end`` (written rows only)."""
        conn = self._reader()
        if conn is None:
            return UsageTotals()
        try:
            return self._sum(conn, start, end)
        finally:
            conn.close()

    def count(self) -> int:
        """Rows in the file."""
        conn = self._reader()
        if conn is None:
            return 0
        try:
            return int(conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0])
        finally:
            conn.close()

    def rows(self, start: float | None = None, end: float | None = None) -> list[Row]:
        """The written rows in a time range, oldest first."""
        conn = self._reader()
        if conn is None:
            return []
        try:
            cur = conn.execute(
                "SELECT ts, model, kind, hit, miss, out, cost, peak, prices, endpoint FROM requests "
                "WHERE ts >= ? AND ts < ? ORDER BY ts, id",
                (start if start is not None else float("-inf"), end if end is not None else float("inf")))
            return [Row(ts, model, kind, hit, miss, out, cost, bool(peak), prices, endpoint)
                    for ts, model, kind, hit, miss, out, cost, peak, prices, endpoint in cur]
        finally:
            conn.close()

    def report(self, days: int = 7, now: float | None = None) -> dict[str, Any]:
        """Today, the last ``days`` days (today included), per day and per model."""
        now = time.time() if now is None else now
        today = self.today_date(now)
        first = today - _dt.timedelta(days=max(1, days) - 1)
        start, end = self.day_start(first), self.day_start(today + _dt.timedelta(days=1))
        per_day: dict[_dt.date, UsageTotals] = {first + _dt.timedelta(days=i): UsageTotals()
                                                 for i in range(max(1, days))}
        per_model: dict[str, UsageTotals] = {}
        per_kind: dict[str, UsageTotals] = {}
        per_endpoint: dict[str, UsageTotals] = {}
        unpriced: set[str] = set()
        total = UsageTotals()
        for row in self.rows(start, end):
            day = self.day_of(row.ts)
            if day not in per_day:  # a DST edge; keep it in range anyway
                continue
            for bucket in (per_day[day], per_model.setdefault(row.model, UsageTotals()),
                           per_kind.setdefault(row.kind, UsageTotals()),
                           per_endpoint.setdefault(row.endpoint, UsageTotals()), total):
                _add(bucket, row)
            if row.prices == UNKNOWN_PRICES:
                unpriced.add(row.endpoint)
        return {
            "ledger": str(self.path) if self.path else None,
            "pricesAsOf": table().get("asOf"),
            "today": {"date": today.isoformat(), **per_day[today].to_json()},
            "days": max(1, days),
            "total": total.to_json(),
            "perDay": [{"date": d.isoformat(), **t.to_json()} for d, t in sorted(per_day.items(), reverse=True)],
            "perModel": [{"model": m, **t.to_json()}
                         for m, t in sorted(per_model.items(), key=lambda kv: -kv[1].cost_usd)],
            "perKind": [{"kind": k, **t.to_json()} for k, t in sorted(per_kind.items())],
            # failover: who answered (primary or a fallback); "costKnown" false when some rows had no prices
            "perEndpoint": [{"endpoint": e, **t.to_json(), "costKnown": e not in unpriced}
                            for e, t in sorted(per_endpoint.items(),
                                               key=lambda kv: (kv[0] != PRIMARY_ENDPOINT, kv[0]))],
        }


def peak_hours_text() -> str:
    """The peak hours of the price table, e.g. ``01–04, 06–10 UTC Mon–Fri``."""
    peak = table().get("peakHoursUtc") or {}
    hours = sorted(peak.get("hours") or [])
    spans: list[list[int]] = []
    for h in hours:
        if spans and spans[-1][1] == h:
            spans[-1][1] = h + 1
        else:
            spans.append([h, h + 1])
    names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    days = sorted(peak.get("weekdays") or [])
    if days and days == list(range(days[0], days[-1] + 1)):
        day_text = f"{names[days[0]]}–{names[days[-1]]}" if len(days) > 1 else names[days[0]]
    else:
        day_text = ",".join(names[d] for d in days)
    return ", ".join(f"{a:02d}–{b:02d}" for a, b in spans) + f" UTC {day_text}"


def open_default(environ: Mapping[str, str] | None = None, **kwargs: Any) -> Ledger:
    """The ledger at the default place (a disabled one when there is none)."""
    return Ledger(ledger_path(environ), **kwargs)


def ledger_problem(path: str | os.PathLike[str]) -> tuple[str, str] | None:
    """Why the ledger at ``path`` cannot be used, and what to do; None when it can.

    Tells a damaged file (move it away) from a folder that cannot be written
    (as ``stats``, ``doctor``, ``complete`` and the server's status say it).
    """
    path = Path(path)
    if path.is_file():
        conn = None
        try:
            conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
            conn.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:
            if "locked" not in str(exc) and "unable to open" not in str(exc):
                return (f"{path} is damaged or not a usage ledger ({exc})",
                        f"Move it away, e.g. mv '{path}' '{path}.broken' (a new ledger is created at the "
                        "next request; the old figures stay in the moved file), or set "
                        f"{ENV_DATA_DIR} to another folder.")
        finally:
            if conn is not None:
                conn.close()
    folder = path.parent
    if path.exists() and not path.is_file():
        return (f"{path} is not a file", f"Remove or rename it, or set {ENV_DATA_DIR} to another folder.")
    if folder.exists() and not folder.is_dir():
        return (f"{folder} is not a folder", f"Remove or rename it, or set {ENV_DATA_DIR} to another folder.")
    return None


__all__ = [
    "ENV_DATA_DIR",
    "Ledger",
    "Row",
    "data_dir",
    "ledger_path",
    "ledger_problem",
    "make_row",
    "open_default",
    "peak_hours_text",
]
