"""Failover (issue 14 part 2) without LSP: settings, the engine's endpoint choice, chat,
ledger rows per endpoint, doctor. Two real fakes on 127.0.0.1: the primary (DeepSeek)
and a fallback (a second FakeDeepSeek, in DeepSeek or generic OpenAI-compatible mode)."""

from __future__ import annotations

import datetime as dt
import socket
import sqlite3

import pytest

from deepseek_ls.api.chat import Timeouts
from deepseek_ls.api.retry import RetryPolicy
from deepseek_ls.chat.manager import ChatManager
from deepseek_ls.cli.doctor import format_doctor, run_doctor
from deepseek_ls.cli.stats import format_stats
from deepseek_ls.completion.clock import ManualClock
from deepseek_ls.completion.engine import CompletionRequest
from deepseek_ls.ledger import Ledger
from deepseek_ls.service import Service, ServiceEvents
from deepseek_ls.settings import build_settings, coerce_fallbacks
from deepseek_ls.snapshot import DocumentSnapshot
from tests.fake_deepseek import FakeDeepSeek

PRIMARY_KEY = "sk-test"
FALLBACK_KEY = "sk-fallback-0123456789"
BASE = "def f(x):\n    "


@pytest.fixture
def fakes():
    with FakeDeepSeek() as primary, FakeDeepSeek() as fallback:
        primary.fim_handler = lambda body: "return x + 1"
        fallback.fim_handler = lambda body: "return x + 2"
        primary.chat_handler = lambda body: "from deepseek"
        fallback.chat_handler = lambda body: "from the fallback"
        fallback.add_key(FALLBACK_KEY)
        yield primary, fallback


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fallback_entry(fake: FakeDeepSeek, **extra) -> dict:
    entry = {"name": "backup", "baseUrl": fake.base_url + "/v1", "kind": "deepseek",
             "apiKeyEnv": "BACKUP_KEY", "fimModel": "deepseek-flash", "chatModel": "deepseek-flash"}
    entry.update(extra)
    return entry


def make_service(tmp_path, primary_url: str, entries: list[dict], environ: dict | None = None) -> Service:
    env = {"DEEPSEEK_API_KEY": PRIMARY_KEY, "BACKUP_KEY": FALLBACK_KEY,
           "DEEPSEEK_LS_DATA_DIR": str(tmp_path), **(environ or {})}
    service = Service(environ=env)
    problems = service.update_settings("init", {"baseUrl": primary_url, "fallbacks": entries,
                                                "completion": {"debounceMs": 0, "adaptiveDebounce": False}})
    assert not problems, problems
    engine = service.engine
    engine.clock = ManualClock()  # the breakers (the primary's and the fallbacks') follow it
    engine.breaker.cooldown_s = 5.0
    return service


def req(text: str, manual: bool = True, uri: str = "file:///w/a.py") -> CompletionRequest:
    doc = DocumentSnapshot(uri=uri, path="a.py", language_id="python", text=text, version=1)
    return CompletionRequest(doc=doc, offset=len(text), manual=manual)


def auth_keys(fake: FakeDeepSeek) -> set[str]:
    return {r.headers.get("authorization", "") for r in fake.requests}


async def open_primary_breaker(service: Service, primary: FakeDeepSeek, **inject) -> None:
    """Three failing ghost-text requests: the primary's breaker opens."""
    if inject:
        primary.inject(**inject)
    for tail in "abc":
        assert await service.engine.complete(req(BASE + tail)) is None
    assert service.engine.breaker.state == "open"


# -- settings ----------------------------------------------------------------

