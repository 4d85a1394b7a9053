"""Answers from the API of a shape deepseek-ls cannot use (a field of the wrong type, a stream
event that is not a chunk, JSON nested too deeply or with a 5000-digit number) are one clear
error ("DeepSeek's answer is not a completion"), never text pasted into a file, never an empty
success, never a crash. Chat (streamed and prefix), FIM (single line and streamed)."""

from __future__ import annotations

import json

import httpx
import pytest

from deepseek_ls.api.chat import ChatRequest, complete_once, stream_chat
from deepseek_ls.api.client import DeepSeekClient, FimRequest
from deepseek_ls.api.errors import DeepSeekError, MalformedAnswerError, ServerError, StreamError
from deepseek_ls.api.jsonbody import loads
from deepseek_ls.api.retry import RetryPolicy, is_retryable
from tests.test_engine import BASE, Upstream, make_engine, req

NESTED = b"[" * 100_000 + b"]" * 100_000
HUGE_INT = b'{"choices": [{"text": "x"}], "usage": {"prompt_tokens": ' + b"9" * 5000 + b"}}"


@pytest.mark.parametrize("raw", [NESTED, b'{"a":' * 5000 + b"1" + b"}" * 5000, b"9" * 5000,
                                 b"\xff\xfe", b"{", b""])
def test_loads_only_ever_raises_value_error(raw):
    with pytest.raises(ValueError):
        loads(raw)


class Canned(Upstream):
    def __init__(self, body: bytes, content_type: str = "application/json"):
        super().__init__()
        self.body, self.content_type = body, content_type

    async def __call__(self, request):
        self.bodies.append(json.loads(request.content))
        return httpx.Response(200, headers={"content-type": self.content_type}, content=self.body)


def sse(*events: object) -> bytes:
    out = b""
    for e in events:
        out += b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n\n"
    return out + b"data: [DONE]\n\n"


def client_on(up: Upstream) -> DeepSeekClient:
    return DeepSeekClient("http://127.0.0.1:1", "sk-test", transport=httpx.MockTransport(up))


# -- chat, non-streamed (prefix completion: rewrite, fix, docstring) ----------------------------
def message(**fields):
    return {"choices": [{"index": 0, "message": {"role": "assistant", **fields}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2}, "model": "deepseek-chat"}


CHAT_BODIES = {
    "content-a-list": message(content=["a", {"b": 1}]),
    "content-an-object": message(content={"b": 1}),
    "content-a-number": message(content=5),
    "content-a-boolean": message(content=True),
    "reasoning-a-list": message(content="x", reasoning_content=[1]),
    "finish-reason-a-number": {**message(content="x"), "choices": [{"message": {"content": "x"}, "finish_reason": 3}]},
    "usage-a-list": {**message(content="x"), "usage": [1]},
    "usage-count-text": {**message(content="x"), "usage": {"prompt_tokens": "3"}},
    "usage-count-negative": {**message(content="x"), "usage": {"completion_tokens": -1}},
    "usage-count-infinite": b'{"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": 1e999}}',
    "model-a-number": {**message(content="x"), "model": 7},
    "message-null": {"choices": [{"message": None}]},
    "nested": NESTED,
    "huge-int": b'{"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": ' + b"9" * 5000 + b"}}",
}


@pytest.mark.parametrize("case", sorted(CHAT_BODIES))
async def test_a_prefix_answer_of_the_wrong_shape_is_one_clear_error(case):
    body = CHAT_BODIES[case]
    up = Canned(body if isinstance(body, bytes) else json.dumps(body).encode())
    request = ChatRequest("deepseek-chat", ({"role": "user", "content": "hi"},), stream=False)
    with pytest.raises(ServerError) as caught:
        await complete_once(client_on(up), request, policy=RetryPolicy(attempts=3))
    text = str(caught.value)
    assert "not a completion" in text or "not JSON" in text
    assert "['a'" not in text and "Traceback" not in text
    assert len(up.bodies) == 1  # not retried: the same server would answer the same way


async def test_a_well_formed_prefix_answer_with_null_fields_is_used():
    up = Canned(json.dumps(message(content="ok", reasoning_content=None)).encode())
    request = ChatRequest("deepseek-chat", ({"role": "user", "content": "hi"},), stream=False)
    result = await complete_once(client_on(up), request)
    assert result.content == "ok" and result.usage.prompt_tokens == 3


# -- chat, streamed ----------------------------------------------------------------------------
STREAM_EVENTS = {
    "null": [None],
    "a-list": [[1, 2]],
    "a-number": [5],
    "a-string": ["x"],
    "delta-null": [{"choices": [{"delta": None}]}],
    "delta-a-list": [{"choices": [{"delta": [1]}]}],
    "content-a-number": [{"choices": [{"delta": {"content": 5}}]}],
    "content-a-list": [{"choices": [{"delta": {"content": ["a"]}}]}],
    "reasoning-an-object": [{"choices": [{"delta": {"reasoning_content": {"a": 1}}}]}],
    "choices-a-string": [{"choices": "x"}],
    "choices-missing": [{"id": "1"}],
    "choice-a-number": [{"choices": [1]}],
    "choice-without-delta": [{"choices": [{"index": 0}]}],
    "finish-reason-a-list": [{"choices": [{"delta": {"content": "a"}, "finish_reason": ["stop"]}]}],
    "usage-text": [{"choices": [{"delta": {"content": "a"}}]}, {"choices": [], "usage": "lots"}],
    "good-then-bad": [{"choices": [{"delta": {"content": "a"}}]}, {"choices": [{"delta": None}]}],
    "nested": [NESTED],
}


@pytest.mark.parametrize("case", sorted(STREAM_EVENTS))
async def test_a_malformed_chat_stream_event_is_one_clear_error(case):
    up = Canned(sse(*STREAM_EVENTS[case]), "text/event-stream")
    request = ChatRequest("deepseek-chat", ({"role": "user", "content": "hi"},))
    with pytest.raises((MalformedAnswerError, StreamError)) as caught:
        await stream_chat(client_on(up), request)
    assert "not a completion" in str(caught.value) or "malformed stream event" in str(caught.value)


async def test_a_stream_of_usual_chunks_is_still_read():
    events = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
              {"choices": [{"index": 0, "delta": {"content": None, "reasoning_content": "think"}}]},
              {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}],
               "usage": None},
              {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 1,
                                         "completion_tokens_details": None}}]
    up = Canned(sse(*events), "text/event-stream")
    result = await stream_chat(client_on(up), ChatRequest("deepseek-chat", ({"role": "user", "content": "hi"},)))
    assert (result.content, result.reasoning, result.usage.prompt_tokens) == ("hi", "think", 4)


