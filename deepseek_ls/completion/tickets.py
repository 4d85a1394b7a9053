"""Latest wins: one live editor request per document.

Every request for a document takes a ticket; taking one supersedes the
previous ticket of that document, whose request then gives up (returns no
suggestion) at its next wait, so a burst of keystrokes ends in one request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass
class Ticket:
    """One editor request; ``superseded`` resolves when a newer one for ``uri`` arrives."""

    uri: str
    superseded: asyncio.Future[None]


class Tickets:
    """The newest ticket of each document."""

    def __init__(self) -> None:
        self._by_uri: dict[str, Ticket] = {}

    def take(self, uri: str) -> Ticket:
        """A new ticket for ``uri``; the previous one is superseded."""
        self.release(uri)
        ticket = Ticket(uri, asyncio.get_running_loop().create_future())
        self._by_uri[uri] = ticket
        return ticket

    def release(self, uri: str) -> None:
        """Supersede the ticket of ``uri`` (a newer request, or the document closed)."""
        old = self._by_uri.pop(uri, None)
        if old is not None and not old.superseded.done():
            old.superseded.set_result(None)
