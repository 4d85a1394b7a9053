#!/usr/bin/env python3
"""A stand-in for deepseek-ls in the editor plugins' deepseek/definitions tests
(stdlib JSON-RPC over stdio; the real server's side of the request is tested
in the server's own tests).

It answers `initialize` (UTF-16 positions, a definitionProvider it must never
be asked for), ignores notifications, answers other requests with null, and
on the command ``test.askDefinitions {uri, positions}`` sends
``deepseek/definitions`` to the client and answers the command with
``{"initializationOptions": ..., "answer": <the client's result as JSON text>,
"error": <its error>, "selfAsked": <textDocument/definition requests it got>}``.

With ``--ask-positions JSON --ask-suffix S --answer-file PATH`` (the VS Code
end-to-end test, where nothing can run that command) it asks by itself when
a document whose URI ends with S is opened, writes each answer (JSON) to PATH,
and asks again a second later while the answer's JSON text lacks the
``--ask-until`` text (the editor's language server may still be loading:
VS Code's TypeScript first answers from a syntax-only server), at most 30 times. Other arguments
(``--stdio``) are ignored.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

IN = sys.stdin.buffer
OUT = sys.stdout.buffer


def read() -> dict[str, Any] | None:
    length = None
    while True:
        line = IN.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    if length is None:
        return None
    message: dict[str, Any] = json.loads(IN.read(length))
    return message


def send(message: dict[str, Any]) -> None:
    body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
    OUT.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    OUT.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ask-positions", type=json.loads)
    parser.add_argument("--ask-suffix", default="")
    parser.add_argument("--answer-file", type=Path)
    parser.add_argument("--ask-until", default="")
    args, _ = parser.parse_known_args()
    asks = 0
    auto_uri: str | None = None

    def ask(uri: str) -> None:
        nonlocal asks
        asks += 1
        send({"id": f"auto-{asks}", "method": "deepseek/definitions",
              "params": {"textDocument": {"uri": uri}, "positions": args.ask_positions}})

    init_options: Any = None
    self_asked = 0
    waiting: dict[str, Any] = {}  # our request id -> id of the command to answer
    next_id = 0
    while (msg := read()) is not None:
        method = msg.get("method")
        if method is None:  # a response to one of our requests
            if str(msg.get("id")).startswith("auto-") and args.answer_file and auto_uri:
                answer = msg.get("result")
                args.answer_file.write_text(json.dumps({"answer": answer, "error": msg.get("error"),
                                                        "asks": asks, "selfAsked": self_asked,
                                                        "initializationOptions": init_options}))
                if args.ask_until not in json.dumps(answer) and asks < 30:
                    time.sleep(1)
                    ask(auto_uri)
                continue
            command_id = waiting.pop(str(msg.get("id")), None)
            if command_id is not None:
                send({"id": command_id, "result": {
                    "initializationOptions": init_options,
                    "answer": json.dumps(msg["result"]) if "result" in msg else None,
                    "error": msg.get("error"), "selfAsked": self_asked}})
            continue
        if "id" not in msg:
            if method == "exit":
                return
            uri = ((msg.get("params") or {}).get("textDocument") or {}).get("uri", "")
            if (method == "textDocument/didOpen" and args.ask_positions is not None and auto_uri is None
                    and uri.endswith(args.ask_suffix)):
                auto_uri = uri
                ask(uri)
            continue
        params = msg.get("params") or {}
        if method == "initialize":
            init_options = params.get("initializationOptions")
            send({"id": msg["id"], "result": {
                "capabilities": {"positionEncoding": "utf-16", "textDocumentSync": 1,
                                 "definitionProvider": True,
                                 "executeCommandProvider": {"commands": ["test.askDefinitions"]}},
                "serverInfo": {"name": "stub-deepseek-ls"}}})
        elif method == "textDocument/definition":
            self_asked += 1
            send({"id": msg["id"], "result": {"uri": "file:///never-asked.py", "range": {
                "start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}}}})
        elif method == "workspace/executeCommand" and params.get("command") == "test.askDefinitions":
            next_id += 1
            request_id = f"defs-{next_id}"
            waiting[request_id] = msg["id"]
            send({"id": request_id, "method": "deepseek/definitions", "params": params["arguments"][0]})
        else:
            send({"id": msg["id"], "result": None})


if __name__ == "__main__":
    main()
