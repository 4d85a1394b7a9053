"""prompt/fim.py: stable prompt starts, aligned windows, short suffixes, modes."""

from deepseek_ls.prompt.config import SHORT_PREFIX_CHARS
from deepseek_ls.prompt.fim import build_fim_prompt, short_fim_prompt, wants_multiline
from deepseek_ls.snapshot import DocumentSnapshot

BODY = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(800))


def doc(text, path="pkg/mod.py", uri="file:///w/pkg/mod.py"):
    return DocumentSnapshot(uri=uri, path=path, language_id="python", text=text, version=1)


def test_header_comes_first_with_path_and_language():
    p = build_fim_prompt(doc("x = 1\n"), 5)
    assert p.prompt.startswith("# Path: pkg/mod.py\n# Language: python\n")


def test_prompt_start_is_byte_identical_while_typing():
    text = BODY + "def g():\n    "
    prompts = []
    for typed in ["r", "re", "ret", "retu", "return", "return 4", "return 42"]:
        t = text + typed
        prompts.append(build_fim_prompt(doc(t), len(t)).prompt)
    first = prompts[0]
    for p in prompts:
        # everything but the typed tail is the same bytes
        assert p[: len(first) - 1] == first[:-1]


def test_window_start_moves_in_aligned_steps_only():
    starts = set()
    for cut in range(30000, 36000, 37):
        p = build_fim_prompt(doc(BODY), cut)
        starts.add(p.prompt.split("\n", 2)[2][:40])
    assert 1 <= len(starts) <= 3  # a few step changes over 6,000 characters of cursor travel


def test_prefix_respects_the_budget():
    p = build_fim_prompt(doc(BODY), len(BODY), prefix_chars=5000)
    assert len(p.prompt) < 5000 + 200


def test_suffix_is_short_and_line_aligned():
    text = "x = (" + ")\n" + "y = 2\n" * 200
    p = build_fim_prompt(doc(text), 5)
    assert p.suffix.startswith(")\n") and p.suffix.endswith("\n")
    assert len(p.suffix) <= 480 and p.suffix.count("\n") <= 13


def test_other_files_in_the_order_given_same_language_only_after_the_tail():
    """Other open files keep the order they come in (the order they were opened), so a new tab
    appended at the end leaves the prompt before it byte for byte; they follow the file's tail."""
    z = doc("def zed():\n    pass\n", "z.py", "file:///w/z.py")
    a = doc("def alpha():\n    pass\n", "a.py", "file:///w/a.py")
    md = DocumentSnapshot(uri="file:///w/r.md", path="r.md", language_id="markdown", text="# readme\n")
    text = "x = 1\n" + "".join(f"def g{i}():\n    return {i}\n" for i in range(40))
    p1 = build_fim_prompt(doc(text), 5, others=(z, md))
    p2 = build_fim_prompt(doc(text), 5, others=(z, md, a))
    assert p1.prompt.index("(later in this file)") < p1.prompt.index("# Other file: z.py")
    assert "readme" not in p1.prompt and "a.py" not in p1.prompt
    # the new tab is inserted right before the window: everything before it is unchanged
    at = p2.prompt.index("# Other file: a.py")
    assert p2.prompt[:at] == p1.prompt[:at]
    assert p2.prompt[at:].startswith("# Other file: a.py\ndef alpha():")
    assert p2.prompt.index("Other file: z.py") < at


def test_modes():
    assert wants_multiline("    ", "") is True           # empty line
    assert wants_multiline("def f(x):", "") is True       # block opener
    assert wants_multiline("x = foo(", ")") is True       # opener, only closers after
    assert wants_multiline("x = fo", "") is False         # end of a statement
    assert wants_multiline("x = ", "bar + 1") is False    # mid-line
    p = build_fim_prompt(doc("x = fo\n"), 6)
    assert p.stop == ("\n",) and p.max_tokens == 64 and not p.multiline
    p = build_fim_prompt(doc("def f():\n    \n"), 13)
    assert p.multiline and p.stop == ("\n\n",)


