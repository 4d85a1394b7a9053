"""``deepseek.chat``, ``deepseek.explainSelection``, ``deepseek.cancel`` and
``window/workDoneProgress/cancel`` of a chat's progress."""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from ..features.chat import ChatFeature


def register(server: LanguageServer, chat: ChatFeature) -> None:
    """Register the chat commands."""

    @server.command("deepseek.chat")
    async def deepseek_chat(*args: Any) -> dict[str, Any]:
        return await chat.chat(args)

    @server.command("deepseek.explainSelection")
    async def explain_selection(*args: Any) -> dict[str, Any]:
        return await chat.explain_selection(args)

    @server.command("deepseek.cancel")
    def cancel(*args: Any) -> dict[str, int]:
        return chat.cancel(args)

    @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def work_done_progress_cancel(params: types.WorkDoneProgressCancelParams) -> None:
        chat.progress_cancelled(params)
