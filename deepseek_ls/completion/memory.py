"""Suggestions kept in memory: typed-ahead reuse and a result cache.

``SuggestionMemory`` remembers the suggestions recently shown per document
with the exact text around the cursor when they were made. When the user
types the first characters of one, the rest is answered from memory with no
request. ``ResultCache`` maps a FIM request key to its cleaned answer, so
returning to an earlier state (undo, a typo corrected) costs nothing.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from cachetools import TTLCache

from .. import constants as C


@dataclass(frozen=True)
class Remembered:
    id: str
    prefix: str
    suffix: str
    text: str


@dataclass(frozen=True)
class Recall:
    """A hit: ``text`` is what is left to show, ``typed`` what the user typed of it."""

    id: str
    text: str
    typed: str


class SuggestionMemory:
    def __init__(self, per_document: int = 6, documents: int = 64) -> None:
        self._docs: OrderedDict[str, list[Remembered]] = OrderedDict()
        self._per_document = per_document
        self._documents = documents

    def remember(self, uri: str, entry: Remembered) -> None:
        entries = self._docs.pop(uri, [])
        entries = [e for e in entries if e.prefix != entry.prefix][: self._per_document - 1]
        entries.insert(0, entry)
        self._docs[uri] = entries
        while len(self._docs) > self._documents:
            self._docs.popitem(last=False)

    def recall(self, uri: str, prefix: str, suffix: str) -> Recall | None:
        """The rest of a remembered suggestion that the text typed so far agrees with."""
        for entry in self._docs.get(uri, ()):
            if len(prefix) < len(entry.prefix) or suffix != entry.suffix:
                continue
            if not prefix.startswith(entry.prefix):
                continue
            typed = prefix[len(entry.prefix):]
            if len(typed) <= len(entry.text) and entry.text.startswith(typed):
                return Recall(entry.id, entry.text[len(typed):], typed)
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
    def __init__(self, size: int = C.RESULT_CACHE_SIZE, ttl_s: float = C.RESULT_CACHE_TTL_S) -> None:
        self._cache: TTLCache[str, str] = TTLCache(maxsize=size, ttl=ttl_s)

    def get(self, key: str) -> str | None:
        return self._cache.get(key)

    def put(self, key: str, text: str) -> None:
        self._cache[key] = text

    def clear(self) -> None:
        self._cache.clear()
