"""How a document is named to the model: never a local absolute path.

The name goes into every prompt (the FIM header, chat context, code-action
instructions) and chat titles, so it must say where the file is in the
project without telling DeepSeek where the project is on the user's disk.

- ``file:`` inside a workspace folder: the path relative to that folder.
  With several folders (a multi-root workspace), prefixed by the folder's
  name: ``web/src/app.ts``. The most specific folder wins when they nest.
- ``file:`` outside every folder: the base name only.
- ``untitled:``: ``untitled:Untitled-1`` (a path-like untitled name is
  reduced the same way as a file path).
- notebook cells (``vscode-notebook-cell:``, ``vscode-interactive-input:``):
  the notebook's name, then ``#cell<N>`` (VS Code's cell handle, decoded from
  the URI fragment).
- other schemes (``git:``, ``jdt:``, …): ``<scheme>:`` and the name reduced
  as above. Queries and fragments, which often hold absolute paths, are
  never used.

Pure functions, no LSP types: the server passes its folders in.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

#: Schemes whose URI path is a file of the workspace (named like ``file:`` paths).
CELL_SCHEMES = ("vscode-notebook-cell", "vscode-interactive-input")
#: VS Code's cell fragment: a length letter, the handle in base 7, "s", the notebook scheme in base64.
_CELL_FRAGMENT = re.compile(r"^[W-Za-fz]([0-6]+)s")


def _path_of(uri: str) -> tuple[str, str, str]:
    """(scheme, decoded path with forward slashes, fragment) of a URI."""
    parts = urlsplit(uri)
    path = unquote(parts.path)
    if re.match(r"^/[A-Za-z]:", path):  # file:///c:/x on Windows
        path = path[1:]
    return parts.scheme.lower(), path.replace("\\", "/"), unquote(parts.fragment)


def _folder_paths(folders: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for uri, name in folders:
        scheme, path, _ = _path_of(uri)
        if scheme == "file" and path:
            path = path.rstrip("/") or "/"
            out.append((path, name or posixpath.basename(path) or path))
    return out


def relative_name(path: str, folders: Sequence[tuple[str, str]]) -> str:
    """``path`` (absolute, forward slashes) named relative to its workspace folder.

    ``folders`` is ``[(folder URI, folder name), ...]`` in the client's order.
    """
    found = _folder_paths(folders)
    best: tuple[str, str] | None = None
    for folder, name in found:
        prefix = folder if folder.endswith("/") else folder + "/"
        if (path == folder or path.startswith(prefix)) and (best is None or len(folder) > len(best[0])):
            best = (folder, name)
    if best is None:
        return posixpath.basename(path) or path
    folder, name = best
    rel = path[len(folder):].lstrip("/") or posixpath.basename(path)
    return f"{name}/{rel}" if len(found) > 1 else rel


def display_name(uri: str, folders: Sequence[tuple[str, str]]) -> str:
    """The name of the document ``uri`` in prompts and titles (see the module docstring)."""
    scheme, path, fragment = _path_of(uri)
    if scheme == "file":
        return relative_name(path, folders)
    if scheme in CELL_SCHEMES:
        base = relative_name(path, folders) if path.startswith("/") or re.match(r"^[A-Za-z]:/", path) \
            else posixpath.basename(path)
        match = _CELL_FRAGMENT.match(fragment)
        return f"{base}#cell{int(match.group(1), 7)}" if match else f"{base}#cell"
    if not scheme:
        return posixpath.basename(path) or "untitled"
    if path.startswith("/") or re.match(r"^[A-Za-z]:/", path):
        name = relative_name(path, folders)
    else:
        name = path.rsplit("/", 1)[-1] if "/" in path else path
    return f"{scheme}:{name or 'untitled'}"
