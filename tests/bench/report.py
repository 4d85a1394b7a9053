"""Markdown table, gate checks against targets and baseline.json, and the PNG plot."""
from __future__ import annotations

import json
import os
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
BASELINE = os.path.join(HERE, "baseline.json")
REGRESSION = 0.15
MS_FLOOR = 0.5      # latency regressions smaller than this (ms) are noise, not failures

# (name, getter(mode_block) -> value, op, target(mode) or None, higher_is_better)
TARGETS: list[tuple[str, Any, str, Any, bool]] = [
    ("requests per 100 keystrokes", lambda m: m["arms"]["server"]["req_per_100"], "<=", lambda mode: 12, False),
    ("cache-hit fraction of prompt tokens", lambda m: m["arms"]["server"]["hit_fraction"], ">=",
     lambda mode: 0.85 if mode == "legacy64" else 0.70, True),
    ("$/1k keystrokes vs naive", lambda m: m["ratios"]["usd"], "<=", lambda mode: 0.05, False),
    ("server overhead p95 (ms)", lambda m: m["arms"]["server"]["overhead_ms"]["p95"], "<=", lambda mode: 5.0, False),
    ("answers from memory p95 (ms)", lambda m: m["arms"]["server"]["mem_path_ms"]["p95"], "<=", lambda mode: 5.0, False),
    ("ghost-text coverage", lambda m: m["arms"]["server"]["ghost_ms"]["coverage"], ">=", lambda mode: 0.8, True),
    ("clean accepts", lambda m: m["arms"]["server"]["accept"]["clean_fraction"], ">=", lambda mode: 1.0, True),
]


