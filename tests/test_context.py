"""The context engine's core (deepseek_ls/context) on small synthetic projects."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from deepseek_ls.context import ContextConfig, ContextEngine, parse, rough_tokens
from deepseek_ls.context.engine import Item, _render, comment_of, snippet_band
from deepseek_ls.context.parse import definition_at


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def make_engine(root: Path, config: ContextConfig | None = None, allowed=lambda p: True) -> ContextEngine:
    engine = ContextEngine(config, allowed=allowed, display=lambda p: os.path.relpath(p, root).replace(os.sep, "/"),
                           path_of=lambda u: os.path.normpath(u[len("file://"):]) if u.startswith("file://") else None)
    engine.set_roots([str(root)])
    return engine


def open_file(engine: ContextEngine, root: Path, rel: str, language: str, text: str | None = None,
              version: int = 1) -> str:
    uri = f"file://{root / rel}"
    engine.opened(uri, text if text is not None else (root / rel).read_text(), language, version)  # no loop: now
    return uri


def context_text(engine: ContextEngine, uri: str, line: int = 0) -> str:
    block = engine.block(uri, line)
    return block.project + block.file + block.late


# -- Python -------------------------------------------------------------------
PY = {
    "pkg/__init__.py": "from .models import User as User\n",
    "pkg/models.py": ('class User:\n    """A user of the app.\n\n    More text.\n    """\n\n'
                      '    def __init__(self, name: str) -> None:\n        self.name = name\n\n'
                      '    def greet(self) -> str:\n        return "hi " + self.name\n'),
    "pkg/util.py": ('MAX_RETRIES = 3\n\n\ndef slugify(text: str, sep: str = "-") -> str:\n'
                    '    """Make a slug."""\n    return sep.join(text.lower().split())\n'),
    "pkg/sub/deep.py": "def deep_helper(x):\n    return x * 2\n",
    "pkg/long.py": "def long_function(a, b):\n    \"\"\"First line of the doc.\n\n    More.\n    \"\"\"\n"
                   + "".join(f"    v{i} = a + b + {i}\n" for i in range(40)) + "    return a\n",
    "src/other/api.py": "def fetch_items(limit: int = 10) -> list:\n    return []\n",
    # private names: never in the project map unless a file of the project uses them
    "pkg/priv.py": "def _first_new(x):\n    return x + 1\n\n\ndef _second_new(y):\n    return y * 3\n",
}


@pytest.fixture
def py_root(tmp_path: Path) -> Path:
    write(tmp_path, PY)
    return tmp_path


def test_python_relative_imports_and_short_bodies(py_root: Path):
    engine = make_engine(py_root)
    uri = open_file(engine, py_root, "pkg/app.py", "python",
                    "from .util import slugify, MAX_RETRIES\nfrom .sub.deep import deep_helper\n\n"
                    "def run(t):\n    s = slugify(t)\n    return deep_helper(s)\n")
    text = context_text(engine, uri, 4)
    assert 'def slugify(text: str, sep: str = "-") -> str:\n    """Make a slug."""\n    return' in text
    assert "MAX_RETRIES = 3" in text
    assert "def deep_helper(x):\n    return x * 2" in text
    assert "# Other file: pkg/util.py\n" in text


def test_python_module_bindings_and_reexports(py_root: Path):
    engine = make_engine(py_root)
    uri = open_file(engine, py_root, "pkg/app.py", "python",
                    "from . import util\nimport pkg.sub.deep as d\nfrom pkg import User\n\n"
                    "u = User('x')\nprint(util.slugify('a b'), d.deep_helper(2))\n")
    text = context_text(engine, uri, 5)
    assert "def slugify(" in text and "def deep_helper(x):" in text
    # User is re-exported by pkg/__init__.py: its class outline comes from models.py
    assert "# Other file: pkg/models.py\nclass User:\n" in text
    assert '    """A user of the app. ..."""' in text or '"""A user of the app.' in text
    assert "def greet(self) -> str: ..." in text or "return \"hi \"" in text


def test_python_src_layout_and_long_definitions_cut_to_signature(py_root: Path):
    engine = make_engine(py_root)
    uri = open_file(engine, py_root, "pkg/app.py", "python",
                    "from other.api import fetch_items\nfrom pkg.long import long_function\n\n"
                    "fetch_items(3)\nlong_function(1, 2)\n")
    text = context_text(engine, uri, 3)
    assert "def fetch_items(limit: int = 10) -> list:" in text
    assert "def long_function(a, b):\n" in text
    assert "First line of the doc." in text and "v39" not in text  # cut: signature + docstring line


def test_unknown_modules_and_other_languages_give_nothing(py_root: Path):
    engine = make_engine(py_root)
    uri = open_file(engine, py_root, "pkg/app.py", "python", "import os\nfrom json import dumps\n\nos.getcwd()\n")
    assert engine.block(uri, 3).file == ""  # (the project block is the session's, for every file)
    assert engine.block(uri, 3).project == engine.project_block
    rb = open_file(engine, py_root, "pkg/x.rb", "ruby", "require 'x'\nputs 1\n")
    assert engine.block(rb, 1).file == ""


def test_excluded_files_never_enter_the_context(py_root: Path):
    write(py_root, {"pkg/secret_conf.py": "def secret_token():\n    return 'Zq8Wx7Ec6Rv5'\n"})
    engine = make_engine(py_root, allowed=lambda p: "secret" not in p)
    uri = open_file(engine, py_root, "pkg/app.py", "python",
                    "from .secret_conf import secret_token\nfrom .util import slugify\n\nsecret_token()\nslugify('x')\n")
    text = context_text(engine, uri, 3)
    assert "def slugify(" in text
    assert "Zq8Wx7Ec6Rv5" not in text and "secret_token():" not in text


# -- TypeScript / JavaScript -----------------------------------------------------
TS = {
    "src/math.ts": "/** Adds. */\nexport function add(a: number, b: number): number {\n  return a + b;\n}\n"
                   "export const PI = 3.14;\n",
    "src/shapes/index.ts": "export { Circle } from './circle';\nexport * from './square';\n",
    "src/shapes/circle.ts": "export class Circle {\n  constructor(public r: number) {}\n  area(): number {\n"
                            "    return 3.14 * this.r * this.r;\n  }\n}\n",
    "src/shapes/square.ts": "export interface Square {\n  side: number;\n}\n",
    "src/widget.tsx": "export function Widget(props: { title: string }) {\n  return <div>{props.title}</div>;\n}\n",
    "src/legacy.js": "export function oldThing(x) {\n  return x;\n}\n",
}


def test_typescript_relative_index_and_reexports(tmp_path: Path):
    write(tmp_path, TS)
    engine = make_engine(tmp_path)
    uri = open_file(engine, tmp_path, "src/app.tsx", "typescriptreact",
                    "import { add, PI as pi } from './math.js';\nimport { Circle, Square } from './shapes';\n"
                    "import * as w from './widget';\nimport { oldThing } from './legacy';\n\n"
                    "const c = new Circle(add(1, pi));\nconst s: Square = { side: 1 };\n"
                    "const el = <w.Widget title='x' />;\noldThing(el);\n")
    text = context_text(engine, uri, 6)
    assert "export function add(a: number, b: number): number {" in text
    assert "export const PI = 3.14;" in text
    assert "export class Circle {" in text and "# Other file" not in text
    assert "// Other file: src/shapes/circle.ts\n" in text
    assert "export interface Square {" in text
    assert "export function Widget(props: { title: string }) {" in text
    assert "export function oldThing(x) {" in text


