"""deepseek/definitions answered after the deadline: ignored quietly (review 12, finding 10)."""

from __future__ import annotations

import asyncio

from pytest_lsp import LanguageClient

from tests.conftest import inline_params, open_doc
from tests.test_review12_definitions import APP, APP_TEXT, CURSOR, raw, start, wait_requests

__all__ = ["raw"]  # the fixture, shared with the review's tests


async def test_late_answers_give_no_unknown_message_id_warning(raw: LanguageClient, fake, capsys):
    client = raw

    async def late(params):
        await asyncio.sleep(1.8)  # past the 1.5 s deadline
        return [None] * len(params["positions"])

    await start(client, fake, late)
    try:
        open_doc(client, APP_TEXT, uri=APP)
        await wait_requests(client)
        await asyncio.sleep(2.5)  # the late answer has arrived
        await client.text_document_inline_completion_async(inline_params(*CURSOR, True, uri=APP))
        err = capsys.readouterr().err
        assert client.definition_requests, "sanity: asked"
        assert "unknown message id" not in err, err
        assert "did not answer deepseek/definitions" not in err  # the caller's own info line instead
        assert err.count("deepseek/definitions: no answer") == 1, err
        assert fake.fim_requests(), "completions go on"
    finally:
        await client.shutdown_session()
