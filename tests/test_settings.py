"""settings.py: layering, validation, endpoint rules, README table."""

from pathlib import Path

from deepseek_ls.settings import (
    build_settings,
    env_layer,
    section_of,
    setting_fields,
    settings_table_markdown,
)


def test_layers_later_wins_and_env_is_the_base():
    env = env_layer({"DEEPSEEK_API_KEY": "sk-env", "DEEPSEEK_BASE_URL": "http://127.0.0.1:9"})
    settings, problems = build_settings(env, {"apiKey": "sk-init"}, {"completion": {"debounceMs": 50}},
                                        {"completion.debounceMs": 70})
    assert problems == []
    assert settings.api_key == "sk-init"
    assert settings.base_url == "http://127.0.0.1:9"
    assert settings.completion_debounce_ms == 70


def test_invalid_values_give_a_problem_and_keep_the_default():
    settings, problems = build_settings({"completion": {"debounceMs": "soon", "maxTokens": 99999,
                                                        "enabled": "yes"}})
    assert settings.completion_debounce_ms == 120
    assert settings.completion_max_tokens == 256
    assert settings.completion_enabled is True
    assert len(problems) == 3
    assert all("deepseek.completion." in p for p in problems)


def test_plain_http_only_for_loopback():
    for url in ("http://localhost:8080", "http://127.0.0.1", "http://[::1]:9", "https://api.deepseek.com"):
        settings, problems = build_settings({"baseUrl": url})
        assert problems == [] and settings.base_url == url
    settings, problems = build_settings({"baseUrl": "http://api.deepseek.com"})
    assert settings.base_url == "https://api.deepseek.com"
    assert "plain http://" in problems[0]


def test_secret_values_never_appear_in_problems():
    _, problems = build_settings({"apiKey": 12345678})
    assert problems and "12345678" not in problems[0]


def test_section_of_accepts_wrapped_and_bare_sections():
    assert section_of({"deepseek": {"apiKey": "k"}}) == {"apiKey": "k"}
    assert section_of({"apiKey": "k"}) == {"apiKey": "k"}
    assert section_of(None) == {} and section_of([1]) == {}


def test_readme_settings_table_is_generated_from_the_fields():
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    table = settings_table_markdown()
    assert table in readme, "regenerate: python -c 'from deepseek_ls.settings import *; print(settings_table_markdown())'"
    for f in setting_fields():
        assert f.metadata["doc"], f.name


# -- issue 10: forms users paste, keys with a note, problems once ---------------------------
import pytest  # noqa: E402

from deepseek_ls.api.errors import MissingApiKeyError  # noqa: E402
from deepseek_ls.service import Service, ServiceEvents  # noqa: E402
from deepseek_ls.settings import SettingsError, check_api_key, normalize_base_url  # noqa: E402


@pytest.mark.parametrize("pasted, root", [
    ("https://api.deepseek.com/", "https://api.deepseek.com"),
    ("https://api.deepseek.com/v1", "https://api.deepseek.com"),
    ("https://api.deepseek.com/v1/", "https://api.deepseek.com"),
    ("https://api.deepseek.com/beta", "https://api.deepseek.com"),
    ("https://api.deepseek.com/chat/completions", "https://api.deepseek.com"),
    ("https://api.deepseek.com/v1/chat/completions", "https://api.deepseek.com"),
    ("https://api.deepseek.com/beta/completions", "https://api.deepseek.com"),
    ("https://api.deepseek.com/beta/chat/completions", "https://api.deepseek.com"),
    ("https://api.deepseek.com/models", "https://api.deepseek.com"),
    ("https://api.deepseek.com/user/balance", "https://api.deepseek.com"),
    ("HTTPS://api.deepseek.com#docs", "https://api.deepseek.com"),
    ("api.deepseek.com", "https://api.deepseek.com"),
    ("api.deepseek.com/v1/chat/completions", "https://api.deepseek.com"),
    ("localhost:8080/v1", "http://localhost:8080"),
    ("127.0.0.1:9", "http://127.0.0.1:9"),
    ("http://[::1]:9/beta/", "http://[::1]:9"),
    ("https://proxy.example.com/deepseek/v1", "https://proxy.example.com/deepseek"),
])
def test_base_url_forms_users_paste_are_normalised(pasted, root):
    assert normalize_base_url(pasted) == (root, None)
    settings, problems = build_settings({"baseUrl": pasted})
    assert problems == [] and settings.base_url == root


@pytest.mark.parametrize("url, why", [
    ("http://example.com", "plain http://"),
    ("http://api.deepseek.com/v1", "plain http://"),
    ("ftp://api.deepseek.com", "not an http(s) URL"),
    ("https://user:secret@api.deepseek.com", "credentials"),
    ("https://api.deepseek.com/?key=1", "query string"),
    ("https://api.deepseek.com:99999", "not a valid URL"),
])
def test_unusable_endpoints_block_and_name_the_setting(url, why):
    settings, [problem] = build_settings({"baseUrl": url})
    assert why in problem and problem.startswith("deepseek.baseUrl") and problem.blocking
    assert "secret" not in problem  # credentials are never echoed
    # from the environment, the variable is named instead
    _, [problem] = build_settings(env_layer({"DEEPSEEK_BASE_URL": url}), sources=("env",))
    assert problem.startswith("DEEPSEEK_BASE_URL") and problem.blocking


