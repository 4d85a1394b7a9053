"""Turning a raw model answer into the suggestion for one cursor."""

from __future__ import annotations

from ..policy import has_placeholder
from ..prompt.fim import FimPrompt
from .postprocess import postprocess, scaffolding_of

#: characters before the cursor post-processing looks at (brackets left open)
CONTEXT_BEFORE_CHARS = 3000
#: characters after the cursor post-processing looks at (lines the answer repeats)
FOLLOWING_CHARS = 2000


class AnswerCleaner:
    """Cleans raw answers for the cursor between ``prefix`` and ``suffix`` (``fim``'s request).

    ``max_lines``: at most this many lines of a multi-line answer are kept.
    """

    def __init__(self, fim: FimPrompt, prefix: str, suffix: str, language_id: str, max_lines: int) -> None:
        self.fim = fim
        self.language_id = language_id
        self.max_lines = max_lines
        self.following = suffix[:FOLLOWING_CHARS]
        self.context_before = prefix[max(0, len(prefix) - CONTEXT_BEFORE_CHARS):]
        self.previous_line = prefix[: len(prefix) - len(fim.line_prefix)].rstrip("\n").rsplit("\n", 1)[-1]
        #: the prompt's header, file and context marker lines: never shown
        self.scaffolding = scaffolding_of(fim.prompt[:fim.head_len])

    def clean(self, raw: str) -> str:
        """The text worth showing of ``raw`` ("" for nothing)."""
        fim = self.fim
        text = postprocess(raw, multiline=fim.multiline, line_prefix=fim.line_prefix,
                           line_suffix=fim.line_suffix, following=self.following,
                           context_before=self.context_before, max_lines=self.max_lines,
                           previous_line=self.previous_line, language_id=self.language_id,
                           scaffolding=self.scaffolding)
        return "" if has_placeholder(text) else text  # secret masking: never suggest a masked token back
