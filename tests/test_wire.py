"""The wire, through a real server process on stdio: framing errors, JSON-RPC
envelopes and batches, and the LSP lifecycle (issue 10, items 13, 14, 17)."""

from __future__ import annotations

import json

import pytest

from tests.lsp_raw import RawServer, env_without_deepseek


def frame(obj: object) -> bytes:
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def req(msg_id: object, method: str = "no/suchMethod", params: object = None) -> dict:
    return {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params or {}}


def body(obj: object) -> bytes:
    return json.dumps(obj).encode()


@pytest.fixture
def server():
    s = RawServer(env_without_deepseek(DEEPSEEK_LS_LOG="info"))
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()


def initialize(s: RawServer) -> None:
    s.request("init", "initialize", {"capabilities": {}})
    assert "capabilities" in s.response("init")["result"]
    s.notify("initialized", {})


def answers(s: RawServer, msg_id: object) -> dict:
    """The server still answers a plain request after whatever came before."""
    s.request(msg_id, "no/suchMethod", {})
    reply = s.response(msg_id)
    assert reply["error"]["code"] == -32601
    return reply


# -- item 13: framing errors ------------------------------------------------------
def broken_frames(i: int) -> dict[str, bytes]:
    """Each member of the family; ``i`` is the id of the request inside it."""
    r = body(req(i))
    return {
        # a header and no body at all: the next message starts where the body should
        "header-without-body": b"Content-Length: 40\r\n\r\n",
        "header-without-body-then-junk": b"Content-Length: 40\r\n\r\nxyz",
        # a length longer than the body, the next message right behind it
        "length-too-long": b"Content-Length: 500\r\n\r\n" + r,
        # a length shorter than the body
        "length-too-short": b"Content-Length: 10\r\n\r\n" + r,
        # a body with no header at all
        "body-without-header": r,
        "body-without-header-and-newline": r + b"\r\n",
        # header lines that are not headers
        "garbage-line-before-header": b"this is not a header\r\n" + frame(req(i)),
        "garbage-header-in-block": b"Content-Length: %d\r\nGARBAGE\r\n\r\n" % len(r) + r,
        "garbage-glued-to-header": b"@@@" + frame(req(i)),
        # lengths that are not lengths
        "non-numeric-length": b"Content-Length: forty\r\n\r\n" + r,
        "negative-length": b"Content-Length: -5\r\n\r\n" + r,
        "huge-length": b"Content-Length: 99999999999999\r\n\r\n" + r,
        "two-lengths": b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n" + r,
        "no-length-only-type": b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n" + r,
        # a wrong content type: the body is still read (length-delimited) as UTF-8 JSON
        "wrong-content-type": b"Content-Type: text/html; charset=latin-1\r\n" + frame(req(i)),
        # odd but readable
        "lowercase-header": frame(req(i)).replace(b"Content-Length", b"content-length"),
        "blank-lines-between": b"\r\n\r\n" + frame(req(i)),
        "header-line-over-64k": b"X-Junk: " + b"j" * 70_000 + b"\r\n" + frame(req(i)),
        "empty-body": b"Content-Length: 0\r\n\r\n",
        "binary-junk": bytes(range(256)) * 4,
    }


#: frames whose request is recovered and answered normally (-32601 for the unknown method)
RECOVERED = {"length-too-long", "length-too-short", "garbage-line-before-header", "garbage-header-in-block",
             "garbage-glued-to-header", "wrong-content-type", "two-lengths", "lowercase-header",
             "blank-lines-between", "header-line-over-64k"}
#: frames whose request cannot be read as a framed message but still gets an error with its id
REFUSED_WITH_ID = {"body-without-header", "body-without-header-and-newline", "non-numeric-length",
                   "negative-length", "no-length-only-type", "huge-length"}
#: readable as they are: no warning
TOLERATED = {"lowercase-header", "blank-lines-between", "header-line-over-64k"}
CASES = sorted(broken_frames(0))