def test_fallback_urls_follow_the_base_url_rules():
    env = {"K": "sk-abcdef0123456789"}
    good, problems = coerce_fallbacks([
        {"name": "ollama", "baseUrl": "localhost:11434/v1", "fimModel": "qwen2.5-coder:1.5b"},
        {"name": "prov", "baseUrl": "https://api.example.com/v1/chat/completions/", "apiKeyEnv": "K",
         "chatModel": "deepseek-ai/DeepSeek-V3", "prices": {"hit": 0.1, "miss": 0.5, "out": 1}},
        {"name": "a", "baseUrl": "http://example.com/v1", "fimModel": "m"},            # plain http, not loopback
        {"name": "b", "baseUrl": "https://user:pw@example.com", "fimModel": "m"},      # credentials
        {"name": "c", "baseUrl": "https://example.com/v1?x=1", "fimModel": "m"},       # query
        {"name": "d", "baseUrl": "ftp://example.com", "fimModel": "m"},                # scheme
    ], environ=env)
    assert [(e.name, e.base_url, e.uses) for e in good] == [
        ("ollama", "http://localhost:11434", ("fim",)), ("prov", "https://api.example.com", ("chat",))]
    assert good[1].api_key == "sk-abcdef0123456789" and good[1].prices.out == 1.0
    assert [p.split(":")[0] for p in problems] == [f"deepseek.fallbacks[{i}]" for i in (2, 3, 4, 5)]
    assert all(not p.blocking for p in problems)
    assert "plain http://" in problems[0] and "credentials" in problems[1] and "query" in problems[2]


@pytest.mark.parametrize("entry, why", [
    ({"baseUrl": "https://x.example", "apiKeyEnv": "MISSING", "fimModel": "m"}, "MISSING"),
    ({"name": "deepseek", "baseUrl": "https://x.example", "fimModel": "m"}, "taken"),
    ({"name": "n", "baseUrl": "https://x.example"}, "serves nothing"),
    ({"name": "n", "baseUrl": "https://x.example", "uses": ["fim"], "chatModel": "c"}, "no fimModel"),
    ({"name": "n", "baseUrl": "https://x.example", "uses": ["ghost"], "fimModel": "m"}, "uses must be"),
    ({"name": "n", "baseUrl": "https://x.example", "fimModel": "m", "prices": {"hit": -1, "miss": 0, "out": 0}},
     "prices"),
    ({"name": "n", "baseUrl": "https://x.example", "fimModel": "m", "kind": "grpc"}, "kind"),
    ({"name": "n", "baseUrl": "https://x.example", "fimModel": "m", "apikey": "typo"}, "unknown field"),
    ({"name": "n", "fimModel": "m"}, "baseUrl is missing"),
    ("https://x.example", "expected an object"),
])
def test_a_bad_fallback_is_left_out_with_one_clear_problem(entry, why):
    good, problems = coerce_fallbacks([entry], environ={})
    assert good == () and len(problems) == 1 and why in problems[0]


def test_a_fallback_key_is_never_shown():
    secret = "sk-editor-secret-store-key"
    bad_key = "sk-bad key with a note"
    settings, problems = build_settings({"fallbacks": [
        {"name": "one", "baseUrl": "https://x.example", "apiKey": secret, "chatModel": "c"},
        {"name": "two", "baseUrl": "https://y.example", "apiKey": bad_key, "chatModel": "c"}]})
    assert [e.name for e in settings.fallbacks] == ["one"] and settings.fallbacks[0].api_key == secret
    assert len(problems) == 1 and "space" in problems[0]
    shown = repr(settings) + str(settings.redacted()) + " ".join(problems)
    assert secret not in shown and "bad key" not in shown
    assert settings.redacted()["fallbacks"][0]["apiKey"] == "set"


def test_a_later_layer_replaces_the_fallback_list_and_its_problems():
    settings, problems = build_settings(
        {"fallbacks": [{"name": "x", "baseUrl": "http://example.com", "fimModel": "m"}]},
        {"fallbacks": [{"name": "y", "baseUrl": "http://127.0.0.1:9", "fimModel": "m"}]})
    assert [e.name for e in settings.fallbacks] == ["y"] and problems == []


# -- ghost text ----------------------------------------------------------------

