"""Hysteresis: how observations move a system between unknown, up, degraded and down."""

from datetime import UTC, datetime

import pytest

from portal.monitor.states import Observation, Tally, Thresholds, advance

T = Thresholds(down_after=3, up_after=2, degraded_ms=1000, degraded_after=3)
AT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

# One letter per observation: F failed (connection refused), o fast answer, s slow answer.
OBS = {
    "F": Observation(AT, "connect", False, "unavailable", 3, "connection refused"),
    "o": Observation(AT, "lookup", True, "ok", 40),
    "s": Observation(AT, "canary", True, "ok", 1800),
}


def run(sequence: str, state: str = "unknown", thresholds: Thresholds = T):
    """Feed the observations; return the final state and the list of (from, to) changes."""
    tally = Tally(state=state)
    changes = []
    for letter in sequence:
        change = advance(tally, OBS[letter], thresholds)
        if change is not None:
            changes.append((change.from_state, change.to_state))
    return tally.state, changes


@pytest.mark.parametrize("sequence, start, end, changes", [
    # From unknown the first answer decides at once; failures need down_after of them.
    ("o", "unknown", "up", [("unknown", "up")]),
    ("s", "unknown", "up", [("unknown", "up")]),
    ("F", "unknown", "unknown", []),
    ("FF", "unknown", "unknown", []),
    ("FFF", "unknown", "down", [("unknown", "down")]),
    ("FFo", "unknown", "up", [("unknown", "up")]),
    # Down only after down_after failures in a row; one or two blips change nothing.
    ("F", "up", "up", []),
    ("FFoFFo", "up", "up", []),
    ("FFF", "up", "down", [("up", "down")]),
    ("FFFFFF", "up", "down", [("up", "down")]),
    # Back up only after up_after answers in a row.
    ("o", "down", "down", []),
    ("oFo", "down", "down", []),
    ("oo", "down", "up", [("down", "up")]),
    ("FFFoo", "up", "up", [("up", "down"), ("down", "up")]),
    # Slow: degraded after degraded_after slow answers in a row; back up after up_after fast ones.
    ("ss", "up", "up", []),
    ("ssoss", "up", "up", []),
    ("sss", "up", "degraded", [("up", "degraded")]),
    ("ssso", "up", "degraded", [("up", "degraded")]),
    ("sssoso", "up", "degraded", [("up", "degraded")]),
    ("sssoo", "up", "up", [("up", "degraded"), ("degraded", "up")]),
    ("sssFFF", "up", "down", [("up", "degraded"), ("degraded", "down")]),
    # A down system that answers slowly comes back degraded, once it has answered slowly long enough.
    ("ss", "down", "up", [("down", "up")]),
    ("sss", "down", "degraded", [("down", "up"), ("up", "degraded")]),
])
def test_transitions(sequence, start, end, changes):
    assert run(sequence, start) == (end, changes)


def test_down_system_answering_slowly_comes_back_degraded_when_slow_is_already_established():
    quick_up = Thresholds(down_after=3, up_after=3, degraded_ms=1000, degraded_after=2)
    assert run("sss", "down", quick_up) == ("degraded", [("down", "degraded")])


@pytest.mark.parametrize("start", ["unknown", "up", "degraded"])
def test_alternating_failures_and_answers_never_reach_down(start):
    state, changes = run("FoFsFoFs" * 10, start)
    assert state != "down" and ("down" not in [to for _, to in changes])


def test_flapping_down_system_stays_down_until_it_holds():
    state, changes = run("FFF" + "oF" * 10, "up")
    assert state == "down" and changes == [("up", "down")]


def test_reasons_are_short_texts_people_read():
    tally = Tally(state="up")
    reasons = [advance(tally, OBS[c], T) for c in "FFF"]
    assert reasons[:2] == [None, None]
    assert reasons[2].reason == "3 failed checks in a row: connection refused"
    back = [advance(tally, OBS["o"], T) for _ in range(2)][-1]
    assert back.reason == "answered 2 checks in a row again (last 40 ms)"
    assert advance(Tally(), OBS["o"], T).reason == "first check answered (40 ms)"
    slow = Tally(state="up")
    change = [advance(slow, OBS["s"], T) for _ in range(3)][-1]
    assert change.reason == "3 slow answers in a row (last 1800 ms; slow is over 1000 ms)"


def test_counters_are_what_the_row_keeps():
    tally = Tally(state="up")
    for letter in "ssF":
        advance(tally, OBS[letter], T)
    assert (tally.failures, tally.successes, tally.slow) == (1, 0, 0)
    advance(tally, OBS["o"], T)
    assert (tally.failures, tally.successes, tally.slow) == (0, 1, 0)


def test_one_down_after_is_taken_at_its_word():
    eager = Thresholds(down_after=1, up_after=1, degraded_ms=1000, degraded_after=1)
    assert run("F", "up", eager) == ("down", [("up", "down")])
    assert run("Fs", "up", eager) == ("degraded", [("up", "down"), ("down", "degraded")])
