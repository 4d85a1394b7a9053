"""The context engine: what other files of the project the FIM prompt shows, and where.

Sources, each with a switch (:class:`ContextConfig`):

- **definitions** (parser): the top-level definitions the file's imports
  bind (Python, TypeScript/JavaScript, Go; see :mod:`.resolve`), read from
  disk or from the editor's copy, ranked by how near the cursor and how
  often the file uses them;
- **editor definitions**: locations the editor's other language servers
  give for names used near the cursor (the ``deepseek/definitions``
  request, through an async ``definitions_provider`` the server sets);
- **snippets**: windows of recently viewed/edited files and of other open
  files, chosen by Jaccard similarity of identifier sets with the lines
  above the cursor (as Copilot's neighbouring tabs).

Placement (cache-friendly): the prompt starts with the **project block**,
shared by every file of the session: definitions in the order they were
first needed, only ever appended to, up to half the budget. After the
file's own header comes the **file block**: this file's further items in
the order they were first needed (appended; rebuilt only when the budget
forces an eviction), then the snippets. A block changes only when the set
of its items changes, never per keystroke.

Cost on the request path: :meth:`ContextEngine.block` only ranks the
cached candidates of the latest analysis and looks the rendered text up.
Reading, parsing and resolving run in one background worker thread after
``didOpen``/``didChange`` (tree-sitter parses with the GIL released).

Token counts are estimates: characters / 3.5 (:func:`.parse.estimate_tokens`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cachetools import LRUCache

from .parse import Definition, Parsed, definition_at, editor_names, estimate_tokens, language_of
from .resolve import Source, Workspace

log = logging.getLogger(__name__)

#: lines above (and below) the cursor whose names count as "near the cursor"
NEAR_ABOVE, NEAR_BELOW = 40, 10
#: share of the budget the project block may take
PROJECT_SHARE = 0.5
#: share of the budget snippets may take, and their size (lines)
SNIPPET_SHARE = 0.25
SNIPPET_LINES = 16
SNIPPET_MIN_SCORE = 0.2
#: names asked from the editor at most per request (the protocol's limit)
EDITOR_MAX_POSITIONS = 16
#: quiet time after a change before the file is analysed again (s)
REANALYSE_AFTER_S = 0.5
#: recently seen files kept for snippets
RECENT_FILES = 8
#: documents longer than this (characters) are not analysed (no context for them, none from them)
MAX_ANALYSED_CHARS = 1_000_000

_WORD = re.compile(r"[A-Za-z_$][\w$]*")
_COMMENT = {"python": "#"}

#: (uri, [(line, code-point column)]) -> parallel list of [(path, line)] or None
DefinitionsProvider = Callable[[str, list[tuple[int, int]]], Awaitable[list[list[tuple[str, int]] | None] | None]]


@dataclass(frozen=True)
class ContextConfig:
    """The ``context.*`` settings."""

    enabled: bool = True
    budget_tokens: int = 2048
    definitions: bool = True
    editor_definitions: bool = True
    recent_files: bool = True
    open_files: bool = True
    item_tokens: int = 200


@dataclass(frozen=True)
class Item:
    """One piece of context: a definition or a snippet of a file."""

    key: tuple[str, str]   # (path, name or "#<line>")
    display: str           # the file as named to the model
    comment: str           # line-comment marker of its language
    text: str

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.text) + 8  # + the header line


@dataclass(frozen=True)
class Candidate:
    item: Item
    lines: tuple[int, ...]  # where the current file uses it (0-based; may be empty: imported only)
    popularity: int = 0     # Go: how many other files of the package use it


@dataclass
class Analysis:
    uri: str
    version: object
    language: str
    candidates: list[Candidate]
    #: the text's lines (for snippets)
    lines: list[str]
    text: str = ""
    #: snippet windows: (first line, identifiers of its lines)
    windows: list[tuple[int, frozenset[str]]] = field(default_factory=list)


@dataclass
class _FileState:
    chosen: list[tuple[str, str]] = field(default_factory=list)
    snippets: tuple[Item, ...] = ()
    snippet_bucket: int | None = None


@dataclass(frozen=True)
class Block:
    """The rendered context for one request: ``project`` goes first in the prompt,
    ``file`` after the current file's header. ``keys`` lists the items sent."""

    project: str = ""
    file: str = ""
    keys: tuple[tuple[str, str], ...] = ()


