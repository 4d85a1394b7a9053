"""Fast checks of the context benchmark on tiny synthetic projects (no registry, no model)."""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
import pytest

from tests.context_bench.quality import (
    _request_only,
    first_line,
    near_prompt,
    oracle_prompt,
    paired,
    pick,
    reuse_arm,
    score,
)
from tests.context_bench.run import run_server_tasks
from tests.context_bench.tasks import build_tasks, is_hit, project_files
from tests.fake_deepseek import FakeDeepSeek

PY = {
    "pkg/__init__.py": "",
    "pkg/util.py": (
        "LIMIT = 3\n\n\n"
        "def helper(a, b):\n    \"\"\"Add.\"\"\"\n    return a + b\n\n\n"
        "class Thing:\n    def go(self):\n        return 1\n"),
    "pkg/main.py": (
        "from .util import helper\nfrom . import util\n\n\n"
        "def run(x):\n    total = helper(x, 2)  # 😀 emoji\n    return total\n"),
    "pkg/other.py": (
        "from pkg.util import Thing\n\n\n"
        "def make():\n    t = Thing()\n    return t\n"),
    "pkg/limits.py": (
        "from . import util\n\n\n"
        "def cap(n):\n    return min(n, util.LIMIT + 0)\n"),
    "pkg/self_def.py": (
        "from .util import helper\n\n\n"
        "def helper(a, b):\n    return a - b\n\n\n"
        "x = helper(1, 2) + 100\n"),
}

TS = {
    "src/a.ts": "export function add(x: number, y: number): number {\n  return x + y;\n}\n",
    "src/b/index.ts": "export const ZERO_VALUE = 0;\n",
    "src/c.ts": ("import { add as plus } from './a';\nimport { ZERO_VALUE } from './b';\n\n"
                 "// plus(1, 2) in a comment is not a task\n"
                 "export const three = plus(1, 2) + ZERO_VALUE;\n"),
}

GO = {
    "p/a.go": "package p\n\nfunc Helper(x int) int {\n\treturn x + 1\n}\n\nconst (\n\tMaxItems = 10\n)\n",
    "p/b.go": ("package p\n\ntype S struct{ Helper int }\n\nfunc use() int {\n"
               "\ts := S{\n\t\tHelper: 1,\n\t}\n\ty := Helper(3) + s.Helper\n\treturn y\n}\n"),
    "p/c.go": ("package p\n\nfunc lim() int {\n\treturn MaxItems * 2\n}\n\n"
               "const tmpl = `first\n\t{{ Helper 3 | trim }} in a raw string\n`\n"),
    "p/c_test.go": "package p\n\nfunc tl() int {\n\treturn Helper(1) + 0\n}\n",
}


