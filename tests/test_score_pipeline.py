"""`reviewscore score`: order, formats, streaming, bad input, atomic output, no torch."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from reviewscore.errors import DataError, FolderError, ReviewscoreError
from reviewscore.score.classifier import DeployedClassifier
from reviewscore.score.pipeline import ScoreOptions, score_files
from source_checks import imported_modules
from tiny_models import make_run, toy_rows, write_toy_tsv

CLI = [sys.executable, "-m", "reviewscore.cli", "score"]


@pytest.fixture(scope="session")
def deploy(tmp_path_factory) -> Path:
    from reviewscore.export.deploy import export_run

    root = tmp_path_factory.mktemp("score")
    make_run(root / "run", "bert")
    return Path(export_run(root / "run", root / "deploy") and root / "deploy")


@pytest.fixture(scope="session")
def classifier(deploy) -> DeployedClassifier:
    return DeployedClassifier.open(deploy, threads=1)


def run_cli(*args: str, stdin: bytes | None = None, check: bool = True):
    result = subprocess.run([*CLI, *args], input=stdin, capture_output=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(result.stderr.decode())
    return result


def rows_file(path: Path, n: int, seed: int = 0) -> Path:
    return write_toy_tsv(path, n, seed)


def test_order_preserved_and_every_row_scored(tmp_path, classifier):
    source = rows_file(tmp_path / "in.tsv", 137)
    texts = [r[2] for r in toy_rows(137)]
    out = tmp_path / "out.csv"
    options = ScoreOptions(fmt="csv", probs=True, chunk_rows=50, batch_tokens=64)
    summary = score_files(classifier, [str(source)], str(out), options)
    lines = out.read_text().splitlines()
    assert summary.rows == 137 and len(lines) == 138
    assert [line.split(",")[0] for line in lines[1:]] == [r[0] for r in toy_rows(137)]
    expected = classifier.probabilities(texts).argmax(axis=1)
    one_by_one = np.array([classifier.predict([t])[0] for t in texts])
    got = np.array([int(line.split(",")[1]) for line in lines[1:]])
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, one_by_one)


def test_kaggle_format_is_byte_exact(tmp_path, deploy, classifier):
    source = tmp_path / "test.tsv"
    source.write_text(
        "PhraseId\tSentenceId\tPhrase\n156061\t8545\tAn intermittently pleasing\n"
        "156062\t8545\t \n156063\t8545\tgood\n"
    )
    out = tmp_path / "sub.csv"
    run_cli(str(deploy), str(source), "-o", str(out), "--format", "kaggle")
    labels = classifier.predict(["An intermittently pleasing", " ", "good"])
    expected = "PhraseId,Sentiment\n" + "".join(
        f"{i},{lab}\n" for i, lab in zip((156061, 156062, 156063), labels, strict=True)
    )
    assert out.read_bytes() == expected.encode()


def test_probabilities_sum_to_one_and_label_is_argmax(tmp_path, deploy):
    source = rows_file(tmp_path / "in.tsv", 20)
    out = run_cli(str(deploy), str(source), "--probs", "--format", "tsv").stdout.decode()
    header, *rows = out.splitlines()
    assert header.split("\t") == ["PhraseId", "Sentiment", "label_name"] + [
        f"p_{i}" for i in range(5)
    ]
    for row in rows:
        cells = row.split("\t")
        probs = np.array([float(c) for c in cells[3:]])
        assert abs(probs.sum() - 1) < 1e-4
        assert int(cells[1]) == int(probs.argmax())


def test_stdin_gzip_input_and_gzip_output(tmp_path, deploy):
    plain = rows_file(tmp_path / "in.tsv", 30)
    expected = run_cli(str(deploy), str(plain), "--format", "kaggle").stdout
    from_stdin = run_cli(str(deploy), "-", "--format", "kaggle", stdin=plain.read_bytes()).stdout
    gz_stdin = run_cli(
        str(deploy), "-", "--format", "kaggle", stdin=gzip.compress(plain.read_bytes())
    ).stdout
    assert from_stdin == expected == gz_stdin
    out = tmp_path / "out.csv.gz"
    run_cli(str(deploy), str(plain), "--format", "kaggle", "-o", str(out))
    assert gzip.decompress(out.read_bytes()) == expected


def test_output_to_a_named_pipe_is_written_in_place(tmp_path, classifier):
    """A device or pipe (`-o /dev/null`) is written directly: the atomic rename used for
    files would replace it with a regular file."""
    import threading

    source = rows_file(tmp_path / "in.tsv", 12)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()), daemon=True)
    reader.start()
    score_files(classifier, [str(source)], str(pipe), ScoreOptions(fmt="kaggle"))
    reader.join(timeout=30)
    assert pipe.is_fifo()
    assert len(received[0].decode().splitlines()) == 1 + 12
    assert not list(tmp_path.glob(".pipe.*"))


def test_chunk_boundaries_several_inputs_and_glob(tmp_path, deploy):
    for name, seed in (("a.tsv", 1), ("b.tsv", 2)):
        rows_file(tmp_path / name, 23, seed)
    whole = run_cli(
        str(deploy), str(tmp_path / "a.tsv"), str(tmp_path / "b.tsv"), "--chunk-rows", "1000"
    ).stdout
    chunked = run_cli(str(deploy), str(tmp_path / "*.tsv"), "--chunk-rows", "10").stdout
    assert whole == chunked
    lines = whole.decode().splitlines()
    assert lines[0] == "PhraseId,source,Sentiment,label_name"
    assert len(lines) == 1 + 46
    assert lines[1].split(",")[1].endswith("a.tsv") and lines[-1].split(",")[1].endswith("b.tsv")


def read_scored(path: Path) -> dict[str, tuple[int, np.ndarray]]:
    """id -> (label, probabilities) from a `--format csv --probs` output."""
    scored = {}
    for line in path.read_text().splitlines()[1:]:
        row_id, label, _, *probs = line.split(",")
        scored[row_id] = (int(label), np.array([float(p) for p in probs]))
    return scored


def test_same_labels_as_is_shuffled_and_one_at_a_time(tmp_path, classifier):
    """Issue 6: with the manifest's default variant, a phrase's label does not depend on its
    neighbours or on the batching. The same rows are scored from the file as is (large
    batches), shuffled (other neighbours, another token budget) and one row per chunk; labels
    must be identical and probabilities equal within 1e-5 (float summation order only; the
    output rounds them to 6 decimals)."""
    assert classifier.variant_name == classifier.manifest.default_variant
    rows = [*toy_rows(300, seed=5), ("9999", "0", " ", 2)]
    order = np.random.default_rng(0).permutation(len(rows))
    scored = []
    for name, ordered, batch_tokens, chunk_rows in (
        ("as_is", rows, 4096, 8192),
        ("shuffled", [rows[i] for i in order], 97, 8192),
        ("single", rows, 4096, 1),
    ):
        source = tmp_path / f"{name}.tsv"
        source.write_text("PhraseId\tPhrase\n" + "".join(f"{r[0]}\t{r[2]}\n" for r in ordered))
        options = ScoreOptions(probs=True, batch_tokens=batch_tokens, chunk_rows=chunk_rows)
        score_files(classifier, [str(source)], str(tmp_path / f"{name}.csv"), options)
        scored.append(read_scored(tmp_path / f"{name}.csv"))
    as_is, *others = scored
    assert len(as_is) == len(rows)
    for other in others:
        assert other.keys() == as_is.keys()
        for row_id, (label, probs) in as_is.items():
            assert other[row_id][0] == label, row_id
            np.testing.assert_allclose(other[row_id][1], probs, atol=1e-5)


def test_missing_text_column_lists_columns(tmp_path, deploy):
    source = tmp_path / "x.tsv"
    source.write_text("PhraseId\tReview\n1\tgood\n")
    result = run_cli(str(deploy), str(source), check=False)
    assert result.returncode == 1
    err = result.stderr.decode()
    assert f"{source}, line 1: no column 'Phrase'; columns found: 'PhraseId', 'Review'" in err
    assert "Traceback" not in err


def test_bad_line_errors_or_is_skipped_and_reported(tmp_path, deploy):
    source = tmp_path / "bad.tsv"
    source.write_text("PhraseId\tPhrase\n1\tgood\n2\ttoo\tmany\n3\tfine\n")
    failed = run_cli(str(deploy), str(source), check=False)
    assert failed.returncode == 1
    assert f"{source}, line 3: expected 2 fields, found 3" in failed.stderr.decode()
    skipped = run_cli(str(deploy), str(source), "--on-bad-line", "skip", "--format", "kaggle")
    assert [line.split(",")[0] for line in skipped.stdout.decode().splitlines()] == [
        "PhraseId",
        "1",
        "3",
    ]
    assert f"skipped 1 bad line(s): {source}:3" in skipped.stderr.decode()


def test_undecodable_bytes_are_a_clear_error(tmp_path, deploy):
    source = tmp_path / "latin.tsv"
    source.write_bytes(b"PhraseId\tPhrase\n1\tcaf\xe9\n")
    result = run_cli(str(deploy), str(source), check=False)
    assert result.returncode == 1
    assert f"{source}, line 2: bytes are not valid UTF-8" in result.stderr.decode()


def test_tampered_or_missing_deploy_file_is_refused(tmp_path, deploy):
    import shutil

    copy = tmp_path / "deploy"
    shutil.copytree(deploy, copy)
    with open(copy / "tokenizer.json", "a") as handle:
        handle.write(" ")
    with pytest.raises(FolderError, match=r"tokenizer\.json does not match the manifest"):
        DeployedClassifier.open(copy)
    missing = tmp_path / "missing"
    shutil.copytree(deploy, missing)
    (missing / "model.onnx").unlink()
    with pytest.raises(FolderError, match=r"model\.onnx is listed in the manifest but missing"):
        DeployedClassifier.open(missing)


def test_output_never_overwrites_an_input(tmp_path, classifier):
    source = rows_file(tmp_path / "in.tsv", 5)
    before = source.read_bytes()
    with pytest.raises(ReviewscoreError, match="is also an input"):
        score_files(classifier, [str(source)], str(source), ScoreOptions())
    assert source.read_bytes() == before


def test_output_never_lies_inside_the_deploy_folder(tmp_path, classifier):
    source = rows_file(tmp_path / "in.tsv", 5)
    inside = classifier.deploy_dir / "scored.csv"
    with pytest.raises(ReviewscoreError, match="lies inside the input folder"):
        score_files(classifier, [str(source)], str(inside), ScoreOptions())
    assert not inside.exists()


def test_a_text_the_tokenizer_cannot_take_is_named_by_file_and_line(tmp_path, classifier):
    """The reader decodes strict UTF-8, so no file yields a lone surrogate; a reader that
    did (stdin decoded leniently, a future format) is still stopped at the line."""
    from reviewscore.data import ReviewRows
    from reviewscore.score.pipeline import _encode

    rows = ReviewRows("in.tsv", ["1", "2"], ["good", "bad \ud800"], [2, 3])
    with pytest.raises(DataError) as refused:
        _encode(classifier, rows, "Phrase")
    assert str(refused.value).startswith("in.tsv, line 3, column Phrase: the text cannot be")


def test_kaggle_needs_an_id_column(tmp_path, classifier):
    source = tmp_path / "noid.tsv"
    source.write_text("Phrase\ngood\n")
    with pytest.raises(DataError, match="--format kaggle needs the id column 'PhraseId'"):
        score_files(classifier, [str(source)], None, ScoreOptions(fmt="kaggle"))


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_killed_run_leaves_no_output_that_looks_complete(tmp_path, deploy, how):
    source = tmp_path / "big.tsv.gz"
    rows = toy_rows(400, seed=9)
    body = "".join(f"{i}\t0\t{rows[i % 400][2]}\n" for i in range(60_000))
    source.write_bytes(gzip.compress(("PhraseId\tSentenceId\tPhrase\n" + body).encode()))
    out = tmp_path / "out.csv"
    proc = subprocess.Popen(
        [
            *CLI,
            str(deploy),
            str(source),
            "-o",
            str(out),
            "--chunk-rows",
            "64",
            "--batch-tokens",
            "32",
            "--threads",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # A shell starts background jobs with SIGINT ignored, and Python keeps it ignored:
        # give the scorer SIGINT's default, as a terminal would, wherever pytest runs.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 60
    while not list(tmp_path.glob(".out.csv.*.partial")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(how)
    proc.wait(timeout=30)
    assert not out.exists()
    if how != signal.SIGKILL:  # a graceful stop also removes the temporary file
        assert not list(tmp_path.glob(".out.csv.*.partial"))
        assert proc.returncode == 128 + how
        assert "Traceback" not in proc.stderr.read().decode()


BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'transformers'):
            raise ImportError(f'{name} is blocked in this test')
sys.meta_path.insert(0, Block())
sys.argv = ['reviewscore'] + sys.argv[1:]
from reviewscore.cli import main
try:
    main()
finally:
    leaked = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')]
    assert not leaked, leaked
"""


