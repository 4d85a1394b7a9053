"""The ``ci`` workload of the typing replay (issue 12): the single-file typing of ``ci-legacy`` in a
workspace folder on disk, then the last played keystrokes in json package files that import from
their siblings.  Fast (no server) except one short end-to-end run.  No timing assertions."""
from __future__ import annotations

import ast
import asyncio
import os
from typing import Any

import pytest

from tests.bench import metrics, workload
from tests.bench.editor_model import Edit
from tests.bench.harness import Editor, Key, NaiveEditor
from tests.fake_deepseek.oracle import Oracle


@pytest.fixture(scope="module")
def wl() -> workload.Workload:
    return workload.build_any("ci", 1, world=workload.REAL)


def _defined(text: str) -> set[str]:
    """Top-level functions, classes and assigned names of a module."""
    out: set[str] = set()
    for n in ast.parse(text).body:
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif isinstance(n, ast.Assign):
            out.update(t.id for t in n.targets if isinstance(t, ast.Name))
    return out


def _used(code: str) -> set[str]:
    """Names and ``x.attr`` attributes a function body uses (parsed with a dummy def around it)."""
    lines = code.replace("\r\n", "\n").splitlines()
    body = "\n".join("    " + ln.strip() if i == 0 else ln for i, ln in enumerate(lines))
    tree = ast.parse("def _f():\n" + body + "\n")
    return ({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
            | {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)})


def test_lead_is_ci_legacy_unchanged(wl: workload.Workload) -> None:
    """The single-file part types what ``ci-legacy`` types: same regions, schedules (seeds), editors."""
    old = workload.build("ci-legacy", 1, world=workload.REAL)
    assert wl.lead == len(old.regions) == 8
    assert [r.key for r in wl.regions[:wl.lead]] == [r.key for r in old.regions]
    assert [r.truth for r in wl.regions[:wl.lead]] == [r.truth for r in old.regions]
    assert wl.schedules[:wl.lead] == old.schedules
    assert wl.editors[:wl.lead] == old.editors
    # 470 played keystrokes as before; the last 150 in the importing files; 2 files at least before
    assert (wl.budget, wl.lead_budget, old.budget) == (470, 320, 470)
    assert wl.region_budget == 160
    assert workload.warmup_for("ci") == workload.WARMUP_KEYS == 50
    # the seed drives the new part too
    other = workload.build_any("ci", 2, world=workload.REAL)
    assert other.schedules[wl.lead:] != wl.schedules[wl.lead:]
    assert workload.build_any("ci", 1, world=workload.REAL).schedules == wl.schedules


def test_workspace_holds_the_typed_files_and_their_package(wl: workload.Workload, tmp_path: Any) -> None:
    assert wl.project is not None
    typed_paths = {r.path for r in wl.regions}
    json_pkg = {f"json/{f}" for f in ("__init__.py", "decoder.py", "encoder.py", "scanner.py", "tool.py")}
    assert set(wl.project) == typed_paths | json_pkg
    # every typed file is on disk as saved before the session: its typed bodies deleted
    first: dict[str, workload.Region] = {}
    for r in wl.regions:
        first.setdefault(r.path, r)
    for path, r in first.items():
        assert wl.project[path] == r.initial, path
    uri = workload.write_workspace(wl, str(tmp_path / "ws"))
    assert uri == "file://" + str(tmp_path / "ws")
    for rel, text in wl.project.items():
        with open(tmp_path / "ws" / rel, encoding="utf-8", newline="") as f:
            assert f.read() == text
    # the server is given that folder; each document's URI is inside it
    assert all(os.path.isfile(tmp_path / "ws" / r.path) for r in wl.regions)


