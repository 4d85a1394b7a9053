"""``textDocument/codeAction``, ``codeAction/resolve``, ``deepseek.runCodeAction`` and
``deepseek.rewriteSelection`` (see :mod:`deepseek_ls.features.code_actions`)."""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from ..features.code_actions import KINDS, REWRITE_COMMAND, RUN_COMMAND, CodeActionsFeature


def register(server: LanguageServer, actions: CodeActionsFeature) -> None:
    """Register the code-action handlers and commands."""

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                    types.CodeActionOptions(code_action_kinds=KINDS, resolve_provider=True))
    def code_action(params: types.CodeActionParams) -> list[types.CodeAction | types.Command]:
        return actions.list_actions(params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def code_action_resolve(action: types.CodeAction) -> types.CodeAction:
        return await actions.resolve(action)

    @server.command(RUN_COMMAND)
    async def run_code_action(*args: Any) -> dict[str, Any]:
        return await actions.run_code_action(args)

    @server.command(REWRITE_COMMAND)
    async def rewrite_selection(*args: Any) -> dict[str, Any]:
        return await actions.rewrite_selection(args)
