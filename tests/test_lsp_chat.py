"""End to end: chat and explain through pytest-lsp, deepseek-ls as a subprocess, the fake DeepSeek behind it."""

import asyncio
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcRequestCancelled
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.conftest import KEY, ROOT, URI, open_doc, server_env, until
from tests.fake_deepseek import ChatReply

# Transcripts go to $XDG_CACHE_HOME/deepseek-ls/transcripts: keep them out of the real cache.
CACHE = Path(tempfile.mkdtemp(prefix="deepseek-ls-test-cache-"))
CHAT_SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "deepseek_ls"],
                                 server_env={**server_env(), "XDG_CACHE_HOME": str(CACHE)})
SOURCE = "import math\n\ndef area(r):\n    s = '😋'\n    return math.pi * r * r\n"


def _record(client: LanguageClient) -> None:
    client.streams = []
    client.statuses = []
    client.feature("deepseek/chatStream")(lambda params: client.streams.append(params))
    client.feature("deepseek/status")(lambda params: client.statuses.append(params))


def _options(fake) -> dict:
    return {"deepseek": {"baseUrl": fake.base_url}}


@pytest_lsp.fixture(config=CHAT_SERVER)
async def chat_client(lsp_client: LanguageClient, fake):
    _record(lsp_client)
    lsp_client.init_result = await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT,
        initialization_options=_options(fake)))
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CHAT_SERVER)
async def nvim_client(lsp_client: LanguageClient, fake):
    """Neovim 0.11 capabilities: utf-8 positions."""
    _record(lsp_client)
    lsp_client.init_result = await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("neovim@v0.11.0"), root_uri=ROOT,
        initialization_options=_options(fake)))
    yield
    await lsp_client.shutdown_session()


def configure(client: LanguageClient, **settings) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"deepseek": settings}))


def command(client: LanguageClient, name: str, arg: dict, msg_id: str | None = None):
    params = types.ExecuteCommandParams(command=name, arguments=[arg])
    if msg_id is None:
        return client.workspace_execute_command_async(params)
    return client.protocol.send_request_async(types.WORKSPACE_EXECUTE_COMMAND, params, msg_id=msg_id)