# -- Go -------------------------------------------------------------------------
GO = {
    "go.mod": "module example.com/shop\n\ngo 1.21\n",
    "cart/cart.go": "package cart\n\n// Cart holds items.\ntype Cart struct {\n\tItems []Item\n}\n",
    "cart/item.go": "package cart\n\ntype Item struct {\n\tName  string\n\tPrice int\n}\n\n"
                    "func newItem(name string) Item {\n\treturn Item{Name: name}\n}\n",
    "cart/cart_test.go": "package cart\n\nfunc testOnly() {}\n",
    "money/money.go": "package money\n\n// Format formats cents.\nfunc Format(cents int) string {\n\treturn \"\"\n}\n",
}


def test_go_same_package_and_module_imports(tmp_path: Path):
    write(tmp_path, GO)
    engine = make_engine(tmp_path)
    uri = open_file(engine, tmp_path, "cart/total.go", "go",
                    'package cart\n\nimport "example.com/shop/money"\n\n'
                    "func Total(c Cart) string {\n\tit := newItem(\"x\")\n\t_ = it\n\treturn money.Format(1)\n}\n")
    text = context_text(engine, uri, 5)
    assert "// Cart holds items.\ntype Cart struct {" in text
    assert "func newItem(name string) Item {" in text
    assert "// Format formats cents.\nfunc Format(cents int) string {" in text
    assert "testOnly" not in text  # tests are not part of the package's context


# -- placement: cache friendliness ------------------------------------------------------
def test_block_is_byte_identical_while_the_set_does_not_change(py_root: Path):
    engine = make_engine(py_root)
    text = "from .util import slugify\nfrom .sub.deep import deep_helper\n\ndef run(t):\n    s = slugify(t)\n"
    uri = open_file(engine, py_root, "pkg/app.py", "python", text)
    first = engine.block(uri, 4)
    for version, extra in enumerate(["    r", "    re", "    ret", "    retu", "    return deep_"], start=2):
        engine.opened(uri, text + extra + "\n", "python", version)  # each keystroke re-analysed
        again = engine.block(uri, 5)
        assert again.project == first.project and again.file == first.file


def test_project_block_is_the_most_used_definitions_and_shared_across_files(py_root: Path):
    write(py_root, {"pkg/one.py": "from .util import slugify\nfrom .models import User\n\nslugify(User('a').name)\n",
                    "pkg/two.py": "from . import util\n\nutil.slugify('b')\n"})
    engine = make_engine(py_root)
    project = engine.project_block
    # slugify: used by two files (one via the module); User by two (one.py, the __init__ re-export)
    assert "def slugify(" in project and "class User:" in project
    assert "def _first_new(" not in project  # private, and used by no file of the project
    assert "def deep_helper(" not in project  # pkg/sub/deep.py: no file of the project imports it
    a = open_file(engine, py_root, "pkg/a.py", "python",
                  "from .priv import _first_new\nfrom .util import slugify\n\nslugify(_first_new(1))\n")
    b = open_file(engine, py_root, "pkg/b.py", "python", "from .priv import _second_new\n\n_second_new(1)\n")
    block_a, block_b = engine.block(a, 3), engine.block(b, 2)
    assert block_a.project == block_b.project == project  # the same start for every file
    assert "def _first_new(x):" in block_a.file and "def _second_new(y):" in block_b.file
    assert "def slugify(" not in block_a.file  # in the project block already: not twice


def test_project_block_leaves_out_files_nothing_imports(py_root: Path):
    """A migration, a script or a test that no file imports says nothing of the project's API:
    it never pads the project block (the public definitions of the files the project does
    use still fill it)."""
    write(py_root, {"pkg/one.py": "from .util import slugify\n\nslugify('a')\n",
                    "pkg/migrations/__init__.py": "",
                    "pkg/migrations/0001_initial.py": "class Migration:\n    operations = []\n\n\n"
                                                      "def forwards(apps, schema_editor):\n    pass\n",
                    "scripts/seed_data.py": "def seed_everything(db):\n    return db\n"})
    project = make_engine(py_root).project_block
    assert "def slugify(" in project
    assert "MAX_RETRIES" in project  # pkg/util.py is used: its other public names come after
    assert "class Migration" not in project and "def forwards(" not in project
    assert "def seed_everything(" not in project


def test_project_block_does_not_change_when_a_file_needs_a_new_definition(py_root: Path):
    write(py_root, {"pkg/one.py": "from .util import slugify\n\nslugify('a')\n"})
    engine = make_engine(py_root)
    project = engine.project_block
    assert "def slugify(" in project
    a = open_file(engine, py_root, "pkg/a.py", "python", "from .util import slugify\n\nslugify('x')\n")
    first_a = engine.block(a, 2)
    b = open_file(engine, py_root, "pkg/b.py", "python", "from .priv import _first_new\n\n_first_new(1)\n")
    engine.block(b, 2)
    # b needs a new definition: it goes to b's own block (appended), never the project's
    engine.opened(b, "from .priv import _first_new\nfrom .priv import _second_new\n\n"
                     "_first_new(1)\n_second_new(3)\n", "python", 2)
    grown = engine.block(b, 4)
    grown_text = grown.file + grown.late  # joined since the head was laid out: the late block, after
    assert grown.project == project and "def _second_new(y):" in grown_text
    assert grown_text.index("def _first_new(") < grown_text.index("def _second_new(")  # appended
    assert engine.block(a, 2) == first_a  # a's head is untouched


def test_project_block_fills_whole_cache_units_of_its_share(tmp_path: Path):
    from deepseek_ls.context.engine import PROJECT_SHARE, UNIT_TOKENS
    defs = {f"pkg/m{i}.py": f"def func_{i}(a, b, c):\n    \"\"\"Add {i}.\"\"\"\n    return a + b + c + {i}\n"
            for i in range(60)}
    defs["pkg/__init__.py"] = ""
    defs["pkg/app.py"] = "".join(f"from .m{i} import func_{i}\n" for i in range(60)) + \
        "".join(f"x{i} = func_{i}(1, 2, 3)\n" for i in range(60))
    write(tmp_path, defs)
    for budget in (1024, 2048, 3000):
        engine = make_engine(tmp_path, ContextConfig(budget_tokens=budget))
        target = int(budget * PROJECT_SHARE) // UNIT_TOKENS * UNIT_TOKENS
        tokens = sum(i.tokens for i in engine._project.values())
        item = max(i.tokens for i in engine._project.values())
        assert target - item < tokens <= target  # filled up to whole units: no room for one more
        assert rough_tokens(engine.project_block) <= target
    assert make_engine(tmp_path, ContextConfig(budget_tokens=200)).project_block == ""  # under one unit


