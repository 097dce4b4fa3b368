"""The parity gate, one module per job, shared by the export and the scoring side (so it
never imports torch or transformers; the torch half of the export's gate, PyTorch's
reference logits, stays in export/parity.py):

    reference.py  the parity rows and PyTorch's logits stored in a deploy folder
    figures.py    one variant's figures against the reference, through the scorer
    judge.py      the verdict: which checks the figures fail against the thresholds
    verify.py     `reviewscore verify`: the gate repeated on the machine that scores
    recheck.py    the server's re-check of its loaded variant, for /readyz

Layers: reference and judge need only the deploy folder's records; figures, verify and
recheck also run the scorer's classifier (score/classifier.py, score/session.py). The
scorer's policy (score/auto_variant.py, scorer.py) and the commands call verify.
"""
