"""Commands and notifications about ghost text: shown, accepted, on/off, usage.

``deepseek/didShowCompletion`` and ``deepseek/didPartiallyAcceptCompletion``
(client -> server), ``deepseek.acceptCompletion`` (run by the client when an
item is accepted), ``deepseek.toggleAutoCompletion`` and ``deepseek.usage``.
"""

from __future__ import annotations

from typing import Any

from ..server import DeepSeekLanguageServer


def _field(params: Any, name: str, default: Any = None) -> Any:
    if isinstance(params, dict):
        return params.get(name, default)
    return getattr(params, name, default)


def register(server: DeepSeekLanguageServer) -> None:
    # shown / accepted: the clients report them; nothing uses them yet (accepted, not an error)
    @server.feature("deepseek/didShowCompletion")
    def did_show(ls: DeepSeekLanguageServer, params: Any) -> None:
        return None

    @server.feature("deepseek/didPartiallyAcceptCompletion")
    def did_partially_accept(ls: DeepSeekLanguageServer, params: Any) -> None:
        return None

    @server.command("deepseek.acceptCompletion")
    def accept_completion(ls: DeepSeekLanguageServer, *args: Any) -> None:
        return None

    @server.command("deepseek.toggleAutoCompletion")
    def toggle_auto_completion(ls: DeepSeekLanguageServer, *args: Any) -> dict[str, bool]:
        arg = args[0] if args else {}
        enabled = _field(arg, "enabled")
        if not isinstance(enabled, bool):
            enabled = not ls.service.settings.completion_enabled
        ls.service.update_settings("toggle", {"completion": {"enabled": enabled}})
        ls.send_status()
        return {"enabled": ls.service.settings.completion_enabled}

    @server.command("deepseek.usage")
    def usage(ls: DeepSeekLanguageServer, *args: Any) -> dict[str, Any]:
        return ls.service.usage.to_json()