async def test_ghost_text_fails_over_on_a_503_burst_and_the_probe_takes_the_primary_back(tmp_path, fakes):
    primary, fallback = fakes
    service = make_service(tmp_path, primary.base_url, [fallback_entry(fallback)])
    engine = service.engine
    problems = []
    service.connect(ServiceEvents(problem=lambda kind, message: problems.append((kind, message))))
    await open_primary_breaker(service, primary, path="/beta/completions", status=503, times=3)
    assert [k for k, _ in problems] == ["failover"] and "'backup'" in problems[0][1]

    # automatic and invoked requests now go to the fallback
    for text, manual in ((BASE + "d", False), (BASE + "e", True)):
        suggestion = await engine.complete(req(text, manual=manual))
        assert suggestion is not None and suggestion.text == "return x + 2"
    assert len(fallback.fim_requests()) == 2 and len(primary.fim_requests()) == 3
    assert engine.answering_endpoint().to_json() == {"name": "backup", "primary": False}
    assert engine.state()[0] == "idle"

    # the cooldown ends: the next request probes the primary, which answers and is taken back
    engine.clock.advance(5.1)
    assert engine.breaker.state == "half-open"
    assert (await engine.complete(req(BASE + "f", manual=False))).text == "return x + 1"
    assert engine.breaker.state == "closed"
    assert engine.answering_endpoint().to_json() == {"name": "deepseek", "primary": True}
    assert (await engine.complete(req(BASE + "g"))).text == "return x + 1"
    assert len(fallback.fim_requests()) == 2 and len(primary.fim_requests()) == 5

    # each key went only to its own endpoint
    assert auth_keys(primary) == {f"Bearer {PRIMARY_KEY}"}
    assert auth_keys(fallback) == {f"Bearer {FALLBACK_KEY}"}
    await service.aclose()


async def test_a_failed_probe_keeps_the_fallback_answering(tmp_path, fakes):
    primary, fallback = fakes
    service = make_service(tmp_path, primary.base_url, [fallback_entry(fallback)])
    engine = service.engine
    await open_primary_breaker(service, primary, path="/beta/completions", status=503, times=4)
    engine.clock.advance(5.1)
    assert await engine.complete(req(BASE + "d", manual=False)) is None  # the probe: 503 again
    assert engine.breaker.state == "open" and len(primary.fim_requests()) == 4
    assert (await engine.complete(req(BASE + "e", manual=False))).text == "return x + 2"
    assert engine.answering_endpoint().name == "backup"
    await service.aclose()


async def test_ghost_text_fails_over_when_the_primary_refuses_connections(tmp_path, fakes):
    _, fallback = fakes
    service = make_service(tmp_path, f"http://127.0.0.1:{free_port()}", [fallback_entry(fallback)])
    await open_primary_breaker(service, None)
    assert (await service.engine.complete(req(BASE + "d", manual=False))).text == "return x + 2"
    assert auth_keys(fallback) == {f"Bearer {FALLBACK_KEY}"}
    await service.aclose()


async def test_a_generic_openai_endpoint_gets_prompt_and_suffix_at_v1_completions(tmp_path, fakes):
    primary, fallback = fakes
    fallback.openai_compatible = True
    service = make_service(tmp_path, primary.base_url, [fallback_entry(fallback, kind="openai")])
    await open_primary_breaker(service, primary, path="/beta/completions", status=503, times=3)
    text = BASE + "d"
    suggestion = await service.engine.complete(
        CompletionRequest(doc=DocumentSnapshot(uri="file:///w/a.py", path="a.py", language_id="python",
                                               text=text + "\n\nprint(f(1))\n", version=1),
                          offset=len(text), manual=True))
    assert suggestion.text == "return x + 2"
    sent = fallback.fim_requests()[-1]
    assert sent.path == "/v1/completions" and sent.status == 200
    assert sent.body["prompt"].endswith(text) and "print(f(1))" in sent.body["suffix"]
    assert sent.body["model"] == "deepseek-flash"
    await service.aclose()


async def test_a_failing_fallback_opens_its_own_breaker_only(tmp_path, fakes):
    primary, fallback = fakes
    service = make_service(tmp_path, primary.base_url, [
        fallback_entry(fallback, name="first"), fallback_entry(fallback, name="second", apiKeyEnv="OTHER_KEY")],
        environ={"OTHER_KEY": "sk-other-0123456789"})
    fallback.add_key("sk-other-0123456789")
    await open_primary_breaker(service, primary, path="/beta/completions", status=503, times=3)
    fallback.inject(path="/beta/completions", status=401, times=1)  # the first fallback's key refused
    assert await service.engine.complete(req(BASE + "d")) is None
    first, second = service.fallbacks
    assert first.breaker.state == "open" and second.breaker.state == "closed"
    assert service.engine.paused is None  # a fallback's refused key pauses nothing
    assert (await service.engine.complete(req(BASE + "e", manual=False))).text == "return x + 2"
    assert service.engine.answering_endpoint().name == "second"
    assert fallback.requests[-1].headers["authorization"] == "Bearer sk-other-0123456789"
    await service.aclose()


