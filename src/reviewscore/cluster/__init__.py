"""Score on Ray Data: the same deploy folder and per-batch code as `reviewscore score`,
spread over a pool of actors on one machine or a cluster (needs the [cluster] extra).

    from reviewscore.cluster import connect, expand_inputs, read_review_dataset, score_dataset

    connect()                                                     # or connect("auto")
    rows = read_review_dataset(expand_inputs(["reviews/*.tsv.gz", "reviews/part-2.parquet"]))
    scored = score_dataset(rows, "deploy/minilm", actors=4, threads=2)      # + label, label_name
    scored.write_parquet("scored/")

`score_to_folder` is the whole job behind `reviewscore score --engine ray`.
"""

from reviewscore.errors import ReviewscoreError

try:
    import ray.data  # noqa: F401 - fail here, with the fix, rather than deep in a submodule
except ImportError as exc:  # pragma: no cover - the test environment installs the extra
    raise ReviewscoreError(
        f"--engine ray needs Ray Data ({exc.name} is missing): pip install 'reviewscore[cluster]'"
    ) from None

from reviewscore.cluster.job import ClusterSummary, connect, score_to_folder
from reviewscore.cluster.reading import expand_inputs, read_review_dataset
from reviewscore.cluster.scoring import ScorerActor, score_dataset
from reviewscore.cluster_options import OUTPUT_FORMATS, ClusterOptions

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