def _render(items: list[Item] | tuple[Item, ...]) -> str:
    out: list[str] = []
    last = None
    for item in items:
        if item.display != last:
            out.append(f"{item.comment} Other file: {item.display}\n")
            last = item.display
        out.append(item.text.rstrip("\n") + "\n\n")
    return "".join(out)


def comment_of(path: str) -> str:
    lang = language_of(path) or ""
    return _COMMENT.get(lang, "#" if path.endswith((".py", ".pyi", ".rb", ".sh")) else "//")


def words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text))


def _windows(lines: list[str]) -> list[tuple[int, frozenset[str]]]:
    """Sliding windows of :data:`SNIPPET_LINES` lines (half overlapping) and their identifiers."""
    out = []
    step = SNIPPET_LINES // 2
    for start in range(0, max(1, len(lines) - step), step):
        ws = words("\n".join(lines[start:start + SNIPPET_LINES]))
        if ws:
            out.append((start, ws))
    return out


class ContextEngine:
    """Gathers and places cross-file context. Thread use: the public methods run on
    the event loop; file reading and parsing run in one worker thread."""

    def __init__(self, config: ContextConfig | None = None, *,
                 allowed: Callable[[str], bool] = lambda path: True,
                 display: Callable[[str], str] = os.path.basename,
                 path_of: Callable[[str], str | None] = lambda uri: None) -> None:
        """``allowed(path)``: False for files never sent (the exclusion policy);
        ``display(path)``: the name the model sees; ``path_of(uri)``: the file path of a URI."""
        self.config = config or ContextConfig()
        self._allowed = allowed
        self.display = display
        self.path_of = path_of
        self.workspace = Workspace(allowed, self.config.item_tokens)
        self.definitions_provider: DefinitionsProvider | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="context")
        self._analyses: dict[str, Analysis] = {}
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._docs: dict[str, tuple[object, str, str]] = {}  # uri -> (version, text, language_id)
        self._getters: dict[str, Callable[[], str] | None] = {}  # uri -> the text, when asked for
        self._cursor: dict[str, int] = {}
        self._files: dict[str, _FileState] = {}
        self._project: OrderedDict[tuple[str, str], Item] = OrderedDict()
        self._recent: OrderedDict[str, Analysis] = OrderedDict()
        self._open: set[str] = set()
        self._editor: dict[str, dict[str, list[tuple[str, int]]]] = {}
        self._editor_asked: dict[str, frozenset[str]] = {}
        self._rendered: LRUCache[tuple[object, ...], Block] = LRUCache(maxsize=256)
        self.stats = {"analyses": 0, "editor_requests": 0}

    # -- configuration ---------------------------------------------------
    def configure(self, config: ContextConfig) -> None:
        if config != self.config:
            reset = (config.budget_tokens, config.item_tokens) != (self.config.budget_tokens, self.config.item_tokens)
            self.config = config
            if reset:
                self.workspace = Workspace(self._allowed, config.item_tokens)
            self._project.clear()
            self._files.clear()
            self._rendered.clear()
            for uri in list(self._docs):
                self._schedule(uri, 0.0)

    def set_roots(self, roots: list[str]) -> None:
        self.workspace.roots = [os.path.normpath(r) for r in roots]

    # -- documents (event loop) ------------------------------------------
    def opened(self, uri: str, text: str, language_id: str, version: object) -> None:
        """A document was opened (or its text replaced): analyse it now, in the background."""
        if len(text) > MAX_ANALYSED_CHARS:
            self.closed(uri)
            return
        self._open.add(uri)
        self._docs[uri] = (version, text, language_id)
        self._schedule(uri, 0.0)

    def changed(self, uri: str, text: str | Callable[[], str], version: object, line: int | None = None) -> None:
        """A document changed (``line``: where, 0-based): analyse it again after a quiet moment.
        ``text`` may be a function giving it: called once, when the analysis starts (not per keystroke)."""
        if uri not in self._docs:
            return
        if isinstance(text, str) and len(text) > MAX_ANALYSED_CHARS:
            self.closed(uri)
            return
        self._getters[uri] = text if callable(text) else None
        if isinstance(text, str):
            self._docs[uri] = (version, text, self._docs[uri][2])
        else:
            self._docs[uri] = (version, self._docs[uri][1], self._docs[uri][2])
        if line is not None:
            self._cursor[uri] = line
        self._schedule(uri, REANALYSE_AFTER_S)

    def closed(self, uri: str) -> None:
        self._open.discard(uri)
        self._docs.pop(uri, None)
        self._getters.pop(uri, None)
        task = self._pending.pop(uri, None)
        if task is not None:
            task.cancel()
        path = self.path_of(uri)
        if path:
            self.workspace.set_closed(path)
        analysis = self._analyses.pop(uri, None)
        if analysis is not None:
            self._recent[uri] = analysis
            self._recent.move_to_end(uri)
            while len(self._recent) > RECENT_FILES:
                self._recent.popitem(last=False)

    def cursor(self, uri: str, line: int) -> None:
        """Where the cursor is (0-based line): the editor request follows it."""
        old = self._cursor.get(uri)
        self._cursor[uri] = line
        if old is not None and abs(old - line) > NEAR_ABOVE // 2 and uri in self._docs \
                and self.definitions_provider is not None:
            self._schedule(uri, REANALYSE_AFTER_S)

    async def ready(self, uri: str, timeout: float) -> bool:
        """Wait at most ``timeout`` s for the analysis of ``uri`` in progress (an invoked
        completion may wait for it; an automatic one never does). True when one is there."""
        task = self._pending.get(uri)
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except (TimeoutError, asyncio.CancelledError, Exception) as exc:  # noqa: BLE001 - never fail the completion
                log.debug("context: went on without the analysis of %s (%s)", uri, type(exc).__name__)
        return uri in self._analyses

    def pending(self, uri: str) -> bool:
        task = self._pending.get(uri)
        return task is not None and not task.done()

    def _schedule(self, uri: str, delay: float) -> None:
        if not self.config.enabled:
            return
        old = self._pending.get(uri)
        if old is not None and not old.done():
            old.cancel()
        try:
            self._pending[uri] = asyncio.get_running_loop().create_task(self._run(uri, delay))
        except RuntimeError:  # no loop (sync callers, tests): analyse now
            doc = self._docs.get(uri)
            if doc is not None:
                self._store(self._analyse(uri, *doc))

    async def _run(self, uri: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        doc = self._docs.get(uri)
        if doc is None:
            return
        getter = self._getters.pop(uri, None)
        if getter is not None:
            text = getter()
            if len(text) > MAX_ANALYSED_CHARS:
                self.closed(uri)
                return
            doc = self._docs[uri] = (doc[0], text, doc[2])
        loop = asyncio.get_running_loop()
        try:
            analysis = await loop.run_in_executor(self._executor, self._analyse, uri, *doc)
        except Exception:
            log.warning("context: analysis of %s failed", uri, exc_info=True)
            return
        if analysis is None:
            return
        self._store(analysis)
        if self.definitions_provider is not None and self.config.editor_definitions:
            await self._ask_editor(uri, analysis)

    def _store(self, analysis: Analysis | None) -> None:
        if analysis is None:
            return
        self._analyses[analysis.uri] = analysis
        self.stats["analyses"] += 1

    # -- analysis (worker thread) -----------------------------------------
    def _analyse(self, uri: str, version: object, text: str, language_id: str) -> Analysis | None:
        path = self.path_of(uri)
        ws = self.workspace
        language = language_of(path or uri, language_id)
        if path and language:
            ws.set_open(path, version, text, language_id)
        src = ws.source(path, render=False) if path and language else None
        lines = text.split("\n")
        windows = _windows(lines) if self.config.open_files or self.config.recent_files else []
        if src is None:
            return Analysis(uri, version, language or language_id, [], lines, text, windows)
        candidates = self._candidates(path or "", src) if self.config.definitions else []
        extra = self._editor_candidates(uri, path or "", src.parsed)
        known = {c.item.key for c in candidates}
        candidates += [c for c in extra if c.item.key not in known]
        return Analysis(uri, version, src.parsed.language, candidates, lines, text, windows)

    def _item(self, path: str, definition: Definition) -> Item:
        return Item((path, definition.name), self.display(path), comment_of(path), definition.text)

    def _candidates(self, path: str, src: Source) -> list[Candidate]:
        ws = self.workspace
        parsed = src.parsed
        import_lines = {imp.line for imp in parsed.imports}
        out: dict[tuple[str, str], Candidate] = {}

        def add(def_path: str, definition: Definition, lines: list[int]) -> None:
            item = self._item(def_path, definition)
            used = tuple(n for n in lines if n not in import_lines)
            old = out.get(item.key)
            if old is not None:
                used = tuple(sorted(set(old.lines) | set(used)))
            out[item.key] = Candidate(item, used)

        bindings = ws.bindings(path, parsed)
        members = parsed.lines_of({b.local for b in bindings if b.name is not None})
        qualified = parsed.qualified_of({b.local for b in bindings if b.name is None})
        for binding in bindings:
            if binding.name is None:
                for (q, name), lines in qualified.items():
                    if q != binding.local:
                        continue
                    hit = ws.package_definition(binding.path, name) if parsed.language == "go" \
                        else ws.definition(binding.path, name)
                    if hit is not None:
                        add(hit[0], hit[1], lines)
            else:
                hit = ws.definition(binding.path, binding.name)
                if hit is not None:
                    add(hit[0], hit[1], members.get(binding.local, []))
        if parsed.language == "go":
            # the package's own names need no import; those the file uses come first, then
            # the ones the package's files use most (project-level context)
            folder = os.path.dirname(path)
            own = set(parsed.definitions)
            files, counts = ws.go_package(folder, parsed.package, exclude=path)  # cached while unchanged
            defined = {name for _o, osrc in files for name in osrc.parsed.definitions
                       if "." not in name and name not in own}
            used = parsed.lines_of(defined)
            for other, osrc in files:
                for name, definition in osrc.parsed.definitions.items():
                    if name not in defined:
                        continue
                    if name in used:
                        add(other, definition, used[name])
                        continue
                    popular = counts[name]
                    if popular > 2:
                        item = self._item(other, definition)
                        out.setdefault(item.key, Candidate(item, (), popular))
        return list(out.values())

    def _editor_candidates(self, uri: str, path: str, parsed: Parsed) -> list[Candidate]:
        found = self._editor.get(uri) or {}
        uses = parsed.lines_of(set(found))
        out = []
        for name, locations in sorted(found.items()):
            for def_path, line in locations[:1]:
                if def_path == path:
                    continue
                src = self.workspace.source(def_path)
                if src is None:
                    continue
                definition = definition_at(src.parsed, line)
                if definition is None:
                    lines = src.text.split("\n")[line:line + 6]
                    if not "".join(lines).strip():  # past the end of the file, or blank lines
                        continue
                    definition = Definition(name, "editor", line, line + len(lines) - 1, "\n".join(lines))
                out.append(Candidate(self._item(def_path, definition), tuple(uses.get(name, []))))
        return out

    # -- the editor's definitions (event loop) ---------------------------------
    async def _ask_editor(self, uri: str, analysis: Analysis) -> None:
        provider = self.definitions_provider
        doc = self._docs.get(uri)
        if provider is None or doc is None:
            return
        line = self._cursor.get(uri, 0)
        known = {c.item.key[1] for c in analysis.candidates}
        asked = editor_names(doc[1].split("\n"), line, analysis.language, known, EDITOR_MAX_POSITIONS,
                             NEAR_ABOVE, NEAR_BELOW)
        names = frozenset(asked)
        if not names or self._editor_asked.get(uri) == names:
            return
        self._editor_asked[uri] = names
        order = sorted(names)
        self.stats["editor_requests"] += 1
        try:
            result = await provider(uri, [asked[n] for n in order])
        except Exception as exc:  # noqa: BLE001 - the parser stays the fallback
            log.info("context: the editor's definitions are not available (%s)", type(exc).__name__)
            return
        if not result:
            return
        found = self._editor.setdefault(uri, {})
        for name, locations in zip(order, result, strict=False):
            if locations:
                found[name] = locations
        if uri in self._docs:
            refreshed = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._analyse, uri, *self._docs[uri])
            self._store(refreshed)

    # -- the request path ----------------------------------------------------
    def block(self, uri: str, line: int) -> Block:
        """The context for a request at ``line`` (0-based) of ``uri``: cheap, never waits."""
        if not self.config.enabled:
            return Block()
        analysis = self._analyses.get(uri)
        if analysis is None:
            return Block()
        budget = self.config.budget_tokens
        state = self._files.setdefault(uri, _FileState())
        ranked = self._rank(analysis, line)
        by_key = {c.item.key: c.item for c in analysis.candidates}
        for key, item in by_key.items():  # a definition edited since: its new text (an item changed)
            if key in self._project and self._project[key].text != item.text:
                self._project[key] = item
        project_tokens = sum(i.tokens for i in self._project.values())
        file_budget = budget - project_tokens
        # the set of items wanted: best first, the project's items free
        wanted: list[tuple[str, str]] = []
        used = 0
        for item in ranked:
            if item.key in self._project:
                continue
            if used + item.tokens <= file_budget:
                wanted.append(item.key)
                used += item.tokens
        chosen = [k for k in state.chosen if k in by_key]
        missing = [k for k in wanted if k not in chosen]
        for key in missing:
            item = by_key[key]
            if project_tokens + item.tokens <= budget * PROJECT_SHARE:
                self._project[key] = item  # first needed here: shared from now on
                project_tokens += item.tokens
            else:
                chosen.append(key)
        file_budget = budget - project_tokens
        if sum(by_key[k].tokens for k in chosen) > file_budget:
            keep = set(wanted)  # the budget forces it: evict what is no longer wanted
            chosen = [k for k in chosen if k in keep]
            while chosen and sum(by_key[k].tokens for k in chosen) > file_budget:
                chosen.pop()
        state.chosen = chosen
        snippets = self._snippets(uri, analysis, line, state, {*chosen, *self._project})
        cache_key = (tuple(i.text for i in self._project.values()), tuple(chosen),
                     tuple(by_key[k].text for k in chosen), tuple(s.text for s in snippets))
        hit = self._rendered.get(cache_key)
        if hit is None:
            hit = Block(_render(list(self._project.values())),
                        _render([by_key[k] for k in chosen]) + _render(snippets),
                        (*self._project, *chosen, *(s.key for s in snippets)))
            self._rendered[cache_key] = hit
        return hit

    def _rank(self, analysis: Analysis, line: int) -> list[Item]:
        lo, hi = line - NEAR_ABOVE, line + NEAR_BELOW

        def score(c: Candidate) -> tuple[int, int, int, int, str, str]:
            near = [abs(n - line) for n in c.lines if lo <= n <= hi]
            return (0 if near else 1 if c.lines else 2, min(near) if near else -len(c.lines), -c.popularity,
                    c.item.tokens, *c.item.key)

        return [c.item for c in sorted(analysis.candidates, key=score)]

    # -- snippets ----------------------------------------------------------------
    def _snippet_pool(self, uri: str) -> list[Analysis]:
        pool: list[Analysis] = []
        if self.config.open_files:
            pool += [self._analyses[u] for u in sorted(self._open) if u != uri and u in self._analyses]
        if self.config.recent_files:
            pool += [a for u, a in reversed(self._recent.items()) if u != uri and u not in self._open]
        return pool

    def _snippets(self, uri: str, analysis: Analysis, line: int, state: _FileState,
                  taken: set[tuple[str, str]]) -> tuple[Item, ...]:
        if not (self.config.open_files or self.config.recent_files):
            return ()
        bucket = line // (SNIPPET_LINES * 2)
        if state.snippet_bucket == bucket:
            return state.snippets
        state.snippet_bucket = bucket
        near = words("\n".join(analysis.lines[max(0, line - SNIPPET_LINES):line + 1]))
        if len(near) < 3:
            state.snippets = ()
            return ()
        scored: list[tuple[float, str, int]] = []
        for other in self._snippet_pool(uri):
            for start, ws in other.windows:
                inter = len(near & ws)
                if inter:
                    score = inter / len(near | ws)
                    if score >= SNIPPET_MIN_SCORE:
                        scored.append((score, other.uri, start))
        scored.sort(key=lambda s: (-s[0], s[1], s[2]))
        budget = self.config.budget_tokens * SNIPPET_SHARE
        out: list[Item] = []
        seen: set[str] = set()
        for _score, other_uri, start in scored:
            if other_uri in seen:
                continue
            text = self._snippet_text(other_uri, start)
            path = self.path_of(other_uri) or other_uri
            if text is None or not self._allowed(path):
                continue
            item = Item((path, f"#{start}"), self.display(path), comment_of(path), text)
            if sum(i.tokens for i in out) + item.tokens > budget:
                break
            out.append(item)
            seen.add(other_uri)
            if len(out) >= 2:
                break
        state.snippets = tuple(out)
        return state.snippets

    def _snippet_text(self, uri: str, start: int) -> str | None:
        analysis = self._analyses.get(uri) or self._recent.get(uri)
        if analysis is None:
            return None
        lines = analysis.text.split("\n")[start:start + SNIPPET_LINES]
        return "\n".join(lines) if any(s.strip() for s in lines) else None

    def close(self) -> None:
        for task in self._pending.values():
            task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
