"""Cross-file context (issue 12): adapts :mod:`deepseek_ls.context` to the LSP server.

- documents: ``didOpen``/``didChange``/``didClose`` are fed to the engine by
  :class:`~.documents.DocumentsFeature`; it analyses them in the background;
- requests: :meth:`ContextFeature.blocks` gives the rendered blocks for a
  completion request (a lookup; an invoked completion may wait up to
  :data:`INVOKED_WAIT_S` for an analysis in progress, an automatic one never);
- ``deepseek/definitions`` (server -> client, see docs/PROTOCOL.md): asked
  from the background gatherer of clients that announced
  ``initializationOptions.deepseekDefinitions``, within
  ``CLIENT_DEADLINES["deepseek/definitions"]``; null, an error or no answer
  leaves the parser's definitions.

Files the exclusion policy excludes are never read for context (the engine
has its own policy object, used by its worker threads under a lock).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from pygls import uris

from ..context import ContextConfig, ContextEngine
from ..context.engine import MAX_ANALYSED_CHARS
from ..policy import ExclusionPolicy
from ..positions import position_at
from ..settings import Settings
from ..snapshot import DocumentSnapshot
from .connection import CLIENT_DEADLINES, DeepSeekLanguageServer

if TYPE_CHECKING:
    from ..service import Service
    from .documents import DocumentsFeature

log = logging.getLogger(__name__)

DEFINITIONS_METHOD = "deepseek/definitions"
CLIENT_DEADLINES.setdefault(DEFINITIONS_METHOD, 1.5)
#: an invoked completion waits at most this long (s) for an analysis in progress
INVOKED_WAIT_S = 0.5


def config_of(settings: Settings) -> ContextConfig:
    """The engine's configuration from the ``context.*`` settings."""
    return ContextConfig(enabled=settings.context_enabled and settings.context_budget_tokens > 0,
                         budget_tokens=settings.context_budget_tokens,
                         definitions=settings.context_definitions,
                         editor_definitions=settings.context_editor_definitions,
                         recent_files=settings.context_recent_files,
                         open_files=settings.context_open_files)


def _path_of(uri: str) -> str | None:
    if not uri.lower().startswith("file:"):
        return None
    path = uris.to_fs_path(uri)
    return os.path.normpath(path) if path else None


def _location(entry: Any) -> tuple[str, int] | None:
    """(path, 0-based line) of a ``Location`` or ``LocationLink`` (raw JSON), or None."""
    if not isinstance(entry, dict):
        return None
    uri = entry.get("targetUri") or entry.get("uri")
    rng = entry.get("targetSelectionRange") or entry.get("targetRange") or entry.get("range")
    if not isinstance(uri, str) or not isinstance(rng, dict):
        return None
    start = rng.get("start")
    line = start.get("line") if isinstance(start, dict) else None
    path = _path_of(uri)
    if path is None or not isinstance(line, int) or isinstance(line, bool) or line < 0:
        return None
    return path, line


