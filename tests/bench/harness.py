"""Runtime parts: the fake as a subprocess, a small JSON-RPC stdio LSP driver,
and the editor simulator with the simulated user (tests/bench/README.md).

The fake runs in its own process (its pure-Python tokenizer must not steal
the harness' GIL), the server in its own; the harness is one asyncio loop
that records ``time.monotonic_ns()`` for every message it sends and reads.
"""
from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.fake_deepseek.closers import consume, cursor_quote, leading_pending, open_at_end, parse_pending

from .editor_model import TAB, Edit, EditorModel, to_eol
from .naive import NaiveClient, naive_body
from .workload import Region, Unit

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROOT_URI = "file:///work/bench"
Session = tuple[list[list[int]], list[tuple[int, int]]]     # (files, segments): Workload.session
ACCEPT_REACTION_MS = 150.0


# ---------------------------------------------------------------- the fake

@dataclass
class FakeConfig:
    cache_mode: str = "v4"
    base_ms: float = 250.0
    ms_per_token: float = 8.0
    jitter: float = 0.0
    fixed: bool = False
    persist_delay_s: float = 2.0
    unit: int = 128
    withhold_last: bool = True
    p_wrong: float = 0.3
    seed: int = 1
    noise: str = "off"          # model-noise mix (tests/fake_deepseek/noise.py)

    def describe(self, tokenizer: str) -> dict[str, Any]:
        return {"base_ms": self.base_ms, "ms_per_output_token": 0 if self.fixed else self.ms_per_token,
                "jitter_sigma": 0 if self.fixed else self.jitter, "fixed": self.fixed,
                "cache_mode": self.cache_mode, "unit": self.unit, "withhold_last": self.withhold_last,
                "persist_delay_s": self.persist_delay_s, "p_wrong": self.p_wrong, "noise": self.noise,
                "tokenizer": tokenizer}


class FakeProc:
    """``python -m tests.fake_deepseek`` in a subprocess, driven through /__fake__/*."""

    def __init__(self, cfg: FakeConfig, keys: list[str], log_path: str, cwd: str = REPO) -> None:
        cmd = [sys.executable, "-m", "tests.fake_deepseek", "--port", "0", "--profile", "v4",
               "--cache-mode", cfg.cache_mode, "--persist-delay", str(cfg.persist_delay_s),
               "--unit", str(cfg.unit), "--latency-ms", str(cfg.base_ms),
               "--ms-per-token", str(cfg.ms_per_token), "--jitter-sigma", str(cfg.jitter),
               "--p-wrong", str(cfg.p_wrong), "--seed", str(cfg.seed), "--noise", cfg.noise]
        if cfg.fixed:
            cmd.append("--fixed")
        if not cfg.withhold_last:
            cmd.append("--no-withhold-last-block")
        for k in keys:
            cmd += ["--key", k]
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=self.log, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"fake did not start: {line!r} (see {log_path})")
        self.base_url = line.split("listening on", 1)[1].strip()
        self.tokenizer = "?"

    def call(self, path: str, body: Any = None, timeout: float = 120) -> Any:
        data = json.dumps(body).encode() if body is not None else b"{}"
        req = urllib.request.Request(self.base_url + path, data=data, method="POST",
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def register_truth(self, text: str, regions: list[tuple[int, int]]) -> None:
        self.call("/__fake__/truth", {"text": text, "regions": [list(r) for r in regions]})

    def fim_records(self, key: str) -> list[dict[str, Any]]:
        out = []
        for r in self.call("/__fake__/requests"):
            if r.get("path") == "/beta/completions" and r.get("key") == key:
                r.pop("raw_body", None)
                out.append(r)
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def tokenizer_label(log_path: str) -> str:
    try:
        with open(log_path) as f:
            for line in f:
                if line.startswith("tokenizer:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


# ---------------------------------------------------------------- LSP over stdio

class LspClient:
    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self._next = 0
        self.handlers: dict[int, Any] = {}
        self.messages: list[tuple[str, Any]] = []   # showMessage etc.
        self._reader_task: asyncio.Task[None] | None = None

    async def start(self, env: dict[str, str], stderr_path: str, cmd: list[str] | None = None,
                    cwd: str = REPO) -> None:
        self._stderr = open(stderr_path, "w")
        self.proc = await asyncio.create_subprocess_exec(
            *(cmd or [sys.executable, "-m", "deepseek_ls"]), cwd=cwd, env=env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=self._stderr, limit=1 << 24)
        self._reader_task = asyncio.ensure_future(self._read())

    def next_id(self) -> int:
        self._next += 1
        return self._next

    @staticmethod
    def frame(msg: dict[str, Any]) -> bytes:
        body = json.dumps(msg, separators=(",", ":")).encode("utf-8")
        return b"Content-Length: %d\r\n\r\n" % len(body) + body

    def send(self, msgs: list[dict[str, Any]]) -> int:
        data = b"".join(self.frame(m) for m in msgs)
        t = time.monotonic_ns()
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(data)
        return t

    async def request(self, method: str, params: Any, timeout: float = 30) -> Any:
        rid = self.next_id()
        fut = asyncio.get_running_loop().create_future()
        def done(t: int, msg: dict[str, Any]) -> None:
            if not fut.done():
                fut.set_result(msg)
        self.handlers[rid] = done
        self.send([{"jsonrpc": "2.0", "id": rid, "method": method, "params": params}])
        msg = await asyncio.wait_for(fut, timeout)
        if "error" in msg:
            raise RuntimeError(f"{method}: {msg['error']}")
        return msg.get("result")

    def notify(self, method: str, params: Any) -> int:
        return self.send([{"jsonrpc": "2.0", "method": method, "params": params}])

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        out = self.proc.stdout
        while True:
            try:
                head = await out.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            n = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":", 1)[1])
            body = await out.readexactly(n)
            t = time.monotonic_ns()
            msg = json.loads(body)
            if "method" not in msg:
                h = self.handlers.pop(msg.get("id"), None)
                if h is not None:
                    h(t, msg)
            elif "id" in msg:   # a request from the server: answer null
                result: Any = None
                if msg["method"] == "workspace/configuration":
                    result = [None for _ in msg.get("params", {}).get("items", [])]
                self.send([{"jsonrpc": "2.0", "id": msg["id"], "result": result}])
            elif msg["method"] in ("window/showMessage", "window/logMessage"):
                self.messages.append((msg["method"], msg.get("params")))

    async def stop(self) -> None:
        assert self.proc is not None
        try:
            await self.request("shutdown", None, timeout=10)
            self.notify("exit", None)
            await asyncio.wait_for(self.proc.wait(), 10)
        except Exception:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        if self._reader_task:
            self._reader_task.cancel()
        self._stderr.close()


