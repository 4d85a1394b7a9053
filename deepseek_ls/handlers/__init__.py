"""LSP handlers: thin adapters from LSP messages to the core and back."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..server import DeepSeekLanguageServer

#: Feature modules; each has ``register(server)``.
MODULES = ("lifecycle", "documents", "inline_completion", "feedback", "chat_commands", "code_actions")


def register_all(server: DeepSeekLanguageServer) -> None:
    """Register every feature module that is present."""
    for name in MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            continue
        module.register(server)
