"""Loading a base model for a new run: the fresh head is expected and not reported; body
weights missing from a checkpoint are."""

from __future__ import annotations

import warnings

import pytest
from safetensors.torch import load_file, save_file

from reviewscore.train.model_load import load_model
from tiny_models import make_model


def save_base(tmp_path, arch: str, drop: str | None = None):
    """The encoder of a tiny `arch` classifier saved without its head (as a hub base model
    is), optionally without one more weight whose name contains `drop`."""
    model, tokenizer = make_model(arch)
    model.base_model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    if drop is not None:
        weights = load_file(tmp_path / "model.safetensors")
        name = next(k for k in weights if drop in k)
        del weights[name]
        save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    return tmp_path


@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert", "xlnet"])
def test_new_head_loads_silently(tmp_path, capsys, arch):
    path = save_base(tmp_path, arch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model, _ = load_model(str(path))
    assert model.config.num_labels == 5
    assert "MISSING" not in capsys.readouterr().out


def test_missing_body_weight_is_reported(tmp_path):
    path = save_base(tmp_path, "bert", drop="layer.1.output.dense.weight")
    with pytest.warns(UserWarning, match=r"1 weight\(s\) outside the classification head"):
        load_model(str(path))
