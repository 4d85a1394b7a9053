"""When the engine asks the editor (``deepseek/definitions``), and what it does with the
answer, found in the real editors (tests/editors/test_nvim_definitions_real.py, the VS Code
e2e):

- a user who types right after opening a file: the change must not cancel the request the
  opening sent (its answer was lost, and the same names were never asked again, so the
  definitions came only once the names near the cursor changed);
- an answer that found nothing (no other server attached yet, VS Code's TypeScript still
  loading the project and answering from its syntax-only server) is asked again later, a
  bounded number of times; an answer with a location, an error or no answer in time is not.

The parser is off in these tests, so the editor is the only source of the definition.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deepseek_ls.context import ContextConfig, ContextEngine
from deepseek_ls.context import engine as engine_module
from tests.test_context import context_text, make_engine, write

Locations = list[list[tuple[str, int]] | None] | None
Answers = Callable[[int, list[tuple[int, int]], str], Any]

LIB = "def magic_number(x):\n    return 42 * x\n"
APP = 's = "面积😀"; y = magic_number(2)\n'
DEF = "def magic_number(x):"
EDITOR_ONLY = ContextConfig(definitions=False)


async def _until(cond: Callable[[], object], timeout: float = 10.0) -> bool:
    """Poll ``cond`` (readiness, not a fixed sleep) until true or ``timeout`` s passed."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if cond():
            return True
        await asyncio.sleep(0.01)
    return bool(cond())


def test_a_change_right_after_opening_keeps_the_request_in_flight(tmp_path: Path) -> None:
    write(tmp_path, {"lib.py": LIB})
    lib = str(tmp_path / "lib.py")
    calls: list[list[tuple[int, int]]] = []

    async def scenario() -> tuple[str, int]:
        release = asyncio.Event()

        async def provider(uri: str, positions: list[tuple[int, int]]) -> Locations:
            calls.append(positions)
            await release.wait()  # the other server takes its time
            return [[(lib, 0)] for _ in positions]

        engine = make_engine(tmp_path, EDITOR_ONLY)
        engine.definitions_provider = provider
        uri = f"file://{tmp_path / 'app.py'}"
        engine.opened(uri, APP, "python", 1)
        assert await _until(lambda: len(calls) == 1), "the opening asks"
        text = APP
        for version, ch in enumerate("print(y", start=2):  # the user types on, faster than the quiet delay
            text += ch
            engine.changed(uri, text, version, 1)
            await asyncio.sleep(0.02)
        release.set()
        await _until(lambda: DEF in context_text(engine, uri, 1))
        found = context_text(engine, uri, 1)
        await _until(lambda: not engine.pending(uri))  # the typing's own analysis (same names: not asked)
        asked = len(calls)
        engine.close()
        return found, asked

    found, asked = asyncio.run(scenario())
    assert DEF in found and "return 42 * x" in found
    assert asked == 1, "the same names are asked once"


def test_a_change_during_the_quiet_delay_still_replaces_the_waiting_analysis(tmp_path: Path) -> None:
    """Only a task already at work is kept: changes in a row still make one analysis."""
    write(tmp_path, {"lib.py": LIB})

    async def scenario() -> int:
        engine = make_engine(tmp_path, EDITOR_ONLY)
        uri = f"file://{tmp_path / 'app.py'}"
        engine.opened(uri, APP, "python", 1)
        await _until(lambda: not engine.pending(uri))
        before = engine.stats["analyses"]
        text = APP
        for version, ch in enumerate("print(y", start=2):
            text += ch
            engine.changed(uri, text, version, 1)
            await asyncio.sleep(0.01)
        await _until(lambda: not engine.pending(uri))
        engine.close()
        return engine.stats["analyses"] - before

    assert asyncio.run(scenario()) == 1


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> tuple[float, ...]:
    delays = (0.05, 0.1, 0.15)
    monkeypatch.setattr(engine_module, "EDITOR_RETRY_S", delays)
    return delays


