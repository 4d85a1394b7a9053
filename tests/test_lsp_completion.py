"""End to end through pytest-lsp: deepseek-ls as a subprocess, the fake DeepSeek behind it."""

import asyncio

import pytest
from lsprotocol import converters, types
from pygls.exceptions import JsonRpcRequestCancelled
from pytest_lsp import LanguageClient

from tests.conftest import URI, change, inline_params, open_doc, until

SOURCE = "def add(a, b):\n    \n"


async def test_capabilities(client: LanguageClient):
    """Exactly these capabilities (as the wire has them): a new provider or command fails this
    test until it is added here on purpose (and to docs/CAPABILITIES.md)."""
    caps = client.init_result.capabilities
    assert caps.text_document_sync.change == types.TextDocumentSyncKind.Incremental
    assert caps.position_encoding == types.PositionEncodingKind.Utf16
    assert converters.get_converter().unstructure(caps) == {
        "positionEncoding": "utf-16",
        "textDocumentSync": {"openClose": True, "change": 2, "save": False, "willSave": False,
                             "willSaveWaitUntil": False},
        "inlineCompletionProvider": {},
        "completionProvider": {"triggerCharacters": [".", "("]},
        "codeActionProvider": {"codeActionKinds": ["quickfix", "refactor.rewrite"], "resolveProvider": True},
        "executeCommandProvider": {"commands": [
            "deepseek.acceptCompletion", "deepseek.toggleAutoCompletion", "deepseek.usage",
            "deepseek.chat", "deepseek.explainSelection", "deepseek.cancel",
            "deepseek.runCodeAction", "deepseek.rewriteSelection",
        ]},
        "workspace": {"workspaceFolders": {"supported": True, "changeNotifications": True},
                      "fileOperations": {}},
    }


async def test_ghost_text(client: LanguageClient, fake):
    open_doc(client, SOURCE)
    result = await client.text_document_inline_completion_async(inline_params(1, 4))
    [item] = result.items
    assert item.insert_text == "return a + b"
    assert item.range == types.Range(start=types.Position(line=1, character=4),
                                     end=types.Position(line=1, character=4))
    assert item.command.command == "deepseek.acceptCompletion"
    [request] = fake.fim_requests()
    body = request.body
    assert body["model"] == "deepseek-flash"
    assert body["prompt"].startswith("# Path: pkg/example.py\n# Language: python\n")
    assert body["prompt"].endswith("def add(a, b):\n    ")
    assert body["suffix"] == "\n"
    assert body["stop"] == ["\n\n"] and "thinking" not in body
    assert request.headers["authorization"] == "Bearer sk-test"


async def test_completion_item_fallback(client: LanguageClient, fake):
    open_doc(client, "def add(a, b):\n    ret\n")
    fake.fim_handler = lambda body: "urn a + b"
    result = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=URI), position=types.Position(line=1, character=7),
        context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked)))
    [item] = result.items
    assert result.is_incomplete
    assert item.text_edit.new_text == "return a + b"
    assert item.text_edit.range == types.Range(start=types.Position(line=1, character=4),
                                               end=types.Position(line=1, character=7))


async def test_burst_of_keystrokes_makes_one_request(client: LanguageClient, fake):
    # a generous debounce: the machine running the tests may be loaded
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"deepseek": {"completion": {"debounceMs": 600}}}))
    open_doc(client, SOURCE)
    pending = []
    for i, ch in enumerate("return"):
        change(client, i + 2, 1, 4 + i, ch)
        pending.append(asyncio.ensure_future(client.text_document_inline_completion_async(inline_params(1, 5 + i))))
        await asyncio.sleep(0.01)
    results = await asyncio.gather(*pending)
    assert [r.body["prompt"][-11:] for r in fake.fim_requests()] == ["\n    return"]
    assert [len(r.items) for r in results[:-1]] == [0] * 5
    assert fake.fim_requests()[0].body["prompt"].endswith("    return")


async def test_cancel_closes_the_socket(client: LanguageClient, fake):
    fake.latency_ms = 3000
    open_doc(client, SOURCE)
    request = asyncio.ensure_future(client.protocol.send_request_async(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(1, 4, manual=True), msg_id="inline-1"))
    await until(lambda: fake.fim_requests())
    client.cancel_request(types.CancelParams(id="inline-1"))
    with pytest.raises(JsonRpcRequestCancelled):
        await request
    await until(lambda: fake.fim_requests()[0].disconnected, timeout=2)


