"""Checks of a strings-in (edge) variant at export: its dynamic batch axis and its parity
with the scorer.

Parity compares the edge file with the scorer's classifier of the variant it was built from
(`reviewscore score`'s tokenizer.json, padding and session): the tokenizer's ids and, row by
row, the logits and labels. One row per run on both sides, so that int8-dynamic, whose
activation scales depend on the batch, is compared on equal terms; a batch-invariant
variant must also keep its labels when the edge file runs batches of 64 rows in input order
(what an application calling it does). The figures against PyTorch's reference are reported
as for the other variants.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from reviewscore.cpu_features import measured_on
from reviewscore.deploy_folder import ParityFigures, Thresholds, Variant
from reviewscore.errors import ReviewscoreError
from reviewscore.export.edge.names import TEXT_INPUT
from reviewscore.parity.judge import moved_failure
from reviewscore.parity.reference import Reference
from reviewscore.score.session import exact_int8_wanted, session_options

EDGE_BATCH_ROWS = 64
SHAPE_BATCHES = (1, 7, 64)


def extensions_library() -> str:
    """Path of the onnxruntime-extensions operator library (the [edge] extra)."""
    try:
        from onnxruntime_extensions import get_library_path
    except ImportError as exc:
        raise ReviewscoreError(
            "the strings-in (--edge) variant needs onnxruntime-extensions: "
            "pip install 'reviewscore[edge]'"
        ) from exc
    return get_library_path()


def open_edge_session(model: Path | bytes, threads: int | None = None) -> Any:
    """A CPU session with the extensions' operators registered, otherwise as the scorer's
    (threads, exact int8 products on a CPU without VNNI: labels comparable with it)."""
    import onnxruntime as ort

    options = session_options(threads, exact_int8_wanted())
    options.register_custom_ops_library(extensions_library())
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_texts(session: Any, texts: list[str], outputs: list[str] | None = None) -> list[Any]:
    return session.run(outputs, {TEXT_INPUT: np.array(texts, dtype=object)})


def edge_logits(session: Any, texts: list[str], rows_per_run: int) -> np.ndarray:
    """Logits of `texts`, in order, `rows_per_run` texts per session run."""
    parts = [
        run_texts(session, texts[start : start + rows_per_run], ["logits"])[0]
        for start in range(0, len(texts), rows_per_run)
    ]
    return np.concatenate(parts) if parts else np.empty((0, 0), np.float32)


def shape_texts(max_length: int) -> list[str]:
    """Texts of every kind the tokenizer must handle: empty, blank, punctuation only,
    non-ASCII, and longer than the max length (truncated)."""
    long = " ".join(["word"] * (4 * max_length))
    return ["", " ", "...!?", "a", "a film", "café naïve", "日本", long, "-LRB- x -RRB-"]


def check_edge_shapes(model_path: Path, *, labels: int, max_length: int) -> dict[str, Any]:
    """Batches of 1, 7 and 64 texts (every kind of shape_texts, and an empty batch): each
    output has its shape, the probabilities sum to 1 and the label ids are their argmax."""
    from reviewscore.export.shapes import ShapeError

    session = open_edge_session(model_path)
    kinds = shape_texts(max_length)
    for batch in (*SHAPE_BATCHES, 0):
        texts = [kinds[i % len(kinds)] for i in range(batch)]
        try:
            logits, probs, label_ids = run_texts(session, texts)
        except Exception as exc:
            raise ShapeError(
                f"{model_path.name}: fails on a batch of {batch} texts: {exc}"
            ) from exc
        good = (
            logits.shape == (batch, labels)
            and probs.shape == (batch, labels)
            and label_ids.shape == (batch,)
            and bool(np.isfinite(logits).all())
            and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
            and (label_ids == logits.argmax(axis=1)).all()
        )
        if not good:
            raise ShapeError(
                f"{model_path.name}: a batch of {batch} texts gave logits {logits.shape}, "
                f"probabilities {probs.shape}, label ids {label_ids.shape}; expected "
                f"({batch}, {labels}) twice and ({batch},), finite, argmax-consistent"
            )
    return {"checked": True, "batch_sizes": [*SHAPE_BATCHES, 0], "texts": len(kinds)}


def token_ids_equal(tokenizer_session: Any, scorer: Any, texts: list[str]) -> float:
    """Share of `texts` the in-graph tokenizer turns into exactly the scorer's ids."""
    from reviewscore.export.edge.names import scoped

    ids_of = scorer.encode(texts).ids
    names = [scoped("input_ids"), scoped("attention_mask")]
    equal = 0
    for start in range(0, len(texts), EDGE_BATCH_ROWS):
        ids, mask = run_texts(tokenizer_session, texts[start : start + EDGE_BATCH_ROWS], names)
        for row in range(ids.shape[0]):
            at, length = ids_of.starts[start + row], ids_of.lengths[start + row]
            equal += int(np.array_equal(ids[row][mask[row] == 1], ids_of.flat[at : at + length]))
    return equal / max(1, len(texts))


