"""The Neovim plugin as a new user meets it (issue 13): `:help deepseek_ls`,
the ghost-text colour with and without 'termguicolors', a missing server,
and server messages that never interrupt Insert mode. Headless Neovim,
tests/editors/nvim/firsthour.lua."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.editors.test_nvim import NVIM, PLUGIN, server_cmd
from tests.fake_deepseek import FakeDeepSeek

SCRIPT = Path(__file__).resolve().parent / "nvim" / "firsthour.lua"
pytestmark = pytest.mark.skipif(NVIM is None, reason="Neovim >= 0.10 not found (pip install -e '.[test]')")


def run_case(tmp_path: Path, case: str, **env_extra: str) -> dict[str, Any]:
    src = tmp_path / "calc.py"
    src.write_text("def add(a, b):\n    \n")
    result_file = tmp_path / f"{case}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NVIM", "VIM", "MYVIMRC", "DEEPSEEK_"))}
    env.update({
        "XDG_CONFIG_HOME": str(tmp_path / "xdg" / "config"), "XDG_DATA_HOME": str(tmp_path / "xdg" / "data"),
        "XDG_STATE_HOME": str(tmp_path / "xdg" / "state"), "XDG_CACHE_HOME": str(tmp_path / "xdg" / "cache"),
        "DEEPSEEK_LS_DATA_DIR": str(tmp_path / "data"),
        "DSLS_PLUGIN_DIR": str(PLUGIN), "DSLS_CMD": json.dumps(server_cmd()), "DSLS_FILE": str(src),
        "DSLS_RESULT": str(result_file), **env_extra,
    })
    env["DSLS_CASE"] = case
    assert NVIM is not None
    proc = subprocess.run([NVIM, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"luafile {SCRIPT}"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=90,
                          stdin=subprocess.DEVNULL)
    assert result_file.exists(), f"exit {proc.returncode}; stderr: {proc.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(result_file.read_text())
    failed = [c for c in result["checks"] if not c["ok"]]
    assert result["checks"] and not failed and not result.get("error"), (
        f"lua error: {result.get('error')}\nfailed: {json.dumps(failed, indent=1)}\nstderr: {proc.stderr[-2000:]}")
    return result


def test_help_tags_are_committed_and_help_opens(tmp_path: Path) -> None:
    tags = PLUGIN / "doc" / "tags"
    assert tags.exists(), "generate with: nvim --headless -u NONE -c 'helptags editors/nvim/doc' -c q"
    assert "deepseek_ls\tdeepseek_ls.txt" in tags.read_text()
    run_case(tmp_path, "help")


def test_help_tags_are_generated_when_missing(tmp_path: Path) -> None:
    """A checkout without doc/tags (or an older one): setup() writes it."""
    copy = tmp_path / "nvim-plugin"
    shutil.copytree(PLUGIN, copy)
    (copy / "doc" / "tags").unlink()
    run_case(tmp_path, "help", DSLS_PLUGIN_DIR=str(copy))
    assert (copy / "doc" / "tags").exists()


@pytest.mark.parametrize("termguicolors", ["0", "1"])
def test_ghost_text_has_a_colour_in_both_colour_modes(tmp_path: Path, termguicolors: str) -> None:
    result = run_case(tmp_path, "highlight", DSLS_TGC=termguicolors)
    assert result["hl"]["ctermfg"] is not None and result["hl"]["fg"] is not None


def test_missing_server_says_what_is_missing_and_how_to_fix_it(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # a PATH with Python but without deepseek-ls
    bin_dir.mkdir()
    # a Python without the package: a fresh venv (no system site-packages), no PYTHONPATH
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    bare = str(tmp_path / "bare" / "bin" / "python")
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    assert subprocess.run([bare, "-c", "import deepseek_ls"], capture_output=True, cwd=tmp_path,
                          env=clean).returncode != 0
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and not (Path(p) / "deepseek-ls").exists())
    run_case(tmp_path, "missing", PATH=path, DSLS_BARE_PYTHON=bare, PYTHONPATH="")


def test_warnings_never_interrupt_insert_mode(tmp_path: Path) -> None:
    with FakeDeepSeek() as fake:
        run_case(tmp_path, "insert", DEEPSEEK_API_KEY="sk-test", DEEPSEEK_BASE_URL=fake.base_url)


def test_no_key_message_names_the_plugin_option(tmp_path: Path) -> None:
    with FakeDeepSeek() as fake:
        run_case(tmp_path, "nokey", DEEPSEEK_BASE_URL=fake.base_url)


def test_checkhealth_without_the_server_gives_the_fix_and_the_rest(tmp_path: Path) -> None:
    run_case(tmp_path, "health_missing")


def test_a_bad_key_in_setup_is_named_as_setup_api_key(tmp_path: Path) -> None:
    with FakeDeepSeek() as fake:
        run_case(tmp_path, "badkey", DSLS_BASE_URL=fake.base_url)
