"""`reviewscore score` on awkward rows and ids: reviews longer than the csv module's field
limit, ids that must come back exactly from a TSV output, options that cannot apply."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cli_runner import reviewscore
from reviewscore.data import Columns, read_reviews
from tiny_models import make_run

LONG_CHARS = 3_000_000  # far past the csv module's default 131,072-character field limit


@pytest.fixture(scope="module")
def deploy(tmp_path_factory) -> Path:
    from reviewscore.export.deploy import export_run

    root = tmp_path_factory.mktemp("rows-and-ids")
    make_run(root / "run", "bert")
    export_run(root / "run", root / "deploy")
    return root / "deploy"


def long_review() -> str:
    words = "the film was good , but the plot was dull . "
    return (words * (LONG_CHARS // len(words) + 1))[:LONG_CHARS]


@pytest.mark.parametrize("suffix", ["tsv", "csv"])
def test_a_multi_megabyte_review_is_scored_like_any_other_row(
    tmp_path, deploy, suffix, monkeypatch, capsys
):
    rows = [("1", "good fun"), ("2", long_review()), ("3", "awful mess")]
    source = tmp_path / f"long.{suffix}"
    with open(source, "w", encoding="utf-8", newline="") as handle:
        if suffix == "tsv":
            handle.writelines(f"{i}\t{text}\n" for i, text in [("PhraseId", "Phrase"), *rows])
        else:  # the long text holds commas: quoted, as CSV writers do
            csv.writer(handle, lineterminator="\n").writerows([("PhraseId", "Phrase"), *rows])
    assert source.stat().st_size > LONG_CHARS
    out = tmp_path / "scored.csv"
    code, _, err = reviewscore(monkeypatch, capsys, "score", deploy, source, "-o", out)
    assert code == 0, err
    assert [line.split(",")[0] for line in out.read_text().splitlines()] == [
        "PhraseId",
        "1",
        "2",
        "3",
    ]


AWKWARD_IDS = ['x"y', "a\\b", "p,q", "'quoted'"]


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([("PhraseId", "Phrase"), *rows])
    return path


@pytest.mark.parametrize("fmt", ["tsv", "csv"])
def test_ids_come_back_exactly_from_the_output(tmp_path, deploy, fmt, monkeypatch, capsys):
    source = write_csv(tmp_path / "ids.csv", [(i, "good fun") for i in AWKWARD_IDS])
    out = tmp_path / f"scored.{fmt}"
    code, _, err = reviewscore(
        monkeypatch, capsys, "score", deploy, source, "-o", out, "--format", fmt
    )
    assert code == 0, err
    read_back = read_reviews(str(out), Columns(text="label_name"))
    assert read_back.ids == AWKWARD_IDS


@pytest.mark.parametrize("row_id", ["a\tb", "a\nb", "a\rb"])
def test_tsv_refuses_an_id_it_cannot_hold(tmp_path, deploy, row_id, monkeypatch, capsys):
    source = tmp_path / "tab.csv"  # quoted by hand: csv.writer leaves a bare \r unquoted
    source.write_bytes(f'PhraseId,Phrase\n1,good\n"{row_id}",fun\n'.encode())
    out = tmp_path / "scored.tsv"
    code, _, err = reviewscore(
        monkeypatch, capsys, "score", deploy, source, "-o", out, "--format", "tsv"
    )
    assert code == 1
    assert err.splitlines()[-1] == (
        f"error: {row_id!r} holds a tab or a line break, which TSV output cannot hold "
        "(no quoting); choose another --format"
    )
    assert not out.exists()


def test_ray_tsv_shards_keep_ids_exactly(tmp_path):
    pytest.importorskip("ray")
    import pyarrow as pa

    from reviewscore.cluster.writing import write_shard

    batch = pa.table(
        {
            "id": AWKWARD_IDS,
            "source": ["in.csv"] * len(AWKWARD_IDS),
            "line": list(range(2, 2 + len(AWKWARD_IDS))),
            "label": [1] * len(AWKWARD_IDS),
            "label_name": ["negative"] * len(AWKWARD_IDS),
        }
    )
    written = write_shard(batch, attempts_dir=str(tmp_path), fmt="tsv")
    shard = tmp_path / written["file"][0].as_py()
    assert read_reviews(str(shard), Columns(text="label_name", id="id")).ids == AWKWARD_IDS


def test_probs_with_kaggle_format_is_refused(tmp_path, deploy, monkeypatch, capsys):
    source = write_csv(tmp_path / "in.csv", [("1", "good")])
    out = tmp_path / "submission.csv"
    args = ("score", deploy, source, "-o", out, "--format", "kaggle", "--probs")
    code, _, err = reviewscore(monkeypatch, capsys, *args)
    assert code == 2
    assert "--probs does not apply to --format kaggle" in err
    assert not out.exists()
