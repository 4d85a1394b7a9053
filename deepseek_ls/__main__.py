"""Command line of deepseek-ls: the language server and three one-shot commands.

``deepseek-ls [serve]`` runs the language server (stdio by default, ``--tcp
HOST:PORT`` for debugging); ``complete`` prints one completion; ``stats`` and
``doctor`` live in :mod:`deepseek_ls.cli_extra`. The ``--help`` text is
:data:`DESCRIPTION` and :data:`EPILOG` (plain text, no markup).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
from pathlib import Path

from . import __version__, logs


def _serve(args: argparse.Namespace) -> int:
    """Run the server; the exit code (see :mod:`deepseek_ls.stdio`: 0 after
    shutdown + exit, 1 without shutdown, 130 on Ctrl-C, 143 on SIGTERM)."""
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        if not port.isdigit():
            return _fail(f"--tcp expects HOST:PORT (PORT 0 picks a free one), got {args.tcp!r}")
    try:
        from . import stdio
        from .server import create_server

        server = create_server()
    except KeyboardInterrupt:  # Ctrl-C while starting: nothing to clean up yet
        return 130
    logs.setup(server.service.settings.log_level)
    if not args.tcp:
        _say_if_terminal()
    if args.tcp:
        code = stdio.serve_tcp(server, host.strip("[]") or "127.0.0.1", int(port))
    else:
        code = stdio.serve(server)
    _leave(code)
    return code


TERMINAL_NOTE = ("deepseek-ls: this is a language server: it waits for an editor to talk LSP on stdin "
                 "(your editor starts it). Ctrl-C quits; `deepseek-ls --help` lists the commands to run "
                 "by hand (doctor, complete, stats).")


def _say_if_terminal() -> None:
    """Started by hand in a terminal: say once what it is waiting for (nothing when an editor starts it)."""
    try:
        if sys.stdin is not None and sys.stdin.isatty():
            print(TERMINAL_NOTE, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _leave(code: int) -> None:
    """End now if a worker thread would hold the process (one blocked
    reading a terminal never returns): everything that must be written
    (the usage ledger, logs, stdout) is written by then."""
    import logging
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


LANGUAGES = {".py": "python", ".js": "javascript", ".ts": "typescript", ".tsx": "typescriptreact",
             ".jsx": "javascriptreact", ".go": "go", ".rs": "rust", ".c": "c", ".h": "c",
             ".cpp": "cpp", ".hpp": "cpp", ".java": "java", ".rb": "ruby", ".lua": "lua",
             ".sh": "shellscript", ".md": "markdown", ".json": "json", ".toml": "toml",
             ".yaml": "yaml", ".yml": "yaml", ".cs": "csharp", ".php": "php", ".kt": "kotlin",
             ".swift": "swift", ".sql": "sql", ".html": "html", ".css": "css"}


def _fail(message: str) -> int:
    print(f"deepseek-ls: {message}", file=sys.stderr)
    return 2


async def _complete(spec: str) -> int:
    from .api.errors import DeepSeekError
    from .completion.engine import CompletionRequest
    from .prompt.fim import DocumentSnapshot
    from .service import Service

    path_text, sep1, rest = spec.rpartition(":")
    file_text, sep2, line_text = path_text.rpartition(":")
    if not (sep1 and sep2) or not line_text.isdigit() or not rest.isdigit():
        return _fail(f"expected FILE:LINE:COL (1-based), got {spec!r}")
    path = Path(file_text)
    if path.is_dir():
        return _fail(f"{file_text} is a directory, not a file")
    if not path.is_file():
        return _fail(f"no such file: {file_text}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return _fail(f"cannot read {file_text}: {exc}")
    lines = text.split("\n")
    line, col = int(line_text), int(rest)
    if not 1 <= line <= len(lines):
        return _fail(f"line {line} is outside {file_text} (1..{len(lines)})")
    if not 1 <= col <= len(lines[line - 1].rstrip("\r")) + 1:
        return _fail(f"column {col} is outside line {line} (1..{len(lines[line - 1].rstrip(chr(13))) + 1})")
    offset = sum(len(l) + 1 for l in lines[: line - 1]) + col - 1

    service = Service()
    problems: list[str] = []
    service.on_problem = lambda kind, message: problems.append(message)
    for problem in service.startup_problems:
        if not problem.blocking:
            print(f"deepseek-ls: warning: {problem}", file=sys.stderr)
    if service.blocked is not None:  # a key or endpoint that must not be used (never replaced by a default)
        await service.aclose()
        return _fail(f"{service.blocked}")
    if service.client is None:
        await service.aclose()
        return _fail("no API key: set the environment variable DEEPSEEK_API_KEY "
                     "(create a key at https://platform.deepseek.com/api_keys)")
    why = service.policy.check(path.resolve().as_uri())  # i14: secret files are never sent
    if why is not None:
        await service.aclose()
        return _fail(why.message(file_text))
    engine = service.engine
    failures: list[DeepSeekError] = []
    engine.on_failure = failures.append  # the engine swallows request errors; the CLI must name them
    doc = DocumentSnapshot(uri=path.resolve().as_uri(), path=path.name,
                           language_id=LANGUAGES.get(path.suffix, "plaintext"), text=text)
    try:
        suggestion = await engine.complete(CompletionRequest(doc=doc, offset=offset, manual=True))
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
    if failures:
        for line in failure_report(failures[-1], service.settings.base_url):
            print(f"deepseek-ls: {line}", file=sys.stderr)
        return 1
    if problems:
        for message in problems:
            print(f"deepseek-ls: {message}", file=sys.stderr)
        return 1
    if suggestion is None:
        if service.usage.requests:
            print("deepseek-ls: DeepSeek answered, but with nothing worth inserting at this position "
                  f"(an empty or repeated text); try another position ({usage_line(service)})", file=sys.stderr)
            for line in ledger_trouble(service):
                print(f"deepseek-ls: {line}", file=sys.stderr)
        else:
            print("deepseek-ls: no suggestion: nothing was sent (a file over 4 M characters is not "
                  "completed)", file=sys.stderr)
        return 1
    sys.stdout.write(suggestion.text + ("" if suggestion.text.endswith("\n") else "\n"))
    print(f"deepseek-ls: {usage_line(service)}", file=sys.stderr)
    for line in ledger_trouble(service):
        print(f"deepseek-ls: {line}", file=sys.stderr)
    return 0


def usage_line(service) -> str:
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


def ledger_trouble(service) -> list[str]:
    """Why the usage rows could not be written and what to do (as ``stats`` and ``doctor`` say it);
    empty when they were written."""
    ledger = service.ledger
    if not ledger.path or not (ledger.unwritten or ledger.problem):
        return []
    from .cli_extra import ledger_problem

    problem = ledger_problem(ledger.path)
    why = problem[0] if problem else (ledger.problem or "the usage ledger could not be written")
    fix = (problem[1] if problem else
           f"Make the folder {ledger.path.parent} writable, or set DEEPSEEK_LS_DATA_DIR to another folder.")
    return [f"the usage row could not be written to the ledger: {why}.", f"→ {fix}"]


def failure_report(exc: Exception, base_url: str) -> list[str]:
    """What failed and what to do, for the one-shot commands (as ``doctor`` words it)."""
    from .api.errors import APIConnectionError, AuthenticationError, DeepSeekError

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


DESCRIPTION = """\
AI code completion from DeepSeek for any editor that speaks LSP.

