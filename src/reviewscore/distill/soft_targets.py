"""The teacher's logits for each training row, computed once, before the student's first
step, so every epoch costs only the student.

Logits, not probabilities, are kept: the temperature is applied in the loss, so one cache
serves every temperature. With a cache folder they are also kept on disk, keyed by the
teacher's hash, its max length and the texts, so students of the same teacher on the same
rows (4, 3 and 2 layers, other recipes) share one teacher pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from reviewscore.distill.teacher import Teacher
from reviewscore.files import atomic_path
from reviewscore.train.batching import encode
from reviewscore.train.precision import Precision
from reviewscore.train.predict import predict_logits


def cache_key(teacher: Teacher, texts: list[str]) -> str:
    digest = hashlib.sha256(f"{teacher.sha256}\0{teacher.info.max_length}\0".encode())
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()[:32]


def teacher_logits(
    teacher: Teacher,
    texts: list[str],
    precision: Precision,
    *,
    batch_size: int = 128,
    cache: Path | None = None,
    echo: Callable[[str], None] = print,
) -> np.ndarray:
    """float32 (rows, labels): the teacher's logits in row order, from the cache if there."""
    path = cache / f"teacher-logits-{cache_key(teacher, texts)}.npy" if cache else None
    if path is not None and path.is_file():
        logits = np.load(path)
        if logits.shape == (len(texts), teacher.model.config.num_labels):
            echo(f"teacher logits for {len(texts):,} rows from the cache ({path.name})")
            return logits
    encoded = encode(texts, None, teacher.tokenizer, teacher.info.max_length)
    teacher.model.to(precision.device)
    logits = predict_logits(teacher.model, encoded, batch_size, precision)
    teacher.model.to("cpu")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, logits)
    return logits
