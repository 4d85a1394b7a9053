"""positions.py: UTF-16 / UTF-8 / UTF-32 conversions and clamping."""

import pytest

from deepseek_ls.positions import line_bounds, offset_at, position_at, units

TEXT = 'a = "😋x"\nb = "中文"\r\nc\x0cd\u2028e\n'


def test_utf16_counts_astral_characters_as_two_units():
    # 'a = "' is 5 units, the emoji 2, so 'x' is at 7
    assert TEXT[offset_at(TEXT, 0, 7)] == "x"
    assert offset_at(TEXT, 0, 7, "utf-32") == 7  # code points: past 'x'
    assert TEXT[offset_at(TEXT, 0, 6, "utf-32")] == "x"


def test_utf8_counts_bytes():
    # '中' is 3 bytes: 'b = "' (5) + 6 bytes = the closing quote at 11
    assert TEXT[offset_at(TEXT, 1, 11, "utf-8")] == '"'


def test_form_feed_and_line_separator_do_not_split_lines():
    start, end = line_bounds(TEXT, 2)
    assert TEXT[start:end] == "c\x0cd\u2028e"
    assert TEXT[offset_at(TEXT, 2, 4)] == "e"


def test_crlf_is_one_line_break_and_not_part_of_the_line():
    start, end = line_bounds(TEXT, 1)
    assert TEXT[start:end] == 'b = "中文"'
    assert offset_at(TEXT, 1, 99) == end  # clamped before \r\n


def test_lone_cr_is_a_line_break():
    text = "a\rb\nc"
    assert offset_at(text, 1, 0) == 2 and offset_at(text, 2, 1) == 5


def test_positions_past_the_end_are_clamped():
    assert offset_at(TEXT, 99, 0) == len(TEXT)
    assert offset_at("abc", 0, 10) == 3  # not len-1 as pygls does
    assert offset_at(TEXT, 3, 0) == len(TEXT)  # the empty last line
    assert offset_at("", 0, 5) == 0


def test_position_inside_a_surrogate_pair_rounds_forward():
    assert offset_at("😋x", 0, 1) == 1


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8", "utf-32"])
def test_round_trip_every_offset(encoding):
    for offset in range(len(TEXT) + 1):
        if TEXT[offset - 1: offset + 1] == "\r\n":
            continue
        line, character = position_at(TEXT, offset, encoding)
        assert offset_at(TEXT, line, character, encoding) == offset


def test_units():
    assert units("😋中a", "utf-16") == 4
    assert units("😋中a", "utf-8") == 8
    assert units("😋中a", "utf-32") == 3


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8", "utf-32"])
def test_round_trip_on_lf_only_text_with_page_breaks_and_emoji(encoding):
    text = TEXT.replace("\r\n", "\n") + "\f\n中😋\u2028x\n"
    for offset in range(len(text) + 1):
        line, character = position_at(text, offset, encoding)
        assert line == text.count("\n", 0, offset)
        assert offset_at(text, line, character, encoding) == offset


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8", "utf-32"])
def test_string_positions_agree_with_the_document_model(encoding):
    import random

    from deepseek_ls.documents import Document
    from tests.test_documents import random_position, random_text

    rng = random.Random(encoding)
    for _ in range(200):
        raw = random_text(rng, 30)
        doc = Document("u", raw)
        for _ in range(5):
            line, character = random_position(rng, raw, encoding)
            assert offset_at(doc.text, line, character, encoding) == doc.offset_at(line, character, encoding)
            offset = rng.randint(0, len(doc.text))
            assert position_at(doc.text, offset, encoding) == doc.position_at(offset, encoding)