def _plain(obj: Any) -> Any:
    """pygls structures an unknown method's JSON into named tuples: back to dicts and lists."""
    if hasattr(obj, "_asdict"):
        return {k: _plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def parse_definitions(result: Any, count: int) -> list[list[tuple[str, int]] | None] | None:
    """The client's answer to ``deepseek/definitions`` as (path, line) lists parallel to the
    ``count`` positions asked, or None when it is null or not of the agreed shape."""
    result = _plain(result)
    if result is None or not isinstance(result, list):
        return None
    out: list[list[tuple[str, int]] | None] = []
    for entry in result[:count]:
        if isinstance(entry, dict):
            entry = [entry]
        if not isinstance(entry, list):
            out.append(None)
            continue
        found = [loc for loc in (_location(e) for e in entry) if loc is not None]
        out.append(found or None)
    out.extend([None] * (count - len(out)))
    return out


class ContextFeature:
    """Owns the context engine of one server: documents in, blocks out, editor definitions."""

    def __init__(self, server: DeepSeekLanguageServer, service: Service, documents: DocumentsFeature) -> None:
        self.server = server
        self.service = service
        self.documents = documents
        documents.listeners.append(self)  # the documents feed it; it reads them back
        #: the client's deepseek/definitions failed (timeout or error): logged once at info,
        #: then at debug until it answers again
        self._definitions_failing = False

    @functools.cached_property
    def engine(self) -> ContextEngine:
        """The engine, made on first use (after ``initialize``: the announcement is known)."""
        documents = self.documents
        policy = ExclusionPolicy(lambda: self.service.settings.exclude)
        lock = threading.Lock()  # the engine's two worker threads share this policy object

        def allowed(path: str) -> bool:
            with lock:
                policy.set_roots(documents._roots())
                return policy.check(uris.from_fs_path(path) or path) is None

        def display(path: str) -> str:
            return documents.display_path(uris.from_fs_path(path) or path)

        engine = ContextEngine(config_of(self.service.settings), allowed=allowed, display=display,
                               path_of=_path_of)
        if getattr(self.server, "deepseek_definitions", False):
            engine.definitions_provider = self._ask_definitions
        return engine

    def _current(self) -> ContextEngine:
        engine = self.engine
        engine.configure(config_of(self.service.settings))
        engine.set_roots(self.documents.workspace_roots())
        return engine

    def settings_changed(self, settings: Settings) -> None:
        """New settings reach the engine at once (not at the next document event): switching
        ``context.enabled`` or ``context.editorDefinitions`` off stops the requests to the
        editor still planned (the retries of ``deepseek/definitions`` went on for a minute)."""
        engine: ContextEngine | None = self.__dict__.get("engine")
        if engine is not None:
            engine.configure(config_of(settings))

    def opened(self, uri: str) -> None:
        doc = self.documents.document(uri)
        if doc is None or len(doc) > MAX_ANALYSED_CHARS or self.documents.exclusion(uri) is not None:
            return
        self._current().opened(uri, doc.text, doc.language_id or "plaintext", doc.version)

    def changed(self, uri: str, line: int | None) -> None:
        doc = self.documents.document(uri)
        engine: ContextEngine | None = self.__dict__.get("engine")
        if doc is None or engine is None or self.documents.exclusion(uri) is not None:
            return
        if len(doc) > MAX_ANALYSED_CHARS:  # never joined into one string for nothing
            engine.closed(uri)
            return
        engine.configure(config_of(self.service.settings))  # a setting changed live applies now
        engine.changed(uri, lambda: doc.text, doc.version, line)  # joined when analysed, not per keystroke

    def closed(self, uri: str) -> None:
        engine: ContextEngine | None = self.__dict__.get("engine")
        if engine is not None:
            engine.closed(uri)

    async def blocks(self, uri: str, line: int, manual: bool,
                     lines_after: int | None = None) -> tuple[str, str, str]:
        """(project block, file block, late block) for a completion at ``line`` (0-based) of
        ``uri``, with ``lines_after`` line breaks after the cursor (see :meth:`ContextEngine.block`)."""
        if not self.service.settings.context_enabled:
            return "", "", ""
        engine = self._current()
        engine.cursor(uri, line)
        if manual and engine.pending(uri):
            await engine.ready(uri, INVOKED_WAIT_S)
        block = engine.block(uri, line, lines_after)
        return block.project, block.file, block.late

    def others(self, uri: str, snapshots: tuple[DocumentSnapshot, ...]) -> tuple[DocumentSnapshot, ...]:
        """The other open documents for ``uri``'s prompt, pinned at the content they had when
        first listed there (see :meth:`ContextEngine.pin_others`); as given when the context
        is off."""
        engine: ContextEngine | None = self.__dict__.get("engine")
        if engine is None or not self.service.settings.context_enabled:
            return snapshots
        return engine.pin_others(uri, snapshots)

    async def _ask_definitions(self, uri: str,
                               positions: list[tuple[int, int]]) -> list[list[tuple[str, int]] | None] | None:
        """Send ``deepseek/definitions`` for code-point ``positions`` of ``uri`` (background only).

        Returns the parsed answer (None for null); raises what :meth:`ask_client` raised (a
        timeout or the client's error), logged here once at info until the client answers again."""
        doc = self.documents.document(uri)
        if doc is None:
            return None
        text = doc.text
        lines = text.split("\n")
        wire = []
        for line, column in positions:  # clamped: the document may have changed since they were chosen
            line = min(max(line, 0), len(lines) - 1)
            column = min(max(column, 0), len(lines[line]))
            offset = sum(len(n) + 1 for n in lines[:line]) + column
            pl, pc = position_at(text, offset, self.server.encoding)
            wire.append({"line": pl, "character": pc})
        if not wire:
            return None
        try:
            raw = await self.server.ask_client(DEFINITIONS_METHOD, {"textDocument": {"uri": uri}, "positions": wire},
                                               quiet=True)
        except Exception as exc:  # a timeout or the client's error: logged here, then raised
            (log.debug if self._definitions_failing else log.info)(
                "%s: no answer (%s); the parser's definitions are used%s", DEFINITIONS_METHOD, type(exc).__name__,
                "" if self._definitions_failing else " (logged once until the client answers again)")
            self._definitions_failing = True
            raise  # an error or no answer in time is final for these names (a null answer is asked again)
        self._definitions_failing = False
        return parse_definitions(raw, len(positions))