def test_switch_a_b_a_gives_identical_heads_for_a(py_root: Path):
    from deepseek_ls.prompt.fim import build_fim_prompt
    from deepseek_ls.snapshot import DocumentSnapshot

    write(py_root, {"pkg/one.py": "from .util import slugify\n\nslugify('a')\n"})
    engine = make_engine(py_root)
    texts = {"pkg/a.py": "from .priv import _first_new\n\ndef run(x):\n    return _first_new(x)\n",
             "pkg/b.py": "from .long import long_function\n\ndef go():\n    return long_function(1, 2)\n"}
    uris = {rel: open_file(engine, py_root, rel, "python", text) for rel, text in texts.items()}

    def snap(rel: str, version: int) -> DocumentSnapshot:
        return DocumentSnapshot(uris[rel], rel, "python", texts[rel], version)

    def prompt_head(rel: str, version: int) -> str:
        other = "pkg/b.py" if rel == "pkg/a.py" else "pkg/a.py"
        block = engine.block(uris[rel], 3)
        others = engine.pin_others(uris[rel], (snap(other, version),))
        fim = build_fim_prompt(snap(rel, version), len(texts[rel]) - 1, others=others,
                               project_context=block.project, file_context=block.file,
                               late_context=block.late)
        return fim.prompt[:fim.head_len]

    head_a = prompt_head("pkg/a.py", 1)
    assert head_a.startswith(engine.project_block) and "def _first_new(x):" in head_a
    # on to b: b is edited (and needs a new definition), then back to a
    prompt_head("pkg/b.py", 1)
    texts["pkg/b.py"] = "from .long import long_function\nfrom .priv import _second_new\n\ndef go():\n" \
                        "    return long_function(_second_new(2), 2)\n"
    engine.opened(uris["pkg/b.py"], texts["pkg/b.py"], "python", 2)
    head_b = prompt_head("pkg/b.py", 2)
    assert "def _second_new(y):" in head_b
    assert prompt_head("pkg/a.py", 2) == head_a  # byte for byte: b's edit is not in a's head
    assert head_b.startswith(engine.project_block)


def test_a_pinned_other_file_is_refreshed_when_the_tail_changes_not_for_a_late_definition(py_root: Path):
    """Other open files are listed afresh only when the head before them changes anyway (the
    file's tail, at a band change). A definition that joins meanwhile goes in the late block,
    after them: it keeps them (relisting them then would bill them again for nothing)."""
    from deepseek_ls.snapshot import DocumentSnapshot

    engine = make_engine(py_root)
    a = open_file(engine, py_root, "pkg/a.py", "python", "from .priv import _first_new\n\n_first_new('x')\n")
    engine.block(a, 2, 0)
    old = DocumentSnapshot("file:///o.py", "o.py", "python", "x = 1\n", 1)
    new = DocumentSnapshot("file:///o.py", "o.py", "python", "x = 2\n", 2)
    assert engine.pin_others(a, (old,)) == (old,)
    engine.block(a, 2, 0)
    assert engine.pin_others(a, (new,)) == (old,)  # pinned
    assert engine.pin_others(a, ()) == ()  # closed: dropped
    assert engine.pin_others(a, (new,)) == ()  # opened again: waits for the head to change
    engine.opened(a, "from .priv import _first_new, _second_new\n\n_first_new('x')\n"
                     "_second_new(2)\n", "python", 2)
    first = engine.block(a, 4, 0)
    assert "def _second_new(" in first.late and "_second_new" not in first.file  # joined late ...
    newer = DocumentSnapshot("file:///o.py", "o.py", "python", "x = 3\n", 3)
    assert engine.pin_others(a, (newer,)) == ()  # ... and the listing before it stays
    moved = engine.block(a, 4, 40)  # the cursor in another band of the file's tail: the tail changes
    assert engine.pin_others(a, (newer,)) == (newer,)
    assert "def _second_new(" in moved.file and moved.late == ""  # and the late block settles


def test_project_block_is_rebuilt_only_when_a_signature_in_it_changes(py_root: Path):
    write(py_root, {"pkg/one.py": "from .util import slugify\n\nslugify('a')\n"})
    engine = make_engine(py_root)
    builds = engine.stats["project_builds"]
    util = py_root / "pkg/util.py"
    text = util.read_text()
    uri = open_file(engine, py_root, "pkg/util.py", "python", text)
    engine.opened(uri, text.replace("return sep.join", "return  sep.join"), "python", 2)  # a body edit
    assert engine.stats["project_builds"] == builds
    engine.opened(uri, text.replace('sep: str = "-"', 'sep: str = "_"'), "python", 3)  # the signature
    assert engine.stats["project_builds"] == builds + 1
    assert 'sep: str = "_"' in engine.project_block


def test_a_lone_file_is_not_parsed_again_while_its_imports_stay(tmp_path: Path):
    engine = make_engine(tmp_path / "nowhere")
    text = "import os\nimport re\n\ndef f(x):\n    return os.path.join(x)\n"
    uri = open_file(engine, tmp_path, "lone.py", "python", text)
    parses = engine.stats["parses"]
    for version, extra in enumerate(["    a", "    ab", "    abc"], start=2):
        engine.opened(uri, text + extra + "\n", "python", version)
    assert engine.stats["parses"] == parses  # nothing of the workspace imported: no new parse
    engine.opened(uri, "from .sib import g\n" + text, "python", 9)  # the imports changed: parsed
    assert engine.stats["parses"] == parses + 1


def test_budget_is_respected_and_near_cursor_names_win(tmp_path: Path):
    defs = {f"pkg/m{i}.py": f"def func_{i}(a, b, c):\n    return a + b + c + {i}\n" for i in range(30)}
    defs["pkg/__init__.py"] = ""
    write(tmp_path, defs)
    imports = "".join(f"from .m{i} import func_{i}\n" for i in range(30))
    body = "".join(f"x{i} = func_{i}(1, 2, 3)\n" for i in range(30))
    engine = make_engine(tmp_path, ContextConfig(budget_tokens=200))
    uri = open_file(engine, tmp_path, "pkg/app.py", "python", imports + "\n" + body)
    block = engine.block(uri, 30 + 1 + 29)
    assert rough_tokens(block.project + block.file) <= 200 + 8 * len(block.keys)
    assert "def func_29(" in block.project + block.file  # used right above the cursor
    assert 0 < len(block.keys) < 30


def test_disabled_or_without_definitions_gives_nothing(py_root: Path):
    engine = make_engine(py_root, ContextConfig(enabled=False))
    uri = open_file(engine, py_root, "pkg/app.py", "python", "from .util import slugify\nslugify('a')\n")
    assert engine.block(uri, 1).project == engine.block(uri, 1).file == ""
    engine = make_engine(py_root, ContextConfig(definitions=False))
    uri = open_file(engine, py_root, "pkg/app.py", "python", "from .util import slugify\nslugify('a')\n")
    assert "slugify(" not in context_text(engine, uri, 1)


# -- snippets ----------------------------------------------------------------------
def test_similar_open_file_snippet(tmp_path: Path):
    engine = make_engine(tmp_path)
    other = "def handler(request, response):\n    payload = request.json()\n    response.status = 201\n" \
            "    response.body = payload\n    return response\n"
    unrelated = "def other_thing():\n    return 42\n"
    open_file(engine, tmp_path, "views.py", "python", other)
    open_file(engine, tmp_path, "misc.py", "python", unrelated)
    uri = open_file(engine, tmp_path, "new_view.py", "python",
                    "def create(request, response):\n    payload = request.json()\n    ")
    text = context_text(engine, uri, 2)
    assert "response.status = 201" in text and "# Other file: views.py" in text
    assert "other_thing" not in text
    engine.configure(ContextConfig(open_files=False, recent_files=False))
    engine.opened(uri, "def create(request, response):\n    payload = request.json()\n    ", "python", 2)
    assert "response.status" not in context_text(engine, uri, 2)


