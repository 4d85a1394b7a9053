"""Completion quality with the real model on the context-recall tasks.

Arms (all answered by Qwen2.5-Coder-1.5B behind the fake's ``/beta/completions``):

- ``nocontext`` (a): the real server over LSP, one tab, an invoked completion, the context
  engine off (``context.enabled`` false); ``completion.timeoutMs`` long and
  ``completion.prefixChars`` bounded so prompt processing stays within it;
- ``server`` (b): the same with the context engine on (its defaults): the same windows, so
  only the cross-file context differs;
- ``near`` (b'): the server arm's own request with the engine's blocks moved from the prompt's
  head to right before the current file's window (:func:`near_prompt`): a placement test;
- ``oracle``: the no-context arm's request (else the server's) with the true definition pasted
  just before the current file's window: the headroom a context engine can reach;
- ``naive`` (c): the frozen naive client's request (tests/bench/naive.py: last 6,000 characters,
  1,500 after, max_tokens 64, no stop), sent to the same fake.

Metrics on the first line of the model's answer against the blanked line (both stripped): exact
match and edit similarity (``difflib.SequenceMatcher.ratio``, 0..1); ``hit``: the definition is in
the arm's prompt or suffix. For the server arms the ghost text the server returned (after its
post-processing) is scored too (``server_ghost``, ``nocontext_ghost``).
"""
from __future__ import annotations

import asyncio
import difflib
import json
import math
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.bench.naive import NaiveClient, naive_body
from tests.fake_deepseek import FakeDeepSeek

from .recall import all_tasks
from .run import KEY, run_server_tasks
from .tasks import Task, is_hit

COMMENT = {"python": "#", "typescript": "//", "go": "//"}


def first_line(text: str | None) -> str:
    if not text:
        return ""
    return text.lstrip("\n").split("\n", 1)[0].strip()


def score(answer: str | None, expected: str) -> dict[str, Any]:
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


