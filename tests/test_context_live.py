"""The context engine follows live changes (review 12): exclusions, deleted files, switches,
and no definition sent twice. Driven directly (no event loop: analyses run at once)."""

from __future__ import annotations

from pathlib import Path

from deepseek_ls.context import ContextConfig, ContextEngine
from deepseek_ls.features.context import _path_of
from deepseek_ls.snapshot import DocumentSnapshot

APP = "from .helpers import compute_total\n\ndef checkout(cart):\n    total = compute_total(cart)\n    \n"
HELPERS = "def compute_total(items, tax_rate=0.2):\n    return sum(items) * (1 + tax_rate)\n"


def _workspace(tmp_path: Path) -> tuple[str, Path]:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text(HELPERS)
    (pkg / "app.py").write_text(APP)  # on disk too: the project map finds the use
    return (pkg / "app.py").as_uri(), pkg / "helpers.py"


def _sent(engine: ContextEngine, uri: str) -> str:
    block = engine.block(uri, 4)
    return block.project + block.file + block.late


def test_file_excluded_after_the_blocks_were_built_is_not_sent(tmp_path: Path):
    uri, helpers = _workspace(tmp_path)
    excluded: set[str] = set()
    engine = ContextEngine(ContextConfig(), allowed=lambda p: p not in excluded, path_of=_path_of)
    engine.set_roots([str(tmp_path)])
    engine.opened(uri, APP, "python", 1)
    assert "def compute_total(" in _sent(engine, uri)  # sanity
    excluded.add(str(helpers))  # the policy now excludes it: no analysis in between
    block = engine.block(uri, 4)
    assert "def compute_total(" not in block.project + block.file
    assert all(key[0] != str(helpers) for key in block.keys)
    excluded.clear()  # allowed again: back
    assert "def compute_total(" in _sent(engine, uri)


def test_deleted_file_is_not_sent(tmp_path: Path):
    uri, helpers = _workspace(tmp_path)
    engine = ContextEngine(ContextConfig(), path_of=_path_of)
    engine.set_roots([str(tmp_path)])
    engine.opened(uri, APP, "python", 1)
    assert "def compute_total(" in _sent(engine, uri)
    helpers.unlink()
    engine._exists.clear()  # the existence check is reused for a second
    assert "def compute_total(" not in _sent(engine, uri)


def test_definitions_switched_off_drop_their_items_at_once(tmp_path: Path):
    uri, _helpers = _workspace(tmp_path)
    engine = ContextEngine(ContextConfig(), path_of=_path_of)
    engine.set_roots([str(tmp_path)])
    engine.opened(uri, APP, "python", 1)
    assert "def compute_total(" in _sent(engine, uri)
    engine.configure(ContextConfig(definitions=False))
    assert "def compute_total(" not in _sent(engine, uri)


def test_open_file_covered_by_the_blocks_is_not_listed_again(tmp_path: Path):
    uri, helpers = _workspace(tmp_path)
    engine = ContextEngine(ContextConfig(), path_of=_path_of)
    engine.set_roots([str(tmp_path)])
    engine.opened(uri, APP, "python", 1)
    assert "def compute_total(" in _sent(engine, uri)
    covered = DocumentSnapshot(helpers.as_uri(), "pkg/helpers.py", "python", HELPERS, 1)
    more = DocumentSnapshot((tmp_path / "pkg" / "more.py").as_uri(), "pkg/more.py", "python",
                            HELPERS + "\ndef other_thing():\n    return 1\n", 1)
    listed = engine.pin_others(uri, (covered, more))
    assert listed == (more,), "a file whose start the blocks carry is listed again (paid twice)"
