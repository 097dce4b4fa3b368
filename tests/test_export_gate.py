"""The parity gate fails a broken export, naming the check and the figure, exits 3 from the
CLI, and still leaves the figures in the manifest; a crashed export leaves nothing."""

from __future__ import annotations

import json
import sys

import pytest

from cli_runner import reviewscore as run_reviewscore
from reviewscore.deploy_folder import Thresholds
from reviewscore.errors import ParityError
from reviewscore.export import deploy as deploy_module
from reviewscore.export.deploy import ExportOptions, export_run
from source_checks import perturb_largest_weight
from tiny_models import make_run


def _perturbing(original):
    """optimize_graph, then corrupt the graph it wrote, as a broken exporter or optimiser
    would (`perturb_largest_weight`)."""

    def optimize(src, dst, **kwargs):
        applied = original(src, dst, **kwargs)
        perturb_largest_weight(dst)
        return applied

    return optimize


def test_gate_fails_a_corrupted_graph_and_records_the_figures(tmp_path, monkeypatch):
    make_run(tmp_path / "run", "bert")
    monkeypatch.setattr(deploy_module, "optimize_graph", _perturbing(deploy_module.optimize_graph))
    with pytest.raises(ParityError, match=r"fp32: max abs logit difference .* > 1e-04") as info:
        export_run(tmp_path / "run", tmp_path / "deploy")
    assert info.value.exit_code == 3
    manifest = json.loads((tmp_path / "deploy" / "manifest.json").read_text())
    assert manifest["parity_passed"] is False
    figures = manifest["parity"]["fp32"]
    assert figures["passed"] is False and figures["max_abs_logit_diff"] > 1e-4
    assert figures["failures"] == [
        f"max abs logit difference {figures['max_abs_logit_diff']:.2e} > 1e-04"
    ]


def test_gate_fails_an_int8_variant_below_the_agreement_threshold(tmp_path):
    """An agreement no variant can reach: the test is about the threshold, not int8."""
    make_run(tmp_path / "run", "bert", trained=True)
    options = ExportOptions(
        variants=("fp32", "int8-dynamic"), thresholds=Thresholds(min_agreement=1.01)
    )
    with pytest.raises(
        ParityError, match=r"int8-dynamic: label agreement with PyTorch \d+\.\d\d% < 101%"
    ):
        export_run(tmp_path / "run", tmp_path / "deploy", options)
    parity = json.loads((tmp_path / "deploy" / "manifest.json").read_text())["parity"]
    assert parity["fp32"]["passed"] is True and parity["int8-dynamic"]["passed"] is False


def test_cli_exits_3_naming_the_check_and_the_figure(tmp_path, monkeypatch, capsys):
    from reviewscore.cli import main

    make_run(tmp_path / "run", "bert")
    argv = ["reviewscore", "export", str(tmp_path / "run"), "--out", str(tmp_path / "deploy")]
    monkeypatch.setattr(sys, "argv", [*argv, "--max-logit-diff", "1e-15"])
    with pytest.raises(SystemExit) as exited:
        main()  # the console script's entry point, in process
    assert exited.value.code == 3
    stderr = capsys.readouterr().err
    assert "error: parity check failed for fp32: max abs logit difference" in stderr
    assert "> 1e-15" in stderr
    manifest = json.loads((tmp_path / "deploy" / "manifest.json").read_text())
    assert manifest["parity"]["fp32"]["passed"] is False


def test_cli_help_says_dynamic_int8_is_not_batch_invariant():
    from reviewscore.cli import export_command

    quantize = next(p for p in export_command.params if p.name == "quantize")
    assert "int8-dynamic: scales computed per batch, so NOT batch-invariant" in quantize.help
    assert "int8-dynamic  model.int8-dynamic.onnx  per-batch scales: NOT batch-invariant" in (
        export_command.help
    )


def test_quantize_is_spelled_as_the_variant_it_adds_and_the_old_spelling_is_hidden(
    tmp_path, monkeypatch, capsys
):
    code, out, _ = run_reviewscore(monkeypatch, capsys, "export", "--help")
    assert code == 0 and "--quantize [none|int8-static|int8-dynamic]" in out
    assert "static-int8" not in out and "dynamic-int8" not in out
    code, _, err = run_reviewscore(
        monkeypatch, capsys, "export", tmp_path, "--out", tmp_path / "d", "--quantize", "int4"
    )
    assert code == 2 and "'none', 'int8-static', 'int8-dynamic'" in err and "-int8" not in err


def test_a_crashed_export_leaves_no_folder(tmp_path, monkeypatch):
    make_run(tmp_path / "run", "bert")

    def crash(*args, **kwargs):
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(deploy_module, "write_tokenizer_json", crash)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        export_run(tmp_path / "run", tmp_path / "deploy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
