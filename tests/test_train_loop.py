"""The training loop on a tiny model: it learns the separable toy task, is reproducible,
saves a run that reloads and predicts the same, trains only the unfrozen groups, and
resumes from its last completed stage to the very weights of an uninterrupted run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import reviewscore.train.loop as loop
from reviewscore.data import Columns, read_reviews
from reviewscore.errors import FolderError
from reviewscore.run_folder import STAGE_MARK, RunFolder
from reviewscore.run_model import load_run_model
from reviewscore.train.batching import encode
from reviewscore.train.checkpoint import recover
from reviewscore.train.config import TrainConfig
from reviewscore.train.predict import predict_logits
from tiny_models import make_model, write_toy_tsv


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    model, tokenizer = make_model("bert")
    model.save_pretrained(root / "tiny")
    tokenizer.save_pretrained(root / "tiny")
    data = write_toy_tsv(root / "toy.tsv", 900, seed=1)
    return root, str(root / "tiny"), str(data)


def config_for(setup, **overrides) -> TrainConfig:
    _, model, data = setup
    values = dict(
        data=data,
        model=model,
        recipe="plain",
        unfreeze=["all"],
        lr_decay=1.0,
        schedule="linear",
        lr=5e-3,
        epochs=1.0,
        max_length=48,
        columns=Columns().to_dict(),
    )
    values.update(overrides)
    return TrainConfig(**values)


def weights(path) -> dict[str, torch.Tensor]:
    return load_run_model(path).model.state_dict()


def quiet(_: str) -> None:
    pass


def test_tiny_model_learns_the_toy_task(setup):
    root = setup[0]
    run = loop.train(config_for(setup, epochs=6.0), root / "learn", echo=quiet)
    history = json.loads(run.history_path.read_text())
    epochs = history["epochs"]
    assert len(epochs) == 6
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"] - 0.4
    assert epochs[-1]["valid_loss"] < epochs[0]["valid_loss"] - 0.4
    assert epochs[-1]["accuracy"] > 0.55  # five balanced classes: chance is 0.2
    metrics = json.loads(run.metrics_path.read_text())
    assert metrics["accuracy"] == epochs[-1]["accuracy"]
    assert sum(map(sum, metrics["confusion"])) == metrics["rows"]
    assert {p.name for p in run.plots_dir.iterdir()} == {"loss.png", "lr.png", "confusion.png"}

    # The saved run reloads and predicts what validation measured.
    loaded = load_run_model(run.path)
    info = loaded.info
    assert info.stages_completed == info.stages_total == 1
    assert info.model_type == "bert" and info.max_length == 48
    assert info.config["lr"] == 5e-3 and info.columns == Columns().to_dict()
    assert loaded.model.config.id2label[4] == "positive"
    valid = read_reviews(str(run.valid_path))
    encoded = encode(valid.texts, valid.labels, loaded.tokenizer, info.max_length)
    accuracy = (predict_logits(loaded.model, encoded).argmax(1) == valid.labels).mean()
    assert accuracy == pytest.approx(metrics["accuracy"])


def test_same_seed_same_weights_and_frozen_groups_stay_put(setup):
    root = setup[0]
    config = config_for(
        setup, recipe="ulmfit", unfreeze=["1", "2"], lr_decay=2.6, schedule="one-cycle"
    )
    a = loop.train(config, root / "seed_a", echo=quiet)
    b = loop.train(config, root / "seed_b", echo=quiet)
    wa, wb = weights(a.path), weights(b.path)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)

    start, _ = make_model("bert")  # what the run started from (head aside)
    base = start.state_dict()
    moved = {k for k in wa if k in base and not torch.equal(wa[k], base[k])}
    trained = ("bert.encoder.layer.2.", "bert.pooler.", "classifier.")  # stage 2: top 2 groups
    assert moved and all(k.startswith(trained) for k in moved)


@pytest.mark.slow
def test_resume_continues_from_the_last_completed_stage(setup, monkeypatch):
    root = setup[0]
    config = config_for(
        setup, recipe="ulmfit", unfreeze=["1", "2", "all"], lr_decay=2.6, schedule="one-cycle",
        epochs=0.5,
    )  # fmt: skip
    full = loop.train(config, root / "full", echo=quiet)

    real_save = loop.save_stage

    def killed_after_first_stage(run, model, tokenizer, info, history):
        real_save(run, model, tokenizer, info, history)
        if info.stages_completed == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_stage", killed_after_first_stage)
    with pytest.raises(KeyboardInterrupt):
        loop.train(config, root / "killed", echo=quiet)
    monkeypatch.undo()
    killed = RunFolder(root / "killed")
    assert killed.read_info().stages_completed == 1

    with pytest.raises(FolderError, match="--resume"):
        loop.train(config, root / "killed", echo=quiet)
    stages_run = []
    loop.train(None, root / "killed", resume=True, echo=stages_run.append)
    assert sum("stage 1/3" in line for line in stages_run) == 0  # stage 1 was not redone
    assert sum("stage 3/3" in line for line in stages_run) == 1
    assert killed.read_info().stages_completed == 3
    wf, wk = weights(full.path), weights(killed.path)
    assert all(torch.equal(wf[k], wk[k]) for k in wf)
    resumed = json.loads(killed.history_path.read_text())
    straight = json.loads(full.history_path.read_text())
    assert [e["stage"] for e in resumed["epochs"]] == [0, 1, 2]
    assert resumed["steps"] == straight["steps"]  # same batches, losses and rates
    for a, b in zip(resumed["epochs"], straight["epochs"], strict=True):
        assert a["accuracy"] == b["accuracy"] and a["valid_loss"] == pytest.approx(b["valid_loss"])


def test_recover_finishes_a_committed_save_and_drops_an_uncommitted_one(setup):
    root = setup[0]
    run = loop.train(config_for(setup, epochs=0.2), root / "recover", echo=quiet)
    staging = run.path / "model.next"

    shutil.copytree(run.model_dir, staging)  # committed in run.json, not yet renamed
    shutil.rmtree(run.model_dir)
    recover(run)
    assert run.model_dir.is_dir() and not staging.exists()

    shutil.copytree(run.model_dir, staging)  # a save that never reached run.json
    (staging / STAGE_MARK).write_text('{"stages_completed": 2}')
    recover(run)
    assert not staging.exists() and json.loads((run.model_dir / STAGE_MARK).read_text()) == {
        "stages_completed": 1
    }


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["roberta", "distilbert", "xlnet", "xlm", "mpnet", "electra"])
def test_every_architecture_trains_and_reloads(tmp_path, arch):
    model, tokenizer = make_model(arch)
    model.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    data = write_toy_tsv(tmp_path / "toy.tsv", 120, seed=4)
    config = config_for(
        (tmp_path, str(tmp_path / "tiny"), str(data)), recipe="ulmfit", unfreeze=["1", "all"],
        lr_decay=2.6, schedule="one-cycle", epochs=0.5,
    )  # fmt: skip
    run = loop.train(config, tmp_path / "run", echo=quiet)
    info = run.read_info()
    assert info.model_type == arch and info.stages_completed == 2
    history = json.loads(run.history_path.read_text())
    assert all(np.isfinite(s["loss"]) for s in history["steps"])
    trained = load_run_model(run.path).model.state_dict()
    assert any(not torch.equal(trained[k], v) for k, v in model.state_dict().items())
