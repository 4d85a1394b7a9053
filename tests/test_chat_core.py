"""Unit tests of the chat core: SSE, sessions, prompts, prefix requests, edits, retry waits."""

import json

import pytest

from deepseek_ls.api.chat import ChatRequest
from deepseek_ls.api.errors import (
    APIConnectionError,
    BadRequestError,
    InsufficientBalanceError,
    RateLimitError,
    ServerError,
    StreamError,
)
from deepseek_ls.api.retry import RetryPolicy, is_retryable
from deepseek_ls.api.sse import SSEDecoder, StreamState
from deepseek_ls.chat.sessions import Session, SessionStore
from deepseek_ls.chat.transcript import TranscriptWriter
from deepseek_ls.edits import Edit, apply_edits, minimal_edits
from deepseek_ls.positions import offset_at, position_at
from deepseek_ls.prompt.chat import SYSTEM_PROMPT, context_for, fence_for, user_message
from deepseek_ls.prompt.prefix import plan_complete, plan_docstring, plan_fix, plan_rewrite
from deepseek_ls.snapshot import DocumentSnapshot


def feed_lines(lines):
    decoder, state, deltas = SSEDecoder(), StreamState(), []
    for line in lines:
        data = decoder.feed(line)
        if data is not None:
            deltas += state.feed(data)
    data = decoder.flush()
    if data is not None:
        deltas += state.feed(data)
    return state, deltas


