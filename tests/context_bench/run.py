"""Drive the real server (``python -m deepseek_ls``) over LSP on context-bench tasks.

One server per (project, setting). For each task, as an editor would: ``didOpen`` the tabs (the
"few tabs" setting opens ``Task.tabs`` first, then the task file; "one tab" only the task file),
an invoked ``textDocument/inlineCompletion`` at the cursor, then ``didClose`` of all of them. The
FIM requests the fake received meanwhile are the evidence (prompt, suffix, usage).
"""
from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench.harness import LspClient, read_trace, server_env, utf16_position
from tests.fake_deepseek import FakeDeepSeek

from .tasks import Task, is_hit, read_text

REPO = str(Path(__file__).resolve().parents[2])
KEY = "sk-test"
LANGUAGE_IDS = {"python": "python", "typescript": "typescript", "go": "go"}


def _uri(path: Path) -> str:
    return path.resolve().as_uri()


async def run_server_tasks(fake: FakeDeepSeek, root: Path, tasks: list[Task], setting: str,
                           completion: dict | None = None, timeout_s: float = 30.0,
                           workdir: str | None = None, progress: Any = None,
                           context: dict | None = None) -> list[dict]:
    """Run ``tasks`` (all of one project) through one server; one result dict per task.

    ``setting``: "one" (just the task file open) or "few" (plus ``Task.tabs``).
    ``completion``: extra ``deepseek.completion`` settings (e.g. ``{"timeoutMs": 60000}``);
    ``context``: ``deepseek.context`` settings (e.g. ``{"enabled": False}`` for the server without the engine).
    Result keys: task, setting, hit, requests (FIM requests seen), prompt_chars, suffix_chars,
    prompt_tokens (the fake's count), def_file_open, lsp_ms (request to answer), build_ms (LSP
    receipt to the FIM fetch start, from the server's trace), ghost (the returned text or None),
    raw (the model's text as the fake sent it), body (the FIM request body: prompt, suffix,
    max_tokens, stop).
    """
    workdir = workdir or tempfile.mkdtemp(prefix="ctxbench-")
    trace_path = os.path.join(workdir, f"trace-{tasks[0].project}-{setting}.jsonl")
    if os.path.exists(trace_path):
        os.remove(trace_path)
    lsp = LspClient()
    env = server_env(KEY, fake.base_url, trace_path)
    env["DEEPSEEK_LS_DATA_DIR"] = workdir       # the server's usage ledger: never in ~
    await lsp.start(env, os.path.join(workdir, f"server-{tasks[0].project}-{setting}.log"), cwd=REPO)
    opts = {"deepseek": {"baseUrl": fake.base_url, "completion": dict(completion or {}),
                         "context": dict(context or {})}}
    await lsp.request("initialize", {
        "processId": os.getpid(), "rootUri": _uri(root), "initializationOptions": opts,
        "capabilities": {"general": {"positionEncodings": ["utf-16"]},
                         "textDocument": {"inlineCompletion": {"dynamicRegistration": False},
                                          "synchronization": {"dynamicRegistration": False}},
                         "workspace": {"configuration": False}}}, timeout=60)
    lsp.notify("initialized", {})
    await asyncio.sleep(0.5)
    results = []
    try:
        for n, task in enumerate(tasks):
            text, offset = task.document(root)
            lang = LANGUAGE_IDS[task.language]
            opened = []
            if setting == "few":
                for rel in task.tabs:
                    uri = _uri(root / rel)
                    lsp.notify("textDocument/didOpen", {"textDocument": {
                        "uri": uri, "languageId": lang, "version": 1, "text": read_text(root / rel)}})
                    opened.append(uri)
            uri = _uri(root / task.path)
            lsp.notify("textDocument/didOpen", {"textDocument": {
                "uri": uri, "languageId": lang, "version": 1, "text": text}})
            opened.append(uri)
            mark = len(fake.requests)
            t0 = time.monotonic_ns()
            ghost = None
            error = None
            try:
                res = await lsp.request("textDocument/inlineCompletion", {
                    "textDocument": {"uri": uri}, "position": utf16_position(text, offset),
                    "context": {"triggerKind": 1}}, timeout=timeout_s + 10)
                items = res.get("items", []) if isinstance(res, dict) else (res or [])
                if items:
                    ghost = items[0].get("insertText")
                    if isinstance(ghost, dict):
                        ghost = ghost.get("value")
            except (TimeoutError, RuntimeError) as e:
                error = str(e) or type(e).__name__
            t1 = time.monotonic_ns()
            fake.wait_for(lambda: all(r.done_ns is not None for r in fake.requests[mark:]), timeout=5)
            fims = [r for r in fake.requests[mark:] if r.is_fim and isinstance(r.body, dict)]
            for u in opened:
                lsp.notify("textDocument/didClose", {"textDocument": {"uri": u}})
            body = fims[-1].body if fims else {}
            results.append({
                "task": task.id, "project": task.project, "language": task.language, "setting": setting,
                "hit": any(is_hit(task, r.body.get("prompt") or "", r.body.get("suffix") or "") for r in fims),
                "requests": len(fims),
                "prompt_chars": len(body.get("prompt") or ""), "suffix_chars": len(body.get("suffix") or ""),
                "prompt_tokens": (fims[-1].usage or {}).get("prompt_tokens") if fims else None,
                "def_file_open": setting == "few" and task.definition.path in task.tabs,
                "lsp_ms": (t1 - t0) / 1e6, "t_send_ns": t0,
                "fake_recv_ns": fims[0].recv_ns if fims else None,
                "ghost": ghost, "raw": fims[-1].text if fims else None, "error": error,
                "body": {k: body.get(k) for k in ("prompt", "suffix", "max_tokens", "stop")} if fims else None,
            })
            if progress:
                progress(task, results[-1], n + 1, len(tasks))
            await asyncio.sleep(0.05)
    finally:
        await lsp.stop()
    _add_build_ms(results, read_trace(trace_path))
    return results


def _add_build_ms(results: list[dict], trace: list[dict]) -> None:
    """build_ms: from the server's receipt of each inlineCompletion to its FIM fetch start."""
    recvs = [e for e in trace if e.get("ev") == "lsp_recv" and e.get("method") == "textDocument/inlineCompletion"]
    starts = [e["t"] for e in trace if e.get("ev") == "fetch_start"]
    for r in results:
        r["build_ms"] = None
        recv = next((e["t"] for e in recvs if e["t"] >= r["t_send_ns"]), None)
        if recv is None:
            continue
        start = next((t for t in starts if t >= recv), None)
        if start is not None and (r["fake_recv_ns"] is None or start <= r["fake_recv_ns"]):
            r["build_ms"] = (start - recv) / 1e6
