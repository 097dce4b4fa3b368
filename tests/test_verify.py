"""`reviewscore verify` repeats the export's parity gate from the reference stored in the deploy
folder, with onnxruntime only: it passes on an intact folder, fails (exit 3) on a model that
is no longer the one PyTorch agreed with even when the manifest was rehashed to match, and
refuses folders that have no reference. Nothing here depends on the CPU family: the int8
variants come from the toy-trained bert, whose margins int8 cannot cross on any CPU, and the
ISA warning is provoked by editing the recorded class to one that differs from this CPU's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from reviewscore.cpu_features import ISA_FEATURES, local_cpu, parse_cpuinfo
from reviewscore.deploy_folder import MANIFEST, Manifest, load_manifest, write_manifest
from reviewscore.errors import FolderError
from reviewscore.parity.reference import REFERENCE_FILE, read_reference
from reviewscore.parity.verify import verify_folder
from reviewscore.score.session import EXACT_INT8_ENV
from reviewscore.score.summary import ScoreSummary, describe
from source_checks import perturb_largest_weight
from tiny_models import make_run, write_toy_tsv

VARIANTS = ("fp32", "int8-dynamic", "int8-static")
CLI = [sys.executable, "-m", "reviewscore.cli"]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """The toy-trained run, its export with both int8 variants, and an input file."""
    from reviewscore.export.deploy import ExportOptions, export_run

    root = tmp_path_factory.mktemp("verify")
    make_run(root / "run", "bert", max_length=32, trained=True)
    export_run(root / "run", root / "deploy", ExportOptions(variants=VARIANTS))
    write_toy_tsv(root / "in.tsv", 12)
    return root


def copy_deploy(root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(root / "deploy", tmp_path / "deploy"))


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=180)


def rewrite_manifest(deploy: Path, edit) -> None:
    """Edit the manifest's JSON and rehash every file, as someone covering their tracks would."""
    manifest = load_manifest(deploy, verify=False).to_dict()
    edit(manifest)
    manifest["files"] = dict.fromkeys(manifest["files"], "")  # the names, hashed on writing
    write_manifest(deploy, Manifest.from_dict(manifest, deploy / MANIFEST))


def test_export_stores_the_reference_listed_and_hashed(root):
    manifest = load_manifest(root / "deploy")
    assert manifest.parity_reference == REFERENCE_FILE and REFERENCE_FILE in manifest.files
    reference = read_reference(root / "deploy" / REFERENCE_FILE, len(manifest.labels))
    assert len(reference.texts) == manifest.parity_data["rows"] == 60
    assert reference.logits.dtype == np.float32 and reference.logits.shape == (60, 5)
    assert reference.labels is not None and reference.labels.dtype == np.int64
    accuracy = float((reference.logits.argmax(axis=1) == reference.labels).mean())
    assert accuracy == manifest.parity["fp32"].torch_accuracy


