"""How fast each variant scores on this machine: phrases per second through the scorer's own
batching (`DeployedClassifier.logits_encoded` at the scorer's token budget), with the
threads and provider the classifiers were opened with.

Which variant is fastest depends on the CPU (int8 kernels differ between CPU families) and
the onnxruntime version, so no figure from another machine can say it; this measures it
where the scoring will run, in a bounded time. The variants take turns pass by pass, so a
burst of load from another process slows them all alike rather than one; each variant's
speed is the median of its passes, after an untimed warm-up run. Tokenising is left out:
it is the same for every variant, and the scorer does it on another thread meanwhile.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from reviewscore.score.batching import DEFAULT_BATCH_TOKENS

if TYPE_CHECKING:
    from reviewscore.score.classifier import DeployedClassifier

# The rows timed: the first of the parity rows (a few token-budget batches, sorted by
# length as the scorer sorts them). The warm-up pass runs the first WARM_UP_ROWS.
TIMING_ROWS = 384
WARM_UP_ROWS = 64
# Each variant runs MIN_PASSES passes, then more while under TIME_BUDGET_S and MAX_PASSES:
# a median of three at least, and a few seconds a variant with a small transformer on two
# cores.
MIN_PASSES = 3
MAX_PASSES = 7
TIME_BUDGET_S = 1.5


def time_variants(
    classifiers: dict[str, DeployedClassifier],
    texts: list[str],
    *,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Phrases per second of each classifier on `texts` (the first TIMING_ROWS of them)."""
    texts = texts[:TIMING_ROWS]
    if not texts or not classifiers:
        return {}
    encoded = {name: c.encode(texts) for name, c in classifiers.items()}
    for classifier in classifiers.values():
        classifier.logits(texts[:WARM_UP_ROWS], batch_tokens)
    passes: dict[str, list[float]] = {name: [] for name in classifiers}
    active = list(classifiers)
    while active:
        for name in active:
            started = clock()
            classifiers[name].logits_encoded(encoded[name], batch_tokens)
            passes[name].append(max(clock() - started, 1e-9))
        active = [
            name
            for name in active
            if len(passes[name]) < MIN_PASSES
            or (len(passes[name]) < MAX_PASSES and sum(passes[name]) < TIME_BUDGET_S)
        ]
    return {name: len(texts) / statistics.median(times) for name, times in passes.items()}
