"""didOpen / didChange / didClose: pygls keeps the text; we feed the rhythm.

Each ``didChange`` is a keystroke for the adaptive debounce; closing a
document forgets its suggestions.
"""

from __future__ import annotations

from lsprotocol import types

from ..server import DeepSeekLanguageServer


def register(server: DeepSeekLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: DeepSeekLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        changes = params.content_changes
        inserted = getattr(changes[-1], "text", "") if len(changes) == 1 else ""
        ls.service.engine.note_edit(params.text_document.uri, inserted)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: DeepSeekLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.service.engine.forget(params.text_document.uri)
