"""Length-sorted, token-budgeted batches for the scorer: most phrases are a few tokens, so
padding each batch only to its own longest row (reviewscore.padding) removes most of the
work, and sorting makes neighbours the same length. The budget is in tokens (rows x longest
row), not rows: a batch of short phrases holds many more rows than one of long sentences,
so every batch costs about the same. The server plans its micro-batches here too, with the
cost of a session run it measured (see plan_batches).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

DEFAULT_BATCH_TOKENS = 4096
MAX_BATCH_ROWS = 512


def plan_batches(
    lengths: np.ndarray,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    max_rows: int = MAX_BATCH_ROWS,
    run_overhead_tokens: float = math.inf,
) -> Iterator[np.ndarray]:
    """Row indices per session run, shortest rows first: the one planner of the file scorer,
    the server's micro-batches, calibration and the benches.

    Cost model, in tokens of work: a run costs its padded tokens (rows x its longest row)
    plus `run_overhead_tokens` for the run itself. A run grows by the next row unless that
    would take it past `batch_tokens` padded tokens or `max_rows` rows (a single row longer
    than the budget is a run of its own), or padding its rows up to the next row's length
    would cost more than a run of its own. The file scorer's chunks are long enough that
    sorting alone makes neighbours the same length, so it leaves the overhead infinite
    (runs are cut by the budget only); the server measures it (serve/batcher.py), since a
    micro-batch of a few dozen phrases would otherwise pad its short ones to its longest."""
    order = np.argsort(lengths, kind="stable")
    start = 0
    longest = 0
    for end, row in enumerate(order):
        length = int(lengths[row])
        rows = end - start
        if rows and (
            rows + 1 > max_rows
            or (rows + 1) * length > batch_tokens
            or rows * (length - longest) > run_overhead_tokens
        ):
            yield order[start:end]
            start = end
        longest = length
    if start < len(order):
        yield order[start:]
