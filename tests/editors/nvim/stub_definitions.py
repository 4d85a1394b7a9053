"""A tiny language server that provides definitions (pygls), attached beside
deepseek-ls in the Neovim plugin's deepseek/definitions test.

For the word at the asked position it looks for ``def WORD`` / ``class WORD``
/ ``WORD =`` in the files of its directory (env STUB_DEFS_DIR) and answers in
its negotiated position encoding (Neovim offers UTF-8 first, so UTF-8):
a single Location for most names, a LocationLink list for names starting with
``link_`` or ``perimeter``, nothing for unknown names, and after 5 s for
``slow_name`` (past the client's deadline).

``--error``: every definition request gets a JSON-RPC error; ``--late``: every
answer comes after 5 s (past the plugin's deadline of 1 s).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer

server = LanguageServer("stub-definitions", "0.1")
ROOT = Path(os.environ.get("STUB_DEFS_DIR", "."))
MODE = next((a for a in sys.argv[1:] if a in ("--error", "--late")), "")


def units(text: str, encoding: str) -> int:
    if encoding == t.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8"))
    if encoding == t.PositionEncodingKind.Utf32:
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def find(word: str, encoding: str) -> tuple[str, t.Range] | None:
    pattern = re.compile(rf"(?:\b(?:def|class)\s+)({re.escape(word)})\b|\b({re.escape(word)})\s*=(?!=)")
    for path in sorted(ROOT.glob("*.py")):
        for row, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            m = pattern.search(line)
            if m:
                start = m.start(1) if m.group(1) else m.start(2)
                begin = units(line[:start], encoding)
                end = begin + units(word, encoding)
                return path.as_uri(), t.Range(t.Position(row, begin), t.Position(row, end))
    return None


@server.feature(t.TEXT_DOCUMENT_DEFINITION)
async def definition(ls: LanguageServer, params: t.DefinitionParams) -> t.Location | list[t.LocationLink] | None:
    if MODE == "--error":
        raise RuntimeError("stub-definitions: asked to fail")
    doc = ls.workspace.get_text_document(params.text_document.uri)
    word = doc.word_at_position(params.position)
    if word == "slow_name" or MODE == "--late":
        await asyncio.sleep(5)
    encoding = str(ls.workspace.position_encoding)
    found = find(word, encoding)
    if found is None:
        return None
    uri, rng = found
    if word.startswith(("link_", "perimeter")):
        # the origin: the word's range in the asked document
        line = doc.lines[params.position.line]
        at = doc.position_codec.position_from_client_units(doc.lines, params.position).character
        start = at
        while start > 0 and (line[start - 1].isalnum() or line[start - 1] == "_"):
            start -= 1
        end = start + len(word)
        origin = t.Range(t.Position(params.position.line, units(line[:start], encoding)),
                         t.Position(params.position.line, units(line[:end], encoding)))
        return [t.LocationLink(target_uri=uri, target_range=rng, target_selection_range=rng,
                               origin_selection_range=origin)]
    return t.Location(uri=uri, range=rng)


if __name__ == "__main__":
    server.start_io()
