"""Score on Ray Data: the same deploy folder and per-batch code as `reviewscore score`,
spread over a pool of actors on one machine or a cluster (needs the [cluster] extra).

    from reviewscore.cluster import connect, expand_inputs, read_review_dataset, score_dataset

    connect()                                                     # or connect("auto")
    rows = read_review_dataset(expand_inputs(["reviews/*.tsv.gz", "reviews/part-2.parquet"]))
    scored = score_dataset(rows, "deploy/minilm", actors=4, threads=2)      # + label, label_name
    scored.write_parquet("scored/")

`score_to_folder` is the whole job behind `reviewscore score --engine ray`.

The names load on first use (PEP 562), so that `reviewscore.cluster.options` imports no
Ray: the CLI checks a job's options before Ray loads, and a wrong option is a usage error
even where Ray is not installed. A name that needs Ray checks for it first and, where it is
missing, says which extra to install.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from reviewscore.errors import ReviewscoreError

if TYPE_CHECKING:
    from reviewscore.cluster.job import ClusterSummary, connect, score_to_folder
    from reviewscore.cluster.options import OUTPUT_FORMATS, ClusterOptions
    from reviewscore.cluster.reading import expand_inputs, read_review_dataset
    from reviewscore.cluster.scoring import ScorerActor, score_dataset

_HOMES = {
    "OUTPUT_FORMATS": "options",
    "ClusterOptions": "options",
    "ClusterSummary": "job",
    "ScorerActor": "scoring",
    "connect": "job",
    "expand_inputs": "reading",
    "read_review_dataset": "reading",
    "score_dataset": "scoring",
    "score_to_folder": "job",
}
_WITHOUT_RAY = ("options",)

__all__ = [
    "OUTPUT_FORMATS",
    "ClusterOptions",
    "ClusterSummary",
    "ScorerActor",
    "connect",
    "expand_inputs",
    "read_review_dataset",
    "score_dataset",
    "score_to_folder",
]


def _require_ray() -> None:
    """Fail here, with the fix, rather than deep in a submodule."""
    try:
        import ray.data  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the test environment installs the extra
        raise ReviewscoreError(
            f"--engine ray needs Ray Data ({exc.name} is missing): "
            "pip install 'reviewscore[cluster]'"
        ) from None


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if home not in _WITHOUT_RAY:
        _require_ray()
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
