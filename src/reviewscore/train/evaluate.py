"""`reviewscore evaluate RUN_DIR FILE`: score a labelled file with a run's model and report
the same metrics validation reports (reviewscore.metrics)."""

from __future__ import annotations

from pathlib import Path

from reviewscore.data import Columns, LabelMode, read_reviews
from reviewscore.metrics import ClassificationMetrics, classification_metrics
from reviewscore.run_folder import RunFolder
from reviewscore.run_model import load_run_model
from reviewscore.train.batching import encode
from reviewscore.train.config import DEFAULT_DEVICE, TrainConfig
from reviewscore.train.precision import pick_precision
from reviewscore.train.predict import predict_logits


def evaluate_file(
    run_dir: Path,
    path: str,
    *,
    columns: Columns | None = None,
    batch_size: int = TrainConfig.eval_batch_size,
    device: str = DEFAULT_DEVICE,
) -> ClassificationMetrics:
    """Metrics of the run's model on a labelled file (columns default to the run's own).

    The file is read before the model is loaded: a bad file fails in a second."""
    info = RunFolder(run_dir).read_info()
    columns = columns or Columns(**info.columns)
    rows = read_reviews(path, columns, label_mode=LabelMode.REQUIRED)
    loaded = load_run_model(run_dir)
    precision = pick_precision(device)
    loaded.model.to(precision.device)
    encoded = encode(rows.texts, rows.labels, loaded.tokenizer, info.max_length)
    logits = predict_logits(loaded.model, encoded, batch_size, precision)
    return classification_metrics(rows.labels, logits.argmax(axis=1))
