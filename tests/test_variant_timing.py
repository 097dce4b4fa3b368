"""The timing behind `verify --all` and `--variant auto`, on a clock the test drives: the
variants take turns, each gets a bounded number of passes, and the speed is rows over the
median pass. No real time is measured here."""

from __future__ import annotations

import pytest

from reviewscore.score import variant_timing
from reviewscore.score.variant_timing import time_variants


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeClassifier:
    """Costs `seconds` per timed pass on the clock (the k-th pass costs `costs[k]`)."""

    def __init__(self, name: str, costs: list[float], clock: Clock, calls: list[str]) -> None:
        self.name, self.costs, self.clock, self.calls = name, costs, clock, calls
        self.warmed = 0

    def encode(self, texts):
        return list(texts)

    def logits(self, texts, batch_tokens):
        self.warmed += len(texts)

    def logits_encoded(self, encoded, batch_tokens):
        self.calls.append(self.name)
        passes = self.calls.count(self.name)
        self.clock.now += self.costs[min(passes, len(self.costs)) - 1]


def test_variants_alternate_and_the_median_pass_gives_the_speed():
    clock, calls = Clock(), []
    slow = FakeClassifier("fp32", [2.0, 1.0, 9.0], clock, calls)  # over budget after 3
    fast = FakeClassifier("int8-static", [0.1], clock, calls)
    texts = [f"phrase {k}" for k in range(1000)]
    speeds = time_variants({"fp32": slow, "int8-static": fast}, texts, clock=clock)
    rows = variant_timing.TIMING_ROWS
    assert speeds == pytest.approx({"fp32": rows / 2.0, "int8-static": rows / 0.1})
    # turns: one pass each while both run; fp32 stops at the minimum (budget spent), the
    # fast one goes on to the most passes
    minimum, most = variant_timing.MIN_PASSES, variant_timing.MAX_PASSES
    assert calls[: 2 * minimum] == ["fp32", "int8-static"] * minimum
    assert calls.count("fp32") == minimum and calls.count("int8-static") == most
    assert slow.warmed == fast.warmed == variant_timing.WARM_UP_ROWS


def test_nothing_to_time_is_no_speeds():
    assert time_variants({}, ["a"]) == {}
    clock, calls = Clock(), []
    assert time_variants({"fp32": FakeClassifier("fp32", [1.0], clock, calls)}, []) == {}
    assert calls == []
