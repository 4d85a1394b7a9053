"""Context-recall tasks: a line that uses a name defined in another file of the same project.

A project is a directory of source files of one language. For each file we find the names it
takes from other files of the project, and the lines that use them:

- Python (stdlib ``ast``): ``from .mod import Name`` / ``from pkg.mod import Name`` (the name
  defined at the top level of that module: def, class, UPPER_CASE constant) used as ``Name``,
  and ``from . import mod`` / ``import pkg.mod as m`` used as ``mod.Name``;
- TypeScript (line regexes): ``import { Name } from './x'`` with ``export function|class|const|
  interface|type|enum Name`` in ``x.ts`` / ``x/index.ts``;
- Go (line regexes): top-level ``func|type|const|var`` names of one package (directory) used in
  another file of the same package (Go needs no import for those).

The regexes are deliberately simple (this is a measuring stick, not the engine).

A task blanks the line after its indentation (the user is about to type it) and puts the cursor
there; ``expected`` is the blanked text. The task is a *hit* when the definition's first line
(``Definition.signature``, stripped) appears in the FIM request (prompt or suffix).
"""
from __future__ import annotations

import ast
import hashlib
import os
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

EXTENSIONS = {"python": (".py",), "typescript": (".ts",), "go": (".go",)}
MIN_LINE_CHARS = 8
MAX_LINE_CHARS = 120
MAX_FILE_CHARS = 60_000
SNIPPET_LINES = 12


@dataclass(frozen=True)
class Definition:
    name: str
    path: str          # relative to the project root, "/" separated
    line: int          # 0-based line of the signature
    signature: str     # that line, stripped
    snippet: str       # the definition's first lines (up to SNIPPET_LINES, to its end when shorter)


@dataclass(frozen=True)
class Task:
    id: str
    project: str
    language: str
    path: str          # the file the cursor is in, relative to the project root
    line: int          # 0-based
    indent: str
    expected: str      # the line's text after the indentation (what the user is about to type)
    name: str          # the name as used in the line
    definition: Definition
    tabs: tuple[str, ...] = field(default=())   # other files open in the "few tabs" setting

    def document(self, root: str | Path) -> tuple[str, int]:
        """(text with the task line blanked after its indentation, cursor offset in code points)."""
        text = read_text(Path(root) / self.path)
        lines = text.split("\n")
        assert lines[self.line].startswith(self.indent) and lines[self.line][len(self.indent):].rstrip() == self.expected
        offset = sum(len(x) + 1 for x in lines[: self.line]) + len(self.indent)
        lines[self.line] = self.indent
        return "\n".join(lines), offset

    def to_json(self) -> dict:
        d = asdict(self)
        d["tabs"] = list(self.tabs)
        return d


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")


def is_hit(task: Task, prompt: str, suffix: str = "") -> bool:
    """True when the definition's signature line is in the request's prompt or suffix."""
    sig = task.definition.signature
    return bool(sig) and (sig in prompt or sig in suffix)


def project_files(root: Path, language: str) -> list[str]:
    exts = EXTENSIONS[language]
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in ("node_modules", "testdata",
                                                                                         "__pycache__"))
        for f in sorted(filenames):
            if not f.endswith(exts) or f.endswith((".d.ts", "_test.go")):
                continue
            p = Path(dirpath) / f
            if p.stat().st_size > MAX_FILE_CHARS:
                continue
            out.append(p.relative_to(root).as_posix())
    return out


def _snippet(lines: list[str], start: int, end: int | None = None) -> str:
    end = start + SNIPPET_LINES if end is None else min(end, start + SNIPPET_LINES)
    return "\n".join(lines[start:end]).rstrip() + "\n"


def _line_ok(line: str) -> bool:
    s = line.strip()
    return MIN_LINE_CHARS <= len(s) <= MAX_LINE_CHARS


# ---------------------------------------------------------------- Python

def _py_module(rel: str) -> str:
    parts = rel[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _py_defs(rel: str, text: str, tree: ast.Module) -> dict[str, Definition]:
    lines = text.split("\n")
    defs: dict[str, Definition] = {}
    for node in tree.body:
        names: list[str] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper() and len(t.id) > 2]
        for n in names:
            ln = node.lineno - 1
            sig = lines[ln].strip()
            if len(sig) < 6:
                continue
            defs[n] = Definition(n, rel, ln, sig, _snippet(lines, ln, node.end_lineno))
    return defs


