"""Export: run folder -> deploy folder (ONNX, tokenizer.json, manifest)."""
