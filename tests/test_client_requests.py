"""Every request the server sends to the client (workspace/configuration,
window/workDoneProgress/create, window/showDocument, workspace/applyEdit) has a deadline,
and an answer that is null or of another shape is "not done": a chat is answered anyway, an
edit is reported as not applied, a pulled settings layer is emptied; nothing hangs."""

from __future__ import annotations

import json
import time

import pytest

from tests.fake_deepseek import FakeDeepSeek
from tests.lsp_raw import RawServer, env_without_deepseek

URI = "file:///w/pkg/a.py"
TEXT = "values = [1, 2, 3]\ntotal = 0\nfor v in values:\n    total += v\nprint(total)\n"
CAPS = {"workspace": {"applyEdit": True, "configuration": True},
        "window": {"showDocument": {"support": True}, "workDoneProgress": True}}


class Client:
    """A raw client that answers the server's own requests as ``answers[method]`` says:
    a value (sent as the result, null included), "error", or "never"."""

    def __init__(self, fake: FakeDeepSeek, tmp_path, answers: dict, deadline_s: float = 1.0):
        self.answers = answers
        self.s = RawServer(env_without_deepseek(DEEPSEEK_LS_CLIENT_DEADLINE_S=str(deadline_s),
                                                XDG_CACHE_HOME=str(tmp_path), DEEPSEEK_LS_LOG="info"))
        self.seen: set = set()
        self.s.request("init", "initialize", {"capabilities": CAPS, "rootUri": "file:///w",
                                              "initializationOptions": {"deepseek": {
                                                  "baseUrl": fake.base_url, "apiKey": "sk-test"}}})
        self.s.response("init")
        self.s.notify("initialized", {})
        self.s.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python",
                                                                "version": 1, "text": TEXT}})

    def serve(self, until_id: str, timeout: float = 20.0) -> dict:
        """Answer the server's requests until the response to ``until_id`` comes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in list(self.s.messages):
                if not isinstance(m, dict):
                    continue
                if m.get("id") == until_id and "method" not in m:
                    return m
                if "method" in m and "id" in m and m["id"] not in self.seen:
                    self.seen.add(m["id"])
                    answer = self.answers.get(m["method"], "default")
                    if answer == "never":
                        continue
                    if answer == "error":
                        self.s.send({"jsonrpc": "2.0", "id": m["id"],
                                     "error": {"code": -32603, "message": "no"}})
                    elif answer == "default":
                        self.s.send({"jsonrpc": "2.0", "id": m["id"], "result": None})
                    else:
                        self.s.send({"jsonrpc": "2.0", "id": m["id"], "result": answer})
            time.sleep(0.01)
        raise TimeoutError(f"no response to {until_id}")

    def requests(self, method: str) -> list[dict]:
        return [m for m in self.s.messages if isinstance(m, dict) and m.get("method") == method and "id" in m]

    def close(self) -> None:
        assert self.s.close() == 0
        assert b"Traceback" not in self.s.stderr, self.s.stderr.decode(errors="replace")[-3000:]


@pytest.fixture
def fake():
    with FakeDeepSeek() as f:
        f.chat_handler = lambda body: "total = sum(values)\n"
        yield f


def rewrite(c: Client, msg_id: str) -> dict:
    c.s.request(msg_id, "workspace/executeCommand", {"command": "deepseek.rewriteSelection", "arguments": [
        {"uri": URI, "range": {"start": {"line": 1, "character": 0}, "end": {"line": 4, "character": 0}},
         "instruction": "use sum()"}]})
    return c.serve(msg_id)


def chat(c: Client, msg_id: str) -> dict:
    c.s.request(msg_id, "workspace/executeCommand", {"command": "deepseek.explainSelection", "arguments": [
        {"uri": URI, "range": {"start": {"line": 1, "character": 0}, "end": {"line": 4, "character": 0}}}]})
    return c.serve(msg_id)


APPLY_ANSWERS = {
    "null": (None, "the editor's answer could not be read"),
    "a-string": ("yes", "the editor's answer could not be read"),
    "a-list": ([True], "the editor's answer could not be read"),
    "applied-missing": ({}, "the editor's answer could not be read"),
    "applied-a-string": ({"applied": "false"}, "the editor's answer could not be read"),
    "applied-a-number": ({"applied": 1}, "the editor's answer could not be read"),
    "reason-a-number": ({"applied": True, "failureReason": 5}, "the editor's answer could not be read"),
    "an-error": ("error", "the editor refused it"),
    "never": ("never", "the editor did not answer"),
    "refused": ({"applied": False, "failureReason": "read-only"}, "read-only"),
}


@pytest.mark.parametrize("case", sorted(APPLY_ANSWERS))
def test_apply_edit_answered_null_malformed_or_never_is_not_applied(fake, tmp_path, case):
    answer, reason = APPLY_ANSWERS[case]
    c = Client(fake, tmp_path, {"workspace/applyEdit": answer})
    reply = rewrite(c, "rw")
    assert reply["result"]["applied"] is False
    assert reply["result"]["failureReason"].startswith(reason)
    assert len(c.requests("workspace/applyEdit")) == 1
    # the server goes on: an editor that applies the next edit gets it applied
    c.answers["workspace/applyEdit"] = {"applied": True}
    assert rewrite(c, "rw2")["result"] == {"applied": True}
    c.close()


@pytest.mark.parametrize("case", ["null", "an-object", "a-number", "success-a-string", "an-error", "never"])
@pytest.mark.parametrize("method", ["window/showDocument", "window/workDoneProgress/create"])
def test_a_chat_is_answered_whatever_the_client_answers_to_its_requests(fake, tmp_path, case, method):
    answer = {"null": None, "an-object": {"x": 1}, "a-number": 5, "success-a-string": {"success": "no"},
              "an-error": "error", "never": "never"}[case]
    c = Client(fake, tmp_path, {method: answer})
    reply = chat(c, "ex")
    assert reply["result"]["content"] == "total = sum(values)\n"
    assert len(c.requests(method)) == 1
    if method == "window/workDoneProgress/create" and case in ("an-error", "never"):
        assert not [m for m in c.s.messages if isinstance(m, dict) and m.get("method") == "$/progress"]
    c.close()


@pytest.mark.parametrize("case", ["null", "an-error", "never"])
def test_a_rewrite_is_answered_whatever_the_client_answers_to_progress_create(fake, tmp_path, case):
    c = Client(fake, tmp_path, {"window/workDoneProgress/create": {"null": None, "an-error": "error"}.get(case, case),
                                "workspace/applyEdit": {"applied": True}})
    assert rewrite(c, "rw")["result"] == {"applied": True}
    c.close()


def statuses(c: Client) -> list[dict]:
    return [m["params"] for m in c.s.messages if isinstance(m, dict) and m.get("method") == "deepseek/status"]


def pump(c: Client, predicate, timeout: float = 10.0) -> None:
    """Serve the client side until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        try:
            c.serve("-none-", timeout=0.05)
        except TimeoutError:
            pass