def edge_figures(
    session: Any,
    scorer: Any,
    tokenizer_session: Any,
    reference: Reference,
    variant: Variant,
    thresholds: Thresholds,
) -> ParityFigures:
    """Figures and verdict of one edge variant, for the manifest's parity."""
    texts = reference.texts
    rows = len(texts)
    one = edge_logits(session, texts, 1)
    batched = edge_logits(session, texts, EDGE_BATCH_ROWS)
    encoded = scorer.encode(texts)
    scorer_one = scorer.logits_encoded(encoded, batches=[np.array([i]) for i in range(rows)])
    labels, scorer_labels = one.argmax(axis=1), scorer_one.argmax(axis=1)
    predicted, torch_predicted = batched.argmax(axis=1), reference.logits.argmax(axis=1)
    equal = float((labels == scorer_labels).mean())
    diff = float(np.abs(one - scorer_one).max(initial=0.0))
    moved = float((labels != predicted).mean())
    failures = _failures(equal, diff, moved, variant, thresholds)
    accuracy = torch_accuracy = None
    if reference.labels is not None:
        accuracy = float((predicted == reference.labels).mean())
        torch_accuracy = float((torch_predicted == reference.labels).mean())
    return ParityFigures(
        checked=True,
        rows=rows,
        compared_with={"scorer_variant": variant.built_from, "rows_per_run": 1},
        token_ids_equal=token_ids_equal(tokenizer_session, scorer, texts),
        labels_equal_to_scorer=equal,
        scorer_max_abs_logit_diff=diff,
        labels_moved_between_batchings=moved,
        batchings_compared={"rows_per_run": [1, EDGE_BATCH_ROWS]},
        max_abs_logit_diff=float(np.abs(batched - reference.logits).max(initial=0.0)),
        agreement=float((predicted == torch_predicted).mean()),
        accuracy=accuracy,
        torch_accuracy=torch_accuracy,
        accuracy_change=None if accuracy is None else accuracy - torch_accuracy,
        failures=failures,
        passed=not failures,
        measured_on=measured_on("CPUExecutionProvider", exact_int8_wanted()),
    )


def _failures(
    equal: float, diff: float, moved: float, variant: Variant, limit: Thresholds
) -> tuple[str, ...]:
    """Against the scorer: labels `equal` on every row, fp32 logits within `diff`, and no
    label `moved` by batching for a batch-invariant variant."""
    failures = []
    if equal < 1.0:
        failures.append(f"labels equal to the scorer's on {equal:.2%} of rows, not all")
    if variant.precision == "fp32" and diff > limit.max_abs_logit_diff:
        failures.append(
            f"max abs logit difference from the scorer {diff:.2e} > {limit.max_abs_logit_diff:.0e}"
        )
    moved_check = moved_failure(moved, variant, limit)
    if moved_check:
        failures.append(moved_check)
    return tuple(failures)


def edge_summary(figures: ParityFigures) -> str:
    """One line per edge variant, for the export's progress output."""
    text = (
        f"token ids equal {figures.token_ids_equal:.2%}, labels equal to the scorer's "
        f"{figures.labels_equal_to_scorer:.2%}, max |logit diff| vs scorer "
        f"{figures.scorer_max_abs_logit_diff:.2e}, vs PyTorch "
        f"{figures.max_abs_logit_diff:.2e}, labels moved by batching "
        f"{figures.labels_moved_between_batchings:.2%}"
    )
    return text + ("" if figures.passed else "  FAILED: " + "; ".join(figures.failures))
