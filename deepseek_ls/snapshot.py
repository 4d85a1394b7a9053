"""The frozen document value every part reads: :class:`DocumentSnapshot`.

Plain Python (no LSP types), at the bottom of the layering: the prompt
builders, the completion engine, chat, the handlers and the CLI all take
it; it imports nothing of deepseek-ls. Snapshots are built at the boundary
by the named constructors: :meth:`DocumentSnapshot.from_text` (the server,
from its own open document) and :meth:`DocumentSnapshot.from_file` (the
``complete`` command, from a file on disk).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Language ids (LSP's) of common file name suffixes, for files not opened by an editor.
LANGUAGES = {".py": "python", ".pyi": "python", ".js": "javascript", ".ts": "typescript", ".tsx": "typescriptreact",
             ".jsx": "javascriptreact", ".go": "go", ".rs": "rust", ".c": "c", ".h": "c",
             ".cpp": "cpp", ".hpp": "cpp", ".java": "java", ".rb": "ruby", ".lua": "lua",
             ".sh": "shellscript", ".md": "markdown", ".json": "json", ".toml": "toml",
             ".yaml": "yaml", ".yml": "yaml", ".cs": "csharp", ".php": "php", ".kt": "kotlin",
             ".swift": "swift", ".sql": "sql", ".html": "html", ".css": "css",
             ".hs": "haskell", ".ex": "elixir", ".exs": "elixir", ".jl": "julia", ".r": "r",
             ".R": "r", ".pl": "perl", ".el": "emacs-lisp", ".clj": "clojure", ".erl": "erlang",
             ".tex": "latex", ".vim": "vim", ".bash": "shellscript", ".zsh": "shellscript",
             ".ps1": "powershell", ".elm": "elm", ".nim": "nim", ".scm": "scheme", ".lisp": "lisp"}

#: Preference when two line-break styles are equally common (as the document store).
_EOL_ORDER = ("\n", "\r\n", "\r")


def language_for(path: str | Path) -> str:
    """The language id of a file by its suffix (``"plaintext"`` when unknown)."""
    return LANGUAGES.get(Path(path).suffix, "plaintext")


@dataclass(frozen=True)
class DocumentSnapshot:
    """A frozen view of one document at one version.

    ``text`` has ``\\n`` line breaks only, whatever the file uses (same lines
    and columns as the editor's text); ``eol`` is the file's own line break
    (``"\\n"``, ``"\\r\\n"`` or ``"\\r"``), for text going back to the editor.
    ``path`` is the name shown in prompts (relative to the workspace when
    possible); ``version`` is the editor's version number (None: not from an
    editor).
    """

    uri: str
    path: str
    language_id: str
    text: str
    version: int | None = None
    eol: str = "\n"

    @classmethod
    def from_text(cls, uri: str, path: str, language_id: str | None, text: str,
                  version: int | None = None, eol: str = "\n") -> DocumentSnapshot:
        """A snapshot of ``text`` (``\\n`` line breaks only: it is taken as given).

        ``language_id`` empty or None means ``"plaintext"``.
        """
        return cls(uri=uri, path=path, language_id=language_id or "plaintext", text=text,
                   version=version, eol=eol)

    @classmethod
    def from_file(cls, path: str | Path, *, display: str | None = None) -> DocumentSnapshot:
        """A snapshot of the UTF-8 file ``path``: its line breaks read as ``\\n`` (``eol`` keeps
        the most common one), its language from its suffix, ``display`` (default: the file
        name) as its path in prompts.

        Raises ``OSError`` when it cannot be read, ``UnicodeDecodeError`` when it is not UTF-8.
        """
        file = Path(path)
        raw = file.read_bytes().decode("utf-8")
        crlf = raw.count("\r\n")
        counts = {"\r\n": crlf, "\r": raw.count("\r") - crlf, "\n": raw.count("\n") - crlf}
        eol = max(_EOL_ORDER, key=lambda kind: (counts[kind], -_EOL_ORDER.index(kind)))
        text = raw.replace("\r\n", "\n").replace("\r", "\n") if "\r" in raw else raw
        return cls(uri=file.resolve().as_uri(), path=display or file.name, language_id=language_for(file),
                   text=text, eol=eol)
