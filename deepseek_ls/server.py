"""Build the language server: the connection, the feature owners, their handlers.

:func:`create_server` is the one place where the parts meet (model: esbonio's
``server/setup.py``): the pygls server (:mod:`deepseek_ls.features.connection`)
serves one :class:`~deepseek_ls.service.Service`; each feature's owner
(:mod:`deepseek_ls.features`) is built once from the objects it needs; the
handlers (:mod:`deepseek_ls.handlers`) register one-line adapters to them.
Nothing imports this module but the entry points.
"""

from __future__ import annotations

from .features.connection import DeepSeekLanguageServer
from .features.setup import Features, build_features
from .handlers import register_all
from .service import Service


def build(service: Service | None = None) -> Features:
    """A server and its feature owners, every handler registered (``service``: a fresh one
    from the environment when None)."""
    server = DeepSeekLanguageServer(service or Service())
    features = build_features(server)
    register_all(features)
    return features


def create_server(service: Service | None = None) -> DeepSeekLanguageServer:
    """A server with every feature registered."""
    return build(service).server
