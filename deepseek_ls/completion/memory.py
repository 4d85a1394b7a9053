"""Suggestions kept in memory: typed-ahead reuse and a result cache.

``SuggestionMemory`` remembers the suggestions recently shown per document
with the exact text around the cursor when they were made. When the user
types the first characters of one, the rest is answered from memory with no
request, also when the editor meanwhile inserted closers after the cursor
(auto-pairs: typing ``(`` gives ``()``) or typed over one it had inserted.
``ResultCache`` maps a FIM request key to its cleaned answer, so returning
to an earlier state (undo, a typo corrected) costs nothing.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from cachetools import TTLCache

from .postprocess import AUTO_CLOSERS, cut_before_split_closer, replaced_chars

#: The result cache: answers kept at most, and for how long (s).
RESULT_CACHE_SIZE = 512
RESULT_CACHE_TTL_S = 600
#: characters before the cursor the split-closer scan looks at (brackets left open)
_CONTEXT_CHARS = 3000


@dataclass(frozen=True)
class Remembered:
    """A suggestion shown for the cursor between ``prefix`` and ``suffix``.

    ``replace``: characters of ``suffix`` the text replaces (None: computed
    by :func:`replaced_chars` when remembered). Accepting it makes the
    document ``prefix + text + suffix[replace:]``, the target later states
    are checked against.
    """

    id: str
    prefix: str
    suffix: str
    text: str
    replace: int | None = None
    #: the document's LSP language id (comments and literals of the closer scan)
    language: str = ""


@dataclass(frozen=True)
class Recall:
    """A hit: ``text`` is what is left to show, ``replace`` how many characters
    after the cursor the rest replaces."""

    id: str
    text: str
    replace: int = 0


def _line_start(prefix: str) -> str:
    return prefix[prefix.rfind("\n") + 1:]


def _line_end(suffix: str) -> str:
    eol = suffix.find("\n")
    return suffix if eol < 0 else suffix[:eol]


def _covers(closers: str, text: str, allowed: str) -> bool:
    """``closers`` (spaces aside) are characters in ``allowed`` that ``text`` writes in order."""
    at = 0
    for ch in closers:
        if ch in " \t":
            continue
        if ch not in allowed:
            return False
        at = text.find(ch, at) + 1
        if not at:
            return False
    return True


def follow(entry: Remembered, prefix: str, suffix: str) -> Recall | None:
    """What is left of ``entry`` for the cursor between ``prefix`` and ``suffix``, or None.

    The text before the cursor is the remembered one plus the start of the
    suggestion; the text after it is the part the suggestion does not
    replace, preceded only by closers the rest of the suggestion writes
    (the editor's auto-pairs, or closers it replaces that are still
    there). The rest replaces those. After Enter between brackets the
    editor has put the closer on a line of its own (``{|}`` becomes
    ``{\\n<indent>|\\n<indent>}``): when the rest holds that same closer line
    (same indentation), the rest is served up to it; when the rest closes
    that bracket itself (``b)`` on its last line) it is served up to its
    own closer, and the closer line stays. The editor's new
    line counts as typed: its indentation must be the suggestion's next
    line's or a start of it (then the rest adds the missing indentation);
    a deeper or different one asks anew.
    """
    if len(prefix) < len(entry.prefix) or not prefix.startswith(entry.prefix):
        return None
    typed = prefix[len(entry.prefix):]
    if len(typed) > len(entry.text) or not entry.text.startswith(typed):
        return None
    rest = entry.text[len(typed):]
    replace = entry.replace
    if replace is None:
        replace = replaced_chars(entry.text, _line_start(entry.prefix), _line_end(entry.suffix),
                                 entry.language)
    if suffix == entry.suffix:  # the common case, without copying the suffix
        extra = suffix[:replace]
        if not typed or not extra:
            return Recall(entry.id, rest, replace)
    else:
        kept = len(entry.suffix) - replace  # the tail the suggestion leaves alone
        if len(suffix) < kept or not suffix.endswith(entry.suffix[replace:]):
            return None
        extra = suffix[: len(suffix) - kept]
    if "\n" in extra:
        # Enter between brackets: the editor moved the closer to a line of its
        # own, as the suggestion does further on; the rest stops before it (an
        # item's range stays on one line) and what follows the closer is
        # served once the cursor is past it
        if extra.lstrip()[:1] not in tuple(AUTO_CLOSERS):
            return None
        at = rest.find(extra)
        if at > 0:
            return Recall(entry.id, rest[:at], 0)
        # the rest closes that bracket at the end of a line of its own (``b)``
        # rather than ``b,\n)``): served up to its closer, the editor's closer
        # line stays (a closer alone on its line must match the editor's, above)
        cut = cut_before_split_closer(rest, prefix[-_CONTEXT_CHARS:], suffix, entry.language)
        inline = rest[len(cut):].lstrip(" \t")[:1] in tuple(AUTO_CLOSERS)
        return Recall(entry.id, cut, 0) if cut != rest and cut.strip() and inline else None
    if extra:
        # the closers on the cursor line must be written by the rest's own first
        # line; only a rest that starts a block (an empty first line) may write
        # them further down (``(`` typed into ``(\n    a,\n)``)
        first, _, _ = rest.partition("\n")
        scope = rest if not first.strip() else first
        if not _covers(extra, scope, AUTO_CLOSERS + entry.suffix[:replace]):
            return None
    return Recall(entry.id, rest, len(extra))


class SuggestionMemory:
    """The last ``per_document`` suggestions of the ``documents`` most recently used documents."""

    def __init__(self, per_document: int = 6, documents: int = 64) -> None:
        self._docs: OrderedDict[str, list[Remembered]] = OrderedDict()
        self._per_document = per_document
        self._documents = documents

    def remember(self, uri: str, entry: Remembered) -> None:
        if entry.replace is None:
            count = replaced_chars(entry.text, _line_start(entry.prefix), _line_end(entry.suffix),
                                   entry.language)
            entry = Remembered(entry.id, entry.prefix, entry.suffix, entry.text, count, entry.language)
        entries = self._docs.pop(uri, [])
        entries = [e for e in entries if e.prefix != entry.prefix][: self._per_document - 1]
        entries.insert(0, entry)
        self._docs[uri] = entries
        while len(self._docs) > self._documents:
            self._docs.popitem(last=False)

    def recall(self, uri: str, prefix: str, suffix: str) -> Recall | None:
        """The rest of a remembered suggestion that the document still agrees with (see :func:`follow`)."""
        for entry in self._docs.get(uri, ()):
            hit = follow(entry, prefix, suffix)
            if hit is not None:
                return hit
        return None

    def forget(self, uri: str) -> None:
        self._docs.pop(uri, None)

    def clear(self) -> None:
        self._docs.clear()


def request_key(*parts: object) -> str:
    """A compact key for a FIM request."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(repr(part).encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


class ResultCache:
    """Cleaned answers ("" for none) by request key, for ``ttl_s`` seconds."""

    def __init__(self, size: int = RESULT_CACHE_SIZE, ttl_s: float = RESULT_CACHE_TTL_S) -> None:
        self._cache: TTLCache[str, str] = TTLCache(maxsize=size, ttl=ttl_s)

    def get(self, key: str) -> str | None:
        return self._cache.get(key)

    def put(self, key: str, text: str) -> None:
        self._cache[key] = text

    def clear(self) -> None:
        self._cache.clear()