@pytest.fixture(scope="module")
def shared():
    """One server for a whole family: each member must leave it answering the next."""
    s = RawServer(env_without_deepseek(DEEPSEEK_LS_LOG="info"))
    initialize(s)
    yield s
    assert s.close() == 0
    assert b"Traceback" not in s.stderr


@pytest.mark.parametrize("case", CASES)
def test_after_a_framing_error_the_server_finds_the_next_message(shared, case):
    n = 1000 * (CASES.index(case) + 1)
    log_from = len(shared.stderr)
    shared.write(broken_frames(n)[case])
    if case in RECOVERED:
        assert shared.response(n)["error"]["code"] == -32601
    elif case in REFUSED_WITH_ID:
        assert shared.response(n)["error"]["code"] == -32600
    answers(shared, n + 1)
    answers(shared, n + 2)  # and goes on answering
    assert shared.proc.poll() is None
    warned = b"WARNING deepseek_ls.stdio" in shared.stderr[log_from:]
    assert warned != (case in TOLERATED)


def test_a_too_long_length_with_nothing_after_it_is_answered_after_a_short_stall(server):
    initialize(server)
    server.write(b"Content-Length: 900\r\n\r\n" + body(req(8)))  # and then nothing
    assert server.response(8, timeout=5)["error"]["code"] == -32601
    answers(server, 9)


def test_a_large_document_is_not_mistaken_for_a_framing_error(server):
    initialize(server)
    text = "print('Content-Length: 12')\r\n" * 20_000 + "x = '😋 中文'\n"
    server.notify("textDocument/didOpen", {"textDocument": {"uri": "file:///w/a.py", "languageId": "python",
                                                             "version": 1, "text": text}})
    answers(server, 2)
    assert b"framing" not in server.stderr


def test_the_end_of_input_mid_body_ends_the_server(server):
    initialize(server)
    server.write(b"Content-Length: 100\r\n\r\n{\"jsonrpc\"")
    server.proc.stdin.close()
    assert server.proc.wait(timeout=10) == 1  # no shutdown came first
    assert b"Traceback" not in server.stderr


# -- item 14: JSON-RPC 2.0 envelopes -----------------------------------------------
def test_invalid_json_gets_parse_error_with_null_id(server):
    initialize(server)
    for raw in (b"{this is not json", b'{"jsonrpc": "2.0", "id": 3, "method": ', b"\xff\xfe\x00garbage"):
        server.send(raw=raw)
    errors = [server.wait_for(lambda m, n=n: isinstance(m, dict) and m.get("id") is None
                              and sum(1 for x in server.messages if isinstance(x, dict) and x.get("id") is None
                                      and "error" in x) >= n) for n in (1, 2, 3)]
    nulls = [m for m in server.messages if isinstance(m, dict) and m.get("id") is None and "error" in m]
    assert len(nulls) == 3 and errors
    assert {m["error"]["code"] for m in nulls} == {-32700}
    assert all(m["jsonrpc"] == "2.0" and m["error"]["message"].startswith("Parse error") for m in nulls)
    answers(server, 4)


def test_a_batch_gets_an_error_per_id_in_one_array(server):
    initialize(server)
    server.send([req(21), {"jsonrpc": "2.0", "method": "initialized", "params": {}}, req("s-22"), 5])
    batch = server.wait_for(lambda m: isinstance(m, list))
    assert [(e["id"], e["error"]["code"]) for e in batch] == [(21, -32600), ("s-22", -32600), (None, -32600)]
    assert "batch" in batch[0]["error"]["message"]
    answers(server, 23)


def test_an_empty_batch_is_one_invalid_request(server):
    initialize(server)
    server.send([])
    reply = server.wait_for(lambda m: isinstance(m, dict) and m.get("id") is None and "error" in m)
    assert reply["error"]["code"] == -32600
    answers(server, 24)


