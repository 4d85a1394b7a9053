"""The project map: the top-level definitions the project's own files use most.

Built once per session (and again only when it must, see :mod:`.engine`) from
the workspace folders, in a background thread, capped: at most
:data:`MAX_FILES` files and :data:`MAX_BYTES` bytes, shallow folders first,
skipping hidden, vendored and build folders. Each file of a supported
language is parsed and its imports resolved (:class:`.resolve.Workspace`);
every definition another file imports or uses through a module
(``mod.Name``) gets a score: the number of distinct files using it, then the
number of lines using it. Go adds the package's own names other files of the
package use (no import needed there). After those come the other public
top-level definitions (no leading ``_``) of the files the project uses:
functions and types before variables, those of the most used files first.
A file no other file uses (a migration, a script, a test) adds nothing.

:func:`rank` gives the scored definitions best first; the engine fills the
project block with them up to its share of the budget, in whole cache units.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .parse import Definition, language_of
from .resolve import Workspace

#: at most this many files are parsed for the map
MAX_FILES = 300
#: and at most this many bytes in all
MAX_BYTES = 4_000_000
#: folders never walked (besides hidden ones)
SKIP_DIRS = frozenset({"node_modules", "__pycache__", "venv", ".venv", "env", "build", "dist", "vendor",
                       "site-packages", "target", "out", "coverage"})


@dataclass(frozen=True)
class Ranked:
    """One definition of the map: where, what, and how much the project uses it."""

    path: str
    definition: Definition
    files: int  # distinct files of the project using it
    uses: int   # lines using it, over those files


def project_files(roots: list[str], max_files: int = MAX_FILES, max_bytes: int = MAX_BYTES) -> list[str]:
    """Source files (supported languages) under ``roots``, breadth first, sorted per folder, capped."""
    out: list[str] = []
    total = 0
    queue = [os.path.normpath(r) for r in roots if os.path.isdir(r)]
    seen: set[str] = set()
    while queue and len(out) < max_files:
        folder = queue.pop(0)
        if folder in seen:
            continue
        seen.add(folder)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not name.startswith(".") and name not in SKIP_DIRS:
                        queue.append(entry.path)
                    continue
                if language_of(name) is None or name.endswith("_test.go") or not entry.is_file():
                    continue
                size = entry.stat().st_size
            except OSError:
                continue
            if total + size > max_bytes:
                continue
            out.append(entry.path)
            total += size
            if len(out) >= max_files:
                break
    return out


def rank(workspace: Workspace, files: list[str]) -> list[Ranked]:
    """The definitions ``files`` use from each other, best first (deterministic).

    Excluded files (``workspace.allowed``) are neither read nor returned."""
    users: dict[tuple[str, str], set[str]] = {}
    lines: dict[tuple[str, str], int] = {}
    found: dict[tuple[str, str], tuple[str, Definition]] = {}

    def count(user: str, hit: tuple[str, Definition] | None, n: int) -> None:
        if hit is None or hit[0] == user:
            return
        key = (hit[0], hit[1].name)
        found[key] = hit
        users.setdefault(key, set()).add(user)
        lines[key] = lines.get(key, 0) + n

    go_packages: dict[tuple[str, str], list[str]] = {}
    for path in files:
        src = workspace.source(path)
        if src is None:
            continue
        parsed = src.parsed
        if parsed.language == "go":
            go_packages.setdefault((os.path.dirname(path), parsed.package), []).append(path)
        bindings = workspace.bindings(path, parsed)
        members = parsed.lines_of({b.local for b in bindings if b.name is not None})
        qualified = parsed.qualified_of({b.local for b in bindings if b.name is None})
        for b in bindings:
            if b.name is not None:
                count(path, workspace.definition(b.path, b.name), len(members.get(b.local, [])))
                continue
            for (q, name), where in qualified.items():
                if q == b.local:
                    hit = (workspace.package_definition(b.path, name) if parsed.language == "go"
                           else workspace.definition(b.path, name))
                    count(path, hit, len(where))
    for package_files in go_packages.values():  # Go: the package's names need no import
        sources = [(p, workspace.source(p)) for p in package_files]
        for path, src in sources:
            if src is None:
                continue
            for name, definition in src.parsed.definitions.items():
                if "." in name:
                    continue
                for other, osrc in sources:
                    if other != path and osrc is not None and name in osrc.parsed.words:
                        count(other, (path, definition), 1)
    out = [Ranked(key[0], found[key][1], len(users[key]), lines[key]) for key in found]
    out.sort(key=lambda r: (-r.files, -r.uses, r.path, r.definition.line))
    # then the other public definitions (the project's API) of the files the project uses,
    # those it uses most first: a small project's map still fills its units
    weight: dict[str, int] = {}
    for r in out:
        weight[r.path] = weight.get(r.path, 0) + r.files
    rest: list[Ranked] = []
    for path in files:
        if not weight.get(path):
            continue  # a file nothing imports (a migration, a script, a test) says nothing of the API
        src = workspace.source(path)
        if src is None:
            continue
        # `export { a as b }`: b is a (the same text at the same place), listed once
        places = {(r.definition.line, r.definition.text) for r in out if r.path == path}
        for name, definition in src.parsed.definitions.items():
            place = (definition.line, definition.text)
            if (path, name) not in found and not name.startswith("_") and "." not in name and place not in places:
                places.add(place)
                rest.append(Ranked(path, definition, 0, 0))
    # functions, classes, types before module-level variables (constants say little)
    rest.sort(key=lambda r: (r.definition.kind in ("variable", "var"), -weight.get(r.path, 0), r.path, r.definition.line))
    return out + rest