def _run_answers(tmp_path: Path, answers: Answers, settle: float, app: str = APP) -> tuple[str, int]:
    """Open app.py (``app``) with a provider giving ``answers(n, positions)`` for its n-th call;
    the context text once ``settle`` s passed with nothing pending, and the calls made."""
    write(tmp_path, {"lib.py": LIB})
    lib = str(tmp_path / "lib.py")
    calls: list[int] = []

    async def scenario() -> tuple[str, int]:
        async def provider(uri: str, positions: list[tuple[int, int]]) -> Locations:
            calls.append(len(positions))
            result: Locations = answers(len(calls), positions, lib)
            return result

        engine = make_engine(tmp_path, EDITOR_ONLY)
        engine.definitions_provider = provider
        uri = f"file://{tmp_path / 'app.py'}"
        engine.opened(uri, app, "python", 1)
        await _until(lambda: bool(calls))
        loop = asyncio.get_running_loop()
        end = loop.time() + settle
        while loop.time() < end or engine.pending(uri):
            await asyncio.sleep(0.02)
        text = context_text(engine, uri, 0)
        engine.close()
        return text, len(calls)

    return asyncio.run(scenario())


@pytest.mark.parametrize("empty", ["null", "all-entries-null", "empty-lists", "this-document-only"])
def test_an_answer_that_found_nothing_is_asked_again(tmp_path: Path, quick_retries: tuple[float, ...], empty: str) -> None:
    """``this-document-only``: VS Code's TypeScript answers from its syntax-only server while
    the project loads (the import line of the asking document)."""
    app = str(tmp_path / "app.py")

    def answers(n: int, positions: list[tuple[int, int]], lib: str) -> Any:
        if n < 3:  # the other server is still starting
            return {"null": None, "all-entries-null": [None] * len(positions),
                    "empty-lists": [[] for _ in positions],
                    "this-document-only": [[(app, 0)] for _ in positions]}[empty]
        return [[(lib, 0)] for _ in positions]

    text, calls = _run_answers(tmp_path, answers, settle=sum(quick_retries) + 0.3)
    assert DEF in text
    assert calls == 3, "asked again until it answered, then not again"


def test_retries_are_bounded(tmp_path: Path, quick_retries: tuple[float, ...]) -> None:
    text, calls = _run_answers(tmp_path, lambda n, positions, lib: None, settle=sum(quick_retries) + 0.5)
    assert DEF not in text
    assert calls == 1 + len(quick_retries)


@pytest.mark.parametrize("answer", ["found", "error"])
def test_an_answer_with_a_location_or_an_error_is_final(tmp_path: Path, quick_retries: tuple[float, ...], answer: str) -> None:
    def answers(n: int, positions: list[tuple[int, int]], lib: str) -> Any:
        if answer == "error":
            raise TimeoutError("no answer in time")
        return [[(lib, 0)] for _ in positions]

    text, calls = _run_answers(tmp_path, answers, settle=sum(quick_retries) + 0.3)
    assert calls == 1
    assert (DEF in text) == (answer == "found")


IMPORTING = 'from lib import magic_number\n\n\ndef helper(x):\n    return x\n\n\ns = "面积😀"; y = helper(magic_number(2))\n'


def _by_name(app: str, positions: list[tuple[int, int]]) -> list[str]:
    """The name at each asked position of ``app``."""
    lines = app.split("\n")
    return [re.match(r"\w+", lines[line][column:]).group(0) for line, column in positions]  # type: ignore[union-attr]  # a name is asked at its start


