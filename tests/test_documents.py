"""deepseek_ls/documents.py: the server's own document model, with LSP's rules.

The fuzz part checks the model against a reference written independently
here (a character scanner for line breaks, column math through
``str.encode``), after every one of thousands of random edits. Its size:
``DEEPSEEK_LS_FUZZ_EDITS`` edits per encoding (default 3000), seed
``DEEPSEEK_LS_FUZZ_SEED`` (default 20261130).
"""

from __future__ import annotations

import os
import random

import pytest

from deepseek_ls.documents import Document, DocumentStore, normalize_eol, split_lines, to_eol
from deepseek_ls.edits import apply_edits, minimal_edits

ENCODINGS = ("utf-16", "utf-8", "utf-32")
FUZZ_EDITS = int(os.environ.get("DEEPSEEK_LS_FUZZ_EDITS", "3000"))
FUZZ_SEED = int(os.environ.get("DEEPSEEK_LS_FUZZ_SEED", "20261130"))


# -- the reference ----------------------------------------------------------------
def ref_lines(text: str) -> list[tuple[int, int, int]]:
    """``(start, end, next_start)`` of each line, scanning characters one by one."""
    lines = []
    start = i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\n" or ch == "\r":
            width = 2 if ch == "\r" and i + 1 < len(text) and text[i + 1] == "\n" else 1
            lines.append((start, i, i + width))
            i += width
            start = i
        else:
            i += 1
    lines.append((start, len(text), len(text)))
    return lines


def ref_width(ch: str, encoding: str) -> int:
    if encoding == "utf-16":
        return len(ch.encode("utf-16-le")) // 2
    if encoding == "utf-8":
        return len(ch.encode("utf-8"))
    return 1


def ref_offset(text: str, line: int, character: int, encoding: str) -> int:
    lines = ref_lines(text)
    if line >= len(lines):
        return len(text)
    start, end, _ = lines[line]
    units = 0
    i = start
    while i < end and units < character:  # a position inside a character moves past it
        units += ref_width(text[i], encoding)
        i += 1
    return i


def ref_apply(text: str, start: tuple[int, int], end: tuple[int, int], new: str, encoding: str) -> str:
    a = ref_offset(text, *start, encoding)
    b = ref_offset(text, *end, encoding)
    a, b = min(a, b), max(a, b)
    return text[:a] + new + text[b:]


def ref_eol(text: str) -> str:
    crlf = text.count("\r\n")
    counts = {"\n": text.count("\n") - crlf, "\r\n": crlf, "\r": text.count("\r") - crlf}
    best = max(counts.values())
    return next(b for b in ("\n", "\r\n", "\r") if counts[b] == best)


def ref_line_units(text: str, line: int, encoding: str) -> int:
    start, end, _ = ref_lines(text)[line]
    return sum(ref_width(ch, encoding) for ch in text[start:end])


def check(doc: Document, ref: str) -> None:
    assert doc.raw_text == ref
    assert doc.text == ref.replace("\r\n", "\n").replace("\r", "\n")
    assert doc.line_count == len(ref_lines(ref))
    assert doc.eol == ref_eol(ref)
    assert len(doc) == len(doc.text)


# -- random edits ---------------------------------------------------------------------
PIECES = ["a", "b", "x", " ", "    ", "def f():", "😀", "👍🏽", "中", "文字", "e\u0301", "\u0301",
          "\r\n", "\r", "\n", "\n\n", "\r\r\n", "\f", "\v", "\u2028", "\u2029", "\x85", "\x1c", "\t"]


def random_text(rng: random.Random, pieces: int) -> str:
    return "".join(rng.choice(PIECES) for _ in range(pieces))


def random_position(rng: random.Random, text: str, encoding: str) -> tuple[int, int]:
    lines = ref_lines(text)
    roll = rng.random()
    if roll < 0.05:
        return len(lines) + rng.randint(0, 3), rng.randint(0, 10)  # past the last line
    line = rng.randrange(len(lines))
    width = ref_line_units(text, line, encoding)
    if roll < 0.15:
        return line, width + rng.randint(1, 5)  # past the end of the line
    return line, rng.randint(0, width)  # may fall inside a character: rounds forward


