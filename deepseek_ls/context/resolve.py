"""The workspace as the context engine sees it: files read from disk (or the
editor's copy when open), parsed once per version, and imports resolved to files.

- Python: relative imports (``from ..a import B``), absolute imports from a
  workspace root, its ``src/`` or the root of the package the file is in
  (the folder above its outermost ``__init__.py``); ``from . import mod`` and
  ``import a.b as m`` bind modules (used as ``mod.Name``); a package's
  ``__init__`` re-exports are followed.
  ``from .m import *`` binds the module's names the file uses; ``import a.b``
  binds ``a.b`` (used as ``a.b.Name``). A file prefers the workspace root it
  is in over the other roots.
- TypeScript/JavaScript: relative specifiers, with extension (``.ts``,
  ``.tsx``, ``.d.ts``, ``.js`` ...), ``.js``-to-``.ts`` and ``index`` resolution;
  ``compilerOptions.paths``/``baseUrl`` of the nearest ``tsconfig.json`` or
  ``jsconfig.json`` (``extends`` followed one level); default imports (the
  module's ``export default``); ``require()``; ``export {A} from`` /
  ``export * from`` are followed.
- Go: the other files of the same package (same directory, same ``package``
  clause, no ``_test.go``), and imports under the module path of the nearest
  ``go.mod``, its local ``replace`` directives and the modules a ``go.work``
  uses; an import binds the package's name (its ``package`` clause), not the
  folder's.

Scope: a file is read only when it lies inside a workspace root (its real
path, symlinks resolved: a link to a file outside is never followed) and
``allowed(path)`` (the exclusion policy) accepts both the path and its real
path. This holds for every language and lookup (Python roots and relative
imports, ``../`` specifiers, ``tsconfig.json``, ``go.mod``/``go.work`` and
``replace`` directives). With no roots set, the folders of the open files are
the roots. Not thread-safe: one worker thread uses it (see :mod:`.engine`).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache

from .parse import Definition, Parsed, language_of, parse

#: files larger than this (bytes) are not read for context
MAX_FILE_BYTES = 1_000_000
_TS_EXTS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
_GO_MODULE = re.compile(r"^module\s+(\S+)", re.M)
_GO_REPLACE = re.compile(r"^[ \t]*(?:replace[ \t]+)?(\S+)(?:[ \t]+\S+)?[ \t]+=>[ \t]+(\.{1,2}/\S*|/\S+)[ \t]*$", re.M)
_GO_USE = re.compile(r"^[ \t]*(?:use[ \t]+)?(\.{1,2}(?:/\S*)?|/\S+)[ \t]*$", re.M)
_JSONC = re.compile(r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/|,(?=\s*[}\]])', re.S)
#: parsed files kept (a big Go package fits: its files are not parsed again per pause)
CACHE_FILES = 4096
#: files of one Go package read at most (the first ones by name)
MAX_PACKAGE_FILES = 2000
#: and bytes of them at most: a parsed file holds about 10 times its size (its definitions,
#: their words), and a package is kept whole (150 generated files of 0.9 MB took the server
#: to 1.5 GB and its analysis thread 35 s)
MAX_PACKAGE_BYTES = 8_000_000


def _jsonc(text: str) -> Any:
    """JSON with comments and trailing commas (``tsconfig.json``); raises ValueError."""
    return json.loads(_JSONC.sub(lambda m: m.group(1) or "", text))


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
        self._roots: list[str] = []
        self._real_roots: list[str] = []
        #: open documents: path -> (version, text, language)
        self._open: dict[str, tuple[object, str, str]] = {}
        self._cache: LRUCache[str, tuple[object, Source | None]] = LRUCache(maxsize=CACHE_FILES)
        self._dirs: LRUCache[str, tuple[float, list[str]]] = LRUCache(maxsize=512)
        self._gomod: LRUCache[str, tuple[str, str] | None] = LRUCache(maxsize=256)
        self._configs: LRUCache[str, tuple[object, Any]] = LRUCache(maxsize=64)
        self._packages: LRUCache[tuple[str, str, str], tuple[object, list[tuple[str, Source]], Counter[str]]] = \
            LRUCache(maxsize=16)
        self._real: LRUCache[str, str] = LRUCache(maxsize=8192)
        #: stats: files parsed (tests count them, not time)
        self.parses = 0

    @property
    def roots(self) -> list[str]:
        """The workspace folders (normalised paths); nothing outside them is read."""
        return self._roots

    @roots.setter
    def roots(self, roots: list[str]) -> None:
        roots = [os.path.normpath(r) for r in roots]
        if roots != self._roots:
            self._roots = roots
            self._real_roots = [os.path.realpath(r) for r in roots]
            self._real.clear()

    def set_open(self, path: str, version: object, text: str, language_id: str) -> None:
        self._open[path] = (version, text, language_id)

    def set_closed(self, path: str) -> None:
        self._open.pop(path, None)

    # -- scope ---------------------------------------------------------
    def _realpath(self, path: str) -> str:
        real = self._real.get(path)
        if real is None:
            real = self._real[path] = os.path.realpath(path)
        return real

    def root_of(self, path: str) -> str | None:
        """The workspace root ``path`` is in (its real path inside the root's real path), or None.
        With no roots set, the folders of the open documents count as roots."""
        real = self._realpath(path)
        if self._roots:
            pairs = list(zip(self._roots, self._real_roots, strict=True))
        else:
            pairs = [(f, self._realpath(f)) for f in dict.fromkeys(os.path.dirname(p) for p in self._open)]
        best = None
        for root, real_root in pairs:
            if (real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)) and (
                    best is None or len(real_root) > len(best[1])):
                best = (root, real_root)
        return best[0] if best else None

    def readable(self, path: str) -> bool:
        """May ``path`` be read for context: inside a workspace root (symlinks resolved) and
        allowed by the exclusion policy under both its own and its real path. An open document
        (the editor's copy, sent as the prompt anyway) needs no root."""
        if not self.allowed(path) or (path not in self._open and self.root_of(path) is None):
            return False
        real = self._realpath(path)
        return real == path or self.allowed(real)

    # -- files ---------------------------------------------------------
    def source(self, path: str, render: bool = True) -> Source | None:
        """The parsed file at ``path`` (open copy first), or None (excluded, unreadable, no grammar).
        ``render=False``: its definitions without text (the file being edited: cheaper)."""
        path = os.path.normpath(path)
        if not self.readable(path):
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
                    with open(path, encoding="utf-8-sig", errors="replace") as f:  # no BOM in prompts
                        text = f.read()
                except OSError:
                    return None
                if "\x00" in text:  # binary, not source: never context (NUL bytes in a prompt)
                    self._cache[path] = (stamp, None)
                    return None
            self.parses += 1
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
        """A file that exists and may be read (see :meth:`readable`)."""
        if path in self._open:  # an open document, saved or not
            return self.readable(path)
        folder, name = os.path.split(path)
        return name in self._listdir(folder) and os.path.isfile(path) and self.readable(path)

    def _read_small(self, path: str) -> str | None:
        """A configuration file's text (``go.mod``, ``tsconfig.json`` ...), if readable."""
        if not self.readable(path):
            return None
        try:
            if os.path.getsize(path) > MAX_FILE_BYTES:
                return None
            with open(path, encoding="utf-8-sig", errors="replace") as f:
                return f.read()
        except OSError:
            return None

    def _above(self, folder: str) -> list[str]:
        """``folder`` and its parents up to its workspace root (none outside it)."""
        root = self.root_of(folder)
        if root is None:
            return []
        out = [folder]
        while os.path.normpath(folder) != os.path.normpath(root):
            parent = os.path.dirname(folder)
            if parent == folder or self.root_of(parent) is None:
                break
            folder = parent
            out.append(folder)
        return out

    # -- Python --------------------------------------------------------
    def _python_roots(self, path: str) -> list[str]:
        """Folders absolute imports are looked up in: the folder above the file's top package
        (never above its workspace root), then the file's own root (and its ``src/``), then
        the other roots."""
        roots = []
        folder = os.path.dirname(path)
        top = None
        for here in self._above(folder):
            if not os.path.isfile(os.path.join(here, "__init__.py")):
                break
            top = here
        base = os.path.dirname(top) if top is not None else folder
        if self.root_of(base) is not None:
            roots.append(base)
        own = self.root_of(path)
        ordered = ([own] if own else []) + [r for r in self.roots if r != own]
        for root in ordered:
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
            if self.root_of(base) is None:  # climbs above the workspace: never read
                return None
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
            return self._ts_alias(path, spec)
        return self._ts_target(os.path.normpath(os.path.join(os.path.dirname(path), spec)))

    def _ts_config(self, folder: str) -> tuple[str, dict[str, list[str]], str] | None:
        """(paths base, ``paths``, baseUrl or "") of the nearest ``tsconfig.json``/``jsconfig.json``
        above ``folder`` (inside the workspace), ``extends`` followed one level."""
        for here in self._above(folder):
            for name in ("tsconfig.json", "jsconfig.json"):
                config = os.path.join(here, name)
                if self._is_file(config):
                    return self._ts_options(config)
        return None

    def _ts_options(self, config: str) -> tuple[str, dict[str, list[str]], str] | None:
        try:
            st = os.stat(config)
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        hit = self._configs.get(config)
        if hit is not None and hit[0] == stamp:
            return hit[1]  # type: ignore[no-any-return] # the cache holds what this returns
        folder = os.path.dirname(config)
        options: dict[str, Any] = {}
        base_dir: dict[str, str] = {}
        for file in self._ts_chain(config):
            data = self._json(file)
            opts = data.get("compilerOptions") if isinstance(data, dict) else None
            if isinstance(opts, dict):
                for key in ("paths", "baseUrl"):
                    if key in opts:
                        options[key] = opts[key]
                        base_dir[key] = os.path.dirname(file)
        base_url = options.get("baseUrl")
        url = os.path.normpath(os.path.join(base_dir["baseUrl"], base_url)) if isinstance(base_url, str) else ""
        paths = options.get("paths")
        clean = {k: [t for t in v if isinstance(t, str)] for k, v in paths.items()
                 if isinstance(k, str) and isinstance(v, list)} if isinstance(paths, dict) else {}
        result = (url or base_dir.get("paths", folder), clean, url)
        self._configs[config] = (stamp, result)
        return result

    def _ts_chain(self, config: str) -> list[str]:
        """``config`` after the file it ``extends`` (one level, a relative path)."""
        data = self._json(config)
        parent = data.get("extends") if isinstance(data, dict) else None
        if isinstance(parent, str) and parent.startswith("."):
            base = os.path.normpath(os.path.join(os.path.dirname(config), parent))
            for candidate in (base, base + ".json"):
                if self._is_file(candidate):
                    return [candidate, config]
        return [config]

    def _json(self, path: str) -> Any:
        text = self._read_small(path)
        if text is None:
            return None
        try:
            return _jsonc(text)
        except ValueError:
            return None

    def _ts_alias(self, path: str, spec: str) -> str | None:
        """A bare specifier through ``paths``/``baseUrl`` (packages of node_modules are not read)."""
        config = self._ts_config(os.path.dirname(path))
        if config is None:
            return None
        base, paths, url = config
        for pattern, targets in paths.items():
            head, star, tail = pattern.partition("*")
            if star:
                if not (spec.startswith(head) and spec.endswith(tail) and len(spec) >= len(head) + len(tail)):
                    continue
                middle = spec[len(head):len(spec) - len(tail)]
            elif spec != pattern:
                continue
            else:
                middle = ""
            for target in targets:
                found = self._ts_target(os.path.normpath(os.path.join(base, target.replace("*", middle))))
                if found is not None:
                    return found
        if url:
            return self._ts_target(os.path.normpath(os.path.join(url, spec)))
        return None

    def _ts_target(self, target: str) -> str | None:
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
        for here in self._above(folder):
            gomod = os.path.join(here, "go.mod")
            if os.path.isfile(gomod):
                text = self._read_small(gomod)
                match = _GO_MODULE.search(text) if text is not None else None
                if match:
                    found = (match.group(1).strip('"'), here)
                break
        self._gomod[folder] = found
        return found

    def _go_modules(self, folder: str) -> list[tuple[str, str]]:
        """(module path, folder) pairs an import of a file in ``folder`` may resolve to: its
        module, the local ``replace`` targets of its ``go.mod``, the modules of a ``go.work``
        above it. Folders outside the workspace are left out."""
        out: list[tuple[str, str]] = []
        mod = self._go_module(folder)
        if mod is not None:
            out.append(mod)
            text = self._read_small(os.path.join(mod[1], "go.mod")) or ""
            for name, target in _GO_REPLACE.findall(text):  # `replace a => ../a`, alone or in a block
                out.append((name.strip('"'), os.path.normpath(os.path.join(mod[1], target))))
        for here in self._above(folder):
            work = os.path.join(here, "go.work")
            if not os.path.isfile(work):
                continue
            text = self._read_small(work) or ""
            uses = [u for b in re.findall(r"^use\s*\((.*?)^\)", text, re.M | re.S) for u in _GO_USE.findall(b)]
            uses += re.findall(r"^use[ \t]+([^\s(]\S*)[ \t]*$", text, re.M)
            for use in uses:
                sub = os.path.normpath(os.path.join(here, use.strip('"')))
                used = self._go_module(sub)
                if used is not None and used[1] == sub:
                    out.append(used)
            break
        return [(m, f) for m, f in dict.fromkeys(out) if self.root_of(f) is not None]

    def go_package_name(self, folder: str) -> str | None:
        """The ``package`` clause of the first (non-test) ``.go`` file of ``folder``."""
        for name in self._listdir(folder):
            if name.endswith(".go") and not name.endswith("_test.go"):
                src = self.source(os.path.join(folder, name))
                if src is not None and src.parsed.package:
                    return src.parsed.package
        return None

    def go_package_files(self, folder: str, package: str, exclude: str = "") -> list[str]:
        """The ``.go`` files of ``folder`` declaring ``package`` (no tests), sorted: the first
        :data:`MAX_PACKAGE_FILES` by name, those that fit in :data:`MAX_PACKAGE_BYTES`."""
        out = []
        names = [n for n in self._listdir(folder) if n.endswith(".go") and not n.endswith("_test.go")]
        total = 0
        for name in names[:MAX_PACKAGE_FILES]:
            full = os.path.join(folder, name)
            if full == exclude:
                continue
            opened = self._open.get(full)
            try:
                size = len(opened[1]) if opened is not None else os.path.getsize(full)
            except OSError:
                continue
            if total + size > MAX_PACKAGE_BYTES:
                continue  # a smaller file further on may still fit
            total += size
            src = self.source(full)
            if src is not None and (not package or src.parsed.package == package):
                out.append(full)
        return out

    def go_package(self, folder: str, package: str, exclude: str = "") -> tuple[list[tuple[str, Source]], Counter[str]]:
        """The files of a Go package (as :meth:`go_package_files`) with their sources, and how many
        of them use each word; cached while none of the files changed (a pause in typing in a
        big package costs a ``stat`` per file, not a parse)."""
        files = self.go_package_files(folder, package, exclude)
        stamp = tuple(self._cache[f][0] if f in self._cache else None for f in files)
        key = (folder, package, exclude)
        hit = self._packages.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1], hit[2]
        sources = [(f, src) for f in files if (src := self.source(f)) is not None]
        counts: Counter[str] = Counter()
        for _f, src in sources:
            counts.update(src.parsed.words)
        self._packages[key] = (stamp, sources, counts)
        return sources, counts

    def _go_import_dir(self, path: str, spec: str) -> str | None:
        for module, root in self._go_modules(os.path.dirname(path)):
            if spec == module:
                return root if os.path.isdir(root) else None
            if spec.startswith(module + "/"):
                folder = os.path.join(root, *spec[len(module) + 1:].split("/"))
                if os.path.isdir(folder) and self.root_of(folder) is not None:
                    return folder
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
                    local = imp.local if imp.aliased else self.go_package_name(folder) or imp.local
                    out.append(Binding(local, folder, None))
                continue
            if imp.name == "*":  # `from m import *`: the module's names this file uses
                target = self.module_file(path, language, imp.module)
                src = self.source(target) if target is not None and target != path else None
                if target is not None and src is not None:
                    out.extend(Binding(name, target, name) for name in src.parsed.definitions
                               if not name.startswith("_") and name in parsed.words)
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
        if name == "default" and parsed.default_export:  # `import X from` / `export {default as X}`
            name = parsed.default_export
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
