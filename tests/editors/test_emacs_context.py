"""Project context in a real Emacs + eglot: the parser fallback (issue 12).

eglot has no deepseek-ls plugin, so nothing in it answers the server->client
``deepseek/definitions`` request: the server's own parser must find the
definitions a line needs. Real ``emacs -Q --batch`` loads the elisp block of
docs/editors-other.md (as tests/editors/test_emacs.py does), opens ``main.py``
of a project directory with no VCS (a ``pyproject.toml`` marks its root for
project.el), and asks for completions after ``rectangle_area(wid`` on a line
that starts with CJK and emoji text. ``rectangle_area`` is defined in
``shapes.py``, which is never opened: its signature and docstring must reach
the FIM request the fake DeepSeek records, and the completion item must
arrive and apply (UTF-16 / negotiated positions after the emoji).

The fake answers only a prompt that holds the definition, and the Lisp side
re-asks (invoked completions, each allowed to wait briefly for the background
analysis) until the item comes: polling on what the fake received, no fixed
sleep. Three clients:

- ``documented``: the doc's snippet as is; eglot does not announce
  ``deepseekDefinitions``, so the server never sends the request (in this small
  project the definition comes in the project block that heads every prompt);
- ``file-block``: the same with ``deepseek.context.budgetTokens`` 255 (half of
  it is less than one 128-token cache unit: no project block), so the
  definition must come through main.py's import into main.py's own block,
  after its ``# Path: main.py`` header;
- ``utf-16``: the doc's snippet, eglot offering only UTF-16 positions (it
  prefers UTF-32), so the completion's ``textEdit`` after the emoji is
  checked in both encodings;
- ``null-answer``: the snippet's ``initializationOptions`` also say
  ``:deepseekDefinitions t``; eglot answers the unknown request with ``null``;
- ``error-answer``: the same with ``eglot-strict-mode`` set to
  ``(disallow-unknown-methods)``; eglot answers it with a JSON-RPC error.

In each the server goes on quietly: the completion arrives, no traceback on
its stderr, no message shown, and it still answers afterwards.

Emacs >= 29 must be on PATH (Debian 12: ``bash .ci/install-emacs.sh``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.editors.test_emacs import (  # noqa: E402 - after the sys.path set-up above
    DEAD_URL,
    doc_snippet,
    fill_snippet,
    find_emacs,
    run_batch,
    server_program,
)
from tests.fake_deepseek import FakeDeepSeek  # noqa: E402 - after the sys.path set-up above

TEST_EL = Path(__file__).resolve().parent / "emacs" / "test-eglot-context.el"
EMACS_TIMEOUT_S = 50          # Lisp watchdog; the subprocess gets a bit more
WAIT_S = 20                   # how long the Lisp side re-asks for the completion

SIGNATURE = "def rectangle_area(width_cm: float, height_cm: float) -> float:"
DOCSTRING = "Floor area of a rectangular room in square centimetres, never negative."
SHAPES = f'''"""Shapes of a floor plan."""


{SIGNATURE}
    """{DOCSTRING}

    Raises ValueError for a negative side.
    """
    if width_cm < 0 or height_cm < 0:
        raise ValueError("a side is negative")
    return width_cm * height_cm


def circle_area(radius_cm: float) -> float:
    """Area of a circle in square centimetres."""
    return 3.141592653589793 * radius_cm * radius_cm
'''
MARK = "rectangle_area(wid"
CALL_LINE = 'room = "客厅 🛋️ 面积"; area = rectangle_area(wid'
MAIN = f'''from shapes import rectangle_area

# 客厅 (living room) 📐
{CALL_LINE}
print(room, area)
'''
FIM_TEXT = "th_cm=4.5, height_cm=3.2)"
EXPECT_LINE = 'room = "客厅 🛋️ 面积"; area = rectangle_area(width_cm=4.5, height_cm=3.2)'

EMACS, SKIP_REASON = find_emacs()
pytestmark = pytest.mark.skipif(EMACS is None, reason=SKIP_REASON)


@pytest.fixture
def fake() -> Iterator[FakeDeepSeek]:
    fake = FakeDeepSeek().start()
    try:
        yield fake
    finally:
        fake.stop()


def has_definition(prompt: str) -> bool:
    return SIGNATURE in prompt and DOCSTRING in prompt


def answer(body: dict[str, Any]) -> str:
    """The fake's FIM answer: the rest of the call, only once the prompt holds the definition."""
    prompt = str(body.get("prompt", ""))
    return FIM_TEXT if prompt.endswith(MARK) and has_definition(prompt) else ""


