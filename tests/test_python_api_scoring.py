"""The Python scoring API (`reviewscore.load` -> Scorer): the same labels and probabilities as
`reviewscore score` for every variant, any iterable of str, clear errors for anything else,
empty input, a context manager, threads, and an import that loads nothing heavy."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import reviewscore
from cli_runner import reviewscore as run_reviewscore
from reviewscore.deploy_folder import MANIFEST, Manifest, load_manifest, write_manifest
from reviewscore.export.deploy import ExportOptions, export_run
from source_checks import perturb_largest_weight
from tiny_models import make_run, toy_rows, write_toy_tsv

ALL = ("fp32", "int8-dynamic", "int8-static", "fp16")
ROWS = 137
# Small enough that the file spans several chunks and every chunk several session runs.
BATCHING = {"batch_tokens": 64, "chunk_rows": 50}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """Every variant of the toy-trained tiny bert, and a labelled input file."""
    root = tmp_path_factory.mktemp("python-api")
    make_run(root / "run", "bert", max_length=32, trained=True)
    export_run(root / "run", root / "deploy", ExportOptions(variants=ALL))
    write_toy_tsv(root / "in.tsv", ROWS)
    return root


@pytest.fixture(scope="module")
def scorer(root):
    with reviewscore.load(root / "deploy", threads=1) as scorer:
        yield scorer


TEXTS = [row[2] for row in toy_rows(ROWS)]


def runnable(root: Path, variant: str) -> bool:
    """fp16 where the CPU provider has no kernels for it is recorded as not checked."""
    return bool(load_manifest(root / "deploy").parity[variant].checked)


@pytest.mark.parametrize("variant", ALL)
def test_labels_and_probabilities_equal_the_cli_for_every_variant(
    variant, root, tmp_path, monkeypatch, capsys
):
    if not runnable(root, variant):
        pytest.skip(f"{variant}: this CPU provider cannot run it (recorded by the export)")
    out = tmp_path / "scored.csv"
    code, _, err = run_reviewscore(
        monkeypatch,
        capsys,
        "score",
        root / "deploy",
        root / "in.tsv",
        "-o",
        out,
        "--probs",
        "--variant",
        variant,
        "--threads",
        1,
        "--batch-tokens",
        BATCHING["batch_tokens"],
        "--chunk-rows",
        BATCHING["chunk_rows"],
    )
    assert code == 0, err
    rows = [line.split(",") for line in out.read_text().splitlines()[1:]]

    with reviewscore.load(root / "deploy", variant, threads=1, **BATCHING) as scorer:
        assert scorer.variant == variant
        labels = scorer.predict(TEXTS)
        probs = scorer.predict_proba(TEXTS)
    assert labels.dtype == np.int64 and labels.shape == (ROWS,)
    assert probs.dtype == np.float32 and probs.shape == (ROWS, 5)
    assert labels.tolist() == [int(row[1]) for row in rows]
    assert [[f"{p:.6f}" for p in row] for row in probs] == [row[3:] for row in rows]
    assert [scorer.label_names[i] for i in labels] == [row[2] for row in rows]


def test_scorer_describes_its_folder(scorer, root):
    assert scorer.label_names == load_manifest(root / "deploy").labels
    assert scorer.label_names[0] == "negative" and len(scorer.label_names) == 5
    assert scorer.variant == "fp32"  # the folder's default
    assert isinstance(scorer.manifest, Manifest) and set(scorer.manifest.variants) == set(ALL)
    assert scorer.provider == "CPUExecutionProvider"
    assert "variant='fp32'" in repr(scorer)


def test_any_iterable_of_str_gives_the_same_answer(scorer):
    texts = TEXTS[:40]
    expected = scorer.predict(texts)
    kinds = {
        "tuple": tuple(texts),
        "generator": (text for text in texts),
        "numpy str": np.array(texts),
        "numpy object": np.array(texts, dtype=object),
    }
    for kind, given in kinds.items():
        np.testing.assert_array_equal(scorer.predict(given), expected, err_msg=kind)
    np.testing.assert_array_equal(scorer.predict_proba(iter(texts)), scorer.predict_proba(texts))


def test_a_pandas_series_is_taken_without_the_api_importing_pandas(scorer):
    pandas = pytest.importorskip("pandas")
    texts = TEXTS[:25]
    series = pandas.Series(texts, index=range(100, 125))  # its index is not the position
    np.testing.assert_array_equal(scorer.predict(series), scorer.predict(texts))
    with pytest.raises(TypeError, match=r"texts\[2\] is float"):
        scorer.predict(pandas.Series(["good", "bad", None, "fine"]))


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["good", 3, "bad"], r"texts\[1\] is int \(3\), not str"),
        (["good", "bad", None], r"texts\[2\] is NoneType"),
        ([b"good"], r"texts\[0\] is bytes"),
        (np.array([["good", "bad"]]), r"texts\[0\] is ndarray"),
        ("a single review", r"not a single str; wrap one text in a list"),
        (42, r"iterable of str, not int"),
    ],
)
def test_anything_but_str_is_a_type_error_naming_its_index(scorer, texts, message):
    with pytest.raises(TypeError, match=message):
        scorer.predict(texts)
    with pytest.raises(TypeError, match=message):
        scorer.predict_proba(texts)


def test_empty_input_gives_empty_arrays(scorer):
    for empty in ([], (), iter([]), np.array([], dtype=str)):
        labels = scorer.predict(empty)
        assert labels.shape == (0,) and labels.dtype == np.int64
    probs = scorer.predict_proba([])
    assert probs.shape == (0, 5) and probs.dtype == np.float32


def test_context_manager_closes_the_session(root):
    with reviewscore.load(root / "deploy", threads=1) as scorer:
        assert not scorer.closed
        assert scorer.predict(["good"]).shape == (1,)
    assert scorer.closed and "closed" in repr(scorer)
    with pytest.raises(ValueError, match="is closed"):
        scorer.predict(["good"])
    scorer.close()  # twice is fine


def test_four_threads_get_what_one_thread_gets(root):
    """One Scorer shared by 4 threads, each scoring its own lists while the others run."""
    texts = [row[2] for row in toy_rows(600, seed=5)]
    parts = [texts[i::6] for i in range(6)] * 4  # 24 calls, overlapping in time
    with reviewscore.load(root / "deploy", "int8-static", threads=1, **BATCHING) as scorer:
        sequential = [scorer.predict_proba(part) for part in parts]
        with ThreadPoolExecutor(max_workers=4) as pool:
            concurrent = list(pool.map(scorer.predict_proba, parts))
    for alone, together in zip(sequential, concurrent, strict=True):
        np.testing.assert_array_equal(alone, together)


def test_score_file_writes_what_the_cli_writes(scorer, root, tmp_path, monkeypatch, capsys):
    cli_out, api_out = tmp_path / "cli.jsonl", tmp_path / "api.jsonl"
    args = ["--format", "jsonl", "--probs", "--evaluate", "--threads", 1]
    code, _, err = run_reviewscore(
        monkeypatch, capsys, "score", root / "deploy", root / "in.tsv", "-o", cli_out, *args
    )
    assert code == 0, err
    summary = scorer.score_file(root / "in.tsv", api_out, format="jsonl", probs=True, evaluate=True)
    assert api_out.read_bytes() == cli_out.read_bytes()
    assert summary.rows == ROWS and summary.variant == "fp32" and summary.bad_lines == []
    assert summary.metrics is not None and 0 <= summary.metrics.accuracy <= 1
    assert f"accuracy {summary.metrics.accuracy:.4f}" in err


def test_score_file_refuses_what_the_cli_refuses(scorer, root, tmp_path):
    with pytest.raises(reviewscore.UsageError, match="--probs does not apply to --format kaggle"):
        scorer.score_file(root / "in.tsv", tmp_path / "x.csv", format="kaggle", probs=True)
    with pytest.raises(reviewscore.UsageError, match="needs --engine ray"):
        scorer.score_file(root / "in.tsv", tmp_path / "x.csv", format="parquet")
    with pytest.raises(reviewscore.DataError, match="no file matches"):
        scorer.score_file(str(tmp_path / "*.tsv"), tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_verify_returns_the_report_of_the_cli(scorer, root, monkeypatch, capsys):
    report = scorer.verify()
    assert report.passed and list(report.figures) == ["fp32"]
    code, out, _ = run_reviewscore(monkeypatch, capsys, "verify", root / "deploy", "--json")
    assert code == 0
    assert json.loads(out)["variants"]["fp32"]["agreement"] == report.figures["fp32"].agreement
    everything = reviewscore.verify(root / "deploy", all_variants=True, threads=1)
    assert set(everything.figures) == set(ALL)
    with pytest.raises(reviewscore.UsageError, match="not both"):
        reviewscore.verify(root / "deploy", ["fp32"], all_variants=True)


def test_load_verify_checks_the_session_it_opened(root, monkeypatch):
    """`load(..., verify=True)` checks the Scorer's own session: one model loaded, not two."""
    from reviewscore.score import classifier as classifier_module

    opened: list[object] = []
    real_open = classifier_module.open_session

    def open_session(*args, **kwargs):
        opened.append(args[0])
        return real_open(*args, **kwargs)

    monkeypatch.setattr(classifier_module, "open_session", open_session)
    with reviewscore.load(root / "deploy", threads=1, verify=True) as scorer:
        assert scorer.verification.passed and list(scorer.verification.figures) == ["fp32"]
        assert scorer.verify().figures == scorer.verification.figures
    assert len(opened) == 1
    with pytest.raises(ValueError, match="closed"):
        scorer.verify()