async def test_superseded_request_closes_its_socket(client: LanguageClient, fake):
    fake.inject(path="/beta/completions", kind="delay", delay_ms=5000, times=1)  # only the first
    open_doc(client, SOURCE)
    first = asyncio.ensure_future(client.text_document_inline_completion_async(inline_params(1, 4, manual=True)))
    await until(lambda: fake.fim_requests())
    change(client, 2, 0, 4, "sum", end=(0, 7))  # an edit before the cursor: the answer is stale
    second = await client.text_document_inline_completion_async(inline_params(1, 4, manual=True))
    assert (await first).items == ()
    await until(lambda: fake.fim_requests()[0].disconnected, timeout=2)
    assert second.items[0].insert_text == "return a + b"
    assert fake.fim_requests()[1].body["prompt"].endswith("def sum(a, b):\n    ")


async def test_typed_ahead_reuse_makes_no_request(client: LanguageClient, fake):
    open_doc(client, SOURCE)
    first = await client.text_document_inline_completion_async(inline_params(1, 4, manual=True))
    assert first.items[0].insert_text == "return a + b"
    for i, ch in enumerate("retu"):
        change(client, i + 2, 1, 4 + i, ch)
        result = await client.text_document_inline_completion_async(inline_params(1, 5 + i))
        assert result.items[0].insert_text == "return a + b"[i + 1:]
    assert len(fake.fim_requests()) == 1


async def test_prompt_start_is_identical_across_keystrokes(client: LanguageClient, fake):
    body = "".join(f"def helper_{i}(x):\n    return x * {i}\n\n" for i in range(300))
    open_doc(client, body + "def main():\n    \n")
    line = body.count("\n") + 1
    await client.text_document_inline_completion_async(inline_params(line, 4, manual=True))
    await asyncio.sleep(2.2)  # DeepSeek persists the new prompt head (requests meanwhile send the short prompt)
    prompts = []
    version = 1
    for i, ch in enumerate("total = 0"):
        version += 1
        change(client, version, line, 4 + i, ch)
        await client.text_document_inline_completion_async(inline_params(line, 5 + i, manual=True))
        prompts.append(fake.fim_requests()[-1].body["prompt"])
    stable = prompts[0][:-1]
    assert len(stable) > 5000
    assert all(p.startswith(stable) for p in prompts)
    hits = [r.usage["prompt_cache_hit_tokens"] for r in fake.fim_requests()[1:] if r.usage]
    assert hits and min(hits) > 0


async def test_utf16_positions_with_emoji_and_cjk(client: LanguageClient, fake):
    text = 'name = "😋中文"; x = f(\n'
    open_doc(client, text)
    fake.fim_handler = lambda body: "1)"
    # UTF-16: 'name = "' 8 + emoji 2 + CJK 2 + '"; x = f(' 9 = 21
    result = await client.text_document_inline_completion_async(inline_params(0, 21, manual=True))
    assert fake.fim_requests()[0].body["prompt"].endswith('name = "😋中文"; x = f(')
    assert result.items[0].range.start == types.Position(line=0, character=21)


async def test_utf8_negotiated(utf8_client: LanguageClient, fake):
    assert utf8_client.init_result.capabilities.position_encoding == types.PositionEncodingKind.Utf8
    text = 'name = "😋中文"; x = f(\n'
    open_doc(utf8_client, text)
    fake.fim_handler = lambda body: "1)"
    # UTF-8: 8 + 4 + 6 + 9 = 27
    result = await utf8_client.text_document_inline_completion_async(inline_params(0, 27, manual=True))
    assert fake.fim_requests()[0].body["prompt"].endswith('x = f(')
    assert result.items[0].range.start == types.Position(line=0, character=27)


async def test_position_past_the_end_is_clamped(client: LanguageClient, fake):
    open_doc(client, "x = 1\n")
    result = await client.text_document_inline_completion_async(inline_params(0, 500, manual=True))
    assert fake.fim_requests()[0].body["prompt"].endswith("x = 1")
    assert result.items[0].range.start.character == 500 or result.items[0].range.start.character == 5


