"""Schedule shapes (one-cycle with momentum against the rate, slanted triangular, linear
warm-up) and the device/precision choice, including the CUDA branch, on a CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reviewscore.errors import ReviewscoreError
from reviewscore.train.config import TrainConfig
from reviewscore.train.layer_groups import LayerGroup
from reviewscore.train.precision import pick_precision
from reviewscore.train.schedules import (
    apply_setting,
    make_optimizer,
    schedule_at,
    slanted_triangular,
)


def trace(schedule: str, total: int, lrs=(1e-3, 1e-2)) -> tuple[np.ndarray, np.ndarray]:
    """(lr per step and group, beta1 per step): the schedule read step by step, with no
    optimizer to step."""
    config = TrainConfig(data="x", schedule=schedule)
    settings = [schedule_at(step, total, config) for step in range(total)]
    rates = np.outer([s.scale for s in settings], lrs)
    return rates, np.asarray([s.beta1 for s in settings])


def test_one_cycle_peaks_at_pct_start_with_momentum_against_the_rate():
    rates, betas = trace("one-cycle", 100)
    peak = int(np.argmax(rates[:, 1]))
    assert abs(peak - 30) <= 1  # pct_start 0.3
    np.testing.assert_allclose(rates.max(axis=0), [1e-3, 1e-2], rtol=1e-3)
    np.testing.assert_allclose(rates[0], [1e-3 / 25, 1e-2 / 25], rtol=1e-6)
    assert rates[-1, 1] < 1e-2 / 25 / 1e3  # annealed towards max / (25 * 1e4)
    np.testing.assert_allclose(rates[:, 0] / rates[:, 1], 0.1)  # group ratio kept throughout
    assert betas[0] == pytest.approx(0.95) and betas[peak] == pytest.approx(0.85, abs=1e-3)
    assert betas[-1] == pytest.approx(0.95, abs=1e-3)
    d_rate, d_beta = np.diff(rates[:, 1]), np.diff(betas)
    moving = np.abs(d_rate) > 1e-12
    assert np.all(np.sign(d_rate[moving]) == -np.sign(d_beta[moving]))


def test_slanted_triangular_peaks_at_cut_frac():
    rates, betas = trace("slanted", 200)
    assert int(np.argmax(rates[:, 1])) == 20  # cut_frac 0.1
    assert rates[0, 1] == pytest.approx(1e-2 / 32)  # ratio 32
    assert rates[:, 1].min() >= 1e-2 / 32 - 1e-12
    assert np.all(np.diff(rates[:20, 1]) > 0) and np.all(np.diff(rates[20:, 1]) < 0)
    assert np.all(betas == 0.9)
    assert slanted_triangular(20, 200, 0.1, 32) == 1.0


def test_linear_warms_up_six_percent_then_decays_to_zero():
    rates, _ = trace("linear", 100, lrs=(5e-5,))
    assert int(np.argmax(rates[:, 0])) == 6
    assert rates[0, 0] == 0.0
    assert np.all(np.diff(rates[6:, 0]) < 0) and rates[-1, 0] == pytest.approx(5e-5 / 94)


def test_schedule_is_a_function_of_the_step_alone():
    config = TrainConfig(data="x", schedule="one-cycle")
    forwards = [schedule_at(step, 50, config) for step in range(50)]
    assert [schedule_at(step, 50, config) for step in reversed(range(50))] == forwards[::-1]


def test_optimizer_starts_at_step_zero_and_takes_each_setting_per_group():
    groups = [LayerGroup(f"g{i}", [torch.nn.Parameter(torch.zeros(2))]) for i in range(2)]
    config = TrainConfig(data="x", schedule="one-cycle")
    optimizer = make_optimizer(groups, [1e-3, 1e-2], config)
    assert optimizer.param_groups[0]["betas"] == (0.95, 0.999)
    setting = schedule_at(29, 100, config)  # the peak: step pct_start * total - 1
    apply_setting(optimizer, setting)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-3, 1e-2])
    assert [g["betas"] for g in optimizer.param_groups] == [(setting.beta1, 0.999)] * 2
    slanted = make_optimizer(groups, [1e-3, 1e-2], TrainConfig(data="x", schedule="slanted"))
    assert slanted.param_groups[0]["betas"] == (0.9, 0.999)


@pytest.mark.parametrize(
    ("device", "cuda", "bf16", "expected"),
    [
        ("auto", False, None, ("cpu", None, False)),
        ("auto", True, True, ("cuda", torch.bfloat16, False)),
        ("auto", True, False, ("cuda", torch.float16, True)),
        ("cpu", True, True, ("cpu", None, False)),
    ],
)
def test_precision_choice(device, cuda, bf16, expected):
    chosen = pick_precision(device, cuda_available=cuda, bf16_supported=bf16)
    assert (chosen.device, chosen.autocast_dtype, chosen.use_scaler) == expected


def test_cuda_asked_without_cuda_is_an_error():
    with pytest.raises(ReviewscoreError, match="no CUDA device"):
        pick_precision("cuda", cuda_available=False)


def test_cpu_precision_is_plain_fp32():
    chosen = pick_precision("cpu")
    with chosen.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    assert not chosen.scaler().is_enabled()
