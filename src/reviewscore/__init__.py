"""reviewscore: fine-tune a transformer for review sentiment, export to ONNX, score fast.

The Python API (the command line is built on it):

    import reviewscore

    scorer = reviewscore.load("deploy/minilm")           # base install: no torch
    labels = scorer.predict(["a gorgeous film", "dull"])  # int64 label ids
    probs = scorer.predict_proba(texts)                   # float32, n x 5

`reviewscore.verify(deploy_dir)` re-runs a deploy folder's parity check here. With the
[train] extra, `reviewscore.train(data, out, ...)`, `reviewscore.export(run_dir, out, ...)`
and `reviewscore.distill(teacher, data, out, ...)` do what the commands of those names do
(reviewscore.stages). Errors are `reviewscore.ReviewscoreError` and its kinds (`DataError`,
`FolderError`, `ParityError`, ...).

Importing this package is cheap: each name loads its module on first use, so nothing
heavy (numpy, onnxruntime, tokenizers, torch) is imported before it is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from reviewscore.errors import (
    DataError,
    FolderError,
    OutputError,
    ParityError,
    ReviewscoreError,
    UsageError,
)

__version__ = "0.1.0"

# Public name -> the module that defines it, imported on first access (PEP 562).
_LAZY = {
    "load": "reviewscore.scorer",
    "Scorer": "reviewscore.scorer",
    "verify": "reviewscore.scorer",
    "Manifest": "reviewscore.deploy_folder",
    "ParityFigures": "reviewscore.deploy_folder",
    "Verification": "reviewscore.parity.verify",
    "ScoreSummary": "reviewscore.score.summary",
    "ProviderError": "reviewscore.score.session",
    "RunFolder": "reviewscore.run_folder",
    "RunInfo": "reviewscore.run_folder",
    "TrainOptions": "reviewscore.train.config",
}
# Stages whose package is called as their function (callable_package.py): the package
# itself is the attribute, so its submodules (reviewscore.train.loop, ...) stay importable.
_STAGES = ("train", "export", "distill")

__all__ = [
    "DataError",
    "FolderError",
    "OutputError",
    "ParityError",
    "ReviewscoreError",
    "UsageError",
    "__version__",
    *_LAZY,
    *_STAGES,
]

if TYPE_CHECKING:
    from reviewscore.deploy_folder import Manifest as Manifest
    from reviewscore.deploy_folder import ParityFigures as ParityFigures
    from reviewscore.parity.verify import Verification as Verification
    from reviewscore.run_folder import RunFolder as RunFolder
    from reviewscore.run_folder import RunInfo as RunInfo
    from reviewscore.score.session import ProviderError as ProviderError
    from reviewscore.score.summary import ScoreSummary as ScoreSummary
    from reviewscore.scorer import Scorer as Scorer
    from reviewscore.scorer import load as load
    from reviewscore.scorer import verify as verify
    from reviewscore.stages import distill as distill
    from reviewscore.stages import export as export
    from reviewscore.stages import train as train
    from reviewscore.train.config import TrainOptions as TrainOptions


def __getattr__(name: str) -> Any:
    if name in _STAGES:
        return importlib.import_module(f"reviewscore.{name}")  # binds itself here
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'reviewscore' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_STAGES))