def test_load_verify_raises_the_parity_error_with_its_figures(root, tmp_path):
    deploy = Path(shutil.copytree(root / "deploy", tmp_path / "deploy"))
    perturb_largest_weight(deploy / "model.onnx")
    manifest = load_manifest(deploy, verify=False).to_dict()
    manifest["files"] = dict.fromkeys(manifest["files"], "")  # rehashed on writing
    write_manifest(deploy, Manifest.from_dict(manifest, deploy / MANIFEST))

    with reviewscore.load(deploy, threads=1) as unverified:  # hashes match: it opens
        assert not unverified.verify().passed
    with pytest.raises(reviewscore.ParityError, match="max abs logit difference") as failed:
        reviewscore.load(deploy, threads=1, verify=True)
    assert failed.value.exit_code == 3
    figures = failed.value.figures["fp32"]
    assert not figures.passed and figures.max_abs_logit_diff > 1e-4
    assert not failed.value.report.passed

    good = reviewscore.load(root / "deploy", "int8-static", threads=1, verify=True)
    assert good.verification is not None and good.verification.passed
    assert list(good.verification.figures) == ["int8-static"]


def test_load_refuses_a_folder_and_a_variant_it_cannot_open(root, tmp_path):
    with pytest.raises(reviewscore.FolderError, match="not a deploy folder"):
        reviewscore.load(tmp_path)
    with pytest.raises(reviewscore.FolderError, match="no variant 'int4'"):
        reviewscore.load(root / "deploy", "int4")
    with pytest.raises(reviewscore.ReviewscoreError, match="exceeds the model's max length"):
        reviewscore.load(root / "deploy", max_length=1000)
    for bad, message in [
        ({"threads": 0}, "threads must be at least 1, not 0"),
        ({"batch_tokens": -5}, "batch_tokens must be at least 1"),
        ({"chunk_rows": 0}, "chunk_rows must be at least 1"),
    ]:
        with pytest.raises(reviewscore.UsageError, match=message):
            reviewscore.load(root / "deploy", **bad)


