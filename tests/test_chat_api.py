"""The chat HTTP layer against the fake DeepSeek, in process (no LSP)."""

import asyncio

import pytest

from deepseek_ls.api.chat import ChatRequest, Timeouts, complete_once, stream_chat
from deepseek_ls.api.client import DeepSeekClient
from deepseek_ls.api.errors import AuthenticationError, BadRequestError, ServerError, StreamError
from deepseek_ls.api.retry import RetryPolicy
from tests.conftest import until
from tests.fake_deepseek import ChatReply

MESSAGES = ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"})
FAST = RetryPolicy(attempts=4, base_wait_s=0.001, max_wait_s=0.01, total_s=5)


@pytest.fixture
async def api(fake):
    client = DeepSeekClient(fake.base_url, "sk-test")
    yield client
    await client.aclose()


async def collect(client, request, **kw):
    deltas = []
    result = await stream_chat(client, request, lambda kind, text: deltas.append((kind, text)), **kw)
    return result, deltas


async def test_stream_with_keepalives_and_thinking(api, fake):
    fake.queue_delay_ms = 120
    fake.keepalive_interval_ms = 20
    fake.chat_handler = lambda body: ChatReply("Hello there, friend.", "I should greet.")
    result, deltas = await collect(api, ChatRequest("deepseek-flash", MESSAGES, thinking=True))
    assert result.content == "Hello there, friend." and result.reasoning == "I should greet."
    kinds = [k for k, _ in deltas]
    assert kinds.index("content") > kinds.index("reasoning") and "reasoning" not in kinds[kinds.index("content"):]
    assert result.usage.completion_tokens > 0 and result.usage.reasoning_tokens > 0
    [rec] = fake.chat_requests()
    assert rec.body["thinking"] == {"type": "enabled"} and rec.body["stream_options"] == {"include_usage": True}


async def test_legacy_usage_chunk(api, fake):
    fake.legacy_usage_chunk = True
    fake.chat_handler = lambda body: "ok then"
    result, _ = await collect(api, ChatRequest("deepseek-flash", MESSAGES))
    assert result.content == "ok then" and result.usage.prompt_tokens > 0
    assert fake.chat_requests()[0].body["thinking"] == {"type": "disabled"}


async def test_cut_stream_is_a_clear_error_not_a_hang(api, fake):
    fake.chat_handler = lambda body: "one two three four five six seven eight"
    fake.inject(path="/chat/completions", kind="cut_stream", after_chunks=3)
    with pytest.raises(StreamError, match="without \\[DONE\\]|broke mid-answer"):
        await asyncio.wait_for(collect(api, ChatRequest("deepseek-flash", MESSAGES), policy=FAST), 5)
    assert len(fake.chat_requests()) == 1  # a stream that began is never retried


async def test_stall_trips_the_idle_watchdog_and_closes_the_socket(api, fake):
    fake.inject(path="/chat/completions", kind="stall", after_chunks=2)
    with pytest.raises(StreamError, match="sent nothing for 0.3 s"):
        await collect(api, ChatRequest("deepseek-flash", MESSAGES), timeouts=Timeouts(idle_s=0.3))
    await until(lambda: fake.chat_requests()[0].disconnected, timeout=2)


async def test_503_twice_then_success_is_retried_honouring_retry_after(api, fake):
    fake.inject(path="/chat/completions", status=503, times=2, retry_after=0)
    result, _ = await collect(api, ChatRequest("deepseek-flash", MESSAGES))  # default policy
    assert result.content
    assert [r.status for r in fake.chat_requests()] == [503, 503, 200]


async def test_attempts_are_capped(api, fake):
    fake.inject(path="/chat/completions", status=502, times=10)
    with pytest.raises(ServerError):
        await collect(api, ChatRequest("deepseek-flash", MESSAGES), policy=FAST)
    assert len(fake.chat_requests()) == FAST.attempts


@pytest.mark.parametrize("status", [400, 422])
async def test_client_errors_are_not_retried(api, fake, status):
    fake.inject(path="/chat/completions", status=status, times=3)
    with pytest.raises(BadRequestError):
        await collect(api, ChatRequest("deepseek-flash", MESSAGES), policy=FAST)
    assert len(fake.chat_requests()) == 1


async def test_bad_key_is_not_retried_and_never_echoed():
    from tests.fake_deepseek import FakeDeepSeek

    with FakeDeepSeek() as fake:
        client = DeepSeekClient(fake.base_url, "sk-wrongkey1234")
        with pytest.raises(AuthenticationError) as info:
            await collect(client, ChatRequest("deepseek-flash", MESSAGES), policy=FAST)
        await client.aclose()
        assert "sk-wrongkey1234" not in str(info.value) and len(fake.chat_requests()) == 1


async def test_cancel_closes_the_stream_at_once(api, fake):
    fake.chat_handler = lambda body: "word " * 200
    fake.ms_per_output_token = 20
    task = asyncio.ensure_future(collect(api, ChatRequest("deepseek-flash", MESSAGES)))
    await until(lambda: fake.chat_requests() and fake.chat_requests()[0].first_token_ns)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: fake.chat_requests()[0].disconnected, timeout=2)


async def test_prefix_completion_once(api, fake):
    seen = []

    def handler(body):
        seen.append(body)
        return "a + b\n```\nignored"

    fake.chat_handler = handler
    request = ChatRequest("deepseek-flash", MESSAGES + ({"role": "assistant", "content": "```python\nreturn ",
                                                        "prefix": True},),
                          stream=False, beta=True, stop=("```",), max_tokens=64, temperature=0.0)
    result = await complete_once(api, request, policy=FAST)
    assert result.content == "a + b\n"  # the stop sequence cut the rest
    [rec] = fake.chat_requests()
    assert rec.path == "/beta/chat/completions" and rec.body["messages"][-1]["prefix"] is True


async def test_a_retired_client_closes_after_its_last_exchange(fake):
    """After a key change the old client finishes the answer it is streaming, then closes."""
    fake.latency_ms = 150
    client = DeepSeekClient(fake.base_url, "sk-test")
    task = asyncio.create_task(stream_chat(client, ChatRequest("deepseek-flash", MESSAGES)))
    await asyncio.sleep(0.05)
    client.retire()
    assert client.is_open  # still streaming
    result = await task
    assert result.content
    await asyncio.sleep(0)
    assert not client.is_open

    idle = DeepSeekClient(fake.base_url, "sk-test")
    await idle.models()
    assert idle.is_open
    idle.retire()
    assert not idle.is_open


async def test_streams_read_to_the_end_keep_their_connection(api, fake):
    """Cut off after [DONE], a connection is closed and the next request pays a new handshake."""
    from deepseek_ls.api.client import FimRequest

    fim = FimRequest(model="deepseek-flash", prompt="def add(a, b):\n    ", suffix="", max_tokens=32)
    for _ in range(2):
        await api.fim_stream(fim, lambda piece: None)
        await collect(api, ChatRequest("deepseek-flash", MESSAGES))
    await api.fim(fim)
    fim_conns = [r.conn_id for r in fake.fim_requests()]
    chat_conns = [r.conn_id for r in fake.chat_requests()]
    assert len(fim_conns) == 3 and len(chat_conns) == 2
    assert len(set(fim_conns + chat_conns)) == 1, (fim_conns, chat_conns)  # one client, one pool
