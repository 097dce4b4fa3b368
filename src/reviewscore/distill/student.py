"""The student: the teacher itself with N of its encoder layers kept, or another pretrained
model with a fresh head (`--student`; the soft labels are per text, so it may tokenize
differently).

Which N layers: `bottom` keeps layers 0..N-1 (the lower layers feed each other exactly as
in the teacher); `spread` keeps every (depth/N)-th layer from the bottom (0, 2, 4 of 6: the
DistilBERT choice), which spans more of the teacher's depth. `bottom` is the default: it
met the aim, and `spread` did no better (docs/benchmarks.md#distillation); bench/distill.py
compares the two (`--students 3:bottom,3:spread`).
"""

from __future__ import annotations

import copy
from typing import Any

from torch import nn

from reviewscore.distill.options import KEEP_CHOICES
from reviewscore.errors import ReviewscoreError
from reviewscore.train.layer_groups import layer_lists


def kept_layers(depth: int, n: int, keep: str) -> list[int]:
    """Indices of the teacher layers the student keeps, bottom to top."""
    if not 1 <= n < depth:
        raise ReviewscoreError(
            f"--layers must be between 1 and {depth - 1} (the teacher has {depth} layers), not {n}"
        )
    if keep == "bottom":
        return list(range(n))
    if keep == "spread":
        return sorted({int(i * depth / n + 0.5) for i in range(n)})
    raise ReviewscoreError(f"--keep must be one of {', '.join(KEEP_CHOICES)}, not {keep!r}")


def truncated_copy(teacher: Any, keep: list[int]) -> Any:
    """A copy of `teacher` holding only the layers `keep` (in that order), config updated so
    that save_pretrained/from_pretrained and the export see an ordinary N-layer model."""
    student = copy.deepcopy(teacher)
    base = student.base_model
    lists = layer_lists(base, int(student.config.num_hidden_layers))
    if not lists:
        raise ReviewscoreError(
            f"{type(teacher).__name__}: no list of encoder layers found; cannot keep a subset "
            "(use --student MODEL instead of --layers)"
        )
    for name, module_list in lists:
        parent_name, _, attribute = name.rpartition(".")
        parent = base.get_submodule(parent_name) if parent_name else base
        setattr(parent, attribute, nn.ModuleList([module_list[i] for i in keep]))
    student.config.num_hidden_layers = len(keep)
    student.train()
    return student
