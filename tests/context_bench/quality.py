"""Completion quality with the real model on the context-recall tasks.

Arms (all answered by Qwen2.5-Coder-1.5B behind the fake's ``/beta/completions``):

- ``server``: today's server over LSP, one tab, an invoked completion (``completion.timeoutMs``
  long, ``completion.prefixChars`` bounded so prompt processing stays within it);
- ``oracle``: the server arm's own FIM request with the true definition pasted at the end of the
  prompt's head (``<comment> Path: <def file>`` + the definition's first lines, just before the
  current file's window): the headroom a context engine can reach;
- ``naive``: the frozen naive client's request (tests/bench/naive.py: last 6,000 characters,
  1,500 after, max_tokens 64, no stop), sent to the same fake.

Metrics on the first line of the model's answer against the blanked line (both stripped): exact
match and edit similarity (``difflib.SequenceMatcher.ratio``, 0..1). For the server arm the ghost
text the server returned (after its post-processing) is scored too (``server_ghost``).
"""
from __future__ import annotations

import asyncio
import difflib
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

from tests.bench.naive import NaiveClient, naive_body
from tests.fake_deepseek import FakeDeepSeek

from .recall import all_tasks
from .run import KEY, run_server_tasks
from .tasks import Task

COMMENT = {"python": "#", "typescript": "//", "go": "//"}


def first_line(text: str | None) -> str:
    if not text:
        return ""
    return text.lstrip("\n").split("\n", 1)[0].strip()


def score(answer: str | None, expected: str) -> dict:
    a, e = first_line(answer), expected.strip()
    return {"exact": a == e, "similarity": round(difflib.SequenceMatcher(None, a, e, autojunk=False).ratio(), 4),
            "first_line": a}


def oracle_prompt(task: Task, prompt: str) -> str:
    """The server's prompt with the definition block at the end of its head.

    The head is everything before the current file's window, which starts at the last
    ``<comment> Path: <task file>`` line (or the prompt's start). Putting the block there keeps
    the server's header and other context as a shared prefix, so llama.cpp reuses their KV
    cache from the server arm's request.
    """
    c = COMMENT[task.language]
    d = task.definition
    block = f"{c} Path: {d.path}\n{d.snippet}\n"
    marker = f"{c} Path: {task.path}\n"
    at = prompt.rfind(marker)
    if at < 0:
        return block + prompt
    if at == 0:           # only the header: the block after the header's lines, then the marker again
        at = prompt.find("\n", prompt.find("\n") + 1) + 1
        return prompt[:at] + block + marker + prompt[at:]
    return prompt[:at] + block + prompt[at:]


def pick(groups: list[tuple[Path, list[Task]]], limit: int) -> list[tuple[Path, Task]]:
    """Round-robin over projects so every language is represented, deterministic."""
    queues = [list((root, t) for t in tasks) for root, tasks in groups if tasks]
    out: list[tuple[Path, Task]] = []
    while len(out) < limit and any(queues):
        for q in queues:
            if q and len(out) < limit:
                out.append(q.pop(0))
    return out


