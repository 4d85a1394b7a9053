"""A suggestion typed between brackets the editor split with Enter (closer alone on a line below).

After Enter between auto-paired brackets (``return cls(|)`` becoming
``return cls(⏎        |⏎    )``) the closer already sits on a line of its
own. An answer that closes that bracket itself is cut before its closer, so
accepting it keeps that line and leaves one closer (an inline item's range
cannot cover that line: VS Code shows no ghost text for a range over several
lines). Each test states the document around the cursor, the raw answer, and
the exact document after accepting it.
"""

import asyncio

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from deepseek_ls.completion.memory import Remembered, SuggestionMemory
from deepseek_ls.completion.postprocess import cut_before_split_closer, postprocess, replaced_chars
from tests.conftest import inline_params, open_doc
from tests.fake_deepseek.server import FakeDeepSeek


def accept(before: str, raw: str, after: str, language: str = "python") -> str:
    """The document after accepting ``raw`` (post-processed, multi-line) at the ``|`` of ``before|after``."""
    line_prefix = before[before.rfind("\n") + 1:]
    line_suffix = after.split("\n", 1)[0]
    text = postprocess(raw, multiline=True, line_prefix=line_prefix, line_suffix=line_suffix,
                       following=after, context_before=before, language_id=language)
    assert text, "the suggestion was dropped"
    return before + text + after[replaced_chars(text, line_prefix, line_suffix, language):]


CASES = [
    # the replay's case: Python call, the answer ends the call at the end of its last line
    ("py-call", "python",
     "    def encode(self, obj):\n        return cls(\n            ",
     "check_circular=c,\n            separators=s,\n            **kw).encode(obj)",
     "\n        )\n",
     "    def encode(self, obj):\n        return cls(\n            check_circular=c,\n"
     "            separators=s,\n            **kw\n        )\n"),
    # the answer ends the call on a line of its own: that line repeats the editor's, cut
    ("py-own-line", "python",
     "x = f(\n    ", "a,\n    b,\n)", "\n)\n", "x = f(\n    a,\n    b,\n)\n"),
    ("py-list", "python",
     "xs = [\n    ", "1,\n    2]", "\n]\n", "xs = [\n    1,\n    2\n]\n"),
    ("py-dict", "python",
     "d = {\n    ", "'a': 1,\n    'b': 2}", "\n}\n", "d = {\n    'a': 1,\n    'b': 2\n}\n"),
    # a single-line answer is cut the same way
    ("py-one-line", "python",
     "print(\n    ", "x, y)", "\n)\n", "print(\n    x, y\n)\n"),
    # JS/TS: the closer line holds two closers and punctuation
    ("js-callback", "javascript",
     "foo(function () {\n  ", "bar();\n  return 1;\n});", "\n});\n",
     "foo(function () {\n  bar();\n  return 1;\n});\n"),
    ("ts-arrow", "typescript",
     "app.get('/', (req, res) => {\n  ", "res.send('ok');\n})", "\n})\n",
     "app.get('/', (req, res) => {\n  res.send('ok');\n})\n"),
    ("js-object-arg", "javascript",
     "f({\n  ", "a: 1,\n  b: 2 })", "\n})\n", "f({\n  a: 1,\n  b: 2\n})\n"),
    # Go: a block and a call
    ("go-block", "go",
     "func f() {\n\t", "x := 1\n\treturn x }", "\n}\n", "func f() {\n\tx := 1\n\treturn x\n}\n"),
    ("go-call", "go",
     "fmt.Println(\n\t", "a,\n\tb)", "\n)\n", "fmt.Println(\n\ta,\n\tb\n)\n"),
    ("go-if", "go",
     "if ok(\n\t", "a, b) {", "\n) {\n", "if ok(\n\ta, b\n) {\n"),
    # Rust: lifetimes in the answer are not quotes
    ("rust-vec", "rust",
     "let v = vec![\n    ", "s.as_ref::<&'a str>(),\n    t]", "\n];\n",
     "let v = vec![\n    s.as_ref::<&'a str>(),\n    t\n];\n"),
    ("rust-block", "rust",
     "fn f<'a>(s: &'a str) -> &'a str {\n    ", "let t = s.trim();\n    t }", "\n}\n",
     "fn f<'a>(s: &'a str) -> &'a str {\n    let t = s.trim();\n    t\n}\n"),
    # punctuation after the editor's closer stays once: `):`, `],`
    ("py-def", "python",
     "def area(\n    ", "width: float,\n    height: float) -> float:", "\n):\n",
     "def area(\n    width: float,\n    height: float\n):\n"),
    ("py-list-item", "python",
     "rows = [\n    [\n        ", "1, 2],", "\n    ],\n]\n", "rows = [\n    [\n        1, 2\n    ],\n]\n"),
    # the answer does not close the bracket: the closer line stays, nothing cut
    ("not-closing", "python",
     "x = f(\n    ", "a,\n    b,", "\n)\n", "x = f(\n    a,\n    b,\n)\n"),
    # the answer closes only brackets it opened itself
    ("own-brackets", "python",
     "x = f(\n    ", "g(a),\n    [b, c],", "\n)\n", "x = f(\n    g(a),\n    [b, c],\n)\n"),
    # nested: two split brackets, the answer closes only the inner one (its line stays)
    ("nested-inner", "python",
     "x = {\n    'a': [\n        ", "1, 2]", "\n    ]\n}\n", "x = {\n    'a': [\n        1, 2\n    ]\n}\n"),
    # nested on one closer line: the answer closes the inner, the outer's closer follows it
    ("nested-one-line", "python",
     "foo(bar(\n    ", "x, y)", "\n))\n", "foo(bar(\n    x, y\n))\n"),
    # the innermost opener has no closer below (deeper than the closer line): its ) is the answer's
    ("inner-unclosed", "python",
     "foo(\n    bar(", "x)", "\n)\n", "foo(\n    bar(x)\n)\n"),
    # the answer closes its own bracket, then the split one: cut before the latter
    ("own-then-split", "python",
     "foo(\n    ", "bar(x),\n    y)", "\n)\n", "foo(\n    bar(x),\n    y\n)\n"),
    # a closer in a string or a comment of the answer does not count
    ("closer-in-string", "python",
     "print(\n    ", "')', x)  # )", "\n)\n", "print(\n    ')', x\n)\n"),
    # emoji and CJK before the cursor
    ("emoji-cjk", "python",
     "s = fmt('😋中文', [\n    ", "'点',\n    '😋']", "\n])\n", "s = fmt('😋中文', [\n    '点',\n    '😋'\n])\n"),
]


