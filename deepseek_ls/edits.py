"""Minimal text edits, as code-point offsets (the handlers turn them into LSP ranges).

Line endings: the document text here is a snapshot's ``\\n``-only text, and a
model's answer is brought to ``\\n`` too, so a line break never differs
between the two; the handler writes each edit's new text with the
document's own line break (:func:`deepseek_ls.documents.to_eol`). A minimal
edit therefore never rewrites an unchanged line's line break.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from .documents import normalize_eol, split_lines


@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` with ``new_text`` (offsets in code points of the original)."""

    start: int
    end: int
    new_text: str


def _trim(old: str, new: str) -> tuple[int, int]:
    """Lengths of the common prefix and (non-overlapping) common suffix of two strings."""
    head = 0
    limit = min(len(old), len(new))
    while head < limit and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < limit - head and old[len(old) - 1 - tail] == new[len(new) - 1 - tail]:
        tail += 1
    return head, tail


def minimal_edits(text: str, start: int, end: int, replacement: str) -> list[Edit]:
    """Edits that turn ``text[start:end]`` into ``replacement``, touching as little as possible.

    Lines are compared first (so unchanged lines in between stay untouched),
    then each changed block is trimmed to the characters that differ. The
    result is sorted and non-overlapping; empty when nothing changes.
    """
    old = text[start:end]
    if "\r" not in old:  # an LF text (a snapshot's): the answer's CRLF must not differ from it
        replacement = normalize_eol(replacement)
    if old == replacement:
        return []
    old_lines = _lines(old)
    new_lines = _lines(replacement)
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    old_at = [0]
    for line in old_lines:
        old_at.append(old_at[-1] + len(line))
    new_at = [0]
    for line in new_lines:
        new_at.append(new_at[-1] + len(line))
    edits: list[Edit] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if i2 - i1 == j2 - j1:  # as many lines: line by line, so the breaks in between stay
            spans = [(i, i + 1, j1 + i - i1, j1 + i - i1 + 1) for i in range(i1, i2)]
        else:
            spans = [(i1, i2, j1, j2)]
        for i, i_end, j, j_end in spans:
            a, b = old_at[i], old_at[i_end]
            chunk_old, chunk_new = old[a:b], replacement[new_at[j]:new_at[j_end]]
            if chunk_old == chunk_new:
                continue
            head, tail = _trim(chunk_old, chunk_new)
            edits.append(Edit(start + a + head, start + b - tail, chunk_new[head:len(chunk_new) - tail]))
    return edits


def _lines(text: str) -> list[str]:
    """``text`` cut after each line break (``\\n``, ``\\r\\n``, ``\\r`` only, as LSP counts them)."""
    contents, breaks = split_lines(text)
    lines = [c + b for c, b in zip(contents, breaks, strict=True)]
    return lines if lines[-1] else lines[:-1]


def apply_edits(text: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits (any order) to ``text``."""
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        text = text[:edit.start] + edit.new_text + text[edit.end:]
    return text