async def test_missing_key_one_clear_message(keyless_client: LanguageClient, fake):
    open_doc(keyless_client, SOURCE)
    for _ in range(3):
        result = await keyless_client.text_document_inline_completion_async(inline_params(1, 4, manual=True))
        assert result.items == ()
    errors = [m for m in keyless_client.messages if "API key" in m.message]
    assert len(errors) == 1 and "DEEPSEEK_API_KEY" in errors[0].message
    assert fake.requests == []


async def test_401_one_message_then_paused(client: LanguageClient, fake):
    # the first status follows the start-up settings pull: a pull answered later would
    # (rightly) lift the pause as "settings sent again" and race the automatic request
    await until(lambda: client.statuses)
    fake.inject(path="/beta/completions", status=401, times=5)
    open_doc(client, SOURCE)
    await client.text_document_inline_completion_async(inline_params(1, 4, manual=True))
    change(client, 2, 1, 4, "r")
    result = await client.text_document_inline_completion_async(inline_params(1, 5))
    assert result.items == ()
    await until(lambda: any("rejected" in m.message for m in client.messages))
    assert len([m for m in client.messages if "rejected" in m.message]) == 1
    assert len(fake.fim_requests()) == 1  # the automatic request was not sent
    assert "sk-test" not in " ".join(m.message for m in client.messages + client.log_messages)


async def test_503_then_recovery(client: LanguageClient, fake):
    fake.inject(path="/beta/completions", status=503, times=3)
    open_doc(client, SOURCE)
    version = 1
    for ch in "abc":
        version += 1
        change(client, version, 1, 3 + version, ch)
        result = await client.text_document_inline_completion_async(inline_params(1, 4 + version - 1, manual=True))
        assert result.items == ()
    assert len([m for m in client.messages if "503" in m.message]) == 1
    # while the breaker is open, automatic requests stay home
    before = len(fake.fim_requests())
    version += 1
    change(client, version, 1, 7, "d")
    assert (await client.text_document_inline_completion_async(inline_params(1, 8))).items == ()
    assert len(fake.fim_requests()) == before
    await asyncio.sleep(2.2)  # the breaker's first cooldown
    version += 1
    change(client, version, 1, 8, "e")
    result = await client.text_document_inline_completion_async(inline_params(1, 9))
    assert result.items[0].insert_text == "return a + b"


async def test_status_notification_carries_usage(client: LanguageClient, fake):
    statuses = client.statuses
    open_doc(client, SOURCE)
    await client.text_document_inline_completion_async(inline_params(1, 4, manual=True))
    await until(lambda: any(s.usage.requests == 1 for s in statuses))
    final = [s for s in statuses if s.usage.requests == 1][-1]
    assert final.usage.promptMissTokens + final.usage.promptHitTokens > 0
    assert final.model == "deepseek-flash"


async def test_402_no_balance_one_message_then_paused(client: LanguageClient, fake):
    fake.add_key("sk-broke", balance="0.00")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"deepseek": {"apiKey": "sk-broke"}}))
    open_doc(client, SOURCE)
    await asyncio.sleep(0.2)
    for manual in (True, False, False):
        await client.text_document_inline_completion_async(inline_params(1, 4, manual=manual))
    await until(lambda: any("Insufficient Balance" in m.message for m in client.messages))
    assert len([m for m in client.messages if "balance" in m.message.lower()]) == 1
    assert len(fake.fim_requests()) == 1
    await until(lambda: any(s.state == "paused" for s in client.statuses))
    # a new key lifts the pause
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"deepseek": {"apiKey": "sk-test"}}))
    await asyncio.sleep(0.2)
    result = await client.text_document_inline_completion_async(inline_params(1, 4))
    assert result.items[0].insert_text == "return a + b"


# -- issue 9: accepting leaves the code the model meant -------------------------
def _offset(text: str, position: types.Position) -> int:
    """Code-point offset of a UTF-16 ``position`` in ``text`` (LF lines)."""
    start = sum(len(line) + 1 for line in text.split("\n")[: position.line])
    units = 0
    for i, ch in enumerate(text[start:]):
        if units >= position.character or ch == "\n":
            return start + i
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(text)


def accepted(text: str, item) -> str:
    """``text`` after the editor applies an inline item (or a completion item's text edit)."""
    edit = getattr(item, "text_edit", None)
    new_text, rng = (edit.new_text, edit.range) if edit else (item.insert_text, item.range)
    return text[: _offset(text, rng.start)] + new_text + text[_offset(text, rng.end):]


