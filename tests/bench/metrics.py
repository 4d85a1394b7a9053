"""Metric computations (as "Reading it" in tests/bench/README.md defines them): pure functions of the records.

Inputs: the harness' keystrokes and LSP requests (``harness.Key``/``Req`` or
dicts with the same fields), the server's trace records, the fake's request
records.  The first ``warmup`` keystrokes of an arm are discarded (warm-up):
every metric counts only keystrokes from index ``warmup`` on and the upstream
requests they triggered (the warm-up still warms the cache, as in a session).
"""
from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any


def _g(o: Any, name: str, default: Any = None) -> Any:
    return o.get(name, default) if isinstance(o, dict) else getattr(o, name, default)


def percentile(values: Iterable[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no data."""
    v = sorted(values)
    if not v:
        return None
    if len(v) == 1:
        return float(v[0])
    pos = q / 100 * (len(v) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return float(v[lo] + (v[hi] - v[lo]) * (pos - lo))


def pcts(values: Iterable[float | None], qs: tuple[int, ...] = (50, 95, 99)) -> dict[str, Any]:
    """Percentiles ``p<q>`` (rounded) and ``n`` of the values that are not None."""
    v = [x for x in values if x is not None]
    out: dict[str, Any] = {f"p{q}": _r(percentile(v, q)) for q in qs}
    out["n"] = len(v)
    return out


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(x, nd)


# ---------------------------------------------------------------- trace helpers

def show_episodes(keys: list[Any], reqs: dict[Any, Any]) -> int:
    """Ghost texts shown: a shown answer starts a new episode unless the previous keystroke's answer
    showed the same suggestion (typing through it, served from memory, is one episode)."""
    n = 0
    prev = None
    for k in keys:
        r = reqs.get(_g(k, "req"))
        if r is not None and _g(r, "shown"):
            sid = _g(r, "sid") or ("req", _g(r, "id"))
            if sid != prev:
                n += 1
            prev = sid
        else:
            prev = None
    return n


def index_trace(trace: list[dict[str, Any]]) -> dict[str, Any]:
    """Per request id: lsp_recv time, waits, decisions, http events, lsp_sent."""
    by: dict[Any, dict[str, Any]] = defaultdict(lambda: {"waits": [], "decisions": [], "wait_open": None})
    written: list[tuple[int, Any]] = []
    done_ok: list[tuple[int, Any]] = []
    first_byte: list[tuple[int, Any]] = []
    for ev in trace:
        kind = ev.get("ev")
        rid = ev.get("id")
        t = int(ev.get("t") or 0)
        if kind == "lsp_recv":
            if ev.get("method") == "textDocument/inlineCompletion":
                by[rid]["recv"] = t
        elif kind == "wait_start":
            by[rid]["wait_open"] = t
        elif kind == "wait_end":
            s = by[rid]["wait_open"]
            if s is not None:
                by[rid]["waits"].append((s, t))
                by[rid]["wait_open"] = None
        elif kind == "decision":
            by[rid]["decisions"].append((t, ev.get("decision"), ev.get("reason")))
        elif kind in ("fetch_start", "http_send"):
            by[rid].setdefault(kind, t)
        elif kind == "http_written":
            by[rid]["written"] = t
            written.append((t, rid))
        elif kind == "http_first_byte":
            by[rid]["first_byte"] = t
            first_byte.append((t, rid))
        elif kind == "http_done":
            by[rid]["done"] = t
            by[rid]["outcome"] = ev.get("outcome")
            if ev.get("outcome") == "ok":
                done_ok.append((t, rid))
        elif kind == "lsp_sent":
            by[rid]["sent"] = t
            by[rid]["source"] = ev.get("source")
            by[rid]["nonempty"] = ev.get("nonempty")
    return {"by": dict(by), "written": sorted(written, key=lambda x: x[0]),
            "done_ok": sorted(done_ok, key=lambda x: x[0]),
            "first_byte": sorted(first_byte, key=lambda x: x[0])}


def match_upstream(written: list[tuple[int, Any]], fake: list[dict[str, Any]]) -> dict[int, Any]:
    """fake record seq -> LSP request id that wrote it.

    The i-th ``http_written`` of the server pairs with the i-th FIM request the
    fake received for this key (both in time order); pairs more than 1 s apart
    fall back to the latest unmatched write before the fake's ``recv_ns``.
    """
    recs = sorted(fake, key=lambda r: r["recv_ns"])
    out: dict[int, Any] = {}
    if len(recs) == len(written) and all(abs(r["recv_ns"] - w[0]) < 1e9 for r, w in zip(recs, written)):
        for r, w in zip(recs, written):
            out[r["seq"]] = w[1]
        return out
    used: set[int] = set()
    for r in recs:
        best = None
        for j, (t, rid) in enumerate(written):
            if j in used or t > r["recv_ns"]:
                continue
            best = j
        if best is not None:
            used.add(best)
            out[r["seq"]] = written[best][1]
    return out


# ---------------------------------------------------------------- the arm metrics

def shown_upstream(reqs: dict[Any, Any], up: list[Any], trig: dict[int, Any], tr: dict[str, Any], naive: bool) -> set[int]:
    """Fake seqs of the upstream requests whose answer reached the screen (for their own keystroke, or a
    later one through join / memory): a suggestion id first shown at time t belongs to the request whose
    answer started last before t (``http_first_byte``; streamed answers are shown before
    ``http_done``), or without first-byte records the last ``http_done(ok)`` before t."""
    shown_up: set[int] = set()
    if naive:
        shown_tags = {_g(r, "id") for r in reqs.values() if _g(r, "shown")}
        for r, rid, ki in up:
            if rid in shown_tags:
                shown_up.add(r["seq"])
    else:
        seq_of_rid = {rid: seq for seq, rid in trig.items()}
        done_ok = tr.get("first_byte") or tr["done_ok"]
        first_seen: dict[str, int] = {}
        for r in reqs.values():
            if _g(r, "shown") and _g(r, "sid"):
                s = _g(r, "sid")
                t = _g(r, "recv_ns")
                if s not in first_seen or t < first_seen[s]:
                    first_seen[s] = t
        for s, t in first_seen.items():
            src = None
            for td, rid in done_ok:
                if td <= t:
                    src = rid
                else:
                    break
            if src is not None and src in seq_of_rid:
                shown_up.add(seq_of_rid[src])
    return shown_up



def upstream_of(reqs: dict[Any, Any], fake: list[dict[str, Any]], tr: dict[str, Any],
                naive: bool) -> tuple[dict[int, Any], list[tuple[dict[str, Any], Any, int]]]:
    """(fake seq -> LSP request id, [(fake record, request id or None, triggering keystroke index or
    -1)]): the naive client tags its requests (``x-bench-tag``), the server's are matched through
    the trace (:func:`match_upstream`; ``tr`` from :func:`index_trace`)."""
    key_of_req = {rid: _g(r, "key") for rid, r in reqs.items()}
    trig: dict[int, Any]
    if naive:
        trig = {}
        for r in fake:
            tag = (r.get("headers") or {}).get("x-bench-tag", "")
            trig[r["seq"]] = tag if tag in reqs else None
    else:
        trig = match_upstream(tr["written"], fake)
    up = []
    for r in fake:
        rid = trig.get(r["seq"])
        ki = key_of_req.get(rid, -1) if rid is not None else -1
        up.append((r, rid, ki))
    return trig, up


def visits(keys: list[Any], file_of: list[int]) -> list[dict[str, Any]]:
    """The visits of a session: runs of keystrokes in one file (``file_of``: region -> file), in
    order, each ``{"file", "first", "last" (keystroke indices), "return" (the file was visited
    before)}``."""
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for k in sorted(keys, key=lambda k: _g(k, "i")):
        f = file_of[_g(k, "region")]
        if not out or out[-1]["file"] != f:
            out.append({"file": f, "first": _g(k, "i"), "last": _g(k, "i"), "return": f in seen})
            seen.add(f)
        else:
            out[-1]["last"] = _g(k, "i")
    return out


def _common_prefix(a: str, b: str) -> int:
    return len(os.path.commonprefix([a, b]))


def _prompt_diagnosis(rec: dict[str, Any], f: int, timeline: list[tuple[int, dict[str, Any], int]]) -> dict[str, Any]:
    """Characters the prompt of ``rec`` (file ``f``) shares from its start with the previous
    upstream prompt (another file's) and with the last earlier prompt of the same file."""
    p = rec["body"].get("prompt") or ""
    prev = same = None
    for _t, r, fr in timeline:
        if r is rec:
            break
        prev = r
        if fr == f:
            same = r
    return {"prompt_chars": len(p),
            "shared_chars_previous": _common_prefix(p, prev["body"].get("prompt") or "") if prev else None,
            "shared_chars_same_file": _common_prefix(p, same["body"].get("prompt") or "") if same else None}


def switch_metrics(keys: list[Any], reqs: dict[Any, Any], fake: list[dict[str, Any]], trace: list[dict[str, Any]] | None,
                   file_of: list[int], *, warmup: int = 50, naive: bool = False) -> dict[str, Any]:
    """Cache hits where a session moves to another file.

    A *switch* is a visit (:func:`visits`) after the first whose first keystroke is measured (index
    >= ``warmup``).  Its *first request* is the first upstream FIM request (by the time the fake
    received it) triggered by a keystroke of that visit; the figure is the cache-hit fraction of
    the prompt tokens of those requests, Σ hit ÷ Σ (hit + miss) as billed by the ledger, overall,
    on a first visit to the file (``first_visit``) and on a return to a file visited before
    (``return_visit``).  ``visit_requests``: the same over every request of the switched-to visits.
    ``per_visit``: file, keystrokes, requests, the first request's hit / miss tokens, its prompt's
    length and the characters it shares from its start with the previous upstream prompt and with
    the last earlier prompt of the same file (why a switch missed the cache)."""
    tr = index_trace(trace or [])
    _, up = upstream_of(reqs, fake, tr, naive)
    by_key: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r, _rid, ki in up:
        if ki >= 0 and r.get("billed"):
            by_key[ki].append(r)
    vs = visits(keys, file_of)
    # for the prompt diagnosis: every upstream prompt in time order with its file
    file_of_key = {_g(k, "i"): file_of[_g(k, "region")] for k in keys}
    timeline = sorted(((r["recv_ns"], r, file_of_key.get(ki, -1)) for r, _rid, ki in up
                       if ki >= 0 and isinstance(r.get("body"), dict)), key=lambda x: x[0])

    def frac(recs: list[dict[str, Any]]) -> dict[str, Any]:
        h = sum(r.get("hit", 0) for r in recs)
        m = sum(r.get("miss", 0) for r in recs)
        return {"n": len(recs), "hit": h, "miss": m, "hit_fraction": _r(h / (h + m), 4) if h + m else None}

    first: list[dict[str, Any]] = []
    first_new: list[dict[str, Any]] = []
    first_ret: list[dict[str, Any]] = []
    every: list[dict[str, Any]] = []
    per_visit = []
    switches = 0
    for j, v in enumerate(vs):
        if j == 0 or v["first"] < warmup:
            continue
        switches += 1
        recs = sorted((r for ki in range(v["first"], v["last"] + 1) for r in by_key.get(ki, [])),
                      key=lambda r: r["recv_ns"])
        every.extend(recs)
        row = {"file": v["file"], "return": v["return"], "keys": v["last"] - v["first"] + 1,
               "requests": len(recs)}
        if recs:
            first.append(recs[0])
            (first_ret if v["return"] else first_new).append(recs[0])
            row.update(first_hit=recs[0].get("hit", 0), first_miss=recs[0].get("miss", 0))
            row.update(_prompt_diagnosis(recs[0], v["file"], timeline))
        per_visit.append(row)
    return {"switches": switches, "first_request": frac(first), "first_visit": frac(first_new),
            "return_visit": frac(first_ret), "visit_requests": frac(every), "per_visit": per_visit}


def part_metrics(keys: list[Any], reqs: dict[Any, Any], fake: list[dict[str, Any]], trace: list[dict[str, Any]] | None,
                 regions: Iterable[int], *, warmup: int = 50, naive: bool = False) -> dict[str, Any]:
    """Volume, cache and money of one part of an arm: the measured keystrokes (index >= ``warmup``)
    typed in ``regions`` (region indices) and the upstream requests they triggered (``ci``: the
    typing in files that import from their siblings).  ``keystrokes``, ``requests`` and
    ``req_per_100``; ``hit``/``miss``/``out`` tokens and ``hit_fraction`` (Σ hit ÷ Σ prompt tokens,
    as billed by the ledger, pessimistic); ``usd_offpeak`` and ``usd_per_1k_keys`` (off-peak $ ÷
    the part's keystrokes × 1,000); ``accepted``."""
    want = set(regions)
    part = {_g(k, "i") for k in keys if _g(k, "i") >= warmup and _g(k, "region") in want}
    _, up = upstream_of(reqs, fake, index_trace(trace or []), naive)
    recs = [r for r, _rid, ki in up if ki in part and r.get("billed")]
    n_req = sum(1 for _r0, _rid, ki in up if ki in part)
    h = sum(r.get("hit", 0) for r in recs)
    m = sum(r.get("miss", 0) for r in recs)
    usd = sum((r.get("cost_usd") or {}).get("offpeak", 0.0) for r in recs)
    n = len(part)
    return {"keystrokes": n, "requests": n_req, "req_per_100": _r(100 * n_req / n) if n else None,
            "hit": h, "miss": m, "out": sum(r.get("out", 0) for r in recs),
            "hit_fraction": _r(h / (h + m), 4) if h + m else None,
            "usd_offpeak": _r(usd, 8), "usd_per_1k_keys": _r(usd * 1000 / n, 8) if n else None,
            "accepted": sum(1 for k in keys if _g(k, "i") in part and _g(k, "kind") == "accept")}


def arm_metrics(keys: list[Any], reqs: dict[Any, Any], fake: list[dict[str, Any]], trace: list[dict[str, Any]] | None,
                *, warmup: int = 50, naive: bool = False, cpu_s: float | None = None,
                rss_kb: int | None = None, lateness_ms: list[float] | None = None) -> dict[str, Any]:
    keys = sorted(keys, key=lambda k: _g(k, "i"))
    measured = [k for k in keys if _g(k, "i") >= warmup]
    n_keys = len(measured)
    key_of_req = {rid: _g(r, "key") for rid, r in reqs.items()}
    tr = index_trace(trace or [])
    by = tr["by"]

    # --- upstream requests and the keystroke that triggered each
    trig, up = upstream_of(reqs, fake, tr, naive)
    up_m = [(r, rid, ki) for r, rid, ki in up if ki >= warmup]

    # --- what was shown, and which upstream request each shown text came from
    shown_reqs = [r for r in reqs.values() if _g(r, "shown") and key_of_req.get(_g(r, "id"), -1) >= warmup]
    shown_up = shown_upstream(reqs, up, trig, tr, naive)
    if naive:
        n_shown = len(shown_reqs)
    else:
        n_shown = show_episodes(measured, reqs)

    completed = sum(1 for r, _, _ in up_m if not r.get("disconnected"))
    aborted = sum(1 for r, _, _ in up_m if r.get("disconnected"))
    shown_n = sum(1 for r, _, _ in up_m if r["seq"] in shown_up)

    # --- tokens and money (ledger: billed records)
    def tot(recs: list[dict[str, Any]], optimistic: bool = False) -> dict[str, Any]:
        t = {"hit": 0, "miss": 0, "out": 0, "usd_offpeak": 0.0, "usd_peak": 0.0}
        for r in recs:
            if not r.get("billed"):
                continue
            if optimistic and not r.get("optimistic_billed"):
                continue
            t["hit"] += r.get("hit", 0)
            t["miss"] += r.get("miss", 0)
            t["out"] += r.get("out", 0)
            c = r.get("cost_usd") or {}
            t["usd_offpeak"] += c.get("offpeak", 0.0)
            t["usd_peak"] += c.get("peak", 0.0)
        return t

    pess = tot([r for r, _, _ in up_m])
    opt = tot([r for r, _, _ in up_m], optimistic=True)
    waste = tot([r for r, _, _ in up_m if r["seq"] not in shown_up])
    prompt = pess["hit"] + pess["miss"]
    hit_fraction = pess["hit"] / prompt if prompt else 0.0
    if measured:
        t_first = _g(measured[0], "send_ns") or _g(measured[0], "plan_ns")
        t_last = _g(measured[-1], "send_ns") or _g(measured[-1], "plan_ns")
        hours = max(1e-9, (t_last - t_first) / 3.6e12)
    else:
        hours = 1e-9
    per_1k = 1000 / n_keys if n_keys else 0.0

    # --- server overhead (per upstream request) and the cross-check
    overhead, cross, join_wait, overhead_ex_join = [], [], [], []
    if not naive:
        for r, rid, ki in up_m:
            e = by.get(rid)
            if not e or "recv" not in e or "written" not in e:
                continue
            waits = sum(b - a for a, b in e["waits"])
            overhead.append((e["written"] - e["recv"] - waits) / 1e6)
            req = reqs.get(rid)
            if req is not None and _g(req, "send_ns"):
                cross.append(((r["recv_ns"] - _g(req, "send_ns") - waits) / 1e6) - overhead[-1])
            decs = e["decisions"]
            joins = [t for t, d, _ in decs if d == "join"]
            sends = [t for t, d, _ in decs if d == "send"]
            jw = 0.0
            if joins and sends:
                # time spent waiting on a compatible in-flight request before sending (not traced as a wait)
                ws = sum(b - a for a, b in e["waits"] if a >= joins[0])
                jw = (sends[-1] - joins[0] - ws) / 1e6
                join_wait.append(jw)
            overhead_ex_join.append(overhead[-1] - jw)

    # --- memory path: answered without upstream (decision memory / cache)
    mem = []
    decisions: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for rid, r in reqs.items():
        if key_of_req.get(rid, -1) < warmup:
            continue
        e = by.get(rid)
        if not e:
            continue
        ds = e["decisions"]
        if ds:
            last = ds[-1]
            decisions[last[1]] += 1
            if last[1] == "drop":
                reasons[last[2]] += 1
            if last[1] in ("memory", "cache") and _g(r, "recv_ns") and _g(r, "send_ns"):
                mem.append((_g(r, "recv_ns") - _g(r, "send_ns")) / 1e6)

    # --- keystroke -> ghost text over opportunities (planned gap >= 1 s)
    opp = covered = censored = empty = 0
    ghost = []
    for k in measured:
        gap = _g(k, "gap_after_ms")
        if gap is None or gap < 1000:
            continue
        opp += 1
        rq = reqs.get(_g(k, "req"))
        if rq is None:
            continue
        recv = _g(rq, "recv_ns")
        limit = _g(k, "send_ns") + gap * 1e6
        if recv is None or recv > limit or _g(rq, "error"):
            censored += 1
        elif _g(rq, "nonempty") and _g(rq, "shown"):
            covered += 1
            ghost.append((recv - _g(k, "send_ns")) / 1e6)
        else:
            empty += 1

    # --- acceptance
    accepted = [k for k in measured if _g(k, "kind") == "accept"]
    # clean accepts (harness.Editor: after the accept the document equals the meant text); the
    # naive arm replays the server arm's accepts, so the figure is the server's
    judged = [] if naive else [k for k in accepted if _g(k, "clean") is not None]
    n_clean = sum(1 for k in judged if _g(k, "clean"))
    kinds = [_g(k, "kind") for k in measured]
    repair = sum(1 for a, b in zip(kinds, kinds[1:]) if a == "accept" and b in ("fix", "mv"))
    resync = sum(1 for k in kinds if k in ("fix",)) - sum(
        1 for a, b in zip(kinds, kinds[1:]) if a == "accept" and b == "fix")
    acc_chars = sum(_g(k, "accepted_chars") for k in accepted)
    typed_chars = sum(_g(k, "truth_chars") for k in measured)
    through_keys = {_g(k, "req") for k in measured if _g(k, "through")}
    through_reqs = sum(1 for r, rid, ki in up_m if rid in through_keys)

    # upstream requests by cause (server only): after an acceptance vs after a pause
    accept_reqs = {_g(k, "req") for k in measured if _g(k, "kind") == "accept"}
    out = {
        "keystrokes": n_keys,
        "keystrokes_total": len(keys),
        "typed_region_chars": typed_chars,
        "upstream": {"total": len(up_m), "completed": completed, "aborted": aborted, "shown": shown_n,
                     "after_accept": sum(1 for r, rid, ki in up_m if rid in accept_reqs),
                     "typing_through": through_reqs, "including_warmup": len(up)},
        "req_per_100": _r(100 * len(up_m) / n_keys if n_keys else 0.0),
        "overhead_ms": pcts(overhead) if not naive else None,
        "overhead_crosscheck_ms": pcts(cross, (50, 95)) if cross else None,
        "join_wait_ms": pcts(join_wait, (50, 95)) if join_wait else None,
        "overhead_excl_join_wait_ms": pcts(overhead_ex_join) if not naive else None,
        "mem_path_ms": pcts(mem, (50, 95)) if not naive else None,
        "ghost_ms": {**pcts(ghost, (50, 95)), "coverage": _r(covered / opp if opp else 0.0),
                     "opportunities": opp, "covered": covered, "empty": empty, "censored": censored},
        "tokens": {k: pess[k] for k in ("hit", "miss", "out")},
        "tokens_optimistic": {k: opt[k] for k in ("hit", "miss", "out")},
        "prompt_tokens_per_request": _r(prompt / len(up_m), 1) if up_m else None,
        "hit_fraction": _r(hit_fraction, 4),
        "usd": {"offpeak": _r(pess["usd_offpeak"], 8), "peak": _r(pess["usd_peak"], 8),
                "optimistic_offpeak": _r(opt["usd_offpeak"], 8), "optimistic_peak": _r(opt["usd_peak"], 8)},
        "session_hours": _r(hours, 6),
        "usd_per_hour": {"offpeak": _r(pess["usd_offpeak"] / hours, 6), "peak": _r(pess["usd_peak"] / hours, 6)},
        "usd_per_1k_keys": {"offpeak": _r(pess["usd_offpeak"] * per_1k, 8),
                            "peak": _r(pess["usd_peak"] * per_1k, 8),
                            "optimistic_offpeak": _r(opt["usd_offpeak"] * per_1k, 8)},
        "accept": {"shown": n_shown, "accepted": len(accepted),
                   "rate": _r(len(accepted) / n_shown if n_shown else 0.0),
                   "accepted_chars": acc_chars,
                   "clean": n_clean, "judged": len(judged),
                   "clean_fraction": (None if naive else _r(n_clean / len(judged)) if judged
                                      else (1.0 if not accepted else None)),
                   "dirty_examples": [_g(k, "dirty") for k in judged if not _g(k, "clean")][:8],
                   "repair_keys": None if naive else repair, "resync_keys": None if naive else resync,
                   "chars_saved": _r(acc_chars / (typed_chars + acc_chars) if typed_chars + acc_chars else 0.0)},
        "waste": {"requests": sum(1 for r, _, _ in up_m if r["seq"] not in shown_up),
                  "tokens": {k: waste[k] for k in ("hit", "miss", "out")}},
        "waste_usd": _r(waste["usd_offpeak"], 8),
        "waste_fraction_usd": _r(waste["usd_offpeak"] / pess["usd_offpeak"] if pess["usd_offpeak"] else 0.0),
        "decisions": dict(decisions) if not naive else None,
        "drop_reasons": dict(reasons) if not naive else None,
        "cpu_s_per_1k_keys": _r(cpu_s * per_1k, 4) if (cpu_s is not None and not naive) else None,
        "peak_rss_mb": _r(rss_kb / 1024, 1) if rss_kb else None,
    }
    if lateness_ms:
        out["harness_lateness_ms"] = pcts(lateness_ms, (50, 95, 99))
        out["harness_lateness_ms"]["max"] = _r(max(lateness_ms))
    return out


def ratios(server: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    def div(a: float | None, b: float | None) -> float | None:
        return _r(a / b, 4) if a is not None and b else None
    return {"requests": div(server["req_per_100"], base["req_per_100"]),
            "usd": div(server["usd_per_1k_keys"]["offpeak"], base["usd_per_1k_keys"]["offpeak"]),
            "ghost_p50": div(server["ghost_ms"]["p50"], base["ghost_ms"]["p50"])}


# ---------------------------------------------------------------- offline re-billing

def rebill(fake: list[dict[str, Any]], mode: str, persist_delay_s: float, unit: int,
           withhold_last: bool) -> list[dict[str, Any]]:
    """Bill recorded FIM requests again under another cache model.

    Uses the fake's own PrefixCache and tokenizer with the recorded times
    (lookup at ``recv_ns``, store at ``done_ns``), so a request's hit is what
    the live fake would have billed in that mode.  Only for clients whose
    traffic does not depend on the cache (the naive client).  Returns copies
    of the records with hit/miss/cost set.
    """
    from tests.fake_deepseek.cache import FIM_BEGIN, FIM_END, FIM_HOLE, PrefixCache, get_tokenizer
    from tests.fake_deepseek.server import FakeDeepSeek

    tok = get_tokenizer()
    cache = PrefixCache(mode=mode, persist_delay_s=persist_delay_s, unit_k=unit, withhold_last_block=withhold_last)
    events = []
    prepared = {}
    for r in fake:
        body = r.get("body")
        if not isinstance(body, dict) or not r.get("billed"):
            continue
        toks = ([tok.special(FIM_BEGIN)] + tok.encode(body["prompt"]) + [tok.special(FIM_HOLE)]
                + tok.encode(body.get("suffix") or "") + [tok.special(FIM_END)])
        prepared[r["seq"]] = toks
        events.append((r["recv_ns"], 0, r["seq"]))
        events.append((r.get("done_ns") or r["recv_ns"], 1, r["seq"]))
    events.sort()
    by_seq = {r["seq"]: dict(r) for r in fake}
    for t, kind, seq in events:
        r = by_seq[seq]
        toks = prepared[seq]
        if kind == 0:
            hit = min(cache.lookup("k", toks, t / 1e9), len(toks))
            r["hit"], r["miss"] = hit, len(toks) - hit
            r["cost_usd"] = FakeDeepSeek.price(r.get("model") or "deepseek-flash", hit, len(toks) - hit, r.get("out", 0))
        else:
            out_text = r.get("text") or ""
            cache.store("k", toks, tok.encode(out_text) if out_text else [], t / 1e9)
    return [by_seq[r["seq"]] for r in fake]