# -- positions: emoji and CJK ----------------------------------------------------------
def test_code_point_columns_with_emoji_and_cjk():
    parsed = parse('s = "😀😀 名前"; value = compute(s)\n名前 = 1\n', "python", uses=True)
    line, column = parsed.first_use["compute"]
    assert (line, column) == (0, '"😀😀 名前"; value = '.__len__() + 4)
    assert parsed.first_use["名前"] == (1, 0)
    # the regex lookups the engine uses: lines, CJK names, no member access
    assert parsed.lines_of({"compute", "名前", "absent"}) == {"compute": [0], "名前": [0, 1]}
    assert parse("x.compute()\ncompute()\n", "python").lines_of({"compute"}) == {"compute": [1]}
    assert parse("m . Name\nm.Other()\nq.m.X\n", "python").qualified_of({"m"}) == {("m", "Name"): [0],
                                                                                 ("m", "Other"): [1]}


def test_definition_text_keeps_first_line_verbatim_with_unicode(tmp_path: Path):
    write(tmp_path, {"lib.py": 'def grüße(名前: str = "😀") -> str:\n    return 名前\n'})
    engine = make_engine(tmp_path)
    uri = open_file(engine, tmp_path, "app.py", "python", "from lib import grüße\ngrüße()\n")
    assert 'def grüße(名前: str = "😀") -> str:\n    return 名前' in context_text(engine, uri, 1)


def test_definition_at_line():
    parsed = parse("import os\n\ndef a():\n    return 1\n\nclass B:\n    x = 1\n", "python")
    found = definition_at(parsed, 6)
    assert found is not None and found.name == "B"
    assert definition_at(parsed, 0) is None


def test_broken_code_does_not_raise():
    for lang in ("python", "typescript", "tsx", "javascript", "go"):
        parse("def (((\n} export class { func (\n\x00\ud800", lang)


# -- the editor's definitions (deepseek/definitions) ------------------------------------
def test_editor_definitions_are_used_and_null_falls_back(tmp_path: Path):
    write(tmp_path, {"lib/helpers.py": "def magic_number():\n    return 42\n"})
    asked: list[tuple[str, list]] = []

    async def provider(uri, positions):
        asked.append((uri, positions))
        return [[(str(tmp_path / "lib/helpers.py"), 0)] if i == 0 else None for i in range(len(positions))]

    async def scenario() -> str:
        engine = make_engine(tmp_path)
        engine.definitions_provider = provider
        # an import the parser cannot resolve (a path the language server knows)
        uri = f"file://{tmp_path / 'app.py'}"
        engine.opened(uri, "from helpers_alias import magic_number\n\nmagic_number()\n", "python", 1)
        for _ in range(200):
            await asyncio.sleep(0.01)
            if asked and "magic_number" in context_text(engine, uri, 2):
                break
        text = context_text(engine, uri, 2)
        engine.close()
        return text

    text = asyncio.run(scenario())
    assert asked and len(asked[0][1]) <= 16
    assert "def magic_number():\n    return 42" in text

    async def null_provider(uri, positions):
        return None

    async def fallback() -> str:
        engine = make_engine(tmp_path)
        engine.definitions_provider = null_provider
        write(tmp_path, {"lib/__init__.py": ""})
        uri = f"file://{tmp_path / 'lib' / 'app.py'}"
        engine.opened(uri, "from .helpers import magic_number\n\nmagic_number()\n", "python", 1)
        await engine.ready(uri, 5.0)
        await asyncio.sleep(0.05)
        text = context_text(engine, uri, 2)
        engine.close()
        return text

    assert "def magic_number():" in asyncio.run(fallback())


def test_an_edited_definition_replaces_its_old_text(py_root: Path):
    engine = make_engine(py_root)
    a = open_file(engine, py_root, "pkg/a.py", "python", "from .priv import _first_new\n\n_first_new('x')\n")
    assert "def _first_new(x):" in engine.block(a, 2).file
    (py_root / "pkg/priv.py").write_text("def _first_new(x, lower: bool = True):\n    return x\n")
    os.utime(py_root / "pkg/priv.py", ns=(1, 1))  # another (mtime, size) whatever the clock
    engine.opened(a, "from .priv import _first_new\n\n_first_new('y')\n", "python", 2)
    block = engine.block(a, 2).file
    assert "lower: bool = True" in block and "def _first_new(x):" not in block


def test_open_unsaved_documents_resolve(tmp_path: Path):
    engine = make_engine(tmp_path)
    open_file(engine, tmp_path, "pkg/fresh.py", "python", "def brand_new(x):\n    return x\n")  # not on disk
    uri = open_file(engine, tmp_path, "pkg/app.py", "python", "from .fresh import brand_new\nbrand_new(1)\n")
    assert "def brand_new(x):" in context_text(engine, uri, 1)


def test_huge_documents_are_not_analysed(tmp_path: Path):
    engine = make_engine(tmp_path)
    write(tmp_path, {"lib.py": "def small():\n    return 1\n"})
    uri = open_file(engine, tmp_path, "big.py", "python", "from lib import small\n" + "x = 1\n" * 400_000)
    assert engine.block(uri, 3) == engine.block("file:///nothing", 0)  # empty: nothing analysed
    assert uri not in engine._analyses


def test_snippets_are_kept_while_they_still_fit_the_lines_above_the_cursor(tmp_path: Path):
    engine = make_engine(tmp_path)
    views = "def handler(request, response):\n    payload = request.json()\n    response.status = 201\n" \
            "    response.body = payload\n    return response\n"
    forms = "def validate(form, errors, schema):\n    form.clean(schema)\n    errors.extend(form.errors)\n" \
            "    return errors\n"
    open_file(engine, tmp_path, "views.py", "python", views)
    open_file(engine, tmp_path, "forms.py", "python", forms)
    band1 = "def create(request, response):\n    payload = request.json()\n    response.status = 200\n"
    band2 = "def check(request, response, form, errors, schema):\n    payload = request.json()\n" \
            "    form.clean(schema)\n    errors.extend(form.errors)\n"
    uri = open_file(engine, tmp_path, "new_view.py", "python", band1 + "\n" * 40 + band2)
    first = engine.block(uri, 2)
    assert "response.status = 201" in first.file and "form.clean" not in first.file
    # another band (counted from the end) is closer to forms.py, but views.py still fits: kept
    assert engine.block(uri, 46).file == first.file
    engine.opened(uri, band1 + "\n" * 70 + "form.clean(schema)\nerrors.extend(form.errors)\nform.errors\n"
                  + "\n" * 40, "python", 2)  # views.py no longer fits and the band moved: re-chosen
    last = engine.block(uri, 75).file
    assert "form.clean(schema)" in last and "response.status" not in last


