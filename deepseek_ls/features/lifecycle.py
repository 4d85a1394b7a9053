"""Lifecycle and settings: initialize / initialized / configuration changes / shutdown.

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
from collections.abc import Sequence
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from .. import client_hints, lazy, logs
from ..api.errors import json_kind
from ..service import Service
from ..settings import SECTION, Settings, section_of, sentence
from .chat import ChatFeature
from .connection import DeepSeekLanguageServer
from .status import StatusFeature

log = logging.getLogger(__name__)


class LifecycleFeature:
    """The settings layers the client sends, start-up checks, and a quiet shutdown."""

    def __init__(self, server: DeepSeekLanguageServer, service: Service, status: StatusFeature,
                 chat: ChatFeature) -> None:
        self.server = server
        self.service = service
        self.status = status
        self.chat = chat
        #: settings problems found in ``initialize``, shown once ``initialized`` allows messages
        self.pending_problems: list[str] = []
        #: the last "DeepSeek does not serve model X" message (said once, even when checks overlap)
        self.last_model_message: str | None = None
        #: model checks running in the background (kept so they are not collected mid-way)
        self._checks: set[asyncio.Task[None]] = set()

    def settings_changed(self, settings: Settings) -> None:
        """The settings changed: ``deepseek.logLevel`` applies live, before the change is logged."""
        logs.set_level(settings.log_level)

    # -- LSP messages ------------------------------------------------------------
    def initialize(self, params: types.InitializeParams) -> None:
        """Read ``initializationOptions`` (the ``init`` layer) and who the client is."""
        # no-key / rejected-key messages name what this client's user can do
        client_hints.apply(params.initialization_options, params.client_info.name if params.client_info else None)
        options = params.initialization_options  # does the client answer deepseek/definitions?
        self.server.deepseek_definitions = isinstance(options, dict) and options.get("deepseekDefinitions") is True
        problems = self.service.update_settings("init", section_of(params.initialization_options))
        # a startup problem now named for this client (api_key in setup()) is in `problems` once more
        in_force = self.service.in_force()
        self.pending_problems = list(dict.fromkeys(
            [p for p in self.service.startup_problems if str(p) in in_force] + problems))

    async def initialized(self, params: types.InitializedParams) -> None:
        """Messages may flow now: say the problems, pull the settings, check the models."""
        self.status.ready = True
        self._show_problems(self.pending_problems)
        self.pending_problems = []
        await self._pull()
        if self.service.client is None:
            self.service.engine.report_missing_key()
        else:
            self._check_models_soon()
        self.status.send(force=True)
        _freeze_startup_objects()
        self._preload_soon()

    async def did_change_configuration(self, params: types.DidChangeConfigurationParams) -> None:
        """Replace the ``didChange`` layer, then pull (a pull-model client answers there)."""
        # replace the layer whatever came: {} (Neovim), null, {"deepseek": null} (Zed) empty it;
        # a pull-model client then answers workspace/configuration, which has its own layer
        self._apply("didChange", params.settings)
        await self._pull()

    async def shutdown(self, params: None) -> None:
        """Stop the running work quietly, as cancelled, then close the connections.

        Order matters: chats and ghost-text requests are cancelled (and the
        chats awaited) first, so none of them sees its connection closed
        under it and reports "the connection broke" or an outage.
        """
        await self.stop_running_work()
        await self.service.aclose()

    async def stop_running_work(self, timeout_s: float = 2.0) -> None:
        """Cancel every request in flight except the current one, and the running chats."""
        self.service.engine.close()
        protocol = self.server.protocol
        current, me = protocol.msg_id, asyncio.current_task()
        # pygls runs this handler as a task of its own under a fresh id: spare it too
        futures = [f for msg_id, f in list(getattr(protocol, "_request_futures", {}).items())
                   if msg_id != current and f is not me and not f.done()]
        for future in futures:
            future.cancel()
        await self.chat.stop_all(timeout_s)
        pending = [f for f in futures if isinstance(f, asyncio.Future)]
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)

    # -- settings -------------------------------------------------------------------
    def _models(self) -> tuple[str, str, str, str]:
        s = self.service.settings
        return s.completion_model, s.chat_model, s.base_url, s.api_key

    def _show_problems(self, problems: Sequence[str]) -> None:
        if not problems:
            return
        text = " ".join(dict.fromkeys(sentence(p) for p in problems))  # each problem is a sentence
        log.warning("settings: %s", text)
        self.server.show_message(f"DeepSeek settings: {text}")

    def _apply(self, layer: str, values: Any) -> None:
        """Replace one settings layer with the ``deepseek`` section of ``values`` (anything a client sends)."""
        before = self._models()
        problems = self.service.update_settings(layer, section_of(values))
        if self.status.ready and self._models() != before and self.service.client is not None:
            self._check_models_soon()
        self._show_problems(problems)
        self.status.send()

    async def _pull(self) -> None:
        if not self.server.client_supports("workspace.configuration"):
            return
        try:
            result = await self.server.ask_client(
                types.WORKSPACE_CONFIGURATION,
                types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)]))
        except (TimeoutError, JsonRpcException) as exc:  # refused or not answered: the layer stays as it was
            log.warning("workspace/configuration failed: %s", exc or type(exc).__name__)
            return
        # [null], null (nothing configured any more) or an answer of another shape empties
        # the layer: what the client holds now is "nothing we can read"
        answer = result[0] if isinstance(result, (list, tuple)) and result else None
        log.debug("workspace/configuration answered: %s", json_kind(answer))
        self._apply("pull", answer if isinstance(answer, dict) else {})

    def _preload_soon(self) -> None:
        """Import what start-up left for later (:data:`deepseek_ls.lazy.LATER`) in a worker
        thread: a broken module is found now and said once (the service pauses
        completion with the reason), not at every keystroke that would first use it."""
        task = asyncio.ensure_future(self._preload())
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _preload(self) -> None:
        failed = await asyncio.to_thread(lazy.preload)
        if failed is not None:
            self.service.part_broken(*failed)

    def _check_models_soon(self) -> None:
        """Compare the configured models with ``GET /models`` in the background."""
        task = asyncio.ensure_future(self._check_models())
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _check_models(self) -> None:
        message = await self.service.check_models()
        # two checks may overlap (start-up and a settings change): say it once
        if message and message != self.last_model_message:
            self.last_model_message = message
            self.server.show_message(f"DeepSeek: {message}")


def _freeze_startup_objects() -> None:
    """Take what startup allocated (modules, lsprotocol's converters: ~60k
    objects that live as long as the process) out of the collector's reach.
    A full collection over them pauses the loop for 20-30 ms, which would
    land in the middle of some keystroke."""
    gc.collect()
    gc.freeze()
