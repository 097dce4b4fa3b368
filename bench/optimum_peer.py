"""Peer (b) of score_throughput.py: optimum's ORTModelForSequenceClassification, fp32 and
plain dynamic int8 (the avx2 config), through transformers' `pipeline`, batch 64.

optimum-onnx needs transformers < 4.58 and reviewscore needs transformers 5, so this runs in
a virtual environment of its own; score_throughput.py starts it with --optimum-python:

    python3 -m venv /tmp/optvenv
    /tmp/optvenv/bin/pip install torch==2.13.0
    /tmp/optvenv/bin/pip install "optimum[onnxruntime]"

It exports MODEL_DIR with optimum into WORK_DIR, quantises it, times the pipeline on the
texts of TEXTS_FILE (one per line) and prints one JSON object: rows, seconds per variant,
and the int8 file, whose model-only speed score_throughput.py then measures as (d).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import onnxruntime
from optimum.onnxruntime import ORTModelForSequenceClassification, ORTQuantizer
from optimum.onnxruntime.configuration import AutoQuantizationConfig
from transformers import AutoTokenizer, pipeline

BATCH = 64


def session_options(threads: int) -> onnxruntime.SessionOptions:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return options


def pipeline_seconds(model_dir: Path, file_name: str, texts: list[str], threads: int) -> float:
    model = ORTModelForSequenceClassification.from_pretrained(
        model_dir, file_name=file_name, session_options=session_options(threads)
    )
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    classify = pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1)
    classify(texts[:BATCH], batch_size=BATCH, truncation=True)  # warm-up
    started = time.perf_counter()
    classify(texts, batch_size=BATCH, truncation=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("texts_file", type=Path)
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    texts = args.texts_file.read_text(encoding="utf-8").split("\n")
    fp32_dir, int8_dir = args.work_dir / "fp32", args.work_dir / "int8"
    exported = ORTModelForSequenceClassification.from_pretrained(args.model_dir, export=True)
    exported.save_pretrained(fp32_dir)
    AutoTokenizer.from_pretrained(args.model_dir).save_pretrained(fp32_dir)
    quantizer = ORTQuantizer.from_pretrained(fp32_dir)
    config = AutoQuantizationConfig.avx2(is_static=False, per_channel=False)
    quantizer.quantize(save_dir=int8_dir, quantization_config=config)
    AutoTokenizer.from_pretrained(args.model_dir).save_pretrained(int8_dir)
    int8_file = next(int8_dir.glob("*quantized*.onnx"))

    result = {
        "rows": len(texts),
        "fp32_seconds": pipeline_seconds(fp32_dir, "model.onnx", texts, args.threads),
        "int8_seconds": pipeline_seconds(int8_dir, int8_file.name, texts, args.threads),
        "int8_file": str(int8_file),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
