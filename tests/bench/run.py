"""``python -m tests.bench``: the typing-replay benchmark (tests/bench/README.md).

Per cache mode (``legacy64``, ``v4``) a fresh fake DeepSeek process; in it the
server arm (deepseek-ls over stdio) and the naive arm, each with its own API
key (own cache namespace), sequentially.  The naive arm runs live in the
modes of ``--naive-live`` (default v4); in the other modes its recorded
requests are billed again offline with the fake's own cache model and the
recorded timestamps (``metrics.rebill``: its traffic does not depend on the
cache, so this is exact; checked against the live ledger in the live mode).
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any

from . import report
from .diagnose import diagnose
from .harness import REPO, ArmResult, FakeConfig, FakeProc, run_naive_arm, run_server_arm, tokenizer_label
from .metrics import arm_metrics, part_metrics, ratios, rebill, switch_metrics
from .workload import (
    CI_PROFILES,
    IDEAL,
    MULTI_PROFILES,
    PROFILES,
    REAL,
    TypingModel,
    Workload,
    build_any,
    warmup_for,
    write_workspace,
)

HERE = os.path.dirname(os.path.abspath(__file__))


def git_sha() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                              text=True, timeout=10).stdout.strip() or "nogit"
    except Exception:
        return "nogit"


def server_code_id(tree: str | None = None) -> str:
    """HEAD plus a hash of uncommitted changes under deepseek_ls/ (the tree is shared: it can change
    between arms) of this repository or of ``tree``."""
    import hashlib

    cwd = tree or HERE
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        diff = subprocess.run(["git", "diff", "HEAD", "--", ":(top)deepseek_ls"], cwd=cwd, capture_output=True,
                              timeout=10).stdout
        return head + (f"+dirty:{hashlib.sha1(diff).hexdigest()[:8]}" if diff else "")
    except Exception:
        return "?"


def snapshot(work: str, server_tree: str | None = None) -> str:
    """Copy deepseek_ls/ (of ``server_tree`` when given, e.g. another branch's worktree) and the fake
    (as they are now, uncommitted edits included) to ``work``; every arm runs that copy, so a commit
    landing in the shared tree mid-run cannot split the arms."""
    import shutil

    dst = os.path.join(work, "src")
    if os.path.exists(dst):
        shutil.rmtree(dst)
    ign = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(os.path.join(server_tree or REPO, "deepseek_ls"), os.path.join(dst, "deepseek_ls"), ignore=ign)
    shutil.copytree(os.path.join(REPO, "tests", "fake_deepseek"), os.path.join(dst, "tests", "fake_deepseek"),
                    ignore=ign)
    open(os.path.join(dst, "tests", "__init__.py"), "w").close()
    return dst


def noise_tally(records: list[dict[str, Any]], truths: list[tuple[str, list[tuple[int, int]]]], mix: str, seed: int) -> dict[str, Any]:
    """Which model-noise modes the fake applied to an arm's FIM requests (recomputed: the draw is a
    pure function of seed, prompt and suffix)."""
    from tests.fake_deepseek.noise import NoisyOracle, parse_mix
    from tests.fake_deepseek.oracle import Oracle

    m = parse_mix(mix)
    if not m:
        return {}
    o = Oracle()
    for text, spans in truths:
        o.register(text, spans)
    n = NoisyOracle(o, m, seed)
    for r in records:
        b = r.get("body") or {}
        if isinstance(b, dict) and "prompt" in b:
            stop = b.get("stop") or []
            n.answer(b["prompt"], b.get("suffix"), [stop] if isinstance(stop, str) else list(stop))
    return dict(n.counts)


def planned_visits(wl: Workload) -> list[list[Any]]:
    """The first visits of a session as planned, ``[path, played keystrokes]``, up to the session's
    share of the played budget (at most 12; a visit that finishes its file early hands on)."""
    out: list[list[Any]] = []
    want = (wl.budget or 0) - (wl.lead_budget or 0 if wl.lead else 0)
    total = 0
    for fi, n in (wl.segments or [])[:12]:
        if want and total >= want:
            break
        out.append([wl.regions[(wl.files or [])[fi][0]].path, n])
        total += n
    return out


def _dump_arm(path: str, arm: ArmResult) -> None:
    data = {"name": arm.name, "keys": [dataclasses.asdict(k) for k in arm.keys],
            "reqs": [dataclasses.asdict(r) for r in arm.reqs.values()], "accepts": arm.accepts,
            "cpu_s": arm.cpu_s, "rss_kb": arm.rss_kb, "wall_s": arm.wall_s, "messages": arm.messages,
            "fake": arm.fake}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, default=str)


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="ci", choices=sorted(PROFILES) + sorted(MULTI_PROFILES) + sorted(CI_PROFILES),
                    help="ci: stdlib functions one file after another, then the last 150 played keystrokes in "
                         "json package files that import from each other, all in a workspace folder on disk; "
                         "ci-legacy: the ci of before (no workspace on disk, no importing files); multi: a "
                         "session moving between the files of a project that import from each other; the "
                         "others type stdlib functions one after another without a workspace")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit", type=int, default=None, help="planned keystrokes at most (overrides the profile)")
    ap.add_argument("--budget", type=int, default=None, help="played keystrokes at most (overrides the profile)")
    ap.add_argument("--fixed", action="store_true", help="fake latency = --base-ms only (no per-token time, no jitter)")
    ap.add_argument("--base-ms", type=float, default=250.0)
    ap.add_argument("--ms-per-token", type=float, default=8.0)
    ap.add_argument("--jitter", type=float, default=0.0, help="log-normal sigma of the fake's TTFT jitter")
    ap.add_argument("--modes", default="legacy64,v4")
    ap.add_argument("--naive-live", default="v4", help="modes where the naive arm runs live (others: re-billed)")
    ap.add_argument("--persist-delay", type=float, default=2.0)
    ap.add_argument("--unit", type=int, default=128)
    ap.add_argument("--no-withhold-last", action="store_true")
    ap.add_argument("--p-wrong", type=float, default=0.3)
    ap.add_argument("--speed", type=float, default=1.0, help="IKI scale (0.7 fast, 1.5 slow)")
    ap.add_argument("--policy", default="A", choices=["A", "B"])
    ap.add_argument("--world", default="real", choices=["real", "ideal"],
                    help="real (default): editor model (VS Code / Neovim auto-pairs and auto-indent), CRLF "
                         "files, model noise, budget split over files; ideal: the original replay "
                         "(exact indentation, no auto-pairs, LF, oracle answers only)")
    ap.add_argument("--noise", default=None, help="fake model-noise mix (off | real | all | mode=p,...); "
                                                  "default: real in the real world, off in the ideal one")
    ap.add_argument("--crlf-share", type=float, default=None, help="share of files opened with CRLF (real: 0.5)")
    ap.add_argument("--editors", default=None, help="editor flavours alternating per file (real: vscode,nvim)")
    ap.add_argument("--files", type=int, default=None,
                    help="split a played budget over this many files (real: 2)")
    ap.add_argument("--naive-own-user", action="store_true",
                    help="the naive arm runs the schedule with its own simulated user instead of replaying "
                         "the server arm's keystrokes (then the arms see different keystrokes)")
    ap.add_argument("--metronome", default=None, help="BURST_MS,PAUSE_MS,KEYS (determinism test typing)")
    ap.add_argument("--server-setting", action="append", default=[],
                    help="setting for the server arm: a completion one (debounceMs=100) or with its section "
                         "(context.enabled=false)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--server-tree", default=None,
                    help="take deepseek_ls/ from this tree (e.g. another branch's worktree) instead of this one")
    ap.add_argument("--live-tree", action="store_true",
                    help="run the server and fake from the working tree instead of a snapshot taken at start")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--no-calibrate", action="store_true", help="skip measuring the harness/pipe floor (~20 s)")
    ap.add_argument("--no-gate", action="store_true")
    ap.add_argument("--write-baseline", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    return ap.parse_args(argv)


def run(a: argparse.Namespace) -> dict[str, Any]:
    model = TypingModel(speed=a.speed)
    if a.metronome:
        b, p, n = a.metronome.split(",")
        model = dataclasses.replace(model, metronome=(float(b), float(p), int(n)), typo_p=0.02)
    world = IDEAL if a.world == "ideal" else REAL
    repl = {}
    if a.noise is not None:
        repl["noise"] = a.noise
    if a.crlf_share is not None:
        repl["crlf_share"] = a.crlf_share
    if a.editors is not None:
        repl["editors"] = tuple(x for x in a.editors.split(",") if x)
    if a.files is not None:
        repl["files"] = a.files
    if repl:
        world = dataclasses.replace(world, **repl)
    wl = build_any(a.profile, a.seed, model, limit=a.limit, world=world)
    WARMUP_KEYS = warmup_for(a.profile)
    budget = a.budget if a.budget is not None else wl.budget
    lead_budget = wl.lead_budget
    if wl.lead and a.budget is not None and wl.budget is not None and wl.lead_budget is not None:
        lead_budget = max(0, a.budget - (wl.budget - wl.lead_budget))     # the tail keeps its length
    sha = git_sha()
    tree = f"-tree-{os.path.basename(os.path.normpath(a.server_tree))}" if a.server_tree else ""
    stamp = f"{a.profile}-{a.seed}-{sha}{tree}{'-fixed' if a.fixed else ''}{'-ideal' if world.ideal else ''}"
    work = os.path.join(a.out, "work", stamp)
    os.makedirs(work, exist_ok=True)
    settings = {}
    for s in a.server_setting:
        k, _, v = s.partition("=")
        settings[k] = json.loads(v) if v[:1].isdigit() or v in ("true", "false") else v
    code = server_code_id(a.server_tree)
    src = REPO if a.live_tree and not a.server_tree else snapshot(work, a.server_tree)
    root_uri = None
    if wl.project:
        import shutil

        ws = os.path.join(work, "workspace")
        shutil.rmtree(ws, ignore_errors=True)
        root_uri = write_workspace(wl, ws)
    modes = [m for m in a.modes.split(",") if m]
    live = [m for m in a.naive_live.split(",") if m in modes] or modes[-1:]
    def say(*x: Any) -> None:
        if not a.quiet:
            print(*x, file=sys.stderr, flush=True)
    say(f"workload: {[(d['path'], d['qualname'], d['source']) for d in wl.describe()]}, planned "
        f"{wl.planned_keys()} keys ({wl.planned_ms() / 1000:.0f} s), played budget {budget}")
    result: dict[str, Any] = {"profile": a.profile, "seed": a.seed, "git": sha, "server_code": code,
                    "python": platform.python_version(),
                    "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "machine": {"nproc": os.cpu_count(), "loadavg_start": list(os.getloadavg())},
                    "files": wl.describe(), "warmup_keys": WARMUP_KEYS, "played_budget": budget,
                    "typing": dataclasses.asdict(model), "policy": a.policy,
                    "world": dataclasses.asdict(world), "region_budget": wl.region_budget,
                    "server_settings": settings or "defaults",
                    "server_tree": a.server_tree,
                    "session": None if wl.session is None else {
                        "files": [wl.regions[f[0]].path for f in wl.files or []],
                        "sources": wl.project_sources,
                        "visits_planned": planned_visits(wl),
                        "workspace": root_uri,
                        "lead_regions": wl.lead, "lead_budget": lead_budget,
                        "importing_files": sorted({r.path for r in wl.regions[wl.lead:]}) if wl.lead else None},
                    "prices": "pricing-2026-11-15.json", "modes": {}}
    if not a.no_calibrate:
        from .calibrate import calibrate

        say("calibrating the harness (stub servers) ...")
        result["harness_calibration_ms"] = {
            "_what": "harness send -> receive with a stub server that answers at once: raw = stdlib asyncio "
                     "stdin reader (harness + pipes floor), pygls = pygls start_io (its stdio transport)",
            **calibrate(150)}
    arms_for_plot: dict[str, Any] = {}
    file_of: list[int] | None = None
    if wl.files is not None:
        file_of = [0] * len(wl.regions)
        for fi, regs in enumerate(wl.files):
            for ri in regs:
                file_of[ri] = fi
    naive_raw: dict[str, Any] = {}
    lead = range(wl.lead)                      # ``ci``: the single-file regions (typed first)
    tail = range(wl.lead, len(wl.regions))     # ``ci``: the regions in files that import from siblings
    for mode in modes:
        cfg = FakeConfig(cache_mode=mode, base_ms=a.base_ms, ms_per_token=a.ms_per_token, jitter=a.jitter,
                         fixed=a.fixed, persist_delay_s=a.persist_delay, unit=a.unit,
                         withhold_last=not a.no_withhold_last, p_wrong=a.p_wrong, seed=a.seed,
                         noise=world.noise)
        skey, nkey = f"sk-bench-server-{mode}", f"sk-bench-naive-{mode}"
        flog = os.path.join(work, f"fake-{mode}.log")
        fake = FakeProc(cfg, [skey, nkey], flog, cwd=src)
        try:
            for text, spans in wl.oracle_truths():
                fake.register_truth(text, spans)
            t = time.monotonic()
            if a.live_tree:
                code = server_code_id()
            say(f"[{mode}] server arm ({code}) ...")
            srv = asyncio.run(run_server_arm(f"server-{mode}", fake, skey, wl.regions, wl.schedules, work,
                                             settings or None, budget, src, editors=wl.editors,
                                             region_budget=wl.region_budget, seed=a.seed, policy=a.policy,
                                             session=wl.session, **({"root_uri": root_uri} if root_uri else {}),
                                             switch_ms=model.metronome[1] if model.metronome else None,
                                             lead=wl.lead, lead_budget=lead_budget))
            say(f"[{mode}] server arm done in {time.monotonic() - t:.0f} s: {len(srv.fake)} upstream requests")
            _dump_arm(os.path.join(work, f"arm-server-{mode}.json"), srv)
            nv = None
            if mode in live:
                t = time.monotonic()
                say(f"[{mode}] naive arm ...")
                nv = asyncio.run(run_naive_arm(f"naive-{mode}", fake, nkey, wl.regions, wl.schedules,
                                               None if a.naive_own_user else srv.keys, editors=wl.editors,
                                               region_budget=wl.region_budget, seed=a.seed,
                                               session=wl.session, lead=wl.lead, lead_budget=lead_budget))
                say(f"[{mode}] naive arm done in {time.monotonic() - t:.0f} s: {len(nv.fake)} upstream requests")
                _dump_arm(os.path.join(work, f"arm-naive-{mode}.json"), nv)
                naive_raw[mode] = nv
        finally:
            fake.stop()
        tok = tokenizer_label(flog)
        sm = arm_metrics(srv.keys, srv.reqs, srv.fake, srv.trace, warmup=WARMUP_KEYS, cpu_s=srv.cpu_s,
                         rss_kb=srv.rss_kb, lateness_ms=srv.lateness_ms)
        sm["diagnosis"] = diagnose(srv.keys, srv.reqs, srv.fake, srv.trace, warmup=WARMUP_KEYS)
        try:
            sm["noise_modes"] = noise_tally(srv.fake, wl.oracle_truths(), world.noise, a.seed)
        except Exception as e:      # a convenience figure: never lose the run for it
            sm["noise_modes"] = {"error": repr(e)}
        if file_of is not None:
            sm["switch"] = switch_metrics(srv.keys, srv.reqs, srv.fake, srv.trace, file_of, warmup=WARMUP_KEYS)
        if wl.lead:
            sm["single"] = part_metrics(srv.keys, srv.reqs, srv.fake, srv.trace, lead, warmup=WARMUP_KEYS)
            sm["imports"] = part_metrics(srv.keys, srv.reqs, srv.fake, srv.trace, tail, warmup=WARMUP_KEYS)
        sm["server_messages"] = [m[1].get("message") for m in srv.messages
                                 if m[0] == "window/showMessage" and isinstance(m[1], dict)][:5]
        block: dict[str, Any] = {"fake": cfg.describe(tok), "server_code": code, "arms": {"server": sm}}
        if nv is not None:
            bm = arm_metrics(nv.keys, nv.reqs, nv.fake, None, warmup=WARMUP_KEYS, naive=True,
                             lateness_ms=nv.lateness_ms)
            bm["billing"] = "live"
            if file_of is not None:
                bm["switch"] = switch_metrics(nv.keys, nv.reqs, nv.fake, None, file_of, warmup=WARMUP_KEYS,
                                              naive=True)
            if wl.lead:
                bm["single"] = part_metrics(nv.keys, nv.reqs, nv.fake, None, lead, warmup=WARMUP_KEYS, naive=True)
                bm["imports"] = part_metrics(nv.keys, nv.reqs, nv.fake, None, tail, warmup=WARMUP_KEYS, naive=True)
            # self-check of the offline re-billing against the live ledger
            rb = rebill(nv.fake, mode, a.persist_delay, a.unit, not a.no_withhold_last)
            live_hit = sum(r.get("hit", 0) for r in nv.fake if r.get("billed"))
            re_hit = sum(r.get("hit", 0) for r in rb if r.get("billed"))
            bm["rebill_check"] = {"live_hit": live_hit, "rebilled_hit": re_hit}
            block["arms"]["baseline"] = bm
        block["_pending_naive"] = nv is None
        result["modes"][mode] = block
        arms_for_plot[f"server @{mode}"] = srv
        for i, f in enumerate(result["files"]):
            f.setdefault("played_keystrokes", {})[mode] = sum(1 for k in srv.keys if k.region == i)
        result["fake_common"] = {"base_ms": a.base_ms, "fixed": a.fixed, "tokenizer": tok}
    # naive arms of the modes without a live run: re-billed
    src_mode = next(iter(naive_raw), "")
    for mode, block in result["modes"].items():
        if block.pop("_pending_naive"):
            nv = naive_raw[src_mode]
            rb = rebill(nv.fake, mode, a.persist_delay, a.unit, not a.no_withhold_last)
            bm = arm_metrics(nv.keys, nv.reqs, rb, None, warmup=WARMUP_KEYS, naive=True,
                             lateness_ms=nv.lateness_ms)
            bm["billing"] = f"re-billed offline from the live naive run in {src_mode}"
            if file_of is not None:
                bm["switch"] = switch_metrics(nv.keys, nv.reqs, rb, None, file_of, warmup=WARMUP_KEYS, naive=True)
            if wl.lead:
                bm["single"] = part_metrics(nv.keys, nv.reqs, rb, None, lead, warmup=WARMUP_KEYS, naive=True)
                bm["imports"] = part_metrics(nv.keys, nv.reqs, rb, None, tail, warmup=WARMUP_KEYS, naive=True)
            block["arms"]["baseline"] = bm
        block["ratios"] = ratios(block["arms"]["server"], block["arms"]["baseline"])
    if src_mode:
        arms_for_plot[f"naive @{src_mode}"] = naive_raw[src_mode]
    result["machine"]["loadavg_end"] = list(os.getloadavg())
    codes = {b["server_code"] for b in result["modes"].values()}
    if len(codes) > 1:
        result["warning"] = f"the server code changed between arms: {sorted(codes)}; rerun for comparable arms"
        say("WARNING: " + result["warning"])

    os.makedirs(a.out, exist_ok=True)
    base = os.path.join(a.out, stamp)
    with open(base + ".json", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    md = report.markdown(result)
    ok, lines = True, list[str]()
    if not a.no_gate:
        ok, lines = report.gate(result, report.load_baseline())
        md += "\n```\n" + "\n".join(lines) + f"\nGATE: {'PASS' if ok else 'FAIL'}\n```\n"
    with open(base + ".md", "w", encoding="utf-8") as f:
        f.write(md)
    if not a.no_plot:
        try:
            report.plot(base + ".png", result, arms_for_plot, warmup=WARMUP_KEYS)
        except Exception as e:   # the plot is a convenience: never lose the numbers for it
            say(f"plot failed: {e!r}")
    if a.write_baseline:
        report.write_baseline(result)
    result["_gate_ok"] = ok
    result["_paths"] = {"json": base + ".json", "md": base + ".md", "png": base + ".png", "work": work}
    if not a.quiet:
        print(md)
        print(f"results: {base}.json / .md / .png (raw traces in {work})")
    return result


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    res = run(a)
    return 0 if res["_gate_ok"] or a.no_gate else 1


if __name__ == "__main__":
    raise SystemExit(main())
