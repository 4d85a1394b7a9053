"""completion/postprocess.py."""

from deepseek_ls.completion.postprocess import postprocess


def pp(text, **kw):
    args = dict(multiline=False, line_prefix="", line_suffix="", following="", context_before="")
    args.update(kw)
    return postprocess(text, **args)


def test_single_line_is_cut_at_the_line_end():
    assert pp("foo()\nbar()") == "foo()"


def test_suffix_overlap_is_replaced_not_trimmed():
    # the closer stays in the text; the item replaces the one after the cursor (issue 9)
    from deepseek_ls.completion.postprocess import replaced_chars

    assert pp("a, b)", line_prefix="f(", line_suffix=")", context_before="f(") == "a, b)"
    assert replaced_chars("a, b)", "f(", ")") == 1


def test_unbalanced_closer_is_cut():
    assert pp("x)] + 1", line_prefix="f(", context_before="f(") == "x)"


def test_multiline_cut_at_blank_line_and_dedent():
    text = "return a\n    b = 2\n\nc = 1"
    assert pp(text, multiline=True, line_prefix="    ") == "return a\n    b = 2"
    assert pp("x = 1\n    y = 2\nz = 3", multiline=True, line_prefix="    ") == "x = 1\n    y = 2"


def test_multiline_stops_where_it_repeats_the_following_code():
    out = pp("a = 1\nb = 2\nreturn total\n", multiline=True, following="\nreturn total\n")
    assert out == "a = 1\nb = 2"


def test_empty_whitespace_and_repetitive_answers_are_dropped():
    assert pp("   ") == ""
    assert pp("x = 1\nx = 1\nx = 1", multiline=True) == ""
    assert pp("abababababababababababab") == ""
    assert pp("return x", line_suffix="return x") == ""


def test_brackets_inside_strings_do_not_count():
    assert pp('")" + x)', line_prefix="f(", context_before="f(") == '")" + x)'


def test_a_block_is_finished_once_post_processing_would_cut_the_rest():
    from deepseek_ls.completion.postprocess import block_finished

    # cursor on an empty line indented 8: a line indented 4 ends the block
    assert not block_finished("x = 1\n        y = 2", "        ", 12)
    assert block_finished("x = 1\n        y = 2\n    return x", "        ", 12)
    assert block_finished("x = 1\n\n        y", "        ", 12)                # a blank line
    assert block_finished("\n".join(["a = 1"] + ["        b = 2"] * 11), "        ", 12)  # 12 lines
    assert not block_finished("\n".join(["a = 1"] + ["        b = 2"] * 10), "        ", 12)


def test_a_closer_of_the_wrong_opener_is_cut():
    assert pp("[1, 2) + x", line_prefix="f(", context_before="f(") == "[1, 2"