def test_tail_types_in_files_that_import_from_siblings(wl: workload.Workload) -> None:
    assert wl.files is not None and wl.segments is not None and wl.project is not None
    tail = wl.regions[wl.lead:]
    assert {r.path for r in tail} == {"json/__init__.py", "json/tool.py"}
    assert [r.qualname for r in tail] == ["dumps", "loads", "main"]
    texts, _ = workload.load_project(workload.JSON_PROJECT)
    sib = {p: _defined(t) for p, t in texts.items()}
    init = texts["json/__init__.py"]
    assert "from .encoder import JSONEncoder" in init and "from .decoder import JSONDecoder, JSONDecodeError" in init
    assert "import json" in texts["json/tool.py"]
    # each typed body uses names its file takes from a sibling module
    need = {"dumps": ("JSONEncoder", "json/encoder.py"), "loads": ("JSONDecoder", "json/decoder.py"),
            "main": ("load", "json/__init__.py")}
    for r in tail:
        name, where = need[r.qualname]
        assert name in _used(r.typed) and name in sib[where], r.qualname
    # the visits: 75 played keystrokes in __init__.py, one move, 75 in tool.py (the rest hands on)
    by_file = {fi: wl.regions[regs[0]].path for fi, regs in enumerate(wl.files)}
    assert [(by_file[f], n) for f, n in wl.segments[:2]] == [("json/__init__.py", 75), ("json/tool.py", 75)]
    assert all(f >= wl.lead for f, _ in wl.segments)
    assert wl.files[:wl.lead] == [[i] for i in range(wl.lead)]
    # the oracle gets each whole file: it answers the truth in the importing files too
    o = Oracle()
    for text, spans in wl.oracle_truths():
        o.register(text, spans)
    for r in tail:
        p = len(r.typed) // 3
        if "\r" in r.typed[p - 1:p + 1]:
            p += 1
        text, info = o.answer(r.truth[:r.start + p], r.truth[r.end:][:500], ["\n"])
        assert info["matched"], r.qualname
        if not info["wrong"]:
            assert text == r.typed[p:].split("\r\n" if "\r\n" in r.truth else "\n", 1)[0], r.qualname


class _Recorder(Editor):
    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.events: list[tuple[str, str]] = []

    async def open(self, region: workload.Region) -> None:
        self.events.append(("open", region.path))

    async def focus(self, region: workload.Region) -> None:
        self.events.append(("focus", region.path))

    async def close(self) -> None:
        self.events.append(("close", ""))

    def edit(self, key: Key, e: Edit, accept_sid: str | None = None) -> None:
        pass


def test_played_keystrokes_end_in_the_importing_files(wl: workload.Workload) -> None:
    """The editor types the lead one file after another (open, type, close) for 320 played keystrokes,
    then opens json/__init__.py and json/tool.py (they stay open) for the last 150."""
    assert wl.session is not None and wl.lead_budget is not None and wl.budget is not None
    m = workload.TypingModel(metronome=(1.0, 1.0, 5), typo_p=0.0)
    schedules = [workload.make_schedule(r.typed, 1, m) for r in wl.regions]
    ed = _Recorder("t", wl.regions, schedules, settle_s=0.0, budget=wl.budget, editors=wl.editors,
                   region_budget=wl.region_budget)
    ed.switch_ms = ed.next_region_ms = 1.0
    res = asyncio.run(ed.run_session(*wl.session, lead=wl.lead, lead_budget=wl.lead_budget))
    assert len(res.keys) == wl.budget
    assert all(k.region < wl.lead for k in res.keys[:wl.lead_budget])
    tail_keys = res.keys[wl.lead_budget:]
    assert all(k.region >= wl.lead for k in tail_keys)
    paths = [wl.regions[k.region].path for k in tail_keys]
    assert paths[:75] == ["json/__init__.py"] * 75 and paths[75:] == ["json/tool.py"] * 75
    opens = [p for k, p in ed.events if k == "open"]
    lead_files = opens[:-2]
    assert len(lead_files) >= 2 and opens[-2:] == ["json/__init__.py", "json/tool.py"]
    # lead files: open, close each; the importing files stay open until the end of the session
    ev = ed.events
    i_init = ev.index(("open", "json/__init__.py"))
    assert [k for k, _ in ev[:i_init]] == ["open", "close"] * len(lead_files)
    assert [k for k, _ in ev[i_init:]] == ["open", "open", "focus", "close", "focus", "close"]
    # the switch figures see one switch between the importing files (plus the lead's file changes)
    assert ed.file_of is not None and wl.files is not None
    vs = metrics.visits(res.keys, ed.file_of)
    assert [wl.regions[wl.files[v["file"]][0]].path for v in vs[-2:]] == ["json/__init__.py", "json/tool.py"]


