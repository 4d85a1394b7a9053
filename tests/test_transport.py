"""api/transport.py: H11Transport, the shipped transport of every request, against the fake (and over TLS)."""

import asyncio
import ssl

import pytest

from deepseek_ls.api import transport
from deepseek_ls.api.client import DeepSeekClient, FimRequest
from deepseek_ls.api.errors import APIConnectionError, AuthenticationError
from tests.conftest import until

FIM = FimRequest(model="deepseek-flash", prompt="def add(a, b):\n    ", suffix="\n", max_tokens=32)


@pytest.fixture
async def api(fake):
    client = DeepSeekClient(fake.base_url, "sk-test")
    yield client
    await client.aclose()


async def test_ghost_text_requests_share_one_kept_alive_connection(api, fake):
    assert api.h11_transport is not None
    events = []
    first = await api.fim(FIM, trace=lambda ev, info: events.append(ev))
    streamed = []
    second = await api.fim_stream(FIM, streamed.append)
    third = await api.fim(FIM)
    assert first.text == second.text == third.text == "return a + b" == "".join(streamed)
    assert first.usage.prompt_tokens > 0
    assert events == ["http_send", "http_written", "http_first_byte"]
    conns = [r.conn_id for r in fake.fim_requests()]
    assert len(conns) == 3 and len(set(conns)) == 1
    body = fake.fim_requests()[0]
    assert body.headers["authorization"] == "Bearer sk-test"
    assert body.body["prompt"] == FIM.prompt and body.body["suffix"] == "\n"


async def test_errors_keep_their_status_and_the_connection(api, fake):
    bad = DeepSeekClient(fake.base_url, "sk-wrong")
    for _ in range(2):
        with pytest.raises(AuthenticationError) as info:
            await bad.fim(FIM)
        assert info.value.status == 401 and "sk-wrong" not in str(info.value)
    # the error body was read, so the second request went on the same connection
    assert len({r.conn_id for r in fake.requests}) == 1
    await bad.aclose()


async def test_cancelling_aborts_the_connection_at_once(api, fake):
    fake.latency_ms = 2000
    task = asyncio.create_task(api.fim_stream(FIM, lambda piece: None))
    await until(lambda: fake.fim_requests())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: fake.fim_requests()[0].disconnected, timeout=2)
    # the spare opened while the request ran is there for the next keystroke, and
    # warm() (called by the engine after a cancellation) adds none while one is idle
    await until(lambda: api.idle_connections() == 1, timeout=2)
    await api.warm()
    assert api.idle_connections() == 1 and len(fake.requests) == 1


async def test_a_request_made_while_another_runs_finds_a_spare_connection(api, fake):
    fake.latency_ms = 300
    first = asyncio.create_task(api.fim(FIM))
    await until(lambda: api.idle_connections() == 1)  # opened while the first one runs
    assert (await api.fim(FIM)).text == "return a + b"
    assert (await first).text == "return a + b"
    assert len({r.conn_id for r in fake.fim_requests()}) == 2



async def test_a_connection_the_server_dropped_while_idle_is_replaced_once(api, fake, monkeypatch):
    await api.fim(FIM)
    await until(lambda: api.idle_connections() == 2)  # the one used and the spare
    for conns in api.h11_transport._idle.values():
        for conn in conns:
            conn.writer.transport.abort()  # as if the server had closed them
    await asyncio.sleep(0.01)
    monkeypatch.setattr(transport._Conn, "usable", lambda self, now: True)  # the race: it looks alive
    result = await api.fim(FIM)
    assert result.text == "return a + b"
    assert len({r.conn_id for r in fake.fim_requests()}) == 2


async def test_nothing_listening_is_a_connection_error():
    client = DeepSeekClient("http://127.0.0.1:9", "sk-test")
    with pytest.raises(APIConnectionError):
        await client.fim(FIM, timeout_s=2)
    await client.aclose()


