"""Measure what masking adds to one FIM request (the hot path), and compare with detect-secrets.

    .venv/bin/python -m tests.bench_masking [--runs 300]

It replays typing: a real source file (the project's own engine, ~25k
characters, with a few secrets planted) is cut at a moving cursor, the FIM
prompt is built the way the engine builds it, and the time of
``MASKER.mask_parts(head, window, suffix)`` is recorded per keystroke. Cold
= a fresh masker each time (nothing cached); warm = one masker across
keystrokes (the stable prompt head comes from its cache, as in the server).
Wall time and the thread's CPU time are both given: on a loaded machine the
wall p95 is mostly time the process was not scheduled.
If ``detect-secrets`` is installed it is timed on the same prompt text
(``scan_line`` over each line, default plugins), for the decision record.
Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from deepseek_ls.policy import Masker
from deepseek_ls.prompt.fim import build_fim_prompt
from deepseek_ls.snapshot import DocumentSnapshot

SECRETS = ('\nAWS_KEY = "AKIAIOSFODNN7EXAMPLE"\nGITHUB = "ghp_' + "a1B2" * 9 + '"\n'
           'db_password = "s3cr3tP4ss!"\nURL = "postgres://admin:hunter2pass@db/x"\n')


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _report(name: str, ms: list[float]) -> None:
    print(f"{name:42s} p50 {statistics.median(ms):7.3f} ms   p95 {_pct(ms, 0.95):7.3f} ms   "
          f"max {max(ms):7.3f} ms   (n={len(ms)})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    source = (root / "deepseek_ls/completion/engine.py").read_text()
    text = source[: len(source) // 2] + SECRETS + source[len(source) // 2:]
    other = DocumentSnapshot("file:///p/other.py", "other.py", "python",
                             (root / "deepseek_ls/prompt/fim.py").read_text())
    doc = DocumentSnapshot("file:///p/engine.py", "engine.py", "python", text)
    start = len(text) * 3 // 4
    prompts = []
    for i in range(args.runs):
        fim = build_fim_prompt(doc, start + i, others=(other,))
        prompts.append((fim.prompt[: fim.head_len], fim.prompt[fim.head_len:], fim.suffix))
    print(f"prompt: {sum(map(len, prompts[0]))} characters (head {len(prompts[0][0])}, "
          f"window {len(prompts[0][1])}, suffix {len(prompts[0][2])})")

    for name, fresh in (("cold (no cache)", True), ("warm (server's case)", False)):
        wall, cpu = [], []
        m = Masker()
        for parts in prompts:
            if fresh:
                m = Masker()
            t, c = time.perf_counter(), time.thread_time()
            m.mask_parts(*parts)
            cpu.append((time.thread_time() - c) * 1000)
            wall.append((time.perf_counter() - t) * 1000)
        _report(f"mask_parts {name}, wall", wall)
        _report(f"mask_parts {name}, CPU", cpu)

    try:
        from detect_secrets.core.scan import scan_line
        from detect_secrets.settings import default_settings
    except ImportError:
        print("detect-secrets not installed: not compared")
        return
    times = []
    with default_settings():
        for parts in prompts[: max(5, args.runs // 20)]:
            joined = "".join(parts)
            t = time.perf_counter()
            for line in joined.splitlines():
                list(scan_line(line))
            times.append((time.perf_counter() - t) * 1000)
    _report("detect-secrets scan_line per line", times)


if __name__ == "__main__":
    main()