def _wait(pred: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


def _slim(stats: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if stats is None else {k: v for k, v in stats.items() if k != "text"}


def _header_re(task: Task) -> re.Pattern[str]:
    c = re.escape(COMMENT[task.language])
    return re.compile(rf"^{c} Path: [^\n]*\n{c} Language: [^\n]*\n", re.M)


def near_prompt(task: Task, prompt: str) -> str | None:
    """The engine's prompt with its context moved next to the cursor (the ``near`` arm).

    The server lays out ``P H F T M W``: the project block ``P``, the file's header ``H`` (``Path``
    and ``Language`` lines), the file's own block ``F``, the file's tail ``T`` (``Path: x (later in
    this file)``), the window marker ``M`` (``Path: x``) and the window ``W``. This arm sends
    ``H T P F M W``: the same text, the cross-file context right before the current file's window
    (like the oracle arm), at the cost of the stable head (the context no longer leads the prompt).
    Without ``F`` and ``T`` the server sends ``P H W``; this arm then sends ``H P M W``. None when
    the prompt has no header.
    """
    h = _header_re(task).search(prompt)
    if h is None:
        return None
    path = h.group(0).split("Path: ", 1)[1].split("\n", 1)[0]
    c = COMMENT[task.language]
    marker = f"{c} Path: {path}\n"
    m = prompt.rfind(marker)
    if m < h.end():     # no file block, no tail: the window follows the header; mark it after the context
        project = prompt[:h.start()]
        return h.group(0) + project + (marker if project else "") + prompt[h.end():]
    tail_at = prompt.find(f"{c} Path: {path} (later in this file)\n", h.end(), m)
    f_end = m if tail_at < 0 else tail_at
    project, header, file_block = prompt[:h.start()], h.group(0), prompt[h.end():f_end]
    tail = prompt[f_end:m]
    return header + tail + project + file_block + prompt[m:]


def _server_arm(model: Any, fake: FakeDeepSeek, root: Path, task: Task, completion: dict[str, Any],
                context: dict[str, Any] | None,
                timeout_ms: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """One invoked completion through a fresh server; (row part, ghost score, request body)."""
    t0 = time.monotonic()
    n0 = len(model.stats)
    res = asyncio.run(run_server_tasks(fake, root, [task], "one", completion=completion, context=context,
                                       timeout_s=timeout_ms / 1000))[0]
    t1 = time.monotonic()
    # the model's answer to the server's request, even when the server gave up waiting
    # (its timeout): the prompt's quality, apart from the latency
    answered = res["requests"] > 0 and _wait(lambda: len(model.stats) > n0, 900)
    stats = model.stats[n0] if answered else None
    part = {**score(stats["text"] if stats else None, task.expected), "s": round(t1 - t0, 1),
            "prompt_tokens": res["prompt_tokens"], "prompt_chars": res["prompt_chars"], "hit": res["hit"],
            "timed_out": res["lsp_ms"] >= 0.95 * timeout_ms, "error": res["error"], "stats": _slim(stats)}
    return part, score(res["ghost"], task.expected), res["body"]


def _request_only(fake: FakeDeepSeek, root: Path, task: Task, completion: dict[str, Any]) -> dict[str, Any] | None:
    """The engine server's FIM request for ``task`` without asking the model (the fake's own
    answer for that one request): the ``near`` arm without the cost of a ``server`` arm."""
    handler, fake.fim_handler = fake.fim_handler, None
    try:
        res = asyncio.run(run_server_tasks(fake, root, [task], "one", completion=completion, timeout_s=30))[0]
    finally:
        fake.fim_handler = handler
    body: dict[str, Any] | None = res["body"]
    return body


def _post(http: httpx.Client, model: Any, task: Task, base: dict[str, Any], prompt: str) -> dict[str, Any]:
    """POST ``base`` (a FIM body) with ``prompt`` to the fake; the scored row part."""
    body = {"model": "deepseek-flash", "prompt": prompt, "suffix": base["suffix"],
            "max_tokens": base["max_tokens"], "stop": base["stop"], "stream": False}
    t0 = time.monotonic()
    r = http.post("/beta/completions", json=body)
    ok = r.status_code == 200
    ans = r.json()["choices"][0]["text"] if ok else None
    return {**score(ans, task.expected), "s": round(time.monotonic() - t0, 1),
            "prompt_tokens": (r.json().get("usage") or {}).get("prompt_tokens") if ok else None,
            "prompt_chars": len(prompt), "hit": is_hit(task, prompt, base["suffix"] or ""),
            "stats": _slim(model.stats[-1]) if ok and model.stats else None}


def _show(arm: str, prompt: str | None, hit: bool | None, chars: int) -> None:
    print(f"--- {arm}: hit={hit} prompt {len(prompt or '')} chars; first {chars}:\n{(prompt or '')[:chars]}\n---",
          file=sys.stderr, flush=True)


#: the order arms run in within a task: ``nocontext`` then ``oracle``/``near`` share its head
#: (header + file tail), so the model's KV cache of that prefix is reused
ORDER = ("server", "nocontext", "oracle", "near", "naive")


def run(seed: int, per_project: int, projects: list[str] | None, limit: int, prefix_chars: int,
        timeout_ms: int, arms: tuple[str, ...], partial: Path | None = None,
        show_prompts: int = 0, skip: int = 0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Score ``arms`` on the first ``limit`` tasks (round-robin over projects).

    ``partial``: a JSON-lines file that gets each task's row as soon as it is scored.
    ``show_prompts``: print the first N characters of each arm's prompt for the first task.
    ``skip``: leave out the first ``skip`` of the chosen tasks (to continue a stopped run).
    Arms ``server`` (the engine, defaults) and ``nocontext`` (``context.enabled`` false) run the
    real server with the same ``completion`` settings, so only the cross-file context differs.
    ``near`` rewrites ``server``'s request (without that arm: the engine server's request, answered
    by the fake itself); ``oracle`` uses ``nocontext``'s (else ``server``'s).
    """
    from tests.fake_deepseek.realmodel import RealModelFIM
    if partial is not None:
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text("")
    chosen = pick(all_tasks(seed, per_project, projects), limit)[skip:]
    completion = {"timeoutMs": timeout_ms, "prefixChars": prefix_chars}
    rows: list[dict[str, Any]] = []
    t_start = time.monotonic()
    with FakeDeepSeek() as fake, RealModelFIM() as model:
        fake.fim_handler = model
        http = httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {KEY}"},
                            timeout=timeout_ms / 1000 + 120)
        naive = NaiveClient(fake.base_url, KEY)
        for i, (root, task) in enumerate(chosen):
            text, offset = task.document(root)
            show = show_prompts if i == 0 else 0
            row: dict[str, Any] = {"task": task.id, "project": task.project, "language": task.language,
                                   "path": task.path, "line": task.line, "expected": task.expected,
                                   "definition": task.definition.signature}
            bodies: dict[str, dict[str, Any] | None] = {}
            for arm in ORDER:
                if arm not in arms:
                    continue
                if arm in ("server", "nocontext"):
                    ctx = {"enabled": False} if arm == "nocontext" else None
                    row[arm], row[f"{arm}_ghost"], bodies[arm] = _server_arm(
                        model, fake, root, task, completion, ctx, timeout_ms)
                    if show:
                        _show(arm, (bodies[arm] or {}).get("prompt"), row[arm]["hit"], show)
                elif arm == "oracle":
                    base = bodies.get("nocontext") or bodies.get("server")
                    if base:
                        prompt = oracle_prompt(task, base["prompt"])
                        row[arm] = _post(http, model, task, base, prompt)
                        if show:
                            _show(arm, prompt, row[arm]["hit"], show)
                elif arm == "near":
                    base = bodies.get("server") or _request_only(fake, root, task, completion)
                    near = near_prompt(task, base["prompt"]) if base else None
                    if base and near is not None:
                        row[arm] = _post(http, model, task, base, near)
                        if show:
                            _show(arm, near, row[arm]["hit"], show)
                elif arm == "naive":
                    t0 = time.monotonic()
                    body = naive_body(text, offset)
                    _t, ans = asyncio.run(naive.fim(body, tag="quality"))
                    rec = fake.fim_requests()[-1]
                    row[arm] = {**score(ans, task.expected), "s": round(time.monotonic() - t0, 1),
                                "prompt_tokens": (rec.usage or {}).get("prompt_tokens"),
                                "prompt_chars": len(body["prompt"]),
                                "hit": is_hit(task, body["prompt"], body["suffix"]),
                                "stats": _slim(model.stats[-1])}
                    if show:
                        _show(arm, body["prompt"], row[arm]["hit"], show)
            rows.append(row)
            if partial is not None:
                with open(partial, "a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
            arms_s = " ".join(f"{k}={'EM' if row[k]['exact'] else round(row[k]['similarity'], 2)}"
                              f"{'' if row[k].get('hit') is None else ('+d' if row[k]['hit'] else '')}"
                              for k in ARMS if k in row)
            print(f"  [{i + 1}/{len(chosen)}] {task.project} {task.path}:{task.line + 1} {arms_s} "
                  f"({time.monotonic() - t_start:.0f} s)", file=sys.stderr, flush=True)
        http.close()
    meta = {"seed": seed, "per_project": per_project, "limit": limit, "skip": skip, "tasks": len(rows),
            "prefix_chars": prefix_chars, "timeout_ms": timeout_ms, "arms": list(arms),
            "model": "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (node-llama-cpp 3.21.1, greedy)",
            "seconds": round(time.monotonic() - t_start), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return rows, meta


def reuse_arm(rows: list[dict[str, Any]], source: list[dict[str, Any]], arm: str = "naive",
              from_arm: str | None = None, mark: str | bool = True) -> int:
    """Copy ``arm``'s result from ``source`` rows (an earlier run's) into ``rows`` of the same task.

    For arms whose request does not depend on the server (the naive client's: the file's text
    around the cursor only), with greedy decoding the answer is the same in any run, so an earlier
    run's rows stand in for a re-run. Rows that already have the arm are left alone; copied parts
    are marked ``"reused": mark`` (e.g. the source's file name). ``from_arm``: the source rows' arm name when it differs (the
    server arm of a run from before the engine is today's ``nocontext``). Returns how many rows got it.
    """
    src = from_arm or arm
    by_task = {r["task"]: r[src] for r in source if src in r}
    n = 0
    for r in rows:
        if arm not in r and r["task"] in by_task:
            r[arm] = {**by_task[r["task"]], "reused": mark}
            n += 1
    return n


ARMS = ("nocontext", "nocontext_ghost", "server", "server_ghost", "near", "oracle", "naive")


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
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
                           "hit": (round(sum(bool(x["hit"]) for x in xs if "hit" in x) / len(xs), 2)
                                   if any("hit" in x for x in xs) else None),
                           "timed_out": (sum(bool(x.get("timed_out")) for x in xs)
                                         if any("timed_out" in x for x in xs) else None),
                           "prompt_tokens_mean": round(statistics.mean(toks)) if toks else None,
                           "seconds_mean": round(statistics.mean(secs), 1) if secs else None}
        for arm in ("nocontext", "server"):  # what the user saw when the server did not give up waiting
            xs = [r[f"{arm}_ghost"] for r in rs if f"{arm}_ghost" in r and arm in r and not r[arm].get("timed_out")]
            if xs:
                out[g][f"{arm}_ghost_in_time"] = {
                    "n": len(xs), "exact": round(sum(x["exact"] for x in xs) / len(xs), 3),
                    "exact_n": sum(x["exact"] for x in xs),
                    "similarity": round(statistics.mean(x["similarity"] for x in xs), 3), "hit": None,
                    "timed_out": None, "prompt_tokens_mean": None, "seconds_mean": None}
    return out


LABELS = {"nocontext": "(a) server, no cross-file context (context.enabled false)",
          "nocontext_ghost": "(a) server, no context, ghost text shown",
          "server": "(b) server with the context engine (defaults)",
          "server_ghost": "(b) server with the engine, ghost text shown",
          "nocontext_ghost_in_time": "(a) ghost text shown, requests within timeoutMs only",
          "server_ghost_in_time": "(b) ghost text shown, requests within timeoutMs only",
          "near": "(b') the engine's context moved right before the window",
          "oracle": "oracle: no-context request + the true definition before the window",
          "naive": "(c) naive client"}


def paired(rows: list[dict[str, Any]], arm: str, base: str = "nocontext") -> dict[str, Any] | None:
    """Exact-match change of ``arm`` over ``base`` on the tasks both answered, as a paired test.

    ``won``: tasks only ``arm`` matched; ``lost``: only ``base``; ``p``: two-sided exact sign test
    (McNemar's exact test) on those discordant tasks, the chance of a split at least this uneven
    if the two arms were equally good. With greedy decoding each arm is deterministic per task, so
    the noise is which tasks a prompt change happens to flip: on 70 tasks a 5 / 4 split is noise.
    None when no task has both arms.
    """
    both = [r for r in rows if arm in r and base in r]
    if not both:
        return None
    won = sum(bool(r[arm]["exact"]) and not r[base]["exact"] for r in both)
    lost = sum(bool(r[base]["exact"]) and not r[arm]["exact"] for r in both)
    n = won + lost
    tail = sum(math.comb(n, k) for k in range(min(won, lost) + 1)) / 2 ** n if n else 1.0
    return {"n": len(both), "won": won, "lost": lost, "p": round(min(1.0, 2 * tail), 3)}


def paired_all(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """:func:`paired` of each arm that has a no-context counterpart, by arm name."""
    return {arm: test for arm in ("server", "oracle", "near", "naive") if (test := paired(rows, arm))}


def markdown(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [f"Quality with the real model ({meta['model']}), {meta['tasks']} tasks, seed {meta['seed']}, "
             f"server at {meta.get('commit', '?')}, prefixChars {meta['prefix_chars']}, {meta['seconds']} s", "",
             "| group | arm | n | exact match | edit similarity | definition in prompt | prompt tokens | s/request "
             "| server timeouts |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for g, arms in summary.items():
        for arm, a in arms.items():
            lines.append(f"| {g} | {LABELS[arm]} | {a['n']} | {a['exact']:.2f} ({a['exact_n']}) | "
                         f"{a['similarity']:.2f} | {'' if a.get('hit') is None else a['hit']} | {a['prompt_tokens_mean']} | "
                         f"{a['seconds_mean']} | {'' if a.get('timed_out') is None else a['timed_out']} |")
    lines.append("")
    for g, arms in summary.items():
        a, b = arms.get("nocontext"), arms.get("server")
        if a and b and a["n"] == b["n"]:
            rel = f"{(b['exact'] / a['exact'] - 1) * 100:+.0f} %" if a["exact"] else "n/a"
            lines.append(f"- {g}: exact match with the engine {b['exact']:.2f} vs {a['exact']:.2f} without "
                         f"({b['exact_n']} vs {a['exact_n']} of {a['n']}; relative {rel})")
    for arm, t in (meta.get("paired") or {}).items():
        lines.append(f"- {LABELS[arm]} vs (a), paired on {t['n']} tasks: matched {t['won']} that (a) missed, "
                     f"missed {t['lost']} that (a) matched (exact sign test p = {t['p']})")
    for r in meta.get("reused") or []:
        lines.append(f"- arm {r['arm']}: {r['rows']} rows from {r['from']} (its arm {r['from_arm']})")
    return "\n".join(lines) + "\n"