def rng(l1, c1, l2, c2) -> dict:
    return {"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}}


def events(client: LanguageClient, stream: str) -> list[str]:
    return [s.event for s in client.streams if s.stream == stream]


async def test_two_turns_send_the_first_answer_back_without_reasoning(chat_client: LanguageClient, fake):
    caps = chat_client.init_result.capabilities
    assert {"deepseek.chat", "deepseek.explainSelection", "deepseek.cancel",
            "deepseek.rewriteSelection"} <= set(caps.execute_command_provider.commands)
    assert caps.code_action_provider.resolve_provider is True
    configure(chat_client, chat={"thinking": True, "transcripts": False})
    answers = iter([ChatReply("Circles have area pi r squared.", "Recall the formula."),
                    ChatReply("Use math.tau / 2.", "Think again.")])
    fake.chat_handler = lambda body: next(answers)
    open_doc(chat_client, SOURCE)
    first = await command(chat_client, "deepseek.chat",
                          {"message": "What does area do?", "uri": URI, "range": rng(2, 0, 4, 26), "stream": "t1"})
    assert first["content"] == "Circles have area pi r squared." and first["reasoning"] == "Recall the formula."
    assert first["usage"]["completionTokens"] > 0
    second = await command(chat_client, "deepseek.chat", {"message": "Another way?", "session": first["session"]})
    assert second["session"] == first["session"] and second["content"] == "Use math.tau / 2."

    one, two = fake.chat_requests()
    assert one.body["thinking"] == {"type": "enabled"} and one.body["stream"] is True
    assert one.body["stream_options"] == {"include_usage": True} and "tools" not in two.body
    messages = two.body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[:2] == one.body["messages"]  # the prompt's start is byte-identical: cache hits
    assert messages[1]["content"].startswith("Selected code from `pkg/example.py` (lines 3-5, python):")
    assert messages[1]["content"].endswith("What does area do?")
    assert messages[2] == {"role": "assistant", "content": "Circles have area pi r squared."}
    assert messages[3] == {"role": "user", "content": "Another way?"}
    assert events(chat_client, "t1")[0] == "begin" and events(chat_client, "t1")[-1] == "done"
    kinds = events(chat_client, "t1")
    assert kinds.index("reasoning") < kinds.index("content")
    text = "".join(s.text for s in chat_client.streams if s.stream == "t1" and s.event == "content")
    assert text == first["content"]
    await until(lambda: any(s.usage.requests >= 2 for s in chat_client.statuses))
    assert chat_client.shown_documents == []  # transcripts off


async def test_explain_with_progress_and_a_transcript(chat_client: LanguageClient, fake):
    fake.chat_handler = lambda body: "It computes the **area** of a circle."
    open_doc(chat_client, SOURCE)
    result = await command(chat_client, "deepseek.explainSelection", {"uri": URI, "range": rng(4, 4, 4, 26)})
    assert result["content"] == "It computes the **area** of a circle."
    [reports] = chat_client.progress_reports.values()
    assert isinstance(reports[0], types.WorkDoneProgressBegin) and reports[0].cancellable
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)
    [shown] = chat_client.shown_documents
    path = Path(unquote(urlparse(shown.uri).path))
    assert path.is_relative_to(CACHE / "deepseek-ls") and path.suffix == ".md"
    transcript = path.read_text()
    assert "Explain pkg/example.py:5-5" in transcript and "It computes the **area** of a circle." in transcript
    [request] = fake.chat_requests()
    assert "return math.pi * r * r" in request.body["messages"][1]["content"]
    # a second explain starts a new session
    again = await command(chat_client, "deepseek.explainSelection", {"uri": URI, "range": rng(4, 4, 4, 26)})
    assert again["session"] != result["session"]
    assert len(fake.chat_requests()[1].body["messages"]) == 2


async def test_explain_range_in_utf8_units(nvim_client: LanguageClient, fake):
    configure(nvim_client, chat={"transcripts": False})
    open_doc(nvim_client, SOURCE)
    # line 3 is "    s = '😋'": in UTF-8 the emoji is 4 bytes, so the closing quote ends at byte 14
    await command(nvim_client, "deepseek.explainSelection", {"uri": URI, "range": rng(3, 4, 3, 14)})
    content = fake.chat_requests()[0].body["messages"][1]["content"]
    assert "```python\n    s = '😋'\n```" in content


async def test_cancel_mid_stream_closes_the_socket(chat_client: LanguageClient, fake):
    configure(chat_client, chat={"transcripts": False})
    fake.chat_handler = lambda body: "word " * 400
    fake.ms_per_output_token = 10
    for how in ("cancelRequest", "command", "progress"):
        fake.reset()
        stream = f"c-{how}"
        request = asyncio.ensure_future(command(chat_client, "deepseek.chat", {"message": "long", "stream": stream},
                                                msg_id=stream))
        await until(lambda: "content" in events(chat_client, stream))
        if how == "cancelRequest":  # pygls answers -32800 but would let the command run on
            chat_client.cancel_request(types.CancelParams(id=stream))
        elif how == "command":
            assert await command(chat_client, "deepseek.cancel", {}) == {"cancelled": 1}
        else:
            [token] = [t for t, reports in chat_client.progress_reports.items()
                       if not any(isinstance(r, types.WorkDoneProgressEnd) for r in reports)]
            chat_client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
        with pytest.raises(JsonRpcRequestCancelled):
            await request
        await until(lambda: fake.chat_requests()[0].disconnected, timeout=2)
        await until(lambda: events(chat_client, stream)[-1] == "error")
        assert fake.chat_requests()[0].status == 200 and len(fake.chat_requests()) == 1


