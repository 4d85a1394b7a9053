"""Build every feature owner of one server from its dependencies, once."""

from __future__ import annotations

from dataclasses import dataclass

from ..service import ServiceEvents
from ..settings import Settings
from .chat import ChatFeature
from .code_actions import CodeActionsFeature
from .completion import CompletionFeature
from .connection import DeepSeekLanguageServer
from .context import ContextFeature
from .documents import DocumentsFeature
from .lifecycle import LifecycleFeature
from .status import StatusFeature


@dataclass(frozen=True)
class Features:
    """The feature owners of one server (see :mod:`deepseek_ls.features`)."""

    server: DeepSeekLanguageServer
    status: StatusFeature
    documents: DocumentsFeature
    completion: CompletionFeature
    chat: ChatFeature
    code_actions: CodeActionsFeature
    lifecycle: LifecycleFeature


def build_features(server: DeepSeekLanguageServer) -> Features:
    """The feature owners of ``server`` (each built from what it needs), with the
    service's events connected to them: problems, state and usage to the status,
    new settings to the lifecycle (the log level) and the context engine."""
    service = server.service
    status = StatusFeature(server, service)
    documents = DocumentsFeature(server, service, status)
    context = ContextFeature(server, service, documents)
    completion = CompletionFeature(server, service, documents, status, context)
    chat = ChatFeature(server, service, documents)
    code_actions = CodeActionsFeature(server, service, documents)
    lifecycle = LifecycleFeature(server, service, status, chat)
    def settings_changed(settings: Settings) -> None:
        lifecycle.settings_changed(settings)
        context.settings_changed(settings)

    service.connect(ServiceEvents(problem=status.report_problem, state=status.send,
                                  usage=status.usage_counted, settings=settings_changed,
                                  ledger_failed=status.ledger_failed))
    return Features(server, status, documents, completion, chat, code_actions, lifecycle)
