"""The largest modules and functions of ``deepseek_ls`` (in lines), at git revisions.

    python -m tests.bench.sizes 84f7a58 main          # a Markdown table per revision
    python -m tests.bench.sizes --top 5 HEAD

A module's size is its line count; a function's (methods and nested
functions too) runs from its ``def`` line to its last line, decorators
left out; a class's, from its ``class`` line to its last line. Files are
read from git (``git show REV:PATH``), so nothing is checked out.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
from dataclasses import dataclass

PACKAGE = "deepseek_ls"


@dataclass(frozen=True)
class Sized:
    name: str   # "path" or "path:Class.function"
    lines: int


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def sources(rev: str) -> dict[str, str]:
    """``{path: text}`` of the package's Python files at ``rev``."""
    paths = [p for p in _git("ls-tree", "-r", "--name-only", rev, "--", PACKAGE).splitlines()
             if p.endswith(".py")]
    return {p: _git("show", f"{rev}:{p}") for p in paths}


def _classes(tree: ast.AST, path: str) -> list[Sized]:
    return [Sized(f"{path}:{node.name}", (node.end_lineno or node.lineno) - node.lineno + 1)
            for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]


def _functions(tree: ast.AST, path: str) -> list[Sized]:
    out: list[Sized] = []

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{scope}{child.name}"
                end = child.end_lineno or child.lineno
                out.append(Sized(f"{path}:{name}", end - child.lineno + 1))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{scope}{child.name}.")
            else:
                visit(child, scope)

    visit(tree, "")
    return out


def measure(rev: str) -> tuple[list[Sized], list[Sized], list[Sized]]:
    """(modules, classes, functions) at ``rev``, each largest first."""
    modules: list[Sized] = []
    classes: list[Sized] = []
    functions: list[Sized] = []
    for path, text in sources(rev).items():
        tree = ast.parse(text)
        modules.append(Sized(path, len(text.splitlines())))
        classes += _classes(tree, path)
        functions += _functions(tree, path)

    def largest(items: list[Sized]) -> list[Sized]:
        return sorted(items, key=lambda s: (-s.lines, s.name))

    return largest(modules), largest(classes), largest(functions)


def table(rev: str, top: int) -> str:
    modules, classes, functions = measure(rev)
    short = _git("rev-parse", "--short", rev).strip()
    rows = [f"### {rev} ({short}): {len(modules)} modules, {sum(m.lines for m in modules)} lines, "
            f"{len(functions)} functions",
            "", "| largest modules | lines | largest classes | lines | largest functions | lines |",
            "| --- | ---: | --- | ---: | --- | ---: |"]
    for i in range(top):
        cells = [(column[i].name.removeprefix(PACKAGE + "/"), column[i].lines) if i < len(column) else ("", 0)
                 for column in (modules, classes, functions)]
        rows.append("| " + " | ".join(f"`{name}` | {lines}" for name, lines in cells) + " |")
    over = sum(1 for f in functions if f.lines > 50)
    rows += ["", f"functions over 50 lines: {over}", ""]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revs", nargs="+", help="git revisions (commits, branches)")
    parser.add_argument("--top", type=int, default=8, help="rows per table (default 8)")
    args = parser.parse_args(argv)
    for rev in args.revs:
        print(table(rev, args.top))


if __name__ == "__main__":
    main()
