"""`reviewscore distill` on a tiny teacher (the keyword-trained 3-layer bert): the student
keeps the chosen layers' exact weights, the loss is the stated mix, an epoch brings the
student closer to the teacher, the student's run folder exports and scores like any other,
and bad teachers and options get one-line errors."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from cli_runner import reviewscore
from reviewscore.data import Columns, read_reviews
from reviewscore.distill.loss import distillation_loss, soft_kl
from reviewscore.distill.student import kept_layers, truncated_copy
from reviewscore.errors import ReviewscoreError
from reviewscore.run_folder import RunFolder
from reviewscore.run_model import load_run_model
from reviewscore.train.batching import encode
from reviewscore.train.layer_groups import layer_lists
from reviewscore.train.predict import predict_logits
from tiny_models import keyword_rows, make_model, make_run, write_toy_tsv


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """(root, teacher run, data file): the trained tiny bert as a finished run, and 600
    keyword rows to distill on."""
    root = tmp_path_factory.mktemp("distill")
    make_run(root / "teacher", trained=True)
    data = write_toy_tsv(root / "data.tsv", 600, seed=7, rows=keyword_rows)
    return root, root / "teacher", data


def distill_args(teacher, out, *extra):
    root, run, data = teacher
    return (
        "distill", run, "--data", data, "--out", out, "--lr", "3e-3", "--seed", "1",
        "--cache", root / "cache", *extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def student(teacher):
    """A 2-layer student, distilled once for the tests that read it."""
    from reviewscore.distill.command import distill
    from reviewscore.distill.options import DistillOptions
    from reviewscore.train.config import build_config

    root, run, data = teacher
    config = build_config(
        "plain", {"data": str(data), "lr": 3e-3, "seed": 1, "columns": Columns().to_dict()}
    )
    options = DistillOptions(teacher=run, layers=2, cache=root / "cache")
    distill(config, options, root / "student", echo=lambda _: None, notice=lambda _: None)
    return root / "student"


def encoder_layers(model) -> list:
    [(_, layers)] = layer_lists(model.base_model, model.config.num_hidden_layers)
    return list(layers)


@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert", "mpnet", "electra"])
@pytest.mark.parametrize("keep", ["bottom", "spread"])
def test_student_keeps_exactly_the_chosen_layers(arch, keep):
    teacher, _ = make_model(arch)
    indices = kept_layers(3, 2, keep)
    assert indices == ([0, 1] if keep == "bottom" else [0, 2])
    student = truncated_copy(teacher, indices)
    assert student.config.num_hidden_layers == 2 and len(encoder_layers(student)) == 2
    assert teacher.config.num_hidden_layers == 3 and len(encoder_layers(teacher)) == 3
    for kept, source in zip(encoder_layers(student), indices, strict=True):
        theirs = encoder_layers(teacher)[source].state_dict()
        for name, value in kept.state_dict().items():
            assert torch.equal(value, theirs[name]), name
    # everything outside the layers (embeddings, head) is the teacher's too, and a copy
    outside = {k: v for k, v in student.state_dict().items() if ".layer." not in k}
    for name, value in outside.items():
        assert torch.equal(value, teacher.state_dict()[name]), name
    next(student.parameters()).data.add_(1.0)
    assert not torch.equal(next(student.parameters()), next(teacher.parameters()))


def test_spread_takes_every_depth_over_n_th_layer():
    assert kept_layers(6, 3, "spread") == [0, 2, 4]
    assert kept_layers(6, 2, "spread") == [0, 3]
    assert kept_layers(6, 4, "bottom") == [0, 1, 2, 3]
    assert kept_layers(12, 6, "spread") == [0, 2, 4, 6, 8, 10]


@pytest.mark.parametrize("n", [0, 3, 4, -1])
def test_layers_outside_one_to_depth_minus_one_are_refused(n):
    with pytest.raises(ReviewscoreError, match=r"--layers must be between 1 and 2"):
        kept_layers(3, n, "bottom")


def test_loss_is_the_stated_mix_by_hand():
    student = torch.tensor([[1.0, 0.0, -1.0, 0.5, 2.0], [0.0, 0.3, 0.2, -0.4, 0.1]])
    teacher = torch.tensor([[2.0, 1.0, -2.0, 0.0, 1.0], [-1.0, 2.5, 0.0, 0.0, 0.5]])
    labels = torch.tensor([4, 1])
    t, alpha = 3.0, 0.7

    def softmax(row):
        e = [math.exp(x) for x in row]
        return [x / sum(e) for x in e]

    kl = ce = 0.0
    for s_row, t_row, y in zip(student.tolist(), teacher.tolist(), labels.tolist(), strict=True):
        p = softmax([x / t for x in t_row])
        q = softmax([x / t for x in s_row])
        kl += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
        ce += -math.log(softmax(s_row)[y])
    expected = alpha * t * t * kl / 2 + (1 - alpha) * ce / 2
    got = distillation_loss(student, teacher, labels, t, alpha).item()
    assert got == pytest.approx(expected, rel=1e-5)
    assert soft_kl(teacher, teacher, t).item() == pytest.approx(0.0, abs=1e-6)
    assert distillation_loss(student, teacher, labels, t, 0.0).item() == pytest.approx(
        ce / 2, rel=1e-5
    )


def kl_to_teacher(model, teacher_model, tokenizer, texts) -> float:
    encoded = encode(texts, None, tokenizer, 48)
    s = torch.from_numpy(predict_logits(model, encoded))
    t = torch.from_numpy(predict_logits(teacher_model, encoded))
    return soft_kl(s, t, 1.0).item()


def test_one_epoch_lowers_the_kl_to_the_teacher(teacher, student):
    _, run, data = teacher
    loaded = load_run_model(run)
    texts = read_reviews(str(data), Columns()).texts
    start = truncated_copy(loaded.model, [0, 1])
    before = kl_to_teacher(start, loaded.model, loaded.tokenizer, texts)
    after = kl_to_teacher(load_run_model(student).model, loaded.model, loaded.tokenizer, texts)
    assert after < 0.5 * before, (before, after)


def test_student_run_folder_records_the_teacher_and_reloads(teacher, student):
    _, run, _ = teacher
    info = RunFolder(student).read_info()
    d = info.distillation
    assert d["teacher"] == str(run.resolve()) and len(d["teacher_sha256"]) == 64
    assert d["layers_kept"] == [0, 1] and d["teacher_layers"] == 3
    assert (d["temperature"], d["alpha"], d["student"]) == (2.0, 0.5, None)
    assert info.stages_completed == info.stages_total == 1
    model = load_run_model(student).model
    assert model.config.num_hidden_layers == 2 and len(encoder_layers(model)) == 2


def test_student_exports_and_scores(teacher, student, monkeypatch, capsys):
    root, _, data = teacher
    deploy = root / "student-deploy"
    code, _, err = reviewscore(monkeypatch, capsys, "export", student, "--out", deploy)
    assert code == 0, err
    scored = root / "scored.csv"
    code, _, err = reviewscore(monkeypatch, capsys, "score", deploy, data, "-o", scored)
    assert code == 0, err
    assert len(scored.read_text().splitlines()) == 601
    manifest = json.loads((deploy / "manifest.json").read_text())
    assert manifest["parity"]["fp32"]["agreement"] == 1.0 and manifest["parity"]["fp32"]["passed"]


def test_cached_teacher_logits_are_reused(teacher, monkeypatch, capsys):
    root, _, _ = teacher
    out = root / "again"
    args = distill_args(teacher, out, "--layers", "1")
    code, stdout, err = reviewscore(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "teacher logits for" in stdout and "from the cache" in stdout
    # the teacher's valid.csv holds sentences 0-19 of its own rows: those ids are left out
    assert re.search(r"left out [1-9]\d* training row\(s\) whose sentences the teacher", err)
    assert len(list((root / "cache").glob("teacher-logits-*.npy"))) == 1


def test_another_pretrained_student(teacher, monkeypatch, capsys):
    root, _, _ = teacher
    other, tokenizer = make_model("roberta", seed=3)
    other.save_pretrained(root / "other")
    tokenizer.save_pretrained(root / "other")
    out = root / "roberta-student"
    args = distill_args(teacher, out, "--student", root / "other")
    code, _, err = reviewscore(monkeypatch, capsys, *args)
    assert code == 0, err
    info = RunFolder(out).read_info()
    assert info.model_type == "roberta" and info.distillation["student"] == str(root / "other")
    assert info.distillation["layers_kept"] is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--layers", "3"], "--layers must be between 1 and 2 (the teacher has 3 layers), not 3"),
        (["--layers", "0"], "--layers must be between 1 and 2"),
        ([], "give exactly one of --layers N and --student MODEL"),
        (["--layers", "1", "--alpha", "1.5"], "--alpha must be between 0 and 1"),
        (["--layers", "1", "--temperature", "0"], "--temperature must be positive"),
    ],
)
def test_bad_options_are_one_line_errors(teacher, tmp_path, monkeypatch, capsys, extra, message):
    code, _, err = reviewscore(monkeypatch, capsys, *distill_args(teacher, tmp_path / "s", *extra))
    assert code != 0 and message in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()


def test_bad_teachers_are_refused(teacher, tmp_path, monkeypatch, capsys):
    _, _, data = teacher
    unfinished = make_run(tmp_path / "unfinished")
    info = json.loads(unfinished.info_path.read_text())
    unfinished.info_path.write_text(json.dumps({**info, "stages_total": 4}))
    other_labels = make_run(tmp_path / "labels")
    info = json.loads(other_labels.info_path.read_text())
    other_labels.info_path.write_text(json.dumps({**info, "labels": ["bad", "good"]}))
    cases = [
        (tmp_path, "is not a run folder"),
        (unfinished.path, "is not a finished run (1/4 stages complete)"),
        (other_labels.path, "predicts labels ['bad', 'good']"),
    ]
    for path, message in cases:
        args = ("distill", path, "--data", data, "--out", tmp_path / "s", "--layers", "1")
        code, _, err = reviewscore(monkeypatch, capsys, *args)
        assert code != 0 and message in err, err


def test_teacher_whose_tokenizer_is_not_its_models_is_refused(
    tmp_path, teacher, monkeypatch, capsys
):
    _, _, data = teacher
    run = make_run(tmp_path / "teacher")
    model, _ = make_model("bert")
    small = model.config
    small.vocab_size = 10
    from transformers import AutoModelForSequenceClassification

    AutoModelForSequenceClassification.from_config(small).save_pretrained(run.model_dir)
    args = ("distill", run.path, "--data", data, "--out", tmp_path / "s", "--layers", "1")
    code, _, err = reviewscore(monkeypatch, capsys, *args)
    assert code != 0 and "the tokenizer does not belong to this model" in err, err


def test_train_resume_refuses_a_distilled_run(student, monkeypatch, capsys):
    code, _, err = reviewscore(monkeypatch, capsys, "train", "--resume", "--out", student)
    assert code != 0 and "a distilled run cannot be resumed by train" in err


def test_teacher_logits_match_the_teachers_own_predictions(teacher):
    from reviewscore.distill.soft_targets import teacher_logits
    from reviewscore.distill.teacher import open_teacher
    from reviewscore.train.precision import pick_precision

    _, run, data = teacher
    t = open_teacher(run)
    texts = read_reviews(str(data), Columns()).texts[:50]
    got = teacher_logits(t, texts, pick_precision("cpu"), echo=lambda _: None)
    encoded = encode(texts, None, t.tokenizer, t.info.max_length)
    np.testing.assert_allclose(got, predict_logits(t.model, encoded), atol=1e-6)


def test_out_inside_the_teacher_run_folder_is_refused(teacher, tmp_path, monkeypatch, capsys):
    """Not only TEACHER/model: the whole run folder is an input (its valid.csv, run.json)."""
    _, run, _ = teacher
    other, tokenizer = make_model("bert", seed=5)
    other.save_pretrained(tmp_path / "other")
    tokenizer.save_pretrained(tmp_path / "other")
    capsys.readouterr()  # transformers' progress bar
    before = sorted(p.name for p in run.iterdir())
    for how in (["--layers", "1"], ["--student", tmp_path / "other"]):
        args = distill_args(teacher, run / "sub", *how)
        code, stdout, err = reviewscore(monkeypatch, capsys, *args)
        assert code == 1, err
        assert f"lies inside the input {run}" in err and len(err.strip().splitlines()) == 1
        assert "logits for" not in stdout
    assert sorted(p.name for p in run.iterdir()) == before


def test_train_out_inside_the_run_folder_of_its_model_is_refused(
    teacher, tmp_path, monkeypatch, capsys
):
    _, run, data = teacher
    args = ("train", "--data", data, "--model", run / "model", "--out", run / "sub")
    code, _, err = reviewscore(monkeypatch, capsys, *args)
    assert code == 1 and f"lies inside the input {run}" in err, err
    assert not (run / "sub").exists()


def test_an_unknown_student_fails_before_any_work_in_one_line(
    teacher, tmp_path, monkeypatch, capsys
):
    """HF_HUB_OFFLINE is set for the tests (conftest): the name is no folder, no packaged
    model and not cached, so nothing can load it; it used to fail only after the teacher's
    logits, with the hub's retries and a two-line message."""
    args = distill_args(teacher, tmp_path / "s", "--student", "no-such-model-anywhere")
    code, stdout, err = reviewscore(monkeypatch, capsys, *args)
    assert code == 1
    assert err.strip() == (
        "error: model 'no-such-model-anywhere': no such local folder, not a packaged model "
        "(minilm, mpnet), not in the hub cache, and the hub is off (HF_HUB_OFFLINE)"
    )
    assert stdout == "" and not (tmp_path / "s").exists()


def test_a_missing_teacher_folder_is_a_usage_error_as_for_verify_and_serve(
    teacher, tmp_path, monkeypatch, capsys
):
    args = distill_args(teacher, tmp_path / "s", "--layers", "1")
    args = (args[0], tmp_path / "nowhere", *args[2:])
    code, _, err = reviewscore(monkeypatch, capsys, *args)
    assert code == 2 and "does not exist" in err, err


def test_the_students_model_files_follow_the_umask(student):
    """transformers writes model.safetensors through a private (0600) temporary file."""
    import stat

    from reviewscore.files import current_umask

    expected = 0o666 & ~current_umask()
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (student / "model").iterdir()}
    assert "model.safetensors" in modes
    assert modes == dict.fromkeys(modes, expected)
