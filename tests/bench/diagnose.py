"""Where requests, waste and latency come from (for tuning the server).

``python -m tests.bench.diagnose tests/bench/results/work/<stamp> [mode]`` prints
the breakdowns for the server arm(s) of a finished run; ``run.py`` stores the
same under ``diagnosis`` in the result JSON.
"""
from __future__ import annotations

import json
import os
import sys
from collections import Counter
from typing import Any

from .metrics import _g, index_trace, match_upstream, pcts, shown_upstream


def _ms(a: int | None, b: int | None) -> float | None:
    return None if a is None or b is None else (b - a) / 1e6


def diagnose(keys: list[Any], reqs: dict[Any, Any], fake: list[dict[str, Any]], trace: list[dict[str, Any]], warmup: int = 50) -> dict[str, Any]:
    keys = sorted(keys, key=lambda k: _g(k, "i"))
    kmap = {_g(k, "i"): k for k in keys}
    tr = index_trace(trace)
    by = tr["by"]
    trig = match_upstream(tr["written"], fake)
    fake_by_rid = {rid: r for r in fake for seq, rid in [(r["seq"], trig.get(r["seq"]))] if rid is not None}
    shown_up = shown_upstream(reqs, [(r, trig.get(r["seq"]), None) for r in fake], trig, tr, False)

    # per LSP request: harness send -> server lsp_recv (pipe + pygls read), server time, lsp_sent -> harness
    pipe_in: list[float | None] = []
    server_mem: list[float | None] = []
    pipe_out: list[float | None] = []
    mem_total: list[float | None] = []
    ovh_pre: list[float | None] = []
    ovh_post_wait: list[float | None] = []
    ovh_send_to_written: list[float | None] = []
    send_parts: dict[str, list[float | None]] = {"decision send->fetch_start (task start)": [],
                                          "fetch_start->http_send (request setup, JSON)": [],
                                          "http_send->http_written (httpx, socket)": []}
    debounce = []
    for rid, r in reqs.items():
        k = kmap.get(_g(r, "key"))
        if k is None or _g(k, "i") < warmup:
            continue
        e = by.get(rid)
        if not e or "recv" not in e:
            continue
        pipe_in.append(_ms(_g(r, "send_ns"), e["recv"]))
        decs = e["decisions"]
        last = decs[-1][1] if decs else None
        if last in ("memory", "cache") and "sent" in e and _g(r, "recv_ns"):
            server_mem.append(_ms(e["recv"], e["sent"]))
            pipe_out.append(_ms(e["sent"], _g(r, "recv_ns")))
            mem_total.append(_ms(_g(r, "send_ns"), _g(r, "recv_ns")))
        for a, b in e["waits"]:
            debounce.append(_ms(a, b))
        if "written" in e:
            sends = [t for t, d, _ in decs if d == "send"]
            if e["waits"]:
                ovh_pre.append(_ms(e["recv"], e["waits"][0][0]))
                if sends:
                    ovh_post_wait.append(_ms(e["waits"][-1][1], sends[-1]))
            elif sends:
                ovh_pre.append(_ms(e["recv"], sends[-1]))
            if sends:
                ovh_send_to_written.append(_ms(sends[-1], e["written"]))
                if "fetch_start" in e and "http_send" in e:
                    parts = list(send_parts.values())
                    parts[0].append(_ms(sends[-1], e["fetch_start"]))
                    parts[1].append(_ms(e["fetch_start"], e["http_send"]))
                    parts[2].append(_ms(e["http_send"], e["written"]))

    # upstream requests: why sent, what became of them
    causes: Counter[str] = Counter()
    by_cause: dict[str, Counter[str]] = {}
    fate: Counter[str] = Counter()
    next_gap_aborted = []
    cancel_after = []
    for rid, f in fake_by_rid.items():
        r = reqs.get(rid)
        if r is None:
            continue
        k = kmap.get(_g(r, "key"))
        if k is None or _g(k, "i") < warmup:
            continue
        cause = ("after Tab acceptance (no debounce)" if _g(k, "kind") == "accept" else
                 ("after newline" if _g(k, "kind") == "nl" else
                  ("after backspace" if _g(k, "kind") == "bs" else
                   ("after a cursor move" if _g(k, "kind") == "mv" else
                    ("after a repair" if _g(k, "kind") == "fix" else "after a character")))))
        causes[cause] += 1
        useful = f["seq"] in shown_up
        by_cause.setdefault(cause, Counter())["answer shown" if useful else "never shown"] += 1
        gap = _g(k, "gap_after_ms")
        e = by.get(rid, {})
        if f.get("disconnected"):
            fate["aborted (next keystroke before the answer)"] += 1
            if gap is not None:
                next_gap_aborted.append(gap)
            if "written" in e and "done" in e:
                cancel_after.append(_ms(e["written"], e["done"]))
        elif _g(r, "shown"):
            fate["answered and shown for its own keystroke"] += 1
        elif f["seq"] in shown_up:
            fate["answered, shown for a later keystroke (join / memory)"] += 1
        elif (f.get("text") or "").strip():
            fate["answered, never shown"] += 1
        else:
            fate["answered empty (nothing to show)"] += 1

    # opportunities without ghost text: why
    miss: Counter[str] = Counter()
    for k in keys:
        if _g(k, "i") < warmup or (_g(k, "gap_after_ms") or 0) < 1000:
            continue
        r = reqs.get(_g(k, "req"))
        e = by.get(_g(k, "req"), {})
        decs = [d for _, d, _ in e.get("decisions", [])]
        if r is None:
            continue
        if _g(r, "shown"):
            continue
        fk = fake_by_rid.get(_g(k, "req"))
        if _g(r, "recv_ns") is None or _g(r, "error"):
            miss["no answer within the pause (censored)"] += 1
        elif not decs:
            miss["no decision traced"] += 1
        elif fk is not None and not (fk.get("text") or "").strip():
            miss["upstream answered empty (oracle: end of region)"] += 1
        elif fk is not None:
            miss["upstream answer dropped by post-processing"] += 1
        else:
            miss[f"empty answer, decision {decs[-1]}"] += 1

    # cache: miss tokens per request
    miss_tok = [f.get("miss", 0) for f in fake_by_rid.values()]
    prompt_tok = [f.get("hit", 0) + f.get("miss", 0) for f in fake_by_rid.values()]
    return {
        "debounce_ms": pcts(debounce, (5, 50, 95)),
        "upstream_causes": dict(causes),
        "upstream_fate": dict(fate),
        "upstream_shown_by_cause": {c: dict(v) for c, v in by_cause.items()},
        "aborted_next_gap_ms": pcts(next_gap_aborted, (5, 50, 95)),
        "aborted_written_to_cancel_ms": pcts(cancel_after, (5, 50, 95)),
        "overhead_parts_ms": {"lsp_recv->wait_start (or send)": pcts(ovh_pre, (50, 95, 99)),
                              "wait_end->decision send": pcts(ovh_post_wait, (50, 95, 99)),
                              "decision send->http_written": pcts(ovh_send_to_written, (50, 95, 99)),
                              **{k: pcts(v, (50, 95, 99)) for k, v in send_parts.items() if v}},
        "memory_path_parts_ms": {"harness send->lsp_recv": pcts(pipe_in, (50, 95, 99)),
                                 "lsp_recv->lsp_sent (server)": pcts(server_mem, (50, 95, 99)),
                                 "lsp_sent->harness recv": pcts(pipe_out, (50, 95, 99)),
                                 "total": pcts(mem_total, (50, 95, 99))},
        "opportunities_without_ghost": dict(miss),
        "miss_tokens_per_request": pcts(miss_tok, (50, 95)),
        "prompt_tokens_per_request": pcts(prompt_tok, (50, 95)),
    }


def main(argv: list[str]) -> int:
    work = argv[0]
    modes = argv[1:] or ["legacy64", "v4"]
    from .harness import read_trace

    for mode in modes:
        p = os.path.join(work, f"arm-server-{mode}.json")
        if not os.path.exists(p):
            continue
        d = json.load(open(p))
        reqs = {r["id"]: r for r in d["reqs"]}
        tr = read_trace(os.path.join(work, f"trace-server-{mode}.jsonl"))
        print(f"== server @{mode}")
        print(json.dumps(diagnose(d["keys"], reqs, d["fake"], tr), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