def _make(tmp: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return tmp


def test_python_tasks_resolve_imports_and_blank_the_line(tmp_path: Path) -> None:
    root = _make(tmp_path, PY)
    tasks = {t.path: t for t in build_tasks("syn", root, "python", seed=1)}
    # self_def.py defines helper itself (its signature is in the file): no task there
    assert set(tasks) == {"pkg/main.py", "pkg/other.py", "pkg/limits.py"}
    t = tasks["pkg/main.py"]
    assert (t.name, t.definition.path, t.definition.signature) == ("helper", "pkg/util.py", "def helper(a, b):")
    assert t.definition.snippet.startswith("def helper(a, b):\n    \"\"\"Add.\"\"\"\n")
    assert t.expected == "total = helper(x, 2)  # 😀 emoji" and t.indent == "    "
    text, offset = t.document(root)
    assert text.split("\n")[t.line] == "    " and text[:offset].endswith("\n    ")
    assert "helper(x, 2)" not in text and text.count("\n") == PY["pkg/main.py"].count("\n")
    assert tasks["pkg/other.py"].definition.signature == "class Thing:"
    lim = tasks["pkg/limits.py"]
    assert (lim.name, lim.definition.signature) == ("util.LIMIT", "LIMIT = 3")
    # tabs: other files of the project, never the task file
    assert all(x.path not in x.tabs and len(x.tabs) == 3 for x in tasks.values())


def test_typescript_and_go_tasks(tmp_path: Path) -> None:
    ts = build_tasks("ts", _make(tmp_path / "ts", TS), "typescript", seed=0)
    assert [(t.path, t.expected) for t in ts] == [("src/c.ts", "export const three = plus(1, 2) + ZERO_VALUE;")]
    assert ts[0].definition.signature in ("export function add(x: number, y: number): number {",
                                          "export const ZERO_VALUE = 0;")
    go_root = _make(tmp_path / "go", GO)
    assert "p/c_test.go" not in project_files(go_root, "go")
    go = {t.path: t for t in build_tasks("go", go_root, "go", seed=0)}
    assert set(go) == {"p/b.go", "p/c.go"}
    # the composite-literal key "Helper: 1," and the selector s.Helper are not uses of func Helper
    assert go["p/b.go"].expected == "y := Helper(3) + s.Helper"
    assert go["p/b.go"].definition.signature == "func Helper(x int) int {"
    assert go["p/c.go"].definition.signature == "MaxItems = 10"   # not the use inside the raw string
    for seed in range(8):    # whatever the pick, never the line inside the raw string
        assert {t.definition.signature for t in build_tasks("go", go_root, "go", seed=seed)
                if t.path == "p/c.go"} == {"MaxItems = 10"}


def test_task_selection_is_deterministic(tmp_path: Path) -> None:
    root = _make(tmp_path, PY)
    a = [t.to_json() for t in build_tasks("syn", root, "python", seed=7)]
    b = [t.to_json() for t in build_tasks("syn", root, "python", seed=7)]
    assert a == b
    assert len(build_tasks("syn", root, "python", seed=7, limit=2)) == 2


def test_hit_check(tmp_path: Path) -> None:
    t = next(x for x in build_tasks("syn", _make(tmp_path, PY), "python") if x.path == "pkg/main.py")
    assert is_hit(t, "# Path: pkg/util.py\ndef helper(a, b):\n    return a + b\n# Path: pkg/main.py\n")
    assert is_hit(t, "x", suffix="\ndef helper(a, b):\n")
    assert not is_hit(t, "from .util import helper\nhelper(1, 2)\n")
    assert not is_hit(t, "def helper(a, c):\n")


def test_scores_and_oracle_prompt(tmp_path: Path) -> None:
    assert first_line("\nfoo(1)\nbar") == "foo(1)"
    assert score("  total = helper(x, 2)\n    return", "total = helper(x, 2)")["exact"]
    s = score("total = helper(x)", "total = helper(x, 2)")
    assert not s["exact"] and 0.5 < s["similarity"] < 1
    assert score(None, "x")["similarity"] == 0
    t = next(x for x in build_tasks("syn", _make(tmp_path, PY), "python") if x.path == "pkg/main.py")
    prompt = ("# Path: pkg/main.py\n# Language: python\n# Path: pkg/main.py (later in this file)\nz\n\n"
              "# Path: pkg/main.py\nfrom .util import helper\n")
    o = oracle_prompt(t, prompt)
    assert is_hit(t, o) and o.endswith("# Path: pkg/main.py\nfrom .util import helper\n")
    assert o.startswith("# Path: pkg/main.py\n# Language: python\n# Path: pkg/main.py (later")
    bare = oracle_prompt(t, "# Path: pkg/main.py\n# Language: python\nimport x\n")
    assert bare.endswith("\n\n# Path: pkg/main.py\nimport x\n") and is_hit(t, bare)
    groups = [(Path("a"), ["a1", "a2", "a3"]), (Path("b"), ["b1"]), (Path("c"), [])]
    assert [t for _, t in pick(groups, 4)] == ["a1", "b1", "a2", "a3"]


def test_near_prompt_moves_the_context_next_to_the_window_and_reuse_arm(tmp_path: Path) -> None:
    """The ``near`` arm: the engine's P H F T M W layout becomes H T P F M W, same text."""
    t = next(x for x in build_tasks("syn", _make(tmp_path, PY), "python") if x.path == "pkg/main.py")
    p = "# Other file: pkg/x.py\nX = 1\n\n"
    h = "# Path: pkg/main.py\n# Language: python\n"
    f = "# Other file: pkg/util.py\ndef helper(a, b):\n\n"
    tail = "# Path: pkg/main.py (later in this file)\nz\n\n"
    m = "# Path: pkg/main.py\nfrom .util import helper\n"
    near = near_prompt(t, p + h + f + tail + m)
    assert near == h + tail + p + f + m
    assert near_prompt(t, p + h + f + m) == h + p + f + m           # no file tail
    assert near_prompt(t, h + tail + m) == h + tail + m              # no context: unchanged
    assert near_prompt(t, "no header here\n") is None
    assert near_prompt(t, p + h + "import x\n") == h + p + "# Path: pkg/main.py\nimport x\n"   # P H W
    assert near_prompt(t, h + "import x\n") == h + "import x\n"
    rows = [{"task": "a"}, {"task": "b", "naive": {"exact": False}}, {"task": "c"}]
    src = [{"task": "a", "naive": {"exact": True}}, {"task": "b", "naive": {"exact": True}}]
    assert reuse_arm(rows, src) == 1
    assert rows[0]["naive"] == {"exact": True, "reused": True} and rows[1]["naive"] == {"exact": False}
    assert "naive" not in rows[2]
    assert reuse_arm(rows, [{"task": "c", "server": {"exact": True}}], "nocontext", "server") == 1
    assert rows[2]["nocontext"] == {"exact": True, "reused": True}


def test_server_over_lsp_one_tab_misses_and_open_definition_hits(tmp_path: Path) -> None:
    """The real server: without the context engine (context.enabled false) and only the task
    file open, the definition is not sent; with the defining file open as a tab (the "other
    open files" context) it is; with the engine on (the default), one tab is enough."""
    root = _make(tmp_path, PY)
    t = next(x for x in build_tasks("syn", root, "python") if x.path == "pkg/main.py")
    few = type(t)(**{**t.__dict__, "tabs": ("pkg/util.py",)})
    off = {"enabled": False}
    with FakeDeepSeek() as fake:
        fake.fim_handler = lambda body: "total = helper(x, 2)"
        one = asyncio.run(run_server_tasks(fake, root, [t], "one", workdir=str(tmp_path), context=off))[0]
        both = asyncio.run(run_server_tasks(fake, root, [few], "few", workdir=str(tmp_path), context=off))[0]
        engine = asyncio.run(run_server_tasks(fake, root, [t], "one", workdir=str(tmp_path)))[0]
    assert one["requests"] == 1 and not one["hit"] and one["prompt_chars"] > 0
    assert one["ghost"] == "total = helper(x, 2)" and one["raw"] == "total = helper(x, 2)"
    assert both["requests"] == 1 and both["hit"] and both["def_file_open"]
    assert both["prompt_chars"] > one["prompt_chars"]
    assert engine["requests"] == 1 and engine["hit"]  # issue 12: the definition reaches the prompt
    assert one["build_ms"] is not None and one["prompt_tokens"] > 0


def test_fake_runs_blocking_fim_handler_off_its_event_loop() -> None:
    seen: list[threading.Thread] = []

    class Slow:
        blocking = True

        def __call__(self, body: dict) -> str:
            seen.append(threading.current_thread())
            return "x = 1\ny = 2"

    with FakeDeepSeek() as fake:
        fake.fim_handler = Slow()
        r = httpx.post(f"{fake.base_url}/beta/completions", headers={"Authorization": "Bearer sk-test"},
                       json={"model": "deepseek-flash", "prompt": "a", "suffix": "b", "max_tokens": 8,
                             "stop": ["\n"]})
        loop_thread = fake._thread
    assert r.status_code == 200 and r.json()["choices"][0]["text"] == "x = 1"
    assert seen and seen[0] is not loop_thread


def test_real_model_mode_explains_a_missing_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests import realmodel
    from tests.fake_deepseek.realmodel import RealModelError, RealModelFIM
    monkeypatch.setenv("DEEPSEEK_LS_REALMODEL_DIR", str(tmp_path))
    ok, why = realmodel.installed()
    assert not ok and "python -m tests.realmodel setup" in why
    with pytest.raises(RealModelError, match="tests.realmodel setup"):
        RealModelFIM()
    # a file of the wrong size is refused before any hashing
    (tmp_path / realmodel.MODEL_FILE).write_bytes(b"GGUF")
    assert "expected 1117320768" in realmodel.installed()[1]
    segs = realmodel.fim_segments("def f(", "\n")
    assert segs == [("<|fim_prefix|>", True), ("def f(", False), ("<|fim_suffix|>", True), ("\n", False),
                    ("<|fim_middle|>", True)]


def test_near_arm_on_the_engine_request_over_lsp(tmp_path: Path) -> None:
    """The ``near`` arm's base without a ``server`` arm: the engine server's real request, answered
    by the fake itself (the model handler is not called and is put back); rewritten, the definition
    sits after the file's header, right before the window."""
    root = _make(tmp_path, PY)
    t = next(x for x in build_tasks("syn", root, "python") if x.path == "pkg/main.py")
    calls: list[dict[str, object]] = []

    def handler(body: dict[str, object]) -> str:
        calls.append(body)
        return "x"

    with FakeDeepSeek() as fake:
        fake.fim_handler = handler
        body = _request_only(fake, root, t, {"timeoutMs": 5000})
        assert fake.fim_handler is handler
    assert not calls and body is not None and is_hit(t, body["prompt"])
    near = near_prompt(t, body["prompt"])
    assert near is not None and is_hit(t, near)
    assert near.startswith("# Path: pkg/main.py\n# Language: python\n") and near.endswith(body["prompt"][-40:])
    assert near.index("def helper(a, b):") > near.index("# Language: python")


def test_paired_exact_match_sign_test() -> None:
    def row(a: bool, b: bool) -> dict[str, dict[str, bool]]:
        return {"nocontext": {"exact": a}, "server": {"exact": b}}
    # 5 won / 4 lost of 70: noise (the 70-task run of session 6)
    rows = [row(False, True)] * 5 + [row(True, False)] * 4 + [row(True, True)] * 19 + [row(False, False)] * 42
    t = paired(rows, "server")
    assert t == {"n": 70, "won": 5, "lost": 4, "p": 1.0}
    # 8 / 0: two-sided exact p = 2 / 2**8
    t = paired([row(False, True)] * 8 + [{"nocontext": {"exact": True}}], "server")
    assert t == {"n": 8, "won": 8, "lost": 0, "p": round(2 / 256, 3)}
    assert paired([{"nocontext": {"exact": True}}], "oracle") is None