BLOCK_TORCH = """
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers"):
            raise ImportError(f"{name} is blocked: scoring must not need it")
        return None

sys.meta_path.insert(0, Block())
"""


def run_python(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_load_and_predict_leave_torch_transformers_and_pandas_unimported(root):
    out = run_python(
        BLOCK_TORCH
        + """
import json, reviewscore
scorer = reviewscore.load(sys.argv[1], threads=1)
labels = scorer.predict(["good film", "the plot was dull"]).tolist()
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "transformers", "pandas"})
print(json.dumps({"labels": labels, "loaded": loaded}))
""",
        str(root / "deploy"),
    )
    answer = json.loads(out)
    assert answer["loaded"] == [] and len(answer["labels"]) == 2


def test_import_reviewscore_imports_nothing_heavy():
    out = run_python(
        """
import json, sys
import reviewscore
heavy = ("numpy", "onnxruntime", "tokenizers", "torch", "transformers", "click")
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(heavy))))
reviewscore.ReviewscoreError, reviewscore.__version__
"""
    )
    assert json.loads(out) == []


def test_help_of_load_says_what_a_user_needs():
    doc = reviewscore.load.__doc__
    for needed in ("variant", "provider", "threads", "verify", "predict_proba", "Example"):
        assert needed in doc
    assert "ParityError" in doc and "thread" in doc.lower()


def test_the_ray_actor_scores_through_a_scorer(root):
    pytest.importorskip("ray")
    from reviewscore.cluster.scoring import ScorerActor

    actor = ScorerActor(
        str(root / "deploy"),
        variant="int8-dynamic",
        provider="cpu",
        threads=1,
        max_length=None,
        probs=True,
        text_column="text",
        keep_text=False,
        **BATCHING,
    )
    assert isinstance(actor.scorer, reviewscore.Scorer)
    scored = actor({"text": np.array(TEXTS, dtype=object)})
    with reviewscore.load(root / "deploy", "int8-dynamic", threads=1, **BATCHING) as scorer:
        probs = scorer.predict_proba(TEXTS)
    np.testing.assert_array_equal(scored["label"], probs.argmax(axis=1))
    np.testing.assert_array_equal(np.stack([scored[f"p_{i}"] for i in range(5)], 1), probs)
