"""Workload generator (the typist of tests/bench/README.md): a pure function of (manifest, seed).

Regions are the bodies of standard-library functions after their docstring,
found by *qualified name* through ``ast``. The stdlib file is used when its
sha256 is the one in the manifest (3.11.7); otherwise (another Python, or the
file or function is missing) the vendored copy in ``corpus/`` is used, so
every Python types exactly the same text (the report says which was used).

The region is deleted and typed back with the rest of the file above and
below. The schedule is a list of *units*, one per character of the region
(a newline unit also carries the auto-indentation of the next line, inserted
in the same edit). A unit is a list of keystroke *actions* ``(gap_ms, kind,
text)``: normally one ``ins``; a typo unit is ``wrong key, 0-2 more
characters, backspaces, the right key``. The simulated user may skip units
by accepting ghost text; the gaps of the remaining units stay as planned.
"""
from __future__ import annotations

import ast
import dataclasses
import hashlib
import math
import os
import random
import sys
import sysconfig
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# module path (relative to the stdlib dir) -> (qualified name, sha256 of the 3.11.7 file)
FUNCS = {
    "py_scanstring": ("json/decoder.py", "py_scanstring",
                      "9f02654649816145bc76f8c210a5fe3ba1de142d4d97a1c93105732e747c285b"),
    "merge": ("heapq.py", "merge", "6d43277e5c76fc0f073cd388fcff852d14d068f6bb6d4886c340f8b75a1229a9"),
    "guess_quote": ("csv.py", "Sniffer._guess_quote_and_delimiter",
                    "6c68a5186e3b85e6e267a7ef96479327a45ae2b40bf5e9f2017e4b2282b3f5b1"),
    "find_longest_match": ("difflib.py", "SequenceMatcher.find_longest_match",
                           "0c6afc23568d55b3e9ac914f9c5361e3033e778aa5b58d3cc82835fc5c638679"),
    "wrap_chunks": ("textwrap.py", "TextWrapper._wrap_chunks",
                    "62867e40cdea6669b361f72af4d7daf0359f207c92cbeddfc7c7506397c1f31c"),
    "format_usage": ("argparse.py", "HelpFormatter._format_usage",
                     "dc1eba8adfdf615986421f981337458ba1072d3e718a0f76e3224940fd74118b"),
    "lru_cache_wrapper": ("functools.py", "_lru_cache_wrapper",
                          "6d80018a3fa9fed44c5b78f881987ee3ab3fb1238b077b4e6dcb4b76da7db73b"),
    "read_token": ("shlex.py", "shlex.read_token",
                   "42ab6060f316e121e374e6621d8c1c98b8db323903c3df289a810c45a8ae46a7"),
}

# profile -> (function keys, planned-keystroke limit or None, played-keystroke budget or None).
# ``ci`` plays the functions in order until 470 keystrokes have been played (50 warm-up + 420
# measured; ~2.5 min per arm with the default latency model, inside py_scanstring).  A budget of
# *played* keystrokes rather than a fixed stretch of text keeps the measured volume constant when
# the simulated user accepts large ghost texts (with --fixed latency whole multi-line blocks are
# accepted and py_scanstring alone is done in a few dozen keystrokes).  ``ci-full`` is the
# design's ci (all of py_scanstring).
#
# ``ci-legacy`` is the ``ci`` of before issue 12 (kept for before/after comparisons): the same
# functions, typed one file after another with ``rootUri`` ``file:///work/bench``, a folder that
# does not exist, so a context engine finds nothing.  Today's ``ci`` (``CI_PROFILES``) types the
# same functions in a workspace folder on disk and ends in files that import from their siblings.
PROFILES: dict[str, tuple[list[str], int | None, int | None]] = {
    "tiny": (["py_scanstring"], 40, None),      # the determinism test (tests/test_bench.py)
    "ci-legacy": (list(FUNCS), None, 470),
    "ci-full": (["py_scanstring"], None, None),
    "standard": (["py_scanstring", "merge", "guess_quote"], None, None),
    "full": (list(FUNCS), None, None),
}
WARMUP_KEYS = 50


# ---------------------------------------------------------------- multi-file projects (issue 12)