def random_edit(rng: random.Random, text: str, encoding: str):
    """``(start, end, new)``; ``start`` may come after ``end``; ``None`` range for a full change.

    Mostly typing-sized edits near one place (the document stays a few hundred
    characters long), sometimes a range across lines, reversed or out of range.
    """
    if rng.random() < 0.005:
        return None, None, random_text(rng, rng.randint(0, 60))
    start = random_position(rng, text, encoding)
    roll = rng.random()
    if roll < 0.45:
        end = start
    elif roll < 0.97:  # a few units further on the same line, or on one of the next lines
        end = (start[0] + rng.choice((0, 0, 0, 1, 2)), start[1] + rng.randint(-2, 4))
        end = (end[0], max(0, end[1]))
    else:
        end = random_position(rng, text, encoding)
    size = len(text)
    pieces = rng.randint(0, 8) if size < 400 else rng.randint(0, 3) if size < 900 else 0
    return start, end, random_text(rng, pieces)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_fuzz_incremental_sync_matches_the_reference(encoding):
    rng = random.Random(f"{FUZZ_SEED}-{encoding}")
    ref = random_text(rng, 40)
    doc = Document("file:///f.py", ref, language_id="python", version=0)
    check(doc, ref)
    for version in range(1, FUZZ_EDITS + 1):
        start, end, new = random_edit(rng, ref, encoding)
        if start is None:
            doc.replace_all(new, version)
            ref = new
        else:
            doc.change(start, end, new, encoding, version)
            ref = ref_apply(ref, start, end, new, encoding)
        assert doc.version == version
        check(doc, ref)


def test_the_reference_agrees_with_hand_made_cases():
    # the fuzz is only as good as its reference
    assert [text[s:e] for text in ["a\r\nb\rc\nd\f\u2028e"] for s, e, _ in ref_lines(text)] == \
        ["a", "b", "c", "d\f\u2028e"]
    assert ref_offset("😀x", 0, 2, "utf-16") == 1 and ref_offset("😀x", 0, 4, "utf-8") == 1
    assert ref_offset("😀x", 0, 1, "utf-16") == 1  # inside the pair: forward
    assert ref_offset("ab\ncd", 5, 0, "utf-16") == 5 and ref_offset("ab\ncd", 0, 9, "utf-16") == 2