def test_a_batch_of_notifications_gets_no_answer(server):
    initialize(server)
    server.send([{"jsonrpc": "2.0", "method": "initialized", "params": {}}])
    answers(server, 25)
    assert not any(isinstance(m, list) for m in server.messages)


INVALID = {
    "a-number": (42, None),
    "a-string": ("hello", None),
    "null": (None, None),
    "no-jsonrpc": ({"id": 31, "method": "no/such"}, 31),
    "jsonrpc-1.0": ({"jsonrpc": "1.0", "id": 32, "method": "no/such"}, 32),
    "id-an-object": ({"jsonrpc": "2.0", "id": {"x": 1}, "method": "no/such"}, None),
    "id-a-bool": ({"jsonrpc": "2.0", "id": True, "method": "no/such"}, None),
    "method-a-number": ({"jsonrpc": "2.0", "id": 33, "method": 5}, 33),
    "method-empty": ({"jsonrpc": "2.0", "id": 34, "method": ""}, 34),
    "params-a-string": ({"jsonrpc": "2.0", "id": 35, "method": "no/such", "params": "x"}, 35),
    "neither-request-nor-response": ({"jsonrpc": "2.0", "id": 36}, 36),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_an_invalid_message_gets_invalid_request(shared, case):
    message, expected_id = INVALID[case]
    before = len(shared.messages)
    shared.send(message)
    reply = shared.wait_for(lambda m: any(x is m for x in shared.messages[before:]) and isinstance(m, dict)
                            and "error" in m and m.get("id") == expected_id and m["error"]["code"] == -32600)
    assert reply["error"]["message"].startswith("Invalid Request")
    answers(shared, 50_000 + sorted(INVALID).index(case))


def test_wrong_params_for_a_known_request_are_invalid_params(server):
    initialize(server)
    server.request(41, "textDocument/inlineCompletion", {"textDocument": 5})
    assert server.response(41)["error"]["code"] == -32602
    answers(server, 42)


# -- item 17: lifecycle ---------------------------------------------------------------
def test_a_request_before_initialize_is_server_not_initialized(server):
    server.request(1, "textDocument/inlineCompletion", {"textDocument": {"uri": "file:///a.py"},
                                                        "position": {"line": 0, "character": 0},
                                                        "context": {"triggerKind": 1}})
    reply = server.response(1)
    assert reply["error"]["code"] == -32002
    server.notify("textDocument/didOpen", {"textDocument": {"uri": "file:///a.py", "languageId": "python",
                                                             "version": 1, "text": "x"}})  # dropped
    server.request(2, "shutdown", None)
    assert server.response(2)["error"]["code"] == -32002
    initialize(server)  # initialize itself is accepted
    answers(server, 3)
    assert server.close() == 0


def test_a_second_initialize_is_refused(server):
    initialize(server)
    server.request(2, "initialize", {"capabilities": {}})
    assert server.response(2)["error"]["code"] == -32600
    answers(server, 3)


def test_a_request_after_shutdown_is_invalid_request_and_exit_gives_0(server):
    initialize(server)
    server.request(2, "shutdown", None)
    assert server.response(2)["result"] is None
    server.request(3, "no/suchMethod", {})
    server.request(4, "shutdown", None)
    assert server.response(3)["error"]["code"] == -32600
    assert server.response(4)["error"]["code"] == -32600
    server.notify("textDocument/didOpen", {"textDocument": {"uri": "file:///a.py", "languageId": "python",
                                                             "version": 1, "text": "x"}})  # ignored
    server.notify("exit", None)
    assert server.proc.wait(timeout=10) == 0


def test_exit_without_shutdown_gives_1(server):
    initialize(server)
    server.notify("exit", None)
    assert server.proc.wait(timeout=10) == 1


def test_exit_before_initialize_gives_1(server):
    server.notify("exit", None)
    assert server.proc.wait(timeout=10) == 1


def test_end_of_input_after_shutdown_gives_0_without_gives_1():
    for shut, expected in ((True, 0), (False, 1)):
        s = RawServer(env_without_deepseek())
        initialize(s)
        if shut:
            s.request(2, "shutdown", None)
            s.response(2)
        s.proc.stdin.close()
        assert s.proc.wait(timeout=10) == expected


# -- the framer in process: chunk boundaries anywhere ---------------------------------
async def _frames(data: bytes, chunk: int) -> list:
    from deepseek_ls.stdio import Framer

    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)]

    async def read() -> bytes:
        return pieces.pop(0) if pieces else b""

    framer = Framer(read, stall_s=0.05)
    out = []
    while (f := await framer.next()) is not None:
        out.append((f.body, f.junk, f.problem))
    return out


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 4096])
async def test_valid_messages_read_the_same_at_any_chunk_size(chunk):
    tricky = {"jsonrpc": "2.0", "method": "x", "params": {
        "text": "print('Content-Length: 12\\r\\n\\r\\n')\r\n😋 中文 e\u0301\f\r" * 3}}
    messages = [req(1), tricky, req("two"), {"jsonrpc": "2.0", "id": 3, "result": None}]
    data = b"".join(frame(m) for m in messages)
    data += b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n" + frame(req(4))
    frames = await _frames(data, chunk)
    assert [json.loads(b) for b, _, _ in frames] == messages + [req(4)]
    assert all(problem is None for _, _, problem in frames)


