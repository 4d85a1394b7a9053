"""completion/rhythm.py: the adaptive debounce, fed with synthetic keystroke timings."""

from deepseek_ls.completion import config as C
from deepseek_ls.completion.rhythm import Rhythm, is_line_break

URI = "file:///w/a.py"


def typed(rhythm: Rhythm, t: float, gaps_ms, text="x") -> float:
    for gap in gaps_ms:
        t += gap / 1000
        rhythm.note_edit(URI, t, text)
    return t


def test_line_breaks_are_enter_with_indentation_only():
    assert is_line_break("\n") and is_line_break("\n    ") and is_line_break("\r\n\t")
    assert not is_line_break("x") and not is_line_break("")
    assert not is_line_break("return x\n    ")   # an accepted multi-line suggestion
    assert not is_line_break("\n    y = 1")


def test_debounce_is_the_95th_percentile_of_typing_intervals_within_bounds():
    r = Rhythm(base_ms=120)
    assert r.debounce_ms(URI) == 120                  # not enough samples yet
    typed(r, 0.0, [100] * 19 + [300])
    assert 100 < r.debounce_ms(URI) < 300
    typed(r, 10.0, [2000] * 3)                        # pauses are not rhythm
    assert r.debounce_ms(URI) < 300
    r2 = Rhythm()
    typed(r2, 0.0, [900] * 20)
    assert r2.debounce_ms(URI) == C.DEBOUNCE_MAX_MS or r2.debounce_ms(URI) <= C.GHOST_BUDGET_MS - 250


def test_slow_service_shortens_the_wait():
    r = Rhythm()
    typed(r, 0.0, [400] * 20)
    before = r.debounce_ms(URI)
    for _ in range(10):
        r.note_latency(0.8)
    assert r.debounce_ms(URI) < before and r.debounce_ms(URI) >= C.DEBOUNCE_MIN_MS


def test_after_a_line_break_the_request_leaves_at_once_when_pauses_are_long():
    r = Rhythm()
    t = 0.0
    for _ in range(10):  # lines typed at 150 ms per key, then Enter and a ~900 ms think pause
        t = typed(r, t, [150] * 8)
        t = typed(r, t, [150], text="\n    ")
        t += 0.9
        r.note_edit(URI, t, "x")
    for _ in range(5):
        r.note_latency(0.45)
    assert r.debounce_ms(URI) > C.DEBOUNCE_MIN_MS       # mid-line: the typing rhythm
    r.note_edit(URI, t + 0.15, "\n    ")
    assert r.debounce_ms(URI) == C.DEBOUNCE_MIN_MS      # right after Enter: no point waiting
    assert r.debounce_ms("file:///w/other.py") > C.DEBOUNCE_MIN_MS


def test_after_a_line_break_the_rhythm_holds_when_typists_go_straight_on():
    r = Rhythm()
    t = 0.0
    for _ in range(10):  # Enter, then typing on after 200 ms: no pause to fill
        t = typed(r, t, [150] * 8)
        t = typed(r, t, [150], text="\n    ")
        t = typed(r, t, [200])
    r.note_latency(0.45)
    r.note_edit(URI, t + 0.15, "\n    ")
    assert r.debounce_ms(URI) > C.DEBOUNCE_MIN_MS