def test_snippets_stay_while_typing_keeps_the_lines_after_the_cursor(tmp_path: Path):
    """Snippets are chosen again only when the number of lines after the cursor crosses a step of
    the prompt's file tail (the head changes then anyway): typing a body line by line, even text
    that no longer resembles them, keeps them, so the prompt head stays cached."""
    engine = make_engine(tmp_path)
    open_file(engine, tmp_path, "views.py", "python",
              "def handler(request, response):\n    payload = request.json()\n    response.status = 201\n")
    open_file(engine, tmp_path, "forms.py", "python",
              "def validate(form, errors, schema):\n    form.clean(schema)\n    errors.extend(form.errors)\n")
    below = "".join(f"def later{i}():\n    return {i}\n" for i in range(30))  # 60 lines after
    typed = "def create(request, response):\n    payload = request.json()\n    response.status = 200\n"
    uri = open_file(engine, tmp_path, "new_view.py", "python", typed + below)
    first = engine.block(uri, 2, lines_after=below.count("\n") + 1).file
    assert "response.status = 201" in first
    for n in range(1, 40):  # the user types 39 more lines of something else above `below`
        text = typed + "    form.clean(schema)\n    errors.extend(form.errors)\n" * n + below
        engine.opened(uri, text, "python", n + 1)
        assert engine.block(uri, 2 + 2 * n, lines_after=below.count("\n") + 1).file == first
    # the cursor moves up into the typed lines (more lines after it): chosen again
    moved = engine.block(uri, 40, lines_after=below.count("\n") + 1 + 2 * 39 - 38).file
    assert "form.clean(schema)" in moved and "response.status" not in moved
    assert snippet_band(60) != snippet_band(20) and snippet_band(60) == snippet_band(61)


@pytest.mark.parametrize("rel, comment", [
    ("lib/util.lua", "--"), ("db/q.sql", "--"), ("src/Main.hs", "--"), ("app/x.rb", "#"),
    ("stubs/m.pyi", "#"), ("web/a.ts", "//"), ("web/b.tsx", "//"), ("cmd/main.go", "//"), ("x.unknown", "//")])
def test_item_headers_use_the_files_own_comment_style(rel: str, comment: str):
    assert comment_of(rel) == comment
    item = _render([Item((rel, "#0"), rel, comment_of(rel), "body\n")])
    assert item.startswith(f"{comment} Other file: {rel}\n")


def test_snippets_come_from_files_of_the_same_language_family(tmp_path: Path):
    engine = make_engine(tmp_path)
    shared = "request response payload status handler\n"
    open_file(engine, tmp_path, "notes.lua", "lua", "local request, response, payload = 1, 2, 3\n" + shared)
    open_file(engine, tmp_path, "views.py", "python",
              "def handler(request, response):\n    payload = request.json()\n    response.status = 201\n")
    open_file(engine, tmp_path, "web.js", "javascript", "function handler(request, response, payload) {}\n")
    uri = open_file(engine, tmp_path, "new.py", "python",
                    "def create(request, response):\n    payload = request.json()\n    response.status = 200\n")
    text = engine.block(uri, 2).file
    assert "# Other file: views.py" in text and "notes.lua" not in text and "web.js" not in text
    ts = open_file(engine, tmp_path, "api.ts", "typescript",
                   "function create(request, response, payload) { response.status = 200 }\n")
    assert "// Other file: web.js" in engine.block(ts, 0).file  # TS and JS are one family


def test_files_already_in_the_blocks_are_not_listed_again_whatever_their_comment_style():
    engine = ContextEngine(None, allowed=lambda p: True, display=lambda p: p, path_of=lambda u: None)
    covered = engine._covered("-- Other file: a.lua\nlocal x = 1\n", "")
    assert covered == frozenset({"local x = 1"})


async def _until(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.01)


async def test_snippet_windows_made_late_do_not_change_the_block_within_the_band(tmp_path: Path):
    """With an event loop, another file's snippet windows are made in the worker when first
    asked. The block of the band they were missing from stays as it was (a later request of the
    band must not change the prompt head); the next band takes them. Once a file is a snippet
    source, its windows are made again with each new analysis, ready for the next choice."""
    engine = make_engine(tmp_path)
    try:
        views = "def handler(request, response):\n    payload = request.json()\n    response.status = 201\n"
        mine = "def create(request, response):\n    payload = request.json()\n    response.status = 200\n"
        below = "".join(f"def later{i}():\n    return {i}\n" for i in range(40))
        v = open_file(engine, tmp_path, "views.py", "python", views)
        uri = open_file(engine, tmp_path, "new_view.py", "python", mine + below)
        await _until(lambda: v in engine._analyses and uri in engine._analyses)
        after = below.count("\n")
        first = engine.block(uri, 2, lines_after=after).file
        assert "views.py" not in first  # its windows are being made
        await _until(lambda: engine._analyses[v].windows is not None)
        assert engine.block(uri, 2, lines_after=after).file == first  # same band: unchanged
        moved = engine.block(uri, 2, lines_after=after - 40).file     # another band: chosen again
        assert "# Other file: views.py" in moved and "response.status = 201" in moved
        engine.changed(v, views + "response.body = payload\n", 2)
        await _until(lambda: engine._analyses[v].version == 2)
        await _until(lambda: engine._analyses[v].windows is not None)  # made without being asked
    finally:
        engine.close()


def test_a_tab_opened_while_away_joins_when_the_files_head_changes_anyway(tmp_path: Path):
    """A -> B (opened) -> A: the return lists A's other files as before (its head stays cached);
    B joins, last, when A's cursor moves to another band (the file's tail changes then)."""
    from deepseek_ls.snapshot import DocumentSnapshot

    engine = make_engine(tmp_path)
    text = "x = 1\n" + "".join(f"def f{i}():\n    return {i}\n" for i in range(60))
    a = open_file(engine, tmp_path, "a.py", "python", text)
    c = DocumentSnapshot("file:///c.py", "c.py", "python", "c = 1\n", 1)
    b = DocumentSnapshot("file:///b.py", "b.py", "python", "b = 1\n", 1)
    engine.block(a, 0, lines_after=120)
    assert engine.pin_others(a, (c,)) == (c,)                  # the first prompt lists what is open
    engine.block(a, 1, lines_after=120)                        # typing on (same band)
    assert engine.pin_others(a, (c, b)) == (c,)                # b opened meanwhile: not yet
    engine.block(a, 1, lines_after=120 - 16)                   # the cursor moved on: another band
    assert engine.pin_others(a, (c, b)) == (c, b)              # listed afresh, the new tab last


def _project_with_two_used_helpers(root: Path) -> None:
    write(root, {
        "pkg/__init__.py": "",
        "pkg/util.py": 'def slugify(text: str, sep: str = "-") -> str:\n    return sep.join(text.split())\n\n\n'
                       "def shout(text):\n    return text.upper()\n",
        "pkg/a.py": "from .util import slugify, shout\n\nslugify('a')\nshout('b')\n",
        "pkg/b.py": "from .util import slugify, shout\n\nslugify('c')\nshout('d')\n",
    })


def test_half_typed_code_hiding_a_definition_does_not_rebuild_the_project_block(tmp_path: Path):
    _project_with_two_used_helpers(tmp_path)
    engine = make_engine(tmp_path)
    before, builds = engine.project_block, engine.stats["project_builds"]
    assert "def slugify(" in before and "def shout(" in before
    util = tmp_path / "pkg/util.py"
    uri = open_file(engine, tmp_path, "pkg/util.py", "python", util.read_text())
    half = util.read_text().replace("def shout(text):\n    return text.upper()\n",
                                    "def shout(text:\n    return text.upper(\n")  # mid-edit: unclosed
    engine.opened(uri, half, "python", 2)
    assert engine._analyses[uri].has_error
    assert engine.stats["project_builds"] == builds and engine.project_block == before