# -- FIM: single line and streamed (multi-line ghost text) --------------------------------------
FIM_BODIES = {
    "text-a-list": {"choices": [{"text": ["a"]}]},
    "text-an-object": {"choices": [{"text": {"a": 1}}]},
    "text-a-number": {"choices": [{"text": 5}]},
    "finish-reason-a-number": {"choices": [{"text": "x", "finish_reason": 1}]},
    "usage-text": {"choices": [{"text": "x"}], "usage": "many"},
    "model-a-list": {"choices": [{"text": "x"}], "model": ["m"]},
}
FIM_EVENTS = {
    "null": [None],
    "a-list": [[1, 2]],
    "text-a-number": [{"choices": [{"text": 5}]}],
    "text-a-list": [{"choices": [{"text": ["a"]}]}],
    "choices-a-string": [{"choices": "x"}],
    "choice-empty": [{"choices": [{}]}],
    "good-then-bad": [{"choices": [{"text": "return x"}]}, {"choices": [{"text": None, "finish_reason": 5}]}],
}


@pytest.mark.parametrize("case", sorted(FIM_BODIES) + ["nested", "huge-int"])
async def test_a_fim_answer_of_the_wrong_shape_is_an_error_not_text(case):
    body = {"nested": NESTED, "huge-int": HUGE_INT}.get(case) or json.dumps(FIM_BODIES[case]).encode()
    with pytest.raises(ServerError) as caught:
        await client_on(Canned(body)).fim(FimRequest("deepseek-chat", "def f(x):\n    ", "", max_tokens=16))
    assert "not a completion" in str(caught.value) or "not JSON" in str(caught.value)


@pytest.mark.parametrize("case", sorted(FIM_EVENTS))
async def test_a_malformed_fim_stream_is_no_suggestion_and_a_breaker_failure(case):
    up = Canned(sse(*FIM_EVENTS[case]), "text/event-stream")
    engine, problems, _ = make_engine(up)
    before = engine.breaker.failures if hasattr(engine.breaker, "failures") else None
    failures = []
    engine.on_failure = failures.append
    got = await engine.complete(req(BASE + "\n", offset=len(BASE), manual=True))
    assert got is None
    assert [type(exc) for exc in failures] == [MalformedAnswerError]
    assert engine.last_error and "not a completion" in engine.last_error
    if before is not None:
        assert engine.breaker.failures == before + 1
    assert not engine.flights


@pytest.mark.parametrize("case", sorted(FIM_BODIES))
async def test_a_fim_answer_of_the_wrong_shape_is_no_suggestion_through_the_engine(case):
    """Whether the engine streams this request or not, the wrong shape is no suggestion."""
    class Either(Canned):
        async def __call__(self, request):
            self.bodies.append(json.loads(request.content))
            if self.bodies[-1].get("stream"):
                body = FIM_BODIES[case]
                return httpx.Response(200, headers={"content-type": "text/event-stream"},
                                      content=sse({k: v for k, v in body.items() if k != "usage"},
                                                  *([{"choices": [], "usage": body["usage"]}] if "usage" in body else [])))
            return httpx.Response(200, headers={"content-type": "application/json"}, content=self.body)

    engine, problems, _ = make_engine(Either(json.dumps(FIM_BODIES[case]).encode()))
    assert await engine.complete(req("x = ", manual=True)) is None
    assert engine.last_error and "not a completion" in engine.last_error


