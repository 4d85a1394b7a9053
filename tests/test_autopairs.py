"""Issue 9, kinds 1-4 and 7: accepting a suggestion leaves the code the model meant.

Each test states the cursor line (``|`` marks the cursor), the raw model
answer, and the exact line(s) after accepting: the suggestion inserted at
the cursor, replacing the ``replaced_chars`` characters after it.
"""

import pytest

from deepseek_ls.completion.memory import Remembered, SuggestionMemory
from deepseek_ls.completion.postprocess import postprocess, replaced_chars


def accept(before: str, raw: str, after: str = "", multiline: bool = False) -> str:
    """The document after accepting ``raw`` (post-processed) at the ``|`` of ``before|after``.

    ``before``: the text up to the cursor (it may hold earlier lines);
    ``after``: the text after it.
    """
    line_prefix = before[before.rfind("\n") + 1:]
    line_suffix = after.split("\n", 1)[0]
    text = postprocess(raw, multiline=multiline, line_prefix=line_prefix, line_suffix=line_suffix,
                       following=after, context_before=before)
    assert text, "the suggestion was dropped"
    return before + text + after[replaced_chars(text, line_prefix, line_suffix):]


# -- kind 1: closers (and quotes) already after the cursor --------------------
@pytest.mark.parametrize("before, after, raw, result", [
    # the example: ( auto-closed, the answer runs through it
    ("def area(", ")", "width: float, height: float) -> float:",
     "def area(width: float, height: float) -> float:"),
    ("xs = [", "]", "1, 2, 3]", "xs = [1, 2, 3]"),
    ("const o = {", "}", " a: 1 };", "const o = { a: 1 };"),
    ("const o = { ", " }", "a: 1 };", "const o = { a: 1 };"),
    ("total = f([", "])", "1, 2]) + 3", "total = f([1, 2]) + 3"),
    # the cursor inside a string literal: its closing quote counts too
    ('print("', '")', 'hello")', 'print("hello")'),
    ('x = "', '"', 'hello" + name', 'x = "hello" + name'),
    ('print("', '")', 'hello") + len(x))', 'print("hello") + len(x)'),  # one ) too many: cut
    ("open('", "')", "data.txt', 'r')", "open('data.txt', 'r')"),
    ("const s = `", "`", "hello ${name}`;", "const s = `hello ${name}`;"),
    ('s = f"{', '}"', 'total}"', 's = f"{total}"'),
    ('doc = """', '"""', 'Sum of a and b."""', 'doc = """Sum of a and b."""'),
    # punctuation after the closer that was already there (or that the answer repeats)
    ("foo(", ");", "a, b);", "foo(a, b);"),
    ("foo(", ");", "a, b)", "foo(a, b);"),
    ("x = foo(", ") + bar", "a) + baz", "x = foo(a) + baz + bar"),  # code after the closer stays
    ("if (", ") {", "x > 0) {", "if (x > 0) {"),
    ("def area(", "):", "w: float) -> float:", "def area(w: float) -> float:"),
    # the answer re-types the rest of the line, closers or not
    ("x = f(", ", b)", "a, b)", "x = f(a, b)"),
    ("x = f(", ", b)", "a,", "x = f(a, b)"),
    # answers that stop before the closer leave it alone
    ("def area(", ")", "width: float", "def area(width: float)"),
    ('print("', '")', "hello", 'print("hello")'),
    ("f(g(", "))", "x)", "f(g(x))"),
    # no auto-pair: nothing after the cursor to replace
    ("print(", "", "x)", "print(x)"),
])
def test_closers_after_the_cursor_are_replaced_not_duplicated(before, after, raw, result):
    assert accept(before, raw, after) == result


def test_a_multi_line_answer_closing_the_call_replaces_the_auto_closed_bracket():
    raw = "\n    a,\n    b,\n)\nprint(foo)"
    assert accept("foo(", raw, ")\n", multiline=True) == "foo(\n    a,\n    b,\n)\n"
    raw = "\n  return 1;\n}\nfunction g() {}"
    assert accept("function f() {", raw, "}\n", multiline=True) == "function f() {\n  return 1;\n}\n"


# -- kind 2: the suggestion's own closers are not the ones after the cursor ----
@pytest.mark.parametrize("before, after, raw, result", [
    ("print(", ")", "format_greeting(user.name)", "print(format_greeting(user.name))"),
    ("print(", ")", "foo(bar())", "print(foo(bar()))"),
    ("xs = [", "]", "f(x)[0]", "xs = [f(x)[0]]"),
    ("o = {", "}", "a: {b: 1}", "o = {a: {b: 1}}"),
    ("print(", ")", '"a)"', 'print("a)")'),
    ("print(", ")", '"hello"', 'print("hello")'),
    ('print("', '")', 'he said \\"hi\\"', 'print("he said \\"hi\\"")'),
    ("log(", ");", "fmt(x)", "log(fmt(x));"),
])
def test_the_suggestions_own_closers_are_kept(before, after, raw, result):
    assert accept(before, raw, after) == result