def proc_cpu(pid: int) -> tuple[float, int]:
    """(user+sys CPU seconds, peak RSS kB) of a live process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        ticks = int(parts[11]) + int(parts[12])
        hwm = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
        return ticks / os.sysconf("SC_CLK_TCK"), hwm
    except OSError:
        return 0.0, 0


# ---------------------------------------------------------------- editor + user

def utf16_position(text: str, offset: int) -> dict[str, Any]:
    """LSP position (UTF-16 code units) of ``offset``; ``\r\n`` counts as one line break."""
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    seg = text[start:offset]
    ch = len(seg) if seg.isascii() else len(seg.encode("utf-16-le")) // 2
    return {"line": line, "character": ch}


def offset_of(text: str, pos: dict[str, Any]) -> int:
    """Offset of an LSP position (UTF-16) in ``text``; past the end of a line (or of the document)
    clamps to it, as LSP says.  Line breaks: ``\n`` and ``\r\n``."""
    i = 0
    for _ in range(int(pos.get("line", 0))):
        j = text.find("\n", i)
        if j < 0:
            return len(text)
        i = j + 1
    le = text.find("\n", i)
    le = len(text) if le < 0 else le
    if le > i and text[le - 1] == "\r":
        le -= 1
    n, k, want = 0, i, int(pos.get("character", 0))
    while k < le and n < want:
        n += 2 if ord(text[k]) > 0xFFFF else 1
        k += 1
    return k


def meant_after_accept(truth: str, start: int, end: int, pos: int, doc: str, p_text: str) -> str:
    """The document the typist meant after accepting ``p_text`` at region offset ``pos``.

    ``truth``/``start``/``end``: the file and the region being typed; ``doc``: the document before
    the accept, which is ``truth[:start+pos] + X + truth[end:]`` with ``X`` the closers the editor
    put after the cursor.  Meant: ``truth[:start+pos] + p_text + consume(X, p_text) + truth[end:]``
    (the closers ``p_text`` closes are typed over, with their line break if they sat on their own
    line; see tests/fake_deepseek/closers.py)."""
    rest = truth[end:]
    a = start + pos
    x = doc[a:len(doc) - len(rest)] if len(doc) - len(rest) >= a else ""
    left = consume(x, p_text, cursor_quote(truth[truth.rfind("\n", 0, a) + 1:a]))
    return truth[:a] + p_text + (x if left is None else left) + rest


def mispaired(truth: str, start: int, end: int, pos: int, doc: str, p_text: str) -> bool:
    """True when, after accepting ``p_text``, a closer the editor had put after the cursor (and that
    is still there, on the same line) would close a bracket or string ``p_text`` opened itself:
    ``print(|)`` + ``format_greeting(user.name`` reads ``print(format_greeting(user.name)``, one
    ``)`` short.  The document may equal the meant text up to the cursor, but the line the typist
    sees is wrong: not a clean accept."""
    rest = truth[end:]
    a = start + pos
    x = doc[a:len(doc) - len(rest)] if len(doc) - len(rest) >= a else ""
    left = consume(x, p_text, cursor_quote(truth[truth.rfind("\n", 0, a) + 1:a]))
    if not left:
        return False
    segs = parse_pending(left)
    if not segs or segs[0][0]:
        return False
    # brackets (and strings) read in context: the cursor's line up to the cursor, so that brackets
    # inside a string literal the cursor is in are text, not brackets
    ctx = truth[truth.rfind("\n", 0, a) + 1:a]
    base = open_at_end(ctx)
    own = open_at_end(ctx + p_text)
    return len(own) > len(base) and own[:len(base)] == base


def split_accepted(t_eff: str, region_rest: str, after: str) -> int:
    """Length of the part of the suggestion ``t_eff`` the typist meant: the longest k such that
    ``t_eff[:k]`` is a prefix of the rest of the region and ``t_eff[k:]`` repeats the text right
    after the cursor (``after``; the typist cannot tell that tail from what is already there).
    0 if there is none.  Never splits a ``\r\n``."""
    n = 0
    lim = min(len(t_eff), len(region_rest))
    while n < lim and t_eff[n] == region_rest[n]:
        n += 1
    for k in range(n, 0, -1):
        if t_eff[k - 1] == "\r" and t_eff[k:k + 1] == "\n":
            continue
        if after.startswith(t_eff[k:]):
            return k
    return 0


@dataclass
class Ghost:
    version: int
    text: str
    shown_ns: int
    sid: str
    req: Any
    range: dict[str, Any] | None = None


@dataclass
class Key:
    i: int
    region: int
    kind: str            # ins | nl | bs | accept | mv (cursor move) | fix (typist repairs the document)
    text: str
    version: int
    plan_ns: int
    send_ns: int = 0
    req: Any = None      # LSP request id / naive tag
    gap_after_ms: float | None = None
    truth_chars: int = 0     # region characters this key completed (typing)
    accepted_chars: int = 0
    through: bool = False    # typed a character of the ghost text on screen
    start: int = 0           # the edit: replace doc[start:end] by new, cursor after it
    end: int = 0
    new: str = ""
    cursor: int = 0
    clean: bool | None = None    # accepts: the document equals the meant text afterwards
    dirty: str = ""              # accepts that were not clean: where the document differs


@dataclass
class Req:
    id: Any
    key: int
    version: int
    send_ns: int
    recv_ns: int | None = None
    nonempty: bool = False
    text: str = ""
    sid: str | None = None
    error: str | None = None
    shown: bool = False
    range: dict[str, Any] | None = None
    doc: int = 0         # the document (file index) it was asked for: answers for another file are not shown


@dataclass
class PlayState:
    """Where the typist is in one region's schedule (resumable after a visit to another file)."""
    ui: int = 0                      # next unit
    pos: int = 0                     # region offset typed so far
    partial: Unit | None = None      # the rest of a unit an acceptance covered in part


@dataclass
class DocState:
    """One file of a session: its region chain and, while another file has the focus, its document."""
    regions: list[int]
    k: int = 0                       # current region of the chain
    st: PlayState = field(default_factory=PlayState)
    opened: bool = False
    text: str = ""
    cursor: int = 0
    version: int = 0
    model: EditorModel | None = None
    eol: str = "\n"


@dataclass
class ArmResult:
    name: str
    keys: list[Key] = field(default_factory=list)
    reqs: dict[Any, Req] = field(default_factory=dict)
    accepts: int = 0
    lateness_ms: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    rss_kb: int = 0
    trace: list[dict[str, Any]] = field(default_factory=list)
    fake: list[dict[str, Any]] = field(default_factory=list)
    messages: list[Any] = field(default_factory=list)
    wall_s: float = 0.0


def _diff_span(a: str, b: str) -> tuple[int, int, int]:
    """(i, ja, jb): a[i:ja] differs from b[i:jb], the rest is common."""
    i = 0
    n = min(len(a), len(b))
    while i < n and a[i] == b[i]:
        i += 1
    ja, jb = len(a), len(b)
    while ja > i and jb > i and a[ja - 1] == b[jb - 1]:
        ja -= 1
        jb -= 1
    return i, ja, jb


def describe_diff(doc: str, meant: str) -> str:
    i, ja, jb = _diff_span(doc, meant)
    line = meant.count("\n", 0, i)
    return f"line {line}: document {doc[max(0, i - 20):ja + 10]!r} / meant {meant[max(0, i - 20):jb + 10]!r}"


class Editor:
    """Plays a schedule into a backend, shows ghost text, runs acceptance policy A.

    ``editors`` (per region: (flavour or None, line ending)): with a flavour, keystrokes go
    through the editor model (tests/bench/editor_model.py) and the typist adapts to it (does not
    type indentation the editor inserted, deletes what is wrong, moves over a closer line the
    editor split off); None is the ideal editor of the original replay."""

    def __init__(self, name: str, regions: list[Region], schedules: list[list[Unit]], settle_s: float = 2.0,
                 policy: str = "A", budget: int | None = None,
                 editors: list[tuple[str | None, str]] | None = None, region_budget: int | None = None,
                 seed: int = 1) -> None:
        self.res = ArmResult(name)
        self.budget = budget
        self.region_budget = region_budget
        self.regions = regions
        self.schedules = schedules
        self.editors = editors or [(None, "\n")] * len(regions)
        self.settle_s = settle_s
        self.policy = policy
        self.seed = seed
        self.ghost: Ghost | None = None
        self.version = 0
        self.text = ""
        self.cursor = 0
        self.uri = ""
        self.model: EditorModel | None = None
        self.eol = "\n"
        self.t_plan = 0
        self.doc_id = 0
        self.kidx = 0
        self.file_of: list[int] | None = None   # session: region index -> file index
        self.lead = 0                   # session: regions before this are typed one file after another
        self.switch_ms = 3000.0         # session: median pause to switch files (log-normal, sigma 0.5)
        self.next_region_ms = 2500.0    # session: median pause before the file's next function

    # backend hooks ---------------------------------------------------
    async def open(self, region: Region) -> None: ...
    async def close(self) -> None: ...
    async def focus(self, region: Region) -> None:
        """The editor shows this (already open) file again: no LSP message, only the URI changes."""
        await self.open(region)
    def edit(self, key: Key, e: Edit, accept_sid: str | None = None) -> None: ...

    # ghost -----------------------------------------------------------
    def on_result(self, req: Req, t: int, text: str | None, sid: str | None, rng: dict[str, Any] | None = None) -> None:
        req.recv_ns = t
        if text:
            req.nonempty = True
            req.text = text
            req.sid = sid
            req.range = rng
            if req.version == self.version and req.doc == self.doc_id:
                req.shown = True
                self.ghost = Ghost(req.version, text, t, sid or f"n{req.id}", req.id, rng)

    def _acceptable(self, now: int, region: Region, pos: int) -> tuple[Edit, int, str] | None:
        """(the accept edit, meant characters, suggested text from the cursor) or None."""
        g = self.ghost
        if g is None or g.version != self.version:
            return None
        if (now - g.shown_ns) / 1e6 < ACCEPT_REACTION_MS:
            return None
        ins = to_eol(g.text, self.eol) if self.model is not None else g.text
        cur = self.cursor
        r0 = r1 = cur
        if g.range:
            r0, r1 = offset_of(self.text, g.range["start"]), offset_of(self.text, g.range["end"])
            if not r0 <= cur <= r1:
                return None
        if not ins.startswith(self.text[r0:cur]):
            return None          # VS Code does not show it as ghost text
        t_eff = ins[cur - r0:]
        region_rest = region.truth[region.start + pos:region.end]
        if self.policy == "B":   # longest prefix that matches, cut at a word boundary
            n = 0
            while n < len(t_eff) and n < len(region_rest) and t_eff[n] == region_rest[n]:
                n += 1
            if n < len(t_eff):
                while n > 0 and (t_eff[n - 1].isalnum() or t_eff[n - 1] == "_"):
                    n -= 1
            t_eff = t_eff[:n]
            if len(t_eff.strip()) < 3:
                return None
            return Edit(cur, cur, t_eff, cur + len(t_eff), "accept"), n, t_eff
        k = split_accepted(t_eff, region_rest, self.text[r1:] if r1 > cur else self.text[cur:])
        if k == 0 or len(t_eff[:k].strip()) < 3:
            return None
        return Edit(r0, r1, ins, r0 + len(ins), "accept"), k, t_eff

    # timing ----------------------------------------------------------
    async def _wait(self, gap: float) -> int:
        self.t_plan += int(gap * 1e6)
        delay = (self.t_plan - time.monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        now = time.monotonic_ns()
        self.res.lateness_ms.append((now - self.t_plan) / 1e6)
        if self.res.keys:
            self.res.keys[-1].gap_after_ms = gap
        return now

    def _iki(self, n: int) -> float:
        r = random.Random(self.seed * 1_000_003 + n)
        return math.exp(r.gauss(5.376, 0.445))

    # the typist ------------------------------------------------------
    def _indent_to(self, target: str) -> Iterator[Edit]:
        for _ in range(64):
            ls = self.text.rfind("\n", 0, self.cursor) + 1
            cur_ws = self.text[ls:self.cursor]
            if cur_ws.strip(" \t") or cur_ws == target:
                return
            if len(cur_ws) > len(target) or not target.startswith(cur_ws):
                assert self.model is not None
                yield self.model.backspace(self.text, self.cursor)
            else:
                col = len(cur_ws)
                nxt = (col // TAB + 1) * TAB
                n = nxt - col if nxt <= len(target) else 1
                c = self.cursor
                yield Edit(c, c, target[col:col + n], c + n, "ins")

    def _typist(self, kind: str, s: str) -> Iterator[Edit]:
        """The edits (one per keystroke, computed on the current document) that type ``s``."""
        c = self.cursor
        m = self.model
        if m is None:
            if kind == "bs":
                yield Edit(c - 1, c, "", c - 1, "bs")
            else:
                yield Edit(c, c, s, c + len(s), "nl" if s.startswith(("\n", "\r\n")) else "ins")
            return
        if kind == "bs":
            yield m.backspace(self.text, c)
            return
        if s.startswith(("\n", "\r\n")):
            segs = leading_pending(self.text[c:])
            if segs and segs[0][0] and segs[0][0] == s:      # the editor split this line off already
                yield Edit(c, c, "", c + len(s), "mv")
                return
            target = s[2:] if s.startswith("\r\n") else s[1:]
            yield m.enter(self.text, self.cursor)
            yield from self._indent_to(target)
            return
        ls = self.text.rfind("\n", 0, c) + 1
        if not s.strip(" \t") and not self.text[ls:c].strip(" \t"):
            yield from self._indent_to(self.text[ls:c] + s)
            return
        for ch in s:
            yield m.type_char(self.text, self.cursor, ch)

    def _resync(self, region: Region, pos: int) -> Edit | None:
        """A repair edit when the document is not ``truth[:start+pos] + closers + truth[end:]`` with
        the cursor at ``start+pos`` (what the typist would fix before going on), else None."""
        truth, a, rest = region.truth, region.start + pos, region.truth[region.end:]
        doc = self.text
        x = doc[a:len(doc) - len(rest)] if len(doc) - len(rest) >= a else None
        ok = x is not None and doc.startswith(truth[:a]) and doc.endswith(rest) and parse_pending(x) is not None
        if ok:
            if self.cursor == a:
                return None
            return Edit(self.cursor, self.cursor, "", a, "mv")
        meant = truth[:a] + (x if x is not None and parse_pending(x) is not None else "") + rest
        return self._fix_edit(meant, a)

    def _fix_edit(self, meant: str, cursor: int) -> Edit:
        i, ja, jb = _diff_span(self.text, meant)
        return Edit(i, ja, meant[i:jb], cursor, "fix")

    # the loop --------------------------------------------------------
    async def run(self) -> ArmResult:
        loop_t0 = time.monotonic_ns()
        self.t_plan = time.monotonic_ns() + 300_000_000
        self.kidx = 0
        await self._one_by_one(range(len(self.regions)), self.budget)
        self.res.wall_s = (time.monotonic_ns() - loop_t0) / 1e9
        return self.res

    async def _one_by_one(self, indices: Iterable[int], budget: int | None) -> None:
        """Type the regions ``indices`` one file after another (open, type at most
        ``region_budget`` played keystrokes, settle, close) until ``budget`` keystrokes are played."""
        for ri in indices:
            region, units = self.regions[ri], self.schedules[ri]
            if budget is not None and len(self.res.keys) >= budget:
                break
            if self.file_of is not None:
                self.doc_id = self.file_of[ri]
            flavour, self.eol = self.editors[ri]
            self.model = EditorModel(flavour, self.eol) if flavour else None
            self.text = region.initial
            self.cursor = region.start
            self.version = 1
            self.ghost = None
            await self.open(region)
            k0 = len(self.res.keys)
            limit = budget
            if self.region_budget is not None:
                limit = k0 + self.region_budget if limit is None else min(limit, k0 + self.region_budget)
            await self._play(ri, region, units, PlayState(), limit)
            await asyncio.sleep(self.settle_s)
            await self.close()
            self.t_plan = max(self.t_plan, time.monotonic_ns())

    async def run_session(self, files: list[list[int]], segments: list[tuple[int, int]],
                          lead: int = 0, lead_budget: int | None = None) -> ArmResult:
        """A session that moves between files: per segment ``(file, keys)`` the typist switches to
        ``file`` (a pause, ``didOpen`` on the first visit only: the other files stay open, as tabs),
        and types its current region on from where they left it for ``keys`` played keystrokes; a
        finished region moves on to the file's next region (a think pause and a cursor move); a
        file whose regions are all done is skipped.  ``files``: per file its regions (indices into
        ``self.regions``, in file order; each region's ``truth`` is the file with the *later*
        regions deleted, so the chain continues on the same document).  Stops at ``self.budget``.

        ``lead`` (``ci`` profiles): first the regions ``0..lead-1`` (each its own file in ``files``,
        in no segment) are typed one file after another as :meth:`run` does, until ``lead_budget``
        keystrokes are played; the session follows."""
        loop_t0 = time.monotonic_ns()
        self.t_plan = time.monotonic_ns() + 300_000_000
        self.kidx = 0
        self.file_of = [0] * len(self.regions)
        for fi, regs in enumerate(files):
            for ri in regs:
                self.file_of[ri] = fi
        if lead:
            await self._one_by_one(range(lead), lead_budget)
        docs = [DocState(list(regs)) for regs in files]
        cur: int | None = None
        for si, (fi, n) in enumerate(segments):
            if self.budget is not None and len(self.res.keys) >= self.budget:
                break
            if all(d.k >= len(d.regions) for d in docs):
                break
            d = docs[fi]
            if d.k >= len(d.regions):
                continue
            if cur != fi:
                if cur is not None:
                    c = docs[cur]
                    c.text, c.cursor, c.version, c.model, c.eol = (self.text, self.cursor, self.version,
                                                                    self.model, self.eol)
                    # the user stops, looks for the other file and the place in it
                    await self._wait(_lognormal(self.seed * 104_729 + si, self.switch_ms, 0.5))
                self.ghost = None
                self.doc_id = fi
                ri = d.regions[d.k]
                region = self.regions[ri]
                if not d.opened:
                    flavour, eol = self.editors[ri]
                    d.model = EditorModel(flavour, eol) if flavour else None
                    d.eol, d.text, d.cursor, d.version = eol, region.initial, region.start, 1
                self.text, self.cursor, self.version, self.model, self.eol = (d.text, d.cursor, d.version,
                                                                              d.model, d.eol)
                if not d.opened:
                    await self.open(region)
                    d.opened = True
                else:
                    await self.focus(region)
                cur = fi
            limit = len(self.res.keys) + n
            if self.budget is not None:
                limit = min(limit, self.budget)
            while d.k < len(d.regions) and len(self.res.keys) < limit:
                ri = d.regions[d.k]
                region = self.regions[ri]
                if not await self._play(ri, region, self.schedules[ri], d.st, limit):
                    break
                d.k += 1
                d.st = PlayState()
                if d.k < len(d.regions) and len(self.res.keys) < limit:
                    # on to the file's next function: a think pause, the cursor moves there (and the
                    # document is repaired if the region did not end as meant)
                    nri = d.regions[d.k]
                    nxt = self.regions[nri]
                    await self._wait(_lognormal(self.seed * 15_485_863 + nri, self.next_region_ms, 0.5))
                    fx = self._fix_edit(nxt.initial, nxt.start)
                    kind = "mv" if fx.is_move else "fix"
                    key = Key(self.kidx, nri, kind, "", self.version + 1, self.t_plan, start=fx.start,
                              end=fx.end, new=fx.new, cursor=fx.cursor)
                    self.kidx += 1
                    self._apply(key, fx)
        await asyncio.sleep(self.settle_s)
        for fi, d in enumerate(docs):
            if d.opened:
                self.doc_id = fi
                await self.focus(self.regions[d.regions[min(d.k, len(d.regions) - 1)]])
                await self.close()
        self.t_plan = max(self.t_plan, time.monotonic_ns())
        self.res.wall_s = (time.monotonic_ns() - loop_t0) / 1e9
        return self.res

    async def _play(self, ri: int, region: Region, units: list[Unit], st: PlayState,
                    limit: int | None) -> bool:
        """Type ``units`` of ``region`` (document ``self.text``) from ``st`` on until they are done
        (True) or ``self.res.keys`` holds ``limit`` keystrokes (False; ``st`` says where to resume)."""
        while st.ui < len(units):
            if limit is not None and len(self.res.keys) >= limit:
                return False
            u = st.partial or units[st.ui]
            for ai, (gap, kind, text) in enumerate(u.actions):
                now = await self._wait(gap)
                if ai == 0:
                    acc = self._acceptable(now, region, st.pos)
                    if acc is not None:
                        e, k, t_eff = acc
                        meant = meant_after_accept(region.truth, region.start, region.end, st.pos, self.text,
                                                   t_eff[:k])
                        key = Key(self.kidx, ri, "accept", t_eff, self.version + 1, self.t_plan,
                                  accepted_chars=k, start=e.start, end=e.end, new=e.new, cursor=e.cursor)
                        self.kidx += 1
                        self.text_before_accept = self.text
                        self._apply(key, e, accept_sid=self.ghost.sid if self.ghost else None)
                        self.res.accepts += 1
                        st.pos += k
                        bad_pair = mispaired(region.truth, region.start, region.end, st.pos - k,
                                             self.text_before_accept, t_eff[:k])
                        key.clean = self.text == meant and self.cursor == region.start + st.pos and not bad_pair
                        if not key.clean:
                            key.dirty = (describe_diff(self.text, meant) if self.text != meant else
                                         "a closer after the cursor closes the suggestion's own bracket: "
                                         + repr(self.text[max(0, self.cursor - 40):self.cursor + 10])
                                         if bad_pair else "cursor")
                            fx = self._fix_edit(meant, region.start + st.pos)
                        if not key.clean and (fx.new or fx.start != fx.end or fx.cursor != self.cursor):
                            await self._wait(_lognormal(self.seed * 7919 + self.kidx, 1000.0, 0.4))
                            fkey = Key(self.kidx, ri, "fix" if fx.new or fx.start != fx.end else "mv", "",
                                       self.version + 1, self.t_plan, start=fx.start, end=fx.end,
                                       new=fx.new, cursor=fx.cursor)
                            self.kidx += 1
                            self._apply(fkey, fx)
                        # skip the units the acceptance covered
                        while st.ui < len(units) and units[st.ui].end <= st.pos:
                            st.ui += 1
                        st.partial = None
                        if st.ui < len(units) and units[st.ui].start < st.pos:
                            nu = units[st.ui]
                            st.partial = Unit(st.pos, nu.end, [(nu.actions[0][0], "ins", region.typed[st.pos:nu.end])])
                        break
                g = self.ghost
                through = (kind == "ins" and g is not None and g.version == self.version
                           and g.text.startswith(text) and len(g.text) > len(text))
                first = True
                last_key = None
                for e in self._typist(kind, text):
                    if not first:
                        await self._wait(self._iki(self.kidx))
                    kk = e.kind if self.model is not None else (
                        "bs" if kind == "bs" else ("nl" if text.startswith(("\n", "\r\n")) else "ins"))
                    key = Key(self.kidx, ri, kk, e.new if self.model is not None else text, self.version + 1,
                              self.t_plan, through=through and first, start=e.start, end=e.end, new=e.new,
                              cursor=e.cursor)
                    self.kidx += 1
                    self._apply(key, e)
                    first = False
                    last_key = key
                if last_key is not None and ai == len(u.actions) - 1:
                    last_key.truth_chars = u.end - u.start
            else:
                st.pos = u.end
                st.ui += 1
                st.partial = None
                rs = self._resync(region, st.pos)
                if rs is not None:
                    fx = rs
                    await self._wait(self._iki(self.kidx))
                    key = Key(self.kidx, ri, fx.kind, "", self.version + 1, self.t_plan, start=fx.start,
                              end=fx.end, new=fx.new, cursor=fx.cursor)
                    self.kidx += 1
                    self._apply(key, fx)
                continue
        return True

    def _apply(self, key: Key, e: Edit, accept_sid: str | None = None) -> None:
        self.version += 1
        self.ghost = None
        self.edit(key, e, accept_sid)
        self.text = self.text[:e.start] + e.new + self.text[e.end:]
        self.cursor = e.cursor
        self.res.keys.append(key)


def _lognormal(seed: int, median: float, sigma: float) -> float:
    return median * math.exp(random.Random(seed).gauss(0.0, sigma))


class ServerEditor(Editor):
    def __init__(self, lsp: LspClient, *a: Any, root_uri: str = ROOT_URI, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.lsp = lsp
        self.pending: Any = None
        self.root_uri = root_uri

    async def focus(self, region: Region) -> None:
        self.uri = f"{self.root_uri}/{region.path}"

    async def open(self, region: Region) -> None:
        self.uri = f"{self.root_uri}/{region.path}"
        self.lsp.notify("textDocument/didOpen", {"textDocument": {
            "uri": self.uri, "languageId": "python", "version": self.version, "text": self.text}})

    async def close(self) -> None:
        self.lsp.notify("textDocument/didClose", {"textDocument": {"uri": self.uri}})

    def edit(self, key: Key, e: Edit, accept_sid: str | None = None) -> None:
        # VS Code's order: the edit (didChange), then the cancellation of the unanswered previous
        # request, then the new request - all in one write.  A cursor move (Neovim typing over a
        # closer, the typist moving past a split-off closer line) sends no didChange.
        msgs: list[dict[str, Any]] = []
        if not e.is_move:
            rng = {"start": utf16_position(self.text, e.start), "end": utf16_position(self.text, e.end)}
            msgs.append({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                "textDocument": {"uri": self.uri, "version": self.version},
                "contentChanges": [{"range": rng, "text": e.new}]}})
        if self.pending is not None and self.res.reqs[self.pending].recv_ns is None:
            msgs.append({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": self.pending}})
        if accept_sid is not None:
            msgs.append({"jsonrpc": "2.0", "id": self.lsp.next_id(), "method": "workspace/executeCommand",
                         "params": {"command": "deepseek.acceptCompletion", "arguments": [{"id": accept_sid}]}})
        rid = self.lsp.next_id()
        new_text_pos = utf16_position(self.text[:e.start] + e.new + self.text[e.end:], e.cursor)
        msgs.append({"jsonrpc": "2.0", "id": rid, "method": "textDocument/inlineCompletion", "params": {
            "textDocument": {"uri": self.uri}, "position": new_text_pos, "context": {"triggerKind": 2}}})
        req = Req(rid, key.i, self.version, 0, doc=self.doc_id)
        self.res.reqs[rid] = req
        self.lsp.handlers[rid] = lambda t, msg, req=req: self._on_msg(req, t, msg)
        req.send_ns = key.send_ns = self.lsp.send(msgs)
        key.req = rid
        self.pending = rid

    def _on_msg(self, req: Req, t: int, msg: dict[str, Any]) -> None:
        if "error" in msg:
            req.recv_ns = t
            req.error = str(msg["error"].get("code"))
            return
        res = msg.get("result") or {}
        items = res.get("items", []) if isinstance(res, dict) else res
        text, sid, rng = None, None, None
        if items:
            it = items[0]
            rng = it.get("range")
            text = it.get("insertText")
            if isinstance(text, dict):
                text = text.get("value")
            try:
                sid = it["command"]["arguments"][0]["id"]
            except (KeyError, IndexError, TypeError):
                sid = None
        self.on_result(req, t, text, sid, rng)


class NaiveEditor(Editor):
    """The naive client on *the same keystrokes*: it replays the edits the server arm's user made
    (typing, typos, Tab acceptances) at the same planned times, so both arms see identical
    document states.  Its own ghost text is recorded (shown / coverage) but the user's acceptances
    are the server arm's."""

    def __init__(self, client: NaiveClient, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.client = client
        self.tasks: set[asyncio.Task[None]] = set()

    async def replay(self, played: list[Key]) -> ArmResult:
        loop_t0 = time.monotonic_ns()
        if not played:
            return self.res
        t_base = time.monotonic_ns() + 300_000_000 - played[0].plan_ns
        region = -1
        docs: dict[int, tuple[str, int, int]] = {}     # session: file -> (text, cursor, version)
        for pk in played:
            if pk.region != region and self.file_of is not None and pk.region >= self.lead:
                # a session: the files stay open; a switch keeps each file's document.  (The regions
                # before ``lead`` were typed one file after another: the last one is closed.)
                if 0 <= region < self.lead:
                    await asyncio.sleep(self.settle_s)
                    await self.close()
                    region = -1
                f_old = self.file_of[region] if region >= 0 else None
                f_new = self.file_of[pk.region]
                region = pk.region
                if f_new != f_old:
                    if f_old is not None:
                        docs[f_old] = (self.text, self.cursor, self.version)
                    r = self.regions[region]
                    self.ghost = None
                    self.doc_id = f_new
                    self.eol = self.editors[region][1]
                    if f_new in docs:
                        self.text, self.cursor, self.version = docs[f_new]
                        await self.focus(r)
                    else:
                        self.text, self.cursor, self.version = r.initial, r.start, 1
                        await self.open(r)
            elif pk.region != region:
                if region >= 0:
                    await asyncio.sleep(self.settle_s)
                    await self.close()
                region = pk.region
                r = self.regions[region]
                self.text, self.cursor, self.version, self.ghost = r.initial, r.start, 1, None
                if self.file_of is not None:
                    self.doc_id = self.file_of[region]
                self.eol = self.editors[region][1]
                await self.open(r)
            t_plan = t_base + pk.plan_ns
            delay = (t_plan - time.monotonic_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            self.res.lateness_ms.append((time.monotonic_ns() - t_plan) / 1e6)
            key = Key(pk.i, pk.region, pk.kind, pk.text, self.version + 1, t_plan,
                      gap_after_ms=pk.gap_after_ms, truth_chars=pk.truth_chars,
                      accepted_chars=pk.accepted_chars, start=pk.start, end=pk.end, new=pk.new,
                      cursor=pk.cursor, clean=pk.clean, dirty=pk.dirty)
            g = self.ghost
            key.through = (pk.kind in ("ins", "nl") and g is not None and g.version == self.version
                           and g.text.startswith(pk.text) and len(g.text) > len(pk.text))
            if pk.kind == "accept":
                self.res.accepts += 1
            self._apply(key, Edit(pk.start, pk.end, pk.new, pk.cursor, pk.kind))
        await asyncio.sleep(self.settle_s)
        await self.close()
        self.res.wall_s = (time.monotonic_ns() - loop_t0) / 1e9
        return self.res

    async def open(self, region: Region) -> None:
        self.uri = region.path

    async def close(self) -> None:
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=10)

    def edit(self, key: Key, e: Edit, accept_sid: str | None = None) -> None:
        text = self.text[:e.start] + e.new + self.text[e.end:]
        body = naive_body(text, e.cursor)
        tag = f"k{key.i}"
        req = Req(tag, key.i, self.version, 0, doc=self.doc_id)
        self.res.reqs[tag] = req
        req.send_ns = key.send_ns = time.monotonic_ns()
        key.req = tag
        t = asyncio.ensure_future(self._go(req, body, tag))
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    async def _go(self, req: Req, body: dict[str, Any], tag: str) -> None:
        t, text = await self.client.fim(body, tag)
        self.on_result(req, t, text, None)


# ---------------------------------------------------------------- arms

def server_env(key: str, base_url: str, trace_path: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPSEEK_")}
    env.update({"DEEPSEEK_API_KEY": key, "DEEPSEEK_BASE_URL": base_url, "DEEPSEEK_LS_TRACE": trace_path,
                "DEEPSEEK_LS_LOG": "warning", "PYTHONUNBUFFERED": "1"})
    return env


def read_trace(path: str) -> list[dict[str, Any]]:
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


async def run_server_arm(name: str, fake: FakeProc, key: str, regions: list[Region],
                         schedules: list[list[Unit]], workdir: str, settings: dict[str, Any] | None = None,
                         budget: int | None = None, src: str = REPO,
                         editors: list[tuple[str | None, str]] | None = None, region_budget: int | None = None,
                         seed: int = 1, policy: str = "A", session: Session | None = None,
                         root_uri: str = ROOT_URI, switch_ms: float | None = None,
                         lead: int = 0, lead_budget: int | None = None) -> ArmResult:
    """The server arm.  ``session``: ``(files, segments)`` of a multi-file workload
    (:meth:`Editor.run_session`; ``lead``/``lead_budget``: its single-file part first, ``ci``),
    else the regions are typed one after the other.  ``root_uri``: the workspace folder the server
    is given (a real folder for ``ci`` and multi-file workloads, so that a context engine can read
    the files that are not open)."""
    trace_path = os.path.join(workdir, f"trace-{name}.jsonl")
    if os.path.exists(trace_path):
        os.remove(trace_path)
    lsp = LspClient()
    await lsp.start(server_env(key, fake.base_url, trace_path), os.path.join(workdir, f"server-{name}.log"),
                    cwd=src)   # ``python -m deepseek_ls`` imports from the cwd first: the snapshot
    # ``--server-setting debounceMs=100`` is a completion setting; ``context.enabled=false`` names
    # its section
    deepseek: dict[str, Any] = {"baseUrl": fake.base_url}
    for setting, value in (settings or {}).items():
        section, _, name = setting.rpartition(".")
        deepseek.setdefault(section or "completion", {})[name] = value
    init_opts = {"deepseek": deepseek}
    await lsp.request("initialize", {
        "processId": os.getpid(), "rootUri": root_uri,
        # a real workspace folder (multi-file sessions) is also given as workspaceFolders, as editors
        # do; the single-file profiles keep the initialize they were measured with
        **({"workspaceFolders": [{"uri": root_uri, "name": root_uri.rstrip("/").rsplit("/", 1)[-1]}]}
           if root_uri != ROOT_URI else {}),
        "initializationOptions": init_opts,
        "capabilities": {"general": {"positionEncodings": ["utf-16"]},
                         "textDocument": {"inlineCompletion": {"dynamicRegistration": False},
                                          "synchronization": {"dynamicRegistration": False}},
                         "workspace": {"configuration": False}}}, timeout=60)
    lsp.notify("initialized", {})
    await asyncio.sleep(1.0)       # let the server settle (model check, imports)
    gc.collect()
    gc.freeze()
    ed = ServerEditor(lsp, name, regions, schedules, budget=budget, editors=editors,
                      region_budget=region_budget, seed=seed, policy=policy, root_uri=root_uri)
    if switch_ms is not None:
        ed.switch_ms = ed.next_region_ms = switch_ms
    assert lsp.proc is not None
    cpu0, _ = proc_cpu(lsp.proc.pid)
    res = await (ed.run_session(*session, lead=lead, lead_budget=lead_budget) if session is not None
                 else ed.run())
    cpu1, rss = proc_cpu(lsp.proc.pid)
    res.cpu_s, res.rss_kb = cpu1 - cpu0, rss
    res.messages = list(lsp.messages)
    await lsp.stop()
    gc.unfreeze()
    res.trace = read_trace(trace_path)
    res.fake = fake.fim_records(key)
    return res


async def run_naive_arm(name: str, fake: FakeProc, key: str, regions: list[Region],
                        schedules: list[list[Unit]], played: list[Key] | None = None,
                        editors: list[tuple[str | None, str]] | None = None, region_budget: int | None = None,
                        seed: int = 1, session: Session | None = None, lead: int = 0,
                        lead_budget: int | None = None) -> ArmResult:
    """The naive arm; with ``played`` it replays the server arm's keystrokes (default use).
    ``session``, ``lead``, ``lead_budget``: as for :func:`run_server_arm` (the replay keeps each
    file's document over switches)."""
    gc.collect()
    gc.freeze()
    ed = NaiveEditor(NaiveClient(fake.base_url, key), name, regions, schedules, editors=editors,
                     region_budget=region_budget, seed=seed)
    if session is not None:
        ed.file_of = [0] * len(regions)
        for fi, regs in enumerate(session[0]):
            for ri in regs:
                ed.file_of[ri] = fi
        ed.lead = lead
    t0 = time.process_time()
    if played is not None:
        res = await ed.replay(played)
    else:
        res = await (ed.run_session(*session, lead=lead, lead_budget=lead_budget) if session is not None
                     else ed.run())
    res.cpu_s = time.process_time() - t0     # the harness' own CPU (the naive client lives in it)
    gc.unfreeze()
    res.fake = fake.fim_records(key)
    return res
