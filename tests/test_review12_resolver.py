"""Review of issue 12: imports the resolver gets wrong (engine driven directly; no event loop,
so each analysis runs at once). Each case: files on disk, the open file, the text that must be
in the context block."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepseek_ls.context import ContextConfig, ContextEngine
from deepseek_ls.features.context import _path_of

CASES = {
    # TypeScript/JavaScript: a default import binds the name "default", never looked up
    "ts-default-function": (
        {"src/make.ts": "export default function make(n: number) {\n  return n;\n}\n"},
        "src/app.ts", 'import make from "./make";\n\nconst x = make(1);\n', "typescript", "function make("),
    "ts-default-class": (
        {"src/Store.ts": "export default class Store {\n  get(k: string) { return k; }\n}\n"},
        "src/app.ts", 'import Store from "./Store";\n\nconst s = new Store();\n', "typescript", "class Store"),
    "ts-default-named-later": (
        {"src/make.ts": "function make(n: number) {\n  return n;\n}\nexport default make;\n"},
        "src/app.ts", 'import make from "./make";\n\nconst x = make(1);\n', "typescript", "function make("),
    "tsx-default-component-index": (
        {"src/Button/index.tsx": "export default function Button(props: {label: string}) {\n  return null;\n}\n"},
        "src/app.tsx", 'import Button from "./Button";\n\nconst x = Button({label: "a"});\n', "typescriptreact",
        "function Button("),
    "ts-reexport-default-as": (
        {"src/Card.tsx": "export default function Card() {\n  return null;\n}\n",
         "src/index.ts": 'export { default as Card } from "./Card";\n'},
        "src/app.tsx", 'import { Card } from "./index";\n\nconst x = Card();\n', "typescriptreact", "function Card("),
    # tsconfig "paths" aliases (`@/...`), in most TS apps
    "ts-tsconfig-paths": (
        {"tsconfig.json": '{"compilerOptions": {"baseUrl": ".", "paths": {"@/*": ["src/*"]}}}',
         "src/lib/util.ts": "export function slugify(s: string): string {\n  return s.toLowerCase();\n}\n"},
        "src/app.ts", 'import { slugify } from "@/lib/util";\n\nconst x = slugify("A");\n', "typescript",
        "function slugify("),
    # CommonJS
    "js-require-destructure": (
        {"lib/helper.js": "function helper(a) {\n  return a * 2;\n}\nmodule.exports = { helper };\n"},
        "lib/app.js", 'const { helper } = require("./helper");\n\nconst x = helper(1);\n', "javascript",
        "function helper("),
    # Go: the package clause names the package, not the folder (`/v2`, `yaml.v3`, `v2api`)
    "go-package-name-not-folder": (
        {"go.mod": "module example.com/m\n", "v2api/u.go": "package api\n\nfunc Call(a int) int {\n\treturn a\n}\n"},
        "cmd/main.go", 'package main\n\nimport "example.com/m/v2api"\n\nfunc main() {\n\tapi.Call(1)\n}\n', "go",
        "func Call("),
    # Go: a multi-module workspace (go.work)
    "go-work-other-module": (
        {"go.work": "go 1.21\n\nuse (\n\t./app\n\t./lib\n)\n", "lib/go.mod": "module example.com/lib\n",
         "lib/l.go": "package lib\n\nfunc Helper() int {\n\treturn 1\n}\n", "app/go.mod": "module example.com/app\n"},
        "app/main.go", 'package main\n\nimport "example.com/lib"\n\nfunc main() {\n\tlib.Helper()\n}\n', "go",
        "func Helper("),
}


@pytest.mark.parametrize("name", list(CASES))
def test_import_resolves(tmp_path: Path, name: str):
    files, app, text, language_id, want = CASES[name]
    for rel, body in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(body)
    engine = ContextEngine(ContextConfig(), path_of=_path_of)
    engine.set_roots([str(tmp_path)])
    uri = (tmp_path / app).as_uri()
    engine.opened(uri, text, language_id, 1)
    block = engine.block(uri, text.count("\n") - 1)
    assert want in block.project + block.file, f"{name}: not resolved"


def test_multi_root_prefers_the_files_own_root(tmp_path: Path):
    """Two workspace folders each with a top-level `utils.py`: a file of folder A importing
    `utils` gets folder B's `utils.helper` (the folder listed first), a wrong definition from
    another project."""
    for rel, body in {"A/app/main.py": "", "A/utils.py": "def helper(x):\n    return 'A'\n",
                      "B/utils.py": "def helper(y, z):\n    return 'B'\n"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(body)
    engine = ContextEngine(ContextConfig(), path_of=_path_of)
    engine.set_roots([str(tmp_path / "B"), str(tmp_path / "A")])
    uri = (tmp_path / "A/app/main.py").as_uri()
    engine.opened(uri, "from utils import helper\n\nhelper(1)\n", "python", 1)
    block = engine.block(uri, 2)
    # the import resolves in the file's own root (B's file may only appear in the shared project map)
    assert "def helper(x)" in block.project + block.file and "def helper(y, z)" not in block.file
