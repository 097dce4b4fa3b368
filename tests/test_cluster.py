"""`reviewscore score --engine ray`: the same rows, ids and labels as the single-machine
scorer, from several files, globs and Parquet, with bad rows listed and a dying actor."""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # each test starts or uses a local Ray cluster

ray = pytest.importorskip("ray")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from click.testing import CliRunner  # noqa: E402 - after the skip, like the imports below

from reviewscore.cli import cli  # noqa: E402
from reviewscore.cluster import (  # noqa: E402
    ClusterOptions,
    ScorerActor,
    connect,
    read_review_dataset,
    score_dataset,
    score_to_folder,
)
from reviewscore.errors import ReviewscoreError  # noqa: E402
from reviewscore.score.classifier import DeployedClassifier  # noqa: E402
from reviewscore.score.pipeline import ScoreOptions, score_files  # noqa: E402
from tiny_models import make_run, toy_rows, write_toy_tsv  # noqa: E402

PROBS = [f"p_{i}" for i in range(5)]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the whole file: starting one costs seconds."""
    connect(num_cpus=2)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def deploy(tmp_path_factory) -> Path:
    from reviewscore.export.deploy import export_run

    root = tmp_path_factory.mktemp("cluster")
    make_run(root / "run", "bert")
    export_run(root / "run", root / "deploy")
    return root / "deploy"


@pytest.fixture(scope="module")
def classifier(deploy) -> DeployedClassifier:
    return DeployedClassifier.open(deploy, threads=1)


def local_scores(classifier, paths: list[Path], tmp_path: Path) -> dict:
    """{(source, id): (label, probs)} from the single-machine scorer, on the same files."""
    out = tmp_path / "local.tsv"
    options = ScoreOptions(fmt="tsv", probs=True, chunk_rows=40, batch_tokens=256)
    score_files(classifier, [str(p) for p in paths], str(out), options)
    with open(out, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return {
            (row.get("source", str(paths[0])), row["PhraseId"]): (
                int(row["Sentiment"]),
                np.array([float(row[p]) for p in PROBS]),
            )
            for row in reader
        }


def read_folder(folder: Path) -> list[dict]:
    """Every row of every shard, Parquet or TSV."""
    rows: list[dict] = []
    for shard in sorted(folder.glob("part-*")):
        if shard.suffix == ".parquet":
            rows += pq.read_table(shard).to_pylist()
        else:
            with open(shard, encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
                rows += [{**r, "line": int(r["line"]), "label": int(r["label"])} for r in reader]
    return rows


def assert_same_as_local(rows: list[dict], expected: dict) -> None:
    """Row-exact: every expected (source, id) once, nothing else, same label and probs."""
    keys = [(r["source"], r["id"]) for r in rows]
    assert len(keys) == len(set(keys)), "duplicated rows"
    assert set(keys) == set(expected), "missing or extra rows"
    for row in rows:
        label, probs = expected[(row["source"], row["id"])]
        assert row["label"] == label
        np.testing.assert_allclose([float(row[p]) for p in PROBS], probs, atol=2e-6)


def summary_of(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def test_files_and_a_glob_match_the_single_machine_scorer(tmp_path, deploy, classifier):
    data = tmp_path / "data"
    first = write_toy_tsv(data / "a.tsv", 137, seed=1)
    gz_dir = data / "more"
    for k, n in enumerate((60, 45)):
        plain = write_toy_tsv(tmp_path / f"plain{k}.tsv", n, seed=10 + k)
        (gz_dir / f"part{k}.tsv.gz").parent.mkdir(parents=True, exist_ok=True)
        (gz_dir / f"part{k}.tsv.gz").write_bytes(gzip.compress(plain.read_bytes()))
    paths = [first, gz_dir / "part0.tsv.gz", gz_dir / "part1.tsv.gz"]
    out = tmp_path / "out"
    options = ClusterOptions(probs=True, actors=2, chunk_rows=40, batch_tokens=256)
    summary = score_to_folder(deploy, [str(first), str(gz_dir / "*.tsv.gz")], out, options)
    assert_same_as_local(read_folder(out), local_scores(classifier, paths, tmp_path))
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("part-")) == [
        "_SUCCESS",
        "bad_rows.tsv",
        "summary.json",
    ]
    saved = summary_of(out)
    assert (saved["rows_in"], saved["rows_out"], saved["bad_rows"]) == (242, 242, 0)
    assert saved["files"] == 3 and saved["rows_per_second"] > 0
    assert summary.rows == 242


def test_parquet_in_and_out_matches_the_same_rows_as_tsv(tmp_path, deploy, classifier):
    rows = toy_rows(90, seed=3)
    tsv = write_toy_tsv(tmp_path / "same.tsv", 90, seed=3)
    parquet = tmp_path / "in" / "reviews.parquet"
    parquet.parent.mkdir()
    table = pa.table({"PhraseId": [r[0] for r in rows], "Phrase": [r[2] for r in rows]})
    pq.write_table(table, parquet, row_group_size=25)
    out = tmp_path / "out"
    options = ClusterOptions(probs=True, actors=1, chunk_rows=40, batch_tokens=256)
    score_to_folder(deploy, [str(tmp_path / "in")], out, options)  # a folder as input
    assert [p.suffix for p in out.glob("part-*")] == [".parquet"]
    expected = {
        (str(parquet), row_id): value
        for (_, row_id), value in local_scores(classifier, [tsv], tmp_path).items()
    }
    got = read_folder(out)
    assert_same_as_local(got, expected)
    assert sorted(r["line"] for r in got) == list(range(1, 91))  # position in the file


def test_a_killed_actor_loses_and_duplicates_nothing(tmp_path, deploy, classifier):
    """One actor process exits hard in the middle of its work (its second batch); Ray
    restarts it and retries the task, and the output is still row-exact."""
    marker = tmp_path / "killed"

    class DiesOnce(ScorerActor):  # defined here: pickled by value to the actor processes
        calls = 0

        def __call__(self, batch):
            self.calls += 1
            if self.calls == 2:
                try:
                    os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    pass
                else:
                    os._exit(1)
            return super().__call__(batch)

    # Bigger than one read block (READ_BLOCK_BYTES), so both actors get work.
    source = write_toy_tsv(tmp_path / "in.tsv", 4000, seed=5)
    out = tmp_path / "out"
    options = ClusterOptions(probs=True, actors=2, chunk_rows=250, batch_tokens=1024)
    summary = score_to_folder(deploy, [str(source)], out, options, actor_class=DiesOnce)
    assert marker.exists(), "no actor died: the test proved nothing"
    assert_same_as_local(read_folder(out), local_scores(classifier, [source], tmp_path))
    assert summary.rows == summary.rows_in == 4000
    assert not list(tmp_path.glob(".out.*")), "temporary folders left behind"


def test_bad_rows_are_listed_with_file_and_line_not_lost(tmp_path, deploy, classifier):
    good = write_toy_tsv(tmp_path / "in" / "a.tsv", 20, seed=6)
    lines = good.read_text().splitlines(keepends=True)
    bad = tmp_path / "in" / "b.tsv"
    bad.write_text("".join(lines[:4]) + "1\ttoo\tmany\tfields\there\n" + "".join(lines[4:]))
    null = tmp_path / "in" / "c.parquet"
    pq.write_table(pa.table({"PhraseId": ["7", "8", "9"], "Phrase": ["good", None, "bad"]}), null)
    out = tmp_path / "out"
    options = ClusterOptions(output_format="tsv", actors=1, chunk_rows=8)
    summary = score_to_folder(deploy, [str(tmp_path / "in")], out, options)
    with open(out / "bad_rows.tsv", encoding="utf-8") as handle:
        listed = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert [(r["source"], r["line"]) for r in listed] == [(str(bad), "5"), (str(null), "2")]
    assert "expected 4 fields, found 5" in listed[0]["message"]
    saved = summary_of(out)
    assert (saved["rows_in"], saved["rows_out"], saved["bad_rows"]) == (44, 42, 2)
    assert len(summary.bad_lines) == 2
    rows = read_folder(out)
    assert len(rows) == 42 and (str(bad), 5) not in {(r["source"], r["line"]) for r in rows}

    strict = ClusterOptions(actors=1, on_bad_line="error")
    with pytest.raises(ReviewscoreError, match=r"b\.tsv, line 5: expected 4 fields, found 5"):
        score_to_folder(deploy, [str(bad)], tmp_path / "strict", strict)
    assert not (tmp_path / "strict").exists()
    assert not list(tmp_path.glob(".strict.*"))


def test_python_api_takes_and_returns_a_dataset(deploy, classifier):
    texts = [r[2] for r in toy_rows(50, seed=8)]
    rows = ray.data.from_items([{"text": t, "n": k} for k, t in enumerate(texts)])
    scored = score_dataset(rows, deploy, actors=1, batch_rows=16).take_all()
    assert sorted(r["n"] for r in scored) == list(range(50))
    expected = classifier.predict(texts)
    for row in scored:
        assert row["text"] == texts[row["n"]]
        assert row["label"] == expected[row["n"]]
        assert row["label_name"] == classifier.labels[row["label"]]


def test_read_reviews_gives_source_line_id_text(tmp_path):
    source = write_toy_tsv(tmp_path / "a.tsv", 5, seed=9)
    rows = sorted(read_review_dataset([str(source)]).take_all(), key=lambda r: r["line"])
    assert [(r["line"], r["id"], r["text"]) for r in rows] == [
        (k + 2, r[0], r[2]) for k, r in enumerate(toy_rows(5, seed=9))
    ]
    assert {r["source"] for r in rows} == {str(source)}


def test_cli_engine_ray_writes_a_folder_and_reports(tmp_path, deploy, classifier):
    source = write_toy_tsv(tmp_path / "a.tsv", 40, seed=11)
    out = tmp_path / "scored"
    args = ["score", str(deploy), str(source), "--engine", "ray", "--actors", "1"]
    result = CliRunner().invoke(cli, [*args, "--format", "tsv", "--probs", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "scored 40 rows in" in result.output and "Ray, 1 actor(s) x 1 thread(s)" in result.output
    assert_same_as_local(read_folder(out), local_scores(classifier, [source], tmp_path))
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["rows_in"], summary["rows_out"], summary["bad_rows"]) == (40, 40, 0)
    assert summary["batch_invariant"] and summary["parity_failures"] == []
    # Scoring again replaces an earlier job's folder.
    again = CliRunner().invoke(cli, [*args, "-o", str(out)])
    assert again.exit_code == 0, again.output
    assert [p.suffix for p in out.glob("part-*")] == [".parquet"]


def test_variant_auto_is_chosen_once_on_the_driver(tmp_path, deploy, classifier):
    class VariantActor(ScorerActor):  # defined here: pickled by value to the actor processes
        """Adds the variant each actor opened, and whether it resolved `auto` itself."""

        def __call__(self, batch):
            out = super().__call__(batch)
            rows = len(out["label"])
            out["variant"] = np.array([self.scorer.variant] * rows, dtype=object)
            out["auto_in_actor"] = np.array([self.scorer.classifier.auto is not None] * rows)
            return out

    source = write_toy_tsv(tmp_path / "a.tsv", 30, seed=12)
    rows = read_review_dataset([str(source)])
    scored = score_dataset(rows, deploy, actors=1, variant="auto", actor_class=VariantActor)
    taken = scored.take_all()
    assert len(taken) == 30
    assert {r["variant"] for r in taken} == {"fp32"} and not any(r["auto_in_actor"] for r in taken)

    out = tmp_path / "scored"
    args = ["score", str(deploy), str(source), "--engine", "ray", "--actors", "1"]
    result = CliRunner().invoke(cli, [*args, "--variant", "auto", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "variant fp32 (picked by --variant auto, " in result.output
    auto = summary_of(out)["auto"]
    assert auto["variant"] == "fp32" and auto["runner_up"] is None
    assert auto["measured_with"]["threads"] == 1  # the actors' thread count


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--engine ray writes a folder"),
        (["-o", "x", "--format", "kaggle"], "parquet or tsv shards, not kaggle"),
        (["-o", "x", "--evaluate"], "--evaluate needs --engine local"),
        (["-o", "x", "-"], "not standard input"),
        (["-o", "x", "--allow-batch-dependent"], "applies to --variant auto only"),
    ],
)
def test_cli_refuses_what_ray_cannot_do(tmp_path, deploy, extra, message):
    source = write_toy_tsv(tmp_path / "a.tsv", 3)
    result = CliRunner().invoke(cli, ["score", str(deploy), str(source), "--engine", "ray", *extra])
    assert result.exit_code == 2 and message in result.output


def test_cli_refuses_ray_options_without_ray(tmp_path, deploy):
    source = write_toy_tsv(tmp_path / "a.tsv", 3)
    for extra in (["--actors", "2"], ["--address", "auto"], ["--format", "parquet"]):
        result = CliRunner().invoke(cli, ["score", str(deploy), str(source), *extra])
        assert result.exit_code == 2 and "needs --engine ray" in result.output


def test_without_ray_the_error_names_the_extra(tmp_path, deploy):
    """The base install has no ray: --engine ray says how to get it, in one line."""
    source = write_toy_tsv(tmp_path / "a.tsv", 3)
    code = (
        "import sys; sys.modules['ray'] = None  # as if not installed\n"
        "from reviewscore.cli import main\n"
        f"sys.argv = ['reviewscore', 'score', {str(deploy)!r}, {str(source)!r},"
        f" '--engine', 'ray', '-o', {str(tmp_path / 'out')!r}]\n"
        "main()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --engine ray needs Ray Data (ray")
    assert last.endswith("is missing): pip install 'reviewscore[cluster]'")


def test_output_folder_must_not_be_foreign_or_hold_inputs(tmp_path, deploy):
    source = write_toy_tsv(tmp_path / "mine" / "a.tsv", 3)
    with pytest.raises(ReviewscoreError, match="holds the input"):
        score_to_folder(deploy, [str(source)], tmp_path / "mine", ClusterOptions(actors=1))
    assert (tmp_path / "mine" / "a.tsv").exists()


def test_more_actors_than_the_cluster_holds_is_a_clear_error(tmp_path, deploy):
    source = write_toy_tsv(tmp_path / "a.tsv", 3)
    with pytest.raises(ReviewscoreError, match=r"3 actor\(s\) x \(1 CPU, 0 GPU\) do not fit"):
        score_to_folder(deploy, [str(source)], tmp_path / "out", ClusterOptions(actors=3))
    assert not (tmp_path / "out").exists()