KEY = "sk-0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("pasted, what", [
    (KEY + " (work laptop)", "a space"),
    (KEY + "\u2014work", "non-ASCII character (U+2014)"),
    (KEY + "\u00a0note", "line break or other white space (U+00A0)"),
    (KEY + "\tnote", "a tab"),
    (KEY + "\nsk-second", "line break"),
    (KEY + "\x07", "control character (U+0007)"),
    (KEY + "\x7f", "control character (U+007F)"),
    ("sk-密钥0123", "non-ASCII character (U+5BC6)"),
])
def test_api_keys_with_characters_no_key_has_are_refused_without_echo(pasted, what):
    settings, [problem] = build_settings({"apiKey": pasted})
    assert what in problem and problem.startswith("deepseek.apiKey") and problem.blocking
    assert KEY not in problem and "work" not in problem and "sk-" not in problem.replace("https://", "")
    assert settings.api_key == ""
    _, [problem] = build_settings(env_layer({"DEEPSEEK_API_KEY": pasted}), sources=("env",))
    assert problem.startswith("DEEPSEEK_API_KEY") and KEY not in problem
    assert check_api_key(KEY) is None and check_api_key(f"  {KEY}\n".strip()) is None


def test_one_problem_per_setting_from_the_layer_that_applies():
    # the same bad value in three layers is one problem, not three
    layers = [{"chat": {"maxTokens": "lots"}}] * 3
    _, problems = build_settings(*layers)
    assert len(problems) == 1 and "deepseek.chat.maxTokens" in problems[0]
    # a valid value above an invalid one: no problem
    _, problems = build_settings({"chat": {"maxTokens": "lots"}}, {"chat.maxTokens": 100})
    assert problems == []
    # an invalid value above a valid one keeps the valid one, and says so
    settings, [problem] = build_settings({"chat.maxTokens": 100}, {"chat": {"maxTokens": "lots"}})
    assert settings.chat_max_tokens == 100 and "using the value set before" in problem


def test_empty_key_and_url_mean_not_set():
    env = env_layer({"DEEPSEEK_API_KEY": "sk-env", "DEEPSEEK_BASE_URL": "http://127.0.0.1:9"})
    settings, problems = build_settings(env, {"apiKey": "", "baseUrl": "  "}, sources=("env", "init"))
    assert problems == [] and settings.api_key == "sk-env" and settings.base_url == "http://127.0.0.1:9"


def test_log_level_from_the_environment():
    settings, _ = build_settings(env_layer({"DEEPSEEK_LS_LOG": "DEBUG"}), sources=("env",))
    assert settings.log_level == "debug"
    _, [problem] = build_settings(env_layer({"DEEPSEEK_LS_LOG": "loud"}), sources=("env",))
    assert problem.startswith("DEEPSEEK_LS_LOG")


def _service(**env: str) -> Service:
    return Service(environ={"DEEPSEEK_LS_DATA_DIR": str(Path(__file__).parent), **env})


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_LS_DATA_DIR", str(tmp_path))
    return tmp_path


async def test_service_layers_are_replaced_whole_so_removed_settings_go_back_to_defaults(data_dir):
    service = Service(environ={"DEEPSEEK_API_KEY": "sk-test", "DEEPSEEK_LS_DATA_DIR": str(data_dir)})
    service.update_settings("didChange", {"completion": {"model": "deepseek-v4-pro", "maxLines": 3}})
    service.update_settings("didChange", {"completion": {"maxLines": 4}})
    assert service.settings.completion_model == "deepseek-flash" and service.settings.completion_max_lines == 4
    for removed in ({}, None, {"deepseek": None}):
        from deepseek_ls.settings import section_of
        service.update_settings("didChange", {"completion.maxLines": 5})
        service.update_settings("didChange", section_of(removed))
        assert service.settings.completion_max_lines == 12
    await service.aclose()


async def test_service_reports_each_problem_once_while_it_lasts(data_dir):
    service = Service(environ={"DEEPSEEK_API_KEY": "sk-test", "DEEPSEEK_LS_DATA_DIR": str(data_dir)})
    [first] = service.update_settings("init", {"chat": {"maxTokens": "lots"}})
    assert "deepseek.chat.maxTokens" in first
    # the same problem from another layer, and an unrelated change: nothing new to say
    assert service.update_settings("didChange", {"chat": {"maxTokens": "lots"}}) == []
    assert service.update_settings("pull", {"completion": {"model": "deepseek-v4-pro"}}) == []
    # it changes: said again
    [second] = service.update_settings("didChange", {"chat": {"maxTokens": "many"}})
    assert "'many'" in second
    # removed: the value below ("lots") applies again, which is a change worth saying
    assert service.update_settings("didChange", {}) == [first]
    # fixed everywhere, then back: new again
    assert service.update_settings("init", {}) == []
    assert service.update_settings("init", {"chat": {"maxTokens": "lots"}}) == [first]
    await service.aclose()


