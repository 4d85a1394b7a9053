"""``deepseek-ls stats`` and ``deepseek-ls doctor`` (against the fake DeepSeek)."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from deepseek_ls.__main__ import main
from deepseek_ls.cli.doctor import mask_key
from deepseek_ls.ledger import ENV_DATA_DIR, Ledger
from tests.fake_deepseek import FakeDeepSeek

GOOD = "sk-doctorGOODkey0123456789wxyz"
ZERO = "sk-doctorZEROkey0123456789zero"
WRONG = "sk-doctorWRONGkey012345678nope"
SECRETS = (GOOD, ZERO, WRONG, "doctorGOODkey", "doctorZEROkey", "doctorWRONGkey")


@pytest.fixture(scope="module")
def fake():
    with FakeDeepSeek() as f:
        f.add_key(GOOD, balance="12.50")
        f.add_key(ZERO, balance="0.00")
        yield f


@pytest.fixture
def env(monkeypatch, tmp_path: Path, fake: FakeDeepSeek):
    for name in list(os.environ):
        if name.startswith("DEEPSEEK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path))
    monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
    monkeypatch.setenv("DEEPSEEK_API_KEY", GOOD)
    return monkeypatch


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["doctor", *argv]) if argv[:1] != ("stats",) else main(list(argv))
    captured = capsys.readouterr()
    out = captured.out + captured.err
    for secret in SECRETS:
        assert secret not in out, f"the key leaked: {out}"
    return code, captured.out


def lines(out: str) -> dict[str, str]:
    """check name -> its line, from the text report."""
    found = {}
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0] in ("ok", "WARN", "FAIL", "skip"):
            name = "round trip" if parts[1] == "round" else "API key" if parts[1] == "API" else parts[1]
            found[name] = line
    return found


# -- doctor ----------------------------------------------------------------------

def test_mask_key_shows_at_most_the_last_four() -> None:
    assert mask_key(GOOD) == "sk-…wxyz"
    assert mask_key("sk-short") == "8 characters"


def test_doctor_all_good(env, capsys, fake: FakeDeepSeek) -> None:
    before = len(fake.fim_requests())
    code, out = run(capsys)
    assert code == 0, out
    checks = lines(out)
    assert all(line.startswith("  ok") for line in checks.values()), out
    assert "sk-…wxyz" in checks["API key"]
    assert fake.base_url in checks["endpoint"] and "loopback" in checks["endpoint"]
    assert "12.50 USD" in checks["balance"]
    assert " ms" in checks["reachable"] and "fraction of a cent" in checks["round trip"]
    assert "All checks passed." in out
    fim = fake.fim_requests()[before:]
    assert len(fim) == 1 and fim[0].body["max_tokens"] == 1


def test_doctor_json(env, capsys) -> None:
    code, out = run(capsys, "--json", "--no-fim")
    data = json.loads(out)
    assert code == 0 and data["ok"] is True
    by_name = {c["name"]: c for c in data["checks"]}
    assert by_name["round trip"]["status"] == "skip"
    assert by_name["models"]["status"] == "ok" and by_name["ledger"]["status"] == "ok"


def test_doctor_wrong_key_gives_401_and_the_hint(env, capsys) -> None:
    env.setenv("DEEPSEEK_API_KEY", WRONG)
    code, out = run(capsys)
    assert code == 1
    key_line = lines(out)["API key"]
    assert key_line.startswith("  FAIL") and "401" in key_line
    assert "Set a valid key in DEEPSEEK_API_KEY" in out  # the AuthenticationError hint
    assert "skip" in lines(out)["balance"]


def test_doctor_rejected_key_replaces_the_key_line_when_fallbacks_are_not_json(env, capsys) -> None:
    """The key's line says it was rejected even when a line about DEEPSEEK_LS_FALLBACKS comes first
    (it used to overwrite that line and keep "API key ok")."""
    env.setenv("DEEPSEEK_API_KEY", WRONG)
    env.setenv("DEEPSEEK_LS_FALLBACKS", "{not json")
    code, out = run(capsys, "--json")
    checks = json.loads(out)["checks"]
    keys = [c for c in checks if c["name"] == "API key"]
    assert code == 1 and len(keys) == 1 and keys[0]["status"] == "fail" and "rejected" in keys[0]["detail"]
    assert any("DEEPSEEK_LS_FALLBACKS" in c["detail"] for c in checks)  # the fallbacks line is kept


def test_doctor_zero_balance_warns(env, capsys, fake: FakeDeepSeek) -> None:
    env.setenv("DEEPSEEK_API_KEY", ZERO)
    before = len(fake.fim_requests())
    code, out = run(capsys)
    assert code == 1
    assert lines(out)["balance"].startswith("  WARN") and "0.00 USD" in out
    assert "Top up" in out
    assert len(fake.fim_requests()) == before  # no paid probe that would fail with 402


def test_doctor_missing_model_lists_available_names(env, capsys) -> None:
    code, out = run(capsys, "--model", "deepseek-nope")
    assert code == 1
    line = lines(out)["models"]
    assert line.startswith("  FAIL") and "deepseek-nope" in line
    assert "deepseek-flash" in line and "deepseek-v4-pro" in line
    assert "skip" in lines(out)["round trip"]


def test_doctor_unreachable_endpoint(env, capsys) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env.setenv("DEEPSEEK_BASE_URL", f"http://127.0.0.1:{port}")
    code, out = run(capsys)
    assert code == 1
    line = lines(out)["reachable"]
    assert line.startswith("  FAIL") and f"cannot reach http://127.0.0.1:{port} (DEEPSEEK_BASE_URL)" in line
    assert "Check your network connection and the URL (DEEPSEEK_BASE_URL)" in out
    assert "deepseek.baseUrl" not in out  # doctor does not read editor settings
    assert "ledger" in lines(out)
    env.delenv("DEEPSEEK_BASE_URL")
    code, out = run(capsys, "--base-url", f"http://127.0.0.1:{port}")
    assert code == 1 and "the URL (--base-url)" in out and "deepseek.baseUrl" not in out


def test_doctor_rejected_short_key_reads_as_a_sentence(env, capsys, fake: FakeDeepSeek) -> None:
    env.setenv("DEEPSEEK_API_KEY", "sk-0123456789ab")  # 15 characters, unknown to the fake
    code, out = run(capsys, "--no-fim")
    assert code == 1
    line = lines(out)["API key"]
    assert "the key (15 characters, from DEEPSEEK_API_KEY) was rejected: " in line, line
    assert "characters rejected" not in out


def test_doctor_and_stats_say_how_to_move_a_corrupt_ledger_away(env, capsys, tmp_path: Path) -> None:
    (tmp_path / "ledger.sqlite3").write_bytes(b"this is not SQLite" * 300)
    code, out = run(capsys, "--no-fim")
    assert code == 1
    line = lines(out)["ledger"]
    assert line.startswith("  WARN") and "damaged" in line
    assert f"mv '{tmp_path / 'ledger.sqlite3'}'" in out and "writable" not in out
    code = main(["stats"])
    err = capsys.readouterr().err
    assert code == 1 and "Move it away" in err


def test_doctor_unwritable_folder_says_so(env, capsys, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env.setenv(ENV_DATA_DIR, str(blocker))  # the data folder is a file
    code, out = run(capsys, "--no-fim")
    assert code == 1
    assert "is not a folder" in lines(out)["ledger"] and "Move it away" not in out


def test_doctor_refuses_plain_http_to_a_remote_host(env, capsys, fake: FakeDeepSeek) -> None:
    before = len(fake.requests)
    code, out = run(capsys, "--base-url", "http://api.example.com")
    assert code == 1
    assert lines(out)["endpoint"].startswith("  FAIL") and "https://" in out
    assert len(fake.requests) == before


def test_doctor_without_key(env, capsys) -> None:
    env.delenv("DEEPSEEK_API_KEY")
    code, out = run(capsys)
    assert code == 1
    assert lines(out)["API key"].startswith("  FAIL") and "DEEPSEEK_API_KEY" in out


def test_doctor_as_a_real_command_never_prints_the_key(tmp_path: Path, fake: FakeDeepSeek) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DEEPSEEK_")}
    environ.update({ENV_DATA_DIR: str(tmp_path), "DEEPSEEK_BASE_URL": fake.base_url,
                    "DEEPSEEK_API_KEY": WRONG, "DEEPSEEK_LS_LOG": "debug"})
    proc = subprocess.run([sys.executable, "-m", "deepseek_ls", "doctor"], env=environ,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "FAIL" in proc.stdout
    for secret in SECRETS:
        assert secret not in proc.stdout + proc.stderr


# -- stats -----------------------------------------------------------------------

def seed(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3", flush_delay_s=0)
    now = dt.datetime.now(dt.UTC)
    ledger.record("deepseek-flash", 800, 200, 50, when=now)
    ledger.record("deepseek-flash", 900, 100, 40, when=now)
    ledger.record("deepseek-v4-pro", 0, 1000, 100, kind="chat", when=now - dt.timedelta(days=3))
    ledger.record("deepseek-flash", 1, 1, 1, when=now - dt.timedelta(days=30))  # outside the week
    ledger.close()


def test_stats_table(env, capsys, tmp_path: Path) -> None:
    seed(tmp_path)
    code, out = run(capsys, "stats")
    assert code == 0
    assert str(tmp_path / "ledger.sqlite3") in out
    today = next(line for line in out.splitlines() if line.startswith("today"))
    assert today.split()[2:7] == ["2", "1,700", "300", "90", "85.0%"]
    week = next(line for line in out.splitlines() if line.startswith("last 7 days"))
    assert week.split()[3] == "3"
    assert "per model" in out and "deepseek-v4-pro" in out and "per day" in out
    assert "price table of 2026-11-15" in out and "peak hours" in out


def test_stats_json(env, capsys, tmp_path: Path) -> None:
    seed(tmp_path)
    code, out = run(capsys, "stats", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["today"]["requests"] == 2 and data["today"]["promptHitTokens"] == 1700
    assert data["total"]["requests"] == 3 and len(data["perDay"]) == 7
    assert {m["model"]: m["requests"] for m in data["perModel"]} == {"deepseek-flash": 2, "deepseek-v4-pro": 1}
    assert set(data["today"]) >= {"requests", "promptHitTokens", "promptMissTokens", "completionTokens",
                                  "costUsd", "hitRate"}
    code, out = run(capsys, "stats", "--json", "--days", "31")
    assert json.loads(out)["total"]["requests"] == 4


def test_stats_without_a_ledger_does_not_create_one(env, capsys, tmp_path: Path) -> None:
    code, out = run(capsys, "stats")
    assert code == 0 and "no requests recorded" in out
    assert not (tmp_path / "ledger.sqlite3").exists()


def test_stats_days_wording_and_range(env, capsys) -> None:
    code, out = run(capsys, "stats", "--days", "1")
    assert code == 0 and "last 1 day " in out and "last 1 days" not in out
    with pytest.raises(SystemExit) as exit_info:
        main(["stats", "--days", "0"])
    assert exit_info.value.code == 2
    assert "1 or more" in capsys.readouterr().err


def test_help_is_plain_text_with_environment_and_every_command(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "``" not in text and ":mod:" not in text and ":data:" not in text
    for needed in ("DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL", "DEEPSEEK_LS_DATA_DIR", "DEEPSEEK_LS_LOG",
                   "DEEPSEEK_LS_HTTPX", "DEEPSEEK_LS_TRACE", "serve", "complete", "stats", "doctor",
                   "per kind", "--days", "cache", "Exit"):
        assert needed in text, needed
    for command in ("stats", "doctor", "complete"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        sub = capsys.readouterr().out
        assert "Exit" in sub and "``" not in sub, (command, sub)


def test_doctor_reduces_a_pasted_endpoint_path_to_the_root(env, capsys, fake: FakeDeepSeek) -> None:
    env.setenv("DEEPSEEK_BASE_URL", fake.base_url + "/chat/completions")
    code, out = run(capsys, "--no-fim")
    assert lines(out)["endpoint"].startswith("  ok") and f"{fake.base_url} (" in lines(out)["endpoint"]
    assert lines(out)["reachable"].startswith("  ok"), out
    assert "settings" not in lines(out)


def test_doctor_names_an_insecure_endpoint_once(env, capsys) -> None:
    env.setenv("DEEPSEEK_BASE_URL", "http://example.com")
    code, out = run(capsys)
    assert code == 1
    assert lines(out)["endpoint"].startswith("  FAIL") and "DEEPSEEK_BASE_URL" in out
    assert "settings" not in lines(out), out  # the endpoint's problem is not repeated as a settings warning


@pytest.mark.parametrize("bad, what", [("sk-test my key", "a space at character 8 of 14"),
                                       ("sk-tëst", "a non-ASCII character (U+00EB) at character 5 of 7")])
def test_doctor_names_a_bad_character_in_a_set_key(env, capsys, bad: str, what: str) -> None:
    """A key that is set but unusable is not 'not set': doctor says what `complete` says."""
    env.setenv("DEEPSEEK_API_KEY", bad)
    code, out = run(capsys, "--no-fim")
    assert code == 1 and bad not in out
    line = lines(out)["API key"]
    assert line.startswith("  FAIL") and "not set" not in line, line
    assert f"DEEPSEEK_API_KEY contains {what}" in line, line
    assert "skipped (API key unusable)" in lines(out)["reachable"]
    code, out = run(capsys, "--no-fim", "--json")
    check = {c["name"]: c for c in json.loads(out)["checks"]}["API key"]
    assert check["status"] == "fail" and f"DEEPSEEK_API_KEY contains {what}" in check["detail"]
    assert bad not in out
    assert main(["complete", __file__ + ":1:1"]) == 2
    err = capsys.readouterr().err
    assert f"DEEPSEEK_API_KEY contains {what}" in err and bad not in err


def test_doctor_names_the_flag_a_model_came_from(env, capsys) -> None:
    code, out = run(capsys, "--model", "nosuch", "--no-fim")
    assert code == 1 and "deepseek.completion.model" not in out and "deepseek.chat.model" not in out
    assert "--model 'nosuch'" in lines(out)["models"]
    code, out = run(capsys, "--chat-model", "nochat", "--no-fim")
    assert "--chat-model 'nochat'" in lines(out)["models"] and "deepseek.chat.model" not in out


def test_stats_prints_the_per_kind_table_even_with_one_kind(env, capsys, tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3", flush_delay_s=0)
    ledger.record("deepseek-flash", 10, 5, 1)  # ghost text only
    ledger.close()
    code, out = run(capsys, "stats")
    assert code == 0 and "per kind (last 7 days)" in out, out
    table = out.split("per kind (last 7 days)")[1]
    assert any(line.startswith("fim ") for line in table.splitlines()), table
    code, out = run(capsys, "stats", "--days", "1")
    assert "last 1 day " in out and "1 days" not in out


def test_help_and_readme_list_the_same_environment_variables(capsys) -> None:
    import re
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    environment = text.split("environment:")[1].split("examples:")[0]
    in_help = set(re.findall(r"\b(DEEPSEEK_[A-Z_]+|HTTPS_PROXY|ALL_PROXY)\b", environment))
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    paragraph = readme.split("`deepseek-ls --help` lists the same")[1].split("\n\n")[0]
    in_readme = set(re.findall(r"\b(DEEPSEEK_[A-Z_]+|HTTPS_PROXY|ALL_PROXY)\b", paragraph))
    assert in_help == in_readme and "DEEPSEEK_LS_THREADED_STDIN" in in_help, (in_help ^ in_readme)
    flat = " ".join(environment.split())
    assert "and the server's default, which the deepseek.logLevel setting overrides" in flat


def test_doctor_names_what_an_editor_plugin_set(env, capsys) -> None:
    """:checkhealth runs doctor with setup()'s api_key / base_url as variables: the report names setup()."""
    env.setenv("DEEPSEEK_API_KEY", "sk-test my key")
    code, out = run(capsys, "--no-fim", "--key-named", "api_key in setup()")
    line = lines(out)["API key"]
    assert "api_key in setup() contains a space" in line and "DEEPSEEK_API_KEY" not in out, out
    env.setenv("DEEPSEEK_API_KEY", GOOD)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env.setenv("DEEPSEEK_BASE_URL", f"http://127.0.0.1:{port}")
    code, out = run(capsys, "--no-fim", "--url-named", "base_url in setup()")
    assert "(base_url in setup())" in lines(out)["reachable"] and "DEEPSEEK_BASE_URL" not in out, out
    with pytest.raises(SystemExit):
        main(["doctor", "--help"])
    assert "--key-named" not in capsys.readouterr().out  # for plugins, not users