async def test_prompt_cache_warm_up_is_kept_per_endpoint(tmp_path, fakes):
    """A head warm at DeepSeek is cold at another provider: its first prompt is the full one."""
    primary, fallback = fakes
    service = make_service(tmp_path, primary.base_url, [fallback_entry(fallback)])
    engine = service.engine
    head = "".join(f"def helper_{i}(a, b):\n    return a * {i} + b\n\n" for i in range(400))
    text = head + "def f(x):\n    "
    assert (await engine.complete(req(text))).text == "return x + 1"
    full = primary.fim_requests()[-1].body["prompt"]
    assert (await engine.complete(req(text + "y = 1\n    "))) is not None
    short = primary.fim_requests()[-1].body["prompt"]
    assert len(short) < len(full)  # DeepSeek is still persisting the head: the short prompt
    await open_primary_breaker(service, primary, path="/beta/completions", status=503, times=3)
    assert (await engine.complete(req(text + "z = 2\n    "))).text == "return x + 2"
    assert len(fallback.fim_requests()[-1].body["prompt"]) > len(short)  # the fallback's own warm-up
    assert engine.prompts.window("backup", "file:///w/a.py") is not None
    await service.aclose()


# -- chat ----------------------------------------------------------------------

class Sink:
    def __init__(self) -> None:
        self.text = ""

    def begin(self, session):
        pass

    def delta(self, kind, text):
        self.text += text

    def retrying(self, attempt, error, wait_s):
        pass

    async def done(self, answer):
        pass

    async def failed(self, error):
        pass

    async def cancelled(self):
        pass


def chat_manager(service: Service, usage: list) -> ChatManager:
    return ChatManager(service.require_client, lambda: service.settings,
                       on_usage=lambda model, u, endpoint=None: usage.append((model, endpoint)),
                       endpoints=service.endpoints, timeouts=Timeouts(connect_s=2, read_s=5, idle_s=5),
                       policy=RetryPolicy(attempts=1))


@pytest.mark.parametrize("kind", ["deepseek", "openai"])
async def test_chat_fails_over_to_the_next_endpoint_before_any_answer_text(tmp_path, fakes, kind):
    primary, fallback = fakes
    fallback.openai_compatible = kind == "openai"
    service = make_service(tmp_path, primary.base_url, [fallback_entry(fallback, kind=kind,
                                                                       chatModel="deepseek-v4-pro")])
    primary.inject(path="/chat/completions", status=503, times=5)
    usage: list = []
    manager = chat_manager(service, usage)
    sink = Sink()
    answer = await manager.ask("Hi?", sink, stream="s1")
    assert answer.content == "from the fallback" and answer.endpoint == "backup"
    assert answer.to_json()["endpoint"] == "backup" and sink.text.endswith("from the fallback")
    sent = fallback.chat_requests()[-1]
    assert sent.path == ("/v1/chat/completions" if kind == "openai" else "/chat/completions")
    assert sent.body["model"] == "deepseek-v4-pro"
    assert ("thinking" in sent.body) == (kind == "deepseek")  # DeepSeek's switch is not OpenAI's
    assert usage[-1][1].name == "backup"
    assert auth_keys(primary) == {f"Bearer {PRIMARY_KEY}"} and auth_keys(fallback) == {f"Bearer {FALLBACK_KEY}"}
    # a healthy primary answers again (its breaker counted one failure, not open)
    answer = await manager.ask("Again?", Sink(), stream="s2")
    assert answer.endpoint == "backup" or answer.content == "from deepseek"
    await service.aclose()


async def test_a_refused_primary_key_does_not_send_the_chat_elsewhere(tmp_path, fakes):
    primary, fallback = fakes
    service = make_service(tmp_path, primary.base_url, [fallback_entry(fallback)])
    primary.inject(path="/chat/completions", status=401, times=1)
    with pytest.raises(Exception) as info:
        await chat_manager(service, []).ask("Hi?", Sink(), stream="s1")
    assert "Authentication" in str(info.value) or "rejected" in str(info.value)
    assert fallback.chat_requests() == []
    await service.aclose()


# -- ledger and stats ------------------------------------------------------------

