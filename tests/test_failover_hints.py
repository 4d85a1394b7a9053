"""Error messages of fallback endpoints name that endpoint and its key variable,
and a redirect from any endpoint says so (never "the stream ended without [DONE]")."""

from __future__ import annotations

import httpx
import pytest

from deepseek_ls.api.client import DeepSeekClient, FimRequest
from deepseek_ls.api.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    InsufficientBalanceError,
    MissingApiKeyError,
    NotFoundError,
    RateLimitError,
    RedirectError,
    ServerError,
    StreamError,
    error_from_response,
)
from deepseek_ls.features.commands import user_message
from deepseek_ls.service import ServiceEvents
from deepseek_ls.settings import coerce_fallbacks
from tests.test_failover import (  # noqa: F401
    BASE,
    FALLBACK_KEY,
    PRIMARY_KEY,
    Sink,
    chat_manager,
    fakes,
    fallback_entry,
    make_service,
    open_primary_breaker,
    req,
)


def test_credentials_in_a_fallback_url_name_its_key_variable():
    _, problems = coerce_fallbacks([{"name": "prov", "baseUrl": "https://bob:Hunter2pw@api.example.com/v1",
                                     "apiKeyEnv": "PROV_KEY", "chatModel": "m"}], environ={"PROV_KEY": "sk-abcdef0123456789"})
    [problem] = problems
    text = str(problem)
    assert "PROV_KEY" in text and "deepseek.apiKey" not in text and "Hunter2pw" not in text
    _, problems = coerce_fallbacks([{"name": "prov", "baseUrl": "https://bob:Hunter2pw@api.example.com/v1",
                                     "chatModel": "m"}], environ={})
    assert "apiKeyEnv" in str(problems[0]) and "deepseek.apiKey" not in str(problems[0])


def test_the_primary_keeps_its_own_advice():
    _, why = __import__("deepseek_ls.settings", fromlist=["x"]).normalize_base_url("https://u:p@api.deepseek.com")
    assert "deepseek.apiKey" in why


ERRORS = {
    "401": (lambda: AuthenticationError(401, "bad key"), "BACKUP_KEY"),
    "402": (lambda: InsufficientBalanceError(402, "no money"), "'backup'"),
    "404": (lambda: NotFoundError(404, "no such path"), "'backup'"),
    "400": (lambda: BadRequestError(400, "model?"), "'backup'"),
    "429": (lambda: RateLimitError(429, "slow down"), "'backup'"),
    "503": (lambda: ServerError(503, "overloaded"), "'backup'"),
    "connection": (lambda: APIConnectionError("refused"), "'backup'"),
    "stream": (lambda: StreamError("cut"), "'backup'"),
    "missing-key": (lambda: MissingApiKeyError(), "BACKUP_KEY"),
    "redirect": (lambda: RedirectError(307, "https://elsewhere.example/x"), "'backup'"),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_every_error_kind_names_the_fallback(name):
    make, needle = ERRORS[name]
    exc = make().at_endpoint("backup", "BACKUP_KEY")
    text = f"{exc} {exc.hint} {user_message(exc)}"
    assert needle in text and "'backup'" in text
    assert "DEEPSEEK_API_KEY" not in text and "deepseek.apiKey" not in text
    assert "DeepSeek is" not in text and "DeepSeek API error" not in text and "DeepSeek's" not in text
    plain = make()  # the primary's errors are unchanged
    assert plain.endpoint is None and "backup" not in f"{plain} {plain.hint}"


def test_a_redirect_names_the_location_host_and_is_not_followed():
    exc = error_from_response(307, httpx.Headers({"location": "https://evil.example:8443/v1/x"}), b"")
    assert isinstance(exc, RedirectError) and exc.location_host == "evil.example"
    assert "redirect" in str(exc) and "evil.example" in str(exc) and "not follow" in str(exc)


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_redirecting_endpoint_gives_a_redirect_error_not_a_stream_error(streamed):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(307, headers={"location": "https://other.example/beta/completions"})

    client = DeepSeekClient("https://api.deepseek.com", "sk-abcdef0123456789",
                            transport=httpx.MockTransport(handler))
    try:
        with pytest.raises(RedirectError) as info:
            request = FimRequest(model="deepseek-chat", prompt="def f():\n    ", suffix="\n", max_tokens=8)
            if streamed:
                await client.fim_stream(request, lambda text: None)
            else:
                await client.fim(request)
        assert "other.example" in str(info.value) and "[DONE]" not in str(info.value)
        assert all("other.example" not in url for url in seen)  # never followed
    finally:
        await client.aclose()


async def test_a_fallback_401_in_ghost_text_names_the_fallback_and_its_variable(tmp_path, fakes):
    primary, fallback = fakes
    service = make_service(tmp_path, primary.base_url, [fallback_entry(fallback)])
    problems = []
    service.connect(ServiceEvents(problem=lambda kind, message: problems.append((kind, message))))
    await open_primary_breaker(service, primary, path="/beta/completions", status=503, times=3)
    fallback.inject(path="*", status=401, times=5)
    assert await service.engine.complete(req(BASE + "d")) is None
    message = problems[-1][1]
    assert "'backup'" in message and "BACKUP_KEY" in message and "DEEPSEEK_API_KEY" not in message
    await service.aclose()


async def test_a_fallback_503_in_ghost_text_names_the_fallback(tmp_path, fakes):
    primary, fallback = fakes
    service = make_service(tmp_path, primary.base_url, [fallback_entry(fallback)])
    problems = []
    service.connect(ServiceEvents(problem=lambda kind, message: problems.append((kind, message))))
    await open_primary_breaker(service, primary, path="/beta/completions", status=503, times=3)
    fallback.inject(path="*", status=503, times=10)
    assert await service.engine.complete(req(BASE + "d")) is None
    message = problems[-1][1]
    assert "'backup'" in message and "DeepSeek is overloaded" not in message
    await service.aclose()


async def test_a_fallback_401_in_chat_names_the_fallback_and_its_variable(tmp_path, fakes):
    primary, fallback = fakes
    service = make_service(tmp_path, primary.base_url, [fallback_entry(fallback)])
    primary.inject(path="/chat/completions", status=503, times=5)
    fallback.inject(path="*", status=401, times=5)
    manager = chat_manager(service, [])
    with pytest.raises(AuthenticationError) as info:
        await manager.ask("Hi?", Sink(), stream="s1")
    text = user_message(info.value)
    assert "'backup'" in text and "BACKUP_KEY" in text and "DEEPSEEK_API_KEY" not in text
    await service.aclose()


async def test_doctor_names_the_fallback_in_its_errors(tmp_path, fakes):
    from deepseek_ls.cli.doctor import run_doctor

    primary, fallback = fakes
    fallback.inject(path="*", status=503, times=50)
    checks = await run_doctor(environ={"DEEPSEEK_API_KEY": PRIMARY_KEY, "BACKUP_KEY": FALLBACK_KEY,
                                       "DEEPSEEK_BASE_URL": primary.base_url,
                                       "DEEPSEEK_LS_DATA_DIR": str(tmp_path)},
                              fallbacks=[fallback_entry(fallback)])
    [check] = [c for c in checks if c.name == "fallback backup"]
    assert "'backup'" in check.detail and "DeepSeek API error" not in check.detail