@pytest.mark.parametrize("name, language, before, raw, after, result", CASES, ids=[c[0] for c in CASES])
def test_an_answer_closing_a_split_off_bracket_keeps_the_editors_closer_line(
        name: str, language: str, before: str, raw: str, after: str, result: str) -> None:
    assert accept(before, raw, after, language) == result


def test_a_closer_on_the_cursor_line_is_still_replaced() -> None:
    """The rest of the cursor line not blank: the same-line rule (range over the closer) applies."""
    assert accept("x = f(", "a,\n    b)", ")\n") == "x = f(a,\n    b)\n"


def test_an_answer_that_is_only_the_closer_is_dropped() -> None:
    text = postprocess(")", multiline=True, line_prefix="    ", line_suffix="", following="\n)\n",
                       context_before="f(\n    ")
    assert text == ""


def test_the_cut_keeps_a_text_without_split_closers_unchanged() -> None:
    assert cut_before_split_closer("a)", "f(\n    ", "\nx = 1\n") == "a)"   # no closer line below
    assert cut_before_split_closer("a)", "f(\n    ", " \n)\n") == "a"    # blanks after the cursor
    assert cut_before_split_closer("a]", "f([\n    ", "\n)\n") == "a]"  # another kind of closer below


def test_crlf_answers_are_cut_like_lf_ones() -> None:
    raw = "check_circular=c,\r\n    **kw).encode(obj)"
    assert accept("return cls(\n    ", raw, "\n)\n") == "return cls(\n    check_circular=c,\n    **kw\n)\n"


