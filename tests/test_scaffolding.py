"""Ghost text never shows the prompt's own scaffolding lines (issue 12, answer side).

The FIM prompt names files with comment lines (``<c> Path: <path>``, ``<c> Language: <lang>``,
``<c> Path: <path> (later in this file)``, ``<c> Other file: <path>``); a model sometimes copies
one into its answer. Core tests for each marker, comment style, first vs later line and CRLF, and
one through the LSP.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from deepseek_ls.completion.answer import AnswerCleaner
from deepseek_ls.completion.postprocess import Scaffolding, postprocess, scaffolding_of, strip_scaffolding
from deepseek_ls.prompt.fim import FimPrompt, build_fim_prompt, comment_prefix
from deepseek_ls.snapshot import DocumentSnapshot
from tests.conftest import inline_params, open_doc
from tests.fake_deepseek import FakeDeepSeek

#: (language id, its comment marker in prompts)
STYLES = [("python", "#"), ("go", "//"), ("typescript", "//"), ("lua", "--"), ("clojure", ";;"),
          ("vim", '"'), ("erlang", "%")]


def _doc(language: str, text: str, path: str = "src/app.x") -> DocumentSnapshot:
    return DocumentSnapshot.from_text(f"file:///w/{path}", path, language, text)


def _prompt(language: str, *, context: str = "", project: str = "", tail: bool = True) -> FimPrompt:
    """A real prompt (build_fim_prompt) with the cursor at the start of an empty line."""
    text = "a = 1\n\nb = 2\n" + ("z = 3\n" * 5 if tail else "")
    offset = len("a = 1\n")
    return build_fim_prompt(_doc(language, text), offset, project_context=project, file_context=context,
                            tail_chars=4000 if tail else 0)


def _members(c: str) -> dict[str, str]:
    return {"path": f"{c} Path: src/app.x", "language": "",  # filled per style below
            "later": f"{c} Path: src/app.x (later in this file)", "other": f"{c} Other file: lib/util.x"}


def _scaffolding_and_line(language: str, c: str, member: str) -> tuple[Scaffolding, str]:
    """The scaffolding of a real prompt that names another file, and its ``member`` line."""
    fim = _prompt(language, context=f"{c} Other file: lib/util.x\ndef util(): ...\n\n")
    return scaffolding_of(fim.prompt[:fim.head_len]), _members(c)[member] or f"{c} Language: {language}"


@pytest.mark.parametrize("language,c", STYLES)
def test_the_prompt_scaffolding_is_found_for_each_comment_style(language: str, c: str) -> None:
    assert comment_prefix(language) == c
    fim = _prompt(language, context=f"{c} Other file: lib/util.x\ndef util(): ...\n\n")
    sc = scaffolding_of(fim.prompt[:fim.head_len])
    assert sc.markers == {c}
    assert sc.paths == {"src/app.x", "lib/util.x"}
    assert sc.languages == {language}


@pytest.mark.parametrize("member", ["path", "language", "later", "other"])
@pytest.mark.parametrize("language,c", STYLES)
def test_a_leading_scaffolding_line_is_dropped(language: str, c: str, member: str) -> None:
    sc, line = _scaffolding_and_line(language, c, member)
    assert sc.matches(line)
    raw = f"{line}\nb = 2\nc = 3"
    assert strip_scaffolding(raw, sc, "") == "b = 2\nc = 3"
    # through the whole post-processing, multi-line and single-line
    assert postprocess(raw, multiline=True, line_prefix="", line_suffix="", following="", context_before="",
                       scaffolding=sc) == "b = 2\nc = 3"
    assert postprocess(raw, multiline=False, line_prefix="", line_suffix="", following="", context_before="",
                       scaffolding=sc) == "b = 2"
    # a single-line answer that is only the scaffolding line: nothing shown
    assert postprocess(line, multiline=False, line_prefix="", line_suffix="", following="", context_before="",
                       scaffolding=sc) == ""


@pytest.mark.parametrize("member", ["path", "language", "later", "other"])
@pytest.mark.parametrize("language,c", STYLES)
def test_an_answer_is_cut_at_a_later_scaffolding_line(language: str, c: str, member: str) -> None:
    sc, line = _scaffolding_and_line(language, c, member)
    raw = f"b = 2\nc = 3\n\n{line}\ndef other_file(): ..."
    assert strip_scaffolding(raw, sc, "") == "b = 2\nc = 3\n"
    assert postprocess(raw, multiline=True, line_prefix="", line_suffix="", following="", context_before="",
                       max_lines=20, scaffolding=sc) == "b = 2\nc = 3"


@pytest.mark.parametrize("language,c", STYLES)
def test_crlf_answers(language: str, c: str) -> None:
    fim = _prompt(language)
    sc = scaffolding_of(fim.prompt[:fim.head_len])
    raw = f"{c} Path: src/app.x\r\nb = 2\r\nc = 3\r\n{c} Language: {language}\r\nx"
    assert postprocess(raw, multiline=True, line_prefix="", line_suffix="", following="", context_before="",
                       scaffolding=sc) == "b = 2\nc = 3"
    assert sc.matches(f"{c} Path: src/app.x\r")


def test_a_crlf_document_through_the_answer_cleaner() -> None:
    """The server keeps ``\\n`` text for a CRLF file (eol apart); the answer may still use CRLF."""
    doc = DocumentSnapshot.from_text("file:///w/src/app.py", "src/app.py", "python",
                                     "def f():\n    \n    return 1\n", eol="\r\n")
    offset = len("def f():\n    ")
    fim = build_fim_prompt(doc, offset)
    cleaner = AnswerCleaner(fim, doc.text[:offset], doc.text[offset:], "python", 12)
    assert cleaner.clean("# Path: src/app.py\r\n    x = 1\r\n    y = 2\r\n") == "x = 1\n    y = 2"
    assert cleaner.clean("x = 1\r\n# Language: python\r\nimport os\r\n") == "x = 1"


def test_user_comments_that_look_alike_are_kept() -> None:
    fim = _prompt("python", context="# Other file: lib/util.x\ndef util(): ...\n\n")
    sc = scaffolding_of(fim.prompt[:fim.head_len])
    for line in ("# Path: explained below", "# Other file: see README", "# Language: english",
                 "# Path: src/app.x is the entry point", "// Path: src/app.x",  # another comment style
                 "# Other file: lib/util.x (later in this file)", "x = 1  # Path: src/app.x"):
        assert not sc.matches(line), line
        raw = f"{line}\nb = 2"
        assert strip_scaffolding(raw, sc, "") == raw
        assert strip_scaffolding(f"b = 2\n{line}\nc = 3", sc, "") == f"b = 2\n{line}\nc = 3"


def test_paths_quoted_inside_other_files_are_not_scaffolding() -> None:
    """A comment in another file's text (not after a blank line) does not teach a new path."""
    context = "# Other file: lib/util.x\ndef util():\n# Path: explained below\n    return 1\n\n"
    fim = _prompt("python", context=context)
    sc = scaffolding_of(fim.prompt[:fim.head_len])
    assert "explained below" not in sc.paths
    assert not sc.matches("# Path: explained below")


