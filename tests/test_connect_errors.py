"""A connection that cannot be made is named once, with its cause, on every path.

``POST /beta/completions failed: cannot connect to 127.0.0.1:9:
ConnectionRefusedError: ...``, not ``failed: ConnectError: cannot connect to
...`` (review of issue 11: the httpx class name was prefixed to a message that
already says it).
"""

import logging

import pytest

from deepseek_ls.api.chat import ChatRequest, Timeouts, stream_chat
from deepseek_ls.api.client import DeepSeekClient, FimRequest
from deepseek_ls.api.errors import APIConnectionError, describe
from deepseek_ls.api.retry import RetryPolicy
from deepseek_ls.api.transport import CannotConnect

FIM = FimRequest(model="deepseek-flash", prompt="def add(a, b):\n    ", suffix="\n", max_tokens=32)
REFUSED = "http://127.0.0.1:9"


async def _fim(client):
    await client.fim(FIM)


async def _fim_stream(client):
    await client.fim_stream(FIM, lambda text: None)


async def _chat(client):
    await stream_chat(client, ChatRequest("deepseek-flash", ({"role": "user", "content": "hi"},)),
                      timeouts=Timeouts(connect_s=3.0), policy=RetryPolicy(attempts=1))


async def _models(client):
    await client.models()


async def _balance(client):
    await client.balance()


@pytest.mark.parametrize("call", [_fim, _fim_stream, _chat, _models, _balance],
                         ids=["fim", "fim-stream", "chat", "models", "balance"])
async def test_a_refused_connection_names_its_cause_once(monkeypatch, call):
    monkeypatch.delenv("DEEPSEEK_LS_HTTPX", raising=False)
    client = DeepSeekClient(REFUSED, "sk-test")
    try:
        with pytest.raises(APIConnectionError) as caught:
            await call(client)
    finally:
        await client.aclose()
    message = str(caught.value)
    assert "cannot connect to 127.0.0.1:9: ConnectionRefusedError" in message, message
    assert "ConnectError" not in message, message


async def test_the_warm_up_log_names_it_once_too(caplog):
    client = DeepSeekClient(REFUSED, "sk-test")
    caplog.set_level(logging.DEBUG, logger="deepseek_ls.api.client")
    try:
        await client.warm()
    finally:
        await client.aclose()
    said = [r.getMessage() for r in caplog.records if "no spare connection" in r.getMessage()]
    assert said and "cannot connect to 127.0.0.1:9" in said[0] and "ConnectError" not in said[0], said


def test_describe_keeps_other_errors_named():
    import httpx

    assert describe(httpx.ConnectError("All connection attempts failed")) == \
        "ConnectError: All connection attempts failed"  # httpx's own: the class says what failed
    assert describe(CannotConnect("cannot connect to h:1: OSError")) == "cannot connect to h:1: OSError"
    assert describe(OSError()) == "OSError"