Without a command (or with "serve") deepseek-ls is the language server,
talking LSP on stdin/stdout: your editor starts it, you do not. The other
commands run once from a shell and exit."""

EPILOG = """\
commands:
  serve      run the language server (the default). --stdio is accepted and
             ignored (it is the default; VS Code passes it); --tcp HOST:PORT
             listens on a TCP port instead, for debugging.
  complete   FILE:LINE:COL (1-based line and column, column in characters):
             print the suggestion for that spot, all its lines, to stdout and
             the request's tokens and cost to stderr. Exit 0 with a
             suggestion; 1 when there is none or the request failed (what
             failed and what to do on stderr); 2 on a usage error (no key, no
             such file, line or column outside the file).
  stats      usage and cost from the ledger: today and the last N days
             (--days N, default 7, today included), then per day, per model
             and per kind of request (fim = ghost text, chat, action = code
             actions): requests, prompt tokens from DeepSeek's cache (hit) and
             not (miss), output tokens, cache-hit share and cost in USD at the
             bundled, dated price table (peak-hour rates where they applied).
             --json prints the same for scripts. Reads only; exit 1 when the
             ledger cannot be read.
  doctor     check the API key, endpoint, models, balance, one tiny paid
             round trip (skip it with --no-fim) and the ledger, each problem
             with what to do. Exit 0 when all is well, 1 otherwise.
  Run "deepseek-ls COMMAND --help" for a command's options.

