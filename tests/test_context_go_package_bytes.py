"""A huge Go package is read up to a byte budget (review of issue 12): the package's files
are kept parsed as a whole, and a parsed file holds about 10 times its size, so 150 generated
files of 0.9 MB took the server to 1.5 GB (and its analysis thread 35 s, during which no other
file got its context). Counted in files parsed, not time."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepseek_ls.context import ContextConfig, ContextEngine, resolve


def _path_of(uri: str) -> str | None:
    return uri[len("file://"):] if uri.startswith("file://") else None


def _package(tmp_path: Path, count: int, funcs: int) -> tuple[str, str]:
    folder = tmp_path / "gen"
    folder.mkdir()
    (tmp_path / "go.mod").write_text("module example.com/m\n", encoding="utf-8")
    for i in range(count):
        body = "".join(f"func G{i}_{j}(a int) int {{\n\treturn a + {j}\n}}\n\n" for j in range(funcs))
        (folder / f"f{i:03d}.go").write_text(f"package gen\n\n// F{i} is here.\nfunc F{i}() int {{ return {i} }}\n\n{body}",
                                             encoding="utf-8")
    return (folder / "zmain.go").as_uri(), "package gen\n\nfunc Use() int {\n\tx := F1()\n\t\n\treturn x\n}\n"


def test_a_huge_go_package_is_read_up_to_its_byte_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri, text = _package(tmp_path, 20, 400)  # about 12 KB a file
    size = (tmp_path / "gen" / "f000.go").stat().st_size
    monkeypatch.setattr(resolve, "MAX_PACKAGE_BYTES", int(size * 4.5))
    engine = ContextEngine(ContextConfig(), path_of=_path_of)
    try:
        engine.set_roots([str(tmp_path)])
        engine.opened(uri, text, "go", 1)  # no loop: analysed now
        assert engine.workspace.parses <= 4 + 1 + 1, engine.workspace.parses  # 4 files, the open one, a package clause
        block = engine.block(uri, 4)
        assert "func F1() int" in block.project + block.file + block.late  # the files read still serve
    finally:
        engine.close()


def test_a_package_within_the_budget_is_read_whole(tmp_path: Path) -> None:
    uri, text = _package(tmp_path, 12, 5)
    engine = ContextEngine(ContextConfig(), path_of=_path_of)
    try:
        engine.set_roots([str(tmp_path)])
        engine.opened(uri, text, "go", 1)
        files, _counts = engine.workspace.go_package(str(tmp_path / "gen"), "gen", exclude=_path_of(uri) or "")
        assert len(files) == 12
    finally:
        engine.close()
