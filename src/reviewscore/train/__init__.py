"""The training stage: fine-tune a transformer classifier into a run folder.

One job per module: `config` (options and recipes), `data_prep` (read, split, limit),
`batching` (length-bucketed batches), `layer_groups`, `schedules`, `precision`, `model_load`,
`loop` (the training loop, read top to bottom), `checkpoint` (stage-atomic run folder
writes), `predict`, `evaluate`, `lr_finder`, `plots`.
"""
