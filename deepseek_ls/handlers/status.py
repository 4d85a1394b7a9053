"""Ghost-text feedback and status commands: ``deepseek/didShowCompletion``,
``deepseek/didPartiallyAcceptCompletion``, ``deepseek.acceptCompletion``,
``deepseek.toggleAutoCompletion``, ``deepseek.usage``."""

from __future__ import annotations

from typing import Any

from pygls.lsp.server import LanguageServer

from ..features.completion import ACCEPT_COMMAND
from ..features.status import StatusFeature


def register(server: LanguageServer, status: StatusFeature) -> None:
    """Register the feedback notifications and the status commands."""

    @server.feature("deepseek/didShowCompletion")
    def did_show(params: Any) -> None:
        status.did_show(params)

    @server.feature("deepseek/didPartiallyAcceptCompletion")
    def did_partially_accept(params: Any) -> None:
        status.did_accept(params)

    @server.command(ACCEPT_COMMAND)
    def accept_completion(*args: Any) -> None:
        status.did_accept(args[0] if args else {})

    @server.command("deepseek.toggleAutoCompletion")
    def toggle_auto_completion(*args: Any) -> dict[str, bool]:
        return status.toggle(args[0] if args else {})

    @server.command("deepseek.usage")
    def usage(*args: Any) -> dict[str, Any]:
        return status.usage()