@dataclass(frozen=True)
class ProjectSpec:
    """A small multi-file project the typist works in, moving between files.

    ``files``: every file of the project, written to the replay's workspace folder (so a context
    engine can read the ones that are not open); ``typed``: per typed file, the qualified names of
    the functions whose bodies are deleted and typed back, in file order; ``sha256``: the 3.11.7
    hash of every file (the stdlib copy is used when it matches, else the vendored one);
    ``pattern``: the order in which the typist visits the typed files (indices into ``typed``),
    repeated; ``segment``: (min, max) played keystrokes per visit, drawn per visit from the seed."""
    name: str
    root: str                                   # stdlib-relative directory, e.g. "json"
    sha256: dict[str, str]                      # file (relative to root) -> sha256 of 3.11.7
    typed: tuple[tuple[str, tuple[str, ...]], ...]
    pattern: tuple[int, ...]
    segment: tuple[int, int] = (25, 65)


# The json package: __init__.py calls JSONEncoder / JSONDecoder / JSONDecodeError (decoder.py,
# encoder.py), decoder.py calls scanner.make_scanner (scanner.py), tool.py calls json.load /
# json.loads / json.dump (__init__.py).  The typist works in __init__.py and goes to decoder.py and
# tool.py and back (a, b, a, c, ...), as a user moving between the files of a change.
JSON_PROJECT = ProjectSpec(
    "json", "json",
    {"__init__.py": "d5d41e2c29049515d295d81a6d40b4890fbec8d8482cfb401630f8ef2f77e4d5",
     "decoder.py": "9f02654649816145bc76f8c210a5fe3ba1de142d4d97a1c93105732e747c285b",
     "encoder.py": "7c358788fbb2a6a07f66f1f8446c52396f35fc201108f666d5be002d86f31af2",
     "scanner.py": "8604d9d03786d0d509abb49e9f069337278ea988c244069ae8ca2c89acc2cb08",
     "tool.py": "d5174b728b376a12cff3f17472d6b9b609c1d3926f7ee02d74d60c80afd60c77"},
    (("__init__.py", ("dump", "dumps", "loads")),
     ("decoder.py", ("JSONDecoder.__init__", "JSONDecoder.raw_decode")),
     ("tool.py", ("main",))),
    (0, 1, 0, 2))
PROJECTS = {"json": JSON_PROJECT}
# profile -> (project, played-keystroke budget): the same 470 played keystrokes as ``ci``
# (50 warm-up + 420 measured), spread over visits to the project's files.
# (project, played budget, played keystrokes per visit or None for the project's)
MULTI_PROFILES: dict[str, tuple[str, int | None, tuple[int, int] | None]] = {
    "multi": ("json", 470, None),
    "multi-tiny": ("json", 30, (6, 9)),     # the end-to-end test: a few visits in 30 keystrokes
}


# The importing-file part of ``ci`` (issue 12): json/__init__.py (``dumps`` calls ``JSONEncoder``
# of encoder.py; ``loads`` calls ``JSONDecoder`` / ``JSONDecodeError`` of decoder.py) and
# json/tool.py (``main`` calls ``json.load`` / ``json.loads`` / ``json.dump`` of __init__.py).
JSON_IMPORTS = ProjectSpec(
    "json-imports", "json", JSON_PROJECT.sha256,
    (("__init__.py", ("dumps", "loads")),
     ("tool.py", ("main",))),
    (0, 1))
PROJECTS["json-imports"] = JSON_IMPORTS


@dataclass(frozen=True)
class CiSpec:
    """A ``ci``-style profile in a workspace on disk: ``lead`` (a ``PROFILES`` entry: its functions
    are typed one file after another, each file opened, typed, closed, as ``ci-legacy``) for the
    played budget minus ``tail``, then the last ``tail`` played keystrokes in the files of
    ``project`` that import from each other, as a session (the files stay open): one visit per
    entry of ``visits`` (file index into ``project.typed``, share of ``tail``), one move between
    files.  Every file typed, and every file of a typed file's package, is written to the
    workspace folder as saved before the session (the typed bodies deleted)."""
    lead: str
    project: str
    tail: int
    budget: int = 470
    visits: tuple[tuple[int, float], ...] = ((0, 0.5), (1, 0.5))


