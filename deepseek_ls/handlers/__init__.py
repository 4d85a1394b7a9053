"""LSP handlers: one-line adapters from LSP messages to the feature owners.

Each module registers the handlers of one feature (its LSP methods and
commands, with their capability options) on the server; the work and the
state live in the owner (:mod:`deepseek_ls.features`).
"""

from __future__ import annotations

from ..features.setup import Features
from . import chat, code_actions, completion, documents, lifecycle, status


def register_all(features: Features) -> None:
    """Register the handlers of every feature on ``features.server``."""
    server = features.server
    lifecycle.register(server, features.lifecycle)
    documents.register(server, features.documents)
    completion.register(server, features.completion)
    status.register(server, features.status)
    chat.register(server, features.chat)
    code_actions.register(server, features.code_actions)
