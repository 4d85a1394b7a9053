"""The command line of deepseek-ls, one module per command.

``parser`` builds the ``argparse`` parser (the ``--help`` text); ``serve``
runs the language server (the default command); ``complete``, ``stats`` and
``doctor`` are the one-shot commands, each with its ``register(parser)``
(options and help) and the function the parsed arguments are run with.
``common`` holds what they share (the error line, leaving the process).
The entry point is :func:`deepseek_ls.__main__.main`.
"""
