"""settings.py: layering, validation, endpoint rules, README table."""

from pathlib import Path

from deepseek_ls.settings import build_settings, env_layer, section_of, setting_fields, settings_table_markdown


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