def test_file_tail_is_stable_while_typing_new_lines_above_it():
    head = "def f():\n    "
    tail = "".join(f"def g{i}():\n    return {i}\n" for i in range(60))
    prompts = []
    typed = ""
    for ch in "x = 1\n    y = 2\n    z":
        typed += ch
        text = head + typed + "\n" + tail
        prompts.append(build_fim_prompt(doc(text), len(head + typed)).prompt)
    marker = "(later in this file)\n"
    blocks = {p[p.index(marker): p.index("# Path: pkg/mod.py\n", p.index(marker))] for p in prompts}
    assert len(blocks) == 1 and "def g59" in blocks.pop()


def test_file_tail_is_skipped_near_the_end_of_the_file():
    p = build_fim_prompt(doc("x = 1\ny = 2\n"), 3)
    assert "later in this file" not in p.prompt


def test_a_sent_window_start_is_kept_within_the_slack():
    from deepseek_ls.prompt.fim import sticky_window_start, window_start

    budget = 5000
    base = BODY[:40000]
    start = window_start(base, budget)
    line = base.count("\n", 0, start)
    grown = base + "x = 1\n" * 150          # 900 more characters: within 25% of the budget
    assert window_start(grown, budget) != start  # stateless alignment would move
    assert sticky_window_start(grown, budget, line) == start
    far = base + "x = 1\n" * 400            # 2,400 more: over the slack, so it moves
    moved = sticky_window_start(far, budget, line)
    assert moved == window_start(far, budget) and len(far) - moved <= budget


def test_a_stale_window_start_never_costs_context():
    from deepseek_ls.prompt.fim import sticky_window_start, window_start

    budget = 5000
    text = BODY[:20000]
    late_line = BODY[:40000].count("\n")     # from a cursor further down, now past the cursor
    assert sticky_window_start(text, budget, late_line) == window_start(text, budget)
    p = build_fim_prompt(doc(text), len(text), prefix_chars=budget, window_hint=late_line)
    assert p.window_line == text.count("\n", 0, window_start(text, budget))


def test_the_project_context_comes_first_and_belongs_to_the_head():
    text = BODY + "def main():\n    "
    plain = build_fim_prompt(doc(text), len(text))
    assert build_fim_prompt(doc(text), len(text), project_context="") == plain  # "" changes nothing
    block = "# Project: demo\n# uses f0..f799\n"
    p = build_fim_prompt(doc(text), len(text), project_context=block)
    assert p.prompt == block + plain.prompt and p.suffix == plain.suffix
    assert p.head_len == len(block) + plain.head_len and p.window_line == plain.window_line
    unterminated = build_fim_prompt(doc(text), len(text), project_context=block.rstrip("\n"))
    assert unterminated.prompt == p.prompt  # it always ends its own line
    short = short_fim_prompt(p, doc(text), len(text)).prompt  # the project block (cached) stays first
    assert short.startswith(block + "# Path: ") and short.count("# Project") == 1


def test_the_short_prompt_is_the_header_and_the_nearest_lines_of_the_full_prompts_cursor():
    text = BODY + "def main():\n    total = "
    full = build_fim_prompt(doc(text), len(text))
    short = short_fim_prompt(full, doc(text), len(text))
    header = "# Path: pkg/mod.py\n# Language: python\n"
    assert short.prompt.startswith(header) and short.head_len == len(header)
    window = short.prompt[len(header):]
    assert text.endswith(window) and len(window) <= SHORT_PREFIX_CHARS
    assert text[len(text) - len(window) - 1] == "\n"  # whole lines
    assert short.window_line == text.count("\n", 0, len(text) - len(window))
    assert (short.suffix, short.multiline, short.stop, short.max_tokens, short.line_prefix) == \
        (full.suffix, full.multiline, full.stop, full.max_tokens, full.line_prefix)
    small = "x = 1\ny = "
    assert short_fim_prompt(build_fim_prompt(doc(small), len(small)), doc(small), len(small)).prompt == \
        "# Path: pkg/mod.py\n# Language: python\n" + small