def test_verify_all_prints_one_table_with_speeds_here_and_the_pick(root):
    result = run_cli("verify", root / "deploy", "--all")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"measured here: {local_cpu()['isa_class']} (")
    assert lines[1].split("  ")[0] == "variant" and lines[1].endswith("x fp32")
    rows = [line.split() for line in lines[2:5]]
    assert [row[0] for row in rows] == list(VARIANTS)
    invariant = {"fp32": "yes", "int8-dynamic": "no", "int8-static": "yes"}
    for row in rows:
        name, passes, agreement, change, _, invariance, speed, ratio = row
        assert (passes, agreement, change, invariance) == (
            "yes",
            "100.00%",
            "+0.00",
            invariant[name],
        )
        assert float(speed.replace(",", "")) > 0 and ratio.endswith("x")
    assert rows[0][-1] == "1.00x"
    # batch-invariant variants only, and the reason for int8-dynamic says how to allow it
    picked = lines[5]
    assert picked.startswith(("auto would pick fp32: ", "auto would pick int8-static: "))
    assert "runner-up" in picked
    assert any(
        line.startswith("  int8-dynamic: not batch-invariant") and "--allow-batch-dependent" in line
        for line in lines[6:]
    )

    as_json = run_cli("verify", root / "deploy", "--all", "--allow-batch-dependent", "--json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert list(report["phrases_per_second"]) == list(VARIANTS)
    assert report["x_fp32"]["fp32"] == 1.0
    auto = report["auto"]
    assert auto["allow_batch_dependent"] is True and auto["variant"] in VARIANTS
    assert auto["phrases_per_second"] == report["phrases_per_second"]
    fastest = max(VARIANTS, key=report["phrases_per_second"].get)
    assert auto["variant"] == fastest
    assert as_json.stderr.splitlines()[0].startswith("measured here: ")


def test_verify_json_of_one_variant_and_the_exact_int8_mode(root):
    as_json = run_cli("verify", root / "deploy", "--variant", "int8-static", "--json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["passed"] is True and list(report["variants"]) == ["int8-static"]
    assert report["thresholds"] == load_manifest(root / "deploy").to_dict()["parity_thresholds"]
    figures = report["variants"]["int8-static"]
    assert figures["agreement"] == 1.0 and figures["labels_moved_between_batchings"] == 0.0
    assert figures["measured_on"]["isa_class"] == local_cpu()["isa_class"]
    assert report["at_export"]["int8-static"]["passed"] is True
    assert as_json.stderr.startswith("verify int8-static: ")
    # the exact int8 mode, forced either way, is what the report and the line say
    for forced in (True, False):
        env = {**os.environ, EXACT_INT8_ENV: str(int(forced))}
        ran = subprocess.run(
            [*CLI, "verify", str(root / "deploy"), "--variant", "int8-static", "--json"],
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
        )
        report = json.loads(ran.stdout)
        assert report["machine"]["exact_int8"] is forced
        assert report["variants"]["int8-static"]["measured_on"]["exact_int8"] is forced
        assert ("exact int8 mode" in ran.stderr) is forced


def test_fp32_figures_here_match_the_export_figures(root):
    """Same machine, same code: verify computes what the gate computed."""
    checked = verify_folder(root / "deploy", ["fp32"], provider="cpu")
    exported = load_manifest(root / "deploy").parity["fp32"]
    here = checked.figures["fp32"]
    assert here.agreement == exported.agreement and here.accuracy == exported.accuracy
    assert here.labels_moved_between_batchings == exported.labels_moved_between_batchings
    assert here.max_abs_logit_diff < 1e-4


def test_a_changed_model_with_a_rehashed_manifest_fails_with_exit_3(root, tmp_path):
    deploy = copy_deploy(root, tmp_path)
    perturb_largest_weight(deploy / "model.onnx")
    rewrite_manifest(deploy, lambda manifest: None)
    load_manifest(deploy)  # the hashes match: only the parity check can tell

    result = run_cli("verify", deploy, "--variant", "fp32", "--variant", "int8-static")
    assert result.returncode == 3, result.stderr
    assert "FAILED: max abs logit difference" in result.stdout.splitlines()[0]
    assert "FAILED" not in result.stdout.splitlines()[1]  # int8-static is its own file
    error = result.stderr.splitlines()
    assert len(error) == 1 and error[0].startswith(
        "error: parity check failed for fp32: max abs logit difference"
    )
    assert "on this machine" in error[0]

    out = tmp_path / "scored.csv"
    scored = run_cli("score", deploy, root / "in.tsv", "--verify", "-o", out)
    assert scored.returncode == 3 and not out.exists()
    assert scored.stderr.splitlines()[-1].startswith("error: parity check failed for fp32")


def test_score_verify_checks_the_variant_then_scores(root, tmp_path):
    out = tmp_path / "scored.csv"
    result = run_cli(
        "score", root / "deploy", root / "in.tsv", "--verify", "--variant", "int8-static", "-o", out
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("verify int8-static: ")
    assert len(out.read_text().splitlines()) == 13


def test_verify_runs_without_torch_or_transformers(root):
    script = textwrap.dedent(
        """
        import importlib.abc, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "transformers", "optimum"):
                    raise ImportError(f"{name} is blocked: verify must not need it")
                return None

        sys.meta_path.insert(0, Block())
        from reviewscore.cli import main

        sys.argv = ["reviewscore", "verify", sys.argv[1], "--all"]
        try:
            main()
        except SystemExit as exc:
            assert not exc.code, exc.code
        assert not any(m.split(".")[0] in ("torch", "transformers") for m in sys.modules)
        print("torch-free")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(root / "deploy")],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "torch-free"
    assert any(line.startswith("auto would pick ") for line in result.stdout.splitlines())


def test_a_folder_without_a_reference_is_refused_and_still_scores(root, tmp_path):
    """What an export from before `verify` looks like: no reference, no CPU record."""
    deploy = copy_deploy(root, tmp_path)

    def make_old(manifest):
        del manifest["parity_reference"]
        manifest["files"] = [name for name in manifest["files"] if name != REFERENCE_FILE]
        for figures in manifest["parity"].values():
            del figures["measured_on"]

    rewrite_manifest(deploy, make_old)
    (deploy / REFERENCE_FILE).unlink()
    result = run_cli("verify", deploy)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {deploy}: no stored parity reference to verify against (its export predates "
        "`reviewscore verify`); re-export it with `reviewscore export` and the parity gate"
    ]
    scored = run_cli("score", deploy, root / "in.tsv", "--variant", "int8-static")
    assert scored.returncode == 0, scored.stderr
    assert "warning" not in scored.stderr


def test_a_no_check_export_has_no_reference_and_verify_says_why(tmp_path):
    from reviewscore.export.deploy import ExportOptions, export_run

    make_run(tmp_path / "run", "bert")
    manifest = export_run(tmp_path / "run", tmp_path / "deploy", ExportOptions(check=False))
    assert REFERENCE_FILE not in manifest.files
    assert not (tmp_path / "deploy" / REFERENCE_FILE).exists()
    with pytest.raises(FolderError, match=r"\(it was exported with --no-check\)"):
        verify_folder(tmp_path / "deploy")


def test_a_changed_reference_is_refused_by_its_hash(root, tmp_path):
    deploy = copy_deploy(root, tmp_path)
    with open(deploy / REFERENCE_FILE, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(FolderError, match=r"parity_reference\.npz does not match the manifest"):
        verify_folder(deploy)


def test_unknown_variant_and_conflicting_options_are_refused(root):
    result = run_cli("verify", root / "deploy", "--variant", "fp16")
    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        "no variant 'fp16'; this folder has: fp32, int8-dynamic, int8-static"
    )
    both = run_cli("verify", root / "deploy", "--variant", "fp32", "--all")
    assert both.returncode == 2 and "give --variant or --all, not both" in both.stderr


# --- where the figures were measured ---

AMD_AVX2 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13 64-Core Processor
flags\t\t: fpu sse sse2 avx fma avx2 bmi2 sha_ni

processor\t: 1
vendor_id\t: AuthenticAMD
"""
INTEL_VNNI = (
    "vendor_id : GenuineIntel\nmodel name : Xeon\nflags : avx2 avx512f avx512bw avx512_vnni\n"
)
INTEL_AMX = INTEL_VNNI.replace("avx512_vnni", "avx512_vnni avx_vnni amx_tile amx_int8 amx_bf16")
ARM = "processor : 0\nBogoMIPS : 50.00\nFeatures : fp asimd asimddp\n"


@pytest.mark.parametrize(
    ("text", "isa", "features"),
    [
        (AMD_AVX2, "avx2", ["avx2"]),
        (INTEL_VNNI, "avx512-vnni", ["avx2", "avx512f", "avx512bw", "avx512_vnni"]),
        (INTEL_AMX, "amx", list(ISA_FEATURES)),
        (ARM, "unknown", []),
        ("", "unknown", []),
    ],
)
def test_cpuinfo_is_parsed_into_features_and_isa_class(text, isa, features):
    record = parse_cpuinfo(text)
    assert record["isa_class"] == isa and record["features"] == features
    if text == AMD_AVX2:
        assert record["cpu"] == "AMD EPYC 7B13 64-Core Processor"
        assert record["vendor"] == "AuthenticAMD"


def test_this_machine_has_a_record_and_every_parity_entry_holds_it(root):
    """Whatever the CPU (or OS): strings, a known class, and the same record in the
    manifest, with the onnxruntime version and provider the figures came from."""
    import onnxruntime

    here = local_cpu()
    assert all(isinstance(here[key], str) and here[key] for key in ("cpu", "vendor", "isa_class"))
    assert here["isa_class"] in {
        "amx",
        "avx512-vnni",
        "avx-vnni",
        "avx512",
        "avx2",
        "other",
        "unknown",
    }
    assert set(here["features"]) <= set(ISA_FEATURES)
    for figures in load_manifest(root / "deploy").parity.values():
        measured = figures.measured_on
        assert {k: measured[k] for k in here} == here
        assert measured["onnxruntime"] == onnxruntime.__version__
        assert measured["provider"] == "CPUExecutionProvider"


def test_score_warns_when_an_int8_variant_was_measured_on_another_isa_class(root, tmp_path):
    deploy = copy_deploy(root, tmp_path)
    elsewhere = "not-" + local_cpu()["isa_class"]

    def measured_elsewhere(manifest):
        for figures in manifest["parity"].values():
            figures["measured_on"] = {**figures["measured_on"], "isa_class": elsewhere}

    rewrite_manifest(deploy, measured_elsewhere)
    int8 = run_cli(
        "score", deploy, root / "in.tsv", "--variant", "int8-static", "-o", tmp_path / "a.csv"
    )
    assert int8.returncode == 0, int8.stderr
    warning = [line for line in int8.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1
    assert f"measured on {elsewhere} (" in warning[0]
    assert warning[0].endswith(f"`reviewscore verify {deploy} --variant int8-static`")
    fp32 = run_cli("score", deploy, root / "in.tsv", "-o", tmp_path / "b.csv")
    assert "warning" not in fp32.stderr  # fp32 kernels do not change labels across CPUs
    same = run_cli("score", root / "deploy", root / "in.tsv", "--variant", "int8-static")
    assert same.returncode == 0 and "warning" not in same.stderr


@pytest.mark.parametrize(
    ("isa", "variant", "noted"),
    [
        ("avx2", "int8-static", True),
        ("avx512", "int8-dynamic", True),
        ("avx2", "fp32", False),
        ("avx512-vnni", "int8-static", False),
        ("amx", "int8-dynamic", False),
    ],
)
def test_score_notes_a_cpu_without_vnni_and_guesses_no_speed(root, isa, variant, noted):
    """The note depends on the CPU record given, never on the CPU the test runs on. It says
    what holds here (the int8 kernels' class) and nothing of int8's speed against fp32,
    which differs between machines of the same class: `verify --all` measures that."""
    manifest = load_manifest(root / "deploy")
    here = {**local_cpu(), "isa_class": isa, "cpu": "Some CPU"}
    summary = ScoreSummary.for_variant(manifest, variant, "CPUExecutionProvider", here=here)
    lines = describe(summary)
    notes = [line for line in lines if line.startswith("note:")]
    if noted:
        assert len(notes) == 1 and f"this CPU, {isa} (Some CPU), has no VNNI" in notes[0]
    else:
        assert notes == []
    assert not [n for n in notes if "fp32" in n or "fast" in n or "speed" in n]
    elsewhere = ScoreSummary.for_variant(manifest, variant, "CPUExecutionProvider", here=None)
    assert not [line for line in describe(elsewhere) if line.startswith("note:")]


# --- reproducibility ---


def test_the_same_run_and_options_export_byte_identical_files(root, tmp_path):
    """Every file of the folder (models, tokenizer, reference) is the same byte for byte, so
    a verify on a server checks what CI built."""
    from reviewscore.export.deploy import ExportOptions, export_run

    again = export_run(root / "run", tmp_path / "again", ExportOptions(variants=VARIANTS))
    assert len(again.files) == 5
    assert again.files == load_manifest(root / "deploy").files


def test_fp16_conversion_is_byte_identical(root, tmp_path):
    """The one step the export above does not run (fp16 is left out of this module's folder:
    whether the CPU provider can run it depends on the CPU)."""
    from reviewscore.export.quantize import convert_fp16

    for name in ("a", "b"):
        convert_fp16(root / "deploy" / "model.onnx", tmp_path / f"{name}.onnx")
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()


def test_exact_int8_mode_is_said_on_int8_lines_only(exported_int8, monkeypatch):
    """The mode changes int8 products alone; an fp32 line saying it misleads."""
    monkeypatch.setenv(EXACT_INT8_ENV, "1")
    checked = verify_folder(exported_int8.deploy, ["fp32", "int8-dynamic"], provider="cpu")
    fp32_line, int8_line = checked.lines()
    assert fp32_line.startswith("fp32: ") and "exact int8 mode" not in fp32_line
    assert int8_line.startswith("int8-dynamic: ") and "exact int8 mode" in int8_line
