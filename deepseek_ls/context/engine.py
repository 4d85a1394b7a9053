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

Placement (cache-friendly, see :mod:`deepseek_ls.prompt.fim` for the whole
prompt): the prompt starts with the **project block**, the same for every
file of a language family: a map of the definitions the project's own files use
most (:mod:`.project`), built once from the workspace folders in the
background, filling whole cache units (:data:`UNIT_TOKENS`) up to
:data:`PROJECT_SHARE` of the budget, ordered by path and line. It is never
appended to: a definition a file needs that is not in it goes to that
file's block. It is rebuilt only when it must: the workspace folders
changed, the settings changed, or the first line (signature) of one of its
definitions was edited or the definition removed (at most once per
:data:`PROJECT_REBUILD_MIN_S`). After the file's own header comes the
**file block**: this file's further items in the order they were first
needed (appended; evicted only when the budget forces it), then the
snippets, chosen again only when the cursor moves to another band counted
from the end of the file (:func:`snippet_band`, the steps of the prompt's
file tail). The other open files a prompt lists are listed afresh only when
the file's head changes anyway (:meth:`ContextEngine.pin_others`); until
then they keep the content they had and a newly opened tab waits. So a
return to a file finds its prompt head byte for byte as it left it.

Cost on the request path: :meth:`ContextEngine.block` only ranks the
cached candidates of the latest analysis and looks the rendered text up.
Reading, parsing and resolving run in a background worker thread after
``didOpen``/``didChange`` (tree-sitter parses with the GIL released); the
project map in a second one. A change that leaves a file's import lines
as they were, in a file none of whose imports resolve to the workspace, is
not parsed again (only every :data:`FULL_REANALYSE_S`); snippet windows
are computed only when another file asks for snippets.

