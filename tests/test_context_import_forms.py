"""Import forms the context engine follows beyond the plain top-level ones (review of issue 12):
an import inside a function or another block (Python), a local ``export { a as b }`` and a
dynamic ``import()`` or a ``require()`` inside a function (TypeScript/JavaScript), and methods
of an imported package's types called on a value (Go). One test per form; each file of the
project is on disk, the file being typed is open, and the definition must reach the context."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepseek_ls.context import ContextEngine
from tests.test_context import context_text, make_engine, open_file, write


def followed(engine: ContextEngine, uri: str) -> set[str]:
    """The names the file's imports led to (its candidates; a small project's block may carry
    the definition anyway, so the text alone would not show that the import was followed)."""
    return {c.item.key[1] for c in engine._analyses[uri].candidates}

PY_LIB = "def fn_local(arg_one: int, arg_two: str) -> bool:\n    '''FN_LOCAL_MARKER'''\n    return True\n"


@pytest.mark.parametrize("code", [
    # an import inside a function
    "def work():\n    from proj.lib import fn_local\n    fn_local(",
    # inside a method
    "class Job:\n    def run(self):\n        from .lib import fn_local\n        return fn_local(",
    # inside a with block of a function
    "def work(lock):\n    with lock:\n        import proj.lib as lib\n        lib.fn_local(",
    # in an else branch at module level
    "if False:\n    pass\nelse:\n    from proj.lib import fn_local\n\nfn_local(",
], ids=["function", "method", "with-block", "else-branch"])
def test_python_imports_below_the_top_level(tmp_path: Path, code: str) -> None:
    write(tmp_path, {"proj/__init__.py": "", "proj/lib.py": PY_LIB, "pyproject.toml": "[project]\nname='p'\n"})
    engine = make_engine(tmp_path)
    uri = open_file(engine, tmp_path, "proj/main.py", "python", code)
    assert "fn_local" in followed(engine, uri)
    assert "FN_LOCAL_MARKER" in context_text(engine, uri, code.count("\n"))


TS_LIB = "export function fnDyn(argOne: number): string {\n  return 'FN_DYN_MARKER';\n}\n"


@pytest.mark.parametrize(("files", "code", "name"), [
    # `export { a as b }` in the same file
    ({"src/t7.ts": "function inner7(argOne: number): string {\n  return 'FN_RENAME_MARKER';\n}\n"
                   "export { inner7 as fnRenamed };\n"},
     "import { fnRenamed } from './t7';\n\nexport function work() {\n  fnRenamed(", "fnRenamed"),
    # `export { x as y }` of an imported name: followed to where it is defined
    ({"src/impl.ts": "export function fnOrig(argOne: number): string {\n  return 'FN_REEXPORT_MARKER';\n}\n",
      "src/api.ts": "import { fnOrig } from './impl';\nexport { fnOrig as fnPublic };\n"},
     "import { fnPublic } from './api';\n\nexport function work() {\n  fnPublic(", "fnOrig"),
    # a dynamic import inside a function
    ({"src/t8.ts": TS_LIB},
     "export async function work() {\n  const m = await import('./t8');\n  m.fnDyn(", "fnDyn"),
    # a dynamic import at the top level (ES modules' top-level await), destructured
    ({"src/t8.ts": TS_LIB},
     "const { fnDyn } = await import('./t8');\n\nfnDyn(", "fnDyn"),
    # a require inside a function (CommonJS)
    ({"src/t8.ts": TS_LIB},
     "function work() {\n  const { fnDyn } = require('./t8');\n  return fnDyn(", "fnDyn"),
], ids=["local-export-alias", "export-alias-of-import", "dynamic-import-in-function",
        "dynamic-import-top-level", "require-in-function"])
def test_typescript_import_forms(tmp_path: Path, files: dict[str, str], code: str, name: str) -> None:
    write(tmp_path, {"package.json": '{"name": "app"}', **files})
    marker = next(m for m in ("FN_RENAME_MARKER", "FN_REEXPORT_MARKER", "FN_DYN_MARKER")
                  if any(m in text for text in files.values()))
    engine = make_engine(tmp_path)
    uri = open_file(engine, tmp_path, "src/main.ts", "typescript", code)
    assert name in followed(engine, uri)
    assert marker in context_text(engine, uri, code.count("\n"))


GO_STORE = ("package store\n\ntype DB struct{ dsn string }\n\n// QueryRow runs one query. METHOD_MARKER\n"
            "func (d *DB) QueryRow(sql string, args ...any) error { return nil }\n\n"
            "// Close is never called by main.go. UNUSED_MARKER\nfunc (d *DB) Close() error { return nil }\n\n"
            "type Other struct{}\n\n// QueryRow of a type main.go never sees. OTHER_MARKER\n"
            "func (o *Other) QueryRow(sql string) error { return nil }\n\n"
            "// New opens the store: its doc comment comes before its signature.\n"
            "func New(dsn string) *DB { return &DB{dsn} }\n")


def test_go_methods_of_an_imported_type_called_on_a_value(tmp_path: Path) -> None:
    write(tmp_path, {"go.mod": "module example.com/app\n\ngo 1.22\n", "pkg/store/s.go": GO_STORE})
    code = ("package main\n\nimport \"example.com/app/pkg/store\"\n\nfunc main() {\n"
            "\tdb := store.New(\"x\")\n\tdb.QueryRow(")
    engine = make_engine(tmp_path)
    uri = open_file(engine, tmp_path, "cmd/main.go", "go", code)
    text = context_text(engine, uri, code.count("\n"))
    assert "DB.QueryRow" in followed(engine, uri)
    assert "METHOD_MARKER" in text  # New returns *DB: DB's QueryRow
    assert "UNUSED_MARKER" not in text  # a method the file never calls
    assert "OTHER_MARKER" not in text  # the same method name on a type the file never meets


@pytest.mark.parametrize(("lib", "code", "name"), [
    # `module.exports = function name()`: what `const x = require()` gets, called as x()
    ("module.exports = function plainCjs(argOne) {\n  return 'CJS_MARKER';\n};\n",
     "const plain = require('./lib');\n\nfunction work() {\n  return plain(", "plainCjs"),
    # `exports.name = function`
    ("exports.expFn = function (argOne) {\n  return 'CJS_MARKER';\n};\n",
     "const lib = require('./lib');\n\nfunction work() {\n  return lib.expFn(", "expFn"),
    # `module.exports.name = arrow`, destructured
    ("module.exports.modExp = (argOne) => 'CJS_MARKER';\n",
     "const { modExp } = require('./lib');\n\nmodExp(", "modExp"),
    # `exports.name = a function declared above` (as `export { a as name }`)
    ("function inner(argOne) {\n  return 'CJS_MARKER';\n}\nexports.outer = inner;\n",
     "const { outer } = require('./lib');\n\nouter(", "outer"),
    # `module.exports = Name` of a class declared above
    ("class Store {\n  get(key) { return 'CJS_MARKER'; }\n}\nmodule.exports = Store;\n",
     "const Store = require('./lib');\n\nnew Store(", "Store"),
], ids=["module-exports-function", "exports-dot-name", "module-exports-dot-name", "exports-name-of-declared",
        "module-exports-class"])
def test_commonjs_export_forms(tmp_path: Path, lib: str, code: str, name: str) -> None:
    write(tmp_path, {"package.json": '{"name": "app"}', "src/lib.js": lib})
    engine = make_engine(tmp_path)
    uri = open_file(engine, tmp_path, "src/main.js", "javascript", code)
    assert name in followed(engine, uri)
    text = context_text(engine, uri, code.count("\n"))
    assert "CJS_MARKER" in text
    assert text.count("CJS_MARKER") == 1  # once, also where two names lead to one definition


def test_an_export_alias_is_rendered_once(tmp_path: Path) -> None:
    """`export { inner as outer }`: both names are one definition; the prompt carries it once."""
    write(tmp_path, {"package.json": '{"name": "app"}',
                     "src/t7.ts": "function inner7(argOne: number): string {\n  return 'ONCE_MARKER';\n}\n"
                                  "export { inner7 as fnRenamed };\n",
                     "src/user.ts": "import { fnRenamed } from './t7';\nfnRenamed(1);\n"})
    engine = make_engine(tmp_path)
    code = "import { fnRenamed } from './t7';\n\nexport function work() {\n  fnRenamed("
    uri = open_file(engine, tmp_path, "src/main.ts", "typescript", code)
    assert context_text(engine, uri, 3).count("ONCE_MARKER") == 1


def test_an_inferred_go_method_counts_only_near_the_cursor(tmp_path: Path) -> None:
    """Methods found by inference (a call `.M(` on a value of an imported type) rank after every
    other candidate unless called near the cursor: in cobra's docs generators they crowded the
    package's own popular helpers (`hasSeeAlso`) out of the block."""
    filler = "".join(f"\tv{i} := {i}\n" for i in range(80))
    code = ("package main\n\nimport \"example.com/app/pkg/store\"\n\nfunc main() {\n"
            "\tdb := store.New(\"x\")\n\tdb.QueryRow(\"select 1\")\n" + filler + "\t")
    write(tmp_path, {"go.mod": "module example.com/app\n\ngo 1.22\n", "pkg/store/s.go": GO_STORE})
    engine = make_engine(tmp_path)
    uri = open_file(engine, tmp_path, "cmd/main.go", "go", code)
    analysis = engine._analyses[uri]
    far = [i.key[1] for i in engine._rank(analysis, code.count("\n"))]
    near = [i.key[1] for i in engine._rank(analysis, 6)]
    assert far[-1] == "DB.QueryRow" and near[0] == "DB.QueryRow"
