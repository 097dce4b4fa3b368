"""reviewscore: fine-tune a transformer for review sentiment, export to ONNX, score fast."""

__version__ = "0.1.0"
