"""`reviewscore distill`: train a smaller student on a finished run's soft labels.

One job per module: `teacher` (open and check the teacher run, its hash), `soft_targets`
(the teacher's logits, computed once per row and cached), `student` (the teacher with N of
its layers kept, or another pretrained model), `loss` (KL to the softened teacher mixed with
cross-entropy), `command` (the orchestration; the loop itself is `train.loop`'s).

`reviewscore.distill(...)`, a call of this package, runs the Python API's function
`reviewscore.stages.distill` (see its help).
"""

from reviewscore.callable_package import make_callable

make_callable(__name__, "reviewscore.stages:distill")
