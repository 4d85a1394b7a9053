"""``initialize``, ``initialized``, ``workspace/didChangeConfiguration``, ``shutdown``."""

from __future__ import annotations

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from ..features.lifecycle import LifecycleFeature


def register(server: LanguageServer, lifecycle: LifecycleFeature) -> None:
    """Register the lifecycle and settings handlers."""

    @server.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        lifecycle.initialize(params)

    @server.feature(types.INITIALIZED)
    async def initialized(params: types.InitializedParams) -> None:
        await lifecycle.initialized(params)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(params: types.DidChangeConfigurationParams) -> None:
        await lifecycle.did_change_configuration(params)

    @server.feature(types.SHUTDOWN)
    async def shutdown(params: None) -> None:
        await lifecycle.shutdown(params)
