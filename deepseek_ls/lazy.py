"""Modules imported on first use, to keep them out of the server's start-up.

An editor starts the server when a file opens and waits for its
``initialize`` answer; what that answer does not need (the HTTP stack, chat,
the usage ledger's database, ...) is imported later. Inside functions a
plain local ``import`` does it; for a module used all over another module
(``httpx`` in the API client) that module binds a :class:`LazyModule`::

    if TYPE_CHECKING:
        import httpx
    else:
        httpx = LazyModule("httpx")

``tests/test_startup_imports.py`` checks what start-up leaves unimported;
``python -m tests.bench.startup`` measures it.

What is left for later is still loaded early: once the server is up (after
the ``initialized`` notification) :func:`preload` imports :data:`LATER` in the
background, so a broken install (a module that fails to import) is found
once, at start, and said once, not at every keystroke that first uses it.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

#: Modules the server imports on first use rather than at start-up, in the order
#: :func:`preload` imports them: the libraries first (so a failure names the broken
#: library), then the package's own modules that are imported late.
LATER: tuple[str, ...] = (
    "httpx", "h11", "pathspec", "sqlite3", "statistics", "tenacity",
    "deepseek_ls.api.transport", "deepseek_ls.api.chat", "deepseek_ls.api.retry",
    "deepseek_ls.chat.manager", "deepseek_ls.chat.transcript", "deepseek_ls.prompt.prefix",
    "deepseek_ls.prompt.chat", "deepseek_ls.edits",
)


def preload(names: tuple[str, ...] = LATER) -> tuple[str, BaseException] | None:
    """Import ``names`` now (blocking: run it in a worker thread); returns ``(name,
    error)`` for the first that fails to import, None when all did. Never raises
    (an ``Exception`` of a module's own code is returned, not raised)."""
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a broken module may raise anything while it runs
            return name, exc
    return None


class LazyModule:
    """Stands for the module ``name`` and imports it when one of its attributes is first read.

    Whether ``name`` is installed is checked at once (``ModuleNotFoundError``
    here, as a plain ``import`` would raise it); the module's own code runs
    at the first attribute read, through ``importlib.import_module`` (under
    the import lock, so two threads never see it half done), and any error
    it raises propagates from that read, every time until it imports.
    """

    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        if importlib.util.find_spec(name) is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"
