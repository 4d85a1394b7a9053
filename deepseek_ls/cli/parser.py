"""The ``argparse`` parser of ``deepseek-ls``: the ``--help`` text (:data:`DESCRIPTION`,
:data:`EPILOG`, plain text, no markup) and one subparser per command."""

from __future__ import annotations

import argparse

from .. import __version__
from . import complete, doctor, serve, stats

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
  DEEPSEEK_LS_HTTPX=1         send every request through httpx's own transport
                              instead of H11Transport (for proxies and TLS
                              middleboxes it cannot see)
  DEEPSEEK_LS_TRACE=PATH      write JSON-lines timing records (benchmark)
  DEEPSEEK_LS_THREADED_STDIN=1  read stdin in a worker thread (pygls' reader) instead
                              of the event loop (a fallback if the editor's pipe
                              misbehaves; files and terminals always use the thread)
  HTTPS_PROXY, ALL_PROXY      proxies, honoured by every request

examples:
  deepseek-ls doctor
  deepseek-ls complete src/app.py:12:5
  deepseek-ls stats --days 30"""

#: The one-shot commands, in the order ``--help`` lists them: name and ``register(parser)``
#: (whose docstring's first line is the command's one-line help).
COMMANDS = (("complete", complete.register), ("stats", stats.register), ("doctor", doctor.register))


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``deepseek-ls``: ``args.command`` is None or ``"serve"`` for the server,
    else ``args.func(args)`` runs the command."""
    parser = argparse.ArgumentParser(prog="deepseek-ls", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"deepseek-ls {__version__}")
    sub = parser.add_subparsers(dest="command")
    server = sub.add_parser("serve", help="run the language server (default)")
    for p in (parser, server):
        serve.add_options(p)
    for name, register in COMMANDS:
        register(sub.add_parser(name, help=(register.__doc__ or "").splitlines()[0]))
    return parser