async def test_an_answer_running_through_the_auto_closed_bracket_replaces_it(client: LanguageClient, fake):
    text = "def area()\n    pass\n"
    open_doc(client, text)
    fake.fim_handler = lambda body: "width: float, height: float) -> float:"
    result = await client.text_document_inline_completion_async(inline_params(0, 9, manual=True))
    [item] = result.items
    assert item.range == types.Range(start=types.Position(line=0, character=9),
                                     end=types.Position(line=0, character=10))
    assert accepted(text, item).split("\n")[0] == "def area(width: float, height: float) -> float:"


async def test_the_completion_item_fallback_replaces_the_closer_too(client: LanguageClient, fake):
    text = 'print("")\n'
    open_doc(client, text)
    fake.fim_handler = lambda body: 'hello")'
    result = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=URI), position=types.Position(line=0, character=7),
        context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked)))
    [item] = result.items
    assert item.text_edit.range.end == types.Position(line=0, character=9)
    assert accepted(text, item) == 'print("hello")\n'


async def test_the_suggestions_own_closer_is_kept(client: LanguageClient, fake):
    text = "print()\n"
    open_doc(client, text)
    fake.fim_handler = lambda body: "format_greeting(user.name)"
    result = await client.text_document_inline_completion_async(inline_params(0, 6, manual=True))
    [item] = result.items
    assert item.range.end == item.range.start
    assert accepted(text, item) == "print(format_greeting(user.name))\n"


async def test_the_replaced_range_counts_utf16_units(client: LanguageClient, fake):
    text = 'print("😋")\n'
    open_doc(client, text)
    fake.fim_handler = lambda body: 'hi 😋")'  # re-types the rest of the line, emoji included
    result = await client.text_document_inline_completion_async(inline_params(0, 7, manual=True))
    [item] = result.items
    assert item.range.end == types.Position(line=0, character=11)  # 7 + emoji (2) + '")'
    assert accepted(text, item) == 'print("hi 😋")\n'


async def test_a_blank_lines_answer_keeps_its_indentation(client: LanguageClient, fake):
    text = "def total(xs):\n    t = 0\n    for x in xs:\n\n    return t\n"
    open_doc(client, text)
    fake.fim_handler = lambda body: "        t += x\n        print(t)"
    result = await client.text_document_inline_completion_async(inline_params(3, 0, manual=True))
    [item] = result.items
    lines = accepted(text, item).split("\n")
    assert lines[3:6] == ["        t += x", "        print(t)", "    return t"]


async def test_an_answer_repeating_the_next_line_is_cut(client: LanguageClient, fake):
    text = "def load(data):\n    \n    return Config(**data)\n"
    open_doc(client, text)
    fake.fim_handler = lambda body: "return Config(**data)"
    result = await client.text_document_inline_completion_async(inline_params(1, 4, manual=True))
    assert result.items == ()
    fake.fim_handler = lambda body: "data = validate(data)\n    return Config(**data)"
    change(client, 2, 1, 4, " ", end=(1, 4))  # a new state: no cache
    result = await client.text_document_inline_completion_async(inline_params(1, 5, manual=True))
    [item] = result.items
    assert item.insert_text == "data = validate(data)"


async def test_typed_ahead_survives_the_editors_auto_pairs(client: LanguageClient, fake):
    text = "def report(total):\n    print\n"
    open_doc(client, text)
    fake.fim_handler = lambda body: '(f"total: {total}")'
    result = await client.text_document_inline_completion_async(inline_params(1, 9, manual=True))
    assert result.items[0].insert_text == '(f"total: {total}")'
    # typing ( gives () in an editor that auto-closes
    change(client, 2, 1, 9, "()")
    text = "def report(total):\n    print()\n"
    [item] = (await client.text_document_inline_completion_async(inline_params(1, 10))).items
    assert item.insert_text == 'f"total: {total}")'
    assert accepted(text, item) == 'def report(total):\n    print(f"total: {total}")\n'
    # f, then " which the editor pairs too
    change(client, 3, 1, 10, "f")
    change(client, 4, 1, 11, '""')
    text = 'def report(total):\n    print(f"")\n'
    [item] = (await client.text_document_inline_completion_async(inline_params(1, 12))).items
    assert item.insert_text == 'total: {total}")'
    assert item.range.end == types.Position(line=1, character=14)
    assert accepted(text, item) == 'def report(total):\n    print(f"total: {total}")\n'
    # typing over the closers the editor skips
    change(client, 5, 1, 12, "total: {total}")
    change(client, 6, 1, 26, '"', end=(1, 27))
    text = 'def report(total):\n    print(f"total: {total}")\n'
    [item] = (await client.text_document_inline_completion_async(inline_params(1, 27))).items
    assert item.insert_text == ")" and item.range.end == types.Position(line=1, character=28)
    assert accepted(text, item) == text
    assert len(fake.fim_requests()) == 1