Token counts are estimates: characters / 3.5 (:func:`.parse.rough_tokens`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import re
import stat
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cachetools import LRUCache

from ..prompt.config import OTHER_FILE_CHARS, SUFFIX_LINES, TAIL_STEP_LINES
from ..prompt.fim import comment_prefix
from ..snapshot import DocumentSnapshot, language_for
from .parse import Definition, Parsed, definition_at, editor_names, language_of, rough_tokens
from .project import project_files, rank
from .resolve import Binding, Source, Workspace

log = logging.getLogger(__name__)

#: lines above (and below) the cursor whose names count as "near the cursor"
NEAR_ABOVE, NEAR_BELOW = 40, 10
#: the file block's items are ranked from the middle of the cursor's band of this many lines
RANK_BAND_LINES = 16
#: share of the budget the project block may take
PROJECT_SHARE = 0.5
#: the prompt cache's unit (tokens): DeepSeek v4 persists prefixes at fixed intervals, legacy
#: caching in 64-token units; the project block fills a whole number of these
UNIT_TOKENS = 128
#: the project block is rebuilt (an edited signature) at most this often (s), and only after
#: the edit has stood this long (a half-typed line can hide a definition from the parser)
PROJECT_REBUILD_MIN_S = 10.0
PROJECT_QUIET_S = 3.0
#: a file whose imports resolve to nothing is parsed again at least this often while edited (s)
FULL_REANALYSE_S = 30.0
#: share of the budget snippets may take, and their size (lines)
SNIPPET_SHARE = 0.25
SNIPPET_LINES = 16
SNIPPET_MIN_SCORE = 0.2
#: names asked from the editor at most per request (the protocol's limit)
EDITOR_MAX_POSITIONS = 16
#: an editor answer that found nothing (null, or no location in another file for any name: the other language
#: servers may still be starting or loading the project), or that found a name the file imports only
#: in the file itself (the import line: VS Code's TypeScript answers so from its syntax-only server
#: while the project loads), is asked again after these many seconds, once each. Loading a project
#: took VS Code's TypeScript 65 s on a busy 2-core machine here (the e2e test), hence the last two.
#: An answer with a location is final for its names, and so are an error and no answer in time
#: (the plugins answer within their own deadline)
EDITOR_RETRY_S = (2.0, 5.0, 15.0, 30.0, 60.0)
#: quiet time after a change before the file is analysed again (s)
REANALYSE_AFTER_S = 0.5
#: recently seen files kept for snippets
RECENT_FILES = 8
#: documents longer than this (characters) are not analysed (no context for them, none from them)
MAX_ANALYSED_CHARS = 1_000_000

_WORD = re.compile(r"[A-Za-z_$][\w$]*")
#: Go: a call of an exported method on a value, ``x.Name(`` (its name)
_GO_METHOD_CALL = re.compile(r"[\w)\]]\s*\.\s*([A-Z]\w*)\s*\(")
#: a header line of a rendered item, in any comment style (see :func:`_render`)
_OTHER_FILE_LINE = re.compile(r"[ \t]*\S{1,3} Other file: ")
#: the lines that can change what a file imports (a cheap check before parsing again)
_IMPORT_LINES = {
    "python": re.compile(r"^[ \t]*(?:from[ \t]+\S+[ \t]+)?import\b[^\n]*", re.M),
    "typescript": re.compile(r"^[^\n]*\b(?:import|require|from)\b[^\n]*", re.M),
}
_IMPORT_LINES["tsx"] = _IMPORT_LINES["javascript"] = _IMPORT_LINES["typescript"]

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
    line: int = 0          # its first line in its file (0-based; order within a file)

    @property
    def tokens(self) -> int:
        return rough_tokens(self.text) + 8  # + the header line


@dataclass(frozen=True)
class Candidate:
    item: Item
    lines: tuple[int, ...]  # where the current file uses it (0-based; may be empty: imported only)
    popularity: int = 0     # Go: how many other files of the package use it
    editor: bool = False    # from the editor's definitions (else from the parser)
    #: found by inference (Go: a method of an imported type called on a value): it counts only
    #: when used near the cursor (else it ranks after every other candidate)
    inferred: bool = False


@dataclass
class Analysis:
    uri: str
    version: object
    language: str
    candidates: list[Candidate]
    #: the text's lines (for snippets)
    lines: list[str]
    text: str = ""
    #: snippet windows: (first line, identifiers of its lines); None until first asked for
    windows: list[tuple[int, frozenset[str]]] | None = None
    #: import bindings that resolved to files of the workspace
    bindings: int = 0
    #: the import lines (see ``_IMPORT_LINES``), and when the file was last parsed (monotonic s)
    imports: tuple[str, ...] = ()
    parsed_at: float = 0.0
    #: the file's own top-level definitions: name -> first line (0-based)
    definitions: dict[str, int] = field(default_factory=dict)
    windows_asked: bool = False
    #: the parse had syntax errors (half-typed code)
    has_error: bool = False
    #: the names the file imports from other modules (``from m import A``, ``import { A } from``;
    #: not a module itself, which an editor may well locate at its import line)
    imported: frozenset[str] = frozenset()

    def snippet_windows(self) -> list[tuple[int, frozenset[str]]]:
        if self.windows is None:
            self.windows = _windows(self.lines)
        return self.windows


@dataclass
class _FileState:
    chosen: list[tuple[str, str]] = field(default_factory=list)
    #: the chosen items that stand in the file block (set at the file's first block and at each
    #: band change); the others joined since and go in the late block, right before the window
    settled: frozenset[tuple[str, str]] | None = None
    snippets: tuple[Item, ...] = ()
    snippet_bucket: int | None = None
    #: the other open files as listed in this file's prompt (opening order): uri -> snapshot
    others: dict[str, DocumentSnapshot] = field(default_factory=dict)
    #: list the other open files afresh at the next :meth:`ContextEngine.pin_others`: the
    #: head changes anyway (first prompt, file block changed, band moved, project rebuilt)
    relist: bool = True
    #: the file block last given, and the band (:func:`snippet_band`) of the last request
    last_file: str | None = None
    band: int | None = None
    #: the project block last given to this file
    last_project: str = ""


@dataclass(frozen=True)
class Block:
    """The rendered context for one request: ``project`` goes first in the prompt,
    ``file`` after the current file's header. ``keys`` lists the items sent."""

    project: str = ""
    file: str = ""
    keys: tuple[tuple[str, str], ...] = ()
    #: definitions that joined the file's block since its head was laid out (the last band
    #: change): put right before the window, so the head before them stays cached; they move
    #: into ``file`` at the next band change (when the head changes anyway)
    late: str = ""


def _render(items: list[Item] | tuple[Item, ...]) -> str:
    out: list[str] = []
    last = None
    for item in items:
        if item.display != last:
            out.append(f"{item.comment} Other file: {item.display}\n")
            last = item.display
        out.append(item.text.rstrip("\n") + "\n\n")
    return "".join(out)


def _head_lines(text: str) -> frozenset[str]:
    """The first lines of a definition's text, stripped (its signature, with a comment above)."""
    return frozenset(line.strip() for line in text.split("\n", 6)[:6])


def comment_of(path: str) -> str:
    """The line-comment marker of the file at ``path`` (by its suffix), as the prompt's headers use."""
    return comment_prefix(language_for(path))


def _family(language: str) -> str:
    """Languages whose files share snippets: JavaScript's dialects are one family."""
    lang = language.lower()
    return "javascript" if lang in ("javascript", "javascriptreact", "typescript", "typescriptreact",
                                    "tsx", "jsx") else lang


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


def snippet_band(lines_after: int) -> int:
    """The band of the cursor that snippets are chosen for, counted from the END of the file.

    Snippets sit in the prompt's head, so choosing them again re-bills everything after them (the
    file's tail, the other files, the window: thousands of tokens). They are chosen again only when
    this band changes, which is exactly when the prompt's file tail changes anyway
    (:func:`deepseek_ls.prompt.fim.file_tail` aligns it by the same steps of lines after the
    cursor): typing, even new lines, keeps the number of lines after the cursor and so keeps the
    snippets; moving to another part of the file chooses them again. Measured on the ``multi``
    typing replay: choosing them per 32-line band from the top re-billed ~4,500 tokens three times
    in 38 requests."""
    return max(0, lines_after - SUFFIX_LINES) // TAIL_STEP_LINES


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
        #: the task of a uri past its quiet delay (analysing, asking the editor): a change
        #: does not cancel it (the answer in flight would be lost), the next task waits for it
        self._working: dict[str, asyncio.Task[None]] = {}
        #: uri -> (names whose answer found nothing, retries made, the timer of the next one)
        self._editor_retry: dict[str, tuple[frozenset[str], int, asyncio.TimerHandle | None]] = {}
        self._docs: dict[str, tuple[object, str, str]] = {}  # uri -> (version, text, language_id)
        self._getters: dict[str, Callable[[], str] | None] = {}  # uri -> the text, when asked for
        self._cursor: dict[str, int] = {}
        self._files: dict[str, _FileState] = {}
        #: the project block: its items (path then line order), text, estimated tokens, and the
        #: first line of each item's definition as it was when built (what an edit must keep)
        self._project: OrderedDict[tuple[str, str], Item] = OrderedDict()
        self._project_text = ""
        self._project_tokens = 0
        self._project_first: dict[tuple[str, str], frozenset[str]] = {}
        self._project_paths: frozenset[str] = frozenset()
        self._project_roots: tuple[str, ...] | None = None
        self._project_task: asyncio.Task[None] | None = None
        self._project_built_at = -PROJECT_REBUILD_MIN_S
        self._project_later: asyncio.TimerHandle | None = None
        self._project_executor = concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                                       thread_name_prefix="context-project")
        self._recent: OrderedDict[str, Analysis] = OrderedDict()
        self._open: set[str] = set()
        self._editor: dict[str, dict[str, list[tuple[str, int]]]] = {}
        self._editor_asked: dict[str, frozenset[str]] = {}
        #: the documents the user worked in (typed, or asked a completion) since opening them, and
        #: the one opened last (the editor shows it): the only ones the editor is asked about
        self._worked: set[str] = set()
        self._last_opened: str | None = None
        #: when a document not seen before was opened (monotonic s): a lone file parsed before it
        #: may import it (a module the user just created), so its shortcut no longer holds
        self._new_file_at = 0.0
        self._rendered: LRUCache[tuple[object, ...], Block] = LRUCache(maxsize=256)
        #: path -> (exists on disk, when checked (monotonic s)): a deleted file is not sent
        self._covered_lines: LRUCache[tuple[str, str, str], frozenset[str]] = LRUCache(maxsize=64)
        self._exists: LRUCache[str, tuple[bool, float, tuple[int, int] | None]] = LRUCache(maxsize=1024)
        #: the workspace folder of each project item's file (:meth:`_root_of_item`)
        self._item_roots: dict[str, str | None] = {}
        #: the project items found unsendable when a rebuild was last asked for
        self._project_dropped: frozenset[tuple[str, str]] = frozenset()
        self.stats = {"analyses": 0, "editor_requests": 0, "parses": 0, "project_builds": 0}

    # -- configuration ---------------------------------------------------
    def configure(self, config: ContextConfig) -> None:
        if config != self.config:
            reset = (config.budget_tokens, config.item_tokens) != (self.config.budget_tokens, self.config.item_tokens)
            self.config = config
            if reset:
                self.workspace = Workspace(self._allowed, config.item_tokens)
            if not config.editor_definitions:
                self._editor.clear()
                self._editor_asked.clear()
                for uri in list(self._editor_retry):  # no more asking again later either
                    self._forget_retry(uri)
            for analysis in self._analyses.values():  # switched off: gone from the next request on
                analysis.candidates = [c for c in analysis.candidates
                                       if (config.editor_definitions if c.editor else config.definitions)]
            self._files.clear()
            self._rendered.clear()
            self._install_project([])
            self._build_project()
            for uri in list(self._docs):
                self._schedule(uri, 0.0, restart=True)

    def set_roots(self, roots: list[str]) -> None:
        """The workspace folders (cheap when unchanged: called per request). A change (the
        first call too) builds the project block again, in the background."""
        normalized = [os.path.normpath(r) for r in roots]
        self.workspace.roots = normalized
        if tuple(normalized) != self._project_roots:
            self._project_roots = tuple(normalized)
            self._item_roots.clear()
            self._build_project()

    # -- the project block -------------------------------------------------------
    @property
    def project_block(self) -> str:
        """The rendered project block ("" while none is built)."""
        return self._project_text

    def _build_project(self, patch: bool = False) -> None:
        """Build the project block from the workspace folders: in the background when a loop
        runs (the previous block stays until the new one is there), else now. ``patch``: keep
        the block's items and order, only re-render those whose signature changed and drop
        those gone (:meth:`_patched_items`); else rank the project map afresh."""
        if self._project_later is not None:
            self._project_later.cancel()
            self._project_later = None
        if not (self.config.enabled and self.config.definitions) or not self._project_roots:
            self._install_project([])
            return
        roots = list(self._project_roots)
        opened = {}
        for uri, (version, text, language_id) in self._docs.items():
            path = self.path_of(uri)
            if path:
                opened[path] = (version, text, language_id)
        make: Callable[[], list[Item]]
        if patch and self._project:
            old = list(self._project.values())
            make = lambda: self._patched_items(old, roots, opened)  # noqa: E731 - one call site
        else:
            make = lambda: self._project_items(roots, opened)  # noqa: E731 - one call site
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._install_project(make())
            return
        if self._project_task is not None and not self._project_task.done():
            self._project_task.cancel()

        async def run() -> None:
            try:
                items = await loop.run_in_executor(self._project_executor, make)
            except Exception:
                log.warning("context: the project map failed", exc_info=True)
                return
            self._install_project(items)

        self._project_task = loop.create_task(run())

    def _project_workspace(self, roots: list[str], opened: dict[str, tuple[object, str, str]]) -> Workspace:
        """(Project worker thread) a resolver of its own (its caches are not shared with the
        analysis thread's) over ``roots``, with the editor's copies of the ``opened`` files."""
        ws = Workspace(self._allowed, self.config.item_tokens)
        ws.roots = roots
        for path, (version, text, language_id) in opened.items():
            ws.set_open(path, version, text, language_id)
        return ws

    def _patched_items(self, old: list[Item], roots: list[str],
                       opened: dict[str, tuple[object, str, str]]) -> list[Item]:
        """(Project worker thread) ``old`` (the block's items, in order) with each item whose
        first line (signature) changed rendered again and each item gone dropped; the others
        are kept byte for byte, and nothing is added. An edited signature cuts every cached
        prompt at that item, not at the block's start; re-ranking the whole map instead
        changed the block's set mid-session (measured on the ``multi`` typing replay: a
        rebuild while typing in ``tool.py`` re-billed every file's head)."""
        ws = self._project_workspace(roots, opened)
        out: list[Item] = []
        for item in old:
            found = ws.definition(item.key[0], item.key[1], depth=0)
            if found is None or found[0] != item.key[0]:
                continue  # gone (or no longer readable or allowed)
            fresh = self._item(*found)
            same = fresh.text.split("\n", 1)[0].strip() == item.text.split("\n", 1)[0].strip()
            out.append(item if same else fresh)
        return out

    def _project_items(self, roots: list[str], opened: dict[str, tuple[object, str, str]]) -> list[Item]:
        """(Project worker thread) the project block's items: the best-ranked definitions of
        the project map within whole cache units of the project's share of the budget."""
        ws = self._project_workspace(roots, opened)
        target = int(self.config.budget_tokens * PROJECT_SHARE) // UNIT_TOKENS * UNIT_TOKENS
        if target <= 0:
            return []
        files = project_files(roots)
        chosen: list[Item] = []
        total = 0
        for ranked in rank(ws, files)[:400]:
            item = self._item(ranked.path, ranked.definition)
            if total + item.tokens <= target:
                chosen.append(item)
                total += item.tokens
        chosen.sort(key=lambda i: (i.display, i.key[0], i.line, i.key[1]))
        return chosen

    def _install_project(self, items: list[Item]) -> None:
        """Make ``items`` the project block (event loop). Every file's pinned other files are
        refreshed: the heads change anyway."""
        new = OrderedDict((i.key, i) for i in items)
        if list(new.items()) == list(self._project.items()):
            self._project_built_at = time.monotonic()
            return
        self._project = new
        self._project_text = _render(items)
        self._project_tokens = sum(i.tokens for i in items)
        self._project_first = {i.key: _head_lines(i.text) for i in items}
        self._project_paths = frozenset(i.key[0] for i in items)
        self._project_built_at = time.monotonic()
        self.stats["project_builds"] += 1
        self._rendered.clear()
        for state in self._files.values():
            state.relist = True

    def _outdated(self, analysis: Analysis) -> bool:
        """True when a definition of the project block in ``analysis``'s file lost its
        first line (signature) or is gone, in a file that parses without errors (half-typed
        code can hide a definition from the parser: that is no reason to rebuild)."""
        path = self.path_of(analysis.uri)
        if not path or path not in self._project_paths or analysis.parsed_at == 0.0 or analysis.has_error:
            return False
        for key, first in self._project_first.items():
            if key[0] != path:
                continue
            line = analysis.definitions.get(key[1])
            if line is None or line >= len(analysis.lines) or analysis.lines[line].strip() not in first:
                return True
        return False

    def _check_project(self, analysis: Analysis) -> None:
        """After an analysis: when the project block is outdated by it, patch it later."""
        if self._outdated(analysis):
            self._patch_later(recheck=True)

    def _patch_later(self, recheck: bool) -> None:
        """Patch the project block (:meth:`_patched_items`) once the change has stood
        :data:`PROJECT_QUIET_S`, at most once per :data:`PROJECT_REBUILD_MIN_S`. ``recheck``:
        only if an analysis still finds the block outdated then (an edit in an open buffer);
        else in any case (a closed file of the block changed on disk)."""
        if self._project_later is not None or (self._project_task is not None and not self._project_task.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._build_project(patch=True)
            return
        wait = max(PROJECT_QUIET_S, self._project_built_at + PROJECT_REBUILD_MIN_S - time.monotonic())
        self._project_later = loop.call_later(wait, self._patch_now, recheck)

    def _patch_now(self, recheck: bool) -> None:
        self._project_later = None
        if not recheck or any(self._outdated(a) for a in self._analyses.values()):
            self._build_project(patch=True)

    # -- documents (event loop) ------------------------------------------
    def opened(self, uri: str, text: str, language_id: str, version: object) -> None:
        """A document was opened (or its text replaced): analyse it now, in the background."""
        if len(text) > MAX_ANALYSED_CHARS:
            self.closed(uri)
            return
        self._open.add(uri)
        if uri not in self._docs:
            self._new_file_at = time.monotonic()
        self._docs[uri] = (version, text, language_id)
        self._last_opened = uri
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
        self._worked.add(uri)
        if isinstance(text, str):
            self._docs[uri] = (version, text, self._docs[uri][2])
        else:
            self._docs[uri] = (version, self._docs[uri][1], self._docs[uri][2])
        if line is not None:
            self._cursor[uri] = line
        self._schedule(uri, REANALYSE_AFTER_S)

    def closed(self, uri: str) -> None:
        self._open.discard(uri)
        self._worked.discard(uri)
        if self._last_opened == uri:
            self._last_opened = None
        self._docs.pop(uri, None)
        self._getters.pop(uri, None)
        for task in (self._pending.pop(uri, None), self._working.pop(uri, None)):
            if task is not None:
                task.cancel()
        self._forget_retry(uri)
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
        first = uri not in self._worked and uri in self._docs
        self._worked.add(uri)
        if self.definitions_provider is None or uri not in self._docs:
            return
        if first and uri != self._last_opened and uri in self._analyses:
            self._schedule(uri, 0.0)  # a tab the editor was not asked about when it opened: now
        elif old is not None and abs(old - line) > NEAR_ABOVE // 2:
            self._schedule(uri, REANALYSE_AFTER_S)

    async def ready(self, uri: str, timeout: float) -> bool:
        """Wait at most ``timeout`` s for the analysis of ``uri`` in progress (an invoked
        completion may wait for it; an automatic one never does). True when one is there."""
        waits = [t for t in (self._pending.get(uri), self._project_task) if t is not None and not t.done()]
        if waits:  # the file's analysis, and the project block when it is being built
            try:
                await asyncio.wait_for(asyncio.shield(asyncio.gather(*waits)), timeout)
            except (TimeoutError, asyncio.CancelledError, Exception) as exc:  # noqa: BLE001 - never fail the completion
                log.debug("context: went on without the analysis of %s (%s)", uri, type(exc).__name__)
        return uri in self._analyses

    def pending(self, uri: str) -> bool:
        """True while ``uri``'s analysis, or the project block, is being made."""
        return any(t is not None and not t.done() for t in (self._pending.get(uri), self._project_task))

    def _schedule(self, uri: str, delay: float, *, restart: bool = False) -> None:
        """Analyse ``uri`` after ``delay`` s of quiet. A task still in its delay is replaced; one
        already analysing or asking the editor finishes first (``restart``: it is cancelled)."""
        if not self.config.enabled:
            return
        old = self._pending.get(uri)
        working = self._working.get(uri)
        if working is not None and restart:
            working.cancel()  # its analysis is stale (settings changed)
        if working is not None and (working.done() or restart):
            working = None
        if old is not None and not old.done() and old is not working:
            old.cancel()
        try:
            self._pending[uri] = asyncio.get_running_loop().create_task(self._run(uri, delay, working))
        except RuntimeError:  # no loop (sync callers, tests): analyse now
            doc = self._docs.get(uri)
            if doc is not None:
                self._store(self._analyse(uri, *doc))

    async def _run(self, uri: str, delay: float, after: asyncio.Task[None] | None = None) -> None:
        if delay:
            await asyncio.sleep(delay)
        if after is not None and not after.done():
            await asyncio.wait([after])
        task = asyncio.current_task()
        if task is not None:
            self._working[uri] = task
        try:
            await self._work(uri)
        finally:
            if self._working.get(uri) is task:
                del self._working[uri]

    async def _work(self, uri: str) -> None:
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
        if self.definitions_provider is not None and self.config.editor_definitions and self._asks_editor(uri):
            await self._ask_editor(uri, analysis)

    def _asks_editor(self, uri: str) -> bool:
        """Is the editor asked about ``uri``'s names? Only for the document opened last (the one
        the editor shows) and those the user typed or asked a completion in: a restored session
        of 60 tabs asked about all of them at once (240 requests with the retries); the others
        are asked when the user comes to them (:meth:`cursor`)."""
        return uri in self._worked or uri == self._last_opened

    def _store(self, analysis: Analysis | None) -> None:
        if analysis is None:
            return
        before = self._analyses.get(analysis.uri)
        self._analyses[analysis.uri] = analysis
        self.stats["analyses"] += 1
        if before is not None and before.windows_asked and not analysis.windows_asked:
            # another file takes snippets from this one: have its windows ready for the next
            # choice (made at once then, so the choice does not change a request later)
            self._windows_later(analysis)
        self._check_project(analysis)

    # -- analysis (worker thread) -----------------------------------------
    def _analyse(self, uri: str, version: object, text: str, language_id: str) -> Analysis | None:
        path = self.path_of(uri)
        ws = self.workspace
        language = language_of(path or uri, language_id)
        if path and language:
            ws.set_open(path, version, text, language_id)
        lines = text.split("\n")
        pattern = _IMPORT_LINES.get(language or "")
        imports = tuple(pattern.findall(text)) if pattern is not None else ()
        previous = self._analyses.get(uri)
        now = time.monotonic()
        if (previous is not None and pattern is not None and previous.language == language
                and previous.bindings == 0 and previous.imports == imports and not self._editor.get(uri)
                and path not in self._project_paths and now - previous.parsed_at < FULL_REANALYSE_S
                and previous.parsed_at > self._new_file_at):
            # nothing of the workspace imported before, the import lines are as they were and no
            # file was opened since (it may be the module imported): nothing to gain from parsing
            # the file again (the common case of a lone file)
            return Analysis(uri, version, language or language_id, [], lines, text, None, 0, imports,
                            previous.parsed_at, previous.definitions, imported=previous.imported)
        src = ws.source(path, render=False) if path and language else None
        if src is None:
            return Analysis(uri, version, language or language_id, [], lines, text)
        self.stats["parses"] += 1
        bindings = ws.bindings(path or "", src.parsed) if self.config.definitions else []
        candidates = self._candidates(path or "", src, bindings) if self.config.definitions else []
        extra = self._editor_candidates(uri, path or "", src.parsed) if self.config.editor_definitions else []
        known = {c.item.key for c in candidates}
        candidates += [c for c in extra if c.item.key not in known]
        if src.parsed.has_error and previous is not None and previous.language == src.parsed.language:
            # half-typed code: the parser may lose imports or uses until the line is finished;
            # what the last analysis found stays (the file block would drop it for a keystroke
            # and take it back at the next, each time billing the prompt's head again)
            known = {c.item.key for c in candidates}
            candidates += [c for c in previous.candidates if c.item.key not in known]
        resolved = len(bindings) + (1 if src.parsed.language == "go" else 0)
        if src.parsed.has_error and previous is not None:
            resolved = max(resolved, previous.bindings)  # (nor does it make the file look lone)
        own = {name: d.line for name, d in src.parsed.definitions.items()}
        return Analysis(uri, version, src.parsed.language, candidates, lines, text, None,
                        resolved, imports, now, own, has_error=src.parsed.has_error,
                        imported=frozenset(imp.local for imp in src.parsed.imports if imp.name not in (None, "*")))

    def _item(self, path: str, definition: Definition) -> Item:
        return Item((path, definition.name), self.display(path), comment_of(path), definition.text, definition.line)

    def _candidates(self, path: str, src: Source, bindings: list[Binding]) -> list[Candidate]:
        ws = self.workspace
        parsed = src.parsed
        import_lines = {imp.line for imp in parsed.imports}
        out: dict[tuple[str, str], Candidate] = {}
        here = os.path.normpath(path)

        def add(def_path: str, definition: Definition, lines: list[int], inferred: bool = False) -> None:
            if os.path.normpath(def_path) == here:
                return  # the file itself (a Go file importing its own package): it is in the prompt already
            item = self._item(def_path, definition)
            used = tuple(n for n in lines if n not in import_lines)
            old = out.get(item.key)
            if old is not None:
                used = tuple(sorted(set(old.lines) | set(used)))
                inferred = inferred and old.inferred
            out[item.key] = Candidate(item, used, inferred=inferred)

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
            self._go_methods(parsed, bindings, qualified, add)
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

    def _go_methods(self, parsed: Parsed, bindings: list[Binding], qualified: dict[tuple[str, str], list[int]],
                    add: Callable[[str, Definition, list[int], bool], None]) -> None:
        """Go: methods of an imported package's types called on a value (``db := store.New(dsn)``
        then ``db.QueryRow(``): the method ``T.M`` of a package the file uses, for a type ``T``
        the file names (``store.DB``) or that a function it calls mentions in its signature
        (``func New(dsn string) *DB``), when the file calls ``.M(`` on anything."""
        calls: dict[str, list[int]] = {}
        for m in _GO_METHOD_CALL.finditer(parsed.text):
            calls.setdefault(m.group(1), []).append(parsed.row_of(m.start()))
        if not calls:
            return
        ws = self.workspace
        for binding in bindings:
            if binding.name is not None:
                continue
            used = [name for (q, name) in qualified if q == binding.local]
            if not used:
                continue
            files, _counts = ws.go_package(binding.path, "")
            types = set(used)
            for _path, src in files:
                for name in used:
                    definition = src.parsed.definitions.get(name)
                    if definition is not None and definition.text:  # its `func` line (after its doc comment)
                        signature = next((line for line in definition.text.split("\n") if line.startswith("func ")), "")
                        types.update(_WORD.findall(signature))
            for other, src in files:
                for name, definition in src.parsed.definitions.items():
                    owner, _, method = name.partition(".")
                    if method and owner in types and method in calls:
                        add(other, definition, sorted(set(calls[method])), True)

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
                out.append(Candidate(self._item(def_path, definition), tuple(uses.get(name, [])), editor=True))
        return out

    # -- the editor's definitions (event loop) ---------------------------------
    async def _ask_editor(self, uri: str, analysis: Analysis) -> None:
        provider = self.definitions_provider
        doc = self._docs.get(uri)
        if provider is None or doc is None or not (self.config.enabled and self.config.editor_definitions):
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
        except asyncio.CancelledError:  # closed, or the settings changed: not answered
            if self._editor_asked.get(uri) == names:
                del self._editor_asked[uri]
            raise
        except Exception as exc:  # noqa: BLE001 - the parser stays the fallback (the provider logs)
            log.debug("context: the editor's definitions are not available (%s)", type(exc).__name__)
            return
        here = self.path_of(uri)

        def elsewhere(locations: list[tuple[str, int]] | None) -> bool:
            return any(loc[0] != here for loc in locations or ())

        if not result or not any(elsewhere(entry) for entry in result):
            # nothing found, or only this document (VS Code's TypeScript answers from its
            # syntax-only server while the project loads: the import line)
            self._nothing_found(uri, names)
            return
        found = self._editor.setdefault(uri, {})
        waiting = False  # an imported name found only here (the import line): the server is not ready
        for name, locations in zip(order, result, strict=False):
            if locations:
                found[name] = locations
            waiting = waiting or (name in analysis.imported and not elsewhere(locations))
        if waiting:  # asked again like an answer that found nothing (a name found since is not)
            self._nothing_found(uri, names)
        else:
            self._forget_retry(uri)
        if uri in self._docs:
            refreshed = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._analyse, uri, *self._docs[uri])
            self._store(refreshed)

    def _nothing_found(self, uri: str, names: frozenset[str]) -> None:
        """The editor found nothing for ``names`` (maybe not ready yet): ask again later,
        at most ``len(EDITOR_RETRY_S)`` times for the same names."""
        previous = self._editor_retry.get(uri)
        # the same names, or fewer (some were found meanwhile): the same run of tries
        tries = previous[1] if previous is not None and names <= previous[0] else 0
        self._forget_retry(uri)
        if tries >= len(EDITOR_RETRY_S):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        timer = loop.call_later(EDITOR_RETRY_S[tries], self._retry_editor, uri, names)
        self._editor_retry[uri] = (names, tries + 1, timer)

    def _retry_editor(self, uri: str, names: frozenset[str]) -> None:
        retry = self._editor_retry.get(uri)
        if retry is None or retry[0] != names or uri not in self._docs or not self._asks_editor(uri):
            return
        self._editor_retry[uri] = (names, retry[1], None)
        if self._editor_asked.get(uri) == names:
            del self._editor_asked[uri]
        pending = self._pending.get(uri)
        if pending is None or pending.done():  # else the analysis under way asks
            self._schedule(uri, 0.0)

    def _forget_retry(self, uri: str) -> None:
        retry = self._editor_retry.pop(uri, None)
        if retry is not None and retry[2] is not None:
            retry[2].cancel()

    # -- the request path ----------------------------------------------------
    def block(self, uri: str, line: int, lines_after: int | None = None) -> Block:
        """The context for a request at ``line`` (0-based) of ``uri``: cheap, never waits.

        ``lines_after``: line breaks in the document after the cursor (None: from the last
        analysis); snippets are chosen again only when it crosses a step of the prompt's file
        tail (:func:`snippet_band`). ``project``: the session's project block (the same for every
        file); ``file``: the definitions this file needs beyond it (append-only), then snippets."""
        if not self.config.enabled:
            return Block()
        path = self.path_of(uri)
        grammar = language_of(path or uri)
        root = self.workspace.root_of(path) if path and self.workspace.roots else None
        project, project_text = self._sendable_project(_family(grammar) if grammar else None, root) \
            if root is not None or not self.workspace.roots else (OrderedDict(), "")
        analysis = self._analyses.get(uri)
        if analysis is None:
            return Block(project_text, "", tuple(project))
        budget = self.config.budget_tokens
        state = self._files.setdefault(uri, _FileState())
        # ranked from the middle of the cursor's band of RANK_BAND_LINES lines: moving one line
        # (Enter, arrow keys) does not reorder items and rebuild the block each time
        anchor = line // RANK_BAND_LINES * RANK_BAND_LINES + RANK_BAND_LINES // 2
        sendable: dict[str, bool] = {}  # per path, once per call (ranked items are candidates too)

        def may_send(path: str) -> bool:
            if path not in sendable:
                sendable[path] = self._sendable(path)
            return sendable[path]

        ranked = [i for i in self._rank(analysis, anchor) if may_send(i.key[0])]
        by_key = {c.item.key: c.item for c in analysis.candidates if may_send(c.item.key[0])}
        file_budget = budget - self._project_tokens
        # the set of items wanted: best first, the project block's items free
        wanted: list[tuple[str, str]] = []
        used = 0
        # `export { a as b }`: b is a as well (one place in its file): never rendered twice
        places = {(i.key[0], i.line, i.text) for i in project.values()}
        for item in ranked:
            if item.key in project or (item.key[0], item.line, item.text) in places:
                continue
            places.add((item.key[0], item.line, item.text))
            if used + item.tokens <= file_budget:
                wanted.append(item.key)
                used += item.tokens
        chosen = [k for k in state.chosen if k in by_key and k not in project]
        chosen += [k for k in wanted if k not in chosen]  # first needed now: appended
        if sum(by_key[k].tokens for k in chosen) > file_budget:
            keep = set(wanted)  # the budget forces it: evict what is no longer wanted
            chosen = [k for k in chosen if k in keep]
            while chosen and sum(by_key[k].tokens for k in chosen) > file_budget:
                chosen.pop()
        state.chosen = chosen
        if lines_after is None:
            lines_after = max(0, len(analysis.lines) - 1 - line)
        band = snippet_band(lines_after)
        if state.settled is None or state.band not in (None, band):
            # the head is laid out afresh here anyway (the file's first block, or its tail
            # moves): every chosen item stands in the file block from now on
            state.settled = frozenset(chosen)
        snippets = tuple(s for s in self._snippets(uri, analysis, line, band, state, {*chosen, *project})
                         if may_send(s.key[0]))
        standing = [k for k in chosen if k in state.settled]
        late = [k for k in chosen if k not in state.settled]
        cache_key = (project_text, tuple(standing), tuple(late), tuple(by_key[k].text for k in chosen),
                     tuple(s.text for s in snippets))
        hit = self._rendered.get(cache_key)
        if hit is None:
            hit = Block(project_text, _render([by_key[k] for k in standing]) + _render(snippets),
                        (*project, *chosen, *(s.key for s in snippets)), _render([by_key[k] for k in late]))
            self._rendered[cache_key] = hit
        if (state.last_file is not None and state.last_file != hit.file) or state.band not in (None, band):
            # the head changes here anyway (the file block before them, or the file's tail):
            # the other open files may be listed afresh (a definition joining the late block,
            # after them, is no reason to)
            state.relist = True
        state.last_file = hit.file
        state.band = band
        state.last_project = hit.project
        return hit

    def _sendable(self, path: str) -> bool:
        """True when ``path`` may be sent now: the CURRENT exclusion policy allows it (the
        policy caches its decisions and forgets them when a setting or an ignore file
        changes) and the file still exists (open in the editor, or on disk: checked at most
        once a second per path)."""
        if not self._allowed(path):
            return False
        now = time.monotonic()
        hit = self._exists.get(path)
        if hit is None or now - hit[1] >= 1.0:
            try:
                st = os.stat(path)
                sig: tuple[int, int] | None = (st.st_mtime_ns, st.st_size) if stat.S_ISREG(st.st_mode) else None
            except (OSError, ValueError):
                sig = None
            changed = hit is not None and sig != hit[2] and path in self._project_paths
            is_open = (sig is None or changed) and any(self.path_of(u) == path for u in self._docs)
            if changed and not is_open:
                # a file of the project block changed on disk while closed (a checkout, another
                # tool): patch the block once it has stood (only changed signatures re-rendered)
                self._patch_later(recheck=False)
            hit = (sig is not None or is_open, now, sig)
            self._exists[path] = hit
        return hit[0]

    def _sendable_project(self, family: str | None = None,
                          root: str | None = None) -> tuple[OrderedDict[tuple[str, str], Item], str]:
        """The project block's items and text without the items that may no longer be sent
        (a file excluded or deleted since the block was built); such a drop asks for the
        block to be built again (once per set of dropped items). ``family``: only the items of
        that language family (:func:`_family`; a Python file gets no TypeScript map in a mixed
        repository, and files of one family still share their block); None: all. ``root``:
        only the items of that workspace folder (in a multi-root workspace each folder is its
        own project; the files of one folder still share their block); None: all."""
        dropped = frozenset(k for k in self._project if not self._sendable(k[0]))
        other = frozenset(
            k for k in self._project
            if (family is not None and _family(language_of(k[0]) or "") != family)
            or (root is not None and self._root_of_item(k[0]) != root))
        if not dropped:
            self._project_dropped = frozenset()
            if not other:
                return self._project, self._project_text
        kept = OrderedDict((k, i) for k, i in self._project.items() if k not in dropped and k not in other)
        key = ("project", tuple(kept))
        hit = self._rendered.get(key)
        if hit is None:
            hit = Block(_render(list(kept.values())), "", tuple(kept))
            self._rendered[key] = hit
        if dropped and dropped != self._project_dropped:
            self._project_dropped = dropped
            self._build_project(patch=True)
        return kept, hit.project

    def _root_of_item(self, path: str) -> str | None:
        """The workspace folder of a project block item's file (cached until the folders change)."""
        if path not in self._item_roots:
            self._item_roots[path] = self.workspace.root_of(path)
        return self._item_roots[path]

    def pin_others(self, uri: str, others: tuple[DocumentSnapshot, ...]) -> tuple[DocumentSnapshot, ...]:
        """The other open documents as ``uri``'s prompt lists them (``others`` in opening order).

        Listed afresh, as they are now, only when ``uri``'s head before them changes anyway:
        its first prompt, its file block changed or its cursor moved to another band at the
        last :meth:`block` (the file's tail changes then), or the project block was rebuilt (a
        definition joining the late block, which comes after them, does not relist them).
        Otherwise each stays at the content it had when listed and a tab opened meanwhile
        waits for the next such change: a return to ``uri`` finds its prompt head byte for byte
        as it left it (on the ``multi`` typing replay, a new tab listed at once cost the return
        ~3,000 tokens billed again). Closed documents drop out."""
        state = self._files.setdefault(uri, _FileState())
        current = {d.uri: d for d in others}
        if state.relist:
            state.others = dict(current)
            state.relist = False
        else:
            state.others = {u: d for u, d in state.others.items() if u in current}
        pinned = tuple(state.others.values())
        covered = self._covered(state.last_project, state.last_file or "")
        if not covered:
            return pinned
        # an open file whose shown start the context blocks carry already, line for line, is
        # not listed again (it would be paid for twice)
        return tuple(d for d in pinned
                     if not {n.strip() for n in d.text[:OTHER_FILE_CHARS].split("\n") if n.strip()} <= covered)

    def _covered(self, project: str, file: str) -> frozenset[str]:
        """The stripped non-blank lines of the blocks' items (not their headers); cached."""
        key = ("covered", project, file)
        hit = self._covered_lines.get(key)
        if hit is None:
            hit = frozenset(n.strip() for n in (project + file).split("\n")
                            if n.strip() and not _OTHER_FILE_LINE.match(n))
            self._covered_lines[key] = hit
        return hit

    def _rank(self, analysis: Analysis, line: int) -> list[Item]:
        lo, hi = line - NEAR_ABOVE, line + NEAR_BELOW

        def score(c: Candidate) -> tuple[int, int, int, int, str, str]:
            near = [abs(n - line) for n in c.lines if lo <= n <= hi]
            return (0 if near else 3 if c.inferred else 1 if c.lines else 2, min(near) if near else -len(c.lines),
                    -c.popularity, c.item.tokens, *c.item.key)

        return [c.item for c in sorted(analysis.candidates, key=score)]

    # -- snippets ----------------------------------------------------------------
    def _snippet_pool(self, uri: str) -> list[Analysis]:
        """The files snippets for ``uri`` may come from: open and recent ones of the same workspace
        folder (a tab from another project is never context for this one)."""
        pool: list[Analysis] = []
        if self.config.open_files:
            pool += [self._analyses[u] for u in sorted(self._open) if u != uri and u in self._analyses]
        if self.config.recent_files:
            pool += [a for u, a in reversed(self._recent.items()) if u != uri and u not in self._open]
        path = self.path_of(uri)
        root = self.workspace.root_of(path) if path else None
        if root is None:
            return []
        return [a for a in pool if (p := self.path_of(a.uri)) and self.workspace.root_of(p) == root]

    def _snippets(self, uri: str, analysis: Analysis, line: int, bucket: int, state: _FileState,
                  taken: set[tuple[str, str]]) -> tuple[Item, ...]:
        if not (self.config.open_files or self.config.recent_files):
            return ()
        if state.snippet_bucket == bucket:
            return state.snippets
        state.snippet_bucket = bucket
        near = words("\n".join(analysis.lines[max(0, line - SNIPPET_LINES):line + 1]))
        if len(near) < 3:
            state.snippets = ()
            return ()
        scored: list[tuple[float, str, int]] = []
        family = _family(analysis.language)
        for other in self._snippet_pool(uri):
            if _family(other.language) != family:
                continue  # snippets of the same language only (as the other open files)
            if other.windows is None and not self._windows_later(other):
                # not there yet (made in the worker now): left out until the band changes, so
                # the block does not change at a later request of this band (the head would
                # be billed again for it)
                continue
            for start, ws in other.snippet_windows():
                inter = len(near & ws)
                if inter:
                    score = inter / len(near | ws)
                    if score >= SNIPPET_MIN_SCORE:
                        scored.append((score, other.uri, start))
        scored.sort(key=lambda s: (-s[0], s[1], s[2]))
        still = {(self.path_of(u) or u, f"#{start}") for _score, u, start in scored}
        if state.snippets and all(s.key in still for s in state.snippets):
            return state.snippets  # they still fit the lines above the cursor: kept (the head stays)
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

    def _windows_later(self, analysis: Analysis) -> bool:
        """Make ``analysis``'s snippet windows: now when no loop runs (True), else in the
        worker thread, never on the request path (False: not there yet)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            analysis.snippet_windows()
            return True
        if not analysis.windows_asked:
            analysis.windows_asked = True
            self._executor.submit(analysis.snippet_windows)
        return False

    def _snippet_text(self, uri: str, start: int) -> str | None:
        analysis = self._analyses.get(uri) or self._recent.get(uri)
        if analysis is None:
            return None
        lines = analysis.text.split("\n")[start:start + SNIPPET_LINES]
        return "\n".join(lines) if any(s.strip() for s in lines) else None

    def close(self) -> None:
        for task in (*self._pending.values(), *self._working.values()):
            task.cancel()
        for uri in list(self._editor_retry):
            self._forget_retry(uri)
        if self._project_task is not None:
            self._project_task.cancel()
        if self._project_later is not None:
            self._project_later.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._project_executor.shutdown(wait=False, cancel_futures=True)