# -- typed-ahead memory after Enter between brackets ----------------------------------------------
def test_memory_after_enter_serves_the_rest_up_to_its_own_closer() -> None:
    memory = SuggestionMemory()
    memory.remember("u", Remembered("id", "foo(", ")\nx = 1\n", "\n    a,\n    b).bar()", language="python"))
    hit = memory.recall("u", "foo(\n    ", "\n)\nx = 1\n")  # Enter: the editor split the pair
    assert hit is not None
    assert (hit.text, hit.replace) == ("a,\n    b", 0)
    assert "foo(\n    " + hit.text + "\n)\nx = 1\n" == "foo(\n    a,\n    b\n)\nx = 1\n"
    # a rest closing nothing below is not served (it would leave the closer line wrong)
    memory.remember("u", Remembered("id2", "g(", ")\n", "\n    a,\n    b", language="python"))
    assert memory.recall("u", "g(\n    ", "\n)\n") is None


# -- end to end ---------------------------------------------------------------------------------------
def _offset(text: str, position: types.Position) -> int:
    lines = text.split("\n")
    start = sum(len(line) + 1 for line in lines[: position.line])
    units = 0
    for i, ch in enumerate(text[start:]):
        if units >= position.character or ch == "\n":
            return start + i
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(text)


def accepted(text: str, item: types.InlineCompletionItem) -> str:
    """``text`` (LF or CRLF) after the editor applies an inline item; CRLF kept as such."""
    lf = text.replace("\r\n", "\n")
    assert item.range is not None
    assert isinstance(item.insert_text, str)
    new = item.insert_text.replace("\r\n", "\n")
    out = lf[: _offset(lf, item.range.start)] + new + lf[_offset(lf, item.range.end):]
    return out.replace("\n", "\r\n") if "\r\n" in text else out


async def _items(client: LanguageClient, line: int, character: int) -> list[types.InlineCompletionItem]:
    """The items of a manual inline completion request at ``line``:``character`` (UTF-16)."""
    result = await client.text_document_inline_completion_async(inline_params(line, character, manual=True))
    assert isinstance(result, types.InlineCompletionList)
    return list(result.items)


REPLAY = ("class JSONEncoder:\n    @classmethod\n    def dumps(cls, obj, **kw):\n        return cls(\n"
          "            \n        )\n\n")


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
async def test_lsp_the_replays_answer_leaves_one_closer(client: LanguageClient, fake: FakeDeepSeek,
                                                        eol: str) -> None:
    text = REPLAY.replace("\n", eol)
    open_doc(client, text)
    fake.fim_handler = lambda body: "check_circular=c,\n            separators=s,\n            **kw).encode(obj)"
    [item] = await _items(client, 4, 12)
    assert item.range == types.Range(start=types.Position(line=4, character=12),
                                     end=types.Position(line=4, character=12))
    assert isinstance(item.insert_text, str) and (eol in item.insert_text or eol == "\n")
    lines = accepted(text, item).split(eol)
    assert lines[3:9] == ["        return cls(", "            check_circular=c,", "            separators=s,",
                          "            **kw", "        )", ""]


async def test_lsp_utf16_positions_with_emoji_and_cjk_before_the_cursor(client: LanguageClient,
                                                                        fake: FakeDeepSeek) -> None:
    text = "x = f('😋中文', g(\n    中😋 = 1, \n))\n"  # line 1: 4 + 1 + 2 + 6 = 13 UTF-16 units
    open_doc(client, text)
    fake.fim_handler = lambda body: "b=2)"
    await asyncio.sleep(0.05)
    [item] = await _items(client, 1, 13)
    assert item.range is not None and item.range.start == item.range.end == types.Position(line=1, character=13)
    assert accepted(text, item) == "x = f('😋中文', g(\n    中😋 = 1, b=2\n))\n"


def test_memory_after_enter_keeps_asking_when_its_own_closer_line_differs() -> None:
    """A rest whose closer sits alone on its line is served only when the editor's closer line is
    that line (tests/test_autopairs.py); at another indentation it asks anew."""
    memory = SuggestionMemory()
    memory.remember("u", Remembered("id", "foo(", ")\n", "\n    a,\n)", language="python"))
    assert memory.recall("u", "foo(\n    ", "\n  )\n") is None