class _StubClient:
    def __init__(self) -> None:
        self.bodies: list[tuple[str, dict[str, Any]]] = []

    async def fim(self, body: dict[str, Any], tag: str = "") -> tuple[int, str | None]:
        self.bodies.append((tag, body))
        return 0, None


def test_naive_replay_of_a_ci_session(wl: workload.Workload) -> None:
    """The naive client replays lead keystrokes file by file and keeps the importing files' documents."""
    assert wl.files is not None
    r0 = wl.regions[0]
    ra, rb = wl.regions[wl.files[wl.lead][0]], wl.regions[wl.files[wl.lead + 1][0]]
    played = [Key(0, 0, "ins", "x", 2, 0, start=r0.start, end=r0.start, new="x", cursor=r0.start + 1),
              Key(1, wl.lead, "ins", "y", 2, 1_000_000, start=ra.start, end=ra.start, new="y", cursor=ra.start + 1),
              Key(2, wl.files[wl.lead + 1][0], "ins", "z", 2, 2_000_000, start=rb.start, end=rb.start, new="z",
                  cursor=rb.start + 1),
              Key(3, wl.lead, "ins", "w", 3, 3_000_000, start=ra.start + 1, end=ra.start + 1, new="w",
                  cursor=ra.start + 2)]
    client = _StubClient()
    ed = NaiveEditor(client, "n", wl.regions, [[]] * len(wl.regions), settle_s=0.0,  # type: ignore[arg-type]  # a stub client
                     editors=wl.editors)
    ed.file_of = [0] * len(wl.regions)
    for fi, regs in enumerate(wl.files):
        for ri in regs:
            ed.file_of[ri] = fi
    ed.lead = wl.lead
    asyncio.run(ed.replay(played))
    prompts = {tag: b["prompt"] for tag, b in client.bodies}
    assert prompts["k0"].endswith(r0.truth[:r0.start][-20:] + "x")
    assert prompts["k1"].endswith("y") and prompts["k2"].endswith("z")
    assert prompts["k3"].endswith("yw")           # __init__.py's document was kept over the switch
    assert [r.doc for r in sorted(ed.res.reqs.values(), key=lambda r: r.key)] == [0, wl.lead, wl.lead + 1, wl.lead]


def test_ci_profile_end_to_end(tmp_path: Any) -> None:
    """A short ``ci``-style run (``ci-tiny``) through the real server and the naive client: the
    workspace folder is on disk, the last keystrokes are typed in an importing file, and the
    importing-file part has its own figures in both arms."""
    from tests.bench.run import parse, run

    res = run(parse(["--profile", "ci-tiny", "--seed", "3", "--fixed", "--modes", "v4",
                     "--metronome", "50,1000,5", "--no-plot", "--no-gate", "--quiet", "--no-calibrate",
                     "--out", str(tmp_path)]))
    sess = res["session"]
    ws = sess["workspace"][len("file://"):]
    for rel in ("json/__init__.py", "json/decoder.py", "json/encoder.py", "json/scanner.py", "json/tool.py"):
        assert os.path.isfile(os.path.join(ws, rel)), rel
    assert sess["importing_files"] == ["json/__init__.py", "json/tool.py"]
    played: dict[str, int] = {}
    for f in res["files"]:
        played[f["path"]] = played.get(f["path"], 0) + f["played_keystrokes"]["v4"]
    assert played["json/decoder.py"] > 0 and played["json/__init__.py"] > 0
    arms = res["modes"]["v4"]["arms"]
    s, b = arms["server"], arms["baseline"]
    # the budget is checked between typed units (a typo unit is several keystrokes): >= 36
    assert s["keystrokes"] == b["keystrokes"] >= 36
    n = s["imports"]["keystrokes"]
    assert n == b["imports"]["keystrokes"] and 16 <= n < s["keystrokes"] - 10
    assert b["imports"]["requests"] == n                   # naive: one request per keystroke
    assert s["imports"]["requests"] < n
    # the single-file part and the importing part add up to the arm
    for arm in (s, b):
        assert arm["single"]["keystrokes"] + n == arm["keystrokes"]
        assert arm["single"]["requests"] + arm["imports"]["requests"] == arm["upstream"]["total"]
    assert 0 < s["upstream"]["total"] < b["upstream"]["total"]
