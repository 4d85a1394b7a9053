"""Third FIM answer mode of the fake: a real model (beside the default/oracle and noise modes).

``/beta/completions`` forwards ``prompt`` + ``suffix`` to Qwen2.5-Coder-1.5B (installed by
``python -m tests.realmodel setup``) in the model's own FIM format, greedy, honouring
``max_tokens`` and ``stop``; generation also ends at ``<|endoftext|>``, ``<|fim_pad|>``,
``<|file_sep|>``, ``<|im_end|>``. Usage accounting (tokens, cache, cost) stays the fake's.

    from tests.fake_deepseek import FakeDeepSeek
    from tests.fake_deepseek.realmodel import RealModelFIM
    with FakeDeepSeek() as fake, RealModelFIM() as model:
        fake.fim_handler = model          # blocking; the fake runs it off its event loop

CLI: ``python -m tests.fake_deepseek --real-model`` (or env ``DEEPSEEK_FAKE_REAL_MODEL=1``).

The model runs in a Node sidecar (``tests/realmodel/fim_sidecar.mjs``, node-llama-cpp) under
``nice -n 19``; one request at a time; it reuses the KV cache of the prompt prefix shared with
the previous request.
"""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import threading
from typing import Any

from tests import realmodel as RM


class RealModelError(RuntimeError):
    pass


class RealModelFIM:
    """Callable ``fim_handler``: ``handler(body: dict) -> str`` (the completion text).

    ``body`` is the validated FIM request body (``prompt``, optional ``suffix``, ``max_tokens``
    (default 16, as the API), ``stop`` (str or list)). Raises :class:`RealModelError` when the
    model is not installed or the sidecar dies. ``stats`` keeps one dict per answered request
    (``text``, ``prompt_tokens``, ``reused_tokens``, ``completion_tokens``, ``prompt_ms``, ``gen_ms``,
    ``finish``), appended when the model answers, even if the client has gone meanwhile.
    """

    #: tells the fake to run this handler in a worker thread (seconds per call, not microseconds)
    blocking = True

    def __init__(self, context_size: int = 8192, threads: int = 2, nice: int = 19,
                 max_prompt_chars: int | None = None) -> None:
        ok, why = RM.installed()
        if not ok:
            raise RealModelError(why)
        from tests.realmodel.install import node_binary
        env = dict(os.environ, REALMODEL_NODE_DIR=str(RM.node_dir()))
        cmd = [node_binary(), str(RM.SIDECAR), str(RM.model_path()), str(context_size), str(threads)]
        if nice:
            cmd = ["nice", "-n", str(nice)] + cmd
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                      text=True, encoding="utf-8", bufsize=1)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.max_prompt_chars = max_prompt_chars
        self.stats: list[dict] = []
        ready = self._read()
        if not ready.get("ready"):
            raise RealModelError(f"sidecar did not start: {ready}")
        self.info = ready

    def _read(self) -> dict:
        line = self._proc.stdout.readline()
        if not line:
            rc = self._proc.poll()
            raise RealModelError(f"model sidecar exited (rc={rc})")
        return json.loads(line)

    def complete(self, prefix: str, suffix: str = "", max_tokens: int = 16,
                 stop: list[str] | None = None) -> dict:
        """Raw call: returns the sidecar's answer dict (``text``, ``finish``, timings, token counts)."""
        if self.max_prompt_chars is not None and len(prefix) > self.max_prompt_chars:
            prefix = prefix[-self.max_prompt_chars:]
        req = {"segments": RM.fim_segments(prefix, suffix), "max_tokens": int(max_tokens),
               "stop": list(stop or []), "stop_special": list(RM.STOP_SPECIAL)}
        with self._lock:
            req["id"] = next(self._ids)
            try:
                self._proc.stdin.write(json.dumps(req) + "\n")
                self._proc.stdin.flush()
            except (BrokenPipeError, OSError) as e:
                raise RealModelError(f"model sidecar is gone: {e}") from None
            ans = self._read()
        if ans.get("finish") == "error":
            raise RealModelError(f"model error: {ans.get('error')}")
        self.stats.append({k: ans.get(k) for k in ("text", "prompt_tokens", "reused_tokens", "completion_tokens",
                                                  "prompt_ms", "gen_ms", "finish")})
        return ans

    def __call__(self, body: dict[str, Any]) -> str:
        stop = body.get("stop")
        stop = [stop] if isinstance(stop, str) else list(stop or [])
        ans = self.complete(body.get("prompt") or "", body.get("suffix") or "",
                            max_tokens=body.get("max_tokens") or 16, stop=stop)
        return ans.get("text") or ""

    def close(self) -> None:
        p = self._proc
        if p.poll() is None:
            try:
                p.stdin.close()
                p.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                p.kill()
                p.wait()

    def __enter__(self) -> RealModelFIM:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