environment:
  DEEPSEEK_API_KEY            your API key (https://platform.deepseek.com/api_keys);
                              editors can pass it as the setting deepseek.apiKey
  DEEPSEEK_BASE_URL           API endpoint (default https://api.deepseek.com);
                              plain http:// only for localhost
  DEEPSEEK_LS_DATA_DIR        folder of the usage ledger (default: the user data
                              folder, e.g. ~/.local/share/deepseek-ls)
  DEEPSEEK_LS_LOG             log level (debug, info, warning, error): of complete,
                              stats and doctor (default warning), and the server's
                              default, which the deepseek.logLevel setting overrides
  DEEPSEEK_LS_HTTPX=1         send ghost-text requests through httpx (for proxies
                              and TLS middleboxes the lean HTTP path cannot see)
  DEEPSEEK_LS_TRACE=PATH      write JSON-lines timing records (benchmark)
  DEEPSEEK_LS_THREADED_STDIN=1  read stdin in a worker thread (pygls' reader) instead
                              of the event loop (a fallback if the editor's pipe
                              misbehaves; files and terminals always use the thread)
  HTTPS_PROXY, ALL_PROXY      proxies, honoured by every request

examples:
  deepseek-ls doctor
  deepseek-ls complete src/app.py:12:5
  deepseek-ls stats --days 30"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepseek-ls", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"deepseek-ls {__version__}")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the language server (default)")
    for p in (parser, serve):
        p.add_argument("--stdio", action="store_true", help="talk LSP over stdin/stdout (default)")
        p.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP port instead (debugging)")
    complete = sub.add_parser(
        "complete", help="print the completion at FILE:LINE:COL",
        description="Print DeepSeek's suggestion at FILE:LINE:COL (1-based line and column, the column "
                    "in characters): the whole suggestion on stdout, its tokens and cost on stderr, and "
                    "the request in the usage ledger. Needs DEEPSEEK_API_KEY. Exit 0 with a suggestion, "
                    "1 when there is none or the request failed (what to do on stderr), 2 on a usage error.")
    complete.add_argument("spec", metavar="FILE:LINE:COL", help="e.g. src/app.py:12:5")
    for name, register in _extra_commands():
        register(sub.add_parser(name, help=register.__doc__.splitlines()[0]))
    return parser


def _extra_commands():
    """Subcommands provided by optional modules (stats, doctor)."""
    found = []
    try:
        from . import cli_extra
    except ImportError:
        return found
    return cli_extra.COMMANDS


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "serve"):
        return _serve(args)  # the server handles Ctrl-C itself (see stdio)
    try:
        return _command(args)
    except KeyboardInterrupt:  # Ctrl-C: one line and 130, as the server does; no traceback
        try:
            print(f"deepseek-ls {args.command}: interrupted", file=sys.stderr)
        except (OSError, ValueError):
            pass
        _leave(130)
        return 130


def _command(args: argparse.Namespace) -> int:
    """Run a one-shot command (complete, doctor, stats, ...)."""
    if args.command == "complete":
        logs.setup(os.environ.get("DEEPSEEK_LS_LOG", "warning"))
        if not os.environ.get("DEEPSEEK_LS_LOG"):
            # request failures are reported once, with what to do, by _complete itself
            logging.getLogger("deepseek_ls.completion").setLevel(logging.ERROR)
            # so are ledger failures (under the usage line, with how to fix them)
            logging.getLogger("deepseek_ls.ledger").setLevel(logging.ERROR)
        return asyncio.run(_complete(args.spec))
    logs.setup(os.environ.get("DEEPSEEK_LS_LOG", "warning"))
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
