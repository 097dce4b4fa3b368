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


class _Unreachable(Exception):
    """Stands in for the HTTP library's connection error (its types vary by version)."""


@pytest.mark.parametrize(
    ("raised", "ending"),
    [
        (
            _Unreachable("[Errno -3] Temporary failure in name resolution\nmore detail"),
            "and the hub cannot be reached ([Errno -3] Temporary failure in name resolution); "
            "check the name and the network, or set HF_HUB_OFFLINE=1",
        ),
        (None, None),
    ],
)
def test_a_name_the_hub_must_resolve_is_asked_once_without_retries(monkeypatch, raised, ending):
    """With the hub on, an unknown name is asked of the hub once (no retries, a short
    timeout) before any work; no request leaves the test: model_info is replaced."""
    import huggingface_hub

    from reviewscore.errors import ReviewscoreError
    from reviewscore.train import model_load

    calls = []

    def model_info(self, repo_id, *, timeout=None, **_):
        calls.append((repo_id, timeout))
        if raised is not None:
            raise raised

    monkeypatch.setattr(model_load, "hub_offline", lambda: False)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    if raised is None:
        assert model_load.resolve_model("someone/some-model") == "someone/some-model"
    else:
        with pytest.raises(ReviewscoreError) as refused:
            model_load.resolve_model("someone/some-model")
        message = str(refused.value)
        assert message.startswith("model 'someone/some-model': no such local folder, not a ")
        assert message.endswith(ending) and "\n" not in message
    assert calls == [("someone/some-model", model_load.HUB_PROBE_S)]


def test_an_invalid_hub_id_is_refused_without_asking(monkeypatch):
    from reviewscore.errors import ReviewscoreError
    from reviewscore.train import model_load

    monkeypatch.setattr(model_load, "hub_offline", lambda: False)
    with pytest.raises(ReviewscoreError, match="nor a valid hub model id"):
        model_load.resolve_model("no such model / with spaces")