async def test_usage_is_recorded_per_endpoint_with_its_own_prices(tmp_path, fakes):
    primary, fallback = fakes
    service = make_service(tmp_path, primary.base_url, [
        fallback_entry(fallback, prices={"hit": 1.0, "miss": 2.0, "out": 4.0})])
    assert await service.engine.complete(req(BASE + "q")) is not None
    await open_primary_breaker(service, primary, path="/beta/completions", status=503, times=3)
    assert await service.engine.complete(req(BASE + "d")) is not None
    await service.aclose()
    rows = Ledger(tmp_path / "ledger.sqlite3").rows()
    assert [(r.endpoint, r.kind) for r in rows] == [("deepseek", "fim"), ("backup", "fim")]
    backup = rows[1]
    assert backup.prices == "settings"
    assert backup.cost == pytest.approx((backup.hit * 1 + backup.miss * 2 + backup.out * 4) / 1e6)
    assert rows[0].prices not in ("settings", "unknown") and rows[0].cost > 0


async def test_a_fallback_without_prices_has_unknown_cost_in_stats(tmp_path, fakes):
    primary, fallback = fakes
    service = make_service(tmp_path, primary.base_url, [fallback_entry(fallback)])
    await open_primary_breaker(service, primary, path="/beta/completions", status=503, times=3)
    assert await service.engine.complete(req(BASE + "d")) is not None
    assert service.usage.cost_usd == 0.0  # not priced at DeepSeek's table
    await service.aclose()
    report = Ledger(tmp_path / "ledger.sqlite3").report(days=1)
    assert report["perEndpoint"] == [{**report["perEndpoint"][0], "endpoint": "backup", "costKnown": False}]
    text = format_stats(report)
    assert "per endpoint" in text and "backup (cost unknown)" in text


