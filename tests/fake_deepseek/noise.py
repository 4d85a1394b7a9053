"""Model-noise modes: oracle answers shaped the way real FIM models answer (issue 9).

The oracle (oracle.py) gives the *true* fill-in-the-middle answer.  Real models often give other
shapes of the same right code, which an editor must still end up with correct text from:

``past_closers``
    runs on past the closers the editor already put after the cursor: on ``def area(|)`` the
    answer ``width: float, height: float) -> float:`` instead of ``width: float, height: float``.
``trailing_closers``
    the true answer plus the closers already after the cursor: ``format_greeting(user.name))``
    on ``print(|)``.
``repeat_next``
    (multi-line requests) after the answer, the text that follows the cursor again, up to its
    1st, 2nd or 3rd line break (the model re-types the code below).
``indent_first``
    the first line fully indented although the cursor already sits after that indentation.
``lf_in_crlf``
    ``\\n`` line breaks in the answer although the prompt uses ``\\r\\n``.

A *mix* gives each mode a probability; per request the modes are drawn independently (in the
order above; ``past_closers`` and ``trailing_closers`` exclude each other) from a
``random.Random`` seeded by (seed, the prompt's last 256 characters, the suffix's first 64):
deterministic by seed, and the same request gets the same answer.  A mode whose condition does not
hold (no closers after the cursor, single-line request, cursor not after indentation, LF prompt)
leaves the answer as it is.

Use: ``python -m tests.fake_deepseek --noise real`` (or ``--noise past_closers=0.5,repeat_next=0.2``,
or the environment variable ``FAKE_DEEPSEEK_NOISE``); in code
``fake.fim_handler = NoisyOracle(fake.oracle, parse_mix("real"), seed)``.
"""
from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

from .closers import CLOSE, QUOTES
from .oracle import Oracle, _stable_int

MODES = ("past_closers", "trailing_closers", "repeat_next", "indent_first", "lf_in_crlf")
PRESETS = {
    "off": {},
    "real": {"past_closers": 0.4, "trailing_closers": 0.2, "repeat_next": 0.3, "indent_first": 0.3,
             "lf_in_crlf": 0.5},
    "all": {m: 1.0 for m in MODES if m != "trailing_closers"},
}


def parse_mix(spec: str | None) -> dict[str, float]:
    """``"real"`` / ``"off"`` / ``"all"`` or ``"mode=p,mode=p"`` (p in [0, 1]).  ValueError on bad input."""
    spec = (spec or "off").strip()
    if spec in PRESETS:
        return dict(PRESETS[spec])
    mix: dict[str, float] = {}
    for part in spec.split(","):
        name, sep, p = part.strip().partition("=")
        if name not in MODES or not sep:
            raise ValueError(f"noise: expected preset {sorted(PRESETS)} or mode=p with mode in {MODES}, got {part!r}")
        v = float(p)
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"noise: probability of {name} must be in [0, 1], got {v}")
        mix[name] = v
    return mix


def _lines_through(s: str, k: int) -> str:
    """``s`` up to and including its k-th ``\\n`` (all of it if fewer)."""
    i = -1
    for _ in range(k):
        i = s.find("\n", i + 1)
        if i < 0:
            return s
    return s[: i + 1]


def shape(mode: str, true: str, prompt: str, suffix: str, single_line: bool, info: dict,
          rng: random.Random) -> str | None:
    """The answer ``true`` (LF line breaks) reshaped by ``mode``; None when the mode does not apply."""
    if mode in ("past_closers", "trailing_closers") and info.get("wrong"):
        return None
    if mode == "past_closers":
        if info.get("middle_cut"):
            return info["full"]
        return None
    if mode == "trailing_closers":
        if info.get("middle_cut"):
            rest = info["full"][len(true):]
            run = ""
            for c in rest:
                if c in CLOSE or c in QUOTES:
                    run += c
                else:
                    break
            return true + run if run else None
        return None
    if mode == "repeat_next":
        if single_line or not suffix.strip():
            return None
        return true + _lines_through(suffix.replace("\r\n", "\n"), rng.randint(1, 3))
    if mode == "indent_first":
        last = prompt.replace("\r\n", "\n").rsplit("\n", 1)[-1]
        if last and not last.strip(" \t") and true and not true[:1].isspace():
            return last + true
        return None
    return None


class NoisyOracle:
    """A ``fim_handler`` for the fake: the oracle's answer, reshaped per request by the mix.

    ``counts`` tallies the modes applied (thread-safe); ``last`` is the list of modes of the
    latest request (for tests)."""

    def __init__(self, oracle: Oracle, mix: dict[str, float], seed: int = 0) -> None:
        self.oracle = oracle
        self.mix = dict(mix)
        self.seed = seed
        self.counts: Counter = Counter()
        self.last: list[str] = []
        self._lock = threading.Lock()

    def draw(self, prompt: str, suffix: str) -> list[str]:
        rng = random.Random(_stable_int("noise", self.seed, prompt[-256:], suffix[:64]))
        modes = []
        for m in MODES:
            p = self.mix.get(m, 0.0)
            if rng.random() < p and not (m == "trailing_closers" and "past_closers" in modes):
                modes.append(m)
        return modes

    def answer(self, prompt: str, suffix: str | None, stop: list[str]) -> tuple[str, list[str]]:
        suffix = suffix or ""
        single_line = "\n" in stop or "\r\n" in stop
        text, info = self.oracle.answer(prompt, suffix, stop)
        if not info.get("matched"):
            return text, []
        true = text.replace("\r\n", "\n")
        modes = self.draw(prompt, suffix)
        rng = random.Random(_stable_int("noise-shape", self.seed, prompt[-256:], suffix[:64]))
        applied = []
        out = true
        for m in modes:
            if m == "lf_in_crlf":
                continue
            new = shape(m, out, prompt, suffix, single_line, info, rng)
            if new is not None:
                out = new
                applied.append(m)
        crlf = info.get("crlf", False)
        if crlf and "lf_in_crlf" in modes:
            applied.append("lf_in_crlf")
        elif crlf:
            out = out.replace("\n", "\r\n")
        with self._lock:
            self.counts.update(applied or ["none"])
            self.last = applied
        return out, applied

    def __call__(self, body: dict[str, Any]) -> str:
        stop = body.get("stop") or []
        if isinstance(stop, str):
            stop = [stop]
        return self.answer(body.get("prompt", ""), body.get("suffix"), list(stop))[0]
