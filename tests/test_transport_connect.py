"""Connecting: Happy Eyeballs (RFC 8305) on every request H11Transport carries.

A host whose first address silently drops SYNs (a broken IPv6 route, a dead
front server) must still answer at once: the next address is tried after
250 ms, as httpx's own transport (anyio) does, not after the connect timeout.
Chat, model lists, balance (and so ``doctor``) and ghost text all go through
``H11Transport`` (review of issue 11: before the one HTTP path, chat went
through httpx and had it).
"""

import asyncio
import socket

import pytest

from deepseek_ls.api.chat import ChatRequest, Timeouts, stream_chat
from deepseek_ls.api.client import DeepSeekClient, FimRequest
from deepseek_ls.api.retry import RetryPolicy
from tests.fake_deepseek import ChatReply

FIM = FimRequest(model="deepseek-flash", prompt="def add(a, b):\n    ", suffix="\n", max_tokens=32)


@pytest.fixture
def blackhole_then_fake(fake, monkeypatch):
    """``dual.test`` resolves to 127.0.0.2 (a listener whose backlog is full: SYNs are
    dropped, connects hang) and then 127.0.0.1 (the fake), on the fake's port."""
    port = int(fake.base_url.rsplit(":", 1)[1].split("/")[0])
    listener = socket.socket()
    try:
        listener.bind(("127.0.0.2", port))
    except OSError:
        pytest.skip("127.0.0.2 with the fake's port is not available")
    listener.listen(0)
    filler = socket.create_connection(("127.0.0.2", port))  # fills the backlog
    yield port
    filler.close()
    listener.close()


def _resolve_dual(monkeypatch, port: int) -> None:
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host, *args, **kwargs):
        if host in ("dual.test", b"dual.test"):  # anyio passes it encoded
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port)),
                    (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return await real(host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)


async def _chat(client: DeepSeekClient) -> str:
    result = await stream_chat(client, ChatRequest("deepseek-flash", ({"role": "user", "content": "Say hi"},)),
                               timeouts=Timeouts(connect_s=3.0), policy=RetryPolicy(attempts=1))
    return result.content


async def _models(client: DeepSeekClient) -> str:
    return ",".join(await client.models(timeout_s=3.0))


async def _balance(client: DeepSeekClient) -> str:
    return str((await client.balance(timeout_s=3.0))["is_available"])


async def _fim(client: DeepSeekClient) -> str:
    return (await client.fim(FIM, timeout_s=3.5)).text


@pytest.mark.parametrize("call", [_chat, _models, _balance, _fim], ids=["chat", "models", "balance", "ghost-text"])
async def test_a_host_whose_first_address_hangs_answers_through_the_next(blackhole_then_fake, fake, monkeypatch,
                                                                         call):
    port = blackhole_then_fake
    _resolve_dual(monkeypatch, port)
    fake.chat_handler = lambda body: ChatReply("Hi.")
    client = DeepSeekClient(f"http://dual.test:{port}", "sk-test")
    try:
        assert client.h11_transport is not None  # the shipped path, not an injected transport
        answer = await call(client)
    finally:
        await client.aclose()
    assert answer
    assert {r.path for r in fake.requests} <= {"/chat/completions", "/models", "/user/balance",
                                                   "/beta/completions"}
    assert len(fake.requests) == 1, "one request, over the second address"
