"""Server overhead A/B: the same synthetic keystrokes against two or more server builds.

``python -m tests.bench.overhead [--n 120] [--rounds 2] [--variant NAME=DIR[,ENV=VALUE...]]``

Each request is one "keystroke" that needs the network (a new line in
json/decoder.py, alternately an empty indented line, multi-line and
streamed, and a half-typed call, single line), sent as didChange +
inlineCompletion over stdio, answered by the fake 100 ms later. Overhead is
the typing-replay metric: ``http_written - lsp_recv - traced waits``, from
the server's trace, with the parts in between. Variants run interleaved,
round by round, so drift on a shared machine hits them alike; the first
variant is the baseline of the ratios. Without ``--variant``: the working
tree, and the working tree with pygls' threaded stdin reader.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from typing import Any

from .harness import REPO, FakeConfig, FakeProc, LspClient, read_trace, server_env, utf16_position
from .metrics import index_trace

URI = "file:///bench/json/decoder.py"


def _source() -> str:
    path = os.path.join(REPO, "tests", "bench", "corpus", "json", "decoder.py")
    if not os.path.exists(path):
        import json.decoder
        path = json.decoder.__file__
    with open(path, encoding="utf-8") as f:
        return f.read()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run_variant(fake: FakeProc, key: str, cwd: str, env_extra: dict[str, str], n: int,
                      workdir: str, label: str) -> dict[str, list[float]]:
    trace_path = os.path.join(workdir, f"trace-{label}.jsonl")
    if os.path.exists(trace_path):
        os.remove(trace_path)
    env = {**server_env(key, fake.base_url, trace_path), **env_extra}
    env["PYTHONPATH"] = cwd
    lsp = LspClient()
    await lsp.start(env, os.path.join(workdir, f"server-{label}.log"), cwd=cwd)
    await lsp.request("initialize", {
        "processId": os.getpid(), "rootUri": "file:///bench",
        "initializationOptions": {"deepseek": {"completion": {"debounceMs": 40, "adaptiveDebounce": False}}},
        "capabilities": {"general": {"positionEncodings": ["utf-16"]},
                         "textDocument": {"inlineCompletion": {}}}}, timeout=60)
    lsp.notify("initialized", {})
    text = _source()
    anchor = text.index("\ndef JSONObject(")
    text = text[:anchor] + "\ndef bench():\n    pass\n" + text[anchor:]
    cursor = anchor + len("\ndef bench():\n    pass")
    lsp.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1,
                                                         "text": text}})
    await asyncio.sleep(1.0)
    version = 1
    for i in range(n):
        insert = "\n    " if i % 2 else f"\n    v{i} = f(x"
        start = utf16_position(text, cursor)
        text = text[:cursor] + insert + text[cursor:]
        cursor += len(insert)
        version += 1
        lsp.notify("textDocument/didChange", {
            "textDocument": {"uri": URI, "version": version},
            "contentChanges": [{"range": {"start": start, "end": start}, "text": insert}]})
        await lsp.request("textDocument/inlineCompletion", {
            "textDocument": {"uri": URI}, "position": utf16_position(text, cursor),
            "context": {"triggerKind": 2}}, timeout=30)
        await asyncio.sleep(0.25)
    await lsp.stop()
    return _parts(read_trace(trace_path))


def _ms(a: int, b: int) -> float:
    return (b - a) / 1e6


def _parts(trace: list[dict[str, Any]]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in ("overhead", "recv->wait", "send->fetch_start",
                                                   "fetch_start->http_send", "http_send->written")}
    for e in index_trace(trace)["by"].values():
        if "recv" not in e or "written" not in e:
            continue
        waits = sum(_ms(a, b) for a, b in e["waits"])
        out["overhead"].append(_ms(e["recv"], e["written"]) - waits)
        sends = [t for t, d, _ in e["decisions"] if d == "send"]
        if e["waits"]:
            out["recv->wait"].append(_ms(e["recv"], e["waits"][0][0]))
        if sends and "fetch_start" in e and "http_send" in e:
            out["send->fetch_start"].append(_ms(sends[-1], e["fetch_start"]))
            out["fetch_start->http_send"].append(_ms(e["fetch_start"], e["http_send"]))
            out["http_send->written"].append(_ms(e["http_send"], e["written"]))
    return out


def parse_variant(spec: str) -> tuple[str, str, dict[str, str]]:
    name, _, rest = spec.partition("=")
    parts = rest.split(",") if rest else []
    cwd = parts[0] if parts and "=" not in parts[0] else REPO
    env = dict(p.split("=", 1) for p in parts if "=" in p)
    return name, os.path.abspath(cwd), env


async def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.bench.overhead", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=120, help="requests per variant and round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME=DIR[,ENV=VALUE...]: a server source tree and extra environment")
    a = ap.parse_args(argv)
    variants = [parse_variant(v) for v in a.variant] or [
        ("loop-stdin", REPO, {}), ("threaded-stdin", REPO, {"DEEPSEEK_LS_THREADED_STDIN": "1"})]
    workdir = tempfile.mkdtemp(prefix="ds-overhead-")
    cfg = FakeConfig(base_ms=100, ms_per_token=2, p_wrong=0.0)
    keys = [f"sk-overhead-{i}" for i in range(len(variants) * a.rounds)]
    fake = FakeProc(cfg, keys, os.path.join(workdir, "fake.log"))
    results: dict[str, dict[str, list[float]]] = {name: {} for name, _, _ in variants}
    try:
        k = 0
        for r in range(a.rounds):
            for name, cwd, env in variants:
                parts = await run_variant(fake, keys[k], cwd, env, a.n, workdir, f"{name}-{r}")
                k += 1
                for part, values in parts.items():
                    results[name].setdefault(part, []).extend(values)
                print(f"round {r + 1}: {name} done ({len(parts['overhead'])} requests)", file=sys.stderr)
    finally:
        fake.stop()
    base = variants[0][0]
    print(f"server overhead, ms (load {os.getloadavg()[0]:.2f}; {a.rounds} rounds x {a.n} requests; "
          f"ratios against {base})")
    print("| variant | part | p50 | p95 | p50 ratio | p95 ratio |\n|---|---|---|---|---|---|")
    for name, _, _ in variants:
        for part, values in results[name].items():
            if not values:
                continue
            b = results[base].get(part) or [float("nan")]
            p50, p95 = statistics.median(values), _pct(values, 0.95)
            print(f"| {name} | {part} | {p50:.3f} | {p95:.3f} | {p50 / statistics.median(b):.2f} "
                  f"| {p95 / _pct(b, 0.95):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
