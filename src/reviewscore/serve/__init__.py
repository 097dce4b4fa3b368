"""Serve: a deploy folder as an HTTP service, with dynamic micro-batching (`reviewscore serve`).

Needs the [serve] extra (starlette, uvicorn, prometheus-client). Like `reviewscore.score`, it
never imports torch, transformers, reviewscore.train or reviewscore.export (a test proves it):
it scores through `DeployedClassifier`, so a served label is the file scorer's label.
"""
