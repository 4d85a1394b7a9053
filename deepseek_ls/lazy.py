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
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any


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
