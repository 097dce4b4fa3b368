"""How fast each variant scores on this machine: phrases per second through the scorer's own
batching (`DeployedClassifier.logits_encoded` at the scorer's token budget), with the
threads and provider the classifiers were opened with.

Which variant is fastest depends on the CPU (int8 kernels differ between CPU families) and
the onnxruntime version, so no figure from another machine can say it; this measures it
where the scoring will run, in a bounded time. The variants take turns pass by pass, so a
burst of load from another process slows them all alike rather than one; each variant's
speed is the median of its passes, after an untimed warm-up pass. Tokenising is left out:
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

# The rows timed: the first of the parity rows (enough for several token-budget batches).
TIMING_ROWS = 512
WARM_UP_PASSES = 1
# Each variant runs passes until it has spent TIME_BUDGET_S timed or made MAX_PASSES.
TIME_BUDGET_S = 1.5
MAX_PASSES = 5


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
    for _ in range(WARM_UP_PASSES):
        for name, classifier in classifiers.items():
            classifier.logits_encoded(encoded[name], batch_tokens)
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
            if len(passes[name]) < MAX_PASSES and sum(passes[name]) < TIME_BUDGET_S
        ]
    return {name: len(texts) / statistics.median(times) for name, times in passes.items()}