@pytest.mark.parametrize("chunk", [1, 5, 4096])
async def test_framing_errors_resynchronise_at_any_chunk_size(chunk):
    data = (b"Content-Length: 40\r\n\r\n" + frame(req(1)) + b"junk" + frame(req(2))
            + b"Content-Length: nope\r\n\r\n" + frame(req(3)))
    frames = await _frames(data, chunk)
    bodies = [json.loads(b) for b, _, _ in frames if b]
    assert bodies == [req(1), req(2), req(3)]
    assert sum(1 for _, _, p in frames if p) == 3  # one note per framing error


# -- hostile JSON: json.loads raises more than ValueError ------------------------------
HOSTILE = {
    "nested-1000": b'{"jsonrpc": "2.0", "id": 61, "method": "no/such", "params": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    "nested-100000": b'{"jsonrpc": "2.0", "id": 62, "method": "no/such", "params": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "nested-objects": b'{"jsonrpc": "2.0", "id": 63, "method": "no/such", "params": ' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}",
    "huge-int-id": b'{"jsonrpc": "2.0", "id": ' + b"9" * 5000 + b', "method": "no/such", "params": {}}',
    "huge-int-param": b'{"jsonrpc": "2.0", "id": 64, "method": "no/such", "params": {"x": ' + b"1" * 10_000 + b"}}",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_json_is_a_parse_error_and_the_server_goes_on(shared, case):
    before = len(shared.messages)
    shared.send(raw=HOSTILE[case])
    reply = shared.wait_for(lambda m: any(x is m for x in shared.messages[before:]) and isinstance(m, dict)
                            and "error" in m and m.get("id") is None)
    assert reply["error"]["code"] == -32700
    assert "traceback" not in json.dumps(reply)
    answers(shared, 60_000 + sorted(HOSTILE).index(case))
    assert shared.proc.poll() is None


@pytest.mark.parametrize("depth", [50, 400, 900])
def test_deep_but_decodable_params_get_an_answer(shared, depth):
    """Nesting json.loads accepts may still be too deep for the structuring behind it:
    the request is answered all the same (an error, no traceback), and the server goes on."""
    msg_id = 70_000 + depth
    params = {"textDocument": {"uri": "file:///x.py"}, "position": {"line": 0, "character": 0},
              "context": {"triggerKind": 1, "deep": json.loads("[" * depth + "]" * depth)}}
    shared.request(msg_id, "textDocument/inlineCompletion", params)
    reply = shared.response(msg_id)
    assert "result" in reply or "traceback" not in json.dumps(reply["error"])
    answers(shared, msg_id + 1)
