"""Command line: ``deepseek-ls [serve]`` runs the language server (stdio by
default, ``--tcp HOST:PORT`` for debugging); ``deepseek-ls complete
FILE:LINE:COL`` prints one completion (1-based line and column, column in
characters)."""

from __future__ import annotations

import argparse
import asyncio
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
    if args.tcp:
        code = stdio.serve_tcp(server, host.strip("[]") or "127.0.0.1", int(port))
    else:
        code = stdio.serve(server)
    _leave(code)
    return code


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
        print(f"deepseek-ls: warning: {problem}", file=sys.stderr)
    if service.client is None:
        return _fail("no API key: set DEEPSEEK_API_KEY (or deepseek.apiKey in your editor)")
    doc = DocumentSnapshot(uri=path.resolve().as_uri(), path=path.name,
                           language_id=LANGUAGES.get(path.suffix, "plaintext"), text=text)
    try:
        suggestion = await service.engine.complete(CompletionRequest(doc=doc, offset=offset, manual=True))
    except DeepSeekError as exc:
        return _fail(str(exc))
    finally:
        await service.aclose()
    if problems:
        for message in problems:
            print(f"deepseek-ls: {message}", file=sys.stderr)
        return 1
    if suggestion is None:
        print("deepseek-ls: no suggestion at this position", file=sys.stderr)
        return 1
    sys.stdout.write(suggestion.text + ("" if suggestion.text.endswith("\n") else "\n"))
    print(f"deepseek-ls: {service.usage.log_line()}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepseek-ls", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"deepseek-ls {__version__}")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the language server (default)")
    for p in (parser, serve):
        p.add_argument("--stdio", action="store_true", help="talk LSP over stdin/stdout (default)")
        p.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP port instead (debugging)")
    complete = sub.add_parser("complete", help="print the completion at FILE:LINE:COL")
    complete.add_argument("spec", metavar="FILE:LINE:COL")
    for name, register in _extra_commands():
        register(sub.add_parser(name, help=register.__doc__))
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
    if args.command == "complete":
        logs.setup(os.environ.get("DEEPSEEK_LS_LOG", "warning"))
        return asyncio.run(_complete(args.spec))
    if args.command in (None, "serve"):
        return _serve(args)
    logs.setup(os.environ.get("DEEPSEEK_LS_LOG", "warning"))
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