def chunk(delta=None, finish=None, usage="absent", choices=True):
    obj = {"id": "x", "object": "chat.completion.chunk", "model": "deepseek-flash",
           "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}] if choices else []}
    if usage != "absent":
        obj["usage"] = usage
    return "data: " + json.dumps(obj)


USAGE = {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14, "prompt_cache_hit_tokens": 6,
         "prompt_cache_miss_tokens": 4, "completion_tokens_details": {"reasoning_tokens": 2}}


# -- SSE ------------------------------------------------------------------
def test_sse_keepalives_reasoning_content_and_usage_on_the_finish_chunk():
    state, deltas = feed_lines([
        ": keep-alive", "", ": keep-alive", "",
        chunk({"role": "assistant", "content": None, "reasoning_content": ""}), "",
        chunk({"content": None, "reasoning_content": "Hmm"}), "",
        chunk({"content": "Hi", "reasoning_content": None}), "",
        chunk({"content": " there"}), "",
        chunk({"content": ""}, finish="stop", usage=USAGE), "",
        "data: [DONE]", "",
    ])
    assert deltas == [("reasoning", "Hmm"), ("content", "Hi"), ("content", " there")]
    assert state.done and state.finish_reason == "stop"
    assert ("".join(state.content), "".join(state.reasoning), state.model) == ("Hi there", "Hmm", "deepseek-flash")
    assert (state.usage.hit_tokens, state.usage.miss_tokens, state.usage.reasoning_tokens) == (6, 4, 2)


def test_sse_legacy_trailing_usage_chunk_with_empty_choices():
    state, deltas = feed_lines([
        chunk({"role": "assistant", "content": ""}, usage=None), "",
        chunk({"content": "ok"}, usage=None), "",
        chunk({"content": ""}, finish="stop", usage=None), "",
        chunk(usage=USAGE, choices=False), "",
        "data: [DONE]", "",
    ])
    assert deltas == [("content", "ok")]
    assert state.done and state.usage.prompt_tokens == 10 and state.usage.completion_tokens == 4


def test_sse_without_done_is_not_done_and_multiline_data_joins():
    state, _ = feed_lines([chunk({"content": "partial"})])  # no blank line, no [DONE]: flushed at EOF
    assert not state.done and "".join(state.content) == "partial"
    decoder = SSEDecoder()
    assert decoder.feed("data: {\"a\":") is None
    assert decoder.feed("data: 1}") is None
    assert decoder.feed("event: ignored") is None
    assert decoder.feed("") == '{"a":\n1}'


def test_sse_error_and_garbage_raise_stream_error():
    with pytest.raises(StreamError):
        StreamState().feed("{not json")
    with pytest.raises(StreamError, match="mid-answer"):
        StreamState().feed(json.dumps({"error": {"message": "overloaded"}}))


def test_chat_request_body_fast_path_disables_thinking_explicitly():
    body = ChatRequest("deepseek-flash", ({"role": "user", "content": "hi"},), max_tokens=100).body()
    assert body["thinking"] == {"type": "disabled"}
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert ChatRequest("m", (), thinking=True).body()["thinking"] == {"type": "enabled"}
    once = ChatRequest("m", (), stream=False, beta=True, stop=("```",), temperature=0.0)
    assert "stream_options" not in once.body() and once.path == "/beta/chat/completions"
    assert once.body()["stop"] == ["```"] and once.body()["temperature"] == 0.0


# -- retry policy ----------------------------------------------------------
def test_retryable_statuses_and_waits():
    assert all(is_retryable(ServerError(s, "x")) for s in (500, 502, 503, 504))
    assert is_retryable(RateLimitError(429, "x")) and is_retryable(APIConnectionError("x"))
    assert not is_retryable(ServerError(501, "x"))
    assert not any(is_retryable(e) for e in (BadRequestError(400, "x"), BadRequestError(422, "x"),
                                             InsufficientBalanceError(402, "x"), StreamError("x")))
    policy = RetryPolicy(base_wait_s=1.0, max_wait_s=5.0)
    assert policy.wait_s(1, ServerError(503, "x"), rng=lambda: 0.0) == 0.5
    assert policy.wait_s(3, ServerError(503, "x"), rng=lambda: 1.0) == 4.0
    assert policy.wait_s(9, ServerError(503, "x"), rng=lambda: 1.0) == 5.0  # capped
    assert policy.wait_s(1, RateLimitError(429, "x", retry_after=0.0)) == 0.0  # Retry-After wins
    assert policy.wait_s(1, RateLimitError(429, "x", retry_after=99.0)) == 5.0  # ... capped


# -- prompts and sessions -------------------------------------------------------
def test_context_block_has_path_header_code_and_a_safe_fence():
    text = "a = 1\ns = '```'\nb = 2\n"
    ctx = context_for("pkg/x.py", "python", text, text.index("s ="), text.index("b ="))
    rendered = ctx.render()
    assert rendered.startswith("Selected code from `pkg/x.py` (lines 2-2, python):\n\n````python\ns = '```'\n")
    assert rendered.endswith("````") and fence_for("x") == "```"
    message = user_message("  Why?  ", ctx)
    assert message.startswith("Selected code") and message.endswith("\n\nWhy?")


def test_session_messages_are_stable_and_never_carry_reasoning():
    session = Session("s1")
    ctx = context_for("a.py", "python", "x = 1\n", 0, 5)
    first = session.messages("What is x?", ctx)
    assert [m["role"] for m in first] == ["system", "user"] and first[0]["content"] == SYSTEM_PROMPT
    session.record("What is x?", "x is one.", ctx)
    second = session.messages("And y?")
    assert second[:2] == first  # byte-identical prefix: cache hits
    assert second[2] == {"role": "assistant", "content": "x is one."}
    assert second[3] == {"role": "user", "content": "And y?"}
    assert all("reasoning_content" not in m for m in second)


def test_long_history_drops_oldest_turns_but_keeps_system_and_file_context_first():
    session = Session("s", history_chars=3000)
    ctx = context_for("a.py", "python", "def f():\n    return 1\n", 0, 20)
    session.record("q0", "a0 " * 200, ctx)
    for i in range(1, 8):
        session.record(f"q{i}", f"a{i} " * 200)
    messages = session.messages("last question")
    assert messages[0]["content"] == SYSTEM_PROMPT
    assert messages[1]["role"] == "user" and messages[1]["content"].startswith("Selected code from `a.py`")
    assert "q0" not in messages[1]["content"] and "q1\n" not in json.dumps(messages)
    assert messages[-1] == {"role": "user", "content": "last question"}
    assert sum(len(m["content"]) for m in messages) <= 3000 + len(ctx.render())
    assert len(session.turns) < 8


def test_store_evicts_least_recently_used_sessions():
    store = SessionStore(max_sessions=2)
    a = store.get("a")
    store.get("b")
    assert store.get("a") is a  # touch a
    store.get("c")
    assert "b" not in store and "a" in store and len(store) == 2
    assert store.get(None).id not in ("a", "b", "c")


def test_transcript_keeps_reasoning_apart(tmp_path):
    writer = TranscriptWriter(tmp_path)
    path = writer.append("s/1", title="Explain a.py:1-1", question="Why?", context=None,
                         content="Because.", reasoning="Let me think.")
    writer.append("s/1", title="Second", question="", context=None, content="More.")
    text = path.read_text()
    assert path.name == "chat-s_1.md" and text.count("# DeepSeek chat") == 1
    assert "<details><summary>Reasoning</summary>\n\nLet me think.\n\n</details>" in text
    assert text.index("Let me think.") < text.index("Because.") < text.index("More.")


# -- prefix requests -----------------------------------------------------------
def snap(text, language="python"):
    return DocumentSnapshot(uri="file:///p/a.py", path="a.py", language_id=language, text=text, version=1)


def test_complete_request_is_a_beta_prefix_request_ending_at_the_cursor():
    text = "import os\n\ndef add(a, b):\n    s = '😋'\n    return \n\nprint(1)\n"
    cursor = text.index("return ") + len("return ")
    plan = plan_complete(snap(text), cursor)
    body = plan.request("deepseek-flash").body()
    assert plan.request("m").path == "/beta/chat/completions"
    assert body["stop"] == ["```"] and body["stream"] is False and body["thinking"] == {"type": "disabled"}
    last = body["messages"][-1]
    assert last == {"role": "assistant", "content": "```python\ndef add(a, b):\n    s = '😋'\n    return ",
                    "prefix": True}
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant"]
    assert "`a.py`" in body["messages"][1]["content"]
    new = apply_edits(text, plan.edits(text, "a + b\n\n"))
    assert new == text.replace("    return \n", "    return a + b\n")


def test_docstring_plan_and_edit_with_emoji_before_the_cursor():
    text = "def greet(name):\n    s = '😋😋'\n    return s + name\n"
    cursor = text.index("return")
    plan = plan_docstring(snap(text), cursor)
    assert plan.messages[-1]["content"] == '```python\ndef greet(name):\n    """'
    assert plan.stop == ('"""', "```")
    new = apply_edits(text, plan.edits(text, "Greet someone by name."))
    assert new == 'def greet(name):\n    """Greet someone by name."""\n    s = \'😋😋\'\n    return s + name\n'
    documented = new
    assert plan_docstring(snap(documented), documented.index("return")) is None
    assert plan_docstring(snap(text, "javascript"), cursor) is None
    assert plan_docstring(snap("x = 1\n"), 0) is None


def test_fix_rewrites_whole_lines_with_minimal_edits_and_keeps_indentation():
    text = "class A:\n    def f(self):\n        x = '😋'\n        return x +\n\n"
    start = text.index("return")
    plan = plan_fix(snap(text), start, start + 5, "invalid syntax")
    assert plan.messages[-1]["content"] == "```python\n        "
    assert "invalid syntax" in plan.messages[1]["content"]
    # the model forgot the base indentation on a second line: re-indented
    edits = plan.edits(text, "return x + 1\nprint(x)\n")
    assert apply_edits(text, edits) == text.replace("return x +\n", "return x + 1\n        print(x)\n")
    assert edits[0].start >= start  # nothing before the change is touched


def test_rewrite_selection_mid_line_and_multi_line():
    text = "values = [1, 2, 3]\ntotal = 0\nfor v in values:\n    total += v\n"
    sel = (text.index("total = 0"), len(text))
    plan = plan_rewrite(snap(text), *sel, "use sum()")
    assert "use sum()" in plan.messages[1]["content"] and plan.keep_newline
    assert apply_edits(text, plan.edits(text, "total = sum(values)\n")) == "values = [1, 2, 3]\ntotal = sum(values)\n"
    mid = text.index("[1, 2, 3]")
    plan = plan_rewrite(snap(text), mid, mid + 9, "make it a tuple")
    assert plan.messages[-1]["content"] == "```python\n"
    assert apply_edits(text, plan.edits(text, "(1, 2, 3)")) == text.replace("[1, 2, 3]", "(1, 2, 3)")


# -- edits ---------------------------------------------------------------------
def test_minimal_edits_touch_only_changed_characters_and_lines():
    text = "a = 1\nb = 2\nc = 3\nd = 4\n"
    edits = minimal_edits(text, 0, len(text), "a = 1\nb = 20\nc = 3\nd = 5\n")
    two, four = text.index("2"), text.index("4")
    assert edits == [Edit(two + 1, two + 1, "0"), Edit(four, four + 1, "5")]
    assert apply_edits(text, edits) == "a = 1\nb = 20\nc = 3\nd = 5\n"
    assert minimal_edits(text, 0, len(text), text) == []


def test_edit_ranges_in_every_encoding_with_emoji_before_the_cursor():
    text = "s = '😋'; return x\n"
    start = text.index("x")
    for encoding, column in (("utf-16", 17), ("utf-8", 19), ("utf-32", 16)):
        assert position_at(text, start, encoding) == (0, column)
        assert offset_at(text, 0, column, encoding) == start
