"""Run folder -> deploy folder, built in a temporary folder and renamed into place, so a
failed export never leaves a folder that looks deployable."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from reviewscore.deploy_folder import write_manifest
from reviewscore.export.onnx_graph import DEFAULT_OPSET, export_onnx
from reviewscore.export.tokenizer_file import write_tokenizer_json
from reviewscore.export.versions import library_versions
from reviewscore.run_model import load_run_model

FP32_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"


def export_run(run_dir: Path, out_dir: Path, *, opset: int = DEFAULT_OPSET) -> dict[str, Any]:
    """Export the run's model as fp32 ONNX; returns the manifest written."""
    loaded = load_run_model(run_dir)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        names = export_onnx(loaded.model, loaded.tokenizer, staging / FP32_FILE, opset=opset)
        tokenizer_settings = write_tokenizer_json(loaded.tokenizer, staging / TOKENIZER_FILE)
        manifest = write_manifest(
            staging,
            {
                "labels": loaded.info.labels,
                "max_length": loaded.info.max_length,
                "model_type": loaded.info.model_type,
                "inputs": [{"name": n, "dtype": "int64"} for n in names],
                "outputs": ["logits"],
                "tokenizer": TOKENIZER_FILE,
                **tokenizer_settings,
                "opset": opset,
                "default_variant": "fp32",
                "variants": {
                    "fp32": {
                        "file": FP32_FILE,
                        "precision": "fp32",
                        "optimization": None,
                        "quantization": None,
                        "batch_invariant": True,
                    }
                },
                "source_run": str(Path(run_dir).resolve()),
                "versions": library_versions(),
                "files": [FP32_FILE, TOKENIZER_FILE],
            },
        )
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest
