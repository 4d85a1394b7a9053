"""``deepseek-ls complete`` ends once its answer is out (review of issue 12): an analysis of
the project still running past ``CONTEXT_WAIT_S`` (150 Go files of 0.9 MB in one package) is
not waited for at exit; the interpreter joined its worker threads, so the command printed its
answer at 6 s and returned at 41 s."""

from __future__ import annotations

import argparse
import os
import threading
from pathlib import Path

import pytest

from deepseek_ls.cli import complete as complete_cli
from deepseek_ls.context import engine as engine_module


class _Exited(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


@pytest.fixture
def source(tmp_path: Path, fake, monkeypatch: pytest.MonkeyPatch) -> Path:
    """calc.py to complete, and an environment that sends to the fake (nothing else of DEEPSEEK_*)."""
    path = tmp_path / "calc.py"
    path.write_text("def add(a, b):\n    \n", encoding="utf-8")
    for name in [k for k in os.environ if k.startswith("DEEPSEEK_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test")
    monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
    monkeypatch.setenv("DEEPSEEK_LS_DATA_DIR", str(tmp_path / "data"))
    return path


def test_complete_does_not_wait_for_an_analysis_still_running(tmp_path: Path, fake, source: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".git").mkdir()
    release = threading.Event()
    started = threading.Event()
    real = engine_module.ContextEngine._analyse

    def slow_analyse(self, *args, **kwargs):  # a huge package being parsed, in the worker thread
        started.set()
        release.wait(30)
        return real(self, *args, **kwargs)

    def fake_exit(code: int) -> None:
        raise _Exited(code)

    monkeypatch.setattr(engine_module.ContextEngine, "_analyse", slow_analyse)
    monkeypatch.setattr(complete_cli, "CONTEXT_WAIT_S", 0.2)
    monkeypatch.setattr(complete_cli.os, "_exit", fake_exit)
    try:
        with pytest.raises(_Exited) as exited:
            complete_cli.command(argparse.Namespace(spec=f"{source}:2:5", no_context=False))
        assert started.is_set()
        assert exited.value.code == 0
        assert capsys.readouterr().out == "return a + b\n"  # the answer was out before the exit
        assert len(fake.fim_requests()) == 1
    finally:
        release.set()


def test_complete_returns_normally_when_nothing_is_left_running(source: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(complete_cli.os, "_exit", lambda code: pytest.fail("exited hard"))
    for _ in range(50):  # the worker threads of an earlier test may still be ending
        if not any(t.name.startswith("context") and t.is_alive() for t in threading.enumerate()):
            break
        threading.Event().wait(0.1)
    assert complete_cli.command(argparse.Namespace(spec=f"{source}:2:5", no_context=True)) == 0
    assert capsys.readouterr().out == "return a + b\n"
