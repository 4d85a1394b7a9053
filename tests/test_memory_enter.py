"""Issue 9 kind 7 (fix9): typed-ahead memory survives the editor's Enter
between auto-paired brackets (``{|}`` becomes ``{\\n<indent>|\\n<indent>}``).

Each case types a remembered multi-line suggestion the way an editor with
auto-pairs and auto-indent does and checks, at every step, that the memory
answers and that accepting its answer gives the document the suggestion meant.
"""

import pytest

from deepseek_ls.completion.memory import Remembered, SuggestionMemory


def memory_with(prefix: str, suffix: str, text: str, language: str) -> SuggestionMemory:
    memory = SuggestionMemory()
    memory.remember("u", Remembered("id", prefix, suffix, text, language=language))
    return memory


def apply(prefix: str, suffix: str, text: str, replace: int) -> str:
    return prefix + text + suffix[replace:]


CASES = [
    # language, document before|after the cursor, answer, the block opener typed, the
    # editor's Enter expansion (new line's indentation, the closer line it moves down)
    ("go", "func f(x int) {\n\t", "\n}\n", "if x > 0 {\n\t\treturn\n\t}\n\tg()",
     "if x > 0 {", "\n\t\t", "\n\t}"),
    ("javascript", "function f(x) {\n    ", "\n}\n", "if (x) {\n        return 1;\n    }\n    return 0;",
     "if (x) {", "\n        ", "\n    }"),
    ("python", "def f():\n    ", "\n", 'd = {\n        "a": 1,\n        "b": 2,\n    }\n    return d',
     "d = {", "\n        ", "\n    }"),
    ("rust", "fn f() {\n    ", "\n}\n", "let v = vec![\n        1,\n    ];\n    v.len()",
     "let v = vec![", "\n        ", "\n    ]"),
    ("c", "int f(void) {\n    ", "\n}\n", "while (x) {\n        x--;\n    }\n    return x;",
     "while (x) {", "\n        ", "\n    }"),
]


@pytest.mark.parametrize("language, before, after, text, opener, newline, closer_line", CASES)
def test_enter_between_auto_paired_brackets_continues_from_memory(
        language, before, after, text, opener, newline, closer_line):
    meant = before + text + after
    memory = memory_with(before, after, text, language)
    closer = closer_line.strip()
    # the opener typed: the editor auto-closes it
    prefix, suffix = before + opener, closer + after
    hit = memory.recall("u", prefix, suffix)
    assert hit is not None and hit.replace == 1
    assert apply(prefix, suffix, hit.text, hit.replace) == meant
    # Enter: the editor indents the new line and moves the closer below it
    prefix, suffix = prefix + newline, closer_line + after
    hit = memory.recall("u", prefix, suffix)
    assert hit is not None, "Enter between brackets lost the suggestion"
    body = text[len(opener) + len(newline):text.index(closer_line)]
    assert (hit.text, hit.replace) == (body, 0)
    upto_closer = text[:text.index(closer_line) + len(closer_line)]
    assert apply(prefix, suffix, hit.text, 0) == before + upto_closer + after
    # typing on inside the block keeps answering
    prefix = prefix + body[:1]
    hit = memory.recall("u", prefix, suffix)
    assert hit is not None and hit.text == body[1:]
    # past the closer line (accepted, then the cursor after the closer): the rest
    prefix, suffix = before + upto_closer, after
    hit = memory.recall("u", prefix, suffix)
    assert hit is not None
    assert apply(prefix, suffix, hit.text, hit.replace) == meant


def test_a_shorter_editor_indentation_is_completed_by_the_rest():
    before, after = "func f(x int) {\n\t", "\n}\n"
    text = "if x > 0 {\n\t\treturn\n\t}\n\tg()"
    memory = memory_with(before, after, text, "go")
    prefix, suffix = before + "if x > 0 {\n\t", "\n\t}" + after  # the editor indented one tab only
    hit = memory.recall("u", prefix, suffix)
    assert (hit.text, hit.replace) == ("\treturn", 0)
    assert apply(prefix, suffix, hit.text, 0) == before + "if x > 0 {\n\t\treturn\n\t}" + after


def test_a_different_editor_indentation_or_closer_line_asks_anew():
    before, after = "function f(x) {\n    ", "\n}\n"
    text = "if (x) {\n        return 1;\n    }\n    return 0;"
    memory = memory_with(before, after, text, "javascript")
    # tabs where the suggestion has spaces
    assert memory.recall("u", before + "if (x) {\n\t\t", "\n    }" + after) is None
    # deeper than the suggestion's next line
    assert memory.recall("u", before + "if (x) {\n          ", "\n    }" + after) is None
    # the editor's closer line is not the suggestion's
    assert memory.recall("u", before + "if (x) {\n        ", "\n  }" + after) is None
    # a line of code, not a closer, appeared below
    assert memory.recall("u", before + "if (x) {\n        ", "\n    x" + after) is None