def test_replaced_chars_counts_only_closers_of_openers_before_the_cursor():
    assert replaced_chars("format_greeting(user.name)", "print(", ")") == 0
    assert replaced_chars("user.name)", "print(", ")") == 1
    assert replaced_chars("x", "print(", "") == 0
    assert replaced_chars("", "print(", ")") == 0
    # the rest of the line is not eaten by a lookalike identifier
    assert replaced_chars("get_name(a)", "f(", "name)") == 0


# -- kind 3: indentation on a blank line ---------------------------------------
FOR_BODY = "def total(xs):\n    t = 0\n    for x in xs:\n"


@pytest.mark.parametrize("cursor, raw", [
    ("", "        t += x\n        print(t)"),          # column 0, the answer fully indented
    ("    ", "        t += x\n        print(t)"),      # column 4: 4 of the 8 are already there
    ("        ", "        t += x\n        print(t)"),  # column 8 and the answer repeats it
    ("        ", "t += x\n        print(t)"),          # column 8, the answer continues it
    ("        ", "    t += x\n        print(t)"),      # less than the cursor: starts at the cursor
])
def test_a_blank_lines_answer_lands_at_the_blocks_indentation(cursor, raw):
    out = accept(FOR_BODY + cursor, raw, "\n    return t\n", multiline=True)
    assert out == FOR_BODY + "        t += x\n        print(t)\n    return t\n"


def test_tabs_on_a_blank_line():
    out = accept("for x in xs:\n\t", "\t\tt += x\n\t\tprint(t)", "\n", multiline=True)
    assert out == "for x in xs:\n\t\tt += x\n\t\tprint(t)\n"


def test_a_dedent_below_the_first_lines_indentation_ends_the_block():
    out = accept(FOR_BODY, "        t += x\n    return t", "\n", multiline=True)
    assert out == FOR_BODY + "        t += x\n"


# -- kind 4: the suggestion re-types the code that follows ----------------------
def test_a_first_line_equal_to_the_next_line_is_dropped():
    text = postprocess("return Config(**data)", multiline=True, line_prefix="    ", line_suffix="",
                       following="\n    return Config(**data)\n", context_before="def load(data):\n    ")
    assert text == ""
    # fully indented at column 0 (kind 3 and 4 together)
    text = postprocess("    return Config(**data)\n    x = 1", multiline=True, line_prefix="", line_suffix="",
                       following="\n    return Config(**data)\n    x = 1\n", context_before="def load(data):\n")
    assert text == ""


@pytest.mark.parametrize("cursor, raw, after, kept", [
    # a later suggested line starts the repetition
    ("    ", "data = json.load(f)\n    return Config(**data)", "\n    return Config(**data)\n",
     "data = json.load(f)"),
    # a short closer line
    ("  ", "return 1;\n}", "\n}\n", "return 1;"),
    # short list items, two following lines repeated
    ("    ", "5,\n    6,\n    7,\n    8,", "\n    7,\n    8,\n]\n", "5,\n    6,"),
    ("    ", "5,\n    6,\n    7,", "\n    7,\n    8,\n]\n", "5,\n    6,"),
    # the repetition starts at the second or third following line
    ("    ", "c = 3\n    return a + b", "\n    a = 1\n    return a + b\n", "c = 3"),
    ("    ", "y = 2\n    x = load()\n    return x", "\n    x = load()\n    return x\n", "y = 2"),
])
def test_repeated_following_lines_are_cut(cursor, raw, after, kept):
    text = postprocess(raw, multiline=True, line_prefix=cursor, line_suffix="", following=after,
                       context_before="f(\n" + cursor)
    assert text == kept


def test_a_closer_of_the_suggestions_own_block_is_not_a_repetition():
    raw = "if (x) {\n    y();\n  }\n  return 1;"
    text = postprocess(raw, multiline=True, line_prefix="  ", line_suffix="", following="\n}\n",
                       context_before="function f() {\n  ")
    assert text == raw
    # a short line equal to the next one but followed by more suggestion is kept
    raw = "a = [\n        7,\n        9,\n    ]"
    text = postprocess(raw, multiline=True, line_prefix="    ", line_suffix="", following="\n        7,\n",
                       context_before="def f():\n    ")
    assert text == raw


