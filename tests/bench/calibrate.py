"""The harness' own overhead, and the stdio transport's.

``python -m tests.bench.calibrate`` drives two stub servers with the benchmark's LSP
driver and message pattern (didChange + inlineCompletion per "keystroke", every 60 ms)
and prints harness send -> response receive percentiles:

* ``raw``: a stdlib asyncio server reading stdin with ``connect_read_pipe`` and answering
  at once: the floor of harness + pipes (the harness' own overhead);
* ``pygls``: a pygls ``LanguageServer`` (``start_io``, as deepseek-ls) whose
  inlineCompletion handler answers at once: the cost of pygls' stdio transport.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

N = 300
INTERVAL_S = 0.06


def serve_raw() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 24)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        out = sys.stdout.buffer
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            n = int(head.split(b":")[1].split(b"\r\n")[0])
            msg = json.loads(await reader.readexactly(n))
            if "id" in msg and "method" in msg:
                result: Any = {"capabilities": {}} if msg["method"] == "initialize" else {"items": []}
                if msg["method"] == "shutdown":
                    result = None
                body = json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}).encode()
                out.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
                out.flush()
            elif msg.get("method") == "exit":
                return

    asyncio.run(main())


def serve_pygls() -> None:
    from lsprotocol import types
    from pygls.lsp.server import LanguageServer

    server = LanguageServer("calib", "0", text_document_sync_kind=types.TextDocumentSyncKind.Incremental)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline(ls: LanguageServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        return types.InlineCompletionList(items=[])

    server.start_io()


async def drive(kind: str, n: int = N) -> dict[str, Any]:
    from .harness import LspClient
    from .metrics import pcts

    lsp = LspClient()
    await lsp.start(dict(os.environ), os.devnull, [sys.executable, "-m", "tests.bench.calibrate", "--serve", kind])
    await lsp.request("initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {}})
    lsp.notify("initialized", {})
    uri = "file:///calib.py"
    lsp.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                         "text": "x" * 3000}})
    rtt = []
    for i in range(n):
        rid = lsp.next_id()
        fut = asyncio.get_running_loop().create_future()
        lsp.handlers[rid] = lambda t, msg, fut=fut: fut.set_result(t)
        t0 = lsp.send([
            {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                "textDocument": {"uri": uri, "version": i + 2},
                "contentChanges": [{"range": {"start": {"line": 0, "character": i},
                                              "end": {"line": 0, "character": i}}, "text": "a"}]}},
            {"jsonrpc": "2.0", "id": rid, "method": "textDocument/inlineCompletion", "params": {
                "textDocument": {"uri": uri}, "position": {"line": 0, "character": i + 1},
                "context": {"triggerKind": 2}}}])
        t1 = await fut
        rtt.append((t1 - t0) / 1e6)
        await asyncio.sleep(INTERVAL_S)
    await lsp.stop()
    return pcts(rtt[min(20, n // 5):], (50, 95, 99))


def calibrate(n: int = N) -> dict[str, Any]:
    return {kind: asyncio.run(drive(kind, n)) for kind in ("raw", "pygls")}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve"]:
        (serve_raw if argv[1] == "raw" else serve_pygls)()
        return 0
    res = {}
    for kind in ("raw", "pygls"):
        res[kind] = asyncio.run(drive(kind))
        print(f"{kind:6s} send->receive ms: {res[kind]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