async def test_an_answer_in_flight_survives_the_editors_auto_pairs(client: LanguageClient, fake):
    fake.latency_ms = 400
    open_doc(client, "def report(total):\n    print\n")
    fake.fim_handler = lambda body: '(f"total: {total}")'
    first = asyncio.ensure_future(client.text_document_inline_completion_async(inline_params(1, 9, manual=True)))
    await until(lambda: fake.fim_requests())
    change(client, 2, 1, 9, "()")  # typed ( while the answer is on its way; the editor closed it
    [item] = (await client.text_document_inline_completion_async(inline_params(1, 10))).items
    assert item.insert_text == 'f"total: {total}")'
    assert item.range.end == types.Position(line=1, character=11)
    assert accepted("def report(total):\n    print()\n", item) == 'def report(total):\n    print(f"total: {total}")\n'
    assert (await first).items == ()
    assert len(fake.fim_requests()) == 1


# -- a 401/402 pause ends with a success or a settings change ---------------------------
@pytest.mark.parametrize("how", ["manual", "chat", "toggle", "settings-resent"])
async def test_402_pause_lifts_after_a_top_up(client: LanguageClient, fake, how: str):
    """After a 402 and a top-up, ghost text comes back by itself: a request that succeeds
    (a manual completion, a chat) lifts the pause, and so does the toggle or any settings message."""
    configure = lambda settings: client.workspace_did_change_configuration(  # noqa: E731
        types.DidChangeConfigurationParams(settings=settings))
    configure({"deepseek": {"chat": {"transcripts": False}}})
    fake.set_balance("sk-test", "0.00")
    open_doc(client, SOURCE)
    await asyncio.sleep(0.2)
    await client.text_document_inline_completion_async(inline_params(1, 4, manual=True))
    await until(lambda: client.statuses and client.statuses[-1].state == "paused")
    [message] = [m for m in client.messages if "balance" in m.message.lower()]
    assert "paused until a request succeeds" in message.message and "or the settings change" in message.message
    assert "paused until a request succeeds" in client.statuses[-1].message
    fake.set_balance("sk-test", "100.00")  # the top-up
    change(client, 2, 1, 4, "r")
    assert (await client.text_document_inline_completion_async(inline_params(1, 5))).items == ()
    sent = len(fake.fim_requests())
    assert sent == 1  # still paused: typing alone sends nothing
    if how == "manual":
        result = await client.text_document_inline_completion_async(inline_params(1, 5, manual=True))
        assert result.items
    elif how == "chat":
        fake.chat_handler = lambda body: "Hello."
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="deepseek.chat", arguments=[{"message": "hi"}]))
    elif how == "toggle":  # :DeepSeekToggle on (ghost text was on already)
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="deepseek.toggleAutoCompletion", arguments=[{"enabled": True}]))
    else:
        configure({"deepseek": {"chat": {"transcripts": False}}})  # the same settings again
    await until(lambda: client.statuses[-1].state != "paused")
    change(client, 3, 1, 5, "e")
    await asyncio.sleep(0.3)
    result = await client.text_document_inline_completion_async(inline_params(1, 6))
    assert result.items, f"automatic ghost text did not resume after {how}"


# -- fix9: languages, blocks opened by the answer, Enter between brackets ----------
GO_URI = URI.replace("example.py", "main.go")
RS_URI = URI.replace("example.py", "lib.rs")
JS_URI = URI.replace("example.py", "app.js")


async def test_an_answer_opening_a_block_with_lifetimes_replaces_the_closer(client: LanguageClient, fake):
    text = "fn first()\n"
    open_doc(client, text, uri=RS_URI, language="rust")
    fake.fim_handler = lambda body: "s: &'a str) -> &'a str {"
    [item] = (await client.text_document_inline_completion_async(
        inline_params(0, 9, manual=True, uri=RS_URI))).items
    assert item.range.end == types.Position(line=0, character=10)
    assert accepted(text, item) == "fn first(s: &'a str) -> &'a str {\n"


