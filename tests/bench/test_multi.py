"""The multi-file workload of the typing replay (profile ``multi``): project, region chains, visits,
the session editor, the naive replay over switches, the oracle on prompts with cross-file context,
and the switch figures.  Fast (no server) except one short end-to-end run."""
from __future__ import annotations

import ast
import asyncio
import os
from typing import Any

import pytest

from tests.bench import metrics, workload
from tests.bench.editor_model import Edit
from tests.bench.harness import Editor, Key, NaiveEditor, Req
from tests.fake_deepseek.oracle import Oracle


@pytest.fixture(scope="module")
def wl() -> workload.Workload:
    return workload.build_multi("multi", 1, world=workload.REAL)


def _top_level_names(text: str) -> set[str]:
    return {n.name for n in ast.parse(text).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def test_project_files_and_cross_file_names(wl: workload.Workload) -> None:
    assert wl.project is not None and wl.files is not None and wl.segments is not None
    assert sorted(wl.project) == ["json/__init__.py", "json/decoder.py", "json/encoder.py",
                                  "json/scanner.py", "json/tool.py"]
    texts, _ = workload.load_project(workload.JSON_PROJECT)
    # typed files are on disk as saved before the session (their bodies deleted), the others whole
    for fi, regs in enumerate(wl.files):
        first = wl.regions[regs[0]]
        assert wl.project[first.path] == first.initial, fi
    assert wl.project["json/encoder.py"] == texts["json/encoder.py"]
    # every typed file calls names that a sibling module of the project defines
    uses = {"json/__init__.py": ("JSONEncoder", "encoder.py"), "json/decoder.py": ("make_scanner", "scanner.py"),
            "json/tool.py": ("json.load", "__init__.py")}
    for regs in wl.files:
        path = wl.regions[regs[0]].path
        name, sibling = uses[path]
        typed = "".join(wl.regions[ri].typed for ri in regs)
        assert name in typed, path
        defined = _top_level_names(texts["json/" + sibling]) | {"make_scanner"}
        assert name.rsplit(".", 1)[-1] in defined


def test_region_chain_continues_on_one_document(wl: workload.Workload) -> None:
    assert wl.files is not None
    for regs in wl.files:
        chain = [wl.regions[ri] for ri in regs]
        for a, b in zip(chain, chain[1:]):
            # a finished region leaves exactly the next region's starting document
            assert a.truth == b.initial and a.path == b.path and a.end <= b.start
        # the last region's truth is the whole file (CRLF files in CRLF)
        text, spans = wl.oracle_truths()[wl.files.index(regs)]
        assert chain[-1].truth == text and spans == [(r.start, r.end) for r in chain]
    crlf = [wl.regions[regs[0]] for regs in wl.files if wl.editors[regs[0]][1] == "\r\n"]
    assert crlf and all("\r\n" in r.truth and "\n" not in r.truth.replace("\r\n", "") for r in crlf)


def test_visits_move_between_files_and_are_seeded() -> None:
    spec = workload.JSON_PROJECT
    a = workload.make_segments(spec, 1)
    assert a == workload.make_segments(spec, 1) and a != workload.make_segments(spec, 2)
    files = [f for f, _ in a]
    assert files[:8] == [0, 1, 0, 2, 0, 1, 0, 2]
    assert all(x != y for x, y in zip(files, files[1:]))
    assert all(spec.segment[0] <= n <= spec.segment[1] for _, n in a)
    # the profile's budget spans several visits to each file
    n, seen, budget = 0, [], workload.MULTI_PROFILES["multi"][1]
    assert budget is not None
    for f, k in a:
        if n >= budget:
            break
        seen.append(f)
        n += k
    assert len(seen) >= 8 and {0, 1, 2} <= set(seen)


def _context_prompt(wl: workload.Workload, fi: int, doc_prefix: str) -> str:
    """A prompt laid out as a context engine would: project-level context (definitions from the
    sibling modules), then the file's header and the document before the cursor."""
    assert wl.project is not None and wl.files is not None
    enc = wl.project["json/encoder.py"]
    i = enc.index("class JSONEncoder")
    path = wl.regions[wl.files[fi][0]].path
    return (f"# Context: json/encoder.py\n{enc[i:i + 600]}\n# Context: json/scanner.py\n"
            f"{wl.project['json/scanner.py'][:400]}\n# Path: {path}\n# Language: python\n{doc_prefix[-3000:]}")


@pytest.mark.parametrize("where", [0.0, 0.4, 0.8])
def test_oracle_answers_the_truth_with_cross_file_context(wl: workload.Workload, where: float) -> None:
    """The oracle finds the cursor from the prompt's end, whatever context sits at its start, in each
    typed file (CRLF included), and answers the rest of the true line; at a region's start after the
    earlier regions are done it answers that region, not the next function."""
    assert wl.files is not None
    o = Oracle()
    for text, spans in wl.oracle_truths():
        o.register(text, spans)
    for fi, regs in enumerate(wl.files):
        for ri in regs:
            r = wl.regions[ri]
            typed = r.typed
            p = int(len(typed) * where)
            if "\r" in typed[p - 1:p + 1]:
                p += 1
            doc = r.truth[:r.start + p] + r.truth[r.end:]          # the region typed up to p
            prompt = _context_prompt(wl, fi, doc[:r.start + p])
            text, info = o.answer(prompt, doc[r.start + p:r.start + p + 500], ["\n"])
            assert info["matched"], (r.path, r.qualname, p)
            want = typed[p:].split("\r\n" if "\r\n" in r.truth else "\n", 1)[0]
            if not info["wrong"]:
                assert text == want, (r.path, r.qualname, p)


def test_oracle_cursor_positions_are_unambiguous(wl: workload.Workload) -> None:
    """No 256-character tail of a typed region occurs in another registered file (the oracle would
    answer from the wrong file)."""
    truths = [t.replace("\r\n", "\n") for t, _ in wl.oracle_truths()]
    for fi, (text, spans) in enumerate(wl.oracle_truths()):
        lf = text.replace("\r\n", "\n")
        for a, b in spans:
            a2, b2 = a - text.count("\r\n", 0, a), b - text.count("\r\n", 0, b)
            for c in range(a2, b2, 97):
                tail = lf[max(0, c - 256):c]
                assert all(tail not in t for j, t in enumerate(truths) if j != fi)


# ---------------------------------------------------------------- the session editor

class _Recorder(Editor):
    """An editor without a server: records the hook calls and the document of every edit."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.events: list[tuple[str, str]] = []
        self.docs: list[tuple[int, str]] = []

    async def open(self, region: workload.Region) -> None:
        self.events.append(("open", region.path))

    async def focus(self, region: workload.Region) -> None:
        self.events.append(("focus", region.path))

    async def close(self) -> None:
        self.events.append(("close", ""))

    def edit(self, key: Key, e: Edit, accept_sid: str | None = None) -> None:
        self.docs.append((self.doc_id, self.text[:e.start] + e.new + self.text[e.end:]))


def _fast(wl: workload.Workload) -> list[list[workload.Unit]]:
    m = workload.TypingModel(metronome=(1.0, 1.0, 5), typo_p=0.0)
    return [workload.make_schedule(r.typed, 1, m) for r in wl.regions]


def test_session_keeps_each_file_open_and_resumes(wl: workload.Workload) -> None:
    assert wl.files is not None
    schedules = _fast(wl)
    ed = _Recorder("t", wl.regions, schedules, settle_s=0.0, editors=[(None, "\n")] * len(wl.regions))
    ed.switch_ms = ed.next_region_ms = 1.0
    # the decoder.py chain's first region (JSONDecoder.__init__) is finished in its 2nd visit and the
    # typist goes on with raw_decode in the same visit
    n_init = len(schedules[wl.files[1][0]])
    segs = [(0, 5), (1, 4), (0, 3), (2, 4), (1, n_init - 4 + 3)]
    res = asyncio.run(ed.run_session(wl.files, segs))
    opens = [p for k, p in ed.events if k == "open"]
    assert opens == ["json/__init__.py", "json/decoder.py", "json/tool.py"]        # didOpen once each
    assert [p for k, p in ed.events if k == "focus"][:2] == ["json/__init__.py", "json/decoder.py"]
    assert [k for k, _ in ed.events].count("close") == 3
    files = [ed.file_of[k.region] for k in res.keys] if ed.file_of else []
    assert files[:5] == [0] * 5 and files[5:9] == [1] * 4 and files[9:12] == [0] * 3
    # back in __init__.py the document continues where the first visit left it
    r0 = wl.regions[wl.files[0][0]]
    assert ed.docs[11] == (0, r0.truth[:r0.start] + r0.typed[:8] + r0.truth[r0.end:])
    # decoder.py: __init__ finished, a cursor move to raw_decode, typing goes on there
    dec = [wl.regions[ri] for ri in wl.files[1]]
    moves = [k for k in res.keys if k.kind == "mv"]
    assert len(moves) == 1 and moves[0].region == wl.files[1][1] and moves[0].cursor == dec[1].start
    last = [d for f, d in ed.docs if f == 1][-1]
    assert last.startswith(dec[0].truth[:dec[1].start] + dec[1].typed[:2])
    assert len(res.keys) == sum(n for _, n in segs)


class _StubClient:
    def __init__(self) -> None:
        self.bodies: list[tuple[str, dict[str, Any]]] = []

    async def fim(self, body: dict[str, Any], tag: str = "") -> tuple[int, str | None]:
        self.bodies.append((tag, body))
        return 0, None


def test_naive_replay_keeps_documents_over_switches(wl: workload.Workload) -> None:
    assert wl.files is not None
    r0, r1 = wl.regions[wl.files[0][0]], wl.regions[wl.files[1][0]]
    played = [Key(0, wl.files[0][0], "ins", "x", 2, 0, start=r0.start, end=r0.start, new="x", cursor=r0.start + 1),
              Key(1, wl.files[1][0], "ins", "y", 2, 1_000_000, start=r1.start, end=r1.start, new="y",
                  cursor=r1.start + 1),
              Key(2, wl.files[0][0], "ins", "z", 3, 2_000_000, start=r0.start + 1, end=r0.start + 1, new="z",
                  cursor=r0.start + 2)]
    client = _StubClient()
    ed = NaiveEditor(client, "n", wl.regions, [[]] * len(wl.regions), settle_s=0.0,  # type: ignore[arg-type]  # a stub client
                     editors=wl.editors)
    ed.file_of = [0] * len(wl.regions)
    for fi, regs in enumerate(wl.files):
        for ri in regs:
            ed.file_of[ri] = fi
    asyncio.run(ed.replay(played))
    prompts = {tag: b["prompt"] for tag, b in client.bodies}
    assert prompts["k0"].endswith("x") and prompts["k1"].endswith("y")
    assert prompts["k2"].endswith("xz")          # the first file's document was kept over the switch
    assert {r.doc for r in ed.res.reqs.values()} == {0, 1}


# ---------------------------------------------------------------- switch figures

def _rec(seq: int, t: int, hit: int, miss: int) -> dict[str, Any]:
    return {"seq": seq, "recv_ns": t, "done_ns": t + 1, "hit": hit, "miss": miss, "out": 1, "billed": True,
            "headers": {"x-bench-tag": f"k{seq}"},
            "body": {"prompt": {0: "a-x0", 1: "a-x1", 4: "b-4", 5: "b-5", 6: "a-x16", 7: "a-x17", 9: "b-9"}[seq]}}


def test_switch_metrics_first_request_after_a_switch() -> None:
    # files: region 0 -> file 0, region 1 -> file 1.  Visits: 0 (keys 0-2), 1 (3-5), 0 (6-8), 1 (9)
    regions = [0, 0, 0, 1, 1, 1, 0, 0, 0, 1]
    keys = [Key(i, r, "ins", "a", i, i * 10) for i, r in enumerate(regions)]
    for k in keys:
        k.req = f"k{k.i}"
    reqs = {f"k{i}": Req(f"k{i}", i, i, i * 10) for i in range(len(regions))}
    fake = [_rec(0, 1, 0, 100), _rec(1, 2, 90, 10),          # warm-up file 0
            _rec(4, 41, 0, 200), _rec(5, 51, 150, 50),       # file 1, first visit: the request of key 4 first
            _rec(6, 61, 80, 20), _rec(7, 71, 90, 10),        # back to file 0
            _rec(9, 91, 0, 100)]                             # file 1 again
    fake[2]["headers"] = {"x-bench-tag": "k4"}
    vs = metrics.visits(keys, [0, 1])
    assert [(v["file"], v["first"], v["last"], v["return"]) for v in vs] == [
        (0, 0, 2, False), (1, 3, 5, False), (0, 6, 8, True), (1, 9, 9, True)]
    m = metrics.switch_metrics(keys, reqs, fake, None, [0, 1], warmup=1, naive=True)
    assert m["switches"] == 3
    assert m["first_request"] == {"n": 3, "hit": 80, "miss": 320, "hit_fraction": 0.2}
    assert m["first_visit"]["n"] == 1 and m["first_visit"]["hit_fraction"] == 0.0
    assert m["return_visit"] == {"n": 2, "hit": 80, "miss": 120, "hit_fraction": 0.4}
    assert m["visit_requests"]["n"] == 5
    # why: the first prompt back in file 0 ("a-x16") shares "a-x1" with file 0's last prompt and
    # nothing with the previous request (file 1's "b-5")
    back = m["per_visit"][1]
    assert back["return"] and back["prompt_chars"] == 5
    assert back["shared_chars_same_file"] == 4 and back["shared_chars_previous"] == 0
    assert m["per_visit"][0]["shared_chars_same_file"] is None       # first visit to file 1
    # the warm-up hides the switch into file 1 when it starts before the first measured keystroke
    assert metrics.switch_metrics(keys, reqs, fake, None, [0, 1], warmup=4, naive=True)["switches"] == 2


# ---------------------------------------------------------------- end to end (short)

def test_multi_profile_end_to_end(tmp_path: Any) -> None:
    """A short multi-file session through the real server and the naive client: the server gets the
    workspace folder, the files are on disk, switches are measured in both arms."""
    from tests.bench.run import parse, run

    res = run(parse(["--profile", "multi-tiny", "--seed", "3", "--fixed", "--modes", "v4",
                     "--metronome", "50,1000,5", "--no-plot", "--no-gate", "--quiet", "--no-calibrate",
                     "--out", str(tmp_path)]))
    ws = res["session"]["workspace"]
    assert ws.startswith("file://") and os.path.isfile(ws[len("file://"):] + "/json/encoder.py")
    arms = res["modes"]["v4"]["arms"]
    s, b = arms["server"], arms["baseline"]
    assert s["switch"]["switches"] >= 2 and s["switch"]["switches"] == b["switch"]["switches"]
    assert b["upstream"]["total"] == b["keystrokes"]
    assert 0 < s["upstream"]["total"] < b["upstream"]["total"]
    played = [f for f in res["files"] if f["played_keystrokes"]["v4"]]
    assert len({f["path"] for f in played}) >= 2