def make_project(ws: Path) -> tuple[Path, Path]:
    ws.mkdir()
    (ws / "pyproject.toml").write_text('[project]\nname = "floorplan"\nversion = "0.1"\n')
    shapes = ws / "shapes.py"
    shapes.write_text(SHAPES, encoding="utf-8")
    main = ws / "main.py"
    main.write_text(MAIN, encoding="utf-8")
    return main, shapes


@pytest.mark.parametrize("variant", ["documented", "file-block", "utf-16", "null-answer", "error-answer"])
def test_eglot_gets_definitions_of_unopened_file(tmp_path: Path, fake: FakeDeepSeek, variant: str) -> None:
    assert EMACS is not None
    fake.fim_handler = answer
    ws = tmp_path / "floorplan"
    main, shapes = make_project(ws)
    snippet = tmp_path / "deepseek-eglot.el"
    snippet.write_text(fill_snippet(doc_snippet(), server_program(), fake.base_url))
    result_file = tmp_path / "result.json"
    home = tmp_path / "home"
    home.mkdir()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEEPSEEK_", "EMACS"))}
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "DEEPSEEK_API_KEY": "sk-test",
        "DEEPSEEK_BASE_URL": DEAD_URL,       # only the snippet's initializationOptions reach the fake
        "DSLS_SNIPPET": str(snippet),
        "DSLS_FILE": str(main),
        "DSLS_OTHER": str(shapes),
        "DSLS_ROOT": str(ws),
        "DSLS_MARK": MARK,
        "DSLS_EXPECT": EXPECT_LINE,
        "DSLS_VARIANT": variant,
        "DSLS_WAIT": str(WAIT_S),
        "DSLS_RESULT": str(result_file),
        "DSLS_TIMEOUT": str(EMACS_TIMEOUT_S),
    })
    proc, result, failed = run_batch(TEST_EL, env, ws, result_file)
    checks = result.get("checks", [])
    fims = fake.fim_requests()
    detail = (f"exit {proc.returncode} ({result.get('reason')}); failed: {json.dumps(failed, indent=1)}\n"
              f"info: {json.dumps(result.get('info'), indent=1, ensure_ascii=False)}\n"
              f"server requests: {result.get('server_requests')}\n"
              f"FIM prompts: {[r.body.get('prompt', '')[-1500:] for r in fims]!r}\n"
              f"stdout: {proc.stdout[-3000:]}\nemacs stderr (tail): {proc.stderr[-3000:]}\n"
              f"server stderr: {result.get('stderr', '')[-4000:]}\n"
              f"eglot events (tail): {result.get('events', '')[-4000:]}")
    assert proc.returncode == 0 and checks and not failed, detail
    print(proc.stdout)

    # The fake got the definition of shapes.py (never opened) in the FIM request for main.py.
    at_cursor = [r for r in fims if str(r.body.get("prompt", "")).endswith(MARK)]
    assert at_cursor, f"no FIM request for the cursor after {MARK!r}\n{detail}"
    answered = [r for r in at_cursor if has_definition(r.body["prompt"])]
    assert answered, f"no FIM request held {SIGNATURE!r} and its docstring\n{detail}"
    assert answered[-1].text == FIM_TEXT, detail
    prompt = answered[-1].body["prompt"]
    header = prompt.index("# Path: main.py")
    place = "the project block" if prompt.find(SIGNATURE) < header else "main.py's own block"
    if variant == "file-block":   # resolved through `from shapes import rectangle_area`
        assert SIGNATURE in prompt[header:] and SIGNATURE not in prompt[:header], detail
    assert str(answered[-1].body.get("suffix", "")).startswith("\nprint(room, area)"), detail
    # shapes.py reached the prompt from disk only: eglot opened main.py alone.
    info = result["info"]
    if variant == "utf-16":
        assert info["position_encoding"] == "utf-16", detail
    assert info["workspace_folders"] == [ws.as_uri()], detail

    # The server carried on quietly: no traceback, nothing shown to the user.
    server_stderr = result.get("stderr", "")
    assert "Traceback" not in server_stderr, detail
    assert not result.get("messages"), f"messages shown: {result.get('messages')}\n{detail}"
    definitions = [r for r in result.get("server_requests", []) if r["method"] == "deepseek/definitions"]
    if variant in ("documented", "file-block", "utf-16"):   # eglot did not announce deepseekDefinitions
        assert not definitions, detail
    else:
        assert definitions and definitions[0]["outcome"] == ("error" if variant == "error-answer" else "result"), detail
    print(f"{variant}: {len(at_cursor)} FIM request(s) at the cursor, {len(answered)} with the definition "
          f"(in {place}), "
          f"{info['completion_attempts']} invoked completion(s); positions {info['position_encoding']}; "
          f"definitions answer: {info.get('definitions_answer', '-')}")