def test_proxies_and_injected_transports_go_through_httpx(monkeypatch):
    import httpx

    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert DeepSeekClient("https://api.deepseek.com", "k").h11_transport is None
    assert DeepSeekClient("http://127.0.0.1:8080", "k").h11_transport is not None  # no proxy for http
    monkeypatch.setenv("NO_PROXY", "api.deepseek.com")
    assert DeepSeekClient("https://api.deepseek.com", "k").h11_transport is not None
    assert DeepSeekClient("https://x", "k", transport=httpx.MockTransport(lambda r: None)).h11_transport is None
    monkeypatch.setenv("DEEPSEEK_LS_HTTPX", "1")
    assert DeepSeekClient("https://api.deepseek.com", "k").h11_transport is None


async def test_tls_endpoint(fake, monkeypatch, tmp_path):
    """https as DeepSeek serves it: certificate checked against the trust store, SNI, keep-alive."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # honoured as httpx honours it
    host, port = fake.base_url.rsplit("/", 1)[-1].split(":")

    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def terminate(client_reader, client_writer):
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))

    server = await asyncio.start_server(terminate, "127.0.0.1", 0, ssl=server_ctx)
    tls_port = server.sockets[0].getsockname()[1]
    client = DeepSeekClient(f"https://localhost:{tls_port}", "sk-test")
    try:
        assert client.h11_transport is not None
        assert (await client.fim(FIM)).text == "return a + b"
        assert "".join([p async for p in _stream(client)]) == "return a + b"
        assert len({r.conn_id for r in fake.fim_requests()}) == 1
        wrong = DeepSeekClient(f"https://127.0.0.1:{tls_port}", "sk-test")  # name not in the cert
        with pytest.raises(APIConnectionError):
            await wrong.fim(FIM)
        await wrong.aclose()
    finally:
        await client.aclose()
        server.close()


async def _stream(client):
    pieces = []
    await client.fim_stream(FIM, pieces.append)
    for piece in pieces:
        yield piece


async def test_a_stream_the_caller_stops_closes_its_connection(api, fake):
    fake.fim_handler = lambda body: "".join(f"line_{i} = {i}\n" for i in range(40))
    fake.ms_per_output_token = 5
    seen = []

    def on_text(piece):
        seen.append(piece)
        return len(seen) >= 3

    result = await api.fim_stream(FIM, on_text)
    assert result.stopped and result.finish_reason == "stopped"
    assert result.usage.completion_tokens == 3 and result.text == "".join(seen)
    await until(lambda: fake.fim_requests()[0].disconnected, timeout=2)
    assert (await api.fim(FIM)).text  # a fresh connection serves the next one


async def test_after_a_stream_stopped_early_a_spare_connection_is_ready(fake):
    """Stopping a stream closes its connection; the next keystroke must not wait for a handshake."""
    from deepseek_ls.completion.engine import CompletionEngine, CompletionRequest
    from deepseek_ls.settings import build_settings
    from deepseek_ls.snapshot import DocumentSnapshot

    fake.fim_handler = lambda body: "x = 1\n    y = 2\nafter = 3\nmore = 4\n" + "z = 5\n" * 30
    fake.ms_per_output_token = 5
    settings, _ = build_settings({"apiKey": "sk-test", "baseUrl": fake.base_url})
    client = DeepSeekClient(fake.base_url, "sk-test")
    engine = CompletionEngine(settings, client)
    text = "def f(x):\n    "
    doc = DocumentSnapshot(uri="file:///w/a.py", path="a.py", language_id="python", text=text, version=1)
    try:
        s = await engine.complete(CompletionRequest(doc=doc, offset=len(text), manual=True))
        assert s.text == "x = 1\n    y = 2"
        await until(lambda: fake.fim_requests() and fake.fim_requests()[0].disconnected, timeout=2)
        await until(lambda: client.idle_connections() == 1, timeout=2)
        assert len(fake.requests) == 1  # the spare is a connection, not a request
    finally:
        await client.aclose()
