"""Keystroke cost of the server's document model on a large document (not a test).

    PYTHONPATH=$PWD python tests/bench_documents.py [megabytes]

Prints, for an LF and a CRLF document: the time to open it, the mean and
99th percentile of one keystroke (a one-character incremental change at a
random line), the time to build a snapshot's text after a change, and the
same keystroke through pygls's own TextDocument for comparison.
"""

from __future__ import annotations

import random
import statistics
import sys
import time

from lsprotocol import types
from pygls.workspace import TextDocument

from deepseek_ls.documents import Document


def measure(eol: str, megabytes: float) -> None:
    line = "    value = compute(alpha, beta) + 12345  # 😀 中文 comment" + eol
    text = line * int(megabytes * 1_000_000 / len(line))
    rng = random.Random(1)
    t = time.perf_counter()
    doc = Document("file:///big.py", text)
    opened = time.perf_counter() - t
    lines = doc.line_count - 1
    costs = []
    for i in range(2000):
        at = (rng.randrange(lines), rng.randrange(40))
        t = time.perf_counter()
        doc.change(at, at, "x" if i % 10 else "\n", "utf-16", i)
        costs.append(time.perf_counter() - t)
    t = time.perf_counter()
    _ = doc.text
    snapshot = time.perf_counter() - t
    costs.sort()
    pygls_doc = TextDocument("file:///big.py", text)
    pygls_costs = []
    for i in range(5):
        at = types.Position(line=rng.randrange(lines), character=5)
        change = types.TextDocumentContentChangePartial(range=types.Range(start=at, end=at), text="x")
        t = time.perf_counter()
        pygls_doc.apply_change(change)
        pygls_costs.append(time.perf_counter() - t)
    name = "CRLF" if eol == "\r\n" else "LF"
    print(f"{name:4} {len(text) / 1e6:.1f} M chars, {lines + 1} lines: open {opened * 1000:.0f} ms; "
          f"keystroke mean {statistics.mean(costs) * 1e6:.0f} us, p99 {costs[int(len(costs) * 0.99)] * 1e6:.0f} us; "
          f"snapshot text after a change {snapshot * 1000:.0f} ms; "
          f"pygls keystroke mean {statistics.mean(pygls_costs) * 1000:.0f} ms")


if __name__ == "__main__":
    size = float(sys.argv[1]) if len(sys.argv) > 1 else 50
    for eol in ("\n", "\r\n"):
        measure(eol, size)
