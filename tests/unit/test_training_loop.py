"""The shared training loop's learning-rate schedules."""

import pytest

from tokswap.training.loop import lr_factor


@pytest.mark.parametrize("schedule", ["constant", "inverse-sqrt"])
def test_both_schedules_warm_up_linearly_to_the_peak(schedule):
    assert [lr_factor(step, 10, schedule) for step in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])


def test_inverse_sqrt_halves_the_rate_at_four_times_the_warm_up_and_constant_stays():
    assert lr_factor(39, 10, "inverse-sqrt") == pytest.approx(0.5) and lr_factor(399, 10, "inverse-sqrt") == pytest.approx((10 / 400) ** 0.5)
    assert lr_factor(399, 10, "constant") == 1.0
