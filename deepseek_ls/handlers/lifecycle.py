"""initialize / initialized / configuration changes / shutdown.

Settings arrive from ``initializationOptions`` (in ``initialize``), from
``workspace/didChangeConfiguration`` and from ``workspace/configuration``
(pulled after ``initialized`` and after each change, when the client
supports it). Each message replaces its layer whole: ``{}``, ``null``,
``{"deepseek": null}`` or a pull answered ``[null]`` empty it, so removed
settings fall back to the layers below and the defaults. Settings apply at
once, the log level included. Each problem gives one message while it lasts.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from .. import client_hints, logs
from ..api.errors import json_kind
from ..server import DeepSeekLanguageServer
from ..settings import SECTION, section_of, sentence

log = logging.getLogger(__name__)


def _models(ls: DeepSeekLanguageServer) -> tuple[str, str, str, str]:
    s = ls.service.settings
    return s.completion_model, s.chat_model, s.base_url, s.api_key


def _show_problems(ls: DeepSeekLanguageServer, problems: list[str]) -> None:
    if not problems:
        return
    text = " ".join(dict.fromkeys(sentence(p) for p in problems))  # each problem is a sentence
    log.warning("settings: %s", text)
    ls.window_show_message(types.ShowMessageParams(
        type=types.MessageType.Warning, message=f"DeepSeek settings: {text}"))


def _apply(ls: DeepSeekLanguageServer, layer: str, values: Any) -> None:
    """Replace one settings layer with the ``deepseek`` section of ``values`` (anything a client sends)."""
    before = _models(ls)
    problems = ls.service.update_settings(layer, section_of(values))
    if ls.ready and _models(ls) != before and ls.service.client is not None:
        asyncio.ensure_future(_check_models(ls))
    _show_problems(ls, problems)
    ls.send_status()


async def _pull(ls: DeepSeekLanguageServer) -> None:
    if not ls.client_supports("workspace.configuration"):
        return
    try:
        result = await ls.ask_client(types.WORKSPACE_CONFIGURATION,
                                     types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)]))
    except (TimeoutError, JsonRpcException) as exc:  # refused or not answered: the layer stays as it was
        log.warning("workspace/configuration failed: %s", exc or type(exc).__name__)
        return
    # [null], null (nothing configured any more) or an answer of another shape empties
    # the layer: what the client holds now is "nothing we can read"
    answer = result[0] if isinstance(result, (list, tuple)) and result else None
    log.debug("workspace/configuration answered: %s", json_kind(answer))
    _apply(ls, "pull", answer if isinstance(answer, dict) else {})


async def _check_models(ls: DeepSeekLanguageServer) -> None:
    message = await ls.service.check_models()
    # two checks may overlap (start-up and a settings change): say it once
    if message and message != ls.last_model_message:
        ls.last_model_message = message
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning,
                                                       message=f"DeepSeek: {message}"))


def register(server: DeepSeekLanguageServer) -> None:
    # deepseek.logLevel applies live, before the change is logged
    server.service.on_settings = lambda settings: logs.set_level(settings.log_level)

    @server.feature(types.INITIALIZE)
    def initialize(ls: DeepSeekLanguageServer, params: types.InitializeParams) -> None:
        # no-key / rejected-key messages name what this client's user can do
        client_hints.apply(params.initialization_options, params.client_info.name if params.client_info else None)
        problems = ls.service.update_settings("init", section_of(params.initialization_options))
        # a startup problem now named for this client (api_key in setup()) is in `problems` once more
        in_force = ls.service.in_force()
        ls.pending_problems = list(dict.fromkeys(
            [p for p in ls.service.startup_problems if str(p) in in_force] + problems))

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
        _show_problems(ls, ls.pending_problems)
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
        # replace the layer whatever came: {} (Neovim), null, {"deepseek": null} (Zed) empty it;
        # a pull-model client then answers workspace/configuration, which has its own layer
        _apply(ls, "didChange", params.settings)
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