def _py_tasks(root: Path, files: list[str]) -> list[tuple[str, int, str, Definition]]:
    texts, trees, defs, modules = {}, {}, {}, {}
    for rel in files:
        text = read_text(root / rel)
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        texts[rel], trees[rel] = text, tree
        defs[rel] = _py_defs(rel, text, tree)
        modules[_py_module(rel)] = rel
    out = []
    for rel, tree in trees.items():
        mod = _py_module(rel)
        package = mod if rel.endswith("__init__.py") else mod.rpartition(".")[0]
        names: dict[str, Definition] = {}      # local name -> definition
        mod_alias: dict[str, str] = {}         # local name -> module file
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package
                    for _ in range(node.level - 1):
                        base = base.rpartition(".")[0]
                    base = ".".join(x for x in (base, node.module or "") if x)
                else:
                    base = node.module or ""
                for a in node.names:
                    local = a.asname or a.name
                    sub = f"{base}.{a.name}" if base else a.name
                    if sub in modules:
                        mod_alias[local] = modules[sub]
                    elif base in modules and a.name in defs.get(modules[base], {}):
                        names[local] = defs[modules[base]][a.name]
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname and a.name in modules:
                        mod_alias[a.asname] = modules[a.name]
        lines = texts[rel].split("\n")
        import_lines = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                import_lines.update(range(node.lineno - 1, (node.end_lineno or node.lineno)))
        seen: set[tuple[int, str]] = set()
        for node in ast.walk(tree):
            d = None
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in names:
                d, used = names[node.id], node.id
            elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                  and node.value.id in mod_alias and node.attr in defs.get(mod_alias[node.value.id], {})):
                d, used = defs[mod_alias[node.value.id]][node.attr], f"{node.value.id}.{node.attr}"
            if d is None or d.path == rel:
                continue
            ln = node.lineno - 1
            if ln in import_lines or (ln, used) in seen or not _line_ok(lines[ln]):
                continue
            seen.add((ln, used))
            out.append((rel, ln, used, d))
    return out


# ---------------------------------------------------------------- TypeScript

_TS_EXPORT = re.compile(r"^export\s+(?:default\s+)?(?:declare\s+)?(?:abstract\s+)?(?:async\s+)?"
                        r"(?:function\*?|class|const|let|var|interface|type|enum)\s+([A-Za-z_$][\w$]*)")
_TS_IMPORT = re.compile(r"import\s+(?:type\s+)?\{([^}]*)\}\s*from\s*['\"](\.[^'\"]*)['\"]", re.S)
_TS_COMMENT = re.compile(r"^\s*(//|/\*|\*)")


def _ts_resolve(root: Path, rel: str, spec: str, known: set[str]) -> str | None:
    base = (Path(rel).parent / spec).as_posix()
    base = os.path.normpath(base).replace(os.sep, "/")
    for cand in (base + ".ts", base + "/index.ts", base):
        if cand in known:
            return cand
    return None


def _ts_tasks(root: Path, files: list[str]) -> list[tuple[str, int, str, Definition]]:
    texts = {rel: read_text(root / rel) for rel in files}
    known = set(texts)
    defs: dict[str, dict[str, Definition]] = {}
    for rel, text in texts.items():
        lines = text.split("\n")
        d: dict[str, Definition] = {}
        for i, line in enumerate(lines):
            m = _TS_EXPORT.match(line)
            if m and len(line.strip()) >= 10:
                d.setdefault(m.group(1), Definition(m.group(1), rel, i, line.strip(), _snippet(lines, i)))
        defs[rel] = d
    out = []
    for rel, text in texts.items():
        names: dict[str, Definition] = {}
        import_spans = []
        for m in _TS_IMPORT.finditer(text):
            import_spans.append((text.count("\n", 0, m.start()), text.count("\n", 0, m.end())))
            target = _ts_resolve(root, rel, m.group(2), known)
            if target is None:
                continue
            for item in m.group(1).split(","):
                item = item.strip()
                if item.startswith("type "):
                    item = item[5:].strip()
                orig, _, local = item.partition(" as ")
                orig, local = orig.strip(), (local.strip() or orig.strip())
                if orig in defs.get(target, {}):
                    names[local] = defs[target][orig]
        if not names:
            continue
        pat = re.compile(r"(?<![\w$.])(" + "|".join(re.escape(n) for n in sorted(names)) + r")(?![\w$])")
        for i, line in enumerate(text.split("\n")):
            if any(a <= i <= b for a, b in import_spans) or _TS_COMMENT.match(line) or not _line_ok(line):
                continue
            m = pat.search(line)
            if m:
                out.append((rel, i, m.group(1), names[m.group(1)]))
    return out


# ---------------------------------------------------------------- Go

_GO_TOP = re.compile(r"^(?:func\s+([A-Za-z_]\w*)\s*[\(\[]|type\s+([A-Za-z_]\w*)\b|(?:const|var)\s+([A-Za-z_]\w*)\b)")
_GO_BLOCK = re.compile(r"^(const|var|type)\s*\($")
_GO_BLOCK_ITEM = re.compile(r"^\t([A-Za-z_]\w*)\b")
_GO_COMMENT = re.compile(r"^\s*//")