def test_scores_with_torch_and_transformers_blocked(tmp_path, deploy):
    source = rows_file(tmp_path / "in.tsv", 10)
    blocked = subprocess.run(
        [sys.executable, "-c", BLOCKER, "score", str(deploy), str(source), "--format", "kaggle"],
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert blocked.returncode == 0, blocked.stderr.decode()
    assert blocked.stdout == run_cli(str(deploy), str(source), "--format", "kaggle").stdout


PARITY_MODULES = ("__init__", "reference", "figures", "judge", "verify", "recheck")


def test_score_package_source_never_imports_torch_train_or_export():

    import reviewscore.score as package

    score_dir = Path(package.__file__).parent
    # and the modules outside score/ that the scorer and `verify` import
    shared = ("deploy_folder", "cpu_features", *(f"parity/{name}" for name in PARITY_MODULES))
    files = [*score_dir.glob("*.py"), *(score_dir.parent / f"{name}.py" for name in shared)]
    forbidden = (
        "torch",
        "transformers",
        "reviewscore.train",
        "reviewscore.export",
        "reviewscore.run_model",
    )
    for file in files:
        for name in imported_modules(file):
            assert not name.startswith(forbidden), f"{file.name} imports {name}"


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "empty"), ("Id\tText\n1\tgood\n", "no column 'Phrase'")],
)
def test_a_failing_input_prints_no_header_to_stdout(tmp_path, classifier, capsys, content, message):
    source = tmp_path / "in.tsv"
    source.write_text(content)
    with pytest.raises(DataError, match=message):
        score_files(classifier, [str(source)], None, ScoreOptions())
    assert capsys.readouterr().out == ""


def test_an_input_with_a_header_and_no_rows_gives_the_header(tmp_path, classifier, capsys):
    source = tmp_path / "in.tsv"
    source.write_text("PhraseId\tPhrase\n")
    summary = score_files(classifier, [str(source)], None, ScoreOptions())
    assert summary.rows == 0
    assert capsys.readouterr().out == "PhraseId,Sentiment,label_name\n"
