"""``DeepSeekClient.warm()``: a spare connection for the next ghost text, whatever carries it.

The engine calls ``warm()`` after every stopped or aborted ghost-text request
(an aborted request's connection is closed), so the next keystroke does not
pay a TCP (+ proxy CONNECT + TLS) handshake. Through ``H11Transport`` a
connection is opened without a request; through httpx's own transport (a
proxy, ``DEEPSEEK_LS_HTTPX=1``) a free ``GET /models`` opens one, at most once
per keep-alive period, never a request per keystroke (review of issue 11:
the restructure had made ``warm()`` do nothing there).
"""

import pytest

from deepseek_ls.api import config as C
from deepseek_ls.api.client import DeepSeekClient, FimRequest
from tests.fake_deepseek import server as fake_server

FIM = FimRequest(model="deepseek-flash", prompt="def add(a, b):\n    ", suffix="\n", max_tokens=32)


def _models_requests(fake) -> int:
    return sum(1 for r in fake.requests if r.path == "/models")


async def test_warm_readies_a_connection_when_httpx_carries_the_requests(fake, monkeypatch):
    monkeypatch.setenv(C.HTTPX_ENV, "1")  # as a proxy in the environment does
    client = DeepSeekClient(fake.base_url, "sk-test")
    try:
        assert client.h11_transport is None  # httpx's own transport carries them
        await client.warm()
        assert _models_requests(fake) == 1  # the free request that opened the connection
        marker = next(fake_server._CONN_IDS)  # connections opened from here on get larger ids
        assert (await client.fim(FIM)).text == "return a + b"
        assert fake.fim_requests()[-1].conn_id < marker, "the ghost text after warm() opened a new connection"
    finally:
        await client.aclose()


async def test_warm_through_httpx_sends_at_most_one_request_per_keepalive_period(fake, monkeypatch):
    monkeypatch.setenv(C.HTTPX_ENV, "1")
    now = [1000.0]
    monkeypatch.setattr("deepseek_ls.api.client.time.monotonic", lambda: now[0])
    client = DeepSeekClient(fake.base_url, "sk-test")
    try:
        for _ in range(20):  # a typing burst: each keystroke aborts a request and warms
            await client.warm()
            now[0] += 0.1
        assert _models_requests(fake) == 1, "a warm-up request per keystroke"
        now[0] += C.HTTPX_KEEPALIVE_S  # the spare connection has expired by now
        await client.warm()
        assert _models_requests(fake) == 2
    finally:
        await client.aclose()


async def test_warm_through_h11_opens_a_connection_without_a_request(fake, monkeypatch):
    monkeypatch.delenv(C.HTTPX_ENV, raising=False)
    client = DeepSeekClient(fake.base_url, "sk-test")
    try:
        assert client.h11_transport is not None
        for _ in range(5):
            await client.warm()
        assert client.idle_connections() == 1
        assert fake.requests == []
    finally:
        await client.aclose()


@pytest.mark.parametrize("httpx_env", ["1", None], ids=["httpx", "h11"])
async def test_warm_never_raises_when_the_server_is_unreachable(monkeypatch, httpx_env):
    if httpx_env:
        monkeypatch.setenv(C.HTTPX_ENV, httpx_env)
    else:
        monkeypatch.delenv(C.HTTPX_ENV, raising=False)
    client = DeepSeekClient("http://127.0.0.1:9", "sk-test")
    try:
        await client.warm()  # refused: logged, not raised
    finally:
        await client.aclose()


async def test_warm_without_a_key_sends_nothing(fake, monkeypatch):
    monkeypatch.setenv(C.HTTPX_ENV, "1")
    client = DeepSeekClient(fake.base_url, "")
    try:
        await client.warm()
        assert fake.requests == []
    finally:
        await client.aclose()
