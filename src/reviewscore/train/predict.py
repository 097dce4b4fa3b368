"""Batched inference in length order, results in row order: validation, `evaluate`, and the
reload check all go through here, so they agree by construction."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from reviewscore.metrics import ClassificationMetrics, classification_metrics
from reviewscore.train.batching import EncodedRows, collate, sorted_batches
from reviewscore.train.precision import Precision, pick_precision


@torch.inference_mode()
def predict_logits(
    model: torch.nn.Module,
    encoded: EncodedRows,
    batch_size: int = 128,
    precision: Precision | None = None,
) -> np.ndarray:
    """float32 logits, one row per encoded row, in the rows' own order."""
    precision = precision or pick_precision("cpu")
    was_training = model.training
    model.eval()
    logits = np.zeros((len(encoded), model.config.num_labels), dtype=np.float32)
    for indices in sorted_batches(encoded.lengths, batch_size):
        batch = collate(encoded, indices)
        batch.pop("labels", None)
        with precision.autocast():
            out = model(**{k: v.to(precision.device) for k, v in batch.items()}).logits
        logits[indices] = out.float().cpu().numpy()
    model.train(was_training)
    return logits


def validation_metrics(
    model: torch.nn.Module,
    encoded: EncodedRows,
    batch_size: int = 128,
    precision: Precision | None = None,
) -> tuple[float, ClassificationMetrics]:
    """(mean cross-entropy, accuracy / macro-F1 / confusion) on labelled rows."""
    assert encoded.labels is not None, "validation rows must be labelled"
    logits = predict_logits(model, encoded, batch_size, precision)
    loss = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(encoded.labels)).item()
    return loss, classification_metrics(encoded.labels, logits.argmax(axis=1))
