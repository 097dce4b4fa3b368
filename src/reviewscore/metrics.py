"""Accuracy, macro-F1 and the confusion matrix: one implementation for validation during
training, `reviewscore evaluate` and `reviewscore score --evaluate` (numpy only, so the
scorer can use it without the training extras)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from reviewscore.labels import LABEL_NAMES, NUM_LABELS


@dataclass(frozen=True)
class ClassificationMetrics:
    rows: int
    accuracy: float
    macro_f1: float
    recall: list[float]
    confusion: list[list[int]]  # confusion[true][predicted]

    def to_dict(self) -> dict:
        return asdict(self)


def classification_metrics(
    labels: np.ndarray, predictions: np.ndarray, num_labels: int = NUM_LABELS
) -> ClassificationMetrics:
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape:
        raise ValueError(f"{labels.shape[0]} labels but {predictions.shape[0]} predictions")
    confusion = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    true_pos = np.diag(confusion).astype(float)
    actual = confusion.sum(axis=1).astype(float)
    predicted = confusion.sum(axis=0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(actual > 0, true_pos / actual, 0.0)
        precision = np.where(predicted > 0, true_pos / predicted, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = actual > 0  # macro-F1 over the classes that occur, as scikit-learn's labels=None
    return ClassificationMetrics(
        rows=int(labels.size),
        accuracy=float(true_pos.sum() / max(labels.size, 1)),
        macro_f1=float(f1[present].mean()) if present.any() else 0.0,
        recall=[float(r) for r in recall],
        confusion=confusion.tolist(),
    )


def format_metrics(
    metrics: ClassificationMetrics, label_names: tuple[str, ...] = LABEL_NAMES
) -> str:
    """A plain-text report: headline figures, then the confusion matrix (rows = true label)."""
    width = max(len(n) for n in label_names)
    lines = [
        f"rows {metrics.rows:,}  accuracy {metrics.accuracy:.4f}  macro-F1 {metrics.macro_f1:.4f}",
        "confusion matrix (rows: true label, columns: predicted):",
        " " * (width + 3) + "".join(f"{i:>8d}" for i in range(len(label_names))) + "  recall",
    ]
    for i, (name, row) in enumerate(zip(label_names, metrics.confusion, strict=True)):
        cells = "".join(f"{c:>8d}" for c in row)
        lines.append(f"{i} {name:<{width}} {cells}  {metrics.recall[i]:.3f}")
    return "\n".join(lines)
