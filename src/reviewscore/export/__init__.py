"""Export: run folder -> deploy folder (ONNX, tokenizer.json, manifest).

`reviewscore.export(...)`, a call of this package, runs the Python API's function
`reviewscore.stages.export` (see its help).
"""

from reviewscore.callable_package import make_callable

make_callable(__name__, "reviewscore.stages:export")