async def test_service_with_a_blocking_setting_has_no_client_and_says_why_once(data_dir):
    service = Service(environ={"DEEPSEEK_API_KEY": "sk-test\u2014my key", "DEEPSEEK_LS_DATA_DIR": str(data_dir)})
    [problem] = service.startup_problems
    assert service.client is None and service.blocked == problem and "DEEPSEEK_API_KEY" in problem
    with pytest.raises(SettingsError) as info:
        service.require_client()
    assert "DEEPSEEK_API_KEY" in str(info.value) and "sk-test" not in str(info.value)
    said = []
    service.connect(ServiceEvents(problem=lambda kind, message: said.append(message)))
    service.engine.report_missing_key()  # already said at start: not again
    assert said == []
    # a good key from the editor unblocks; a bad endpoint blocks again (no fallback to the default)
    service.update_settings("init", {"apiKey": "sk-good"})
    assert service.blocked is None and service.client is not None
    [problem] = service.update_settings("didChange", {"baseUrl": "http://example.com"})
    assert problem.blocking and service.client is None and service.unavailable() is not None
    service.update_settings("didChange", {})
    assert service.client is not None and service.client.base_url == "https://api.deepseek.com"
    # no key at all is still the plain missing-key error
    bare = Service(environ={"DEEPSEEK_LS_DATA_DIR": str(data_dir)})
    assert isinstance(bare.unavailable(), MissingApiKeyError)
    await service.aclose()
    await bare.aclose()


def test_every_settings_problem_is_a_sentence() -> None:
    """Each problem ends with its full stop (they are shown one after another)."""
    from deepseek_ls.settings import build_settings

    _, problems = build_settings({"apiKey": "sk-test my key"}, {"completion": {"debounceMs": -5, "model": 3},
                                                                 "baseUrl": "ftp://x", "logLevel": "loud"},
                                 sources=("env", "init"))
    assert len(problems) >= 4, problems
    for problem in problems:
        assert problem.endswith("."), problem
        assert not problem.endswith(".."), problem


# -- wrong types of list settings, misspelt keys -----------------------------------------------------
@pytest.mark.parametrize("value", [{"x": 1}, [1, None], 5, True, {"*.env": True}])
def test_exclude_of_the_wrong_type_is_reported_like_any_wrong_value(value):
    from deepseek_ls.settings import build_settings as build

    settings, problems = build({"exclude": value})
    assert settings.exclude == ()
    [problem] = problems
    assert problem.startswith("deepseek.exclude = ") and "expected a list of strings" in problem


@pytest.mark.parametrize("layer,expected", [
    ({"completion": {"debounceMS": 5}}, "did you mean deepseek.completion.debounceMs?"),
    ({"chat": {"maxToken": 3}}, "did you mean deepseek.chat.maxTokens?"),
    ({"apikey": "sk-x"}, "did you mean deepseek.apiKey?"),
    ({"logLevl": "debug"}, "did you mean deepseek.logLevel?"),
    ({"Completion": {"enabled": False}}, "did you mean deepseek.completion.enabled?"),
    ({"completion": {"colour": "red"}}, "deepseek.completion.colour is not a setting"),
])
def test_an_unknown_key_of_ours_is_reported_with_the_nearest_name(layer, expected):
    from deepseek_ls.settings import build_settings as build

    settings, problems = build(layer)
    [problem] = problems
    assert expected in problem and "ignored" in problem and not problem.blocking


@pytest.mark.parametrize("layer", [
    {"pyright": {"analysis": {"typeCheckingMode": "strict"}}},  # another server's section, sent flat
    {"serverPath": "/x", "pythonPath": "py", "serverArgs": [], "trace": {"server": "off"}},  # the plugins'
    {"ui": {"chat": "x"}, "deepseekClient": "nvim"},
    {"deepseekSources": {"apiKey": "setup", "baseUrl": "env"}},  # what the plugins say of where values came from
])
def test_keys_that_are_not_ours_to_judge_are_not_reported(layer):
    from deepseek_ls.settings import build_settings as build

    assert build(layer)[1] == []


def test_an_unknown_key_is_reported_once_until_it_changes():
    from deepseek_ls.service import Service

    service = Service(environ={})
    first = service.update_settings("didChange", {"completion": {"debounceMS": 5}})
    assert len(first) == 1 and "debounceMs" in first[0]
    again = service.update_settings("didChange", {"completion": {"debounceMS": 5, "maxLines": 4}})
    assert again == []
    assert service.update_settings("didChange", {}) == []
    assert len(service.update_settings("didChange", {"completion": {"debounceMS": 5}})) == 1