# -- the rules, one by one -------------------------------------------------------------
@pytest.mark.parametrize("separator", ["\f", "\v", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_characters_that_are_not_lsp_line_breaks_stay_inside_their_line(separator):
    # the example: a Python file with a page-break line, then an edit below it
    text = f"import os\n{separator}\ndef f():\n    return 1\n"
    doc = Document("file:///p.py", text)
    assert doc.line_count == 5 and doc.line(1) == separator
    doc.change((3, 11), (3, 12), "2")
    assert doc.text == f"import os\n{separator}\ndef f():\n    return 2\n"
    doc.change((2, 0), (2, 0), "@cache\n")
    assert doc.line(2) == "@cache" and doc.line(4) == "    return 2"


def test_positions_past_the_end_of_a_line_or_document_clamp():
    doc = Document("u", "ab\r\ncd\n")
    doc.change((0, 99), (0, 99), "!")  # before the CRLF, not after it
    assert doc.raw_text == "ab!\r\ncd\n"
    doc.change((99, 0), (99, 5), "end")  # past the last line: the document's end
    assert doc.raw_text == "ab!\r\ncd\nend"
    doc.change((1, 1), (42, 0), "")  # from inside line 1 to the end
    assert doc.raw_text == "ab!\r\nc"
    assert doc.offset_at(7, 7) == len(doc.text) and doc.offset_at(0, 50) == 3


def test_negative_numbers_clamp_to_the_start():
    doc = Document("u", "ab\ncd")
    doc.change((-1, -5), (0, -1), "X")
    assert doc.text == "Xab\ncd" and doc.offset_at(-3, 1) == 1


def test_a_reversed_range_is_the_same_range_the_right_way_round():
    doc = Document("u", "one\ntwo\nthree\n")
    doc.change((2, 3), (0, 1), "X")
    assert doc.text == "oXee\n"


@pytest.mark.parametrize("encoding, column", [("utf-16", 9), ("utf-8", 15), ("utf-32", 8)])
def test_each_encoding_counts_columns_after_emoji_and_cjk(encoding, column):
    text = 'x = "😀中文" + y\n'  # the closing quote: after 8 code points, 9 UTF-16 units, 15 bytes
    doc = Document("u", text)
    assert doc.line(0)[doc.clamp(0, column, encoding)[1]] == '"'
    doc.change((0, column), (0, column + 1), "'", encoding)
    assert doc.text == 'x = "😀中文\' + y\n'
    assert doc.position_at(8, encoding) == (0, column)
    assert doc.offset_at(0, column, encoding) == 8


def test_a_position_inside_a_character_rounds_forward():
    doc = Document("u", "😀b")
    doc.change((0, 1), (0, 1), "|", "utf-16")
    assert doc.text == "😀|b"
    doc.change((0, 2), (0, 2), "^", "utf-8")  # byte 2 of the emoji
    assert doc.text == "😀^|b"


def test_mixed_line_endings_keep_every_break_and_normalise_for_the_core():
    doc = Document("u", "a\r\nb\nc\r\nd\re")
    assert doc.raw_text == "a\r\nb\nc\r\nd\re"
    assert doc.text == "a\nb\nc\nd\ne" and doc.eol == "\r\n"
    doc.change((1, 1), (1, 1), "\r\nb2")
    assert doc.raw_text == "a\r\nb\r\nb2\nc\r\nd\re" and doc.line(2) == "b2"
    doc.change((0, 0), (5, 9), "x\ny\nz\n")
    assert doc.eol == "\n" and doc.text == "x\ny\nz\n"


def test_a_lone_cr_meeting_a_lf_becomes_one_line_break():
    # insert "\n" right after a lone CR (the CR ends line 0, the LF starts line 1)
    doc = Document("u", "a\rb")
    doc.change((1, 0), (1, 0), "\nz")
    assert doc.raw_text == "a\r\nzb" and doc.line_count == 2 and doc.line(1) == "zb"
    # delete what stood between a lone CR and a LF: two breaks become one
    doc = Document("u", "a\rX\nb")
    doc.change((1, 0), (1, 1), "")
    assert doc.raw_text == "a\r\nb" and doc.line_count == 2
    # insert a CR before a LF
    doc = Document("u", "a\nb")
    doc.change((0, 1), (0, 1), "\r")
    assert doc.raw_text == "a\r\nb" and doc.line_count == 2 and doc.eol == "\r\n"


def test_empty_and_single_line_documents():
    doc = Document("u", "")
    assert doc.line_count == 1 and doc.text == "" and doc.eol == "\n" and len(doc) == 0
    doc.change((0, 0), (0, 0), "\r\n")
    assert doc.line_count == 2 and doc.eol == "\r\n" and len(doc) == 1
    doc.change((0, 0), (1, 0), "")
    assert doc.raw_text == "" and doc.line_count == 1


def test_split_lines_and_conversions():
    assert split_lines("a\r\nb\rc\nd") == (["a", "b", "c", "d"], ["\r\n", "\r", "\n", ""])
    assert split_lines("a\r\nb\r\n") == (["a", "b", ""], ["\r\n", "\r\n", ""])
    assert split_lines("a\fb\n") == (["a\fb", ""], ["\n", ""])
    assert normalize_eol("a\r\nb\rc\n") == "a\nb\nc\n"
    assert to_eol("a\nb\r\nc", "\r\n") == "a\r\nb\r\nc" and to_eol("a\r\nb", "\n") == "a\nb"


def test_the_store_opens_gets_and_closes():
    store = DocumentStore()
    store.open("file:///a.py", "x", language_id="python", version=3)
    assert "file:///a.py" in store and store.get("file:///a.py").version == 3 and len(store) == 1
    assert store.close("file:///a.py") and not store.close("file:///a.py") and store.get("file:///a.py") is None


def test_large_document_edits_touch_only_their_lines():
    line = "value = compute(alpha, beta, gamma)  # 😀 comment\r\n"
    doc = Document("u", line * 200_000)
    lines = doc._lines
    before = lines[150_000]
    doc.change((100_000, 5), (100_000, 5), "_x")
    assert doc._lines is lines and lines[150_000] is before  # no copy, no re-split of the rest
    assert doc.line(100_000).startswith("value_x =")
    assert doc.eol == "\r\n" and doc.line_count == 200_001


# -- edits back to the editor keep its line endings --------------------------------------
def test_minimal_edits_never_rewrite_a_line_break():
    raw = "def f(x):\r\n    y = x\r\n    return y\r\n"
    doc = Document("u", raw)
    # the model answers with LF (or CRLF) lines; the edits are made on the LF text
    for answer in ("def f(x):\n    y = x + 1\n    return y\n", "def f(x):\r\n    y = x + 1\r\n    return y\r\n"):
        edits = minimal_edits(doc.text, 0, len(doc.text), answer)
        assert all("\n" not in e.new_text and "\r" not in e.new_text for e in edits)
        assert apply_edits(doc.text, edits) == "def f(x):\n    y = x + 1\n    return y\n"
    # several lines changed at once: line by line, the breaks in between stay untouched
    edits = minimal_edits(doc.text, 0, len(doc.text), "def g(x):\n    y = x\n    return -y\n")
    assert [e.new_text for e in edits] == ["g", "-"]
    # a new line: its break is written in the document's style by the adapter
    edits = minimal_edits(doc.text, 0, len(doc.text), "def f(x):\n    y = x\n    y += 1\n    return y\n")
    [edit] = edits
    new_raw = _apply_to_raw(doc, edit.start, edit.end, to_eol(edit.new_text, doc.eol))
    assert new_raw == "def f(x):\r\n    y = x\r\n    y += 1\r\n    return y\r\n"


def _apply_to_raw(doc: Document, start: int, end: int, new: str) -> str:
    """Apply an edit given in LF offsets to the raw text, as an editor does with its LSP range."""
    a, b = doc.position_at(start), doc.position_at(end)
    doc.change(a, b, new)
    return doc.raw_text
