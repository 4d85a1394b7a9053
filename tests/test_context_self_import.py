"""A file that imports itself (review of issue 12): its own definitions are never "Other file"
context. A Go file importing its own package's path put its own function, half-typed body and
cursor line included, into the head of its prompt as ``// Other file: m.go``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deepseek_ls.context import ContextEngine


def _engine(root: Path) -> ContextEngine:
    engine = ContextEngine(display=lambda p: os.path.relpath(p, root).replace(os.sep, "/"),
                           path_of=lambda u: os.path.normpath(u[len("file://"):]) if u.startswith("file://") else None)
    engine.set_roots([str(root)])
    return engine


CASES = {
    "go": ({"go.mod": "module example.com/m\n\ngo 1.21\n",
            "helper.go": "package m\n\n// Helper is SIBLING_MARKER.\nfunc Helper() int { return 1 }\n"},
           "m.go", 'package m\n\nimport "example.com/m"\n\nfunc OwnMarker() int {\n\tHelper()\n\treturn m.OwnMarker()\n}\n'),
    "go-subpackage": ({"go.mod": "module example.com/m\n\ngo 1.21\n",
                       "sub/helper.go": "package sub\n\n// Helper is SIBLING_MARKER.\nfunc Helper() int { return 1 }\n"},
                      "sub/s.go", 'package sub\n\nimport "example.com/m/sub"\n\nfunc OwnMarker() int {\n'
                                  '\tHelper()\n\treturn sub.OwnMarker()\n}\n'),
    "python": ({"pkg/__init__.py": "", "pkg/helper.py": 'def helper():\n    """SIBLING_MARKER"""\n'},
               "pkg/main.py", "from pkg.main import own_marker\nfrom pkg.helper import helper\nimport pkg.main\n\n"
                              "def own_marker():\n    helper()\n    return pkg.main.own_marker()\n"),
    "typescript": ({"package.json": "{}", "helper.ts": "export function helper() { return 1; } // SIBLING_MARKER\n"},
                   "self.ts", "import { ownMarker } from './self';\nimport { helper } from './helper';\n"
                              "export function ownMarker() {\n  helper();\n  return ownMarker();\n}\n"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_file_importing_itself_is_not_its_own_context(tmp_path: Path, case: str):
    files, rel, text = CASES[case]
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content, encoding="utf-8")
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_text(text, encoding="utf-8")
    engine = _engine(tmp_path)
    try:
        uri = f"file://{tmp_path / rel}"
        language = {"go": "go", "go-subpackage": "go", "python": "python", "typescript": "typescript"}[case]
        engine.opened(uri, text, language, 1)  # no running loop: analysed now
        block = engine.block(uri, text.count("\n") - 2)
        context = block.project + block.file + block.late
        assert "SIBLING_MARKER" in context  # the engine did resolve the file's imports
        assert f"Other file: {rel}" not in context
        assert "OwnMarker" not in context and "own_marker" not in context and "ownMarker" not in context
    finally:
        engine.close()
