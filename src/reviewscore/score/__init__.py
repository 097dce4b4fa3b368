"""Score: deploy folder + review files -> predictions, with onnxruntime and tokenizers only.

Never imports torch, transformers, or reviewscore.train / reviewscore.export (a test
proves it), so the base install is enough to score.
"""
