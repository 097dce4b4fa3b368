"""The torch half of the parity gate at export: PyTorch's logits on the parity rows become
the reference, stored in the deploy folder (parity/reference.py), and every variant is
measured and judged against it by the same torch-free code that `reviewscore verify` runs
(parity/figures.py, parity/judge.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from reviewscore.data import read_reviews
from reviewscore.deploy_folder import ParityFigures, Thresholds, Variant
from reviewscore.parity.figures import checked_variant, summary
from reviewscore.parity.reference import REFERENCE_FILE, Reference, write_reference


def torch_logits(model: Any, tokenizer: Any, texts: list[str], max_length: int) -> np.ndarray:
    """Reference logits from PyTorch in eval mode, fp32, one phrase at a time (no padding,
    so the reference depends on no batching at all)."""
    import torch

    out = np.empty((len(texts), model.config.num_labels), dtype=np.float32)
    model.eval()
    with torch.no_grad():
        for i, text in enumerate(texts):
            batch = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
            out[i] = model(**batch).logits[0].float().numpy()
    return out


def run_parity(
    loaded: Any,
    deploy_dir: Path,
    variants: dict[str, Variant],
    data: Path,
    rows: int,
    thresholds: Thresholds,
    echo: Callable[[str], None],
) -> tuple[dict[str, ParityFigures], dict[str, Any]]:
    """Write the reference for the first `rows` rows of `data` into `deploy_dir`
    (REFERENCE_FILE), then the figures of every variant against it."""
    from reviewscore.score.classifier import DeployedClassifier

    sample = read_reviews(str(data), limit=rows)
    logits = torch_logits(loaded.model, loaded.tokenizer, sample.texts, int(loaded.info.max_length))
    reference = Reference(sample.texts, logits, sample.labels)
    write_reference(deploy_dir / REFERENCE_FILE, reference)
    parity: dict[str, ParityFigures] = {}
    for name, variant in variants.items():
        parity[name] = checked_variant(
            lambda name=name: DeployedClassifier.open(deploy_dir, name, require_finished=False),
            variant.precision,
            reference,
            thresholds,
        )
        echo(f"parity {name}: {summary(parity[name])}")
    return parity, {"file": str(data), "rows": len(sample)}