def _go_defs(rel: str, text: str) -> dict[str, Definition]:
    lines = text.split("\n")
    d: dict[str, Definition] = {}
    block = False
    for i, line in enumerate(lines):
        if block:
            if line.startswith(")"):
                block = False
                continue
            m = _GO_BLOCK_ITEM.match(line)
            if m and len(line.strip()) >= 8:
                d.setdefault(m.group(1), Definition(m.group(1), rel, i, line.strip(), _snippet(lines, i, i + 1)))
            continue
        if _GO_BLOCK.match(line):
            block = True
            continue
        m = _GO_TOP.match(line)
        if m:
            name = next(g for g in m.groups() if g)
            end = i + 1
            if line.rstrip().endswith("{"):
                while end < len(lines) and not lines[end].startswith("}"):
                    end += 1
                end += 1
            d.setdefault(name, Definition(name, rel, i, line.strip(), _snippet(lines, i, end)))
    return {k: v for k, v in d.items() if len(k) >= 3 and k != "init" and k != "main"}


def _go_tasks(root: Path, files: list[str]) -> list[tuple[str, int, str, Definition]]:
    by_dir: dict[str, list[str]] = {}
    for rel in files:
        by_dir.setdefault(str(Path(rel).parent), []).append(rel)
    out = []
    for group in by_dir.values():
        texts = {rel: read_text(root / rel) for rel in group}
        defs = {rel: _go_defs(rel, t) for rel, t in texts.items()}
        for rel, text in texts.items():
            names = {}
            for other in group:
                if other != rel:
                    for n, d in defs[other].items():
                        if n not in defs[rel]:
                            names.setdefault(n, d)
            if not names:
                continue
            # not a selector (x.Name) and not a field key in a composite literal (Name: v)
            pat = re.compile(r"(?<![\w.])(" + "|".join(re.escape(n) for n in sorted(names)) + r")(?!\w)(?!\s*:[^=])")
            in_import = False
            in_raw = False       # inside a multi-line `raw string` (templates, usage texts)
            for i, line in enumerate(text.split("\n")):
                was_raw = in_raw
                if line.count("`") % 2:
                    in_raw = not in_raw
                if was_raw:
                    continue
                if in_raw:       # the line opens a raw string: only the code before it counts
                    line = line[: line.index("`")]
                if line.startswith("import ("):
                    in_import = True
                if in_import:
                    in_import = not line.startswith(")")
                    continue
                if line.startswith(("import ", "package ")) or _GO_COMMENT.match(line) or not _line_ok(line):
                    continue
                if not line.startswith(("\t", " ")):
                    continue     # top-level lines are declarations; keep uses inside bodies
                m = pat.search(line)
                if m:
                    out.append((rel, i, m.group(1), names[m.group(1)]))
    return out


_FINDERS = {"python": _py_tasks, "typescript": _ts_tasks, "go": _go_tasks}


def build_tasks(project: str, root: str | Path, language: str, seed: int = 0, limit: int | None = None,
                tabs: int = 3) -> list[Task]:
    """Deterministic tasks of one project: at most one per file, ``limit`` per project.

    ``tabs``: how many other files of the project to list in ``Task.tabs`` (picked at random
    with the seed among all files of the language, so the defining file may or may not be one).
    """
    root = Path(root)
    files = project_files(root, language)
    cands = _FINDERS[language](root, files)
    texts: dict[str, str] = {}
    by_file: dict[str, list] = {}
    for rel, ln, used, d in cands:
        if rel not in texts:
            texts[rel] = read_text(root / rel)
        if d.signature in texts[rel]:
            continue      # the definition's line is in the file itself: not a cross-file task
        by_file.setdefault(rel, []).append((ln, used, d))
    tasks: list[Task] = []
    for rel in sorted(by_file):
        rng = random.Random(f"{seed}:{project}:{rel}")   # per file: a change elsewhere keeps this pick
        opts = sorted(by_file[rel], key=lambda x: (x[0], x[1]))
        ln, used, d = rng.choice(opts)
        line = texts[rel].split("\n")[ln]
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        others = [f for f in files if f != rel]
        pick = tuple(sorted(rng.sample(others, min(tabs, len(others)))))
        tid = hashlib.sha1(f"{project}:{rel}:{ln}".encode()).hexdigest()[:10]
        tasks.append(Task(tid, project, language, rel, ln, indent, line[len(indent):].rstrip(), used, d, pick))
    random.Random(f"{seed}:{project}").shuffle(tasks)
    if limit is not None:
        tasks = tasks[:limit]
    return sorted(tasks, key=lambda t: (t.path, t.line))