def _fmt(v: Any, nd: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if abs(v) and abs(v) < 0.01:
            return f"{v:.2e}"
        return f"{v:.{nd}f}".rstrip("0").rstrip(".") if nd else f"{v:.0f}"
    return str(v)


def markdown(result: dict[str, Any]) -> str:
    cols = []
    for mode, m in result["modes"].items():
        cols.append((f"server @{mode}", m["arms"]["server"]))
        cols.append((f"naive @{mode}", m["arms"]["baseline"]))

    def row(label: str, get: Any) -> str:
        vals = []
        for _, a in cols:
            try:
                vals.append(_fmt(get(a)))
            except (KeyError, TypeError):
                vals.append("n/a")
        return f"| {label} | " + " | ".join(vals) + " |"

    w = result.get("world") or {"name": "ideal"}
    world = ("ideal world (no editor model, LF, oracle answers)" if w.get("name") == "ideal" else
             f"real world (editors {'/'.join(w.get('editors', []))}, CRLF share {w.get('crlf_share')}, "
             f"noise {w.get('noise')})")
    files = ", ".join(f"{f['qualname']} [{f.get('editor', 'ideal')}, {f.get('eol', 'LF')}]" for f in result.get("files", [])
                      if any(f.get("played_keystrokes", {}).values()))
    lines = [f"### typing replay: profile `{result['profile']}`, seed {result['seed']}, {world}, "
             f"{'fixed ' if result['fake_common']['fixed'] else ''}latency {result['fake_common']['base_ms']:.0f} ms, "
             f"tokenizer {result['fake_common']['tokenizer']}",
             "", f"files played: {files}",
             "", "| metric | " + " | ".join(c for c, _ in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    rows = [
        ("keystrokes (measured)", lambda a: a["keystrokes"]),
        ("upstream requests / 100 keys", lambda a: a["req_per_100"]),
        ("  completed / aborted / shown", lambda a: "{completed} / {aborted} / {shown}".format(**a["upstream"])),
        ("  sent while typing through a ghost", lambda a: a["upstream"]["typing_through"]),
        ("server overhead p50/p95/p99 ms", lambda a: "{} / {} / {}".format(*(_fmt(a["overhead_ms"][k]) for k in ("p50", "p95", "p99")))),
        ("memory path p50/p95 ms", lambda a: "{} / {}".format(_fmt(a["mem_path_ms"]["p50"]), _fmt(a["mem_path_ms"]["p95"]))),
        ("key→ghost p50/p95 ms", lambda a: "{} / {}".format(_fmt(a["ghost_ms"]["p50"], 0), _fmt(a["ghost_ms"]["p95"], 0))),
        ("ghost coverage (opportunities)", lambda a: f"{_fmt(a['ghost_ms']['coverage'])} ({a['ghost_ms']['opportunities']})"),
        ("tokens hit / miss / out", lambda a: "{hit} / {miss} / {out}".format(**a["tokens"])),
        ("prompt tokens / request", lambda a: a["prompt_tokens_per_request"]),
        ("cache-hit fraction", lambda a: a["hit_fraction"]),
        ("$/hour off-peak / peak", lambda a: "{} / {}".format(_fmt(a["usd_per_hour"]["offpeak"], 4), _fmt(a["usd_per_hour"]["peak"], 4))),
        ("$/1k keys off-peak / peak", lambda a: "{} / {}".format(_fmt(a["usd_per_1k_keys"]["offpeak"], 5), _fmt(a["usd_per_1k_keys"]["peak"], 5))),
        ("$/1k keys optimistic off-peak", lambda a: _fmt(a["usd_per_1k_keys"]["optimistic_offpeak"], 5)),
        ("shown / accepted / rate", lambda a: "{} / {} / {}".format(a["accept"]["shown"], a["accept"]["accepted"], _fmt(a["accept"]["rate"]))),
        ("accepted chars share", lambda a: a["accept"]["chars_saved"]),
        ("clean accepts (clean / accepted)", lambda a: "n/a" if a["accept"]["clean_fraction"] is None else
         "{} ({} / {})".format(_fmt(a["accept"]["clean_fraction"]), a["accept"]["clean"], a["accept"]["accepted"])),
        ("  repair keystrokes after accepts / other", lambda a: "{} / {}".format(
            _fmt(a["accept"]["repair_keys"]), _fmt(a["accept"]["resync_keys"]))),
        ("waste: requests never shown", lambda a: a["waste"]["requests"]),
        ("waste $ (share of $)", lambda a: f"{_fmt(a['waste_usd'])} ({_fmt(a['waste_fraction_usd'])})"),
        ("server CPU s / 1k keys; peak RSS MB", lambda a: f"{_fmt(a['cpu_s_per_1k_keys'])}; {_fmt(a['peak_rss_mb'])}"),
    ]
    if any("switch" in a for _, a in cols):
        def fr(d: dict[str, Any]) -> str:
            return f"{_fmt(d['hit_fraction'])} ({d['n']})"
        rows += [
            ("file switches (measured)", lambda a: a["switch"]["switches"]),
            ("hit fraction, 1st request after a switch (n)", lambda a: fr(a["switch"]["first_request"])),
            ("  first visit to the file / return", lambda a: "{} / {}".format(
                fr(a["switch"]["first_visit"]), fr(a["switch"]["return_visit"]))),
            ("  tokens hit / miss", lambda a: "{hit} / {miss}".format(**a["switch"]["first_request"])),
            ("hit fraction, every request of those visits", lambda a: fr(a["switch"]["visit_requests"])),
        ]
    def part_rows(p: str, name: str) -> list[tuple[str, Any]]:
        return [
            (f"{name}: keystrokes; requests / 100 keys", lambda a: "{}; {}".format(
                a[p]["keystrokes"], _fmt(a[p]["req_per_100"]))),
            (f"{name}: cache-hit fraction (hit / miss)", lambda a: "{} ({} / {})".format(
                _fmt(a[p]["hit_fraction"]), a[p]["hit"], a[p]["miss"])),
            (f"{name}: $/1k keys off-peak", lambda a: _fmt(a[p]["usd_per_1k_keys"], 5)),
        ]
    for part, name in (("single", "single files"), ("imports", "importing files")):
        if any(part in a for _, a in cols):
            rows += part_rows(part, name)
    for label, get in rows:
        lines.append(row(label, get))
    lines.append("")
    sess = result.get("session")
    if sess:
        lines.append(f"session: files {', '.join(sess['files'])} (workspace folder {sess.get('workspace')}); "
                     "visits (file, played keys) planned: "
                     + ", ".join(f"{p.rsplit('/', 1)[-1]} {n}" for p, n in sess.get("visits_planned", [])) + " …")
    if result.get("server_tree"):
        lines.append(f"server code taken from {result['server_tree']}")
    rat = " · ".join(f"{mode}: requests {_fmt(m['ratios']['requests'])}, $ {_fmt(m['ratios']['usd'])}, "
                     f"ghost p50 {_fmt(m['ratios']['ghost_p50'])}" for mode, m in result["modes"].items())
    lines.append(f"server ÷ naive — {rat}")
    if sess and sess.get("importing_files"):
        def part_ratio(m: dict[str, Any], part: str) -> Any:
            try:
                sv = m["arms"]["server"][part]["usd_per_1k_keys"]
                nv = m["arms"]["baseline"][part]["usd_per_1k_keys"]
                return sv / nv if sv is not None and nv else None
            except (KeyError, TypeError):
                return None
        lines.append(f"$ server ÷ naive by part — single files (the first {sess.get('lead_budget')} played "
                     "keystrokes): " + " · ".join(f"{mode} {_fmt(part_ratio(m, 'single'), 4)}"
                                                 for mode, m in result["modes"].items())
                     + f"; files that import from their siblings ({', '.join(sess['importing_files'])}, the rest): "
                     + " · ".join(f"{mode} {_fmt(part_ratio(m, 'imports'), 4)}" for mode, m in result["modes"].items()))
    for mode, m in result["modes"].items():
        nm = m["arms"]["server"].get("noise_modes")
        if nm:
            lines.append(f"model-noise shapes of the server's {mode} requests: "
                         + ", ".join(f"{k} {v}" for k, v in sorted(nm.items())))
        dirty = m["arms"]["server"]["accept"].get("dirty_examples") or []
        for d in dirty[:4]:
            lines.append(f"not clean [{mode}]: {d}")
    lines.append("server code: " + ", ".join(f"{mode} {m.get('server_code', '?')}" for mode, m in result["modes"].items()))
    if result.get("warning"):
        lines.append(f"**WARNING: {result['warning']}**")
    return "\n".join(lines) + "\n"


def _real(result: dict[str, Any]) -> bool:
    return bool((result.get("world") or {}).get("name", "ideal") != "ideal")


def baseline_key(result: dict[str, Any]) -> str:
    """``ci``, ``ci-fixed`` (ideal world, as recorded before the editor model), ``ci-real``, ..."""
    return f"{result['profile']}{'-fixed' if result['fake_common']['fixed'] else ''}{'-real' if _real(result) else ''}"


def gate(result: dict[str, Any], baselines: dict[str, Any] | None) -> tuple[bool, list[str]]:
    """PASS/FAIL per target and mode; FAIL also on a >15% regression against baseline.json."""
    ok = True
    out = []
    if baselines is not None and "runs" in baselines:
        baseline = baselines["runs"].get(baseline_key(result))
    else:
        baseline = baselines
    comparable = baseline is not None and baseline.get("profile") == result["profile"] and \
        bool(baseline.get("fixed")) == bool(result["fake_common"]["fixed"]) and \
        bool(baseline.get("real")) == _real(result)
    for mode, m in result["modes"].items():
        for name, get, op, target, higher in TARGETS:
            try:
                v = get(m)
            except (KeyError, TypeError):
                v = None
            t = target(mode)
            if v is None:
                passed = False
            else:
                passed = v <= t if op == "<=" else v >= t
            line = f"{'PASS' if passed else 'FAIL'}  [{mode}] {name}: {_fmt(v, 4)} (target {op} {t})"
            if comparable:
                b = baseline.get("values", {}).get(f"{mode}/{name}")
                if b is not None and v is not None:
                    if higher:
                        reg = v < b * (1 - REGRESSION)
                    else:
                        reg = v > b * (1 + REGRESSION) and not ("ms" in name and v - b < MS_FLOOR)
                    line += f"; baseline {_fmt(b, 4)}{' -> REGRESSION >15% (FAIL)' if reg else ''}"
                    passed = passed and not reg
                    if reg:
                        line = "FAIL" + line[4:]
            ok = ok and passed
            out.append(line)
    if not comparable:
        out.append(f"(no baseline for {baseline_key(result)} in baseline.json: no regression check)")
    return ok, out


def baseline_of(result: dict[str, Any]) -> dict[str, Any]:
    values = {}
    for mode, m in result["modes"].items():
        for name, get, _op, _t, _h in TARGETS:
            try:
                values[f"{mode}/{name}"] = get(m)
            except (KeyError, TypeError):
                pass
    return {"profile": result["profile"], "seed": result["seed"], "fixed": result["fake_common"]["fixed"],
            "real": _real(result),
            "git": result.get("git"), "written": result.get("date"), "values": values}


def write_baseline(result: dict[str, Any]) -> None:
    data = load_baseline() or {}
    if "runs" not in data:
        data = {"runs": {}}
    data["_comment"] = ("Gate values of the runs the regression check compares with (>15% worse = FAIL); "
                        "written by python -m tests.bench --write-baseline")
    data["runs"][baseline_key(result)] = baseline_of(result)
    with open(BASELINE, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)


def load_baseline() -> dict[str, Any] | None:
    try:
        with open(BASELINE, encoding="utf-8") as f:
            data: dict[str, Any] = json.load(f)
            return data
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- plot

def plot(path: str, result: dict[str, Any], arms: dict[str, Any], window_s: float = 40.0, warmup: int = 50) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .metrics import index_trace

    timeline = [(n, a) for n, a in arms.items() if a is not None][:3]
    fig, axes = plt.subplots(len(timeline) + 1, 1, figsize=(14, 3.2 * (len(timeline) + 1)),
                             gridspec_kw={"height_ratios": [3] * len(timeline) + [2.4]})
    for ax, (name, arm) in zip(axes, timeline):
        keys = [k for k in arm.keys if k.i >= warmup]
        if not keys:
            continue
        t0 = keys[0].send_ns
        t1 = t0 + window_s * 1e9
        ks = [k for k in keys if k.send_ns <= t1]
        colors = {"ins": "black", "nl": "purple", "bs": "red", "accept": "green", "mv": "grey", "fix": "orange"}
        for k in ks:
            x = (k.send_ns - t0) / 1e9
            ax.vlines(x, 0, 1, color=colors.get(k.kind, "black"), lw=0.8 if k.kind != "accept" else 2.5)
        # ghost text on screen: from its arrival to the next keystroke
        sends = [k.send_ns for k in keys]
        for r in arm.reqs.values():
            if r.shown and r.recv_ns and t0 <= r.recv_ns <= t1:
                nxt = next((s for s in sends if s > r.recv_ns), t1)
                ax.axvspan((r.recv_ns - t0) / 1e9, (min(nxt, t1) - t0) / 1e9, ymin=0.0, ymax=0.22,
                           color="tab:blue", alpha=0.5, lw=0)
        # upstream requests: bars from written to done, lanes by overlap
        lanes: list[float] = []
        if arm.trace:
            tr = index_trace(arm.trace)["by"]
            spans = [(e["written"], e.get("done", e["written"]), e.get("outcome"), rid)
                     for rid, e in tr.items() if "written" in e]
        else:
            spans = [(f["recv_ns"], f.get("done_ns") or f["recv_ns"], "ok",
                      (f.get("headers") or {}).get("x-bench-tag")) for f in arm.fake]
        shown_ids = {r.id for r in arm.reqs.values() if r.shown}
        for a, b, outcome, rid in sorted(spans):
            if b < t0 or a > t1:
                continue
            lane = next((i for i, end in enumerate(lanes) if end <= a), None)
            if lane is None:
                lanes.append(b)
                lane = len(lanes) - 1
            lanes[lane] = b
            col = "tab:red" if outcome == "cancelled" else ("tab:green" if rid in shown_ids else "tab:orange")
            y = 1.1 + 0.25 * lane
            ax.plot([(a - t0) / 1e9, (b - t0) / 1e9], [y, y], color=col, lw=3, solid_capstyle="butt")
        ax.set_xlim(0, window_s)
        ax.set_yticks([0.1, 0.5, 1.3])
        ax.set_yticklabels(["ghost shown", "keystrokes", "requests"])
        ax.set_title(f"{name}: keystrokes (black; red = backspace, purple = newline, green = Tab accept), "
                     f"upstream requests (green: answer shown, orange: not shown, red: cancelled), ghost text (blue)",
                     fontsize=9)
        ax.set_xlabel("seconds after warm-up")
    ax = axes[-1]
    names, hit, miss, out = [], [], [], []
    from tests.fake_deepseek.profiles import PRICING

    ph, pm, po = PRICING["models"]["deepseek-flash"]["offpeak"]
    for mode, m in result["modes"].items():
        for arm in ("server", "baseline"):
            a = m["arms"][arm]
            k = a["keystrokes"] or 1
            names.append(f"{'server' if arm == 'server' else 'naive'}\n@{mode}")
            hit.append(a["tokens"]["hit"] * ph / 1e6 * 1000 / k)
            miss.append(a["tokens"]["miss"] * pm / 1e6 * 1000 / k)
            out.append(a["tokens"]["out"] * po / 1e6 * 1000 / k)
    xs = range(len(names))
    ax.bar(xs, hit, label="cache-hit input", color="tab:green")
    ax.bar(xs, miss, bottom=hit, label="cache-miss input", color="tab:orange")
    ax.bar(xs, out, bottom=[h + m for h, m in zip(hit, miss)], label="output", color="tab:blue")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names)
    segs = [v for v in hit + miss + out if v > 0]
    if segs:
        ax.set_yscale("log")
        ax.set_ylim(bottom=min(segs) / 3, top=max(h + m_ + o for h, m_, o in zip(hit, miss, out)) * 3)
    ax.set_ylabel("$ / 1,000 keystrokes (off-peak, log)")
    ax.legend(fontsize=8)
    for x, (h, m_, o) in enumerate(zip(hit, miss, out)):
        ax.text(x, (h + m_ + o) * 1.1, f"${h + m_ + o:.4f}", ha="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
