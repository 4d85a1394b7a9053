"""Status and feedback: ``deepseek/status``, problems shown once, ghost-text feedback, usage.

Owns what the editor's status item shows (the ``deepseek/status``
notification, sent when it changes: state, on/off, model, usage, today's
ledger figures, the answering endpoint, the ``excluded`` state of a secret file) and the
messages about problems the service reports. Also owns the ghost-text
feedback the client sends back: ``deepseek/didShowCompletion``,
``deepseek/didPartiallyAcceptCompletion``, ``deepseek.acceptCompletion``, and
the commands ``deepseek.toggleAutoCompletion`` and ``deepseek.usage``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types

from ..api.types import Usage
from ..service import Service
from ..settings import sentence
from .connection import DeepSeekLanguageServer

log = logging.getLogger(__name__)

#: The status notification (server -> client); see docs/PROTOCOL.md.
STATUS = "deepseek/status"


def _field(params: Any, name: str, default: Any = None) -> Any:
    if isinstance(params, dict):
        return params.get(name, default)
    return getattr(params, name, default)


class StatusFeature:
    """The ``deepseek/status`` notification, problem messages and ghost-text feedback."""

    def __init__(self, server: DeepSeekLanguageServer, service: Service) -> None:
        self.server = server
        self.service = service
        #: False until ``initialized``: no notification goes out before the initialize response
        self.ready = False
        #: the last status sent (a status is sent again only when it differs, or when forced)
        self._last: dict[str, Any] | None = None
        #: the event loop the status is sent on (the ledger's writer thread schedules a resend there)
        self._loop: asyncio.AbstractEventLoop | None = None
        #: secret files: why the file completion was last asked in gets nothing (None: it may be sent)
        self.excluded_note: str | None = None
        #: the file :attr:`excluded_note` is about
        self.excluded_uri: str | None = None
        #: files whose exclusion was already said (once each, in the log)
        self._excluded_told: set[str] = set()
        #: ``(ledger problem, the sentence saying it)``: the ledger note of the last status
        self._ledger_note: tuple[str, str] | None = None

    # -- the status notification -----------------------------------------
    def payload(self) -> dict[str, Any]:
        """The ``deepseek/status`` payload (see docs/PROTOCOL.md)."""
        service = self.service
        state, why = service.engine.state()
        payload: dict[str, Any] = {
            "state": state,
            "autoCompletion": service.settings.completion_enabled,
            "model": service.settings.completion_model,
            "usage": service.usage.to_json(),
            "today": service.ledger.today().to_json(),
        }
        if why:
            payload["message"] = why
        if service.ledger.problem:  # "today" is then only this session's queued rows
            payload["todayNote"] = self._ledger_sentence(service.ledger.problem)
        # failover: which endpoint ghost text comes from now
        payload["endpoint"] = service.engine.answering_endpoint().to_json()
        if self.excluded_note:  # the file asked about last is never sent (a secret file)
            payload["state"] = "excluded"
            payload["message"] = self.excluded_note
            payload["excludedUri"] = self.excluded_uri
        return payload

    def _ledger_sentence(self, problem: str) -> str:
        """What failed with the usage ledger and how to fix it (as ``stats`` and ``doctor`` say it)."""
        if self._ledger_note is None or self._ledger_note[0] != problem:
            from ..ledger import ledger_problem  # imported late: only when the ledger failed

            path = self.service.ledger.path
            found = ledger_problem(path) if path is not None else None
            text = (f"Today's figures are incomplete: {found[0]}. {found[1]}" if found else
                    f"Today's figures are incomplete: {problem}.")
            self._ledger_note = (problem, text)
        return self._ledger_note[1]

    def send(self, force: bool = False) -> None:
        """Send ``deepseek/status`` when it changed (always when ``force``), once :attr:`ready`."""
        if not self.ready:
            return
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                pass
        payload = self.payload()
        if not force and payload == self._last:
            return
        self._last = payload
        self.server.notify(STATUS, payload)

    def usage_counted(self, kind: str, model: str, usage: Usage) -> None:
        """An answer was counted: the usage figures changed."""
        self.send(force=True)

    def ledger_failed(self) -> None:
        """The ledger's writer thread failed: resend the status (its todayNote says what to do).

        Runs on the writer thread: the status is sent from the event loop."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self.send)
            except RuntimeError:  # the loop closed meanwhile
                pass

    # -- problems and the excluded state -----------------------------------
    def report_problem(self, kind: str, message: str) -> None:
        """One clear message per problem (the engine dedupes), and a log line."""
        message = sentence(message)
        log.warning("%s: %s", kind, message)
        severity = types.MessageType.Error if kind in ("auth", "balance", "missing-key", "broken") else types.MessageType.Warning
        self.server.show_message(f"DeepSeek: {message}", severity)
        self.send()

    def excluded(self, uri: str, note: str | None) -> None:
        """Completion was asked in ``uri``, which is never sent when ``note`` says why
        (None: it may be sent). Says it once per file, quietly (the log and the status
        state ``excluded``, no popup)."""
        if note is not None and uri not in self._excluded_told:
            self._excluded_told.add(uri)
            log.info("%s", note)
            self.server.log_message(f"DeepSeek: {note}")
        if note != self.excluded_note:
            self.excluded_note = note
            self.excluded_uri = uri if note else None
            self.send()

    def closed(self, uri: str) -> None:
        """``uri`` was closed: the ``excluded`` state it caused (if any) ends."""
        if self.excluded_note is not None and self.excluded_uri == uri:
            self.excluded_note = self.excluded_uri = None
            self.send()

    # -- ghost-text feedback and commands ------------------------------------
    def did_show(self, params: Any) -> None:
        """``deepseek/didShowCompletion`` ``{id}``: the suggestion was displayed.

        Accepted (the plugins send it) and not used: nothing in the server reads it."""

    def did_accept(self, params: Any) -> None:
        """``deepseek/didPartiallyAcceptCompletion`` or ``deepseek.acceptCompletion``
        ``{id, acceptedLength?}``: the suggestion (or its first ``acceptedLength``
        characters) was accepted. Accepted (the plugins send it) and not used: nothing in the
        server reads it."""

    def toggle(self, arg: Any) -> dict[str, bool]:
        """``deepseek.toggleAutoCompletion`` ``{enabled?}``: set automatic ghost text on or off
        (flip it without ``enabled``); returns ``{enabled}``."""
        enabled = _field(arg, "enabled")
        if not isinstance(enabled, bool):
            enabled = not self.service.settings.completion_enabled
        self.service.update_settings("toggle", {"completion": {"enabled": enabled}})
        self.send()
        return {"enabled": self.service.settings.completion_enabled}

    def usage(self) -> dict[str, Any]:
        """``deepseek.usage``: this process's usage totals."""
        return self.service.usage.to_json()
