"""The workspace as the context engine sees it: files read from disk (or the
editor's copy when open), parsed once per version, and imports resolved to files.

- Python: relative imports (``from ..a import B``), absolute imports from a
  workspace root, its ``src/`` or the root of the package the file is in
  (the folder above its outermost ``__init__.py``); ``from . import mod`` and
  ``import a.b as m`` bind modules (used as ``mod.Name``); a package's
  ``__init__`` re-exports are followed.
- TypeScript/JavaScript: relative specifiers, with extension (``.ts``,
  ``.tsx``, ``.d.ts``, ``.js`` ...), ``.js``-to-``.ts`` and ``index`` resolution;
  ``export {A} from`` / ``export * from`` are followed.
- Go: the other files of the same package (same directory, same ``package``
  clause, no ``_test.go``), and imports under the module path of the nearest
  ``go.mod``.

Every file is checked with ``allowed(path)`` (the exclusion policy) before it
is read: an excluded file is never read, parsed or returned. Not thread-safe:
one worker thread uses it (see :mod:`.engine`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache

from .parse import Definition, Parsed, language_of, parse

#: files larger than this (bytes) are not read for context
MAX_FILE_BYTES = 1_000_000
_TS_EXTS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
_GO_MODULE = re.compile(r"^module\s+(\S+)", re.M)


@dataclass(frozen=True)
class Source:
    """A parsed file: its path, text, language and parse."""

    path: str
    text: str
    parsed: Parsed


@dataclass(frozen=True)
class Binding:
    """What a name of a file refers to in another file: a definition (``member``)
    or a module whose definitions are used as ``local.Name``."""

    local: str
    path: str
    name: str | None  # None: a module binding


class Workspace:
    """Files, parses and import resolution, cached by (mtime, size) or open version."""

    def __init__(self, allowed: Callable[[str], bool], item_tokens: int = 200) -> None:
        self.allowed = allowed
        self.item_tokens = item_tokens
        self.roots: list[str] = []
        #: open documents: path -> (version, text, language)
        self._open: dict[str, tuple[object, str, str]] = {}
        self._cache: LRUCache[str, tuple[object, Source | None]] = LRUCache(maxsize=512)
        self._dirs: LRUCache[str, tuple[float, list[str]]] = LRUCache(maxsize=512)
        self._gomod: LRUCache[str, tuple[str, str] | None] = LRUCache(maxsize=256)

    def set_open(self, path: str, version: object, text: str, language_id: str) -> None:
        self._open[path] = (version, text, language_id)

    def set_closed(self, path: str) -> None:
        self._open.pop(path, None)

    # -- files ---------------------------------------------------------
    def source(self, path: str, render: bool = True) -> Source | None:
        """The parsed file at ``path`` (open copy first), or None (excluded, unreadable, no grammar).
        ``render=False``: its definitions without text (the file being edited: cheaper)."""
        path = os.path.normpath(path)
        if not self.allowed(path):
            return None
        opened = self._open.get(path)
        if opened is not None:
            stamp: object = ("open", opened[0], len(opened[1]), render)
        else:
            try:
                st = os.stat(path)
            except OSError:
                return None
            if st.st_size > MAX_FILE_BYTES or not os.path.isfile(path):
                return None
            stamp = (st.st_mtime_ns, st.st_size, render)
        hit = self._cache.get(path)
        if hit is not None and (hit[0] == stamp or (not render and hit[0][:-1] == stamp[:-1])):  # type: ignore[index] # stamps are tuples
            return hit[1]
        language = language_of(path, opened[2] if opened else "")
        result: Source | None = None
        if language is not None:
            if opened is not None:
                text = opened[1]
            else:
                try:
                    with open(path, encoding="utf-8", errors="replace") as f:
                        text = f.read()
                except OSError:
                    return None
            result = Source(path, text, parse(text, language, self.item_tokens if render else 0, render=render))
        self._cache[path] = (stamp, result)
        return result

    def _listdir(self, folder: str) -> list[str]:
        try:
            mtime = os.stat(folder).st_mtime
        except OSError:
            return []
        hit = self._dirs.get(folder)
        if hit is not None and hit[0] == mtime:
            return hit[1]
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            names = []
        self._dirs[folder] = (mtime, names)
        return names

    def _is_file(self, path: str) -> bool:
        if path in self._open:  # an open document, saved or not
            return True
        folder, name = os.path.split(path)
        return name in self._listdir(folder) and os.path.isfile(path)

    # -- Python --------------------------------------------------------
    def _python_roots(self, path: str) -> list[str]:
        roots = []
        folder = os.path.dirname(path)
        top = None
        while os.path.isfile(os.path.join(folder, "__init__.py")):
            top = folder
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
        if top is not None:
            roots.append(os.path.dirname(top))
        else:
            roots.append(os.path.dirname(path))
        for root in self.roots:
            roots.extend((root, os.path.join(root, "src")))
        return list(dict.fromkeys(roots))

    def _python_module(self, path: str, spec: str) -> str | None:
        """The file of Python module ``spec`` (``..a.b`` or ``a.b``) imported from ``path``."""
        dots = len(spec) - len(spec.lstrip("."))
        parts = [p for p in spec[dots:].split(".") if p]
        if dots:
            base = os.path.dirname(path)
            for _ in range(dots - 1):
                base = os.path.dirname(base)
            bases = [base]
        else:
            bases = self._python_roots(path)
        for base in bases:
            target = os.path.join(base, *parts) if parts else base
            for candidate in (target + ".py", target + ".pyi", os.path.join(target, "__init__.py")):
                if self._is_file(candidate):
                    return candidate
        return None

    # -- TypeScript / JavaScript -----------------------------------------
    def _ts_module(self, path: str, spec: str) -> str | None:
        if not spec.startswith("."):
            return None
        target = os.path.normpath(os.path.join(os.path.dirname(path), spec))
        candidates = [target]
        stem, ext = os.path.splitext(target)
        if ext in (".js", ".jsx", ".mjs", ".cjs"):
            candidates += [stem + e for e in (".ts", ".tsx", ".d.ts", ".mts", ".cts")]
        candidates += [target + e for e in _TS_EXTS]
        candidates += [os.path.join(target, "index" + e) for e in _TS_EXTS]
        for candidate in candidates:
            if self._is_file(candidate):
                return candidate
        return None

    # -- Go ------------------------------------------------------------
    def _go_module(self, folder: str) -> tuple[str, str] | None:
        """(module path, module root) of the nearest ``go.mod`` above ``folder``."""
        if folder in self._gomod:
            return self._gomod[folder]
        found = None
        here = folder
        for _ in range(32):
            gomod = os.path.join(here, "go.mod")
            if os.path.isfile(gomod) and self.allowed(gomod):
                try:
                    with open(gomod, encoding="utf-8", errors="replace") as f:
                        match = _GO_MODULE.search(f.read(65536))
                except OSError:
                    match = None
                if match:
                    found = (match.group(1).strip('"'), here)
                break
            parent = os.path.dirname(here)
            if parent == here:
                break
            here = parent
        self._gomod[folder] = found
        return found

    def go_package_files(self, folder: str, package: str, exclude: str = "") -> list[str]:
        """The ``.go`` files of ``folder`` declaring ``package`` (no tests), sorted."""
        out = []
        for name in self._listdir(folder):
            if not name.endswith(".go") or name.endswith("_test.go"):
                continue
            full = os.path.join(folder, name)
            if full == exclude:
                continue
            src = self.source(full)
            if src is not None and (not package or src.parsed.package == package):
                out.append(full)
        return out

    def _go_import_dir(self, path: str, spec: str) -> str | None:
        mod = self._go_module(os.path.dirname(path))
        if mod is None:
            return None
        module, root = mod
        if spec == module:
            return root
        if spec.startswith(module + "/"):
            folder = os.path.join(root, *spec[len(module) + 1:].split("/"))
            return folder if os.path.isdir(folder) else None
        return None

    # -- bindings and definitions ----------------------------------------
    def module_file(self, path: str, language: str, spec: str) -> str | None:
        if language == "python":
            return self._python_module(path, spec)
        if language in ("typescript", "tsx", "javascript"):
            return self._ts_module(path, spec)
        return None

    def bindings(self, path: str, parsed: Parsed) -> list[Binding]:
        """Where each imported name of the file at ``path`` points (files of the workspace only)."""
        out: list[Binding] = []
        language = parsed.language
        for imp in parsed.imports:
            if language == "go":
                folder = self._go_import_dir(path, imp.module)
                if folder is not None:
                    out.append(Binding(imp.local, folder, None))
                continue
            if language == "python" and imp.name is not None:
                # `from . import mod` / `from pkg import mod`: a submodule first
                sub = self._python_module(path, imp.module.rstrip(".") + "." + imp.name
                                          if imp.module.strip(".") else imp.module + imp.name)
                if sub is not None:
                    out.append(Binding(imp.local, sub, None))
                    continue
            target = self.module_file(path, language, imp.module)
            if target is not None and target != path:
                out.append(Binding(imp.local, target, imp.name))
        return out

    def definition(self, path: str, name: str, depth: int = 3) -> tuple[str, Definition] | None:
        """The definition of ``name`` in the module at ``path`` (following re-exports), or None."""
        src = self.source(path)
        if src is None:
            return None
        parsed = src.parsed
        found = parsed.definitions.get(name)
        if found is not None:
            return path, found
        if depth <= 0:
            return None
        re_export = parsed.reexports.get(name)
        if re_export is not None:
            target = self.module_file(path, parsed.language, re_export[0])
            if target is not None and target != path:
                hit = self.definition(target, re_export[1], depth - 1)
                if hit is not None:
                    return hit
        for spec in parsed.star_exports:
            target = self.module_file(path, parsed.language, spec)
            if target is not None and target != path:
                hit = self.definition(target, name, depth - 1)
                if hit is not None:
                    return hit
        return None

    def package_definition(self, folder: str, name: str, exclude: str = "") -> tuple[str, Definition] | None:
        """Go: the definition of ``name`` in the package of ``folder`` (files other than ``exclude``)."""
        for full in self.go_package_files(folder, "", exclude):
            src = self.source(full)
            if src is not None and name in src.parsed.definitions:
                return full, src.parsed.definitions[name]
        return None
