"""Documents and the workspace: the server's own document copies, snapshots, names, exclusions.

The documents live here (:mod:`deepseek_ls.documents`), not in pygls's
workspace: pygls splits lines with ``str.splitlines`` (form feed, U+2028 ...
break lines there, so edits below them land on the wrong line) and re-splits
the whole text on every change. So pygls's built-in handlers for
``didOpen``/``didChange``/``didClose`` are replaced by ours.

Each ``didChange`` is also a keystroke for the adaptive debounce; closing a
document forgets its suggestions. Every other feature reads a document
through :meth:`DocumentsFeature.snapshot` (a frozen copy with ``\\n`` line
breaks), names it with :meth:`display_path` (never a local absolute path) and
asks :meth:`exclusion` whether it may be sent at all (the secret-file policy,
:mod:`deepseek_ls.policy`).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Protocol
from urllib.parse import unquote

from lsprotocol import types
from pygls import uris
from pygls.exceptions import JsonRpcException

from ..completion.config import MAX_DOCUMENT_CHARS
from ..documents import Document, DocumentStore, normalize_eol, to_eol
from ..naming import display_name
from ..policy import Exclusion, project_root
from ..service import Service
from ..snapshot import DocumentSnapshot
from .commands import REQUEST_FAILED
from .connection import DeepSeekLanguageServer
from .status import StatusFeature

log = logging.getLogger(__name__)

#: Custom request answering a document's text as the server holds it; registered
#: only when this environment variable is "1" (tests and bug reports).
INSPECT_ENV = "DEEPSEEK_LS_INSPECT"
INSPECT_METHOD = "deepseek/inspectDocument"


def _under(path: str, root: str) -> bool:
    root = os.path.normpath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _root_in(uri: str, folders: list[str]) -> str | None:
    """The folder of ``folders`` the file ``uri`` is in (the innermost), else the root of its
    own project; None for a document that is no file."""
    path = uris.to_fs_path(uri) if uri.startswith("file:") else None
    if not path:
        return None
    path = os.path.normpath(path)
    inside = [r for r in folders if _under(path, r)]
    return max(inside, key=len) if inside else project_root(os.path.dirname(path))


class DocumentListener(Protocol):
    """Hears of the documents' lifecycle (after the store changed); must not raise."""

    def opened(self, uri: str) -> None: ...
    def changed(self, uri: str, line: int | None) -> None: ...
    def closed(self, uri: str) -> None: ...