async def test_503_twice_then_success_is_retried(chat_client: LanguageClient, fake):
    configure(chat_client, chat={"transcripts": False})
    fake.inject(path="/chat/completions", status=503, times=2, retry_after=0)
    result = await command(chat_client, "deepseek.chat", {"message": "hi"})
    assert result["content"] and "reasoning" not in result
    assert [r.status for r in fake.chat_requests()] == [503, 503, 200]
    assert chat_client.messages == []
    # the fast path: today's models think unless told not to
    assert all(r.body["thinking"] == {"type": "disabled"} for r in fake.chat_requests())


async def test_400_is_not_retried_and_gives_one_clear_message(chat_client: LanguageClient, fake):
    configure(chat_client, chat={"transcripts": False})
    fake.inject(path="/chat/completions", status=400, message="Model Not Exist")
    with pytest.raises(JsonRpcException) as info:
        await command(chat_client, "deepseek.chat", {"message": "hi", "stream": "e1"})
    assert info.value.code == -32803
    assert "Model Not Exist" in info.value.message and KEY not in info.value.message
    assert "traceback" not in str(info.value.data)
    assert len(fake.chat_requests()) == 1
    await until(lambda: chat_client.messages)
    [shown] = chat_client.messages
    assert shown.type == types.MessageType.Error and "Model Not Exist" in shown.message
    assert events(chat_client, "e1") == ["begin", "error"]
    with pytest.raises(JsonRpcInvalidParams):  # bad arguments
        await command(chat_client, "deepseek.chat", {"message": ""})
    with pytest.raises(JsonRpcInvalidParams):
        await command(chat_client, "deepseek.explainSelection", {"uri": "file:///not/open.py", "range": rng(0, 0, 0, 1)})


async def test_stream_cut_without_done_is_a_clear_error(chat_client: LanguageClient, fake):
    configure(chat_client, chat={"transcripts": False})
    fake.chat_handler = lambda body: "one two three four five six seven eight nine ten"
    fake.inject(path="/chat/completions", kind="cut_stream", after_chunks=3)
    with pytest.raises(JsonRpcException) as info:
        await asyncio.wait_for(command(chat_client, "deepseek.chat", {"message": "hi", "stream": "x1"}), 10)
    assert "try again" in info.value.message
    assert events(chat_client, "x1")[-1] == "error"
    assert len(fake.chat_requests()) == 1


async def test_no_key_gives_one_message_saying_what_to_do(keyless_client: LanguageClient, fake):
    keyless_client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"deepseek": {"chat": {"transcripts": False}}}))
    with pytest.raises(JsonRpcException) as info:
        await command(keyless_client, "deepseek.chat", {"message": "hi"})
    assert "DEEPSEEK_API_KEY" in info.value.message
    assert fake.chat_requests() == []


# -- lone surrogates (half an emoji from a client's bad edit) in everything a chat writes ----------
LONE = "s = '\ud83d'  # half an emoji\n"


@pytest.mark.parametrize("where", ["document", "question", "both"])
async def test_a_lone_surrogate_never_fails_a_paid_chat(chat_client: LanguageClient, fake, where):
    """Transcripts on (the default): the text that reaches the transcript, the ledger, the log and
    the editor can hold lone surrogates from the document or the question (the answer's own
    are replaced as it is read: tests/test_answer_shapes.py)."""
    fake.chat_handler = lambda body: "It prints a string."
    text = LONE + SOURCE if where in ("document", "both") else SOURCE
    open_doc(chat_client, text)
    explained = await command(chat_client, "deepseek.explainSelection", {"uri": URI, "range": rng(0, 0, 1, 0)})
    assert explained["content"].startswith("It prints")
    question = "What is \udc00 here?" if where in ("question", "both") else "What is here?"
    chatted = await command(chat_client, "deepseek.chat", {"message": question, "uri": URI, "range": rng(0, 0, 1, 0)})
    assert chatted["content"].startswith("It prints")
    shown = chat_client.shown_documents
    assert len(shown) == 2
    transcript = Path(unquote(urlparse(shown[-1].uri).path)).read_text(encoding="utf-8")
    assert "It prints" in transcript
    assert "\ud83d" not in transcript and "\udc00" not in transcript
    await until(lambda: any(s.usage.requests >= 2 for s in chat_client.statuses))
