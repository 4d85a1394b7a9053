"""Minimal text edits, as code-point offsets (the handlers turn them into LSP ranges)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


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
    if old == replacement:
        return []
    old_lines = old.splitlines(keepends=True)
    new_lines = replacement.splitlines(keepends=True)
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
        a, b = old_at[i1], old_at[i2]
        chunk_old, chunk_new = old[a:b], replacement[new_at[j1]:new_at[j2]]
        head, tail = _trim(chunk_old, chunk_new)
        edits.append(Edit(start + a + head, start + b - tail, chunk_new[head:len(chunk_new) - tail]))
    return edits


def apply_edits(text: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits (any order) to ``text``."""
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        text = text[:edit.start] + edit.new_text + text[edit.end:]
    return text