def test_a_project_block_rebuild_only_patches_the_items_that_changed(tmp_path: Path):
    """An edited signature re-renders that item; the other items stay byte for byte, in their
    order, and nothing is added (the whole map is not ranked again mid-session); a definition
    removed from a file that parses cleanly is dropped."""
    _project_with_two_used_helpers(tmp_path)
    engine = make_engine(tmp_path)
    before = engine.project_block
    util = tmp_path / "pkg/util.py"
    uri = open_file(engine, tmp_path, "pkg/util.py", "python", util.read_text())
    # a new helper the whole project now uses: a fresh ranking would add it
    write(tmp_path, {"pkg/extra.py": "def popular(x):\n    return x\n",
                     "pkg/c.py": "from .extra import popular\npopular(1)\n",
                     "pkg/d.py": "from .extra import popular\npopular(2)\n"})
    engine.opened(uri, util.read_text().replace("def shout(text):", "def shout(text, times=1):"), "python", 2)
    after = engine.project_block
    assert "def shout(text, times=1):" in after and "popular" not in after
    assert after[: after.index("def shout(")] == before[: before.index("def shout(")]  # kept before it
    engine.opened(uri, util.read_text().split("\n\n\ndef shout")[0] + "\n", "python", 3)  # shout removed
    assert "def shout(" not in engine.project_block and "def slugify(" in engine.project_block


def test_half_typed_code_keeps_the_definitions_the_file_block_had(tmp_path: Path):
    """A parse with errors can lose every import of the file (tree-sitter wraps the module in an
    error: seen on json/tool.py mid-way through a multi-line call in the ``ci`` replay). The file
    block keeps what the last analysis found instead of dropping it and taking it back at the
    next keystroke (each flip would bill the prompt's head again), and the file does not start
    to look like one that imports nothing from the workspace."""
    write(tmp_path, {"shapes.py": "class FileType(object):\n    def __init__(self, mode='r'):\n"
                                  "        self.mode = mode\n"})
    engine = make_engine(tmp_path, ContextConfig(budget_tokens=255))  # no project block: the file's
    top = "import shapes\ndef main():\n    kind = shapes.FileType('w')\n"
    end = "\n\nif __name__ == '__main__':\n    try:\n        main()\n    except BrokenPipeError as exc:\n" \
          "        sys.exit(exc.errno)\n"
    uri = open_file(engine, tmp_path, "tool.py", "python", top + "    run(kind)\n" + end)
    first = engine.block(uri, 3).file
    assert "class FileType(object):" in first
    half = ("    description = ('A simple command line interface for json module '\n"
            "                        help='disable escaping of non-ASCII characters')\n"
            "    parser.add_argument('--json-lines', action='store_true', default=False,\n"
            "                        help='parse input using the JSON Lines format. '\n")
    engine.opened(uri, top + half + end, "python", 2)
    analysis = engine._analyses[uri]
    assert analysis.has_error and analysis.bindings > 0
    assert engine.block(uri, 7).file == first
    engine.opened(uri, top + "    run(kind)\n" + end, "python", 3)
    assert engine.block(uri, 3).file == first


@pytest.mark.parametrize("language, text, modules", [
    # json/tool.py mid-way through a multi-line call (the ci replay): tree-sitter lost every import
    ("python", "import argparse\nfrom pathlib import (\n    Path,\n)\ndef main():\n"
               "    description = ('A simple command line interface for json module '\n"
               "                        help='disable escaping of non-ASCII characters')\n"
               "    parser.add_argument('--json-lines', action='store_true', default=False,\n"
               "                        help='parse input using the JSON Lines format. '\n"
               "\nif __name__ == '__main__':\n    try:\n        main()\n    except BrokenPipeError as exc:\n"
               "        sys.exit(exc.errno)\n", {"argparse", "pathlib"}),
    ("typescript", "import {\n  area,\n  Box,\n} from './shapes';\nimport * as fs from 'fs';\n"
                   "export function f() {\n  const x = area(1, (2\n  return {a: [\n}\n", {"./shapes", "fs"}),
    ("go", 'package main\n\nimport (\n\t"fmt"\n\t"example.com/m/shapes"\n)\n\nfunc main() {\n'
           '\tx := shapes.Area(1, (2\n\tfmt.Println(x\n}\n', {"fmt", "example.com/m/shapes"}),
])
def test_imports_survive_half_typed_code_below_them(language: str, text: str, modules: set[str]):
    """(TypeScript and Go keep them by themselves today: guards for the same recovery.)"""
    parsed = parse(text, language, render=False)
    assert parsed.has_error
    assert {i.module for i in parsed.imports} >= modules
    if language == "go":
        assert parsed.package == "main"

# -- rendering of grouped and multi-name declarations -----------------------------
GO_GROUPS = '''package flags

// Kinds of flags.
const (
	// KindBool is a boolean flag: it takes no value,
	// and "--x=false" turns it off.
	//
	// Since v1.
	KindBool Kind = iota // a switch
	KindInt              // a number
	KindString
	MaxLen, MinLen = 64, "one"
)

var (
	// ErrMissing is returned when a required flag is absent.
	ErrMissing = errors.New("missing flag")
	Registry   map[string]Kind
	Defaults   = map[string]int{
		"retries": 3,
	}
)
'''


def test_go_grouped_const_with_its_value_type_and_whole_comment() -> None:
    defs = parse(GO_GROUPS, "go").definitions
    assert defs["KindBool"].text == ('// KindBool is a boolean flag: it takes no value,\n// and "--x=false" turns it off.\n'
                                     '//\n// Since v1.\nconst KindBool Kind = iota // a switch')
    # a constant with neither type nor value: shown after the one it repeats, so both read right
    assert defs["KindInt"].text == "const (\n\tKindBool Kind = iota // a switch\n\tKindInt              // a number\n)"
    assert defs["KindString"].text == ("const (\n\tKindBool Kind = iota // a switch\n\t// ...\n\tKindString\n)")
    # several names in one spec: each gets it, no stray "," name
    assert defs["MaxLen"].text == defs["MinLen"].text == 'const MaxLen, MinLen = 64, "one"'
    assert "," not in defs
    # the trailing comment of the line above is not a doc comment
    assert "a switch" not in defs["KindInt"].text.split("\n")[2]


def test_go_grouped_var_with_its_value_type_and_comment() -> None:
    defs = parse(GO_GROUPS, "go").definitions
    assert defs["ErrMissing"].text == ('// ErrMissing is returned when a required flag is absent.\n'
                                       'var ErrMissing = errors.New("missing flag")')
    assert defs["Registry"].text == "var Registry   map[string]Kind"
    assert defs["Defaults"].text == 'var Defaults   = map[string]int{\n\t"retries": 3,\n}'


def test_go_grouped_items_stay_within_the_item_budget() -> None:
    long_doc = "".join(f"\t// line {i} of a long explanation of this constant.\n" for i in range(40))
    src = f"package p\n\nconst (\n{long_doc}\tBig = 1\n\tSmall = 2\n)\n"
    for tokens in (40, 200):
        text = parse(src, "go", item_tokens=tokens).definitions["Big"].text
        assert text.endswith("const Big = 1") and len(text) <= tokens * 3.5 + 20
        assert "line 39 of" in text  # the comment lines nearest the name are kept
    assert parse(src, "go", render=False).definitions["Big"].text == ""


def test_ts_multi_name_const_and_let_give_each_name_its_own_declaration() -> None:
    src = ("/** Limits. */\nexport const MAX = 10, MIN: number = 1;\nexport let label = \"x\", items = [1, 2];\n"
           "var a = 1,\n  b = () => 2;\nconst single = { x: 1 };\n")
    defs = parse(src, "typescript").definitions
    assert defs["MAX"].text == "/** Limits. */\nexport const MAX = 10;"
    assert defs["MIN"].text == "/** Limits. */\nexport const MIN: number = 1;"
    assert defs["label"].text == 'export let label = "x";'
    assert defs["items"].text == "export let items = [1, 2];"
    assert defs["b"].text == "var b = () => 2;"
    assert defs["single"].text == "const single = { x: 1 };"  # one name: as written
    js = parse("export const a = 1, b = 'two';\n", "javascript").definitions
    assert js["b"].text == "export const b = 'two';"


