"""`--variant auto`: the rule on injected verdicts and timings, the cache of measurements
(a hit runs no model; any change of what it depends on misses; a bad cache costs one
warning and a new measurement), what score and serve say about the choice, and exit 3
when nothing can be picked.

No assertion depends on which variant is fastest on the CPU running the tests: the rule is
tested on injected speeds, and the end-to-end tests check that what was picked is what the
rule gives on the speeds measured (read back from the cache or the JSON)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cli_runner import reviewscore
from reviewscore.deploy_folder import MANIFEST, Manifest, load_manifest, write_manifest
from reviewscore.errors import UsageError
from reviewscore.score import classifier as classifier_module
from reviewscore.score import variant_cache
from reviewscore.score.auto_variant import (
    AutoVariant,
    Candidate,
    NoVariantPasses,
    choose_variant,
    resolve_auto_variant,
)
from reviewscore.score.classifier import DeployedClassifier
from reviewscore.score.summary import ScoreSummary, describe
from tiny_models import write_toy_tsv

CLI = [sys.executable, "-m", "reviewscore.cli"]


def candidate(name: str, speed: float | None, **given) -> Candidate:
    fields = {"passed": True, "failures": (), "batch_invariant": name != "int8-dynamic"}
    return Candidate(name=name, phrases_per_second=speed, **{**fields, **given})


# --- the rule ---


def test_the_fastest_passing_batch_invariant_variant_wins():
    choice = choose_variant(
        [
            candidate("fp32", 100.0),
            candidate("int8-dynamic", 300.0),
            candidate("int8-static", 150.0),
        ]
    )
    assert (choice.variant, choice.runner_up) == ("int8-static", "fp32")
    assert choice.speed("int8-static") == 150.0 and choice.speed("fp32") == 100.0
    assert "--allow-batch-dependent" in choice.reasons["int8-dynamic"]
    assert choice.reasons["fp32"] == "slower here (100 phrases/s)"
    assert choice.why().endswith("(150 phrases/s); runner-up fp32 (100 phrases/s)")


def test_a_failing_variant_is_never_picked_however_fast():
    failed = candidate("int8-static", 900.0, passed=False, failures=("agreement 90% < 98%",))
    choice = choose_variant([candidate("fp32", 100.0), failed], allow_batch_dependent=True)
    assert (choice.variant, choice.runner_up) == ("fp32", None)
    assert choice.reasons["int8-static"] == "fails the parity gate here: agreement 90% < 98%"


def test_a_batch_dependent_variant_only_with_the_opt_in():
    candidates = [candidate("fp32", 100.0), candidate("int8-dynamic", 300.0)]
    assert choose_variant(candidates).variant == "fp32"
    allowed = choose_variant(candidates, allow_batch_dependent=True)
    assert (allowed.variant, allowed.runner_up) == ("int8-dynamic", "fp32")


def test_a_strings_in_variant_is_never_picked():
    edge = candidate("edge-fp32", 1000.0, takes_text=True)
    choice = choose_variant([edge, candidate("fp32", 100.0)], allow_batch_dependent=True)
    assert choice.variant == "fp32" and choice.runner_up is None
    assert "strings-in" in choice.reasons["edge-fp32"]


def test_a_variant_the_provider_cannot_run_is_not_picked():
    fp16 = candidate("fp16", None, passed=False, failures=("the provider cannot run it",))
    choice = choose_variant([fp16, candidate("fp32", 10.0)])
    assert choice.variant == "fp32"
    assert choice.reasons["fp16"] == "could not run here; the provider cannot run it"


def test_nothing_to_pick_is_exit_3_naming_each_reason():
    with pytest.raises(NoVariantPasses) as raised:
        choose_variant(
            [
                candidate("fp32", 100.0, passed=False, failures=("max abs logit difference",)),
                candidate("int8-dynamic", 300.0),
                candidate("edge-fp32", 9.0, takes_text=True),
            ]
        )
    assert raised.value.exit_code == 3
    message = str(raised.value)
    assert message.startswith("--variant auto: no variant can be picked on this machine: ")
    assert "fp32: fails the parity gate here: max abs logit difference" in message
    assert "int8-dynamic: not batch-invariant" in message and "edge-fp32: a strings-in" in message


def test_equal_speeds_keep_the_manifest_order():
    choice = choose_variant([candidate("fp32", 100.0), candidate("int8-static", 100.0)])
    assert (choice.variant, choice.runner_up) == ("fp32", "int8-static")


@pytest.mark.parametrize(
    "entry",
    [
        None,
        [],
        {"name": "fp32"},
        {**candidate("fp32", 1.0).to_dict(), "passed": "yes"},
        {**candidate("fp32", 1.0).to_dict(), "failures": [3]},
        {**candidate("fp32", 1.0).to_dict(), "extra": 1},
    ],
)
def test_a_cached_candidate_is_checked_field_by_field(entry):
    with pytest.raises(ValueError):
        Candidate.from_dict(entry)


def test_a_candidate_survives_its_cache_record():
    original = candidate("int8-static", 12.5, passed=False, failures=("a", "b"))
    assert Candidate.from_dict(json.loads(json.dumps(original.to_dict()))) == original


# --- the cache ---


@pytest.fixture
def runs(monkeypatch) -> dict[str, int]:
    """Counts the onnxruntime sessions opened and run by any classifier."""
    counted = {"opened": 0, "run": 0}
    real_open, real_run = classifier_module.open_session, DeployedClassifier._run

    def open_session(*args, **kwargs):
        counted["opened"] += 1
        return real_open(*args, **kwargs)

    def run(self, feeds):
        counted["run"] += 1
        return real_run(self, feeds)

    monkeypatch.setattr(classifier_module, "open_session", open_session)
    monkeypatch.setattr(DeployedClassifier, "_run", run)
    return counted


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("REVIEWSCORE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def resolve(deploy: Path, warnings: list[str] | None = None, **options) -> AutoVariant:
    options = {"provider": "cpu", "threads": 1, **options}
    sink = warnings if warnings is not None else []
    return resolve_auto_variant(deploy, warn=sink.append, **options)


def measured_again(runs: dict[str, int], deploy: Path, **options) -> bool:
    runs.update(opened=0, run=0)
    auto = resolve(deploy, **options)
    assert auto.from_cache is (runs["run"] == 0)
    return runs["run"] > 0


def test_a_second_start_reads_the_cache_and_runs_no_model(exported_int8, cache, runs):
    first = resolve(exported_int8.deploy)
    assert runs["opened"] == 3 and runs["run"] > 0 and not first.from_cache
    assert first.verification is not None
    assert len(list((cache / variant_cache.FOLDER).glob("*.json"))) == 1
    # the pick is the rule's on the speeds measured
    speeds = first.verification.speeds
    assert set(speeds) == {"fp32", "int8-dynamic", "int8-static"}
    assert first.variant == max(("fp32", "int8-static"), key=speeds.get)

    runs.update(opened=0, run=0)
    again = resolve(exported_int8.deploy)
    assert runs == {"opened": 0, "run": 0}
    assert again.from_cache and again.verification is None
    assert again.choice == first.choice
    # the opt-in is applied to the cached measurement, not measured again
    allowed = resolve(exported_int8.deploy, allow_batch_dependent=True)
    assert runs == {"opened": 0, "run": 0}
    assert allowed.variant == max(speeds, key=speeds.get)


def test_a_change_of_cpu_onnxruntime_threads_or_provider_measures_again(
    exported_int8, cache, runs, monkeypatch
):
    import onnxruntime

    deploy = exported_int8.deploy
    assert measured_again(runs, deploy)
    assert not measured_again(runs, deploy)
    assert measured_again(runs, deploy, threads=2)
    assert not measured_again(runs, deploy, threads=2)

    real_cpu = variant_cache.local_cpu()
    monkeypatch.setattr(variant_cache, "local_cpu", lambda: {**real_cpu, "cpu": "Another CPU"})
    assert measured_again(runs, deploy)
    monkeypatch.setattr(variant_cache, "local_cpu", lambda: {**real_cpu, "isa_class": "other"})
    assert measured_again(runs, deploy)
    monkeypatch.setattr(variant_cache, "local_cpu", lambda: real_cpu)
    assert not measured_again(runs, deploy)

    monkeypatch.setattr(onnxruntime, "__version__", onnxruntime.__version__ + ".post1")
    assert measured_again(runs, deploy)


def test_a_changed_manifest_measures_again(exported_int8, cache, runs, tmp_path):
    deploy = Path(shutil.copytree(exported_int8.deploy, tmp_path / "deploy"))
    assert measured_again(runs, deploy)
    assert not measured_again(runs, deploy)
    data = json.loads((deploy / MANIFEST).read_text())
    data["source_run"] = "elsewhere"
    (deploy / MANIFEST).write_text(json.dumps(data))
    assert measured_again(runs, deploy)


def test_remeasure_skips_the_cache(exported_int8, cache, runs):
    resolve(exported_int8.deploy)
    assert measured_again(runs, exported_int8.deploy, remeasure=True)


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b'{"format": "other"}', b"[]", b""])
def test_a_corrupt_cache_file_is_measured_again_with_one_warning(
    exported_int8, cache, runs, content
):
    resolve(exported_int8.deploy)
    (path,) = (cache / variant_cache.FOLDER).glob("*.json")
    path.write_bytes(content)
    warnings: list[str] = []
    runs.update(run=0)
    auto = resolve(exported_int8.deploy, warnings)
    assert runs["run"] > 0 and not auto.from_cache
    assert len(warnings) == 1
    assert warnings[0].startswith(f"the cached variant timings {path} are unreadable (")
    assert warnings[0].endswith("): measured again")
    # rewritten: the next start is a hit again
    assert not measured_again(runs, exported_int8.deploy)


def test_a_cache_for_another_key_in_the_file_is_not_used(exported_int8, cache, runs):
    resolve(exported_int8.deploy)
    (path,) = (cache / variant_cache.FOLDER).glob("*.json")
    data = json.loads(path.read_text())
    data["key"]["threads"] = 99
    path.write_text(json.dumps(data))
    warnings: list[str] = []
    runs.update(run=0)
    resolve(exported_int8.deploy, warnings)
    assert runs["run"] > 0 and len(warnings) == 1 and "another key" in warnings[0]


def test_an_unwritable_cache_still_scores_with_one_warning(
    exported_int8, tmp_path, monkeypatch, runs
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("REVIEWSCORE_CACHE", str(blocker))
    warnings: list[str] = []
    auto = resolve(exported_int8.deploy, warnings)
    assert auto.variant in ("fp32", "int8-static") and runs["run"] > 0
    assert len(warnings) == 1
    assert warnings[0].startswith(f"could not cache the variant timings in {blocker}/")
    assert warnings[0].endswith(": the next start measures again")
    assert blocker.read_text() == "not a folder"


def test_the_cache_file_follows_the_umask(exported_int8, cache):
    resolve(exported_int8.deploy)
    (path,) = (cache / variant_cache.FOLDER).glob("*.json")
    from reviewscore.files import current_umask

    assert path.stat().st_mode & 0o777 == 0o666 & ~current_umask()


# --- what the entry points say ---


def test_open_auto_keeps_the_choice_and_refuses_the_opt_in_without_auto(exported_int8, cache):
    classifier = DeployedClassifier.open(exported_int8.deploy, "auto", threads=1)
    assert classifier.auto is not None and classifier.variant_name == classifier.auto.variant
    with pytest.raises(UsageError, match="--allow-batch-dependent applies to --variant auto"):
        DeployedClassifier.open(exported_int8.deploy, "fp32", allow_batch_dependent=True)


def test_the_summary_line_names_the_pick_the_runner_up_and_both_speeds(exported_int8):
    choice = choose_variant(
        [
            candidate("fp32", 1234.4),
            candidate("int8-dynamic", 5000.0),
            candidate("int8-static", 2000.0),
        ]
    )
    auto = AutoVariant(choice, {"threads": 1}, from_cache=True)
    summary = ScoreSummary.for_variant(
        exported_int8.manifest, auto.variant, "CPUExecutionProvider", auto=auto
    )
    first = describe(summary)[0]
    assert first.endswith(
        "variant int8-static (picked by --variant auto, 2,000 phrases/s here; runner-up fp32, "
        "1,234 phrases/s here; cached measurement)"
    )


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=180)


def test_score_auto_names_its_choice_and_scores_with_it(exported_int8, tmp_path):
    write_toy_tsv(tmp_path / "in.tsv", 20)
    out = tmp_path / "out.csv"
    scored = run_cli(
        "score", exported_int8.deploy, tmp_path / "in.tsv", "--variant", "auto", "-o", out
    )
    assert scored.returncode == 0, scored.stderr
    first = scored.stderr.splitlines()[0]
    picked = [v for v in ("fp32", "int8-static") if f"variant {v} (picked by" in first]
    assert (
        len(picked) == 1
        and f"; runner-up {({'fp32', 'int8-static'} - set(picked)).pop()}, " in first
    )
    assert "int8-dynamic" not in first and "warning" not in scored.stderr
    assert len(out.read_text().splitlines()) == 21


def test_score_auto_with_verify_measures_once_and_prints_the_checks(
    exported_int8, tmp_path, cache, runs, monkeypatch, capsys
):
    write_toy_tsv(tmp_path / "in.tsv", 5)
    args = ("score", exported_int8.deploy, tmp_path / "in.tsv", "--variant", "auto")
    code, _, err = reviewscore(monkeypatch, capsys, *args, "--threads", "1", "--verify")
    assert code == 0, err
    # one session per variant for the measurement (which is the check), one to score
    assert runs["opened"] == 3 + 1
    lines = err.splitlines()
    verified = [line.split(":")[0] for line in lines if line.startswith("verify ")]
    assert verified == ["verify fp32", "verify int8-dynamic", "verify int8-static"]
    assert "picked by --variant auto" in lines[-1] and "cached measurement" not in lines[-1]
    # --verify measured now even though the cache holds a measurement
    runs.update(opened=0)
    code, _, err = reviewscore(monkeypatch, capsys, *args, "--threads", "1", "--verify")
    assert code == 0 and runs["opened"] == 3 + 1
    runs.update(opened=0)
    code, _, err = reviewscore(monkeypatch, capsys, *args, "--threads", "1")
    assert code == 0 and runs["opened"] == 1 and "cached measurement" in err


def rethreshold(source: Path, target: Path, **thresholds: float) -> Path:
    """A copy of `source` whose manifest judges with other thresholds (rehashed)."""
    deploy = Path(shutil.copytree(source, target))
    data = load_manifest(deploy, verify=False).to_dict()
    data["parity_thresholds"] = {**data["parity_thresholds"], **thresholds}
    write_manifest(deploy, Manifest.from_dict(data, deploy / MANIFEST))
    return deploy


def test_no_variant_passing_here_is_exit_3_naming_each_failure(exported_int8, tmp_path):
    # moved labels above -1 fail every batch-invariant variant; agreement above 150% the rest
    deploy = rethreshold(
        exported_int8.deploy, tmp_path / "deploy", max_labels_moved=-1.0, min_agreement=1.5
    )
    write_toy_tsv(tmp_path / "in.tsv", 5)
    out = tmp_path / "out.csv"
    result = run_cli("score", deploy, tmp_path / "in.tsv", "--variant", "auto", "-o", out)
    assert result.returncode == 3 and not out.exists()
    (error,) = result.stderr.splitlines()
    assert error.startswith("error: --variant auto: no variant can be picked on this machine: ")
    for name in ("fp32", "int8-dynamic", "int8-static"):
        assert f"{name}: fails the parity gate here: " in error
    assert "labels moved between batchings 0.00% > -100.00%" in error
    assert "label agreement with PyTorch 100.00% < 150%" in error


def test_a_batch_dependent_variant_is_picked_only_when_allowed(exported_int8, tmp_path):
    deploy = rethreshold(exported_int8.deploy, tmp_path / "deploy", max_labels_moved=-1.0)
    write_toy_tsv(tmp_path / "in.tsv", 5)
    refused = run_cli("score", deploy, tmp_path / "in.tsv", "--variant", "auto")
    assert refused.returncode == 3
    assert "int8-dynamic: not batch-invariant (passes here, " in refused.stderr
    assert "--allow-batch-dependent lets auto pick it" in refused.stderr

    allowed = run_cli(
        "score", deploy, tmp_path / "in.tsv", "--variant", "auto", "--allow-batch-dependent"
    )
    assert allowed.returncode == 0, allowed.stderr
    lines = allowed.stderr.splitlines()
    assert "variant int8-dynamic (picked by --variant auto, " in lines[0]
    assert "runner-up" not in lines[0]  # the only variant that passes
    assert any(
        line.startswith("warning: variant int8-dynamic is not batch-invariant") for line in lines
    )


def test_the_opt_in_without_auto_is_a_usage_error(exported_int8, tmp_path):
    write_toy_tsv(tmp_path / "in.tsv", 5)
    result = run_cli("score", exported_int8.deploy, tmp_path / "in.tsv", "--allow-batch-dependent")
    assert result.returncode == 2
    assert "--allow-batch-dependent applies to --variant auto only" in result.stderr


def test_serve_model_endpoint_names_the_choice(exported_int8, cache):
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from reviewscore.scorer import load
    from reviewscore.serve.app import ServeState, build_app
    from reviewscore.serve.batcher import BatchSettings, MicroBatcher
    from reviewscore.serve.limits import Limits
    from reviewscore.serve.metrics import ServeMetrics
    from reviewscore.serve.readiness import Readiness

    scorer = load(exported_int8.deploy, "auto", threads=1)
    classifier = scorer.classifier
    metrics = ServeMetrics()
    batcher = MicroBatcher(classifier, BatchSettings(max_wait_s=0), metrics, Readiness())
    state = ServeState(scorer, batcher, metrics, Limits(), None)
    with TestClient(build_app(state)) as client:
        model = client.get("/v1/model").json()
    auto = model["auto"]
    assert model["variant"] == auto["variant"] == classifier.auto.variant
    assert auto["runner_up"] in ("fp32", "int8-static") and auto["runner_up"] != auto["variant"]
    speeds = auto["phrases_per_second"]
    assert speeds[auto["variant"]] >= speeds[auto["runner_up"]] > 0
    assert auto["measured_with"]["threads"] == 1 and auto["allow_batch_dependent"] is False


def test_serve_rechecks_parity_only_where_auto_did_not_just_measure_it(
    exported_int8, cache, monkeypatch
):
    """The measurement that picked the variant is the server's parity re-check (no second
    run of the parity rows); a pick read from the cache is re-checked on the loaded session."""
    from reviewscore.parity import recheck
    from reviewscore.scorer import load
    from reviewscore.serve.readiness import Readiness

    rechecked: list[str] = []
    real = recheck.verify_classifier

    def verify_classifier(classifier):
        rechecked.append(classifier.variant_name)
        return real(classifier)

    monkeypatch.setattr(recheck, "verify_classifier", verify_classifier)
    for from_cache in (False, True):
        with load(exported_int8.deploy, "auto", threads=1) as scorer:
            assert scorer.classifier.auto.from_cache is from_cache
            readiness = Readiness()
            readiness.prepare(scorer.classifier)
        assert readiness.ready and readiness.parity.status == "passed"
        assert readiness.parity.detail.startswith(f"{scorer.variant}: ")
        assert readiness.parity.detail.count(" [here: ") == 1  # the loaded variant's line
        assert rechecked == ([scorer.variant] if from_cache else [])


def test_serve_auto_logs_and_describes_its_choice(exported_int8, tmp_path):
    """`serve --variant auto --allow-batch-dependent`: the options reach the resolver."""
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("uvicorn")
    from test_serve import serving

    options = ("--variant", "auto", "--allow-batch-dependent", "--threads", "1")
    with serving(exported_int8.deploy, tmp_path, *options) as server:
        model = httpx.get(server.url + "/v1/model", timeout=10).json()
        log = server.stderr()
    auto = model["auto"]
    speeds = auto["phrases_per_second"]
    assert auto["allow_batch_dependent"] is True and auto["measured_with"]["threads"] == 1
    assert model["variant"] == auto["variant"] == max(speeds, key=speeds.get)
    assert f"(variant {auto['variant']}, picked by --variant auto, " in log
    assert f"; runner-up {auto['runner_up']}, " in log


def test_verify_all_caches_its_measurement_for_auto(
    exported_int8, cache, runs, monkeypatch, capsys
):
    args = ("verify", exported_int8.deploy, "--all", "--provider", "cpu", "--threads", "1")
    code, out, err = reviewscore(monkeypatch, capsys, *args)
    assert code == 0, err
    picked = next(line for line in out.splitlines() if line.startswith("auto would pick "))
    runs.update(opened=0, run=0)
    auto = resolve(exported_int8.deploy)
    assert runs == {"opened": 0, "run": 0} and auto.from_cache
    assert picked.startswith(f"auto would pick {auto.variant}: {auto.choice.why()}")


def test_a_folder_without_a_reference_cannot_be_measured(tmp_path, cache):
    from reviewscore.errors import FolderError
    from reviewscore.export.deploy import ExportOptions, export_run
    from tiny_models import make_run

    make_run(tmp_path / "run", "bert")
    export_run(tmp_path / "run", tmp_path / "deploy", ExportOptions(check=False))
    with pytest.raises(FolderError, match="--variant auto checks each variant against the"):
        resolve(tmp_path / "deploy")
    assert not cache.exists()


def test_load_auto_scores_with_the_pick_and_verify_measures_once(exported_int8, cache, runs):
    """`reviewscore.load(deploy, "auto", verify=True)`: the measurement that picks is the
    check (3 sessions, then 1 to score), the report holds every variant, and the Scorer
    gives what a Scorer of the picked variant gives."""
    from reviewscore.scorer import load

    texts = ["a gorgeous film", "dull", "it has its moments", "bad", "fine"]
    with load(exported_int8.deploy, "auto", threads=1, verify=True) as scorer:
        assert runs["opened"] == 3 + 1
        assert scorer.variant == scorer.classifier.auto.variant
        assert set(scorer.verification.figures) == {"fp32", "int8-dynamic", "int8-static"}
        labels = scorer.predict(texts)
    with load(exported_int8.deploy, scorer.variant, threads=1) as fixed:
        assert (fixed.predict(texts) == labels).all()
    with pytest.raises(UsageError, match="--allow-batch-dependent"):
        load(exported_int8.deploy, "fp32", allow_batch_dependent=True)