def _wait(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


def _slim(stats: dict | None) -> dict | None:
    return None if stats is None else {k: v for k, v in stats.items() if k != "text"}


def run(seed: int, per_project: int, projects: list[str] | None, limit: int, prefix_chars: int,
        timeout_ms: int, arms: tuple[str, ...], partial: Path | None = None) -> tuple[list[dict], dict]:
    """``partial``: a JSON-lines file that gets each task's row as soon as it is scored."""
    from tests.fake_deepseek.realmodel import RealModelFIM
    if partial is not None:
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text("")
    chosen = pick(all_tasks(seed, per_project, projects), limit)
    rows: list[dict] = []
    t_start = time.monotonic()
    with FakeDeepSeek() as fake, RealModelFIM() as model:
        fake.fim_handler = model
        http = httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {KEY}"},
                            timeout=timeout_ms / 1000 + 120)
        naive = NaiveClient(fake.base_url, KEY)
        for i, (root, task) in enumerate(chosen):
            text, offset = task.document(root)
            row = {"task": task.id, "project": task.project, "language": task.language, "path": task.path,
                   "line": task.line, "expected": task.expected, "definition": task.definition.signature}
            server = None
            if "server" in arms or "oracle" in arms:
                t0 = time.monotonic()
                n0 = len(model.stats)
                server = asyncio.run(run_server_tasks(
                    fake, root, [task], "one", completion={"timeoutMs": timeout_ms, "prefixChars": prefix_chars},
                    timeout_s=timeout_ms / 1000))[0]
                t1 = time.monotonic()
                # the model's answer to the server's request, even when the server gave up waiting
                # (its timeout): the prompt's quality, apart from the latency
                answered = server["requests"] > 0 and _wait(lambda: len(model.stats) > n0, 900)
                stats = model.stats[n0] if answered else None
                row["server"] = {**score(stats["text"] if stats else None, task.expected), "s": round(t1 - t0, 1),
                                 "prompt_tokens": server["prompt_tokens"], "hit": server["hit"],
                                 "timed_out": server["lsp_ms"] >= 0.95 * timeout_ms,
                                 "error": server["error"], "stats": _slim(stats)}
                row["server_ghost"] = score(server["ghost"], task.expected)
            if "oracle" in arms and server and server["body"]:
                b = server["body"]
                body = {"model": "deepseek-flash", "prompt": oracle_prompt(task, b["prompt"]), "suffix": b["suffix"],
                        "max_tokens": b["max_tokens"], "stop": b["stop"], "stream": False}
                t0 = time.monotonic()
                r = http.post("/beta/completions", json=body)
                ans = r.json()["choices"][0]["text"] if r.status_code == 200 else None
                row["oracle"] = {**score(ans, task.expected), "s": round(time.monotonic() - t0, 1),
                                 "prompt_tokens": (r.json().get("usage") or {}).get("prompt_tokens")
                                 if r.status_code == 200 else None, "stats": _slim(model.stats[-1])}
            if "naive" in arms:
                t0 = time.monotonic()
                _t, ans = asyncio.run(naive.fim(naive_body(text, offset), tag="quality"))
                rec = fake.fim_requests()[-1]
                row["naive"] = {**score(ans, task.expected), "s": round(time.monotonic() - t0, 1),
                                "prompt_tokens": (rec.usage or {}).get("prompt_tokens"),
                                "stats": _slim(model.stats[-1])}
            rows.append(row)
            if partial is not None:
                with open(partial, "a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
            arms_s = " ".join(f"{k}={'EM' if row[k]['exact'] else round(row[k]['similarity'], 2)}"
                              for k in ("server", "server_ghost", "oracle", "naive") if k in row)
            print(f"  [{i + 1}/{len(chosen)}] {task.project} {task.path}:{task.line + 1} {arms_s} "
                  f"({time.monotonic() - t_start:.0f} s)", file=sys.stderr, flush=True)
        http.close()
    meta = {"seed": seed, "per_project": per_project, "limit": limit, "tasks": len(rows),
            "prefix_chars": prefix_chars, "timeout_ms": timeout_ms, "arms": list(arms),
            "model": "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (node-llama-cpp 3.21.1, greedy)",
            "seconds": round(time.monotonic() - t_start), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return rows, meta


ARMS = ("server", "server_ghost", "oracle", "naive")


def summarize(rows: list[dict]) -> dict:
    out: dict = {}
    groups = {"all": rows}
    for lang in ("python", "typescript", "go"):
        groups[lang] = [r for r in rows if r["language"] == lang]
    for g, rs in groups.items():
        if not rs:
            continue
        out[g] = {}
        for arm in ARMS:
            xs = [r[arm] for r in rs if arm in r]
            if not xs:
                continue
            toks = [x.get("prompt_tokens") for x in xs if x.get("prompt_tokens")]
            secs = [x["s"] for x in xs if "s" in x]
            out[g][arm] = {"n": len(xs), "exact": round(sum(x["exact"] for x in xs) / len(xs), 3),
                           "exact_n": sum(x["exact"] for x in xs),
                           "similarity": round(statistics.mean(x["similarity"] for x in xs), 3),
                           "prompt_tokens_mean": round(statistics.mean(toks)) if toks else None,
                           "seconds_mean": round(statistics.mean(secs), 1) if secs else None}
    return out


LABELS = {"server": "today's server (one tab), model text", "server_ghost": "today's server, ghost text shown",
          "oracle": "oracle context (true definition at the head)", "naive": "naive client"}


def markdown(summary: dict, meta: dict) -> str:
    lines = [f"Quality with the real model ({meta['model']}), {meta['tasks']} tasks, seed {meta['seed']}, "
             f"server at {meta.get('commit', '?')}, prefixChars {meta['prefix_chars']}, {meta['seconds']} s", "",
             "| group | arm | n | exact match | edit similarity | prompt tokens | s/request |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for g, arms in summary.items():
        for arm, a in arms.items():
            lines.append(f"| {g} | {LABELS[arm]} | {a['n']} | {a['exact']:.2f} ({a['exact_n']}) | "
                         f"{a['similarity']:.2f} | {a['prompt_tokens_mean']} | {a['seconds_mean']} |")
    return "\n".join(lines) + "\n"
