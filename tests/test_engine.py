"""completion/engine.py through an injected httpx.MockTransport (no LSP)."""

import asyncio
import dataclasses
import json

import httpx
import pytest

from deepseek_ls.api.client import DeepSeekClient
from deepseek_ls.api.errors import ServerError
from deepseek_ls.completion.clock import ManualClock
from deepseek_ls.completion.engine import CompletionEngine, CompletionRequest
from deepseek_ls.completion.flights import ADOPT_GRACE_MS
from deepseek_ls.completion.prompt_cache import CACHE_WARMUP_S
from deepseek_ls.prompt.config import PREFIX_CHARS, SHORT_PREFIX_CHARS
from deepseek_ls.settings import build_settings
from deepseek_ls.snapshot import DocumentSnapshot
from tests.conftest import until


class Upstream:
    """A scripted /beta/completions endpoint."""

    def __init__(self, text="return x + 1", latency=0.0, per_piece=0.0, gate=False):
        self.text = text
        self.latency = latency
        #: with a gate, every answer waits until the test opens it (``gate.set()``)
        self.gate = asyncio.Event() if gate else None
        self.per_piece = per_piece  # seconds between streamed pieces
        self.bodies = []
        self.statuses = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        await asyncio.sleep(self.latency)
        if self.gate is not None:
            await self.gate.wait()
        if self.statuses:
            status = self.statuses.pop(0)
            return httpx.Response(status, json={"error": {"message": f"status {status}", "type": "x",
                                                          "param": None, "code": "x"}})
        usage = {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105,
                 "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36}
        if self.bodies[-1].get("stream"):
            return httpx.Response(200, headers={"content-type": "text/event-stream"},
                                  content=self._sse(usage))
        return httpx.Response(200, json={
            "id": "1", "object": "text_completion", "model": "deepseek-flash",
            "choices": [{"index": 0, "text": self.text, "finish_reason": "stop"}], "usage": usage})

    async def _sse(self, usage):
        pieces = [p + "\n" for p in self.text.split("\n")]
        pieces[-1] = pieces[-1][:-1]
        for piece in pieces:
            if piece:
                chunk = {"object": "text_completion", "model": "deepseek-flash",
                         "choices": [{"index": 0, "text": piece, "finish_reason": None}]}
                yield f"data: {json.dumps(chunk)}\n\n".encode()
                await asyncio.sleep(self.per_piece)
        last = {"object": "text_completion", "model": "deepseek-flash",
                "choices": [{"index": 0, "text": "", "finish_reason": "stop"}], "usage": usage}
        yield f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode()


def make_engine(upstream, key="sk-test", *, key_problem=False, clock=None, **settings):
    """An engine on ``upstream``; ``key_problem``: the settings layer refuses ``key`` (the
    engine is still built with it, to test the client's own guard); ``clock``: the engine's
    clock (a ManualClock lets the test move time; the default is the real one)."""
    s, problems = build_settings({"apiKey": key, "baseUrl": "http://127.0.0.1:1",
                                  "completion": {"debounceMs": 30, "adaptiveDebounce": False, **settings}})
    if key_problem:
        assert [p.key for p in problems] == ["apiKey"]
        s = dataclasses.replace(s, api_key=key)
    else:
        assert not problems
    client = DeepSeekClient(s.base_url, s.api_key, transport=httpx.MockTransport(upstream)) if key else None
    problems_seen = []
    usage_seen = []
    engine = CompletionEngine(s, client, on_problem=lambda kind, msg: problems_seen.append((kind, msg)),
                              on_usage=lambda model, usage: usage_seen.append(usage))
    if clock is not None:
        engine.clock = clock
    return engine, problems_seen, usage_seen


def req(text, offset=None, manual=False, version=1):
    doc = DocumentSnapshot(uri="file:///w/a.py", path="a.py", language_id="python", text=text, version=version)
    return CompletionRequest(doc=doc, offset=len(text) if offset is None else offset, manual=manual)


BASE = "def f(x):\n    "


async def debounced(engine, request):
    """An automatic request on an engine with a ManualClock: its debounce passes at once."""
    timers = engine.clock.pending()
    task = asyncio.create_task(engine.complete(request))
    await until(lambda: task.done() or engine.clock.pending() > timers)  # waiting for a pause in typing
    engine.clock.advance(engine.rhythm.debounce_ms() / 1000)
    return await task


async def in_flight(engine, request):
    """Start ``request``; return its task and the flight carrying it upstream."""
    task = asyncio.create_task(engine.complete(request))
    await until(lambda: engine.flights)
    [flight] = engine.flights
    return task, flight


async def test_a_burst_of_keystrokes_costs_one_request():
    up = Upstream()
    engine, _, _ = make_engine(up, clock=ManualClock())
    typed = "ret"
    tasks = []
    for i in range(1, len(typed) + 1):
        tasks.append(asyncio.create_task(engine.complete(req(BASE + typed[:i], version=i))))
        if i > 1:
            await tasks[-2]  # superseded at once by this keystroke
        await until(lambda: engine.clock.pending() == 1)  # this keystroke's debounce
        engine.clock.advance(0.005)  # 5 ms between keystrokes, inside the 30 ms debounce
    engine.clock.advance(0.03)
    results = await asyncio.gather(*tasks)
    assert len(up.bodies) == 1
    assert results[:-1] == [None, None]
    assert results[-1].text == "return x + 1" and results[-1].source == "network"
    assert up.bodies[0]["prompt"].endswith("    ret")


async def test_typed_ahead_is_answered_from_memory():
    up = Upstream()
    engine, _, _ = make_engine(up)
    first = await engine.complete(req(BASE))
    assert first.text == "return x + 1"
    for typed in ("r", "re", "return x"):
        s = await engine.complete(req(BASE + typed))
        assert s.text == "return x + 1"[len(typed):] and s.source == "memory" and s.id == first.id
    assert len(up.bodies) == 1


async def test_identical_requests_in_flight_are_joined():
    up = Upstream(latency=0.1)
    engine, _, _ = make_engine(up)
    a, b = await asyncio.gather(engine.complete(req(BASE, manual=True)), engine.complete(req(BASE, manual=True)))
    assert len(up.bodies) == 1
    assert b.text == "return x + 1"


async def test_typing_into_an_answer_in_flight_waits_for_it():
    up = Upstream(gate=True)
    engine, _, _ = make_engine(up)
    first, _ = await in_flight(engine, req(BASE, manual=True))
    second = asyncio.create_task(engine.complete(req(BASE + "ret")))
    await until(lambda: first.done())  # superseded by the second at once
    up.gate.set()
    second = await second
    assert second.text == "urn x + 1" and second.source == "join"
    assert await first is None  # superseded
    assert len(up.bodies) == 1


async def test_result_cache_answers_a_repeated_state():
    up = Upstream()
    engine, _, _ = make_engine(up)
    first = await engine.complete(req(BASE + "x", manual=True))
    await engine.complete(req(BASE + "y", manual=True))
    engine.memory.clear()  # (memory answers first: see the next test)
    again = await engine.complete(req(BASE + "x", manual=True))
    assert (again.source, again.text) == ("cache", first.text) and again.id != first.id
    assert len(up.bodies) == 2


async def test_memory_answers_a_repeated_state_before_the_result_cache():
    up = Upstream()
    engine, _, _ = make_engine(up)
    first = await engine.complete(req(BASE + "x", manual=True))
    await engine.complete(req(BASE + "y", manual=True))
    again = await engine.complete(req(BASE + "x", manual=True))
    assert (again.source, again.text, again.id) == ("memory", first.text, first.id)
    assert len(up.bodies) == 2


async def test_missing_key_is_reported_once_and_sends_nothing():
    up = Upstream()
    engine, problems, _ = make_engine(up, key="")
    for _ in range(3):
        assert await engine.complete(req(BASE, manual=True)) is None
    assert [k for k, _ in problems] == ["missing-key"] and up.bodies == []


async def test_401_pauses_automatic_requests_until_settings_change():
    up = Upstream()
    up.statuses = [401]
    engine, problems, _ = make_engine(up)
    assert await engine.complete(req(BASE, manual=True)) is None
    assert [k for k, _ in problems] == ["auth"]
    assert await engine.complete(req(BASE + "x")) is None
    assert len(up.bodies) == 1  # paused: the automatic request was not sent
    assert engine.state()[0] == "paused"
    engine.configure(engine.settings, engine.client)
    assert (await engine.complete(req(BASE + "y"))).text == "return x + 1"


async def test_503_opens_the_breaker_then_a_probe_recovers():
    up = Upstream()
    up.statuses = [503, 503, 503]
    engine, problems, _ = make_engine(up, clock=ManualClock())
    for i in range(3):
        assert await engine.complete(req(BASE + "abc"[: i + 1], manual=True)) is None
    assert engine.breaker.state == "open" and engine.state()[0] == "error"
    assert [k for k, _ in problems] == ["unavailable"]  # one message, not three
    assert await debounced(engine, req(BASE + "q")) is None
    assert len(up.bodies) == 3  # dropped while open
    engine.clock.advance(engine.breaker.current_cooldown_s)  # the next request is the probe
    assert engine.breaker.state == "half-open"
    assert (await debounced(engine, req(BASE + "z"))).text == "return x + 1"
    assert engine.breaker.state == "closed" and engine.state()[0] == "idle"


async def test_usage_is_reported_per_response():
    up = Upstream()
    engine, _, usage = make_engine(up)
    await engine.complete(req(BASE, manual=True))
    assert usage[0].hit_tokens == 64 and usage[0].miss_tokens == 36


async def test_cancelling_the_caller_cancels_the_http_exchange():
    up = Upstream(gate=True)
    engine, _, _ = make_engine(up, clock=ManualClock())
    task, flight = await in_flight(engine, req(BASE, manual=True))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    engine.clock.advance(ADOPT_GRACE_MS / 1000 - 0.001)
    await asyncio.sleep(0)
    assert not flight.task.done()  # kept for the next keystroke to adopt
    engine.clock.advance(0.001)  # nobody adopted it within the grace period
    await engine.wait_idle()
    assert flight.task.cancelled()
    assert not engine.flights and not engine.pending()


async def test_a_cancelled_request_is_adopted_by_the_next_keystroke():
    """Editors cancel the previous request before sending the next one."""
    up = Upstream(gate=True)
    engine, _, _ = make_engine(up, clock=ManualClock())
    task, _ = await in_flight(engine, req(BASE, manual=True))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    nxt = asyncio.create_task(engine.complete(req(BASE + "re")))
    await until(lambda: [f.refs for f in engine.flights] == [1])  # adopted
    engine.clock.advance(1.0)  # the grace period's end no longer cuts it off
    up.gate.set()
    nxt = await nxt
    assert nxt.text == "turn x + 1" and nxt.source == "join"
    assert len(up.bodies) == 1


async def test_an_incompatible_request_cancels_an_orphan_at_once():
    up = Upstream(latency=5)
    engine, _, _ = make_engine(up)
    task, flight = await in_flight(engine, req(BASE, manual=True))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    nxt = asyncio.create_task(engine.complete(req("def g(y):\n    ")))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert flight.task.cancelled() or flight.task.cancelling()
    nxt.cancel()


async def test_a_multiline_answer_is_shown_early_and_the_rest_comes_from_memory():
    lines = [f"x{i} = {i}" for i in range(8)]
    up = Upstream(text="\n    ".join(lines), per_piece=0.05)
    engine, _, _ = make_engine(up, clock=ManualClock())  # time stands still: shown at 3 lines
    first = await engine.complete(req(BASE, manual=True))
    assert first.text == "\n    ".join(lines[:3])  # three complete lines, not all eight
    assert engine.pending()  # shown while the stream goes on
    await engine.wait_idle()  # the stream finishes in the background
    rest = await engine.complete(req(BASE + first.text))
    assert rest.source == "memory" and rest.text == "\n    " + "\n    ".join(lines[3:])
    assert len(up.bodies) == 1 and up.bodies[0]["stream"] is True


async def test_short_prompts_while_a_new_prompt_head_is_being_cached():
    up = Upstream(text="x = 1")
    engine, _, _ = make_engine(up, clock=ManualClock())
    big = "".join(f"def helper_{i}(x):\n    return x * {i}\n\n" for i in range(400))
    text = big + "def main():\n    total = "
    await engine.complete(req(text, manual=True))          # full: builds the cache
    await engine.complete(req(text + "1", manual=True))    # within the warm-up: short
    engine.clock.advance(CACHE_WARMUP_S - 0.01)
    await engine.complete(req(text + "12", manual=True))   # still warming: short
    engine.clock.advance(0.01)
    await engine.complete(req(text + "123", manual=True))  # cached by now: full again
    sizes = [len(b["prompt"]) for b in up.bodies]
    assert sizes[0] > 2 * SHORT_PREFIX_CHARS and sizes[3] > 2 * SHORT_PREFIX_CHARS  # full: the whole window
    assert sizes[1] < SHORT_PREFIX_CHARS + 200 and sizes[2] < SHORT_PREFIX_CHARS + 200
    assert up.bodies[1]["prompt"].startswith("# Path: a.py\n# Language: python\n")
    assert up.bodies[3]["prompt"][: sizes[0] - 1] == up.bodies[0]["prompt"][:-1]


async def test_a_short_window_under_a_long_head_still_gets_short_prompts_while_it_warms():
    """The cursor near the top of a file: a long head (the file's tail) and a window of a few
    hundred characters that grows with each keystroke. The head's warm-up must not depend on
    the window's length, or each keystroke would build the same head again in full."""
    up = Upstream(text="x = 1")
    engine, _, _ = make_engine(up, clock=ManualClock(), prefixChars=12000)  # a tail of 6,000 characters
    below = "\n" * 9 + "".join(f"def helper_{i}(x):\n    return x * {i}\n\n" for i in range(400))
    top = '"""A module."""\n\n\ndef main():\n    total = '
    for typed in ("", "1", "12", "123"):
        await engine.complete(req(top + typed + below, len(top + typed), manual=True))
    sizes = [len(b["prompt"]) for b in up.bodies]
    assert sizes[0] > 5000                                      # full: builds the head's cache
    assert all(n < SHORT_PREFIX_CHARS + 200 for n in sizes[1:])  # short while it warms
    engine.clock.advance(CACHE_WARMUP_S)
    await engine.complete(req(top + "1234" + below, len(top + "1234"), manual=True))
    assert len(up.bodies[-1]["prompt"]) > 5000                  # cached by now: full again


async def test_a_request_building_the_cache_of_a_new_head_is_not_cut_off():
    """Aborted, its prompt would not be cached and the next full prompt would pay it again."""
    up = Upstream(gate=True)
    engine, _, usage = make_engine(up)
    big = "".join(f"def helper_{i}(x):\n    return x * {i}\n\n" for i in range(400))
    builder, flight = await in_flight(engine, req(big + "def main():\n    ", manual=True))
    assert flight.builds_cache
    # an incompatible keystroke elsewhere in the file supersedes it
    other = asyncio.create_task(engine.complete(req(big.replace("helper_0", "helper_x", 1) + "x = ",
                                                    manual=True)))
    assert await builder is None
    up.gate.set()
    other = await other
    await engine.wait_idle()
    assert flight.task.done() and not flight.task.cancelled()
    assert len(usage) == 2 and other is not None  # both answered (and billed); nothing was cut off


async def test_a_small_prompt_superseded_is_cut_off():
    up = Upstream(latency=5)
    engine, _, _ = make_engine(up)
    first, flight = await in_flight(engine, req(BASE, manual=True))
    assert not flight.builds_cache
    nxt = asyncio.create_task(engine.complete(req("def g(y):\n    ", manual=True)))
    assert await first is None
    await until(lambda: flight.task.done())
    assert flight.task.cancelled()
    nxt.cancel()


async def test_the_window_start_sticks_while_typing_past_a_step():
    up = Upstream(text="")
    engine, _, _ = make_engine(up, clock=ManualClock())
    big = "".join(f"def helper_{i}(x):\n    return x * {i}\n\n" for i in range(1000))
    text = big + "def main():\n"
    await engine.complete(req(text, manual=True))
    first_window = up.bodies[-1]["prompt"].split("# Path: a.py\n")[-1][:60]
    for i in range(70):  # 70 more lines: stateless alignment would move the window a step
        text += f"    v{i} = {i}\n"
    engine.results.clear()
    engine.clock.advance(CACHE_WARMUP_S)  # the head is cached: a full prompt again
    await engine.complete(req(text, manual=True))
    assert len(up.bodies[-1]["prompt"]) > PREFIX_CHARS  # the window kept its start and grew past the budget
    assert up.bodies[-1]["prompt"].split("# Path: a.py\n")[-1][:60] == first_window


async def test_a_stream_stops_once_the_rest_would_be_cut_and_its_usage_is_estimated():
    """Everything after a dedent is thrown away: generating it would be paid for nothing."""
    body = "x = 1\n    y = 2\n    z = 3\nother = 1\nmore = 2\nand_more = 3"
    up = Upstream(text=body, per_piece=0.05)
    engine, _, usage = make_engine(up)
    s = await engine.complete(req(BASE, manual=True))
    assert s.text == "x = 1\n    y = 2\n    z = 3"
    await until(lambda: usage, timeout=2)
    (u,) = usage
    assert u.completion_tokens == 4            # the pieces up to the dedent line, not all six
    assert u.prompt_tokens > 0 and u.hit_tokens + u.miss_tokens == u.prompt_tokens
    assert not engine.flights


async def test_no_request_at_the_end_of_a_line_a_suggestion_just_finished():
    """The model's answer ended this line; asking again would ask for the rest of a finished line."""
    up = Upstream(text="return x + 1")
    engine, _, _ = make_engine(up)
    first = await engine.complete(req(BASE, manual=True))
    accepted = BASE + first.text
    assert await engine.complete(req(accepted)) is None
    assert len(up.bodies) == 1
    assert await engine.complete(req(accepted, manual=True)) is not None  # asked for: asked
    assert len(up.bodies) == 2


def test_only_a_finished_single_line_counts_as_answered():
    from deepseek_ls.completion.engine import answered_to_end_of_line

    assert answered_to_end_of_line("    return x + 1", "\n\ndef g(): pass\n")
    assert not answered_to_end_of_line("    if x:", "\n")          # a block follows: worth asking
    assert not answered_to_end_of_line("    foo(x", ")\n")          # mid-line
    assert not answered_to_end_of_line("    ", "\n")                # an empty line


async def test_suggestions_carry_the_closers_after_the_cursor_they_replace():
    # issue 9 kinds 1 and 7 through the engine: network, join, cache and memory answers
    up = Upstream(text="width: float) -> float:", gate=True)
    engine, _, _ = make_engine(up)
    text = "def area():\n"
    cursor = text.index(")")
    first, _ = await in_flight(engine, req(text, cursor, manual=True))
    typed = text[:cursor] + "wid" + text[cursor:]
    joined = asyncio.create_task(engine.complete(req(typed, cursor + 3, manual=True, version=2)))
    await until(lambda: first.done())
    up.gate.set()
    joined = await joined
    assert (joined.text, joined.replace, joined.source) == ("th: float) -> float:", 2, "join")  # ):
    assert await first is None
    # the editor skipped over its ) while the user typed it: the rest from memory
    done = text[:cursor] + "width: float):\n"
    rest = await engine.complete(req(done, len(done) - 2, version=3))
    assert (rest.text, rest.replace, rest.source) == (" -> float:", 1, "memory")
    engine.memory.clear()
    again = await engine.complete(req(text, cursor, manual=True, version=4))
    assert (again.text, again.replace, again.source) == ("width: float) -> float:", 2, "cache")
    assert len(up.bodies) == 1


async def test_an_auto_closed_opener_typed_into_a_suggestion_is_answered_from_memory():
    up = Upstream(text='(f"total: {total}")')
    engine, _, _ = make_engine(up)
    text = "def report(total):\n    print\n"
    cursor = text.index("print") + 5
    first = await engine.complete(req(text, cursor))
    assert (first.text, first.replace) == ('(f"total: {total}")', 0)
    paired = text[:cursor] + "()" + text[cursor:]  # the editor closes the (
    s = await engine.complete(req(paired, cursor + 1, version=2))
    assert (s.text, s.replace, s.source, s.id) == ('f"total: {total}")', 1, "memory", first.id)
    assert len(up.bodies) == 1


async def test_typing_an_auto_closed_opener_while_the_answer_is_in_flight_waits_for_it():
    up = Upstream(text='(f"total: {total}")', gate=True)
    engine, _, _ = make_engine(up)
    text = "def report(total):\n    print\n"
    cursor = text.index("print") + 5
    first, _ = await in_flight(engine, req(text, cursor, manual=True))
    paired = text[:cursor] + '(f"")' + text[cursor:]  # ( and " typed, the editor closed both
    s = asyncio.create_task(engine.complete(req(paired, cursor + 3, version=2)))
    await until(lambda: first.done())
    up.gate.set()
    s = await s
    assert (s.text, s.replace, s.source) == ('total: {total}")', 2, "join")
    assert await first is None
    assert len(up.bodies) == 1


async def test_an_answer_in_flight_that_does_not_write_the_auto_closed_bracket_is_not_shown():
    up = Upstream(text="[1, 2", latency=0.15)  # typed "[" agrees, but it never writes the "]"
    engine, _, _ = make_engine(up)
    text = "def report(total):\n    \n"
    cursor = text.index("    \n") + 4
    first, flight = await in_flight(engine, req(text, cursor, manual=True))
    paired = text[:cursor] + "[]" + text[cursor:]
    assert flight.can_serve("file:///w/a.py", paired[: cursor + 1], paired[cursor + 1:])
    assert not flight.can_serve("file:///w/a.py", paired[: cursor + 1], "x" + paired[cursor + 1:])
    s = await engine.complete(req(paired, cursor + 1, manual=True, version=2))
    assert s.source == "network" and len(up.bodies) == 2  # the joined answer was refused: asked anew
    assert await first is None


async def test_an_automatic_request_leaves_when_the_debounce_has_passed_on_the_engine_clock():
    up = Upstream()
    engine, _, _ = make_engine(up, clock=ManualClock())
    task = asyncio.create_task(engine.complete(req(BASE)))
    await until(lambda: engine.clock.pending())
    engine.clock.advance(0.029)  # debounceMs 30
    await asyncio.sleep(0.01)
    assert up.bodies == [] and not task.done()
    engine.clock.advance(0.001)
    assert (await task).text == "return x + 1" and len(up.bodies) == 1


async def test_a_newer_request_supersedes_one_waiting_for_its_debounce():
    up = Upstream()
    engine, _, _ = make_engine(up, clock=ManualClock())
    older = asyncio.create_task(engine.complete(req(BASE + "r", version=1)))
    await until(lambda: engine.clock.pending())
    newer = asyncio.create_task(engine.complete(req(BASE + "re", version=2)))
    assert await older is None  # superseded at once, before its debounce ended
    await until(lambda: engine.clock.pending() == 1)  # the newer one's (the older's was cancelled)
    engine.clock.advance(0.03)
    assert (await newer).text == "return x + 1"
    assert len(up.bodies) == 1 and up.bodies[0]["prompt"].endswith("    re")


async def test_api_errors_reach_the_failure_observer_after_the_engine_handled_them():
    up = Upstream()
    up.statuses = [503]
    engine, problems, _ = make_engine(up)
    seen = []
    engine.on_failure = lambda exc: seen.append((type(exc), engine.last_error))
    assert await engine.complete(req(BASE, manual=True)) is None
    [(kind, last_error)] = seen
    assert kind is ServerError and last_error and "503" in last_error


async def test_wait_idle_waits_for_the_rest_of_a_stream_shown_early():
    lines = [f"x{i} = {i}" for i in range(6)]
    up = Upstream(text="\n    ".join(lines), per_piece=0.02)
    engine, _, usage = make_engine(up, clock=ManualClock())
    first = await engine.complete(req(BASE, manual=True))
    assert first.text.count("\n") == 2 and engine.pending() and usage == []
    await engine.wait_idle()
    assert not engine.pending() and len(usage) == 1
    assert engine.memory.recall("file:///w/a.py", BASE, "").text == "\n    ".join(lines)


async def test_the_project_context_goes_first_in_full_and_short_prompts():
    up = Upstream(text="x = 1")
    engine, _, _ = make_engine(up, clock=ManualClock())
    big = "".join(f"def helper_{i}(x):\n    return x * {i}\n\n" for i in range(400))
    text = big + "def main():\n    total = "
    block = "# Project: demo (uses helper_* everywhere)\n"

    def ask(t):
        doc = DocumentSnapshot(uri="file:///w/a.py", path="a.py", language_id="python", text=t)
        return engine.complete(CompletionRequest(doc=doc, offset=len(t), manual=True, context=block))

    await ask(text)         # full: the block, then the file header
    await ask(text + "1")   # the head warms: short, still opened by the (cached) project block
    full, short = (b["prompt"] for b in up.bodies)
    assert full.startswith(block + "# Path: a.py\n# Language: python\n")
    assert short.startswith(block + "# Path: a.py\n") and short.count(block) == 1
    assert "def helper_0(" not in short  # the rest is the short prompt's: header and nearest lines


async def test_the_short_prompt_path_builds_the_prompt_once(monkeypatch):
    from deepseek_ls.completion import prompt_cache

    builds = []
    real = prompt_cache.build_fim_prompt
    monkeypatch.setattr(prompt_cache, "build_fim_prompt", lambda *a, **k: builds.append(1) or real(*a, **k))
    up = Upstream(text="x = 1")
    engine, _, _ = make_engine(up, clock=ManualClock())
    big = "".join(f"def helper_{i}(x):\n    return x * {i}\n\n" for i in range(400))
    await engine.complete(req(big + "x = ", manual=True))
    await engine.complete(req(big + "x = 1", manual=True))  # short
    assert len(builds) == 2 and len(up.bodies[1]["prompt"]) < SHORT_PREFIX_CHARS + 200


async def test_an_invoked_completion_in_a_too_large_file_says_why_once():
    """A file over the size limit is never sent; typing in it stays quiet, but a completion the
    user asked for says why nothing comes (once), rather than returning nothing silently."""
    from deepseek_ls.completion.config import MAX_DOCUMENT_CHARS

    up = Upstream(text="x = 1")
    engine, problems, _ = make_engine(up)
    text = "x = 1\n" * (MAX_DOCUMENT_CHARS // 6 + 10) + "y = "
    assert await engine.complete(req(text)) is None
    assert problems == [] and up.bodies == []  # automatic: quiet
    assert await engine.complete(req(text, manual=True)) is None
    assert await engine.complete(req(text + "1", manual=True)) is None
    assert [kind for kind, _ in problems] == ["document-too-large"]  # invoked: said, once
    assert f"{MAX_DOCUMENT_CHARS:,}" in problems[0][1] and up.bodies == []