def test_an_old_ledger_gets_the_endpoint_column_and_keeps_its_rows(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE requests (id INTEGER PRIMARY KEY, ts REAL NOT NULL, model TEXT NOT NULL,
            kind TEXT NOT NULL, hit INTEGER NOT NULL, miss INTEGER NOT NULL, out INTEGER NOT NULL,
            cost REAL NOT NULL, peak INTEGER NOT NULL, prices TEXT NOT NULL);
        CREATE INDEX requests_ts ON requests (ts);""")
    now = dt.datetime.now(dt.UTC).timestamp()
    old.execute("INSERT INTO requests (ts, model, kind, hit, miss, out, cost, peak, prices) "
                "VALUES (?, 'deepseek-flash', 'fim', 1, 2, 3, 0.5, 0, '2026-11-15')", (now,))
    old.commit()
    old.close()
    ledger = Ledger(path, flush_delay_s=0)
    ledger.record("m", 1, 1, 1, "chat", endpoint="local")
    assert ledger.flush()
    ledger.close()
    assert [(r.endpoint, r.cost) for r in Ledger(path).rows()] == [("deepseek", 0.5), ("local", 0.0)]
    # an old server (no endpoint column in its INSERT) still writes; its rows count as DeepSeek's
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO requests (ts, model, kind, hit, miss, out, cost, peak, prices) "
                 "VALUES (?, 'deepseek-flash', 'fim', 1, 2, 3, 0.5, 0, '2026-11-15')", (now + 60,))
    conn.commit()
    conn.close()
    assert [r.endpoint for r in Ledger(path).rows()][-1] == "deepseek"
    Ledger(path, flush_delay_s=0).close()  # opening twice: the migration is not repeated


# -- doctor ----------------------------------------------------------------------

async def test_doctor_checks_every_endpoint(tmp_path, fakes):
    primary, fallback = fakes
    environ = {"DEEPSEEK_API_KEY": PRIMARY_KEY, "DEEPSEEK_BASE_URL": primary.base_url,
               "BACKUP_KEY": FALLBACK_KEY, "DEEPSEEK_LS_DATA_DIR": str(tmp_path)}
    checks = await run_doctor(environ, fallbacks=[
        fallback_entry(fallback),
        fallback_entry(fallback, name="wrongmodel", fimModel="no-such-model"),
        fallback_entry(fallback, name="down", baseUrl=f"http://127.0.0.1:{free_port()}"),
        {"name": "bad", "baseUrl": "http://example.com", "fimModel": "m"},
    ])
    by_name = {c.name: c for c in checks}
    assert by_name["fallback backup"].status == "ok"
    assert "FIM round trip" in by_name["fallback backup"].detail
    assert by_name["fallback wrongmodel"].status == "fail" and "no-such-model" in by_name["fallback wrongmodel"].detail
    assert by_name["fallback down"].status == "fail" and "cannot reach" in by_name["fallback down"].detail
    assert by_name["fallbacks"].status == "fail" and "plain http://" in by_name["fallbacks"].detail
    assert by_name["round trip"].status == "ok"  # the primary is checked as before
    text = format_doctor(checks)
    assert FALLBACK_KEY not in text and PRIMARY_KEY not in text
    assert "key from BACKUP_KEY" in text
    assert {r.headers["authorization"] for r in fallback.requests} == {f"Bearer {FALLBACK_KEY}"}
    assert {r.headers["authorization"] for r in primary.requests} == {f"Bearer {PRIMARY_KEY}"}


async def test_doctor_reads_the_fallbacks_from_the_environment(tmp_path, fakes):
    import json

    primary, fallback = fakes
    fallback.openai_compatible = True
    environ = {"DEEPSEEK_API_KEY": PRIMARY_KEY, "DEEPSEEK_BASE_URL": primary.base_url,
               "BACKUP_KEY": FALLBACK_KEY, "DEEPSEEK_LS_DATA_DIR": str(tmp_path),
               "DEEPSEEK_LS_FALLBACKS": json.dumps([fallback_entry(fallback, kind="openai")])}
    checks = await run_doctor(environ)
    check = next(c for c in checks if c.name == "fallback backup")
    assert check.status == "ok" and "(openai" in check.detail
    assert fallback.fim_requests()[-1].path == "/v1/completions"


# -- code actions (prefix completion: DeepSeek's beta only) ------------------------

@pytest.mark.parametrize("kind", ["deepseek", "openai"])
async def test_code_actions_fail_over_only_to_an_endpoint_with_prefix_completion(tmp_path, fakes, kind):
    from deepseek_ls.api.errors import ServerError
    from deepseek_ls.prompt.prefix import plan_complete

    primary, fallback = fakes
    fallback.openai_compatible = kind == "openai"
    service = make_service(tmp_path, primary.base_url, [fallback_entry(fallback, kind=kind)])
    primary.inject(path="/beta/chat/completions", status=503, times=5)
    text = "def add(a, b):\n    "
    plan = plan_complete(DocumentSnapshot(uri="file:///w/a.py", path="a.py", language_id="python",
                                          text=text, version=1), len(text))
    manager = chat_manager(service, [])
    if kind == "deepseek":
        result = await manager.prefix_complete(plan)
        assert result.content and fallback.chat_requests()[-1].path == "/beta/chat/completions"
    else:  # a generic server has no prefix completion: the failure is DeepSeek's, nothing sent there
        with pytest.raises(ServerError):
            await manager.prefix_complete(plan)
        assert fallback.requests == []
    await service.aclose()


async def test_a_code_action_answered_by_a_fallback_is_still_recorded_as_action(tmp_path, fakes):
    """Issue 11: the code-action owner counts its usage as ``action`` at every endpoint, the chat
    owner as ``chat``; the ledger row names the fallback that answered."""
    from deepseek_ls.prompt.prefix import plan_complete
    from deepseek_ls.server import build

    primary, fallback = fakes
    service = make_service(tmp_path, primary.base_url, [fallback_entry(fallback)])
    service.ledger.flush_delay_s = 0
    features = build(service)
    primary.inject(path="/beta/chat/completions", status=503, times=5)
    text = "def add(a, b):\n    "
    plan = plan_complete(DocumentSnapshot(uri="file:///w/a.py", path="a.py", language_id="python",
                                          text=text, version=1), len(text))
    assert (await features.code_actions.runner.prefix_complete(plan)).content

    class Quiet:  # a ChatSink that shows nothing
        def begin(self, session): pass
        def delta(self, kind, text): pass
        def retrying(self, attempt, error, wait_s): pass
        async def done(self, answer): pass
        async def failed(self, error): pass
        async def cancelled(self): pass

    await features.chat.manager.ask("hi", Quiet(), stream="s1")
    assert service.ledger.flush()
    assert [(r.kind, r.endpoint) for r in service.ledger.rows()] == [("action", "backup"), ("chat", "deepseek")]
    assert service.usage.requests == 2
    await service.aclose()


# -- a local server without a key --------------------------------------------------

async def test_a_keyless_local_fallback_gets_no_authorization_header_at_all(tmp_path):
    import httpx

    seen: list[httpx.Request] = []

    async def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.port == 1:  # the primary: down
            return httpx.Response(503, json={"error": {"message": "down", "type": "x", "param": None, "code": "x"}})
        return httpx.Response(200, json={"id": "1", "object": "text_completion", "model": "qwen",
                                         "choices": [{"index": 0, "text": "return x + 3", "finish_reason": "stop"}],
                                         "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}})

    env = {"DEEPSEEK_API_KEY": PRIMARY_KEY, "DEEPSEEK_LS_DATA_DIR": str(tmp_path)}
    service = Service(environ=env, transport=httpx.MockTransport(upstream))
    assert not service.update_settings("init", {"baseUrl": "http://127.0.0.1:1", "fallbacks": [
        {"name": "ollama", "baseUrl": "http://localhost:11434/v1", "fimModel": "qwen2.5-coder:1.5b"}]})
    service.engine.breaker.cooldown_s = 60
    for tail in "abc":
        assert await service.engine.complete(req(BASE + tail)) is None
    assert (await service.engine.complete(req(BASE + "d"))).text == "return x + 3"
    local = [r for r in seen if r.url.port == 11434]
    assert len(local) == 1 and local[0].url.path == "/v1/completions"
    assert "authorization" not in local[0].headers
    assert all(r.headers["authorization"] == f"Bearer {PRIMARY_KEY}" for r in seen if r.url.port == 1)
    await service.aclose()


# -- the doctor command ------------------------------------------------------------

def test_doctor_command_takes_the_fallbacks_from_a_settings_file(tmp_path, fakes, capsys, monkeypatch):
    import json

    from deepseek_ls.__main__ import main

    primary, fallback = fakes
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(json.dumps({"deepseek.fallbacks": [fallback_entry(fallback)]}))
    env = {"DEEPSEEK_API_KEY": PRIMARY_KEY, "DEEPSEEK_BASE_URL": primary.base_url, "BACKUP_KEY": FALLBACK_KEY,
           "DEEPSEEK_LS_DATA_DIR": str(tmp_path)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["doctor", "--json", "--fallbacks", f"@{settings_file}"])
    out = capsys.readouterr().out
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["fallback backup"]["status"] == "ok", checks
    assert FALLBACK_KEY not in out and PRIMARY_KEY not in out
    assert code in (0, 1)  # (the balance / ledger checks are not this test's business)
    assert main(["doctor", "--fallbacks", "[not json"]) == 2


async def test_a_flapping_primary_warns_about_the_failover_once(tmp_path, fakes):
    primary, fallback = fakes
    service = make_service(tmp_path, primary.base_url, [fallback_entry(fallback)])
    engine = service.engine
    problems = []
    service.connect(ServiceEvents(problem=lambda kind, message: problems.append(kind)))
    for round_ in range(3):  # fail, fall over, recover; again
        await open_primary_breaker(service, primary, path="/beta/completions", status=503, times=3)
        engine.clock.advance(engine.breaker.current_cooldown_s + 0.1)
        assert (await engine.complete(req(BASE + f"r{round_}", manual=False))).text == "return x + 1"
    assert problems == ["failover"]
    await service.aclose()


async def test_changing_the_fallbacks_retires_the_old_clients(tmp_path, fakes):
    primary, fallback = fakes
    service = make_service(tmp_path, primary.base_url, [fallback_entry(fallback)])
    old = service.fallbacks[0]
    service.update_settings("init", {"baseUrl": primary.base_url,
                                     "fallbacks": [fallback_entry(fallback, name="renamed")]})
    assert [e.name for e in service.fallbacks] == ["renamed"] and old.client._retired
    assert [e.name for e in service.engine.fallbacks] == ["renamed"]
    service.update_settings("init", {"baseUrl": primary.base_url})
    assert service.fallbacks == [] and service.engine.fallbacks == []
    await service.aclose()
