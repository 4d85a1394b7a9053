"""What the completion loop is asked and what it answers (no LSP types)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..snapshot import DocumentSnapshot

#: Where a suggestion came from: a new FIM request, the rest of a suggestion the
#: user is typing (memory), the result cache (the same prompt answered before), or
#: a request already in flight that this one waited for (join).
Source = Literal["network", "memory", "cache", "join"]


@dataclass(frozen=True)
class CompletionRequest:
    """One ghost-text request from the editor.

    ``offset``: the cursor, in code points into ``doc.text`` (LF line breaks).
    ``manual``: asked for by the user (no debounce, sent even while automatic
    requests are paused or the breaker is open). ``others``: other open
    documents, candidates for the prompt's context. ``context``: a rendered
    project-context block placed first in the full prompt ("" for none; left
    out of the short prompt). ``request_id``: the LSP request id, for logs and
    traces only.
    """

    doc: DocumentSnapshot
    offset: int
    manual: bool = False
    others: tuple[DocumentSnapshot, ...] = ()
    request_id: str | int | None = None
    context: str = ""
    #: the file's own cross-file block, after its header in the full prompt
    file_context: str = ""
    #: definitions that joined the file's block since its head was laid out: before the window
    late_context: str = ""


@dataclass(frozen=True)
class Suggestion:
    """Text to insert at the cursor, replacing the next ``replace`` characters.

    ``replace`` counts code points of the cursor line after the cursor
    (closers the text runs through, see :func:`postprocess.replaced_chars`);
    the editor item's range ends there. ``id`` names the suggestion across
    the answers that continue it (typed-ahead answers keep the id).
    ``source``: where the text came from (a ``network`` answer, the
    typed-ahead ``memory``, the result ``cache``, or a ``join`` of a request
    already in flight).
    """

    id: str
    text: str
    source: Source
    replace: int = 0