def test_scaffolding_in_the_project_block_and_any_path_shape() -> None:
    """A path the prompt names in one shape is scaffolding in the others too (the model mixes them)."""
    fim = _prompt("go", project="// Other file: pkg/a.go\nfunc A() {}\n\n// Other file: pkg/b.go\nfunc B() {}\n\n")
    sc = scaffolding_of(fim.prompt[:fim.head_len])
    assert {"pkg/a.go", "pkg/b.go", "src/app.x"} <= sc.paths
    assert sc.matches("// Path: pkg/b.go") and sc.matches("// Other file: src/app.x")
    assert not sc.matches("// Path: pkg/c.go")


def test_mid_line_the_first_line_is_code_and_later_lines_are_checked() -> None:
    fim = _prompt("python")
    sc = scaffolding_of(fim.prompt[:fim.head_len])
    # after code on the cursor line, the answer's first line continues that code
    assert strip_scaffolding("(1)\n# Path: src/app.x\nz", sc, "x = f") == "(1)"
    # leading blank lines before the scaffolding go too; indentation of the next line is the cursor's
    assert postprocess("\n# Path: src/app.x\n    y = 2", multiline=False, line_prefix="    ", line_suffix="",
                       following="", context_before="", scaffolding=sc) == "y = 2"
    # an answer of scaffolding only: nothing
    assert strip_scaffolding("# Path: src/app.x\n# Language: python\n", sc, "") == ""


def test_no_scaffolding_known_changes_nothing() -> None:
    assert strip_scaffolding("# Path: a.py\nx", Scaffolding(), "") == "# Path: a.py\nx"
    assert scaffolding_of("") == Scaffolding()


# -- through the LSP ------------------------------------------------------
async def test_ghost_text_drops_a_header_line_the_model_copied(client: LanguageClient, fake: FakeDeepSeek) -> None:
    answers: list[str] = []

    def copy_header(body: dict[str, Any]) -> str:
        path_line = re.search(r"^# Path: [^\n]*$", body["prompt"], re.M)
        assert path_line is not None  # the server's prompt has its header
        answer = f"{path_line.group(0)}\n    return a + b\n\n# Other file: pkg/example.py\nimport os"
        answers.append(answer)
        return answer

    fake.fim_handler = copy_header
    open_doc(client, "def add(a, b):\n    \n")
    result = await client.text_document_inline_completion_async(inline_params(1, 4, True))
    assert answers, "the fake was asked"
    assert isinstance(result, types.InlineCompletionList) and len(result.items) == 1
    assert result.items[0].insert_text == "return a + b"


async def test_a_users_own_path_comment_is_shown(client: LanguageClient, fake: FakeDeepSeek) -> None:
    fake.fim_handler = lambda body: "# Path: explained below\n    return a + b"
    open_doc(client, "def add(a, b):\n    \n")
    result = await client.text_document_inline_completion_async(inline_params(1, 4, True))
    assert isinstance(result, types.InlineCompletionList) and len(result.items) == 1
    assert result.items[0].insert_text == "# Path: explained below\n    return a + b"
