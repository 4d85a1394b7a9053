"""``deepseek-ls complete FILE:LINE:COL``: print one completion, its tokens and cost.

Exit 0 with a suggestion; 1 when there is none or the request failed (what
failed and what to do on stderr); 2 on a usage error (no key, no such file,
line or column outside the file).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .. import logs
from .common import fail

if TYPE_CHECKING:
    from ..api.errors import DeepSeekError
    from ..completion.request import Suggestion
    from ..service import Service
    from ..snapshot import DocumentSnapshot

DESCRIPTION = ("Print DeepSeek's suggestion at FILE:LINE:COL (1-based line and column, the column "
               "in characters), with the definitions the file imports from its project (the nearest "
               "folder above it with .git, pyproject.toml, package.json, go.mod ...; as for a file "
               "outside the editor's workspace): the whole suggestion on stdout, its tokens and cost "
               "on stderr, and the request in the usage ledger. Needs DEEPSEEK_API_KEY. Exit 0 with "
               "a suggestion, 1 when there is none or the request failed (what to do on stderr), 2 on a usage error.")


def register(parser: argparse.ArgumentParser) -> None:
    """print the completion at FILE:LINE:COL"""
    parser.description = DESCRIPTION
    parser.add_argument("spec", metavar="FILE:LINE:COL", help="e.g. src/app.py:12:5")
    parser.add_argument("--no-context", action="store_true",
                        help="the file alone: no definitions from the rest of its project")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    """Run ``complete`` (its own logging: request and ledger failures are said once, by it)."""
    logs.setup(os.environ.get("DEEPSEEK_LS_LOG", "warning"))
    if not os.environ.get("DEEPSEEK_LS_LOG"):
        # request failures are reported once, with what to do, by complete() itself
        logging.getLogger("deepseek_ls.completion").setLevel(logging.ERROR)
        # so are ledger failures (under the usage line, with how to fix them)
        logging.getLogger("deepseek_ls.ledger").setLevel(logging.ERROR)
    code = asyncio.run(complete(args.spec, context=not args.no_context))
    if any(t.name.startswith("context") and t.is_alive() for t in threading.enumerate()):
        # the project's analysis still running past CONTEXT_WAIT_S (a huge Go package): its
        # result is no longer wanted, but the interpreter would wait for its worker threads
        # at exit (35 s after the answer was printed, on 150 Go files of 0.9 MB). Everything
        # is written: the answer, the usage line, the ledger (closed by the service)
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


async def complete(spec: str, *, context: bool = True) -> int:
    """Complete at ``spec`` (``FILE:LINE:COL``, 1-based), with the project context unless
    ``context`` is False; the exit code."""
    from ..service import Service, ServiceEvents

    try:
        doc, offset, file_text = _read_position(spec)
    except _UsageError as exc:
        return fail(str(exc))
    problems: list[str] = []
    failures: list[DeepSeekError] = []  # the engine swallows request errors; the CLI must name them
    service = Service(events=ServiceEvents(problem=lambda kind, message: problems.append(message),
                                           failure=failures.append))
    file = Path(file_text).resolve()
    project = _project_of(file)
    # the file's own project's .deepseekignore applies to it, as in an editor (the policy has no
    # workspace folders here: without one, only the built-in list would be checked)
    service.policy.set_roots([str(project[0])])
    refusal = await _refusal(service, doc.uri, file_text)
    if refusal is not None:
        return fail(refusal)
    doc, blocks = await _project_context(service, doc, offset, file, project, context)
    suggestion = await _run(service, doc, offset, failures, blocks)
    return _report(service, suggestion, problems, failures)


class _UsageError(Exception):
    """``FILE:LINE:COL`` names no readable position: said on stderr, exit 2."""


def _read_position(spec: str) -> tuple[DocumentSnapshot, int, str]:
    """``(document, offset in code points, the FILE as given)`` for ``FILE:LINE:COL`` (1-based, the
    column in characters); :class:`_UsageError` saying what is wrong."""
    from ..snapshot import DocumentSnapshot

    path_text, sep1, rest = spec.rpartition(":")
    file_text, sep2, line_text = path_text.rpartition(":")
    if not (sep1 and sep2) or not line_text.isdigit() or not rest.isdigit():
        raise _UsageError(f"expected FILE:LINE:COL (1-based), got {spec!r}")
    path = Path(file_text)
    if path.is_dir():
        raise _UsageError(f"{file_text} is a directory, not a file")
    if not path.is_file():
        raise _UsageError(f"no such file: {file_text}")
    try:
        doc = DocumentSnapshot.from_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise _UsageError(f"cannot read {file_text}: {exc}") from None
    lines = doc.text.split("\n")
    line, col = int(line_text), int(rest)
    if not 1 <= line <= len(lines):
        raise _UsageError(f"line {line} is outside {file_text} (1..{len(lines)})")
    if not 1 <= col <= len(lines[line - 1].rstrip("\r")) + 1:
        raise _UsageError(f"column {col} is outside line {line} (1..{len(lines[line - 1].rstrip(chr(13))) + 1})")
    return doc, sum(len(text_line) + 1 for text_line in lines[: line - 1]) + col - 1, file_text


async def _refusal(service: Service, uri: str, file_text: str) -> str | None:
    """Why nothing may be sent (a key or endpoint that must not be used, no key, a secret file),
    with the service closed; None when it may. Prints the non-blocking setting warnings."""
    for problem in service.startup_problems:
        if not problem.blocking:
            print(f"deepseek-ls: warning: {problem}", file=sys.stderr)
    why: str | None = None
    if service.blocked is not None:  # a key or endpoint that must not be used (never replaced by a default)
        why = f"{service.blocked}"
    elif service.client is None:
        why = ("no API key: set the environment variable DEEPSEEK_API_KEY "
               "(create a key at https://platform.deepseek.com/api_keys)")
    elif (secret := service.policy.check(uri)) is not None:  # secret files are never sent
        why = secret.message(file_text)
    if why is not None:
        await service.aclose()
    return why


#: how long ``complete`` waits for the project's analysis (s); what is ready by then is used
CONTEXT_WAIT_S = 5.0


def _project_of(file: Path) -> tuple[Path, bool]:
    """``(root, marked)``: the root folder of ``file``'s project (:func:`~deepseek_ls.policy.project_root`)
    and whether a project marker names it (False: no folder above the file holds one, and the
    root is the file's own folder, such as ``/tmp`` or a home folder)."""
    from ..policy import find_project_root

    root = find_project_root(str(file.parent))
    return (Path(root), True) if root is not None else (file.parent, False)


async def _project_context(service: Service, doc: DocumentSnapshot, offset: int, file: Path,
                           project: tuple[Path, bool],
                           wanted: bool = True) -> tuple[DocumentSnapshot, tuple[str, str, str]]:
    """``doc`` (the file ``file`` of ``project``, see :func:`_project_of`) named by its path in
    its project, and the (project, file, late)
    context blocks for a completion at ``offset``, as the server builds them in an editor (the
    parser's definitions; no editor to ask, no other open files). Empty blocks when not
    ``wanted`` (``--no-context``)."""
    from ..context import ContextEngine
    from ..features.context import config_of
    from ..policy import ExclusionPolicy

    root, marked = project
    doc = dataclasses.replace(doc, path=file.relative_to(root).as_posix())
    if not wanted or not service.settings.context_enabled:
        return doc, ("", "", "")
    policy = ExclusionPolicy(lambda: service.settings.exclude)
    policy.set_roots([str(root)])
    lock = threading.Lock()  # the engine's two worker threads share the policy

    def allowed(path: str) -> bool:
        with lock:
            return policy.check(Path(path).as_uri()) is None

    engine = ContextEngine(config_of(service.settings), allowed=allowed,
                           display=lambda path: os.path.relpath(path, root).replace(os.sep, "/"),
                           path_of=lambda uri: str(file) if uri == doc.uri else None)
    try:
        # a folder no marker names (/tmp, a home folder) is no project: as an editor with no
        # workspace folder, the file's own folder is read for its imports, no project block is
        # built from whatever else lies there (other people's files in a shared /tmp)
        engine.set_roots([str(root)] if marked else [])
        engine.opened(doc.uri, doc.text, doc.language_id, 1)
        line = doc.text.count("\n", 0, offset)
        engine.cursor(doc.uri, line)
        await engine.ready(doc.uri, CONTEXT_WAIT_S)
        block = engine.block(doc.uri, line, doc.text.count("\n", offset))
        return doc, (block.project, block.file, block.late)
    finally:
        engine.close()


async def _run(service: Service, doc: DocumentSnapshot, offset: int,
               failures: list[DeepSeekError], blocks: tuple[str, str, str] = ("", "", "")) -> Suggestion | None:
    """The whole suggestion at ``offset`` with the context ``blocks`` (project, file, late; see
    :func:`_project_context`) (None: none, or a request error, added to ``failures``);
    closes the service, which writes the usage ledger's queued rows."""
    from ..api.errors import DeepSeekError
    from ..completion.engine import CompletionRequest

    engine = service.engine
    text = doc.text
    try:
        suggestion = await engine.complete(CompletionRequest(doc=doc, offset=offset, manual=True, context=blocks[0],
                                                             file_context=blocks[1], late_context=blocks[2]))
        # A multi-line answer streams: the engine hands back its first lines early and
        # the rest lands in memory. Wait for the whole answer (and its usage report).
        await engine.wait_idle()
        if suggestion is not None:
            full = engine.memory.recall(doc.uri, text[:offset], text[offset:])
            if full is not None and full.text.startswith(suggestion.text):
                suggestion = dataclasses.replace(suggestion, text=full.text)
    except DeepSeekError as exc:
        failures.append(exc)
        suggestion = None
    finally:
        await service.aclose()  # writes the usage ledger's queued rows
    return suggestion


def _report(service: Service, suggestion: Suggestion | None, problems: list[str],
            failures: list[DeepSeekError]) -> int:
    """The suggestion on stdout, usage (or what went wrong and what to do) on stderr; the exit code."""
    if failures:
        for line_text in failure_report(failures[-1], service.settings.base_url):
            print(f"deepseek-ls: {line_text}", file=sys.stderr)
        return 1
    if problems:
        for message in problems:
            print(f"deepseek-ls: {message}", file=sys.stderr)
        return 1
    if suggestion is None:
        if service.usage.requests:
            print("deepseek-ls: DeepSeek answered, but with nothing worth inserting at this position "
                  f"(an empty or repeated text); try another position ({usage_line(service)})", file=sys.stderr)
            for line_text in ledger_trouble(service):
                print(f"deepseek-ls: {line_text}", file=sys.stderr)
        else:
            print("deepseek-ls: no suggestion: nothing was sent (a file over 4 M characters is not "
                  "completed)", file=sys.stderr)
        return 1
    sys.stdout.write(suggestion.text + ("" if suggestion.text.endswith("\n") else "\n"))
    print(f"deepseek-ls: {usage_line(service)}", file=sys.stderr)
    for line_text in ledger_trouble(service):
        print(f"deepseek-ls: {line_text}", file=sys.stderr)
    return 0


def usage_line(service: Service) -> str:
    """``1 request, 20 prompt tokens (0 from DeepSeek's cache), 28 output tokens, $0.00002; recorded
    in PATH`` (``; not recorded (see below)`` when the ledger failed: :func:`ledger_trouble` says why)."""
    u = service.usage
    ledger = service.ledger
    where = ""
    if ledger.path:
        where = "; not recorded (see below)" if ledger_trouble(service) else f"; recorded in {ledger.path}"
    return (f"{u.requests} request{'' if u.requests == 1 else 's'}, "
            f"{u.hit_tokens + u.miss_tokens} prompt tokens ({u.hit_tokens} from DeepSeek's cache), "
            f"{u.completion_tokens} output tokens, ${u.cost_usd:.5f}{where}")


def ledger_trouble(service: Service) -> list[str]:
    """Why the usage rows could not be written and what to do (as ``stats`` and ``doctor`` say it);
    empty when they were written."""
    ledger = service.ledger
    if not ledger.path or not (ledger.unwritten or ledger.problem):
        return []
    from ..ledger import ledger_problem

    problem = ledger_problem(ledger.path)
    why = problem[0] if problem else (ledger.problem or "the usage ledger could not be written")
    fix = (problem[1] if problem else
           f"Make the folder {ledger.path.parent} writable, or set DEEPSEEK_LS_DATA_DIR to another folder.")
    return [f"the usage row could not be written to the ledger: {why}.", f"→ {fix}"]


def failure_report(exc: Exception, base_url: str) -> list[str]:
    """What failed and what to do, for the one-shot commands (as ``doctor`` words it)."""
    from ..api.errors import APIConnectionError, AuthenticationError, DeepSeekError

    source = ("DEEPSEEK_BASE_URL" if os.environ.get("DEEPSEEK_BASE_URL", "").strip()
              else "the default; DEEPSEEK_BASE_URL changes it")
    if isinstance(exc, APIConnectionError):
        return [f"cannot reach {base_url} ({source}): {exc}",
                "→ Is the URL right, is the network up, is a proxy or firewall in the way? "
                "Try again in a minute if DeepSeek is down; `deepseek-ls doctor` checks each step."]
    if isinstance(exc, AuthenticationError):
        return [f"{exc}", "→ The API key was rejected. Set a valid key in DEEPSEEK_API_KEY "
                "(https://platform.deepseek.com/api_keys)."]
    hint = exc.hint if isinstance(exc, DeepSeekError) else ""
    return [f"{exc}"] + ([f"→ {hint}"] if hint else [])
