"""settings.py's cattrs converter: strict JSON values, limits on the type, fallback entries."""

from typing import Annotated

import pytest

from deepseek_ls.settings import (
    FallbackEntry,
    Limits,
    Prices,
    build_settings,
    coerce_fallbacks,
    converter,
    setting_type,
)


def test_a_settings_type_carries_its_limits():
    assert setting_type("completion_debounce_ms") == Annotated[int, Limits(0, 5000, None)]
    assert setting_type("log_level") == Annotated[str, Limits(None, None, ("debug", "info", "warning", "error"))]
    assert setting_type("completion_enabled") is bool and setting_type("exclude") == tuple[str, ...]


@pytest.mark.parametrize("key, value, expected", [
    ("completion.debounceMs", "80", 80),
    ("completion.debounceMs", 80.0, 80),
    ("completion.debounceMs", " 1e2 ", 100),
    ("completion.temperature", "0.5", 0.5),
    ("completion.temperature", 1, 1.0),
    ("completion.enabled", "FALSE", False),
    ("logLevel", " Warning ", "warning"),
    ("exclude", " *.pem ", ("*.pem",)),
    ("exclude", ["a", " ", " b "], ("a", "b")),
])
def test_json_values_that_are_accepted(key, value, expected):
    settings, problems = build_settings({key: value})
    field = {"completion.debounceMs": "completion_debounce_ms", "completion.temperature": "completion_temperature",
             "completion.enabled": "completion_enabled", "logLevel": "log_level", "exclude": "exclude"}[key]
    assert problems == [] and getattr(settings, field) == expected
    assert type(getattr(settings, field)) is type(expected)


@pytest.mark.parametrize("key, value, why", [
    ("completion.debounceMs", 2.5, "expected a whole number"),
    ("completion.debounceMs", "2.5", "expected a whole number"),
    ("completion.debounceMs", True, "expected a whole number"),
    ("completion.debounceMs", [1], "expected a whole number"),
    ("completion.debounceMs", 5001, "must be at most 5000"),
    ("completion.temperature", "warm", "expected a number"),
    ("completion.temperature", -0.1, "must be at least 0.0"),
    ("completion.enabled", 1, "expected true or false"),
    ("completion.enabled", "yes", "expected true or false"),
    ("completion.model", 3, "expected a string"),
    ("completion.items", "sometimes", "expected one of auto, always, never"),
    ("exclude", {"*.env": True}, "expected a list of strings"),
    ("exclude", ["a", 1], "expected a list of strings"),
])
def test_json_values_that_are_refused_fall_back_with_what_was_expected(key, value, why):
    settings, [problem] = build_settings({key: value})
    assert problem == f"deepseek.{key} = {value!r}: {why}; using the default."
    assert settings == build_settings()[0]


def test_a_fallback_entry_is_structured_with_its_camel_case_keys():
    entry = converter.structure({"name": " local ", "baseUrl": "http://localhost:1/v1", "fimModel": "m",
                                 "uses": "fim", "prices": {"hit": 1, "miss": 2, "out": 3, "note": "ignored"}},
                                FallbackEntry)
    assert entry == FallbackEntry(name="local", base_url="http://localhost:1/v1", fim_model="m", uses=("fim",),
                                  prices=Prices(1.0, 2.0, 3.0))


@pytest.mark.parametrize("entry, why", [
    # the first reason in a fixed order, whatever else is wrong
    ({"name": 5, "apikey": "typo"}, "unknown field(s) apikey"),
    ({"name": 5, "kind": 1}, "name must be a string"),
    ({"name": "n", "fimModel": "m", "prices": {"hit": -1}}, "baseUrl is missing"),
    ({"name": "n", "baseUrl": "https://x.example", "uses": ["ghost"], "prices": 5}, "uses must be a list of fim, chat"),
    ({"name": "n", "baseUrl": "https://x.example", "fimModel": "m", "prices": 5}, "prices must be an object"),
    ({"name": "n", "baseUrl": "https://x.example", "fimModel": "m", "prices": {"hit": "1", "miss": 0, "out": 0}},
     "prices are numbers"),
    ({"name": "n", "baseUrl": "https://x.example", "fimModel": "m", "prices": {"hit": 1}}, "prices are numbers"),
])
def test_a_fallback_entry_is_refused_for_its_first_problem(entry, why):
    good, [problem] = coerce_fallbacks([entry], environ={})
    assert good == () and problem.startswith(f"deepseek.fallbacks[0]: {why}")
    assert problem.endswith("; this fallback is not used.")
