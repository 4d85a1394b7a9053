"""initialize / initialized / configuration changes / shutdown.

Settings arrive from ``initializationOptions`` (in ``initialize``), from
``workspace/didChangeConfiguration`` and from ``workspace/configuration``
(pulled after ``initialized`` and after each change, when the client
supports it). Problems in them give one message; the defaults stay.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

from lsprotocol import types

from ..server import DeepSeekLanguageServer
from ..settings import SECTION, section_of

log = logging.getLogger(__name__)


def _models(ls: DeepSeekLanguageServer) -> tuple[str, str, str, str]:
    s = ls.service.settings
    return s.completion_model, s.chat_model, s.base_url, s.api_key


def _apply(ls: DeepSeekLanguageServer, layer: str, values: Any) -> None:
    before = _models(ls)
    problems = ls.service.update_settings(layer, section_of(values))
    if ls.ready and _models(ls) != before and ls.service.client is not None:
        asyncio.ensure_future(_check_models(ls))
    if problems:
        text = "; ".join(problems)
        log.warning("settings: %s", text)
        ls.window_show_message(types.ShowMessageParams(
            type=types.MessageType.Warning, message=f"DeepSeek settings: {text}"))
    ls.send_status()


async def _pull(ls: DeepSeekLanguageServer) -> None:
    if not ls.client_supports("workspace.configuration"):
        return
    try:
        result = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)]))
    except Exception as exc:  # the client may refuse; the other layers stay
        log.warning("workspace/configuration failed: %s", exc)
        return
    if result and isinstance(result[0], dict):
        _apply(ls, "pull", result[0])


async def _check_models(ls: DeepSeekLanguageServer) -> None:
    message = await ls.service.check_models()
    # two checks may overlap (start-up and a settings change): say it once
    if message and message != ls.last_model_message:
        ls.last_model_message = message
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning,
                                                       message=f"DeepSeek: {message}"))


def register(server: DeepSeekLanguageServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: DeepSeekLanguageServer, params: types.InitializeParams) -> None:
        problems = ls.service.update_settings("init", section_of(params.initialization_options))
        ls.pending_problems = list(dict.fromkeys(ls.service.startup_problems + problems))

    def _freeze_startup_objects() -> None:
        """Take what startup allocated (modules, lsprotocol's converters: ~60k
        objects that live as long as the process) out of the collector's reach.
        A full collection over them pauses the loop for 20-30 ms, which would
        land in the middle of some keystroke."""
        gc.collect()
        gc.freeze()

    @server.feature(types.INITIALIZED)
    async def initialized(ls: DeepSeekLanguageServer, params: types.InitializedParams) -> None:
        ls.ready = True
        if ls.pending_problems:
            ls.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Warning,
                message="DeepSeek settings: " + "; ".join(ls.pending_problems)))
            ls.pending_problems = []
        await _pull(ls)
        if ls.service.client is None:
            ls.service.engine.report_missing_key()
        else:
            asyncio.ensure_future(_check_models(ls))
        ls.send_status(force=True)
        _freeze_startup_objects()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: DeepSeekLanguageServer,
                                       params: types.DidChangeConfigurationParams) -> None:
        settings = params.settings
        if isinstance(settings, dict) and settings:
            _apply(ls, "didChange", settings)
        await _pull(ls)

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: DeepSeekLanguageServer, params: None) -> None:
        """Stop the running work quietly, as cancelled, then close the connections.

        Order matters: chats and ghost-text requests are cancelled (and the
        chats awaited) first, so none of them sees its connection closed
        under it and reports "the connection broke" or an outage.
        """
        await stop_running_work(ls)
        await ls.service.aclose()


async def stop_running_work(ls: DeepSeekLanguageServer, timeout_s: float = 2.0) -> None:
    """Cancel every request in flight except the current one, and the running chats."""
    ls.service.engine.close()
    chat = getattr(ls, "chat", None)
    current, me = ls.protocol.msg_id, asyncio.current_task()
    # pygls runs this handler as a task of its own under a fresh id: spare it too
    futures = [f for msg_id, f in list(getattr(ls.protocol, "_request_futures", {}).items())
               if msg_id != current and f is not me and not f.done()]
    for future in futures:
        future.cancel()
    if chat is not None:
        await chat.stop_all(timeout_s)
    pending = [f for f in futures if isinstance(f, asyncio.Future)]
    if pending:
        await asyncio.wait(pending, timeout=timeout_s)
