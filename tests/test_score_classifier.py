"""The scorer's classifier against PyTorch, batching, providers (CPU-run logic of GPU paths)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from reviewscore.score import session as session_module
from reviewscore.score.classifier import DeployedClassifier
from reviewscore.score.session import CPU, CUDA, ProviderError, Session, resolve_providers
from tiny_models import ARCHITECTURES, toy_rows


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_logits_match_pytorch_row_by_row(exported, arch):
    """Sorting, token-budget batches and padding (left for XLNet) change nothing."""
    import torch

    from reviewscore.run_model import load_run_model

    folders = exported(arch)
    classifier = DeployedClassifier.open(folders.deploy, threads=1)
    texts = [r[2] for r in toy_rows(40, seed=3)] + [" ", "a"]
    got = classifier.logits(texts, batch_tokens=50)
    loaded = load_run_model(folders.run)
    with torch.no_grad():
        expected = np.concatenate(
            [
                loaded.model(**loaded.tokenizer([t], return_tensors="pt")).logits.numpy()
                for t in texts
            ]
        )
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_provider_resolution_never_falls_back_silently():
    assert resolve_providers("cpu", [CUDA, CPU]) == [CPU]
    assert resolve_providers("auto", [CUDA, CPU]) == [CUDA, CPU]
    assert resolve_providers("auto", [CPU]) == [CPU]
    assert resolve_providers("cuda", [CUDA, CPU]) == [CUDA, CPU]
    with pytest.raises(ProviderError, match="offers only CPUExecutionProvider"):
        resolve_providers("cuda", [CPU])


def test_both_onnxruntime_distributions_are_refused(monkeypatch):
    monkeypatch.setattr(session_module, "version", lambda name: "1.0")
    with pytest.raises(ProviderError, match="both onnxruntime and onnxruntime-gpu"):
        session_module.check_single_onnxruntime()


def test_io_binding_path_gives_the_same_logits(exported):
    """The CUDA path binds inputs/outputs; the same binding calls run on CPU here."""
    classifier = DeployedClassifier.open(exported("bert").deploy, threads=1)
    texts = [r[2] for r in toy_rows(30)]
    plain = classifier.logits(texts)
    classifier.session = Session(inner=classifier.session.inner, provider=CUDA)
    assert classifier.session.on_cuda
    np.testing.assert_allclose(classifier.logits(texts), plain, atol=1e-6)


def test_unknown_variant_and_too_long_max_length(exported):
    from reviewscore.errors import FolderError

    deploy = exported("bert").deploy
    with pytest.raises(FolderError, match="no variant 'int4'; this folder has: fp32"):
        DeployedClassifier.open(deploy, "int4")
    with pytest.raises(FolderError, match="exceeds the model's max length 24"):
        DeployedClassifier.open(deploy, max_length=64)


@pytest.mark.parametrize(
    ("texts", "index", "problem"),
    [
        (["good", "bad \ud800 film"], 1, "cannot be encoded as UTF-8: character 5 is '\\ud800'"),
        (["\udfff"], 0, "a lone surrogate"),
        (["good", None], 1, "is not a string but NoneType"),
    ],
)
def test_a_text_the_tokenizer_cannot_take_is_a_value_error_naming_its_index(
    exported, texts, index, problem
):
    """Every entry point (score, serve, Ray, Python) encodes here: the tokenizer's own
    TypeError named neither the text nor the problem, and became a 500 in the server."""
    from reviewscore.errors import ReviewscoreError, TextError

    classifier = DeployedClassifier.open(exported("bert").deploy, threads=1)
    with pytest.raises(TextError) as refused:
        classifier.predict(texts)
    assert isinstance(refused.value, ValueError) and isinstance(refused.value, ReviewscoreError)
    assert refused.value.index == index
    assert str(refused.value).startswith(f"texts[{index}] ")
    assert problem in str(refused.value)
    # Ray pickles the errors its actors raise: the index survives
    assert pickle.loads(pickle.dumps(refused.value)).index == index
    # text outside the Basic Multilingual Plane (a real pair, not a lone half) still scores
    assert classifier.predict(["good", "\U0001f600 fine"]).shape == (2,)


def test_an_empty_variant_name_is_an_error_not_the_default(exported):
    """`--variant ""` (an unset shell variable) must not quietly mean the default variant."""
    from reviewscore.errors import FolderError

    with pytest.raises(FolderError, match=r"no variant ''; this folder has: fp32"):
        DeployedClassifier.open(exported("bert").deploy, "", threads=1)
