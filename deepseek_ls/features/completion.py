"""Ghost text: ``textDocument/inlineCompletion`` and ``textDocument/completion``.

Both adapt the same core call: snapshot the document, turn the LSP position
into an offset, await :meth:`CompletionEngine.complete`, and turn the
suggestion back into LSP. Backend trouble never becomes an LSP error: the
answer is empty and the engine reports the problem once. A file that is never
sent (a secret file, :mod:`deepseek_ls.policy`) gets no completion and the status state ``excluded``.

An item's range runs from the cursor over the closers the suggestion
replaces (``Suggestion.replace``), so accepting ``a, b)`` at ``f(|)`` leaves
``f(a, b)``, as Copilot's items do.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lsprotocol import types

from ..completion.engine import CompletionRequest, Suggestion
from ..service import Service
from .connection import DeepSeekLanguageServer
from .documents import DocumentsFeature
from .status import StatusFeature

if TYPE_CHECKING:
    from .context import ContextFeature

#: The command an item runs when accepted (handled by the status feature: feedback).
ACCEPT_COMMAND = "deepseek.acceptCompletion"
_WORD_BEFORE = re.compile(r"[\w$]*$")


class CompletionFeature:
    """Ghost text and completion items from the completion engine."""

    def __init__(self, server: DeepSeekLanguageServer, service: Service, documents: DocumentsFeature,
                 status: StatusFeature, context: ContextFeature) -> None:
        self.server = server
        self.service = service
        self.documents = documents
        self.status = status
        #: the cross-file context: its blocks head the prompt, its pins order the other files
        self.context = context

    def withhold(self, uri: str) -> bool:
        """True when ``uri`` is never sent (a secret file): no completion there; the status says why."""
        why = self.documents.exclusion(uri)
        self.status.excluded(uri, why.message(self.documents.display_path(uri)) if why is not None else None)
        return why is not None

    async def _suggest(self, uri: str, position: types.Position,
                       manual: bool) -> tuple[Suggestion, str, int] | None:
        """The suggestion at ``position`` with the text and offset it is for; None for none
        (an excluded file, a stale answer, a broken install: said once, never per keystroke)."""
        if self.service.broken is not None:
            return None
        try:
            return await self._suggest_at(uri, position, manual)
        except ImportError as exc:  # a module imported late is broken (before the start-up preload saw it)
            self.service.part_broken(exc.name or "?", exc)
            return None

    async def _suggest_at(self, uri: str, position: types.Position,
                          manual: bool) -> tuple[Suggestion, str, int] | None:
        snap = self.documents.snapshot(uri)
        if snap is None or self.withhold(uri):  # an excluded (secret) file gets no completion
            return None
        offset = self.server.offset(snap.text, position)
        request_id = self.server.protocol.msg_id
        project_block, file_block, late_block = await self.context.blocks(
            uri, snap.text.count("\n", 0, offset), manual, snap.text.count("\n", offset))
        # the other open files as first listed in this file's prompt (pinned)
        others = self.context.others(uri, self.documents.others(uri))
        request = CompletionRequest(doc=snap, offset=offset, manual=manual, others=others,
                                    request_id=request_id, context=project_block, file_context=file_block,
                                    late_context=late_block)
        suggestion = await self.service.engine.complete(request)
        if suggestion is None:
            return None
        current = self.documents.snapshot(uri)
        if current is None or current.version != snap.version:
            return None  # the document moved on while we waited: stale
        return suggestion, snap.text, offset

    def _accept(self, suggestion: Suggestion) -> types.Command:
        return types.Command(title="DeepSeek: accept", command=ACCEPT_COMMAND, arguments=[{"id": suggestion.id}])

    async def inline_completion(self, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        """Ghost text at the cursor: one item, or none."""
        manual = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        found = await self._suggest(params.text_document.uri, params.position, manual)
        tracer = self.server.tracer
        msg_id = self.server.protocol.msg_id
        if found is None:
            tracer.event("lsp_sent", id=msg_id, nonempty=False)
            return types.InlineCompletionList(items=[])
        suggestion, text, offset = found
        here = self.server.position(text, offset)
        end = self.server.position(text, offset + suggestion.replace) if suggestion.replace else here
        item = types.InlineCompletionItem(
            insert_text=self.documents.editor_text(params.text_document.uri, suggestion.text),
            range=types.Range(start=here, end=end),
            command=self._accept(suggestion),
        )
        tracer.event("lsp_sent", id=msg_id, nonempty=True, source=suggestion.source)
        return types.InlineCompletionList(items=[item])

    async def completion(self, params: types.CompletionParams) -> types.CompletionList:
        """The suggestion as one completion item, for clients without inline completion
        (setting ``completion.items``: ``auto``, ``always``, ``never``)."""
        mode = self.service.settings.completion_items
        if mode == "never" or (mode == "auto" and self.server.client_supports("text_document.inline_completion")):
            return types.CompletionList(is_incomplete=True, items=[])
        manual = bool(params.context and params.context.trigger_kind == types.CompletionTriggerKind.Invoked)
        found = await self._suggest(params.text_document.uri, params.position, manual)
        if found is None:
            return types.CompletionList(is_incomplete=True, items=[])
        suggestion, text, offset = found
        line_start = text.rfind("\n", 0, offset) + 1
        match = _WORD_BEFORE.search(text[line_start:offset])  # always matches (maybe empty)
        word = match.group(0) if match else ""
        new_text = word + suggestion.text
        first_line = new_text.split("\n", 1)[0]
        label = first_line.strip() if len(first_line.strip()) <= 60 else first_line.strip()[:57] + "..."
        edit_range = types.Range(start=self.server.position(text, offset - len(word)),
                                 end=self.server.position(text, offset + suggestion.replace))
        item = types.CompletionItem(
            label=label or suggestion.text.strip()[:60],
            kind=types.CompletionItemKind.Text,
            detail="DeepSeek",
            documentation=types.MarkupContent(kind=types.MarkupKind.PlainText, value=new_text),
            filter_text=first_line,
            sort_text="0",
            insert_text_format=types.InsertTextFormat.PlainText,
            text_edit=types.TextEdit(range=edit_range,
                                     new_text=self.documents.editor_text(params.text_document.uri, new_text)),
            command=self._accept(suggestion),
            data={"id": suggestion.id},
        )
        return types.CompletionList(is_incomplete=True, items=[item])

