"""Context recall: is the definition a line needs in the FIM request the server sends?"""
from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

from tests.fake_deepseek import FakeDeepSeek

from .corpus import PROJECTS, fetch
from .run import run_server_tasks
from .tasks import Task, build_tasks

SETTINGS = ("one", "few")


def all_tasks(seed: int, per_project: int, projects: list[str] | None = None) -> list[tuple[Path, list[Task]]]:
    out = []
    for p in PROJECTS:
        if projects and p.name not in projects:
            continue
        root = fetch(p)
        out.append((root, build_tasks(p.name, root, p.language, seed=seed, limit=per_project)))
    return out


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))]


def summarize(rows: list[dict]) -> dict:
    def agg(rs: list[dict]) -> dict:
        if not rs:
            return {}
        build = [r["build_ms"] for r in rs if r.get("build_ms") is not None]
        toks = [r["prompt_tokens"] for r in rs if r.get("prompt_tokens")]
        return {"tasks": len(rs), "hits": sum(r["hit"] for r in rs),
                "recall": round(sum(r["hit"] for r in rs) / len(rs), 3),
                "no_request": sum(1 for r in rs if not r["requests"]),
                "prompt_chars_mean": round(statistics.mean(r["prompt_chars"] for r in rs)),
                "prompt_tokens_mean": round(statistics.mean(toks)) if toks else None,
                "build_ms_p50": round(pct(build, 0.5), 2) if build else None,
                "build_ms_p95": round(pct(build, 0.95), 2) if build else None,
                "lsp_ms_p50": round(pct([r["lsp_ms"] for r in rs], 0.5), 1)}
    out: dict = {}
    for s in SETTINGS:
        rs = [r for r in rows if r["setting"] == s]
        if not rs:
            continue
        out[s] = {"all": agg(rs)}
        for lang in ("python", "typescript", "go"):
            out[s][lang] = agg([r for r in rs if r["language"] == lang])
        for proj in sorted({r["project"] for r in rs}):
            out[s][proj] = agg([r for r in rs if r["project"] == proj])
        if s == "few":
            out[s]["def_file_open"] = agg([r for r in rs if r["def_file_open"]])
            out[s]["def_file_not_open"] = agg([r for r in rs if not r["def_file_open"]])
    return out


def markdown(summary: dict, meta: dict) -> str:
    lines = [f"Context recall, seed {meta['seed']}, {meta['tasks']} tasks, server at {meta.get('commit', '?')}",
             "", "| setting | group | tasks | recall | prompt chars | prompt tokens | build ms p50 / p95 |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for s, groups in summary.items():
        for g, a in groups.items():
            if not a:
                continue
            lines.append(f"| {'one tab' if s == 'one' else 'few tabs'} | {g} | {a['tasks']} | {a['recall']:.2f} | "
                         f"{a['prompt_chars_mean']} | {a['prompt_tokens_mean']} | "
                         f"{a['build_ms_p50']} / {a['build_ms_p95']} |")
    return "\n".join(lines) + "\n"


def run(seed: int = 0, per_project: int = 25, projects: list[str] | None = None,
        settings: tuple[str, ...] = SETTINGS, workdir: str | None = None) -> tuple[list[dict], dict]:
    groups = all_tasks(seed, per_project, projects)
    rows: list[dict] = []

    def progress(task: Task, r: dict, i: int, n: int) -> None:
        if i == n or i % 10 == 0:
            print(f"  {task.project} {r['setting']}: {i}/{n}", file=sys.stderr, flush=True)

    with FakeDeepSeek() as fake:
        fake.fim_handler = lambda body: ""      # the answer does not matter here
        for setting in settings:
            for root, tasks in groups:
                if tasks:
                    rows += asyncio.run(run_server_tasks(fake, root, tasks, setting, workdir=workdir,
                                                         progress=progress))
    meta = {"seed": seed, "per_project": per_project, "tasks": sum(len(t) for _, t in groups),
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return rows, meta