# -- kind 7: typed-ahead memory while the editor edits after the cursor ----------
PREFIX = "def report(total):\n    print"
SUFFIX = "\n"


def memory_with(text: str, prefix: str = PREFIX, suffix: str = SUFFIX) -> SuggestionMemory:
    memory = SuggestionMemory()
    memory.remember("u", Remembered("id1", prefix, suffix, text))
    return memory


def test_typing_an_auto_closed_opener_continues_from_memory():
    memory = memory_with('(f"total: {total}")')
    hit = memory.recall("u", PREFIX + "(", ")" + SUFFIX)  # the editor made it ()
    assert (hit.text, hit.replace) == ('f"total: {total}")', 1)
    hit = memory.recall("u", PREFIX + '(f"', '")' + SUFFIX)  # and the quote ""
    assert (hit.text, hit.replace) == ('total: {total}")', 2)
    hit = memory.recall("u", PREFIX + '(f"total: {', '}")' + SUFFIX)  # { auto-closed in a string
    assert (hit.text, hit.replace) == ('total}")', 3)
    hit = memory.recall("u", PREFIX + '(f"total: {total}', '")' + SUFFIX)  # } typed over
    assert (hit.text, hit.replace) == ('")', 2)
    hit = memory.recall("u", PREFIX + '(f"total: {total}")', SUFFIX)  # all typed over
    assert (hit.text, hit.replace) == ("", 0)
    # an editor without auto-pairs: nothing after the cursor changes
    hit = memory.recall("u", PREFIX + '(f"', SUFFIX)
    assert (hit.text, hit.replace) == ('total: {total}")', 0)


def test_typing_over_a_closer_the_suggestion_replaces():
    prefix, suffix = "def area(", ")\n"
    memory = memory_with("width: float) -> float:", prefix, suffix)
    hit = memory.recall("u", prefix, suffix)
    assert (hit.text, hit.replace) == ("width: float) -> float:", 1)
    hit = memory.recall("u", prefix + "width: float", suffix)
    assert (hit.text, hit.replace) == (") -> float:", 1)
    hit = memory.recall("u", prefix + "width: float)", "\n")  # the editor skipped over its )
    assert (hit.text, hit.replace) == (" -> float:", 0)
    # the ) typed in an editor that does not skip: two ), not what the suggestion meant
    assert memory.recall("u", prefix + "width: float)", ")\n") is None


def test_memory_refuses_text_after_the_cursor_the_suggestion_does_not_write():
    memory = memory_with('(f"total: {total}")')
    assert memory.recall("u", PREFIX + "(", "x" + SUFFIX) is None        # not a closer
    assert memory.recall("u", PREFIX + "(", "]" + SUFFIX) is None        # a closer it never writes
    assert memory.recall("u", PREFIX + "(", ")" + "\nmore") is None      # the tail changed
    assert memory.recall("u", PREFIX + "[", "]" + SUFFIX) is None        # typed something else


def test_enter_between_brackets_keeps_the_rest_of_a_multi_line_suggestion():
    prefix, suffix = "foo(", ")\nx = 1\n"
    memory = memory_with("\n    a,\n    b,\n)", prefix, suffix)
    # the editor answers Enter with an indented line and the ) on the next one
    hit = memory.recall("u", prefix + "\n    ", "\n)\nx = 1\n")
    assert (hit.text, hit.replace) == ("a,\n    b,", 0)
    assert prefix + "\n    " + hit.text + "\n)\nx = 1\n" == "foo(\n    a,\n    b,\n)\nx = 1\n"
    # an editor that indents the ) differently: not what the suggestion writes
    assert memory.recall("u", prefix + "\n    ", "\n  )\nx = 1\n") is None


def test_a_closer_on_the_cursor_line_is_covered_only_by_the_rests_first_line():
    """A closer the editor put after the cursor is replaced only when the rest of the suggestion
    writes it on this line (or the rest starts a block on the next line); a ``)`` further down a
    multi-line rest belongs to other code, and replacing this line's closer would lose it."""
    from deepseek_ls.completion.memory import Remembered, follow

    entry = Remembered("id", "x = f(", ")\n", "a,\n    b=g(1))", 0, "python")
    # the typist typed "a" then an auto-paired "(" elsewhere is not the case; here the editor left
    # a ")" after the cursor that the first line "a," does not write
    assert follow(entry, "x = f(a", "))\n") is None
    block = Remembered("id2", "x = f", "\n", "(\n    a,\n)", 0, "python")
    hit = follow(block, "x = f(", ")\n")           # "(" typed, the editor closed it
    assert hit is not None and hit.text == "\n    a,\n)" and hit.replace == 1
