"""textDocument/inlineCompletion (ghost text) and textDocument/completion.

Both adapt the same core call: snapshot the document, turn the LSP position
into an offset, await :meth:`CompletionEngine.complete`, and turn the
suggestion back into LSP. Backend trouble never becomes an LSP error: the
answer is empty and the engine reports the problem once.

An item's range runs from the cursor over the closers the suggestion
replaces (``Suggestion.replace``), so accepting ``a, b)`` at ``f(|)`` leaves
``f(a, b)``, as Copilot's items do.
"""

from __future__ import annotations

import re

from lsprotocol import types

from ..completion.engine import CompletionRequest, Suggestion
from ..server import DeepSeekLanguageServer

ACCEPT_COMMAND = "deepseek.acceptCompletion"
_WORD_BEFORE = re.compile(r"[\w$]*$")


async def _suggest(ls: DeepSeekLanguageServer, uri: str, position: types.Position,
                   manual: bool) -> tuple[Suggestion, str, int] | None:
    snap = ls.snapshot(uri)
    if snap is None or ls.withhold(uri):  # i14: an excluded file gets no completion
        return None
    offset = ls.offset(snap.text, position)
    request = CompletionRequest(doc=snap, offset=offset, manual=manual, others=ls.others(uri),
                                request_id=ls.protocol.msg_id)
    suggestion = await ls.service.engine.complete(request)
    if suggestion is None:
        return None
    current = ls.snapshot(uri)
    if current is None or current.version != snap.version:
        return None  # the document moved on while we waited: stale
    return suggestion, snap.text, offset


def register(server: DeepSeekLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: DeepSeekLanguageServer,
                                params: types.InlineCompletionParams) -> types.InlineCompletionList:
        manual = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        found = await _suggest(ls, params.text_document.uri, params.position, manual)
        tracer = ls.service.tracer
        if found is None:
            tracer.event("lsp_sent", id=ls.protocol.msg_id, nonempty=False)
            return types.InlineCompletionList(items=[])
        suggestion, text, offset = found
        here = ls.position(text, offset)
        end = ls.position(text, offset + suggestion.replace) if suggestion.replace else here
        item = types.InlineCompletionItem(
            insert_text=ls.editor_text(params.text_document.uri, suggestion.text),
            range=types.Range(start=here, end=end),
            command=types.Command(title="DeepSeek: accept", command=ACCEPT_COMMAND,
                                  arguments=[{"id": suggestion.id}]),
        )
        tracer.event("lsp_sent", id=ls.protocol.msg_id, nonempty=True, source=suggestion.source)
        return types.InlineCompletionList(items=[item])

    @server.feature(types.TEXT_DOCUMENT_COMPLETION,
                    types.CompletionOptions(trigger_characters=[".", "("]))
    async def completion(ls: DeepSeekLanguageServer, params: types.CompletionParams) -> types.CompletionList:
        mode = ls.service.settings.completion_items
        if mode == "never" or (mode == "auto" and ls.client_supports("text_document.inline_completion")):
            return types.CompletionList(is_incomplete=True, items=[])
        manual = bool(params.context and params.context.trigger_kind == types.CompletionTriggerKind.Invoked)
        found = await _suggest(ls, params.text_document.uri, params.position, manual)
        if found is None:
            return types.CompletionList(is_incomplete=True, items=[])
        suggestion, text, offset = found
        line_start = text.rfind("\n", 0, offset) + 1
        word = _WORD_BEFORE.search(text[line_start:offset]).group(0)
        new_text = word + suggestion.text
        first_line = new_text.split("\n", 1)[0]
        label = first_line.strip() if len(first_line.strip()) <= 60 else first_line.strip()[:57] + "..."
        edit_range = types.Range(start=ls.position(text, offset - len(word)),
                                 end=ls.position(text, offset + suggestion.replace))
        item = types.CompletionItem(
            label=label or suggestion.text.strip()[:60],
            kind=types.CompletionItemKind.Text,
            detail="DeepSeek",
            documentation=types.MarkupContent(kind=types.MarkupKind.PlainText, value=new_text),
            filter_text=first_line,
            sort_text="0",
            insert_text_format=types.InsertTextFormat.PlainText,
            text_edit=types.TextEdit(range=edit_range, new_text=ls.editor_text(params.text_document.uri, new_text)),
            command=types.Command(title="DeepSeek: accept", command=ACCEPT_COMMAND,
                                  arguments=[{"id": suggestion.id}]),
            data={"id": suggestion.id},
        )
        return types.CompletionList(is_incomplete=True, items=[item])
