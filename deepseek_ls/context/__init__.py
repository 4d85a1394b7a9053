"""Cross-file context for the FIM prompt (issue 12): see :mod:`.engine`.

Plain Python (tree-sitter for parsing), no LSP types: the server feeds it
documents and cursors and passes the rendered :class:`Block` into the
completion request.
"""

from .engine import Block, ContextConfig, ContextEngine
from .parse import language_of, parse, rough_tokens

__all__ = ["Block", "ContextConfig", "ContextEngine", "language_of", "parse", "rough_tokens"]
