"""The parity gate's reference, stored in the deploy folder: the rows it scored and what
PyTorch gave for them, so `reviewscore verify` can repeat the gate on any machine without
torch. One .npz (numpy arrays in a zip, loaded with allow_pickle=False), listed and hashed in
the manifest like every other file:

    texts   unicode array, the parity rows in order
    logits  float32 (rows, labels), PyTorch fp32, one row at a time
    labels  int64 (rows,), only when the parity data was labelled

Written byte for byte the same from the same arrays (fixed zip timestamps), so the file, as
the models, is reproducible.

Kept free of torch and transformers: the scorer imports it.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reviewscore.errors import FolderError

REFERENCE_FILE = "parity_reference.npz"
# zipfile stamps each entry with the current time unless told: a fixed one keeps two
# exports of the same run identical.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Reference:
    texts: list[str]
    logits: np.ndarray  # float32 (rows, labels)
    labels: np.ndarray | None  # int64 (rows,)


def write_reference(path: Path, reference: Reference) -> None:
    arrays = {
        "texts": np.array(reference.texts, dtype=np.str_),
        "logits": np.asarray(reference.logits, dtype=np.float32),
    }
    if reference.labels is not None:
        arrays["labels"] = np.asarray(reference.labels, dtype=np.int64)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as handle:
                np.lib.format.write_array(handle, array, allow_pickle=False)


def read_reference(path: Path, n_labels: int) -> Reference:
    """The stored reference; a file that is not one (wrong arrays or shapes) is refused,
    never half-used."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            texts = stored["texts"].tolist()
            logits = stored["logits"]
            labels = stored["labels"] if "labels" in stored.files else None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise FolderError(f"{path}: not a readable parity reference ({exc}); re-export") from exc
    rows = len(texts)
    if logits.shape != (rows, n_labels) or (labels is not None and labels.shape != (rows,)):
        raise FolderError(
            f"{path}: {rows} texts but logits of shape {logits.shape} for {n_labels} labels; "
            "re-export the folder"
        )
    return Reference(texts, logits.astype(np.float32), labels)