def test_ts_long_enum_is_an_outline_of_its_members() -> None:
    members = "".join(f"  // member {i}\n  M{i} = {i},\n" for i in range(30))
    text = parse(f"// Modes.\nexport enum Mode {{\n{members}}}\n", "typescript").definitions["Mode"].text
    assert text.startswith("// Modes.\nexport enum Mode {\n  M0 = 0,\n  M1 = 1,\n")
    assert "  M23 = 23," in text and text.endswith("// ...\n}")
    assert len(text) <= 200 * 3.5
    short = parse("enum E {\n  // red\n  Red = 1,\n  Green,\n}\n", "typescript").definitions["E"].text
    assert short == "enum E {\n  // red\n  Red = 1,\n  Green,\n}"  # short: whole, comments too


def _long_class(language: str) -> str:
    """A class whose constructor takes 15 annotated parameters and whose body is long."""
    body = "".join(f"        self.f{i} = {i}\n" for i in range(12))
    if language == "python":
        params = ", ".join(f"opt_{i}: t.Optional[t.Dict[str, int]] = None" for i in range(14))
        return (f"class Bar:\n    def __init__(self, it: t.Iterable[int], {params}) -> None:\n{body}"
                f"    def run(self, x: int) -> int:\n        return x\n")
    params = ", ".join(f"opt{i}?: Map<string, number>" for i in range(14))
    wide = ", ".join(f"callback{i}: (value: string, index: number) => Promise<void>" for i in range(6))
    return (f"export class Bar {{\n  constructor(private readonly it: Iterable<number>, {params}, last = 3) {{\n"
            f"{body.replace('self.', 'this.').replace(chr(10), ';' + chr(10))}  }}\n"
            f"  wide({wide}): void {{ return; }}\n  run(x: number): number {{ return x; }}\n}}\n")


def test_a_long_constructor_keeps_its_parameter_names_in_the_outline() -> None:
    # a call of the class needs the constructor's names (keywords, order); the types go first
    py = parse(_long_class("python"), "python").definitions["Bar"].text
    assert "    def __init__(self, it, opt_0=None, opt_1=None," in py and "opt_13=None) -> None: ..." in py
    assert "Optional" not in py and "    def run(self, x: int) -> int: ..." in py  # short: as written
    ts = parse(_long_class("typescript"), "typescript").definitions["Bar"].text
    assert "  constructor(it, opt0?, opt1?," in ts and "opt13?, last=3);" in ts
    assert "  run(x: number): number;" in ts


def test_shortened_parameters_keep_their_stars_and_separators() -> None:
    # an untyped *args / **kw lost its stars (shown as a plain `args`, `kw`)
    params = ", ".join(f"p{i}: t.Optional[t.Dict[str, int]] = None" for i in range(8))
    src = (f"class C:\n    def m(self, a, *args, {params}, **kw) -> None:\n        pass\n"
           + "".join(f"    def x{i}(self) -> None:\n        pass\n" for i in range(8)))
    text = parse(src, "python").definitions["C"].text
    assert "    def m(self, a, *args, p0=None," in text and "p7=None, **kw) -> None: ..." in text
    keyword_only = parse("class D:\n" + "    def k(self, a: int, /, *, b: t.Optional[t.Dict[str, int]] = None, "
                         + ", ".join(f"c{i}: t.Optional[t.Dict[str, int]] = None" for i in range(5)) + "): pass\n"
                         + "".join(f"    def y{i}(self) -> None:\n        pass\n" for i in range(8)), "python")
    assert "    def k(self, a, /, *, b=None, c0=None," in keyword_only.definitions["D"].text


def test_a_member_too_long_for_any_form_is_left_out_not_a_bare_semicolon() -> None:
    # before: the member's line was "" and got its ";" anyway, a line of its own
    ts = parse(_long_class("typescript"), "typescript").definitions["Bar"].text
    assert "\n;" not in ts and "  wide(callback0, callback1," in ts  # names alone fit
    huge = ", ".join(f"parameter_with_a_long_name_{i}: string" for i in range(12))
    text = parse(f"class C {{\n  huge({huge}): void {{ return; }}\n{'  a(): void {}' + chr(10)}" * 1
                 + "".join(f"  m{i}(): void {{ return; }}\n" for i in range(12)) + "}\n", "typescript")
    rendered = text.definitions["C"].text
    assert "huge" not in rendered and "\n;" not in rendered and "  m0(): void;" in rendered


def test_python_multi_name_and_annotated_module_assignments() -> None:
    src = ("#!/usr/bin/env python\n#: Default limits,\n#: in seconds.\nTIMEOUT, RETRIES = 30.0, 3\n"
           "(LOW, HIGH) = 1, 9\nA = B = 5\nC: int = 3  # trailing\nD: dict[str, int]\n\n# unrelated\n\nE = 2\n")
    defs = parse(src, "python").definitions
    assert defs["TIMEOUT"].text == defs["RETRIES"].text == "#: Default limits,\n#: in seconds.\nTIMEOUT, RETRIES = 30.0, 3"
    assert defs["LOW"].text == defs["HIGH"].text == "(LOW, HIGH) = 1, 9"
    assert defs["A"].text == defs["B"].text == "A = B = 5"
    assert defs["C"].text == "C: int = 3  # trailing"
    assert defs["D"].text == "D: dict[str, int]"
    assert defs["E"].text == "E = 2"  # a comment separated by a blank line is not its doc


def test_multi_name_definitions_reach_the_context_block(tmp_path: Path) -> None:
    write(tmp_path, {"go.mod": "module example.com/m\n\ngo 1.21\n", "flags/kinds.go": GO_GROUPS,
                     "pkg/__init__.py": "", "pkg/limits.py": "#: seconds\nTIMEOUT, RETRIES = 30.0, 3\n"})
    engine = make_engine(tmp_path)
    uri = open_file(engine, tmp_path, "flags/use.go", "go",
                    "package flags\n\nfunc pick() Kind {\n\treturn KindInt\n}\n")
    assert "const (\n\tKindBool Kind = iota // a switch\n\tKindInt              // a number\n)" in \
        context_text(engine, uri, 3)
    uri = open_file(engine, tmp_path, "pkg/app.py", "python",
                    "from .limits import RETRIES\n\n\ndef run():\n    return RETRIES\n")
    assert "#: seconds\nTIMEOUT, RETRIES = 30.0, 3" in context_text(engine, uri, 4)


