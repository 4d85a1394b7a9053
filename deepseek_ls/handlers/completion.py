"""``textDocument/inlineCompletion`` (ghost text) and ``textDocument/completion``."""

from __future__ import annotations

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from ..features.completion import CompletionFeature


def register(server: LanguageServer, completion: CompletionFeature) -> None:
    """Register the ghost-text and completion-item handlers."""

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(params: types.InlineCompletionParams) -> types.InlineCompletionList:
        return await completion.inline_completion(params)

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[".", "("]))
    async def text_document_completion(params: types.CompletionParams) -> types.CompletionList:
        return await completion.completion(params)
