"""``textDocument/didOpen``, ``didChange``, ``didClose`` (pygls's built-ins replaced) and
``deepseek/inspectDocument`` (only when ``DEEPSEEK_LS_INSPECT=1``)."""

from __future__ import annotations

import os
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from ..features.documents import INSPECT_ENV, INSPECT_METHOD, DocumentsFeature

#: pygls keeps its own copies through these built-ins; ours replace them (see features/documents.py)
_SYNC = (types.TEXT_DOCUMENT_DID_OPEN, types.TEXT_DOCUMENT_DID_CHANGE, types.TEXT_DOCUMENT_DID_CLOSE)


def register(server: LanguageServer, documents: DocumentsFeature) -> None:
    """Register the document sync handlers in place of pygls's."""
    builtin = server.protocol.fm.builtin_features
    for method in _SYNC:
        builtin.pop(method, None)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        documents.did_open(params)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        documents.did_change(params)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        documents.did_close(params)

    if os.environ.get(INSPECT_ENV) == "1":
        @server.feature(INSPECT_METHOD)
        def inspect_document(params: Any) -> dict[str, Any] | None:
            return documents.inspect(params)
