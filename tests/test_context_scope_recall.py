"""Context engine fault families from review 12, one test per member (the reviewer's own tests are
in tests/test_review12_*.py): reading outside the workspace, Go re-analysis cost, resolver gaps,
the names asked through deepseek/definitions, editor locations past the end of a file."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

import deepseek_ls.context.resolve as resolve
from deepseek_ls.context import ContextConfig, ContextEngine
from deepseek_ls.context.parse import editor_names
from deepseek_ls.features.context import _path_of

SECRET = "OUTSIDE_SECRET_7f3a"


def write(root: Path, files: dict[str, str]) -> None:
    for rel, body in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(body)


def context_of(roots: list[Path], app: Path, text: str, language_id: str, line: int | None = None,
               allowed=lambda p: True, part: str = "both") -> str:
    """The context for ``app``: ``part`` "both" (project block + file block) or "file" (the file's
    own block: what its imports resolved to, beyond the project map every file shares)."""
    engine = ContextEngine(ContextConfig(), allowed=allowed, path_of=_path_of)
    engine.set_roots([str(r) for r in roots])
    uri = app.as_uri()
    engine.opened(uri, text, language_id, 1)  # no loop: analysed now
    block = engine.block(uri, text.count("\n") - 1 if line is None else line)
    engine.close()
    return block.file if part == "file" else block.project + block.file


# -- (2) never read outside the workspace folders ------------------------------------------

OUTSIDE_PY = f"def leaked(a):\n    return '{SECRET}'\n"
OUTSIDE_TS = f"export function leaked(a: number) {{\n  return '{SECRET}';\n}}\n"
OUTSIDE_GO = f"package ext\n\nfunc Leaked() string {{\n\treturn \"{SECRET}\"\n}}\n"

SCOPE = {
    # workspace "ws" is itself a package: its parent must not become an import root
    "python-absolute-from-parent": (
        {"leaked_mod.py": OUTSIDE_PY, "ws/__init__.py": "", "ws/sub/__init__.py": ""},
        "ws/sub/app.py", "from leaked_mod import leaked\n\nx = leaked(1)\n", "python"),
    "python-relative-above-root": (
        {"leaked_mod.py": OUTSIDE_PY, "ws/__init__.py": "", "ws/sub/__init__.py": ""},
        "ws/sub/app.py", "from ...leaked_mod import leaked\n\nx = leaked(1)\n", "python"),
    "python-symlinked-file": (
        {"leaked_mod.py": OUTSIDE_PY, "ws/app_dir/__init__.py": ""},
        "ws/app_dir/app.py", "from .linked import leaked\n\nx = leaked(1)\n", "python"),
    "ts-relative-above-root": (
        {"leaked.ts": OUTSIDE_TS},
        "ws/src/app.ts", 'import { leaked } from "../../leaked";\n\nconst x = leaked(1);\n', "typescript"),
    "ts-paths-alias-outside": (
        {"shared/leaked.ts": OUTSIDE_TS,
         "ws/tsconfig.json": '{"compilerOptions": {"baseUrl": ".", "paths": {"@shared/*": ["../shared/*"]}}}'},
        "ws/src/app.ts", 'import { leaked } from "@shared/leaked";\n\nconst x = leaked(1);\n', "typescript"),
    "ts-extends-outside": (
        {"shared/leaked.ts": OUTSIDE_TS,
         "tsconfig.base.json": '{"compilerOptions": {"baseUrl": ".", "paths": {"@shared/*": ["shared/*"]}}}',
         "ws/tsconfig.json": '{"extends": "../tsconfig.base.json"}'},
        "ws/src/app.ts", 'import { leaked } from "@shared/leaked";\n\nconst x = leaked(1);\n', "typescript"),
    "go-replace-outside": (
        {"ext/go.mod": "module example.com/ext\n", "ext/e.go": OUTSIDE_GO,
         "ws/go.mod": "module example.com/m\n\nrequire example.com/ext v0.0.0\n\nreplace example.com/ext => ../ext\n"},
        "ws/main.go", 'package main\n\nimport "example.com/ext"\n\nfunc main() {\n\text.Leaked()\n}\n', "go"),
    "go-work-outside": (
        {"go.work": "go 1.21\n\nuse (\n\t./ws\n\t./ext\n)\n", "ext/go.mod": "module example.com/ext\n",
         "ext/e.go": OUTSIDE_GO, "ws/go.mod": "module example.com/m\n"},
        "ws/main.go", 'package main\n\nimport "example.com/ext"\n\nfunc main() {\n\text.Leaked()\n}\n', "go"),
    "go-mod-above-root": (  # the workspace is a folder inside a module: the go.mod above is not read
        {"go.mod": "module example.com/m\n", "ext/e.go": OUTSIDE_GO},
        "ws/main.go", 'package main\n\nimport "example.com/m/ext"\n\nfunc main() {\n\text.Leaked()\n}\n', "go"),
}


@pytest.mark.parametrize("name", list(SCOPE))
def test_nothing_outside_the_workspace_is_read(tmp_path: Path, name: str, monkeypatch):
    files, app, text, language_id = SCOPE[name]
    write(tmp_path, files)
    if name == "python-symlinked-file":
        os.symlink(tmp_path / "leaked_mod.py", tmp_path / "ws/app_dir/linked.py")
    read: list[str] = []
    real_open = open

    def spy(file, *a, **k):
        read.append(os.path.realpath(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr(resolve, "open", spy, raising=False)  # every file resolve.py reads
    context = context_of([tmp_path / "ws"], tmp_path / app, text, language_id)
    outside = [p for p in read if not p.startswith(str((tmp_path / "ws").resolve()) + os.sep)]
    assert not outside, f"{name}: read outside the workspace: {outside}"
    assert SECRET not in context and "leaked" not in context.replace("leaked(1)", "")


def test_inside_the_workspace_the_same_imports_resolve(tmp_path: Path):
    """The scope check is not a blanket refusal: the same shapes inside the workspace resolve."""
    write(tmp_path, {"ws/__init__.py": "", "ws/sub/__init__.py": "", "ws/sub/mod.py": OUTSIDE_PY})
    context = context_of([tmp_path / "ws"], tmp_path / "ws/sub/app.py",
                         "from ..sub.mod import leaked\n\nx = leaked(1)\n", "python")
    assert "def leaked(a):" in context


def test_no_roots_the_open_files_folder_is_the_scope(tmp_path: Path):
    write(tmp_path, {"leaked_mod.py": OUTSIDE_PY, "proj/helper.py": "def near(a):\n    return a\n"})
    engine = ContextEngine(ContextConfig(), path_of=_path_of)  # no set_roots: a lone file
    uri = (tmp_path / "proj/app.py").as_uri()
    text = "from .helper import near\nfrom ..leaked_mod import leaked\n\nx = near(leaked(1))\n"
    engine.opened(uri, text, "python", 1)
    block = engine.block(uri, 3)
    engine.close()
    assert "def near(a):" in block.project + block.file
    assert SECRET not in block.project + block.file


def test_symlink_inside_to_an_excluded_file_is_not_read(tmp_path: Path):
    """The exclusion policy is asked about the real path too (a link named like code to `.env`)."""
    write(tmp_path, {"ws/.env.py": f"TOKEN = '{SECRET}'\n"})
    os.symlink(tmp_path / "ws/.env.py", tmp_path / "ws/settings.py")
    context = context_of([tmp_path / "ws"], tmp_path / "ws/app.py", "from settings import TOKEN\n\nx = TOKEN\n",
                         "python", allowed=lambda p: not os.path.basename(p).startswith(".env"))
    assert SECRET not in context


# -- (5) a big Go package is not parsed again per pause ---------------------------------------

def _go_package(tmp_path: Path, count: int) -> tuple[str, str]:
    folder = tmp_path / "svc"
    folder.mkdir()
    (tmp_path / "go.mod").write_text("module example.com/m\n")
    for i in range(count):
        (folder / f"f{i:04d}.go").write_text(f"package svc\n\nfunc F{i}(a int) int {{\n\treturn F{(i + 1) % count}(a)\n}}\n")
    return (folder / "main.go").as_uri(), "package svc\n\nfunc Main() {\n\tx := F1(2)\n\t_ = x\n}\n"


def test_go_package_one_file_changed_on_disk_parses_one(tmp_path: Path, monkeypatch):
    uri, text = _go_package(tmp_path, 600)
    engine = ContextEngine(ContextConfig(), path_of=_path_of)
    engine.set_roots([str(tmp_path)])
    engine.opened(uri, text, "go", 1)
    (tmp_path / "svc/f0007.go").write_text("package svc\n\nfunc F7(a int, b int) int {\n\treturn a\n}\n")
    before = engine.workspace.parses
    engine.changed(uri, text + "// typed\n", 2, 6)
    engine.changed(uri, text + "// typed more\n", 3, 6)
    assert engine.workspace.parses - before <= 3, engine.workspace.parses - before  # f0007 + the open file twice
    engine.close()


def test_go_package_work_per_pause_is_capped(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(resolve, "MAX_PACKAGE_FILES", 50)
    uri, text = _go_package(tmp_path, 120)
    engine = ContextEngine(ContextConfig(), path_of=_path_of)
    engine.set_roots([str(tmp_path)])
    engine.opened(uri, text, "go", 1)
    assert engine.workspace.parses <= 52, engine.workspace.parses  # 50 package files, the open file, go.mod none
    engine.close()


# -- (6) resolver recall ------------------------------------------------------------------

RECALL = {
    "js-require-module": (
        {"lib/helper.js": "function helper(a) {\n  return a * 2;\n}\nmodule.exports = { helper };\n"},
        "lib/app.js", 'const h = require("./helper");\n\nconst x = h.helper(1);\n', "javascript", "function helper("),
    "js-require-renamed": (
        {"lib/helper.js": "function helper(a) {\n  return a * 2;\n}\nmodule.exports = { helper };\n"},
        "lib/app.js", 'const { helper: hh } = require("./helper");\n\nconst x = hh(1);\n', "javascript",
        "function helper("),
    "ts-baseurl-only": (
        {"tsconfig.json": '{"compilerOptions": {"baseUrl": "src"}}',
         "src/lib/util.ts": "export function slugify(s: string): string {\n  return s;\n}\n"},
        "src/app.ts", 'import { slugify } from "lib/util";\n\nconst x = slugify("A");\n', "typescript",
        "function slugify("),
    "ts-paths-in-extended-config-with-comments": (
        {"tsconfig.base.json": '{\n  // shared\n  "compilerOptions": {"baseUrl": ".", "paths": {"~/*": ["src/*"],},},\n}',
         "tsconfig.json": '{"extends": "./tsconfig.base.json", /* app */ "include": ["src"]}',
         "src/lib/util.ts": "export function slugify(s: string): string {\n  return s;\n}\n"},
        "src/app.ts", 'import { slugify } from "~/lib/util";\n\nconst x = slugify("A");\n', "typescript",
        "function slugify("),
    "js-jsconfig-paths": (
        {"jsconfig.json": '{"compilerOptions": {"baseUrl": ".", "paths": {"@/*": ["src/*"]}}}',
         "src/lib/util.js": "export function slugify(s) {\n  return s;\n}\n"},
        "src/app.js", 'import { slugify } from "@/lib/util";\n\nconst x = slugify("A");\n', "javascript",
        "function slugify("),
    "ts-default-arrow-const": (
        {"src/make.ts": "const make = (n: number) => n + 1;\nexport default make;\n"},
        "src/app.ts", 'import mk from "./make";\n\nconst x = mk(1);\n', "typescript", "const make ="),
    "go-folder-with-dot": (
        {"go.mod": "module example.com/m\n", "yaml.v3/y.go": "package yaml\n\nfunc Parse(s string) int {\n\treturn 0\n}\n"},
        "cmd/main.go", 'package main\n\nimport "example.com/m/yaml.v3"\n\nfunc main() {\n\tyaml.Parse("")\n}\n', "go",
        "func Parse("),
    "go-work-single-use-lines": (
        {"go.work": "go 1.21\n\nuse ./app\nuse ./lib\n", "lib/go.mod": "module example.com/lib\n",
         "lib/util/u.go": "package util\n\nfunc Helper() int {\n\treturn 1\n}\n", "app/go.mod": "module example.com/app\n"},
        "app/main.go", 'package main\n\nimport "example.com/lib/util"\n\nfunc main() {\n\tutil.Helper()\n}\n', "go",
        "func Helper("),
    "go-replace-inside": (
        {"go.mod": "module example.com/m\n\nreplace (\n\texample.com/vendored => ./third_party/vendored\n)\n",
         "third_party/vendored/go.mod": "module example.com/vendored\n",
         "third_party/vendored/v.go": "package vendored\n\nfunc Do() int {\n\treturn 1\n}\n"},
        "main.go", 'package main\n\nimport "example.com/vendored"\n\nfunc main() {\n\tvendored.Do()\n}\n', "go",
        "func Do("),
    "python-star-reexport-in-init": (
        {"pkg/__init__.py": "from .impl import *\n", "pkg/impl.py": "def public_fn(a):\n    return a\n"},
        "app.py", "from pkg import public_fn\n\nx = public_fn(1)\n", "python", "def public_fn(a):"),
    "python-deep-dotted-import": (
        {"a/__init__.py": "", "a/b/__init__.py": "", "a/b/c.py": "def deep(a):\n    return a\n"},
        "app.py", "import a.b.c\n\nx = a.b.c.deep(1)\n", "python", "def deep(a):"),
}


@pytest.mark.parametrize("name", list(RECALL))
def test_import_form_resolves(tmp_path: Path, name: str):
    files, app, text, language_id, want = RECALL[name]
    write(tmp_path, files)
    assert want in context_of([tmp_path], tmp_path / app, text, language_id), f"{name}: not resolved"


def test_python_star_import_sends_only_used_names(tmp_path: Path):
    write(tmp_path, {"pkg/__init__.py": "", "pkg/m.py": "def used_one(a):\n    return a\n\ndef unused_two(b):\n    return b\n"})
    context = context_of([tmp_path], tmp_path / "pkg/app.py", "from .m import *\n\nx = used_one(1)\n", "python")
    own = context_of([tmp_path], tmp_path / "pkg/app.py", "from .m import *\n\nx = used_one(1)\n", "python",
                     part="file")
    # the star import brings the name in use; the rest of m.py may only come with the project map
    assert "def used_one(a):" in context and "unused_two" not in own


def test_multi_root_go_and_ts_stay_in_their_root(tmp_path: Path):
    """Relative TS and module-based Go imports never cross into the other root."""
    write(tmp_path, {"A/src/util.ts": "export function f(a: number) {\n  return 'A';\n}\n",
                     "B/src/util.ts": "export function f(b: string) {\n  return 'B';\n}\n"})
    context = context_of([tmp_path / "B", tmp_path / "A"], tmp_path / "A/src/app.ts",
                         'import { f } from "./util";\n\nf(1);\n', "typescript")
    own = context_of([tmp_path / "B", tmp_path / "A"], tmp_path / "A/src/app.ts",
                     'import { f } from "./util";\n\nf(1);\n', "typescript", part="file")
    # the import resolves in the file's own root; B's file may only appear in the shared project map
    assert "function f(a: number)" in context and "function f(b: string)" not in own


# -- (7) deepseek/definitions: names worth asking ------------------------------------------

@pytest.mark.parametrize("language,text,want,never", [
    ("python", "def f(self, items):\n    for x in items:\n        if x is None or not x:\n"
               "            return len(items) + vendored(x)\n    raise ValueError('unknown_word')\n",
     {"vendored"}, {"def", "self", "for", "in", "if", "is", "None", "or", "not", "return", "len", "raise",
                    "ValueError", "unknown_word"}),
    ("typescript", "export function f(this: any, n: number): string {\n  const v = vendored(n) // comment_word\n"
                   "  if (v === null || v === undefined) { return console.log(typeof v); }\n  return `tpl_word`;\n}\n",
     {"vendored"}, {"export", "function", "this", "any", "number", "string", "const", "if", "null", "undefined",
                    "return", "console", "typeof", "comment_word", "tpl_word"}),
    ("go", "package main\n\nfunc f(n int) error {\n\tv := make([]string, len(vendored(n)))\n"
           "\tif v == nil {\n\t\treturn nil\n\t}\n\treturn fmt.Errorf(\"str_word %d\", n)\n}\n",
     {"vendored", "fmt"}, {"package", "func", "int", "error", "make", "string", "len", "if", "nil", "return",
                           "str_word"}),
])
def test_editor_names_skip_keywords_builtins_strings(language: str, text: str, want: set[str], never: set[str]):
    lines = text.split("\n")
    names = editor_names(lines, len(lines) - 2, language, set(), 16)
    assert want <= set(names), names
    assert not never & set(names), sorted(never & set(names))
    for name, (row, column) in names.items():  # each position points at its name
        assert lines[row][column:column + len(name)] == name


def test_editor_names_prefer_calls_and_types_within_the_limit():
    lines = ["a_local = 1", "b_local = 2", "c_local = 3", "d_local = 4", "result = Unresolved(a_local) + helper(b_local)"]
    names = editor_names(lines, 4, "python", set(), 2)
    assert set(names) == {"Unresolved", "helper"}, names


def test_editor_names_skip_resolved():
    names = editor_names(["x = resolved_fn(1) + other_fn(2)"], 0, "python", {"resolved_fn"}, 16)
    assert "resolved_fn" not in names and "other_fn" in names


# -- (9) editor locations that point at nothing ---------------------------------------------

@pytest.mark.parametrize("line", [10**9, 3], ids=["past-the-end", "blank-lines"])
def test_editor_location_at_nothing_gives_no_item(tmp_path: Path, line: int):
    (tmp_path / "other.py").write_text("def magic(n):\n    return n\n\n\n\n\n\n\n\n\n")
    uri = (tmp_path / "app.py").as_uri()

    async def run() -> str:
        engine = ContextEngine(ContextConfig(), path_of=_path_of)
        engine.set_roots([str(tmp_path)])

        async def provider(_uri, positions):
            return [[(str(tmp_path / "other.py"), line)] for _ in positions]

        engine.definitions_provider = provider
        engine.opened(uri, "x = magic(1)\ny = wizard(2)\n", "python", 1)
        for _ in range(50):
            await asyncio.sleep(0.05)
            if engine.stats["editor_requests"] and not engine.pending(uri):
                break
        assert engine.stats["editor_requests"]  # sanity: the editor was asked
        block = engine.block(uri, 1)
        engine.close()
        return block.project + block.file

    context = asyncio.run(run())
    # no item without text (other.py's own definition may come with the project map)
    assert not re.search(r"Other file: other\.py\n\s*(#|$)", context), context


def test_open_file_outside_the_roots_gets_no_neighbours_from_disk(tmp_path: Path):
    """A file opened from outside the workspace folders: its own text is analysed, but the files
    next to it (outside) are not read."""
    write(tmp_path, {"elsewhere/leaked_mod.py": OUTSIDE_PY, "ws/main.py": ""})
    context = context_of([tmp_path / "ws"], tmp_path / "elsewhere/app.py",
                         "from leaked_mod import leaked\n\nx = leaked(1)\n", "python")
    assert SECRET not in context