def test_the_error_is_a_deepseek_error_with_a_hint():
    exc = MalformedAnswerError("choices[0].message.content is a list, not text")
    assert isinstance(exc, DeepSeekError) and exc.hint and not is_retryable(exc)  # the retry policy decides
    assert str(exc) == "DeepSeek's answer is not a completion (choices[0].message.content is a list, not text)."


# -- lone surrogates in an answer ("\ud83d" escapes) are replaced as the answer is read ------------
async def test_lone_surrogates_in_an_answer_become_replacement_characters():
    body = b'{"choices": [{"message": {"content": "a \\ud83d b", "reasoning_content": "\\udc00"}}], "model": "m\\ud800"}'
    request = ChatRequest("deepseek-chat", ({"role": "user", "content": "hi"},), stream=False)
    result = await complete_once(client_on(Canned(body)), request)
    assert (result.content, result.reasoning, result.model) == ("a \ufffd b", "\ufffd", "m\ufffd")
    for text in (result.content, result.reasoning, result.model):
        text.encode("utf-8")
    streamed = await stream_chat(client_on(Canned(sse(b'{"choices": [{"delta": {"content": "x\\ud83d"}}]}'),
                                                  "text/event-stream")), ChatRequest("m", request.messages))
    assert streamed.content == "x\ufffd"
    fim = await client_on(Canned(b'{"choices": [{"text": "\\ud83d\\ude00 ok \\ud83d"}]}')).fim(
        FimRequest("m", "x = ", "", max_tokens=8))
    assert fim.text == "\U0001f600 ok \ufffd"  # a pair escaped in two halves is one emoji


def test_an_internal_error_never_sends_a_traceback_to_the_editor():
    import sys as _sys

    from lsprotocol import types
    from pygls.exceptions import JsonRpcInternalError

    from deepseek_ls.server import create_server

    server = create_server()
    sent = []
    server.protocol._send_data = sent.append
    try:
        raise UnicodeEncodeError("utf-8", "\ud83d", 0, 1, "surrogates not allowed")
    except UnicodeEncodeError:
        error = JsonRpcInternalError.of(_sys.exc_info()).to_response_error()
    assert "traceback" in error.data
    server.protocol._send_response(7, error=error)
    [response] = sent
    assert response.error.data is None and response.error.code == -32603
    assert "UnicodeEncodeError" in response.error.message and "server log" in response.error.message
    server.protocol._send_response(8, error=types.ResponseError(code=-32803, message="chosen", data={"x": 1}))
    assert sent[-1].error.data == {"x": 1}


# -- exception text in messages: no empty detail, no stray punctuation ------------------------------
@pytest.mark.parametrize("error", [httpx.ReadError(""), httpx.ConnectError(""), httpx.RemoteProtocolError(""),
                                   httpx.ReadError("connection reset by peer")])
async def test_a_transport_error_without_text_reads_cleanly(error):
    from deepseek_ls.api.errors import APIConnectionError

    def broken(request):
        raise error

    client = DeepSeekClient("http://127.0.0.1:1", "sk-test", transport=httpx.MockTransport(broken))
    with pytest.raises(APIConnectionError) as caught:
        await client.fim(FimRequest("m", "x = ", "", max_tokens=8))
    text = str(caught.value)
    assert ":." not in text and ": ." not in text and not text.endswith(": ")
    assert type(error).__name__ in text
    if str(error):
        assert str(error) in text
    with pytest.raises(APIConnectionError) as caught:
        await stream_chat(client, ChatRequest("m", ({"role": "user", "content": "hi"},)),
                          policy=RetryPolicy(attempts=1))
    assert ":." not in str(caught.value) and type(error).__name__ in str(caught.value)


def test_describe_and_messages_never_end_in_a_colon():
    from deepseek_ls.api.errors import APIConnectionError, describe

    assert describe(OSError()) == "OSError"
    assert describe(ConnectionResetError("reset")) == "ConnectionResetError: reset"
    assert str(APIConnectionError("POST /x failed: ReadError: ")) == "POST /x failed: ReadError."
    assert str(APIConnectionError("")) == "failed."


def test_a_model_name_with_a_lone_surrogate_does_not_poison_the_ledger(tmp_path):
    from deepseek_ls.ledger import Ledger

    ledger = Ledger(tmp_path / "ledger.sqlite3")
    ledger.record("deepseek-\ud83d", 1, 2, 3)
    ledger.record("deepseek-chat", 1, 2, 3, endpoint="fallback-\udc00")
    ledger.record("deepseek-chat", 1, 2, 3)
    ledger.close()
    again = Ledger(tmp_path / "ledger.sqlite3")
    assert again.count() == 3
    again.close()


def test_log_records_with_lone_surrogates_can_be_written_to_a_strict_utf8_stream():
    import io
    import logging

    from deepseek_ls.logs import RedactingFilter

    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test.surrogates")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("a document named %s", "bad\ud83d.py")
        try:
            raise ValueError("half \udc00 an emoji")
        except ValueError:
            logger.exception("failed")
        stream.flush()
        text = stream.buffer.getvalue().decode("utf-8")
        assert "bad\ufffd.py" in text and "half \ufffd an emoji" in text
    finally:
        logger.removeHandler(handler)