@pytest.mark.parametrize("imported_found", ["on the second ask", "never"])
def test_an_imported_name_found_only_at_its_import_line_is_asked_again(
        tmp_path: Path, quick_retries: tuple[float, ...], imported_found: str) -> None:
    """(VS Code e2e on a busy machine.) The answer located some names in other files (the
    syntax-only TypeScript server finds a few), but a name the file imports only at its import
    line: the server is still loading the project. That answer was final for every name, so the
    definition never came; the imported name is now asked again like an answer that found nothing."""
    app = str(tmp_path / "app.py")
    stdlib = str(tmp_path / "builtins.pyi")

    def answers(n: int, positions: list[tuple[int, int]], lib: str) -> Any:
        out = []
        for name in _by_name(IMPORTING, positions):
            if name == "magic_number":
                ready = imported_found == "on the second ask" and n >= 2
                out.append([(lib, 0)] if ready else [(app, 0)])
            else:
                out.append([(stdlib, 3)] if name == "lib" else [(app, 3)])
        return out

    text, calls = _run_answers(tmp_path, answers, settle=sum(quick_retries) + 0.3, app=IMPORTING)
    if imported_found == "never":
        assert DEF not in text and calls == 1 + len(quick_retries), "bounded"
    else:
        assert DEF in text and calls == 2


def test_a_name_the_file_defines_found_in_the_file_is_final(tmp_path: Path, quick_retries: tuple[float, ...]) -> None:
    app = str(tmp_path / "app.py")

    def answers(n: int, positions: list[tuple[int, int]], lib: str) -> Any:
        return [[(lib, 0)] if name == "magic_number" else [(app, 3)] for name in _by_name(IMPORTING, positions)]

    text, calls = _run_answers(tmp_path, answers, settle=sum(quick_retries) + 0.3, app=IMPORTING)
    assert DEF in text and calls == 1, "helper is defined here: its answer is right, not a server still loading"


def _calls_after_nothing_found(tmp_path: Path, then: Callable[[ContextEngine, str], None], wait: float) -> list[int]:
    """Open app.py with an editor that finds nothing, do ``then(engine, uri)`` once its answer is
    in, wait ``wait`` s: the calls made to the editor."""
    write(tmp_path, {"lib.py": LIB})
    calls: list[int] = []

    async def scenario() -> None:
        async def provider(uri: str, positions: list[tuple[int, int]]) -> Locations:
            calls.append(1)
            return None

        engine = make_engine(tmp_path, EDITOR_ONLY)
        engine.definitions_provider = provider
        uri = f"file://{tmp_path / 'app.py'}"
        engine.opened(uri, APP, "python", 1)
        await _until(lambda: bool(calls) and not engine.pending(uri))
        then(engine, uri)
        await asyncio.sleep(wait)
        engine.close()

    asyncio.run(scenario())
    return calls


def test_closing_the_file_stops_the_retries(tmp_path: Path, quick_retries: tuple[float, ...]) -> None:
    calls = _calls_after_nothing_found(tmp_path, lambda engine, uri: engine.closed(uri), sum(quick_retries) + 0.2)
    assert calls == [1]


def test_a_settings_change_during_a_request_asks_again(tmp_path: Path) -> None:
    """The settings changed while the editor was asked: that analysis is stale and cancelled,
    and the names are asked again (not taken as answered)."""
    write(tmp_path, {"lib.py": LIB})
    lib = str(tmp_path / "lib.py")
    calls: list[int] = []

    async def scenario() -> str:
        never = asyncio.Event()

        async def provider(uri: str, positions: list[tuple[int, int]]) -> Locations:
            calls.append(len(positions))
            if len(calls) == 1:
                await never.wait()  # cancelled by the settings change
            return [[(lib, 0)] for _ in positions]

        engine = make_engine(tmp_path, EDITOR_ONLY)
        engine.definitions_provider = provider
        uri = f"file://{tmp_path / 'app.py'}"
        engine.opened(uri, APP, "python", 1)
        assert await _until(lambda: len(calls) == 1)
        engine.configure(ContextConfig(definitions=False, budget_tokens=1024))
        await _until(lambda: DEF in context_text(engine, uri, 0))
        text = context_text(engine, uri, 0)
        engine.close()
        return text

    assert DEF in asyncio.run(scenario())
    assert len(calls) == 2


