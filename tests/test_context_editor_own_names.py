"""The names the server asks the editor about (``deepseek/definitions``) leave out the file's
own top-level definitions (review of issue 12): the editor can only answer this document for
them, an answer the server drops and counts as "found nothing", so each set of such names was
asked again 5 times (2, 5, 15, 30, 60 s) for nothing. Typing a 20-line self-contained Python
file asked 87 positions in 10 requests; 71 with them left out."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from deepseek_ls.context import ContextConfig
from tests.test_context import make_engine

SOURCES = {
    "python": ("app.py", "def helper_fn(a):\n    return a\n\n\nclass Widget:\n    pass\n\n\n"
                         "def run(count):\n    w = Widget()\n    return helper_fn(count) + other_fn(w)\n"),
    "typescript": ("app.ts", "function helperFn(a: number) { return a; }\nclass Widget {}\n"
                             "export function run(count: number) {\n  const w = new Widget();\n"
                             "  return helperFn(count) + otherFn(w);\n}\n"),
    "go": ("app.go", "package app\n\ntype Widget struct{}\n\nfunc helperFn(a int) int { return a }\n\n"
                     "func Run(count int) int {\n\tw := Widget{}\n\t_ = w\n\treturn helperFn(count) + otherFn(count)\n}\n"),
}


@pytest.mark.parametrize("language", sorted(SOURCES))
def test_the_files_own_definitions_are_not_asked(tmp_path: Path, language: str) -> None:
    name, text = SOURCES[language]
    (tmp_path / "go.mod").write_text("module example.com/app\n\ngo 1.21\n", encoding="utf-8")
    (tmp_path / name).write_text(text, encoding="utf-8")
    asked: list[list[str]] = []

    async def scenario() -> None:
        async def provider(uri: str, positions: list[tuple[int, int]]) -> None:
            lines = text.split("\n")
            asked.append([re.match(r"\w+", lines[line][column:]).group(0)  # type: ignore[union-attr]  # a name is asked at its start
                          for line, column in positions])

        engine = make_engine(tmp_path, ContextConfig(definitions=False))
        engine.definitions_provider = provider
        uri = f"file://{tmp_path / name}"
        engine.cursor(uri, text.count("\n") - 1)
        engine.opened(uri, text, language, 1)
        loop = asyncio.get_running_loop()
        end = loop.time() + 10
        while not asked and loop.time() < end:
            await asyncio.sleep(0.01)
        engine.close()

    asyncio.run(scenario())
    assert asked, "the editor was asked"
    names = set(asked[0])
    assert {"otherFn", "other_fn"} & names, names  # a name the file does not define is asked
    assert not {"helper_fn", "helperFn", "Widget", "run", "Run"} & names, names
