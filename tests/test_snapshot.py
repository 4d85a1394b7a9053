"""snapshot.py: the frozen document value and its named constructors."""

import dataclasses
import subprocess
import sys

import pytest

from deepseek_ls.snapshot import DocumentSnapshot, language_for
from tests.lsp_raw import env_without_deepseek


def test_from_text_keeps_what_it_is_given_and_is_frozen():
    doc = DocumentSnapshot.from_text("file:///w/a.py", "a.py", "python", "x = '😀'\n", 7, "\r\n")
    assert (doc.uri, doc.path, doc.language_id, doc.text, doc.version, doc.eol) == (
        "file:///w/a.py", "a.py", "python", "x = '😀'\n", 7, "\r\n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        doc.text = "y"  # type: ignore[misc]
    for missing in ("", None):
        assert DocumentSnapshot.from_text("untitled:1", "Untitled-1", missing, "").language_id == "plaintext"


@pytest.mark.parametrize("raw, text, eol", [
    (b"a\nb\n", "a\nb\n", "\n"),
    (b"a\r\nb\r\n", "a\nb\n", "\r\n"),
    (b"a\rb\r", "a\nb\n", "\r"),
    (b"a\r\nb\r\nc\n", "a\nb\nc\n", "\r\n"),      # the most common break is the file's
    (b"a\nb\r\n", "a\nb\n", "\n"),                # a tie: \n first, as the document store decides
    ("中文 😀\r\n".encode(), "中文 😀\n", "\r\n"),
    (b"", "", "\n"),
])
def test_from_file_reads_line_breaks_as_newlines_and_keeps_the_files_own(tmp_path, raw, text, eol):
    path = tmp_path / "m.py"
    path.write_bytes(raw)
    doc = DocumentSnapshot.from_file(path)
    assert (doc.text, doc.eol) == (text, eol)
    assert doc.uri == path.resolve().as_uri() and doc.path == "m.py" and doc.language_id == "python"
    assert doc.version is None
    assert DocumentSnapshot.from_file(path, display="src/m.py").path == "src/m.py"


def test_from_file_errors_are_the_readers(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("café".encode("latin-1"))
    with pytest.raises(UnicodeDecodeError):
        DocumentSnapshot.from_file(bad)
    with pytest.raises(OSError):
        DocumentSnapshot.from_file(tmp_path / "missing.py")


def test_language_for_known_and_unknown_suffixes():
    assert language_for("a/b.tsx") == "typescriptreact" and language_for("x.rs") == "rust"
    assert language_for("Makefile") == "plaintext" and language_for("notes.xyz") == "plaintext"


def test_complete_on_a_crlf_file_counts_lines_and_columns_as_the_editor(tmp_path, fake):
    """`complete` builds its snapshot with from_file: CRLF lines, a CJK line before the cursor."""
    source = tmp_path / "calc.py"
    source.write_bytes("# 中文 😀\r\ndef add(a, b):\r\n    \r\n".encode())
    done = subprocess.run([sys.executable, "-m", "deepseek_ls", "complete", f"{source}:3:5"],
                          capture_output=True, text=True, timeout=30,
                          env=env_without_deepseek(DEEPSEEK_API_KEY="sk-test", DEEPSEEK_BASE_URL=fake.base_url,
                                                   DEEPSEEK_LS_DATA_DIR=str(tmp_path / "data")))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "return a + b\n"
    body = fake.fim_requests()[0].body
    assert body["prompt"].endswith("# 中文 😀\ndef add(a, b):\n    ") and "\r" not in body["prompt"]
