"""Deterministic "models": the default FIM/chat responders and the benchmark oracle (tests/bench/README.md)."""
from __future__ import annotations

import hashlib
import json
import random
import re
import threading
from dataclasses import dataclass
from typing import Any

from .closers import closing_positions, leading_pending

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _stable_int(*parts: Any) -> int:
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(h[:8], "big")


def default_fim_text(prompt: str, suffix: str | None) -> str:
    """Plausible, deterministic code continuing ``prompt`` (about 60 tokens)."""
    last_line = prompt.rsplit("\n", 1)[-1]
    idents = _IDENT.findall(prompt[-400:])
    name = idents[-1] if idents else "value"
    if last_line.strip():
        # mid-line: finish the line, then a few more lines
        head = f"_{_stable_int(prompt[-64:]) % 97}\n"
        indent = re.match(r"\s*", last_line).group(0)
    else:
        head = ""
        indent = last_line
    lines = [f"{indent}{name}_{i} = {name}_{i - 1} + {i}\n" if i else f"{indent}{name}_0 = {name}\n"
             for i in range(6)]
    if not head and indent:
        lines[0] = lines[0][len(indent):]  # the cursor already sits after the indentation
    return head + "".join(lines) + f"{indent}return {name}_5\n"


def default_chat(messages: list[dict], thinking: bool, json_mode: bool = False) -> tuple[str, str | None]:
    last_user = ""
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            c = m.get("content")
            last_user = c if isinstance(c, str) else "(parts)"
            break
    snippet = " ".join(last_user.split())[:60]
    prefix = ""
    if messages and isinstance(messages[-1], dict) and messages[-1].get("prefix"):
        prefix = "continuation"
    content = (f"This is a deterministic reply from the fake DeepSeek to: {snippet}"
               if not prefix else "print('hello from the fake')\n")
    if json_mode:
        content = json.dumps({"answer": content})
    reasoning = (f"The user asked about {snippet!r}. I will answer briefly." if thinking else None)
    return content, reasoning


# ---------------------------------------------------------------- oracle

@dataclass
class _Truth:
    """A registered text, kept with ``\n`` line breaks (``regions`` in those offsets): the oracle
    locates and answers in LF and converts the answer to the prompt's line-ending style."""
    text: str
    regions: list[tuple[int, int]] | None


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n")


def _lf_offset(text: str, off: int) -> int:
    """Offset in ``_lf(text)`` of the native offset ``off``."""
    return off - text.count("\r\n", 0, off)


class Oracle:
    """Finds the cursor in registered truth texts and answers like a good model would."""

    def __init__(self) -> None:
        self._truths: list[_Truth] = []
        self._lock = threading.Lock()
        self.p_wrong = 0.0
        self.seed = 0
        self.tail_chars = 256

    def register(self, text: str, regions: list[tuple[int, int]] | None = None) -> None:
        """``text`` may use ``\n`` or ``\r\n``; ``regions`` are offsets into it as given."""
        regs = [(_lf_offset(text, a), _lf_offset(text, b)) for a, b in regions] if regions else None
        with self._lock:
            self._truths.append(_Truth(_lf(text), regs))

    def clear(self) -> None:
        with self._lock:
            self._truths.clear()

    @property
    def active(self) -> bool:
        return bool(self._truths)

    def locate(self, prompt: str) -> tuple[_Truth, int] | None:
        tail = _lf(prompt[-self.tail_chars - 64:])[-self.tail_chars:]
        if not tail:
            return None
        with self._lock:
            truths = list(self._truths)
        for t in truths:
            i = t.text.find(tail)
            if i >= 0:
                return t, i + len(tail)
        return None

    def answer(self, prompt: str, suffix: str | None, stop: list[str],
               past_closers: bool = False) -> tuple[str, dict]:
        """Return (text, info).  info: {"matched": bool, "cursor": int|None (LF offset), "wrong": bool,
        "crlf": bool, "pending": str (closers the suffix starts with), "middle_cut": bool,
        "full": str (the uncut answer, LF)}.

        The true answer is the truth from the cursor to the end of the line (single-line mode,
        ``"\n"`` in ``stop``) or to the first blank line / end of the region; when the suffix starts
        with closers the editor inserted (``)``, ``"\n    ]"``, a quote ...) it stops where the truth
        closes them (the fill-in-the-middle answer), unless ``past_closers`` (then it runs on, as
        real models do).  Located and computed with ``\n`` line breaks; returned with ``\r\n`` when
        the prompt's last 256 characters use ``\r\n``."""
        single_line = "\n" in stop or "\r\n" in stop
        crlf = "\r\n" in prompt[-self.tail_chars:]
        loc = self.locate(prompt)
        if loc is None:
            out = self._non_matching(prompt, single_line)
            return (out.replace("\n", "\r\n") if crlf else out), {
                "matched": False, "cursor": None, "wrong": False, "crlf": crlf, "pending": "",
                "middle_cut": False, "full": out}
        suffix = _lf(suffix) if suffix else suffix
        truth, cur = loc
        text = truth.text
        end = len(text)
        if truth.regions:
            for a, b in truth.regions:
                if a <= cur <= b:
                    end = b
                    break
        segs = leading_pending(suffix or "")

        def cut(e: int) -> int:
            if single_line:
                j = text.find("\n", cur, e)
                return j if j >= 0 else e
            j = text.find("\n\n", cur, e)
            return j + 1 if j >= 0 else e

        full = text[cur:cut(end)]          # what a model running past the closers answers
        if suffix:
            head = suffix[:128]
            if head.strip():
                j = text.find(head, cur)
                if j >= 0:
                    end = min(end, j)
        out = text[cur:cut(end)]
        if segs and not past_closers:
            pos = closing_positions(segs[:1], out)
            if pos:
                q = pos[0]
                if segs[0][0]:       # the closer sits on its own line: stop before that line break
                    q = len(out[:q].rstrip(" \t"))
                    if out[:q].endswith("\n"):
                        q -= 1
                out = out[:q]
        if past_closers:
            out = full
        middle_cut = bool(segs) and out != full
        wrong = False
        if self.p_wrong > 0 and out.strip():
            rng = random.Random(_stable_int("p_wrong", self.seed, cur))
            if rng.random() < self.p_wrong:
                out = self._corrupt(out, rng)
                wrong = True
        info = {"matched": True, "cursor": cur, "wrong": wrong, "crlf": crlf,
                "pending": "".join(a + b for a, b in segs), "middle_cut": middle_cut, "full": full}
        return (out.replace("\n", "\r\n") if crlf else out), info

    @staticmethod
    def _corrupt(out: str, rng: random.Random) -> str:
        idents = list(_IDENT.finditer(out))
        if idents and rng.random() < 0.6:
            m = idents[rng.randrange(len(idents))]
            word = m.group(0)
            mutated = word + "_x" if len(word) < 3 else word[:-1] + ("q" if word[-1] != "q" else "z")
            return out[:m.start()] + mutated + out[m.end():]
        # truncated line with a wrong ending
        first = out.split("\n", 1)[0]
        cut = max(0, len(first) // 2)
        return first[:cut] + "  # ??\n"

    @staticmethod
    def _non_matching(prompt: str, single_line: bool) -> str:
        n = _stable_int("nm", prompt[-64:]) % 1000
        if single_line:
            return f"_tmp{n}"
        last = prompt.rsplit("\n", 1)[-1]
        indent = re.match(r"\s*", last).group(0) if not last.strip() else ""
        return f"_tmp{n} = None\n{indent}pass\n"
