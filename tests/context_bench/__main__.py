"""python -m tests.context_bench {fetch | tasks | recall | quality} [options]

fetch    download and unpack the pinned projects (corpus.py) into the scratch dir
tasks    list the tasks (JSON lines) for a seed
recall   run the server over LSP on every task, one tab and a few tabs; write results
quality  the real model on the first N tasks: the server without / with cross-file context, naive client
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "tests" / "context_bench" / "results"


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def _write(out: Path, stem: str, rows: list[dict], summary: dict, meta: dict, md: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    slim = [{k: v for k, v in r.items() if k not in ("body",)} for r in rows]
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "summary": summary, "rows": slim}, indent=1) + "\n")
    (out / f"{stem}.md").write_text(md)
    print(md)
    print(f"wrote {out / (stem + '.json')} and .md", file=sys.stderr)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _reuse(specs: list[str], rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    from .quality import reuse_arm
    for spec in specs:
        arm, _, src = spec.partition("=")
        path, _, from_arm = src.partition(":")
        n = reuse_arm(rows, _jsonl(Path(path)), arm, from_arm or arm, mark=path)
        meta.setdefault("reused", []).append({"arm": arm, "from": path, "from_arm": from_arm or arm, "rows": n})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.context_bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("fetch", "tasks", "recall", "quality"):
        p = sub.add_parser(name)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--per-project", type=int, default=25, help="tasks per project at most")
        p.add_argument("--project", action="append", default=None, help="only this project (repeatable)")
        p.add_argument("--out", type=Path, default=DEFAULT_OUT)
        if name == "recall":
            p.add_argument("--setting", choices=["one", "few"], action="append", default=None)
        if name == "quality":
            p.add_argument("--limit", type=int, default=20, help="tasks (round-robin over projects)")
            p.add_argument("--prefix-chars", type=int, default=3000,
                           help="completion.prefixChars of the server arm (bounds prompt processing time)")
            p.add_argument("--timeout-ms", type=int, default=60000)
            p.add_argument("--arm", action="append", default=None,
                           choices=["nocontext", "server", "near", "oracle", "naive"],
                           help="repeatable; default nocontext, server, naive")
            p.add_argument("--show-prompts", type=int, default=0, metavar="CHARS",
                           help="print the first CHARS characters of each arm's prompt for the first task")
            p.add_argument("--skip", type=int, default=0, help="leave out the first N chosen tasks")
            p.add_argument("--reuse", action="append", default=[], metavar="ARM=JSONL[:FROM]",
                           help="fill ARM in rows that lack it from an earlier run's quality.partial.jsonl "
                                "(its arm FROM, default ARM): for requests that are the same in both runs, "
                                "e.g. naive (does not depend on the server); greedy decoding")
            p.add_argument("--report-only", action="store_true",
                           help="no model run: rebuild quality.json/.md from OUT/quality.partial.jsonl")
    a = ap.parse_args(argv)

    if a.cmd == "fetch":
        from .corpus import fetch_all
        for p, root in fetch_all(a.project):
            print(f"{p.name}\t{p.language}\t{root}")
        return 0
    if a.cmd == "tasks":
        from .recall import all_tasks
        for _root, tasks in all_tasks(a.seed, a.per_project, a.project):
            for t in tasks:
                print(json.dumps(t.to_json()))
        return 0
    if a.cmd == "recall":
        from .recall import markdown, run, summarize
        rows, meta = run(a.seed, a.per_project, a.project, tuple(a.setting or ("one", "few")))
        meta["commit"] = _commit()
        summary = summarize(rows)
        _write(a.out, "recall", rows, summary, meta, markdown(summary, meta))
        return 0
    from .quality import markdown as qmd
    from .quality import paired_all
    from .quality import run as qrun
    from .quality import summarize as qsum
    if a.report_only:
        lines = (a.out / "quality.partial.jsonl").read_text().splitlines()
        rows = [json.loads(x) for x in lines if x.strip()]
        meta = {"seed": a.seed, "per_project": a.per_project, "limit": a.limit, "tasks": len(rows),
                "prefix_chars": a.prefix_chars, "timeout_ms": a.timeout_ms, "seconds": None, "partial": True,
                "model": "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (node-llama-cpp 3.21.1, greedy)"}
        _reuse(a.reuse, rows, meta)
        meta["paired"] = paired_all(rows)
        summary = qsum(rows)
        _write(a.out, "quality", rows, summary, meta, qmd(summary, meta))
        return 0
    rows, meta = qrun(a.seed, a.per_project, a.project, a.limit, a.prefix_chars, a.timeout_ms,
                      tuple(a.arm or ("nocontext", "server", "naive")), partial=a.out / "quality.partial.jsonl",
                      show_prompts=a.show_prompts, skip=a.skip)
    meta["commit"] = _commit()
    _reuse(a.reuse, rows, meta)
    meta["paired"] = paired_all(rows)
    summary = qsum(rows)
    _write(a.out, "quality", rows, summary, meta, qmd(summary, meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
