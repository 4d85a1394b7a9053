"""Entry point of ``deepseek-ls``: the language server (the default) and the one-shot commands.

``deepseek-ls [serve]`` runs the language server (:mod:`deepseek_ls.cli.serve`);
``complete``, ``stats`` and ``doctor`` live in :mod:`deepseek_ls.cli`, one
module each; the parser and the ``--help`` text in :mod:`deepseek_ls.cli.parser`.
"""

from __future__ import annotations

import os
import sys

from . import logs
from .cli.common import leave
from .cli.parser import build_parser
from .cli.serve import serve


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and run the command; the exit code."""
    args = build_parser().parse_args(argv)
    if args.command in (None, "serve"):
        return serve(args)  # the server handles Ctrl-C itself (see stdio)
    try:
        if args.command != "complete":  # complete sets up its own logging
            logs.setup(os.environ.get("DEEPSEEK_LS_LOG", "warning"))
        code: int = args.func(args)
        return code
    except KeyboardInterrupt:  # Ctrl-C: one line and 130, as the server does; no traceback
        try:
            print(f"deepseek-ls {args.command}: interrupted", file=sys.stderr)
        except (OSError, ValueError):
            pass
        leave(130)
        return 130


if __name__ == "__main__":
    sys.exit(main())
