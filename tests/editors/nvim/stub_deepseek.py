"""A stand-in for deepseek-ls in the Neovim plugin's deepseek/definitions test
(stdlib JSON-RPC over stdio; the real server's side of the request is tested
in the server's own tests).

It answers `initialize` (UTF-16 positions, a definitionProvider it must never
be asked for), ignores notifications, answers other requests with null, and
on the command ``test.askDefinitions {uri, positions}`` sends
``deepseek/definitions`` to the client and answers the command with
``{"initializationOptions": ..., "answer": <the client's result as JSON text>,
"error": <its error>, "selfAsked": <textDocument/definition requests it got>}``.
"""

from __future__ import annotations

import json
import sys
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
    init_options: Any = None
    self_asked = 0
    waiting: dict[str, Any] = {}  # our request id -> id of the command to answer
    next_id = 0
    while (msg := read()) is not None:
        method = msg.get("method")
        if method is None:  # a response to one of our requests
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
