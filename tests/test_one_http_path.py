"""One HTTP path: one AsyncClient, one transport seam, one error mapping, one SSE read loop.

Ghost text and chat go through the same ``httpx.AsyncClient``; what carries
the bytes is chosen once per client (H11Transport, httpx's own, or an
injected one), and every choice behaves the same to the caller.
"""

import asyncio

import httpx
import pytest

from deepseek_ls.api.chat import ChatRequest, Timeouts, stream_chat
from deepseek_ls.api.client import DeepSeekClient, FimRequest
from deepseek_ls.api.errors import APIConnectionError, APITimeoutError, MalformedAnswerError, StreamError
from deepseek_ls.api.retry import RetryPolicy
from deepseek_ls.api.sse import iter_lines
from deepseek_ls.api.transport import H11Transport
from tests.fake_deepseek import ChatReply

FIM = FimRequest(model="deepseek-flash", prompt="def add(a, b):\n    ", suffix="\n", max_tokens=32)
MESSAGES = ({"role": "user", "content": "Say hi"},)
#: characters ``str.splitlines`` breaks at, which JSON text carries unescaped
SPLITLINES_CHARS = "a\u2028b\u2029c\x85d"


@pytest.fixture
async def api(fake):
    client = DeepSeekClient(fake.base_url, "sk-test")
    yield client
    await client.aclose()


@pytest.fixture
async def httpx_api(fake, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_LS_HTTPX", "1")
    client = DeepSeekClient(fake.base_url, "sk-test")
    yield client
    await client.aclose()


async def test_ghost_text_and_chat_share_one_client_and_its_connections(api, fake):
    assert isinstance(api.h11_transport, H11Transport)
    assert (await api.fim(FIM)).text == "return a + b"
    http = api.http
    fake.chat_handler = lambda body: ChatReply("Hi.")
    result = await stream_chat(api, ChatRequest("deepseek-flash", MESSAGES))
    assert result.content == "Hi." and api.http is http
    assert (await api.fim(FIM)).text == "return a + b"
    # one pool: the chat reused the ghost-text connection, and the next ghost text reused it again
    assert len({r.conn_id for r in fake.requests}) == 1 and len(fake.requests) == 3
    # ghost text asks for uncompressed answers; chat keeps httpx's default offer
    assert [r.headers.get("accept-encoding") for r in fake.fim_requests()] == ["identity"] * 2
    assert "gzip" in fake.chat_requests()[0].headers["accept-encoding"]


@pytest.mark.parametrize("which", ["h11", "httpx"])
async def test_both_transports_trace_the_same_events_and_answer_the_same(which, api, httpx_api, fake):
    client = api if which == "h11" else httpx_api
    assert (client.h11_transport is None) == (which == "httpx")
    events = []
    result = await client.fim(FIM, trace=lambda ev, info: events.append(ev))
    streamed = []
    stream_result = await client.fim_stream(FIM, streamed.append, trace=lambda ev, info: events.append(ev))
    assert result.text == stream_result.text == "".join(streamed) == "return a + b"
    assert events == ["http_send", "http_written", "http_first_byte"] * 2


@pytest.mark.parametrize("which", ["h11", "httpx"])
async def test_nothing_listening_is_the_same_error_through_both_transports(which, monkeypatch):
    if which == "httpx":
        monkeypatch.setenv("DEEPSEEK_LS_HTTPX", "1")
    client = DeepSeekClient("http://127.0.0.1:9", "sk-test")
    try:
        for call in (client.fim(FIM, timeout_s=2), client.fim_stream(FIM, lambda piece: None, timeout_s=2),
                     stream_chat(client, ChatRequest("deepseek-flash", MESSAGES), policy=_once()),
                     client.models()):
            with pytest.raises(APIConnectionError) as info:
                await call
            assert not isinstance(info.value, APITimeoutError)
            # H11Transport's text names the failure itself (named once, not "ConnectError: cannot connect")
            said = {"h11": "failed: cannot connect to 127.0.0.1:9: ConnectionRefusedError",
                    "httpx": "failed: ConnectError"}[which]
            assert said in str(info.value) and "sk-test" not in str(info.value)
    finally:
        await client.aclose()


async def test_a_server_silent_past_the_read_timeout_is_a_timeout(api, fake):
    fake.latency_ms = 1500
    with pytest.raises(APITimeoutError):
        await api.fim(FIM, timeout_s=0.3)
    fake.chat_handler = lambda body: ChatReply("Hi.")
    with pytest.raises(APITimeoutError):  # no answer head within read_s: before the answer, so retryable
        await stream_chat(api, ChatRequest("deepseek-flash", MESSAGES),
                          timeouts=Timeouts(read_s=0.3, idle_s=5), policy=_once())


def _once():
    return RetryPolicy(attempts=1)


@pytest.mark.parametrize("stream", ["fim", "chat"])
async def test_text_with_line_separator_characters_streams_whole(stream, api, fake):
    """U+2028, U+2029 and U+0085 arrive unescaped in the JSON of an event; they end no SSE line."""
    text = f"x = '{SPLITLINES_CHARS}' + '文字😀'"
    if stream == "fim":
        fake.fim_handler = lambda body: text
        pieces = []
        result = await api.fim_stream(FIM, pieces.append)
        assert result.text == "".join(pieces) == text
    else:
        fake.chat_handler = lambda body: ChatReply(text)
        result = await stream_chat(api, ChatRequest("deepseek-flash", MESSAGES))
        assert result.content == text


def _sse_client(chunks: list[bytes], status: int = 200) -> DeepSeekClient:
    """A client whose transport answers every request with ``chunks`` as the streamed body."""

    async def body():
        for chunk in chunks:
            yield chunk

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"content-type": "text/event-stream"}, content=body())

    return DeepSeekClient("https://api.deepseek.com", "sk-test", transport=httpx.MockTransport(answer))