@pytest.mark.parametrize("case", ["null", "list-of-null", "a-number", "list-of-a-list", "an-object"])
def test_a_configuration_answer_of_null_or_another_shape_empties_the_pulled_layer(fake, tmp_path, case):
    c = Client(fake, tmp_path, {"workspace/configuration": [{"completion": {"enabled": False}}]})
    pump(c, lambda: statuses(c) and statuses(c)[-1]["autoCompletion"] is False)
    c.answers["workspace/configuration"] = {"null": None, "list-of-null": [None], "a-number": 5,
                                            "list-of-a-list": [[1]], "an-object": {"x": 1}}[case]
    c.s.notify("workspace/didChangeConfiguration", {"settings": None})
    pump(c, lambda: statuses(c)[-1]["autoCompletion"] is True)  # the default is back
    c.close()


@pytest.mark.parametrize("case", ["an-error", "never"])
def test_configuration_refused_or_never_answered_keeps_the_layer_and_the_server_answers(fake, tmp_path, case):
    c = Client(fake, tmp_path, {"workspace/configuration": [{"completion": {"enabled": False}}]})
    pump(c, lambda: statuses(c) and statuses(c)[-1]["autoCompletion"] is False)
    c.answers["workspace/configuration"] = {"an-error": "error"}.get(case, case)
    c.s.notify("workspace/didChangeConfiguration", {"settings": None})
    reply = chat(c, "ex")
    assert reply["result"]["content"]
    pump(c, lambda: b"workspace/configuration" in c.s.stderr)
    assert statuses(c)[-1]["autoCompletion"] is False
    c.close()


# -- finding 2 end to end: an answer of the wrong shape is never pasted into the file --------------
@pytest.mark.parametrize("content", [["a", {"b": 1}], {"b": 1}, 5, True])
def test_a_rewrite_whose_answer_is_not_text_changes_nothing_and_says_why(fake, tmp_path, content):
    body = json.dumps({"id": "x", "object": "chat.completion", "model": "deepseek-chat",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}})
    fake.inject(path="/beta/chat/completions", kind="body", body=body, times=5)
    c = Client(fake, tmp_path, {"workspace/applyEdit": {"applied": True}})
    reply = rewrite(c, "rw")
    assert "DeepSeek's answer is not a completion" in reply["error"]["message"]
    assert "traceback" not in json.dumps(reply).lower()
    assert c.requests("workspace/applyEdit") == []
    popups = [m["params"]["message"] for m in c.s.messages
              if isinstance(m, dict) and m.get("method") == "window/showMessage"]
    assert sum("not a completion" in p for p in popups) == 1
    assert len(fake.chat_requests()) == 1  # not retried
    c.close()


@pytest.mark.parametrize("event", ["null", "[1,2]", '{"choices":[{"delta":null}]}',
                                   '{"choices":[{"delta":{"content":5}}]}', '{"choices":"x"}'])
def test_a_chat_whose_stream_is_malformed_is_one_clear_error(fake, tmp_path, event):
    fake.inject(path="/chat/completions", kind="body", body=f"data: {event}\n\ndata: [DONE]\n\n",
                content_type="text/event-stream")
    c = Client(fake, tmp_path, {})
    reply = chat(c, "ex")
    assert "DeepSeek's answer is not a completion" in reply["error"]["message"]
    c.close()