@pytest.mark.parametrize("where", ["open buffer", "closed file on disk"])
async def test_an_edited_signature_reaches_the_project_block_soon(tmp_path: Path, where: str):
    """(Fresh review of issue 12.) The project block shows the signature as it is now a few
    seconds after the edit stands, whether typed in an open buffer or written to a closed file
    on disk (a checkout, another tool); only that item changes."""
    _project_with_two_used_helpers(tmp_path)
    engine = make_engine(tmp_path)
    try:
        await _until(lambda: "def shout(text):" in engine.project_block)
        before = engine.project_block
        a = open_file(engine, tmp_path, "pkg/a.py", "python")
        util = tmp_path / "pkg/util.py"
        new = util.read_text().replace("def shout(text):", "def shout(text, times=1):")
        if where == "open buffer":
            uri = open_file(engine, tmp_path, "pkg/util.py", "python")
            engine.changed(uri, new, 2)
        else:
            engine.block(a, 2)  # the block's files are looked at (stat) on the request path
            await asyncio.sleep(1.1)
            util.write_text(new)

        def updated() -> bool:
            engine.block(a, 2)
            return "def shout(text, times=1):" in engine.project_block

        await _until(updated, timeout=30)
        after = engine.project_block
        assert "def shout(text):" not in after
        assert after[: after.index("def shout(")] == before[: before.index("def shout(")]
    finally:
        engine.close()


def test_the_project_block_of_a_file_holds_its_language_family_only(tmp_path: Path):
    """(Fresh review of issue 12.) A mixed repository: Python files get the Python part of the
    project map, TypeScript/JavaScript files the rest; files of one family share their block."""
    write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/util.py": "def slugify(text):\n    return text\n",
        "pkg/a.py": "from .util import slugify\nslugify('a')\n",
        "pkg/b.py": "from .util import slugify\nslugify('b')\n",
        "web/shapes.ts": "export function area(w: number, h: number): number {\n  return w * h;\n}\n",
        "web/x.ts": "import { area } from './shapes';\narea(1, 2);\n",
        "web/y.js": "import { area } from './shapes';\narea(3, 4);\n",
    })
    engine = make_engine(tmp_path)
    assert "def slugify(" in engine.project_block and "export function area(" in engine.project_block
    a = open_file(engine, tmp_path, "pkg/a.py", "python")
    b = open_file(engine, tmp_path, "pkg/b.py", "python")
    x = open_file(engine, tmp_path, "web/x.ts", "typescript")
    y = open_file(engine, tmp_path, "web/y.js", "javascript")
    py, ts = engine.block(a, 1).project, engine.block(x, 1).project
    assert "def slugify(" in py and "export function area(" not in py
    assert "export function area(" in ts and "def slugify(" not in ts
    assert engine.block(b, 1).project == py and engine.block(y, 1).project == ts


def test_a_binary_file_is_never_context_and_a_bom_never_reaches_the_prompt(tmp_path: Path):
    """(Fresh review of issue 12.) A ``.py`` file holding NUL bytes is not source; a file saved
    with a UTF-8 byte-order mark gives its definitions without it."""
    (tmp_path / "blob.py").write_bytes(b"def packed(x):\n    return b'\x00\x01\x02'\x00\x00\n")
    (tmp_path / "bom.py").write_bytes("\ufeffdef with_bom(x):\n    return x\n".encode())
    engine = make_engine(tmp_path, ContextConfig(budget_tokens=255))  # no project block: the file's
    uri = open_file(engine, tmp_path, "app.py", "python",
                    "from blob import packed\nfrom bom import with_bom\n\npacked(1)\nwith_bom(2)\n")
    text = engine.block(uri, 4).file
    assert "def with_bom(x):" in text and "\ufeff" not in text
    assert "packed" not in text and "\x00" not in text


def test_a_definition_joining_late_keeps_the_file_block_tail_and_other_files_cached(py_root: Path):
    """A name used for the first time brings its definition: it goes in the late block, the last
    part of the prompt's head (after the file block, the file's tail and the other open files),
    so the prompt stays byte for byte up to it and only it and the window are billed again. At
    the next band change it joins the file block."""
    from deepseek_ls.prompt.fim import build_fim_prompt
    from deepseek_ls.snapshot import DocumentSnapshot

    engine = make_engine(py_root)
    body = "".join(f"def later_{i}(x):\n    return x + {i}\n\n" for i in range(40))
    before = "from .priv import _first_new\nfrom .util import *\n\ndef run(x):\n    return _first_new(x)\n"
    after = before.replace("from .util import *", "from .priv import _second_new") + "    _second_new(x)\n"
    uri = open_file(engine, py_root, "pkg/a.py", "python", before + body)
    other = DocumentSnapshot("file:///w/pkg/o.py", "pkg/o.py", "python", "VALUE = '面积😀'\n", 1)

    def prompt(text: str, version: int, lines_after: int | None = None) -> tuple[str, str, str]:
        engine.opened(uri, text, "python", version)
        line = text[:len(text) - len(body)].count("\n") - 1
        block = engine.block(uri, line, lines_after)
        fim = build_fim_prompt(DocumentSnapshot(uri, "pkg/a.py", "python", text, version), len(text) - len(body) - 1,
                               others=engine.pin_others(uri, (other,)), project_context=block.project,
                               file_context=block.file, late_context=block.late)
        return fim.prompt, block.file, block.late

    first, first_block, first_late = prompt(before + body, 1)
    second, second_block, second_late = prompt(after + body, 2)
    assert "def _first_new(" in first_block and first_late == ""
    assert second_block == first_block and "def _second_new(" in second_late
    block_at = first.index(first_block)
    tail = first.index("# Path: pkg/a.py (later in this file)")
    listed = first.index("# Other file: pkg/o.py")
    late_at = second.index(second_late)
    assert block_at < tail < listed < late_at  # file block, tail, other files, late block, window
    assert second[:late_at] == first[:late_at]  # everything before the late block: cached
    _, settled_block, settled_late = prompt(after + body, 3, lines_after=400)  # another band
    assert "def _second_new(" in settled_block and settled_late == ""


def test_the_project_block_belongs_to_the_files_workspace_folder(tmp_path: Path):
    """Multi-root: each workspace folder is its own project (a file of one folder never gets the
    other folder's map); a file outside every folder gets no project block at all."""
    for name in ("alpha", "beta"):
        write(tmp_path / name, {f"{name}pkg/__init__.py": "",
                                f"{name}pkg/core.py": f"def {name}_helper(x):\n    return x\n",
                                f"{name}pkg/one.py": f"from .core import {name}_helper\n\n{name}_helper(1)\n",
                                f"{name}pkg/two.py": f"from .core import {name}_helper\n\n{name}_helper(2)\n"})
    write(tmp_path / "outside", {"pyproject.toml": "[project]\nname='o'\n", "x/main.py": "VALUE = 1\n"})
    engine = ContextEngine(None, display=lambda p: os.path.relpath(p, tmp_path),
                           path_of=lambda u: os.path.normpath(u[len("file://"):]) if u.startswith("file://") else None)
    engine.set_roots([str(tmp_path / "alpha"), str(tmp_path / "beta")])
    assert "def alpha_helper(" in engine.project_block and "def beta_helper(" in engine.project_block
    a = open_file(engine, tmp_path, "alpha/alphapkg/new.py", "python", "x = 1\n")
    b = open_file(engine, tmp_path, "beta/betapkg/new.py", "python", "y = 2\n")
    b2 = open_file(engine, tmp_path, "beta/betapkg/other.py", "python", "z = 3\n")
    out = open_file(engine, tmp_path, "outside/x/main.py", "python")
    block_a, block_b, block_b2 = engine.block(a, 0), engine.block(b, 0), engine.block(b2, 0)
    assert "def alpha_helper(" in block_a.project and "beta_helper" not in block_a.project
    assert "def beta_helper(" in block_b.project and "alpha_helper" not in block_b.project
    assert block_b2.project == block_b.project  # one folder's files share their block
    assert engine.block(out, 0).project == ""