FIM_EVENT = '{"model":"deepseek-flash","choices":[{"index":0,"text":"%s","finish_reason":null}]}'
CHAT_EVENT = '{"model":"deepseek-flash","choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}'


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("stream", ["fim", "chat"])
async def test_one_read_loop_reads_every_line_ending_split_anywhere(stream, eol):
    event = FIM_EVENT if stream == "fim" else CHAT_EVENT
    whole = "".join(f"data: {event % piece}{eol}{eol}" for piece in ("über ", "文字", "😀")) \
        + f": keep-alive{eol}{eol}data: [DONE]{eol}{eol}"
    raw = whole.encode()
    chunks = [raw[i:i + 3] for i in range(0, len(raw), 3)]  # splits characters and CR LF pairs
    client = _sse_client(chunks)
    if stream == "fim":
        pieces = []
        result = await client.fim_stream(FIM, pieces.append)
        assert result.text == "über 文字😀" and pieces == ["über ", "文字", "😀"]
    else:
        result = await stream_chat(client, ChatRequest("deepseek-flash", MESSAGES))
        assert result.content == "über 文字😀"


@pytest.mark.parametrize("stream", ["fim", "chat"])
async def test_done_without_its_blank_line_at_the_end_still_counts(stream):
    event = FIM_EVENT if stream == "fim" else CHAT_EVENT
    client = _sse_client([f"data: {event % 'ok'}\n\ndata: [DONE]".encode()])
    if stream == "fim":
        assert (await client.fim_stream(FIM, lambda piece: None)).text == "ok"
    else:
        assert (await stream_chat(client, ChatRequest("deepseek-flash", MESSAGES))).content == "ok"


@pytest.mark.parametrize("stream", ["fim", "chat"])
async def test_a_stream_without_done_is_a_stream_error(stream):
    event = FIM_EVENT if stream == "fim" else CHAT_EVENT
    client = _sse_client([f"data: {event % 'half'}\n\n".encode()])
    with pytest.raises(StreamError):
        if stream == "fim":
            await client.fim_stream(FIM, lambda piece: None)
        else:
            await stream_chat(client, ChatRequest("deepseek-flash", MESSAGES))


async def test_iter_lines_keeps_an_unfinished_last_line():
    response = httpx.Response(200, content=b"a\r\nb\rc\nlast\r")
    assert [line async for line in iter_lines(response)] == ["a", "b", "c", "last"]
    response = httpx.Response(200, content=b"\xff\n" + "é".encode()[:1])
    assert [line async for line in iter_lines(response)] == ["\ufffd", "\ufffd"]


async def test_injected_transport_has_no_pool_of_ours_and_warm_sends_nothing():
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json={"data": []})

    client = DeepSeekClient("https://api.deepseek.com", "sk-test", transport=httpx.MockTransport(answer))
    assert client.h11_transport is None and client.idle_connections() is None
    await client.warm()
    assert seen == []
    assert await client.models() == [] and seen == ["/models"]
    await client.aclose()


async def test_warm_opens_one_connection_and_no_request(api, fake):
    assert api.idle_connections() == 0
    await api.warm()
    assert api.idle_connections() == 1
    await api.warm()  # one is idle: nothing more
    assert api.idle_connections() == 1 and fake.requests == []
    assert (await api.fim(FIM)).text == "return a + b"
    assert len({r.conn_id for r in fake.requests}) == 1  # the warmed connection served it


async def test_warm_against_nothing_listening_is_quiet():
    client = DeepSeekClient("http://127.0.0.1:9", "sk-test")
    await client.warm()  # never raises
    assert client.idle_connections() == 0
    await client.aclose()


async def test_a_closed_client_still_sends_on_fresh_connections(api, fake):
    assert (await api.fim(FIM)).text == "return a + b"
    await api.aclose()
    assert not api.is_open
    assert (await api.fim(FIM)).text == "return a + b"
    await asyncio.sleep(0)
    assert len({r.conn_id for r in fake.requests}) == 2


@pytest.mark.parametrize("answer", [b"[]", b'"text"', b"3", b"null"])
async def test_a_balance_that_is_not_an_object_is_a_malformed_answer(answer):
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=answer)

    client = DeepSeekClient("https://api.deepseek.com", "sk-test", transport=httpx.MockTransport(reply))
    with pytest.raises(MalformedAnswerError):
        await client.balance()
    await client.aclose()


async def test_the_transport_refuses_other_schemes():
    transport = H11Transport()
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx.UnsupportedProtocol):
            await http.get("ftp://127.0.0.1/x")
