"""Review of issue 12: the context engine driven directly (no event loop: analyses run at once)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import deepseek_ls.context.resolve as resolve
from deepseek_ls.context import ContextConfig, ContextEngine
from deepseek_ls.features.context import _path_of


def _python_workspace(tmp_path: Path, count: int) -> tuple[str, str]:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    names = [f"helper_{i:02d}" for i in range(count)]
    (tmp_path / "pkg" / "helpers.py").write_text("".join(
        f"def {n}(a, b, c):\n    '''Doc of {n}, long enough to cost some tokens.'''\n    return a + b * c - {i}\n\n"
        for i, n in enumerate(names)))
    lines = ["from .helpers import " + ", ".join(names), ""]
    lines += [f"x{i} = {names[i % count]}(1, 2, 3)" for i in range(200)]
    return (tmp_path / "pkg" / "app.py").as_uri(), "\n".join(lines) + "\n"


def test_file_block_does_not_change_on_every_line_the_cursor_moves(tmp_path: Path):
    """A module importing more names than the budget holds (40 helpers, budget 1024 tokens):
    moving down one line at a time (Enter, arrow keys) should not rebuild the file block
    each time: every change costs the prompt cache everything after the file header.
    Today it changes on ~27 of 39 one-line moves."""
    uri, text = _python_workspace(tmp_path, 40)
    engine = ContextEngine(ContextConfig(budget_tokens=1024), path_of=_path_of)
    engine.set_roots([str(tmp_path)])
    engine.opened(uri, text, "python", 1)
    blocks = [engine.block(uri, line).file for line in range(100, 140)]
    assert blocks[0], "sanity: there is a file block"
    changes = sum(1 for a, b in zip(blocks, blocks[1:], strict=False) if a != b)
    assert changes <= 4, f"the file block changed on {changes} of {len(blocks) - 1} one-line cursor moves"


def test_go_reanalysis_does_not_reparse_an_unchanged_package(tmp_path: Path, monkeypatch):
    """A Go package of 600 files (generated code, big packages): after the first analysis, the
    re-analysis that follows a keystroke should not read and parse the 600 unchanged files again.
    Today the parse cache holds 512 files, so every pause in typing re-parses all of them
    (measured: 1,000 files 0.6 s CPU, 2,000 files 3.5 s CPU per pause, single worker thread)."""
    folder = tmp_path / "svc"
    folder.mkdir()
    (tmp_path / "go.mod").write_text("module example.com/m\n\ngo 1.21\n")
    for i in range(600):
        (folder / f"f{i:04d}.go").write_text(f"package svc\n\nfunc F{i}(a int) int {{\n\treturn a + {i}\n}}\n")
    uri = (folder / "main.go").as_uri()
    text = "package svc\n\nfunc Main() {\n\tx := F1(2)\n\t_ = x\n}\n"
    engine = ContextEngine(ContextConfig(), path_of=_path_of)
    engine.set_roots([str(tmp_path)])
    engine.opened(uri, text, "go", 1)
    assert "func F1(a int) int" in engine.block(uri, 3).project + engine.block(uri, 3).file  # sanity
    parses = []
    real = resolve.parse
    monkeypatch.setattr(resolve, "parse", lambda *a, **k: parses.append(1) or real(*a, **k))
    engine.changed(uri, text + "// typed\n", 2, 6)  # no loop: analysed at once
    assert len(parses) <= 2, f"one keystroke re-parsed {len(parses)} unchanged files"


def test_editor_location_past_the_end_gives_no_empty_item(tmp_path: Path):
    """A client answering deepseek/definitions with a line past the end of the file (a stale or
    garbage answer) must not put empty items into the shared project block."""
    (tmp_path / "other.py").write_text("def magic(n):\n    return n\n")
    uri = (tmp_path / "app.py").as_uri()

    async def run() -> str:
        engine = ContextEngine(ContextConfig(), path_of=_path_of)

        async def provider(_uri, positions):
            return [[(str(tmp_path / "other.py"), 10**9)] for _ in positions]

        engine.definitions_provider = provider
        engine.opened(uri, "x = magic(1)\ny = wizard(2)\n", "python", 1)
        for _ in range(50):
            await asyncio.sleep(0.05)
            if engine.stats["editor_requests"] and not engine.pending(uri):
                break
        block = engine.block(uri, 1)
        engine.close()
        return block.project + block.file

    context = asyncio.run(run())
    assert "Other file: other.py\n\n" not in context, f"empty definitions were sent: {context!r}"
