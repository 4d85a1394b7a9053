"""The context engine's cost on the request path, measured (a benchmark, not a test).

    python -m tests.context_bench.request_path [--project NAME] [--keystrokes 200]

For each project: the files of the tasks are opened one after the other in a
:class:`ContextEngine` (analysed in its worker thread, as after ``didOpen``),
then for each file the request path of ``keystrokes`` simulated keystrokes
(the cursor walking down from the task line, one line every 5 keystrokes) is
timed: ``block(uri, line)``, what the server's completion handler adds (plus
building the config from the settings, a few microseconds). Also the
background analysis time per file (parse + resolve + definitions read from
disk), and how often the block's text changed across the keystrokes.
Prints a table; times in ms.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from deepseek_ls.context import ContextEngine

from .corpus import PROJECTS, fetch
from .tasks import build_tasks


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))]


async def measure(project: str, keystrokes: int) -> dict:
    spec = next(p for p in PROJECTS if p.name == project)
    root = fetch(spec)
    tasks = build_tasks(spec.name, root, spec.language, seed=0, limit=25)
    engine = ContextEngine(display=lambda p: os.path.relpath(p, root), path_of=lambda u: u[len("file://"):])
    engine.set_roots([str(root)])
    block_ms: list[float] = []
    analyse_ms: list[float] = []
    changes = 0
    for t in tasks:
        text, _offset = t.document(root)
        uri = f"file://{root / t.path}"
        start = time.perf_counter()
        engine.opened(uri, text, spec.language, 1)
        await engine.ready(uri, 30.0)
        analyse_ms.append((time.perf_counter() - start) * 1000)
        last = None
        for k in range(keystrokes):
            line = t.line + k // 5
            start = time.perf_counter()
            block = engine.block(uri, line)
            block_ms.append((time.perf_counter() - start) * 1000)
            rendered = block.project + block.file
            if last is not None and rendered != last:
                changes += 1
            last = rendered
    engine.close()
    return {"project": project, "files": len(tasks), "requests": len(block_ms),
            "p50": statistics.median(block_ms), "p95": pct(block_ms, 0.95), "max": max(block_ms),
            "analyse_p50": statistics.median(analyse_ms), "analyse_p95": pct(analyse_ms, 0.95),
            "changes": changes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--project", action="append", default=None)
    ap.add_argument("--keystrokes", type=int, default=200)
    a = ap.parse_args()
    names = a.project or [p.name for p in PROJECTS]
    print("| project | files | requests | block ms p50 / p95 / max | background analysis ms p50 / p95 | "
          "block changes |")
    print("| --- | --- | --- | --- | --- | --- |")
    everything: list[dict] = []
    for name in names:
        r = asyncio.run(measure(name, a.keystrokes))
        everything.append(r)
        print(f"| {r['project']} | {r['files']} | {r['requests']} | {r['p50']:.3f} / {r['p95']:.3f} / "
              f"{r['max']:.2f} | {r['analyse_p50']:.1f} / {r['analyse_p95']:.1f} | {r['changes']} |", flush=True)


if __name__ == "__main__":
    main()
