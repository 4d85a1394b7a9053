"""Measure deepseek-ls's own latency on the chat path, against the fake DeepSeek.

    .venv/bin/python -m tests.bench_chat_latency [--runs 30] [--latency-ms 200]

For each run it sends ``deepseek.chat`` and times, in one clock (the fake
runs in this process):

* ``to_request``: command sent -> the fake has the HTTP request;
* ``to_first_token``: command sent -> first ``deepseek/chatStream`` content
  notification, minus the fake's own time to first token (its configured
  latency), i.e. what the server adds on the way in and out;
* ``out``: the fake wrote the first token -> the editor has it.

It also counts upstream requests per action (chat, explain, code-action
list, resolve, rewrite). Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time

from lsprotocol import types
from pytest_lsp import client_capabilities
from pytest_lsp.client import make_test_lsp_client

from tests.conftest import ROOT, URI, server_env
from tests.fake_deepseek import FakeDeepSeek

SOURCE = "def area(r):\n    s = '😋'\n    return 3.14159 * r * r\n"


async def main(runs: int, latency_ms: float) -> None:
    fake = FakeDeepSeek().start()
    fake.latency_ms = latency_ms
    fake.chat_handler = lambda body: "The answer streams here, token by token."
    client = make_test_lsp_client()
    first_content: dict[str, int] = {}

    def on_stream(params) -> None:
        if params.event == "content" and params.stream not in first_content:
            first_content[params.stream] = time.monotonic_ns()

    client.feature("deepseek/chatStream")(on_stream)
    client.feature("deepseek/status")(lambda params: None)
    client.feature(types.WORKSPACE_APPLY_EDIT)(lambda params: types.ApplyWorkspaceEditResult(applied=True))
    env = {**server_env(), "XDG_CACHE_HOME": tempfile.mkdtemp(prefix="deepseek-ls-bench-")}
    await client.start_io(sys.executable, "-m", "deepseek_ls", env=env)
    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT,
        initialization_options={"deepseek": {"baseUrl": fake.base_url, "chat": {"transcripts": False}}}))
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=URI, language_id="python", version=1, text=SOURCE)))

    async def run(command: str, arg: dict) -> int:
        before = len(fake.chat_requests())
        await client.workspace_execute_command_async(types.ExecuteCommandParams(command=command, arguments=[arg]))
        return len(fake.chat_requests()) - before

    await run("deepseek.chat", {"message": "warm up"})
    to_request, overhead, out = [], [], []
    for i in range(runs):
        stream = f"bench-{i}"
        fake.reset()
        t0 = time.monotonic_ns()
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="deepseek.chat", arguments=[{"message": f"question {i}", "stream": stream}]))
        [rec] = fake.chat_requests()
        t1 = first_content[stream]
        to_request.append((rec.recv_ns - t0) / 1e6)
        fake_ttft = (rec.first_token_ns - rec.recv_ns) / 1e6
        overhead.append((t1 - t0) / 1e6 - fake_ttft)
        out.append((t1 - rec.first_token_ns) / 1e6)

    counts = {
        "deepseek.chat": await run("deepseek.chat", {"message": "count"}),
        "deepseek.explainSelection": await run("deepseek.explainSelection", {
            "uri": URI, "range": {"start": {"line": 2, "character": 4}, "end": {"line": 2, "character": 26}}}),
    }
    before = len(fake.chat_requests())
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=URI),
        range=types.Range(start=types.Position(line=2, character=4), end=types.Position(line=2, character=4)),
        context=types.CodeActionContext(diagnostics=[])))
    counts["textDocument/codeAction"] = len(fake.chat_requests()) - before
    for action in actions:
        before = len(fake.chat_requests())
        await client.code_action_resolve_async(action)
        counts[f"codeAction/resolve ({action.title})"] = len(fake.chat_requests()) - before
    counts["deepseek.rewriteSelection"] = await run("deepseek.rewriteSelection", {
        "uri": URI, "range": {"start": {"line": 2, "character": 0}, "end": {"line": 3, "character": 0}},
        "instruction": "use math.pi"})
    await client.shutdown_session()
    fake.stop()

    def line(name: str, values: list[float]) -> str:
        return (f"{name:>16}: median {statistics.median(values):6.1f} ms   p90 "
                f"{sorted(values)[int(len(values) * 0.9) - 1]:6.1f} ms   min {min(values):6.1f} ms")

    print(f"{runs} chats, fake time to first token {latency_ms:g} ms")
    print(line("to_request", to_request))
    print(line("to_first_token", overhead))
    print(line("out", out))
    print("upstream requests per action:")
    for name, n in counts.items():
        print(f"  {name}: {n}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.latency_ms))
