"""Calibration batches for static int8, built by the scorer's own tokeniser and batching, so
the activation ranges are measured on the shapes and padding the scorer will feed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from reviewscore.data import read_reviews


def calibration_texts(path: Path, rows: int, *, skip: int = 0) -> list[str]:
    """`rows` texts of a labelled or unlabelled file, after the first `skip` (the parity
    gate's rows), so the gate does not judge int8 on the rows it was calibrated on; a file
    too short for both is used from the start."""
    texts = read_reviews(str(path)).texts
    start = skip if len(texts) >= skip + rows else 0
    return texts[start : start + rows]


def calibration_feeds(
    deploy_dir: Path, variant: str, texts: list[str]
) -> Iterator[dict[str, np.ndarray]]:
    """Model inputs for `texts`, batch by batch, as the scorer builds them."""
    from reviewscore.score.batching import plan_batches
    from reviewscore.score.classifier import DeployedClassifier

    classifier = DeployedClassifier.open(deploy_dir, variant, require_finished=False)
    encoded = classifier.encode(texts)
    for rows in plan_batches(encoded.lengths):
        yield classifier.feeds(encoded, rows)
