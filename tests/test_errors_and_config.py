"""Small contracts of errors and saved configs: a DataError keeps its fields through
pickling (Ray pickles errors raised in its tasks), and a saved training config with settings
this version does not know is read with a warning naming them."""

from __future__ import annotations

import pickle

from reviewscore.errors import DataError
from reviewscore.train.config import TrainConfig


def test_data_error_keeps_its_fields_through_pickle():
    error = DataError("reviews.tsv", "no text", line=7, column="Phrase")
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is DataError
    assert (back.source, back.detail, back.line, back.column) == (
        "reviews.tsv",
        "no text",
        7,
        "Phrase",
    )
    assert str(back) == str(error) == "reviews.tsv, line 7, column Phrase: no text"
    bare = pickle.loads(pickle.dumps(DataError("x.csv", "empty")))
    assert (bare.line, bare.column, str(bare)) == (None, None, "x.csv: empty")


def test_unknown_saved_settings_are_named_on_stderr_and_ignored(capsys):
    saved = {**TrainConfig(data="d.tsv").to_dict(), "zeta": 1, "alpha": True}
    config = TrainConfig.from_dict(saved)
    assert config == TrainConfig(data="d.tsv")
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and "ignored: alpha, zeta" in err


def test_known_settings_read_back_silently(capsys):
    config = TrainConfig(data="d.tsv", momentum=(0.9, 0.8))
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert capsys.readouterr().err == ""