async def test_a_regex_literal_keeps_its_closers(client: LanguageClient, fake):
    text = "const m = s.match();\n"
    open_doc(client, text, uri=JS_URI, language="javascript")
    fake.fim_handler = lambda body: "/\\)/);"
    [item] = (await client.text_document_inline_completion_async(
        inline_params(0, 18, manual=True, uri=JS_URI))).items
    assert accepted(text, item) == "const m = s.match(/\\)/);\n"


async def test_enter_between_auto_paired_braces_continues_from_memory(client: LanguageClient, fake):
    open_doc(client, "func f(x int) {\n\t\n}\n", uri=GO_URI, language="go")
    fake.fim_handler = lambda body: "if x > 0 {\n\t\treturn\n\t}\n\tg()"
    [item] = (await client.text_document_inline_completion_async(
        inline_params(1, 1, manual=True, uri=GO_URI))).items
    # the first lines may be shown early; the whole answer streams into memory
    assert "if x > 0 {\n\t\treturn\n\t}\n\tg()".startswith(item.insert_text)
    await asyncio.sleep(0.5)
    # typed up to { which the editor closes
    change(client, 2, 1, 1, "if x > 0 {}", uri=GO_URI)
    text = "func f(x int) {\n\tif x > 0 {}\n}\n"
    [item] = (await client.text_document_inline_completion_async(inline_params(1, 11, uri=GO_URI))).items
    assert item.insert_text == "\n\t\treturn\n\t}\n\tg()" and item.range.end.character == 12
    # Enter: the editor expands {|} into {\n\t\t|\n\t}
    change(client, 3, 1, 11, "\n\t\t\n\t", uri=GO_URI)
    text = "func f(x int) {\n\tif x > 0 {\n\t\t\n\t}\n}\n"
    [item] = (await client.text_document_inline_completion_async(inline_params(2, 2, uri=GO_URI))).items
    assert item.insert_text == "return" and item.range.end == item.range.start
    assert accepted(text, item) == "func f(x int) {\n\tif x > 0 {\n\t\treturn\n\t}\n}\n"
    # accepted, then past the closer line: the rest, still from memory
    change(client, 4, 2, 2, "return", uri=GO_URI)
    change(client, 5, 3, 2, "\n\t", uri=GO_URI)
    text = "func f(x int) {\n\tif x > 0 {\n\t\treturn\n\t}\n\t\n}\n"
    [item] = (await client.text_document_inline_completion_async(inline_params(4, 1, uri=GO_URI))).items
    assert accepted(text, item) == "func f(x int) {\n\tif x > 0 {\n\t\treturn\n\t}\n\tg()\n}\n"
    assert len(fake.fim_requests()) == 1


async def test_a_blank_lines_block_at_a_partial_indentation_stays_consistent(client: LanguageClient, fake):
    text = "class A:\n    def f(self):\n    \n"
    open_doc(client, text)
    fake.fim_handler = lambda body: "    x = 1\n        return x"
    [item] = (await client.text_document_inline_completion_async(inline_params(2, 4, manual=True))).items
    assert accepted(text, item).split("\n")[2:4] == ["        x = 1", "        return x"]


async def test_an_answer_in_flight_survives_enter_between_auto_paired_braces(client: LanguageClient, fake):
    fake.latency_ms = 400
    open_doc(client, "function f(x) {\n    \n}\n", uri=JS_URI, language="javascript")
    fake.fim_handler = lambda body: "if (x) {\n        return 1;\n    }"
    first = asyncio.ensure_future(client.text_document_inline_completion_async(
        inline_params(1, 4, manual=True, uri=JS_URI)))
    await until(lambda: fake.fim_requests())
    # typed `if (x) {` (the editor closing ( and {), then Enter between the braces
    change(client, 2, 1, 4, "if (x) {}", uri=JS_URI)
    change(client, 3, 1, 12, "\n        \n    ", uri=JS_URI)
    text = "function f(x) {\n    if (x) {\n        \n    }\n}\n"
    [item] = (await client.text_document_inline_completion_async(inline_params(2, 8, uri=JS_URI))).items
    assert item.insert_text == "return 1;" and item.range.end == item.range.start
    assert accepted(text, item) == "function f(x) {\n    if (x) {\n        return 1;\n    }\n}\n"
    await first
    assert len(fake.fim_requests()) == 1
