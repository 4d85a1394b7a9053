"""deepseek/definitions end to end in a real headless Neovim: the plugin, the
REAL deepseek-ls (``python -m deepseek_ls``) and the fake DeepSeek recording
the FIM requests, beside a second real language server that users run
(jedi-language-server, from the test extra), started by a FileType
autocommand the way nvim-lspconfig does, at the same time as deepseek-ls.

The server's own parser is off (``deepseek.context.definitions: false``), so a
definition from the other file can only reach the prompt through the editor.
The edited file has CJK and emoji before the names (UTF-16 positions from
deepseek-ls, UTF-8 or UTF-16 to the other server).

Also the members where the other server is absent, answers with an error,
or answers too late: completion still works, nothing is shown to the user,
and the prompt has no definition from the other file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.editors.test_nvim import NVIM, fake, run_scenario  # noqa: F401  (fake: fixture)
from tests.fake_deepseek import FakeDeepSeek

HERE = Path(__file__).resolve().parent / "nvim"
JEDI = Path(sys.executable).parent / "jedi-language-server"

CALC = (
    "from shapes import scaled_area, Shelf\n"
    "\n"
    's = "面积😀"; total = scaled_area(2, 3)\n'
    't = "😀😀 形状"; label = Shelf("形状")\n'
)
SHAPES = (
    '"""形状 helpers 😀."""\n'
    "\n"
    "\n"
    "def scaled_area(w, h, factor=7919):\n"
    '    """Area of a w×h rectangle times the shelf factor 😀."""\n'
    "    return w * h * factor\n"
    "\n"
    "\n"
    "class Shelf:\n"
    '    """A shelf of boxes 📦 (depth 0.618)."""\n'
    "\n"
    "    def __init__(self, name):\n"
    "        self.name = name\n"
)
AREA_DEF = "def scaled_area(w, h, factor=7919):"
SHELF_DEF = "class Shelf:"
SETTINGS = {"context": {"definitions": False, "editorDefinitions": True}}

pytestmark = pytest.mark.skipif(NVIM is None, reason="Neovim >= 0.10 not found (pip install -e '.[test]')")


def _run(tmp_path: Path, fake: FakeDeepSeek, defs_cmd: list[str] | None, want: bool,  # noqa: F811 - the fixture, passed on
         late: bool = False) -> dict[str, Any]:
    (tmp_path / "shapes.py").write_text(SHAPES, encoding="utf-8")
    fake.fim_handler = lambda body: ")"
    return run_scenario(
        tmp_path, fake, "definitions_real", "", text=CALC, settings=SETTINGS,
        extra_env={
            "DSLS_CMD": json.dumps([sys.executable, "-m", "deepseek_ls"]),
            "DSLS_DEFS_CMD": json.dumps(defs_cmd) if defs_cmd else "",
            "DSLS_DEFS_WANT": "1" if want else "0",
            "DSLS_DEFS_LATE": "1" if late else "0",
            "STUB_DEFS_DIR": str(tmp_path),
        })


def _prompts(fake: FakeDeepSeek) -> list[str]:  # noqa: F811 - the fixture, passed on
    return [str(r.body.get("prompt", "")) + "\x00" + str(r.body.get("suffix", "")) for r in fake.fim_requests()]


@pytest.mark.skipif(not JEDI.exists(), reason="jedi-language-server not installed (pip install -e '.[test]')")
@pytest.mark.parametrize("start", ["together", "later"])
def test_definition_from_jedi_reaches_the_fim_prompt(tmp_path: Path, fake: FakeDeepSeek, start: str) -> None:  # noqa: F811
    """``together``: jedi starts with deepseek-ls (FileType autocommand) and the user types at
    once; ``later``: jedi is attached only after deepseek-ls asked and got null (no other
    server yet): the null answer is asked again and the definition still arrives."""
    result = _run(tmp_path, fake, [str(JEDI)], want=True, late=start == "later")
    prompts = _prompts(fake)
    assert len(prompts) >= 2, prompts
    # deepseek-ls itself never defines these names, and its parser is off: the text of
    # shapes.py (not open in the editor) came from jedi's locations, read from disk
    last = prompts[-1]
    assert AREA_DEF in last and SHELF_DEF in last, last
    assert "Area of a w×h rectangle times the shelf factor 😀." in last
    assert "shapes.py" in last
    # in the prompt's head, before the file's own text (the cache-stable part)
    assert last.index(AREA_DEF) < last.index("from shapes import scaled_area, Shelf")
    if start == "later":
        assert result["answers"][0]["null"] and len(result["answers"]) >= 2, result["answers"]
    assert any(a["found"] >= 2 for a in result["answers"]), result["answers"]
    assert result["errors"] == []
    # how the first prompt after opening fared (reported, see README "Project context")
    print("timeline:", json.dumps({"answers": result["answers"], "ghosts": result["ghosts"],
                                   "other_ready_at_attach": result["other_ready_at_attach"],
                                   "first_prompt_has_definition": AREA_DEF in prompts[0],
                                   "prompts_with": [AREA_DEF in p for p in prompts]}))


FAILING = {
    "absent": None,
    "error": [sys.executable, str(HERE / "stub_definitions.py"), "--error"],
    "late": [sys.executable, str(HERE / "stub_definitions.py"), "--late"],
}


@pytest.mark.parametrize("member", sorted(FAILING))
def test_completion_without_a_working_definitions_server(tmp_path: Path, fake: FakeDeepSeek, member: str) -> None:  # noqa: F811
    """The other server is absent, answers every textDocument/definition with an error,
    or answers after the plugin's deadline: ghost text still comes,
    no message is shown, and the prompts carry no definition from shapes.py."""
    result = _run(tmp_path, fake, FAILING[member], want=False)
    prompts = _prompts(fake)
    assert len(prompts) >= 2, prompts
    assert all(AREA_DEF not in p and SHELF_DEF not in p for p in prompts), prompts
    assert result["errors"] == []
    assert all(a["found"] == 0 for a in result["answers"]), result["answers"]
    if member == "absent":
        assert all(a["null"] for a in result["answers"]), result["answers"]
    else:
        assert result["answers"], "the plugin was never asked"
