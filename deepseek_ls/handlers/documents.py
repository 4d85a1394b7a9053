"""didOpen / didChange / didClose: the server's own document copies, and the rhythm.

The documents live in :attr:`DeepSeekLanguageServer.documents`
(:mod:`deepseek_ls.documents`), not in pygls's workspace: pygls splits lines
with ``str.splitlines`` (form feed, U+2028 ... break lines there, so edits
below them land on the wrong line) and re-splits the whole text on every
change. So pygls's built-in handlers for these three notifications are
replaced by ours (pygls calls a built-in instead of a registered feature).

Each ``didChange`` is also a keystroke for the adaptive debounce; closing a
document forgets its suggestions.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from lsprotocol import types

from ..documents import normalize_eol
from ..server import DeepSeekLanguageServer

log = logging.getLogger(__name__)

#: Custom request answering a document's text as the server holds it; registered
#: only when this environment variable is "1" (tests and bug reports).
INSPECT_ENV = "DEEPSEEK_LS_INSPECT"
INSPECT_METHOD = "deepseek/inspectDocument"

_SYNC = (types.TEXT_DOCUMENT_DID_OPEN, types.TEXT_DOCUMENT_DID_CHANGE, types.TEXT_DOCUMENT_DID_CLOSE)


def register(server: DeepSeekLanguageServer) -> None:
    builtin = server.protocol.fm.builtin_features
    for method in _SYNC:
        builtin.pop(method, None)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: DeepSeekLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        ls.documents.open(item.uri, item.text, language_id=item.language_id or "plaintext", version=item.version)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: DeepSeekLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        uri, version = params.text_document.uri, params.text_document.version
        doc = ls.document(uri)
        if doc is None:
            log.warning("didChange for a document that is not open: %s", uri)
            return
        encoding = ls.encoding
        for change in params.content_changes:
            rng = getattr(change, "range", None)
            if rng is None:
                doc.replace_all(change.text, version)
            else:
                doc.change((rng.start.line, rng.start.character), (rng.end.line, rng.end.character),
                           change.text, encoding, version)
        changes = params.content_changes
        inserted = getattr(changes[-1], "text", "") if len(changes) == 1 else ""
        ls.service.engine.note_edit(uri, normalize_eol(inserted))

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: DeepSeekLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        doc = ls.document(params.text_document.uri)
        if doc is not None:
            ls.documents.close(doc.uri)
        ls.service.engine.forget(params.text_document.uri)
        ls.closed(params.text_document.uri)

    if os.environ.get(INSPECT_ENV) == "1":
        @server.feature(INSPECT_METHOD)
        def inspect_document(ls: DeepSeekLanguageServer, params: Any) -> dict[str, Any] | None:
            uri = getattr(params, "uri", None) or (params.get("uri") if isinstance(params, dict) else None)
            doc = ls.document(str(uri or ""))
            if doc is None:
                return None
            return {"uri": doc.uri, "version": doc.version, "text": doc.raw_text, "eol": doc.eol,
                    "lineCount": doc.line_count}
