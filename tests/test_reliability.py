"""Reliability (issue 10, items 15-16 and the reliability part): API faults for
ghost text and chat, unexpected exceptions, answers of the wrong shape, a
document that cannot be encoded, a flapping API, and malformed JSON-RPC.

Every request must be answered (a result or an error) within its deadline,
the server must not crash, and the user gets at most one message per problem.
Figures: ``pytest tests/test_reliability.py -s -k figures``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time

import httpx
import pytest

from deepseek_ls.api.chat import ChatRequest, Timeouts, stream_chat
from deepseek_ls.api.client import DeepSeekClient
from deepseek_ls.api.errors import APITimeoutError, StreamError
from deepseek_ls.api.retry import RetryPolicy
from deepseek_ls.completion import answer as answer_module
from deepseek_ls.completion.clock import ManualClock
from deepseek_ls.completion.failures import OUTAGE_QUIET_S
from deepseek_ls.snapshot import DocumentSnapshot
from tests.fake_deepseek import FakeDeepSeek
from tests.lsp_raw import RawServer, env_without_deepseek
from tests.test_engine import BASE, Upstream, debounced, make_engine, req

#: completion.timeoutMs in the LSP tests: the deadline of one ghost-text request
DEADLINE_MS = 800
#: what a test allows on top of a deadline (process scheduling on a busy machine), never a speed claim
SLACK_S = 10.0
DOC = "file:///w/a.py"


# -- engine level: whatever fails inside a flight, every waiter gets an answer -------------------
class Boom(Upstream):
    async def __call__(self, request):
        self.bodies.append(json.loads(request.content))
        raise RuntimeError("a bug in the transport")


async def test_an_exception_in_the_transport_answers_every_waiter_and_is_reported_once():
    up = Boom()
    engine, problems, _ = make_engine(up)
    first, joined = await asyncio.gather(engine.complete(req(BASE, manual=True)),
                                         engine.complete(req(BASE, manual=True)))
    assert first is None and joined is None
    assert await engine.complete(req(BASE + "x", manual=True)) is None
    assert [k for k, _ in problems] == ["internal"]  # once, not per request
    assert not engine.flights and len(up.bodies) == 2  # two requests, each failed


async def test_an_exception_in_postprocessing_answers_the_waiter(monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("a bug in postprocess")

    monkeypatch.setattr(answer_module, "postprocess", broken)
    engine, problems, _ = make_engine(Upstream())
    assert await engine.complete(req(BASE, manual=True)) is None
    assert [k for k, _ in problems] == ["internal"]


async def test_an_exception_in_a_usage_callback_answers_the_waiter():
    engine, problems, _ = make_engine(Upstream())

    def broken(model, usage):
        raise TypeError("a bug in the usage callback")

    engine.on_usage = broken
    assert await engine.complete(req(BASE, manual=True)) is None
    assert [k for k, _ in problems] == ["internal"]


class Canned(Upstream):
    """Answers 200 with a fixed body, as a broken proxy or API might."""

    def __init__(self, body: bytes, content_type: str = "application/json"):
        super().__init__()
        self.body = body
        self.content_type = content_type

    async def __call__(self, request):
        self.bodies.append(json.loads(request.content))
        return httpx.Response(200, headers={"content-type": self.content_type}, content=self.body)


BODIES = {
    "null": b"null",
    "a-list": b"[1, 2]",
    "a-number": b"42",
    "a-string": b'"text"',
    "choices-a-number": b'{"choices": 5}',
    "choices-of-numbers": b'{"choices": [5]}',
    "choices-empty": b'{"choices": []}',
    "html": b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    "truncated-json": b'{"choices": [{"text": "return',
    "empty": b"",
    "usage-infinite": b'{"choices": [{"text": "x"}], "usage": {"prompt_tokens": 1e999}}',
}


@pytest.mark.parametrize("case", sorted(BODIES))
@pytest.mark.parametrize("multiline", [False, True], ids=["fim", "fim-stream"])
async def test_an_answer_of_the_wrong_shape_is_no_suggestion(case, multiline):
    up = Canned(BODIES[case], "text/html" if case == "html" else "application/json")
    engine, problems, _ = make_engine(up)
    text = BASE if multiline else "x = "
    got = await engine.complete(req(text, manual=True))
    if case == "usage-infinite":
        assert got is None or got.text == "x"  # usable when not streamed: a silly usage costs nothing
    else:
        assert got is None
        assert [k for k, _ in problems] in ([], ["unavailable"])
    assert not engine.flights


async def test_a_lone_surrogate_is_replaced_and_other_documents_are_unaffected():
    up = Upstream()
    engine, problems, _ = make_engine(up)
    bad = DocumentSnapshot(uri="file:///w/bad.py", path="bad.py", language_id="python",
                           text="s = '\ud83d'  # half an emoji\n")
    doc = DocumentSnapshot(uri="file:///w/a.py", path="a.py", language_id="python", text=BASE)
    from deepseek_ls.completion.engine import CompletionRequest

    got = await engine.complete(CompletionRequest(doc=doc, offset=len(BASE), manual=True, others=(bad,)))
    assert got is not None and got.text == "return x + 1"
    got = await engine.complete(CompletionRequest(doc=bad, offset=len(bad.text), manual=True, others=(doc,)))
    assert got is not None
    sent = json.dumps(up.bodies)
    assert "\\ufffd" in sent and "\\ud83d" not in sent
    assert problems == []


async def test_a_flapping_api_warns_once_per_outage():
    up = Upstream()
    engine, problems, _ = make_engine(up, clock=ManualClock())

    async def fail(n):
        up.statuses = [503] * n
        for i in range(n):
            assert await engine.complete(req(BASE + f"f{engine.clock.now()}{i}", manual=True)) is None

    async def succeed():
        assert (await engine.complete(req(BASE + f"s{engine.clock.now()}", manual=True))) is not None

    for _cycle in range(5):  # a few 503s, one success, again
        await fail(3)
        assert engine.breaker.state != "closed"
        engine.clock.advance(3)
        await succeed()
        assert engine.breaker.state == "closed"
        engine.clock.advance(3)
    assert [k for k, _ in problems] == ["unavailable"]
    engine.clock.advance(OUTAGE_QUIET_S)  # a quiet minute, then a success: the outage is over
    await succeed()
    await fail(3)
    assert [k for k, _ in problems] == ["unavailable", "unavailable"]  # a new outage, a new warning


# -- chat, core level: deadlines with small timeouts (the real ones are minutes) --------------------
async def test_a_chat_stream_that_stalls_mid_answer_ends_within_its_idle_timeout(fake):
    fake.inject(path="/chat/completions", kind="stall", after_chunks=3)
    client = DeepSeekClient(fake.base_url, "sk-test")
    deltas = []
    try:
        with pytest.raises(StreamError):
            await asyncio.wait_for(stream_chat(client, ChatRequest("deepseek-flash", ({"role": "user",
                                                                                     "content": "hi"},)),
                                               lambda k, t: deltas.append(t),
                                               timeouts=Timeouts(connect_s=1, read_s=5, idle_s=0.3)),
                                   SLACK_S)
    finally:
        await client.aclose()
    assert deltas  # it had started


async def test_a_chat_server_that_never_answers_ends_within_its_read_timeout(fake):
    fake.inject(path="/chat/completions", kind="delay", delay_ms=600_000, times=5)
    client = DeepSeekClient(fake.base_url, "sk-test")
    try:
        with pytest.raises(APITimeoutError):
            await asyncio.wait_for(stream_chat(client, ChatRequest("deepseek-flash", ({"role": "user",
                                                                                     "content": "hi"},)),
                                               timeouts=Timeouts(connect_s=1, read_s=0.3, idle_s=0.3),
                                               policy=RetryPolicy(attempts=2, base_wait_s=0.05, total_s=2)),
                                   SLACK_S)
    finally:
        await client.aclose()
    assert len(fake.chat_requests()) == 2


async def test_a_chat_queued_behind_keep_alives_far_longer_than_its_idle_timeout_is_answered(fake):
    """"Keep-alives for a minute", scaled: 1.5 s of keep-alives every 20 ms against a 0.3 s idle timeout."""
    fake.keepalive_interval_ms = 20
    fake.inject(path="/chat/completions", kind="queue", delay_ms=1500)
    client = DeepSeekClient(fake.base_url, "sk-test")
    try:
        result = await asyncio.wait_for(stream_chat(client, ChatRequest("deepseek-flash", ({"role": "user",
                                                                                          "content": "hi"},)),
                                                    timeouts=Timeouts(connect_s=1, read_s=1, idle_s=0.3)),
                                        SLACK_S)
    finally:
        await client.aclose()
    assert result.content


# -- through the LSP: ghost text ------------------------------------------------------------------
def start(fake, **completion) -> RawServer:
    s = RawServer(env_without_deepseek())
    options = {"deepseek": {"baseUrl": fake.base_url, "apiKey": "sk-test",
                            "completion": {"debounceMs": 0, "timeoutMs": DEADLINE_MS, **completion}}}
    s.request("init", "initialize", {"capabilities": {}, "initializationOptions": options})
    s.response("init")
    s.notify("initialized", {})
    return s


def open_doc(s: RawServer, text: str, uri: str = DOC) -> None:
    s.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                        "text": text}})


#: counts for the closing note (printed at the end of the module with -s)
FIGURES: dict[str, float] = {"ghost_requests": 0, "ghost_answered": 0, "ghost_max_answer_s": 0.0,
                             "chat_requests": 0, "chat_answered": 0, "chat_errors": 0, "popups": 0}


def ghost(s: RawServer, msg_id: object, line: int, character: int, manual: bool = True,
          uri: str = DOC) -> tuple[dict, float]:
    """The answer to one inline completion request, and how long it took (s)."""
    started = time.monotonic()
    s.request(msg_id, "textDocument/inlineCompletion", {
        "textDocument": {"uri": uri}, "position": {"line": line, "character": character},
        "context": {"triggerKind": 1 if manual else 2}})
    FIGURES["ghost_requests"] += 1
    reply = s.response(msg_id, timeout=DEADLINE_MS / 1000 + SLACK_S)
    took = time.monotonic() - started
    FIGURES["ghost_answered"] += 1
    FIGURES["ghost_max_answer_s"] = max(FIGURES["ghost_max_answer_s"], round(took, 3))
    return reply, took


def chat(s: RawServer, msg_id: str, message: str) -> dict:
    s.request(msg_id, "workspace/executeCommand", {"command": "deepseek.chat", "arguments": [{"message": message}]})
    FIGURES["chat_requests"] += 1
    reply = s.response(msg_id, timeout=SLACK_S + 5)
    FIGURES["chat_answered"] += 1
    FIGURES["chat_errors"] += "error" in reply
    return reply


def popups(s: RawServer) -> list[dict]:
    return [m for m in s.messages if isinstance(m, dict) and m.get("method") == "window/showMessage"]


GHOST_FAULTS = {
    "503": dict(status=503),
    "500": dict(status=500),
    "502": dict(status=502),
    "504": dict(status=504),
    "429-retry-after": dict(status=429, retry_after=1),
    "reset-mid-body": dict(kind="reset"),
    "cut-mid-body": dict(kind="cut_stream"),
    "stall-mid-stream": dict(kind="stall", after_chunks=2),
    "never-answers": dict(kind="delay", delay_ms=600_000),
    "empty-body": dict(kind="empty_body"),
    "html-body": dict(kind="body", body="<html><h1>502 Bad Gateway</h1></html>", content_type="text/html"),
    "null-body": dict(kind="body", body="null"),
    "list-body": dict(kind="body", body="[]"),
    "number-body": dict(kind="body", body="7"),
    "truncated-json-body": dict(kind="body", body='{"choices": [{"text": "ret'),
    "keep-alives-then-answer": dict(kind="queue", delay_ms=500),
}


@pytest.fixture(scope="module")
def shared():
    """One fake and one server for a whole fault family (each member must leave it working)."""
    with FakeDeepSeek() as fake:
        fake.keepalive_interval_ms = 20  # "keep-alives for a minute", scaled down
        s = start(fake)
        yield fake, s
        assert s.close() == 0
        assert b"Traceback" not in s.stderr
        FIGURES["popups"] += len(popups(s))
        faults = sum(1 for r in fake.requests if r.fault)
        print(f"\nreliability figures (API faults): {faults} faulted API requests, "
              + ", ".join(f"{k}={v}" for k, v in FIGURES.items()))


@pytest.mark.parametrize("multiline", [False, True], ids=["single-line", "streamed-block"])
@pytest.mark.parametrize("case", sorted(GHOST_FAULTS))
def test_ghost_text_survives_an_api_fault(shared, case, multiline):
    fake, s = shared
    n = 1000 * (sorted(GHOST_FAULTS).index(case) + 1) + (500 if multiline else 0)
    fake.fim_handler = (lambda body: "return a + b\n    x = 1\n    y = 2\n    z = 3") if multiline \
        else (lambda body: "return a + b")
    uri = f"file:///w/{case}-{multiline}.py"
    text = "def f(a, b):\n    \n" if multiline else "def f(a, b):\n    r = \n"
    open_doc(s, text, uri)
    character = 4 if multiline else 8
    shown = len(popups(s))
    fake.inject(path="/beta/completions", times=2, **GHOST_FAULTS[case])
    for i in range(2):
        reply, _took = ghost(s, n + i, 1, character, uri=uri)
        assert "result" in reply, reply  # an answer, never a hang or an internal error
        if case == "keep-alives-then-answer":
            assert reply["result"]["items"], "keep-alives are life, not a fault"
    fake.clear_faults()
    reply, _ = ghost(s, n + 10, 1, character, uri=uri)
    assert reply["result"]["items"], "the server recovered"
    assert len(popups(s)) - shown <= 1  # one message per outage, not one per request
    assert s.proc.poll() is None


@pytest.mark.parametrize("fault,times", [(dict(status=503), 3), (dict(status=429, retry_after=1), 1)],
                         ids=["503-burst", "429-retry-after"])
def test_a_fault_burst_opens_the_breaker_and_a_probe_recovers_without_a_flood(fake, fault, times):
    s = start(fake)
    try:
        open_doc(s, "def f(a, b):\n    r = \n")
        fake.inject(path="/beta/completions", times=times, **fault)
        for i in range(times):
            assert ghost(s, 100 + i, 1, 8)[0]["result"] is not None
        sent = len(fake.fim_requests())
        for i in range(20):  # automatic requests while the breaker is open: not sent
            assert ghost(s, 200 + i, 1, 8, manual=False)[0]["result"]["items"] == []
        assert len(fake.fim_requests()) == sent
        states = [m["params"]["state"] for m in s.messages if isinstance(m, dict)
                  and m.get("method") == "deepseek/status"]
        assert "error" in states
        time.sleep(2.2)  # the breaker's first cooldown
        reply, _ = ghost(s, 300, 1, 8, manual=False)
        assert reply["result"]["items"]  # the probe went out and closed the breaker
        assert len(popups(s)) == 1
    finally:
        assert s.close() == 0


def test_a_document_with_a_lone_surrogate_does_not_block_the_others(fake):
    s = start(fake)
    try:
        # "\ud83d" arrives as a JSON escape: half an emoji, which UTF-8 cannot encode
        body = (b'{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": '
                b'{"uri": "file:///w/bad.py", "languageId": "python", "version": 1, '
                b'"text": "s = \'\\ud83d\'\\ndef g():\\n    \\n"}}}')
        s.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        open_doc(s, "def f(a, b):\n    r = \n")
        for i in range(3):  # the good document, whose prompt carries the bad one as context
            assert ghost(s, 10 + i, 1, 8)[0]["result"]["items"]
        assert ghost(s, 20, 2, 4, uri="file:///w/bad.py")[0]["result"] is not None
        prompts = " ".join(r.raw_body.decode() for r in fake.fim_requests())
        assert "\ufffd" in prompts or "\\ufffd" in prompts
        assert popups(s) == []
    finally:
        assert s.close() == 0


# -- through the LSP: chat --------------------------------------------------------------------------
CHAT_FAULTS = {
    # retried before the answer starts, then answered
    "503-burst": (dict(status=503, times=2), "answer"),
    "429-retry-after": (dict(status=429, retry_after=1, times=1), "answer"),
    "keep-alives-then-answer": (dict(kind="queue", delay_ms=600), "answer"),
    # broken after the answer started, or an answer that is not one: a clear error
    "reset-mid-body": (dict(kind="reset", after_chunks=3), "error"),
    "cut-mid-body": (dict(kind="cut_stream", after_chunks=3), "error"),
    "empty-body": (dict(kind="empty_body"), "error"),
    "html-body": (dict(kind="body", body="<html><h1>502</h1></html>", content_type="text/html"), "error"),
    "malformed-event": (dict(kind="body", body="data: {not json\n\n", content_type="text/event-stream"), "error"),
    "null-body": (dict(kind="body", body="null"), "error"),
    "401": (dict(status=401), "error"),
}


@pytest.mark.parametrize("case", sorted(CHAT_FAULTS))
def test_chat_survives_an_api_fault(shared, case):
    fake, s = shared
    fault, expected = CHAT_FAULTS[case]
    fake.inject(path="/chat/completions", **fault)
    shown = len(popups(s))
    reply = chat(s, f"chat-{case}", "hi")
    if expected == "answer":
        assert reply["result"]["content"]
        assert len(popups(s)) == shown
    else:
        assert reply["error"]["code"] == -32803 and reply["error"]["message"]
        assert "Traceback" not in json.dumps(reply)
        assert len(popups(s)) == shown + 1  # one clear message for the one failed chat
    fake.clear_faults()
    assert chat(s, f"again-{case}", "and now?")["result"]["content"]


# -- malformed JSON-RPC fuzz ------------------------------------------------------------------------------
def mutations(rng: random.Random, valid: bytes) -> bytes:
    """One broken input derived from a valid request body."""
    choice = rng.randrange(9)
    if choice == 0:  # a truncated body, honestly framed
        cut = valid[: rng.randrange(1, len(valid))]
        return b"Content-Length: %d\r\n\r\n" % len(cut) + cut
    if choice == 1:  # a lying length
        return b"Content-Length: %d\r\n\r\n" % max(0, len(valid) + rng.randint(-20, 40)) + valid
    if choice == 2:  # random bytes
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if choice == 3:  # a body with no header
        return valid
    if choice == 4:  # a flipped byte inside the body
        b = bytearray(valid)
        b[rng.randrange(len(b))] = rng.randrange(256)
        return b"Content-Length: %d\r\n\r\n" % len(b) + bytes(b)
    if choice == 5:  # a random JSON value
        value = rng.choice([None, 1, -1.5, "x", [], {}, [1, {"id": 3}], {"jsonrpc": "2.0"},
                            {"jsonrpc": "2.0", "id": [1], "method": "x"}, {"method": "x", "params": 5}])
        b = json.dumps(value).encode()
        return b"Content-Length: %d\r\n\r\n" % len(b) + b
    if choice == 6:  # a header mangled
        return rng.choice([b"Content-Length: x\r\n\r\n", b"Content-Lenght: 5\r\n\r\n", b"\r\n\r\n\r\n",
                           b"Content-Length:\r\n\r\n", b"Content-Length: 5\r\n"]) + valid
    if choice == 7:  # a batch
        b = json.dumps([json.loads(valid)] * rng.randint(1, 4)).encode()
        return b"Content-Length: %d\r\n\r\n" % len(b) + b
    b = valid.replace(b'"2.0"', rng.choice([b'"1.0"', b"2", b"null"]))  # a wrong version
    return b"Content-Length: %d\r\n\r\n" % len(b) + b


def run_fuzz(inputs: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    s = RawServer(env_without_deepseek())
    figures = {"inputs": 0, "probes": 0, "probes_answered": 0, "errors_received": 0}
    try:
        s.request("init", "initialize", {"capabilities": {}})
        s.response("init")
        s.notify("initialized", {})
        for i in range(inputs):
            valid = json.dumps({"jsonrpc": "2.0", "id": f"fuzz-{i}", "method": "no/suchMethod",
                                "params": {"i": i, "text": "😋 中文"}}).encode()
            s.write(mutations(rng, valid))
            figures["inputs"] += 1
            if i % 25 == 24:  # after a burst of junk, a probe must still be answered
                # a separator lets a lying length or a half header end before the probe
                s.write(b"\r\n" + b" " * 64 + b"\r\n")
                probe = f"probe-{i}"
                s.request(probe, "no/suchMethod", {})
                figures["probes"] += 1
                assert s.response(probe, timeout=SLACK_S)["error"]["code"] == -32601
                figures["probes_answered"] += 1
        figures["errors_received"] = sum(1 for m in s.messages for e in (m if isinstance(m, list) else [m])
                                         if isinstance(e, dict) and "error" in e)
        assert s.proc.poll() is None
        assert b"Traceback" not in s.stderr
    finally:
        assert s.close() == 0
    return figures


def test_malformed_json_rpc_fuzz_never_silences_the_server():
    figures = run_fuzz(200, seed=10)
    print(f"\nreliability figures (JSON-RPC fuzz): {figures}")
    assert figures["probes_answered"] == figures["probes"] == 8
    assert figures["errors_received"] > figures["probes"]  # the junk got clear errors too


# -- a key no header can carry; an unexpected exception in a chat ---------------------------------------
@pytest.mark.parametrize("key", ["sk-abc123 (work key)", "sk-abc\u00a0123", "sk-clé", "sk-abc\x01def"])
async def test_a_key_no_header_can_carry_is_one_clear_message_and_nothing_is_sent(key):
    up = Upstream()
    engine, problems, _ = make_engine(up, key=key, key_problem=True)
    for i in range(3):
        assert await engine.complete(req(BASE + "x" * i, manual=True)) is None
    assert up.bodies == []
    [(kind, message)] = problems
    assert kind == "missing-key" and "apiKey" in message and key.strip() not in message


class _Sink:
    def __init__(self):
        self.events = []

    def begin(self, session):
        self.events.append("begin")

    def delta(self, kind, text):
        self.events.append(kind)

    def retrying(self, attempt, error, wait_s):
        self.events.append("retry")

    async def done(self, answer):
        self.events.append("done")

    async def failed(self, error):
        self.events.append(("failed", str(error), error.hint))

    async def cancelled(self):
        self.events.append("cancelled")


async def test_a_chat_with_a_key_no_header_can_carry_fails_clearly(fake):
    from deepseek_ls.api.errors import InvalidApiKeyError
    from deepseek_ls.chat.manager import ChatManager
    from deepseek_ls.settings import build_settings

    settings, _ = build_settings({"baseUrl": fake.base_url})
    client = DeepSeekClient(fake.base_url, "sk-test ünïcode note")
    manager = ChatManager(lambda: client, lambda: settings)
    sink = _Sink()
    with pytest.raises(InvalidApiKeyError):
        await manager.ask("hi", sink, stream="s1")
    await client.aclose()
    [(_, message, hint)] = [e for e in sink.events if isinstance(e, tuple)]
    assert "ü" not in message and "deepseek.apiKey" in hint
    assert fake.chat_requests() == []


async def test_an_unexpected_exception_in_a_chat_ends_it_with_one_clear_error(fake, monkeypatch):
    from deepseek_ls.api.errors import InternalError
    from deepseek_ls.chat import manager as manager_module
    from deepseek_ls.settings import build_settings

    async def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(manager_module, "stream_chat", broken)
    settings, _ = build_settings({"baseUrl": fake.base_url})
    client = DeepSeekClient(fake.base_url, "sk-test")
    chat = manager_module.ChatManager(lambda: client, lambda: settings)
    sink = _Sink()
    with pytest.raises(InternalError):
        await chat.ask("hi", sink, stream="s1")
    await client.aclose()
    assert sink.events[0] == "begin" and sink.events[-1][0] == "failed"
    assert "KeyError" in sink.events[-1][1] and not chat.runs


def test_a_pasted_key_with_a_note_gets_clear_answers_over_lsp(fake):
    s = RawServer(env_without_deepseek())
    options = {"deepseek": {"baseUrl": fake.base_url, "apiKey": "sk-test — mein Schlüssel",
                            "completion": {"debounceMs": 0, "timeoutMs": DEADLINE_MS}}}
    s.request("init", "initialize", {"capabilities": {}, "initializationOptions": options})
    s.response("init")
    s.notify("initialized", {})
    try:
        open_doc(s, "def f(a, b):\n    r = \n")
        for i in range(3):
            assert ghost(s, 10 + i, 1, 8)[0]["result"]["items"] == []
        reply = chat(s, "chat", "hi")
        assert reply["error"]["code"] == -32803 and "key" in reply["error"]["message"].lower()
        assert "Traceback" not in json.dumps(reply) and "Schlüssel" not in json.dumps(s.messages)
        assert fake.fim_requests() == [] and fake.chat_requests() == []
        assert 1 <= len(popups(s)) <= 2  # the key problem once (and the failed chat)
    finally:
        assert s.close() == 0


async def test_an_unexpected_exception_in_a_probe_does_not_hold_the_breaker():
    up = Upstream()
    up.statuses = [503, 503, 503]
    engine, problems, _ = make_engine(up, clock=ManualClock())
    for i in range(3):
        await engine.complete(req(BASE + "abc"[: i + 1], manual=True))
    assert engine.breaker.state == "open"
    engine.clock.advance(engine.breaker.current_cooldown_s)
    real = engine.client.fim_stream

    async def broken(*args, **kwargs):
        raise RuntimeError("a bug during the probe")

    engine.client.fim_stream = engine.client.fim = broken
    assert await debounced(engine, req(BASE + "p")) is None  # the probe hits the bug
    engine.client.fim_stream = real
    engine.client.fim = DeepSeekClient.fim.__get__(engine.client)
    assert not engine.breaker.probing
    assert (await debounced(engine, req(BASE + "z"))) is not None  # the next probe goes out and recovers
    assert engine.breaker.state == "closed"