# profile -> spec.  ``ci``: 470 played keystrokes (50 warm-up + 420 measured) as before; the first
# 320 in the stdlib functions of ``ci-legacy`` (now in a workspace folder), the last 150 (36% of the
# measured keystrokes) in json/__init__.py then json/tool.py.  Why these: tests/bench/README.md.
CI_PROFILES: dict[str, CiSpec] = {
    "ci": CiSpec("ci-legacy", "json-imports", 150),
    "ci-tiny": CiSpec("ci-legacy", "json-imports", 16, 36),     # the end-to-end test (tests/bench/test_ci.py)
}


def warmup_for(profile: str) -> int:
    """Keystrokes discarded at the start of each arm (warm-up); none in the tiny test profiles."""
    return 0 if profile in ("tiny", "multi-tiny", "ci-tiny") else WARMUP_KEYS


@dataclass(frozen=True)
class Region:
    key: str
    path: str            # stdlib-relative path, e.g. json/decoder.py
    qualname: str
    source: str          # "stdlib" | "vendored"
    sha256: str
    truth: str           # the whole file
    start: int           # offset of the first typed character (after the indentation)
    end: int             # offset just after the region (after the last line's newline)

    @property
    def typed(self) -> str:
        return self.truth[self.start:self.end]

    @property
    def initial(self) -> str:
        return self.truth[: self.start] + self.truth[self.end:]


def _find(tree: ast.AST, qualname: str) -> ast.AST | None:
    node: ast.AST | None = tree
    for part in qualname.split("."):
        found = None
        for child in getattr(node, "body", []):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and child.name == part:
                found = child
        node = found
        if node is None:
            return None
    return node