def test_switching_editor_definitions_off_stops_the_retries(tmp_path: Path, quick_retries: tuple[float, ...]) -> None:
    """(Fresh review of issue 12.) Off means off: no retry of an answer that found nothing, and
    no new request for the names typed afterwards."""
    def switch_off_and_type(engine: ContextEngine, uri: str) -> None:
        engine.configure(ContextConfig(definitions=False, editor_definitions=False))
        engine.changed(uri, APP + "z = other_name(1)\n", 2, 1)

    calls = _calls_after_nothing_found(tmp_path, switch_off_and_type,
                                       sum(quick_retries) + engine_module.REANALYSE_AFTER_S + 0.3)
    assert calls == [1]


def test_a_restored_session_asks_the_editor_only_where_the_user_works(tmp_path: Path,
                                                                      quick_retries: tuple[float, ...]) -> None:
    """60 tabs opened at once (a restored session) once sent 60 requests, and 240 with the
    retries of answers that found nothing. Now only the tab opened last (the editor shows it)
    is asked; another one when the user types or asks a completion in it."""
    files = {f"m{i:02d}.py": f"from lib import magic_number\nv{i} = magic_number({i})\n" for i in range(60)}
    write(tmp_path, {"lib.py": LIB, **files})
    asked: list[str] = []

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        async def provider(uri: str, positions: list[tuple[int, int]]) -> Locations:
            asked.append(uri)
            return None  # found nothing: asked again later, but only where the user works

        engine = make_engine(tmp_path, EDITOR_ONLY)
        engine.definitions_provider = provider
        uris = [f"file://{tmp_path / name}" for name in files]
        for version, (uri, text) in enumerate(zip(uris, files.values(), strict=True), start=1):
            engine.opened(uri, text, "python", version)
        await _until(lambda: all(not engine.pending(u) for u in uris))
        await asyncio.sleep(sum(quick_retries) + 0.3)
        on_open = list(asked)
        engine.cursor(uris[3], 1)  # the user goes to the fourth tab and completes there
        await _until(lambda: uris[3] in asked)
        await _until(lambda: not engine.pending(uris[3]))
        after_cursor = list(asked)
        engine.changed(uris[7], files["m07.py"] + "x", 99, 1)  # ... and types in the eighth
        await _until(lambda: uris[7] in asked)
        engine.close()
        return uris, on_open, after_cursor

    uris, on_open, after_cursor = asyncio.run(scenario())
    assert set(on_open) == {uris[-1]} and len(on_open) == 1 + len(quick_retries)
    assert set(after_cursor) == {uris[-1], uris[3]}
    assert uris[7] in asked and len(set(asked)) == 3



def test_a_module_opened_after_the_line_importing_it_reaches_the_next_analysis(tmp_path: Path) -> None:
    """(Fresh review of issue 12.) A lone file (nothing of the workspace imported) is not parsed
    again for 30 s while its import lines stay the same. A module the user creates and opens
    after writing the import then came only 30 s later; opening a new document ends that."""
    write(tmp_path, {"app.py": "from newmod import magic_number\n\ny = magic_number(2)\n"})

    async def scenario() -> tuple[str, str]:
        engine = make_engine(tmp_path, ContextConfig())
        uri = f"file://{tmp_path / 'app.py'}"
        text = (tmp_path / "app.py").read_text()
        engine.opened(uri, text, "python", 1)
        await _until(lambda: not engine.pending(uri))
        before = context_text(engine, uri, 2)
        (tmp_path / "newmod.py").write_text(LIB, encoding="utf-8")  # the user creates the module
        mod = f"file://{tmp_path / 'newmod.py'}"
        engine.opened(mod, LIB, "python", 1)
        await _until(lambda: not engine.pending(mod))
        engine.changed(uri, text + "z = 1\n", 2, 3)  # back in app.py, typing
        await _until(lambda: DEF in context_text(engine, uri, 2), timeout=5.0)
        after = context_text(engine, uri, 2)
        engine.close()
        return before, after

    before, after = asyncio.run(scenario())
    assert DEF not in before and DEF in after
