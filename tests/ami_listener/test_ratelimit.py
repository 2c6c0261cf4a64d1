"""RepeatLimiter: one occurrence per key per interval, the held-back ones counted (clock
injected: no sleeps)."""

from __future__ import annotations

from centralita.ami_listener.ratelimit import RepeatLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_first_passes_repeats_are_counted_and_reported_after_the_interval() -> None:
    clock = Clock()
    limiter = RepeatLimiter(10.0, clock)
    assert limiter.hit("k") == 0
    assert [limiter.hit("k") for _ in range(4)] == [None] * 4
    assert limiter.hit("other") == 0  # keys are independent
    assert limiter.pending() == {"k": 4}
    clock.now += 9.999
    assert limiter.hit("k") is None
    clock.now += 0.001
    assert limiter.hit("k") == 5  # a new interval starts here
    assert limiter.pending() == {}
    assert limiter.hit("k") is None
    clock.now += 100
    assert limiter.hit("k") == 1
    clock.now += 100
    assert limiter.hit("k") == 0  # a quiet interval: nothing held back


def test_remembers_a_bounded_number_of_keys() -> None:
    clock = Clock()
    limiter = RepeatLimiter(10.0, clock, max_keys=3)
    for key in "abc":
        assert limiter.hit(key) == 0
    clock.now += 5
    assert limiter.hit("d") == 0  # full: the oldest key ("a") is forgotten
    assert limiter.hit("b") is None and limiter.hit("c") is None  # still remembered
    clock.now += 6  # "b" and "c" ran out (11 s), "d" has not (6 s)
    assert limiter.hit("e") == 0  # full: the keys that ran out go first, "d" stays
    assert limiter.hit("d") is None
    assert limiter.pending() == {"d": 1}