def region_of(text: str, qualname: str) -> tuple[int, int] | None:
    """(start, end) offsets of the function body after its docstring, or None."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    fn = _find(tree, qualname)
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or not fn.body:
        return None
    body = list(fn.body)
    if (len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        body = body[1:]
    lines = text.splitlines(True)
    line_starts = [0]
    for ln in lines:
        line_starts.append(line_starts[-1] + len(ln))
    first = body[0].lineno - 1
    last = fn.end_lineno or len(lines)  # 1-based last line of the function
    line = lines[first]
    start = line_starts[first] + len(line) - len(line.lstrip(" \t"))
    end = line_starts[min(last, len(lines))]
    return start, end


def load_region(key: str, allow_other_stdlib: bool = False) -> Region:
    path, qualname, want = FUNCS[key]
    stdlib = os.path.join(sysconfig.get_paths()["stdlib"], path)
    candidates = []
    if os.path.exists(stdlib):
        candidates.append(("stdlib", stdlib))
    candidates.append(("vendored", os.path.join(CORPUS, path)))
    for source, p in candidates:
        with open(p, encoding="utf-8") as f:
            text = f.read()
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if source == "stdlib" and sha != want and not allow_other_stdlib:
            continue
        reg = region_of(text, qualname)
        if reg is None:
            continue
        return Region(key, path, qualname, source, sha, text, reg[0], reg[1])
    raise RuntimeError(f"cannot find {qualname} in {path}")


# ---------------------------------------------------------------- typing model

@dataclass(frozen=True)
class TypingModel:
    iki_mu: float = 5.376            # log-normal, mean 238.66 ms, SD 111.6 ms (Dhakal et al.)
    iki_sigma: float = 0.445
    newline_median_ms: float = 800.0
    newline_sigma: float = 0.6
    think_p: float = 0.05            # at token boundaries
    think_median_ms: float = 2500.0
    think_sigma: float = 0.5
    typo_p: float = 0.02
    speed: float = 1.0               # IKI scale: 0.7 fast, 1.5 slow
    # "metronome" mode for the determinism test: gaps far from every threshold
    metronome: tuple[float, float, int] | None = None   # (burst gap ms, pause ms, keys per burst)


@dataclass
class Unit:
    start: int                       # region offset of the first character it produces
    end: int
    actions: list[tuple[float, str, str]] = field(default_factory=list)   # (gap_ms, "ins"|"bs", text)


_ROWS = ["`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./"]
_POS = {c: (r, i) for r, row in enumerate(_ROWS) for i, c in enumerate(row)}


def neighbour(ch: str, rng: random.Random) -> str:
    """A wrong neighbouring key on a QWERTY keyboard (case kept)."""
    low = ch.lower()
    if low in _POS:
        r, i = _POS[low]
        opts = []
        for dr in (-1, 0, 1):
            rr = r + dr
            if 0 <= rr < len(_ROWS):
                for di in (-1, 0, 1):
                    j = i + di
                    if (dr or di) and 0 <= j < len(_ROWS[rr]):
                        opts.append(_ROWS[rr][j])
        out = rng.choice(opts)
        return out.upper() if ch.isupper() and out.isalpha() else out
    return rng.choice("asdfjkl")


def _ident(c: str) -> bool:
    return c.isalnum() or c == "_"


_OPS = set("+-*/%=<>!&|^~@.,:;()[]{}")


def is_boundary(text: str, i: int) -> bool:
    """Identifier start or operator start (think pauses)."""
    c = text[i]
    p = text[i - 1] if i else " "
    if (c.isalpha() or c == "_") and not _ident(p):
        return True
    return c in _OPS and p not in _OPS


def _lognormal_median(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def make_schedule(typed: str, seed: int, model: TypingModel = TypingModel(),
                  limit: int | None = None) -> list[Unit]:
    """Units for ``typed`` (the region text).  Pure: same input, same output.

    ``limit``: stop after this many planned keystrokes (whole units).
    """
    rng = random.Random(seed)
    units: list[Unit] = []
    i = 0
    n = len(typed)
    after_newline = False
    keys = 0
    burst = 0

    def iki() -> float:
        if model.metronome:
            return model.metronome[0]
        return math.exp(rng.gauss(model.iki_mu, model.iki_sigma)) * model.speed

    while i < n:
        c = typed[i]
        if c == "\r" and typed[i + 1:i + 2] == "\n":     # CRLF file: one Enter unit
            c = "\n"
            i_nl = i + 2
        else:
            i_nl = i + 1
        if c == "\n":
            j = i_nl
            while j < n and typed[j] in " \t":
                j += 1
            text = typed[i:j]
        else:
            j = i + 1
            text = c
        # the gap before this unit
        if model.metronome:
            burst += 1
            gap = model.metronome[1] if burst % model.metronome[2] == 0 else model.metronome[0]
        elif after_newline:
            gap = _lognormal_median(rng, model.newline_median_ms, model.newline_sigma)
        elif c != "\n" and is_boundary(typed, i) and rng.random() < model.think_p:
            gap = _lognormal_median(rng, model.think_median_ms, model.think_sigma)
        else:
            gap = iki()
        u = Unit(i, j)
        if c != "\n" and c not in " \t" and rng.random() < model.typo_p:
            wrong = neighbour(c, rng)
            extra = rng.randint(0, 2)
            more = ""
            k = j
            while len(more) < extra and k < n and typed[k] not in "\r\n":
                more += typed[k]
                k += 1
            u.actions.append((gap, "ins", wrong))
            for ch in more:
                u.actions.append((iki(), "ins", ch))
            for _ in range(1 + len(more)):
                u.actions.append((iki(), "bs", ""))
            u.actions.append((iki(), "ins", text))
        else:
            u.actions.append((gap, "ins", text))
        keys += len(u.actions)
        if limit is not None and keys > limit and units:
            break
        units.append(u)
        after_newline = c == "\n"
        i = j
    return units


def with_crlf(r: Region) -> Region:
    """The same region in a file opened with ``\r\n`` line endings (offsets moved)."""
    t = r.truth.replace("\r\n", "\n")
    def off(o: int) -> int:
        return o + r.truth.count("\n", 0, o)
    return dataclasses.replace(r, truth=t.replace("\n", "\r\n"), start=off(r.start), end=off(r.end))


@dataclass(frozen=True)
class World:
    """How real the replay is.  ``real`` (default): the editor model (VS Code / Neovim auto-pairs
    and auto-indent, alternating per file), a share of CRLF files, the fake's model noise, and a
    per-file keystroke budget so short profiles see several files.  ``ideal``: the original
    replay (the editor inserts exactly the truth's indentation, no auto-pairs, LF, oracle only)."""
    name: str = "real"
    editors: tuple[str, ...] = ("vscode", "nvim")
    crlf_share: float = 0.5
    noise: str = "real"
    files: int | None = 2          # profiles with a played budget: split it over this many files

    @property
    def ideal(self) -> bool:
        return self.name == "ideal"


IDEAL = World("ideal", (), 0.0, "off", None)
REAL = World()


def editor_for(world: World, seed: int, i: int) -> tuple[str | None, str]:
    """(flavour or None, line ending) of the i-th file: flavours alternate (rotated by seed);
    CRLF for a ``crlf_share`` of files, spread evenly (Bresenham), starting with the 2nd."""
    if world.ideal or not world.editors:
        return None, "\n"
    flavour = world.editors[(i + seed) % len(world.editors)]
    crlf = math.floor((i + 1) * world.crlf_share + 1e-9) > math.floor(i * world.crlf_share + 1e-9)
    return flavour, ("\r\n" if crlf else "\n")


@dataclass
class Workload:
    profile: str
    seed: int
    regions: list[Region]
    schedules: list[list[Unit]]
    model: TypingModel
    budget: int | None = None      # stop after this many played keystrokes
    world: World = IDEAL
    editors: list[tuple[str | None, str]] = field(default_factory=list)   # per region
    region_budget: int | None = None   # played keystrokes per file at most
    # multi-file sessions (``multi`` profiles): per typed file its region chain, the visits, the
    # project's files as written to the workspace folder, and the truths the oracle gets
    files: list[list[int]] | None = None
    segments: list[tuple[int, int]] | None = None
    project: dict[str, str] | None = None            # workspace-relative path -> text on disk
    truths: list[tuple[str, list[tuple[int, int]]]] | None = None
    project_sources: dict[str, str] | None = None    # path -> "stdlib" | "vendored"
    # ``ci`` profiles (``CI_PROFILES``): regions[:lead] are typed one file after another (open,
    # type, close) for ``lead_budget`` played keystrokes, then the session of ``files``/``segments``
    # (whose first ``lead`` files are those regions, one each, never visited by a segment)
    lead: int = 0
    lead_budget: int | None = None

    @property
    def session(self) -> tuple[list[list[int]], list[tuple[int, int]]] | None:
        return (self.files, self.segments) if self.files is not None and self.segments is not None else None

    def oracle_truths(self) -> list[tuple[str, list[tuple[int, int]]]]:
        """What the fake's oracle is given: per file its whole text and the spans typed in it."""
        if self.truths is not None:
            return self.truths
        return [(r.truth, [(r.start, r.end)]) for r in self.regions]

    def planned_keys(self) -> int:
        return sum(len(u.actions) for s in self.schedules for u in s)

    def planned_ms(self) -> float:
        return sum(a[0] for s in self.schedules for u in s for a in u.actions)

    def describe(self) -> list[dict[str, Any]]:
        eds = self.editors or [(None, "\n")] * len(self.regions)
        return [{"path": r.path, "qualname": r.qualname, "sha256": r.sha256, "source": r.source,
                 "editor": ed[0] or "ideal", "eol": "CRLF" if ed[1] == "\r\n" else "LF",
                 "region_chars": r.end - r.start,
                 "typed_chars": sum(u.end - u.start for u in s),
                 "planned_keystrokes": sum(len(u.actions) for u in s)}
                for r, s, ed in zip(self.regions, self.schedules, eds)]


def build(profile: str, seed: int, model: TypingModel = TypingModel(),
          allow_other_stdlib: bool = False, limit: int | None = None, world: World = IDEAL) -> Workload:
    keys, plimit, budget = PROFILES[profile]
    if limit is None:
        limit = plimit
    regions = [load_region(k, allow_other_stdlib) for k in keys]
    editors = [editor_for(world, seed, i) for i in range(len(regions))]
    regions = [with_crlf(r) if eol == "\r\n" else r for r, (_, eol) in zip(regions, editors)]
    schedules = []
    left = limit
    for n, r in enumerate(regions):
        if left is not None and left <= 0:
            break
        s = make_schedule(r.typed, seed * 1000 + n, model, left)
        schedules.append(s)
        if left is not None:
            left -= sum(len(u.actions) for u in s)
    region_budget = None
    if budget is not None and world.files and not world.ideal:
        region_budget = -(-budget // world.files)
    return Workload(profile, seed, regions[: len(schedules)], schedules, model, budget, world,
                    editors[: len(schedules)], region_budget)


def load_project(spec: ProjectSpec, allow_other_stdlib: bool = False) -> tuple[dict[str, str], dict[str, str]]:
    """(file -> text, file -> "stdlib" | "vendored") for every file of ``spec`` (paths relative to
    the stdlib directory, e.g. ``json/decoder.py``): the stdlib file when its hash is the 3.11.7
    one, else the vendored copy in ``corpus/``."""
    texts, sources = {}, {}
    for rel, want in sorted(spec.sha256.items()):
        path = f"{spec.root}/{rel}"
        stdlib = os.path.join(sysconfig.get_paths()["stdlib"], path)
        text = None
        if os.path.exists(stdlib):
            with open(stdlib, encoding="utf-8") as f:
                t = f.read()
            if allow_other_stdlib or hashlib.sha256(t.encode("utf-8")).hexdigest() == want:
                text, sources[path] = t, "stdlib"
        if text is None:
            with open(os.path.join(CORPUS, path), encoding="utf-8") as f:
                text, sources[path] = f.read(), "vendored"
        texts[path] = text
    return texts, sources


def _crlf_offset(lf_text: str, off: int) -> int:
    return off + lf_text.count("\n", 0, off)


def chain_regions(path: str, text: str, qualnames: tuple[str, ...], source: str) -> list[Region]:
    """The regions of one file, in file order, as a chain typed top to bottom on one document:
    region k's ``truth`` is the file with regions k+1.. deleted (so its ``initial`` is the file with
    regions k.. deleted, and a finished region k leaves exactly region k+1's ``initial``).  Offsets
    of region k are the same in the whole file (the deleted regions come after it)."""
    spans = []
    for q in qualnames:
        reg = region_of(text, q)
        if reg is None:
            raise RuntimeError(f"cannot find {q} in {path}")
        spans.append((reg[0], reg[1], q))
    spans.sort()
    for (_, e0, _), (s1, _, _) in zip(spans, spans[1:]):
        if s1 < e0:
            raise RuntimeError(f"overlapping regions in {path}")
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    out = []
    for k, (a, b, q) in enumerate(spans):
        t = text
        for a2, b2, _ in reversed(spans[k + 1:]):
            t = t[:a2] + t[b2:]
        out.append(Region(f"{path}:{q}", path, q, source, sha, t, a, b))
    return out


def make_segments(spec: ProjectSpec, seed: int, n: int = 200,
                  segment: tuple[int, int] | None = None) -> list[tuple[int, int]]:
    """The visits: ``spec.pattern`` repeated, each visit ``segment`` (default ``spec.segment``)
    played keystrokes, drawn uniformly from the seed."""
    rng = random.Random(seed * 7_919 + 12)
    lo, hi = segment or spec.segment
    return [(spec.pattern[j % len(spec.pattern)], rng.randint(lo, hi)) for j in range(n)]


def build_multi(profile: str, seed: int, model: TypingModel = TypingModel(),
                allow_other_stdlib: bool = False, world: World = IDEAL) -> Workload:
    """A multi-file session (``MULTI_PROFILES``): the typist types function bodies in several files
    of one project that import from each other, moving between the files (``ProjectSpec``)."""
    pname, budget, segment = MULTI_PROFILES[profile]
    spec = PROJECTS[pname]
    texts, sources = load_project(spec, allow_other_stdlib)
    regions: list[Region] = []
    files: list[list[int]] = []
    editors: list[tuple[str | None, str]] = []
    truths: list[tuple[str, list[tuple[int, int]]]] = []
    project = dict(texts)
    for fi, (rel, quals) in enumerate(spec.typed):
        path = f"{spec.root}/{rel}"
        chain = chain_regions(path, texts[path], quals, sources[path])
        ed = editor_for(world, seed, fi)
        full = texts[path]
        spans = [(r.start, r.end) for r in chain]
        if ed[1] == "\r\n":
            chain = [with_crlf(r) for r in chain]
            spans = [(_crlf_offset(full, a), _crlf_offset(full, b)) for a, b in spans]
            full = full.replace("\n", "\r\n")
        files.append(list(range(len(regions), len(regions) + len(chain))))
        regions.extend(chain)
        editors.extend([ed] * len(chain))
        truths.append((full, spans))
        project[path] = chain[0].initial       # on disk as saved before the session: bodies deleted
    schedules = [make_schedule(r.typed, seed * 1000 + n, model, None) for n, r in enumerate(regions)]
    return Workload(profile, seed, regions, schedules, model, budget, world, editors, None,
                    files=files, segments=make_segments(spec, seed, segment=segment), project=project, truths=truths,
                    project_sources=sources)


def build_ci(profile: str, seed: int, model: TypingModel = TypingModel(), allow_other_stdlib: bool = False,
             limit: int | None = None, world: World = IDEAL) -> Workload:
    """A ``CI_PROFILES`` workload: the lead profile's single-file typing (same regions, editors,
    schedules and seeds as that profile), then a short session in files that import from their
    siblings; all in one workspace folder (``project``) holding every typed file and the other
    files of its package, as saved before the session."""
    spec = CI_PROFILES[profile]
    lead = build(spec.lead, seed, model, allow_other_stdlib, limit, world)
    budget = spec.budget
    lead_budget = budget - spec.tail
    region_budget = None
    if world.files and not world.ideal:
        region_budget = -(-lead_budget // world.files)
    proj = PROJECTS[spec.project]
    texts, sources = load_project(proj, allow_other_stdlib)
    regions = list(lead.regions)
    schedules = list(lead.schedules)
    editors = list(lead.editors)
    files: list[list[int]] = [[i] for i in range(len(regions))]
    truths = [(r.truth, [(r.start, r.end)]) for r in regions]
    # the whole package of the importing files (json/: also the package of the lead's decoder.py;
    # the lead's other files are top-level modules, alone in their "package")
    project: dict[str, str] = dict(texts)
    n_lead = len(regions)
    for fi, (rel, quals) in enumerate(proj.typed):
        path = f"{proj.root}/{rel}"
        chain = chain_regions(path, texts[path], quals, sources[path])
        # editor flavour and line ending continue the lead profile's per-file sequence
        ed = editor_for(world, seed, len(FUNCS) + fi)
        full = texts[path]
        spans = [(r.start, r.end) for r in chain]
        if ed[1] == "\r\n":
            chain = [with_crlf(r) for r in chain]
            spans = [(_crlf_offset(full, a), _crlf_offset(full, b)) for a, b in spans]
            full = full.replace("\n", "\r\n")
        files.append(list(range(len(regions), len(regions) + len(chain))))
        for r in chain:
            schedules.append(make_schedule(r.typed, seed * 1000 + 100 + len(regions), model, None))
            regions.append(r)
            editors.append(ed)
        truths.append((full, spans))
        project[path] = chain[0].initial
    for r in regions[:n_lead]:
        project[r.path] = r.initial              # on disk as saved before the session: body deleted
    segments: list[tuple[int, int]] = []
    left = spec.tail
    for j, (fi, share) in enumerate(spec.visits):
        n = left if j == len(spec.visits) - 1 else round(spec.tail * share)
        segments.append((n_lead + fi, n))
        left -= n
    # a visit whose functions are all done before its share ends hands the rest on: the pattern
    # goes on (never reached in ``ci`` unless whole functions are accepted at once)
    segments += [(n_lead + proj.pattern[j % len(proj.pattern)], spec.tail) for j in range(4)]
    all_sources = {r.path: r.source for r in regions}
    all_sources.update(sources)
    return Workload(profile, seed, regions, schedules, model, budget, world, editors, region_budget,
                    files=files, segments=segments, project=project, truths=truths,
                    project_sources=all_sources, lead=n_lead, lead_budget=lead_budget)


def build_any(profile: str, seed: int, model: TypingModel = TypingModel(), limit: int | None = None,
              world: World = IDEAL) -> Workload:
    """:func:`build`, or :func:`build_multi` / :func:`build_ci` for a multi-file / ``ci`` profile."""
    if profile in MULTI_PROFILES:
        return build_multi(profile, seed, model, world=world)
    if profile in CI_PROFILES:
        return build_ci(profile, seed, model, limit=limit, world=world)
    return build(profile, seed, model, limit=limit, world=world)


def write_workspace(wl: Workload, folder: str) -> str:
    """Write the project's files under ``folder`` (created); returns its ``file://`` URI."""
    for rel, text in (wl.project or {}).items():
        p = os.path.join(folder, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return "file://" + os.path.abspath(folder)


def keystrokes_of(typed: str) -> int:
    """The design's count: non-indentation characters plus one per newline."""
    return sum(len(l.lstrip(" \t")) for l in typed.split("\n")) + typed.count("\n")


if __name__ == "__main__":  # quick look
    w = build_any(sys.argv[1] if len(sys.argv) > 1 else "ci", 1)
    print(w.describe(), w.planned_keys(), round(w.planned_ms() / 1000, 1), "s")
