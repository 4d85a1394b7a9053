"""A minimal stdio JSON-RPC client for tests that need raw bytes (malformed
messages, huge documents, reading the server's stderr)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Any


class RawServer:
    def __init__(self, env: dict[str, str], stdin: Any = subprocess.PIPE, args: tuple[str, ...] = ()) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "deepseek_ls", *args], stdin=stdin,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.messages: list[dict[str, Any]] = []
        self.stdout = bytearray()
        self.stderr = bytearray()
        self._lock = threading.Lock()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        out = self.proc.stdout
        while True:
            header = b""
            while not header.endswith(b"\r\n\r\n"):
                ch = out.read(1)
                if not ch:
                    return
                header += ch
            length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
            body = out.read(length)
            with self._lock:
                self.stdout += header + body
                self.messages.append(json.loads(body))

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            with self._lock:
                self.stderr += line

    def send(self, obj: Any = None, raw: bytes | None = None) -> None:
        body = raw if raw is not None else json.dumps(obj).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def write(self, data: bytes) -> None:
        """Raw bytes, no framing added."""
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def request(self, msg_id: Any, method: str, params: Any) -> None:
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})

    def notify(self, method: str, params: Any) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def response(self, msg_id: Any, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for m in self.messages:
                    if isinstance(m, dict) and m.get("id") == msg_id and "method" not in m:
                        return m
            time.sleep(0.01)
        raise TimeoutError(f"no response to {msg_id!r}")

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> Any:
        """The first message (a dict, or a list for a batch answer) that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for m in self.messages:
                    if predicate(m):
                        return m
            time.sleep(0.01)
        raise TimeoutError("no such message")

    def close(self) -> int:
        if self.proc.poll() is None:
            try:
                self.request("shutdown", "shutdown", None)
                self.response("shutdown", timeout=5)
                self.notify("exit", None)
                self.proc.wait(timeout=5)
            except Exception:  # noqa: BLE001  any failure to stop politely ends in a kill
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def env_without_deepseek(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPSEEK_")}
    if os.environ.get("DEEPSEEK_LS_DATA_DIR"):
        env["DEEPSEEK_LS_DATA_DIR"] = os.environ["DEEPSEEK_LS_DATA_DIR"]
    env.update(extra)
    return env
