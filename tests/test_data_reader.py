"""The shared reader: what it accepts, and that every bad input names file, line and column."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from reviewscore.data import BadLine, Columns, LabelMode, iter_review_chunks, read_reviews
from reviewscore.errors import DataError

HEADER = "PhraseId\tSentenceId\tPhrase\tSentiment\n"


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


def test_reads_tsv_keeps_quotes_and_whitespace_only_phrase(tmp_path):
    path = write(
        tmp_path / "a.tsv", HEADER + '1\t1\tA "quoted" film\t3\n2\t1\t \t2\n3\t2\tbad\t0\n'
    )
    rows = read_reviews(str(path), label_mode=LabelMode.REQUIRED)
    assert rows.texts == ['A "quoted" film', " ", "bad"]
    assert rows.ids == ["1", "2", "3"]
    assert rows.groups == ["1", "1", "2"]
    assert rows.lines == [2, 3, 4]
    np.testing.assert_array_equal(rows.labels, [3, 2, 0])


def test_gzip_detected_by_content_and_csv_with_quoting(tmp_path):
    gz = tmp_path / "a.tsv.gz"
    gz.write_bytes(gzip.compress((HEADER + "1\t1\tfine\t2\n").encode()))
    assert read_reviews(str(gz)).texts == ["fine"]
    csv_path = write(tmp_path / "b.csv", 'PhraseId,Phrase\n7,"good, really"\n8,plain\n')
    rows = read_reviews(str(csv_path))
    assert rows.texts == ["good, really", "plain"]
    assert rows.labels is None and rows.groups is None


def test_custom_columns_and_missing_id_falls_back_to_row_number(tmp_path):
    path = write(tmp_path / "c.tsv", "review\tstars\nnice\t4\nmeh\t2\n")
    rows = read_reviews(
        str(path), Columns(text="review", label="stars"), label_mode=LabelMode.REQUIRED
    )
    assert rows.ids == ["1", "2"] and not rows.has_id_column
    np.testing.assert_array_equal(rows.labels, [4, 2])


def test_chunks_stream_in_order(tmp_path):
    body = "".join(f"{i}\t{i}\tphrase {i}\t{i % 5}\n" for i in range(1, 26))
    path = write(tmp_path / "d.tsv", HEADER + body)
    chunks = list(iter_review_chunks(str(path), chunk_rows=10))
    assert [len(c) for c in chunks] == [10, 10, 5]
    assert [i for c in chunks for i in c.ids] == [str(i) for i in range(1, 26)]


@pytest.mark.parametrize(
    ("content", "line", "column", "fragment"),
    [
        ("", None, None, "empty"),
        ("PhraseId\tText\n1\tx\n", 1, None, "columns found: 'PhraseId', 'Text'"),
        (HEADER + "1\t1\tok\t2\n2\t1\tbad\t7\n", 3, "'Sentiment' (4)", "outside 0..4"),
        (HEADER + "1\t1\tok\ttwo\n", 2, "'Sentiment' (4)", "not an integer"),
        (HEADER + "1\t1\tok\t2\n2\t1\textra\tfield\t2\n", 3, None, "expected 4 fields, found 5"),
    ],
)
def test_bad_input_errors_name_file_line_and_column(tmp_path, content, line, column, fragment):
    path = write(tmp_path / "bad.tsv", content)
    with pytest.raises(DataError) as info:
        read_reviews(str(path), label_mode=LabelMode.REQUIRED)
    error = info.value
    assert error.source == str(path)
    assert error.line == line
    assert error.column == column
    assert fragment in str(error)
    assert str(path) in str(error)


def test_undecodable_bytes_name_the_line(tmp_path):
    path = write(tmp_path / "latin1.tsv", HEADER.encode() + b"1\t1\tok\t2\n2\t1\tna\xefve\t2\n")
    with pytest.raises(DataError, match=r"line 3: bytes are not valid UTF-8 \(byte 0xef"):
        read_reviews(str(path))


def test_header_only_file_is_an_error_for_read_reviews(tmp_path):
    path = write(tmp_path / "h.tsv", HEADER)
    with pytest.raises(DataError, match="header but no rows"):
        read_reviews(str(path))


def test_skip_mode_collects_bad_lines_instead_of_failing(tmp_path):
    path = write(
        tmp_path / "s.tsv",
        HEADER + "1\t1\tok\t2\n2\t1\ttoo\tmany\t2\n3\t1\tfine\t9\n4\t2\tgood\t4\n",
    )
    bad: list[BadLine] = []
    chunks = list(iter_review_chunks(str(path), on_bad_line="skip", bad_lines=bad))
    assert [i for c in chunks for i in c.ids] == ["1", "4"]
    assert [(b.line, b.source) for b in bad] == [(3, str(path)), (4, str(path))]
    assert "outside 0..4" in bad[1].message


def test_ignored_labels_are_not_validated(tmp_path):
    path = write(tmp_path / "i.tsv", HEADER + "1\t1\tok\tnot-a-label\n")
    rows = read_reviews(str(path), label_mode=LabelMode.IGNORED)
    assert rows.labels is None and rows.texts == ["ok"]


def test_csv_writer_round_trips_awkward_text(tmp_path):
    from reviewscore.data import write_reviews_csv

    path = write(tmp_path / "w.tsv", HEADER + '1\t1\ttab-free "quoted", text\t3\n2\t1\t \t2\n')
    rows = read_reviews(str(path))
    rows.texts[0] = 'has\ttab and\nnewline "q"'
    write_reviews_csv(tmp_path / "out.csv", rows)
    back = read_reviews(str(tmp_path / "out.csv"))
    assert back.texts == rows.texts and back.ids == rows.ids and back.groups == rows.groups
    np.testing.assert_array_equal(back.labels, rows.labels)
