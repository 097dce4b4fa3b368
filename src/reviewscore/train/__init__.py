"""The training stage: fine-tune a transformer classifier into a run folder.

One job per module: `config` (options and recipes), `data_prep` (read, split, limit),
`batching` (length-bucketed batches), `layer_groups`, `schedules`, `precision`, `model_load`,
`loop` (the training loop, read top to bottom), `checkpoint` (stage-atomic run folder
writes), `predict`, `evaluate`, `lr_finder`, `plots`.

`reviewscore.train(...)`, a call of this package, runs the Python API's function
`reviewscore.stages.train` (see its help).
"""

from reviewscore.callable_package import make_callable

make_callable(__name__, "reviewscore.stages:train")