class DocumentsFeature:
    """The open documents, their snapshots and names, and which of them are never sent."""

    def __init__(self, server: DeepSeekLanguageServer, service: Service, status: StatusFeature) -> None:
        self.server = server
        self.service = service
        self.status = status
        #: the open documents by URI, as the client spelt it in ``didOpen``
        self.store = DocumentStore()
        #: who hears of opened, changed and closed documents (the cross-file context subscribes)
        self.listeners: list[DocumentListener] = []
        #: (the workspace folders, each open document's root): made again when a document is
        #: opened or closed or the folders change (read per request and per exclusion check)
        self._root_map: tuple[tuple[str, ...], dict[str, str | None]] | None = None

    # -- notifications ------------------------------------------------------
    def did_open(self, params: types.DidOpenTextDocumentParams) -> None:
        """Keep a copy of the opened document."""
        item = params.text_document
        self.store.open(item.uri, item.text, language_id=item.language_id or "plaintext", version=item.version)
        self._root_map = None
        for listener in self.listeners:
            listener.opened(item.uri)

    def did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        """Apply the changes (ranges in the negotiated encoding); tell the engine a key was typed."""
        uri, version = params.text_document.uri, params.text_document.version
        doc = self.document(uri)
        if doc is None:
            log.warning("didChange for a document that is not open: %s", uri)
            return
        encoding = self.server.encoding
        for change in params.content_changes:
            rng = getattr(change, "range", None)
            if rng is None:
                doc.replace_all(change.text, version)
            else:
                doc.change((rng.start.line, rng.start.character), (rng.end.line, rng.end.character),
                           change.text, encoding, version)
        changes = params.content_changes
        inserted = getattr(changes[-1], "text", "") if len(changes) == 1 else ""
        self.service.engine.note_edit(uri, normalize_eol(inserted))
        first = getattr(changes[0], "range", None) if changes else None
        for listener in self.listeners:
            listener.changed(uri, first.start.line if first is not None else None)

    def did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        """Forget the document, its suggestions and the ``excluded`` state it caused."""
        uri = params.text_document.uri
        doc = self.document(uri)
        if doc is not None:
            self.store.close(doc.uri)
            self._root_map = None
        self.service.engine.forget(uri)
        for listener in self.listeners:
            listener.closed(uri)
        self.status.closed(uri)

    def inspect(self, params: Any) -> dict[str, Any] | None:
        """``deepseek/inspectDocument`` ``{uri}``: the text as the server holds it (tests, bug reports)."""
        uri = getattr(params, "uri", None) or (params.get("uri") if isinstance(params, dict) else None)
        doc = self.document(str(uri or ""))
        if doc is None:
            return None
        return {"uri": doc.uri, "version": doc.version, "text": doc.raw_text, "eol": doc.eol,
                "lineCount": doc.line_count}

    # -- reading documents ----------------------------------------------------
    def document(self, uri: str) -> Document | None:
        """The open document ``uri`` (also when the client spells it with other percent-escapes)."""
        doc = self.store.get(uri)
        if doc is None and self.store:
            plain = unquote(uri)
            doc = next((d for d in self.store if unquote(d.uri) == plain), None)
        return doc

    def _freeze(self, uri: str, doc: Document) -> DocumentSnapshot:
        return DocumentSnapshot.from_text(uri, self.display_path(uri), doc.language_id,
                                          doc.text, doc.version, doc.eol)

    def snapshot(self, uri: str) -> DocumentSnapshot | None:
        """A frozen copy of an open document, or None if it is not open.

        Its ``text`` has ``\\n`` line breaks only (same lines and columns as the
        editor's text); ``eol`` is the document's own line break.
        """
        doc = self.document(uri)
        return None if doc is None else self._freeze(uri, doc)

    def others(self, uri: str) -> tuple[DocumentSnapshot, ...]:
        """Snapshots of the other open documents of ``uri``'s workspace folder or project (a tab
        from another project, or an untitled buffer, is never context for this file; nor are
        documents too large to complete in, or never sent)."""
        mine = self.document(uri)
        root = self.root_of(uri)
        if root is None:
            return ()
        roots = self._roots_by_uri()
        return tuple(self._freeze(doc.uri, doc) for doc in self.store
                     if doc is not mine and len(doc) <= MAX_DOCUMENT_CHARS
                     and roots.get(doc.uri) == root
                     and self.exclusion(doc.uri) is None)  # a secret file is never context

    def editor_text(self, uri: str, text: str) -> str:
        """``text`` (from the core, ``\\n`` line breaks) with the line breaks of document ``uri``."""
        doc = self.document(uri)
        return to_eol(text, doc.eol if doc is not None else "\n")

    # -- the workspace ----------------------------------------------------------
    def workspace_folders(self) -> list[tuple[str, str]]:
        """``[(folder URI, name), ...]``: the workspace folders (kept current by pygls on
        ``workspace/didChangeWorkspaceFolders``), or the root URI when the client sent no folders."""
        try:
            folders = [(f.uri, f.name) for f in self.server.workspace.folders.values()]
            root = self.server.workspace.root_uri
        except RuntimeError:  # before initialize
            return []
        if not folders and root:
            folders = [(root, "")]
        return folders

    def display_path(self, uri: str) -> str:
        """How ``uri`` is named to the model and in titles: never a local absolute path
        (see :mod:`deepseek_ls.naming`)."""
        return display_name(uri, self.workspace_folders())

    def workspace_roots(self) -> list[str]:
        """The workspace folders (or the root URI) as filesystem paths: where cross-file context
        is read from."""
        try:
            workspace = self.server.workspace
            folders = [f.uri for f in workspace.folders.values()] or [workspace.root_uri]
        except RuntimeError:  # before initialize
            return []
        return [p for p in (uris.to_fs_path(u) for u in folders if u) if p]

    def root_of(self, uri: str) -> str | None:
        """The folder ``uri``'s file belongs to: the workspace folder it is in, else the root of
        its own project (:func:`~deepseek_ls.policy.project_root`); None for a document that is
        no file (untitled). An open document's root is the one found when it was opened."""
        roots = self._roots_by_uri()
        return roots[uri] if uri in roots else _root_in(uri, self.workspace_roots())

    def _roots_by_uri(self) -> dict[str, str | None]:
        folders = self.workspace_roots()
        if self._root_map is None or self._root_map[0] != tuple(folders):
            self._root_map = (tuple(folders), {doc.uri: _root_in(doc.uri, folders) for doc in self.store})
        return self._root_map[1]

    def _roots(self) -> list[str]:
        """The folders whose ``.deepseekignore`` applies: the workspace folders, and the project
        root of every open file outside them (a tab from another project, or a session with no
        workspace folder at all, honours its own project's ``.deepseekignore``)."""
        roots = self.workspace_roots()
        extra = {root for root in self._roots_by_uri().values() if root is not None} - set(roots)
        return roots + sorted(extra)

    # -- secret files: never sent (see deepseek_ls/policy.py) ----------------------
    def exclusion(self, uri: str) -> Exclusion | None:
        """Why ``uri`` is never sent to DeepSeek, or None when it may be."""
        policy = self.service.policy
        policy.set_roots(self._roots())
        return policy.check(uri)

    def refuse_excluded(self, uri: str) -> None:
        """Raise a clear ``RequestFailed`` (data ``{"kind": "excluded", "pattern", "source"}``)
        when ``uri`` is never sent."""
        why = self.exclusion(uri)
        if why is None:
            return
        name = self.display_path(uri)
        raise JsonRpcException(
            message=f"{why.message(name)} Nothing was sent. To allow it, add `!{name}` to the setting "
                    "deepseek.exclude.",
            code=REQUEST_FAILED, data={"kind": "excluded", "pattern": why.pattern, "source": why.source})
