"""A Ray job sets Ray Data's progress bars for itself and puts the process-global setting
back afterwards, even when the job fails. No cluster is started."""

from __future__ import annotations

import pytest

ray_data = pytest.importorskip("ray.data")

from reviewscore.cluster.job import progress_bars  # noqa: E402 - after the skip


@pytest.mark.parametrize("before", [True, False])
def test_progress_bar_setting_is_restored_after_the_job(before):
    context = ray_data.DataContext.get_current()
    original = context.enable_progress_bars
    context.enable_progress_bars = before
    try:
        with progress_bars(not before):
            assert context.enable_progress_bars is (not before)
        assert context.enable_progress_bars is before
        with pytest.raises(RuntimeError), progress_bars(not before):
            raise RuntimeError("the job failed")
        assert context.enable_progress_bars is before
    finally:
        context.enable_progress_bars = original
