"""``deepseek-ls [serve]``: run the language server (stdio, or ``--tcp HOST:PORT`` for debugging)."""

from __future__ import annotations

import argparse
import sys

from .. import logs
from .common import fail, leave

TERMINAL_NOTE = ("deepseek-ls: this is a language server: it waits for an editor to talk LSP on stdin "
                 "(your editor starts it). Ctrl-C quits; `deepseek-ls --help` lists the commands to run "
                 "by hand (doctor, complete, stats).")


def add_options(parser: argparse.ArgumentParser) -> None:
    """``--stdio`` (accepted, the default) and ``--tcp HOST:PORT``."""
    parser.add_argument("--stdio", action="store_true", help="talk LSP over stdin/stdout (default)")
    parser.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP port instead (debugging)")


def serve(args: argparse.Namespace) -> int:
    """Run the server; the exit code (see :mod:`deepseek_ls.stdio`: 0 after
    shutdown + exit, 1 without shutdown, 130 on Ctrl-C, 143 on SIGTERM)."""
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        if not port.isdigit():
            return fail(f"--tcp expects HOST:PORT (PORT 0 picks a free one), got {args.tcp!r}")
    try:
        import gc
        import importlib

        # pygls and lsprotocol's types: ~50k objects that live as long as the process. Frozen,
        # no collection walks them again (one full collection less before the initialize answer)
        importlib.import_module("pygls.lsp.server")
        gc.freeze()
        from .. import stdio
        from ..server import create_server

        server = create_server()
    except KeyboardInterrupt:  # Ctrl-C while starting: nothing to clean up yet
        return 130
    logs.setup(server.service.settings.log_level)
    if not args.tcp:
        say_if_terminal()
    if args.tcp:
        code = stdio.serve_tcp(server, host.strip("[]") or "127.0.0.1", int(port))
    else:
        code = stdio.serve(server)
    leave(code)
    return code


def say_if_terminal() -> None:
    """Started by hand in a terminal: say once what it is waiting for (nothing when an editor starts it)."""
    try:
        if sys.stdin is not None and sys.stdin.isatty():
            print(TERMINAL_NOTE, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass
