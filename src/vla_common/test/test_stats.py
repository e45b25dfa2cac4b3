import math

import pytest

from vla_common.stats import RateMeter, RollingWindow, percentiles


def test_rolling_window_keeps_the_last_samples_and_ignores_non_finite():
    w = RollingWindow(3)
    for v in (1.0, math.nan, 2.0, 3.0, 4.0, math.inf):
        w.add(v)
    assert list(w.values()) == [2.0, 3.0, 4.0]
    assert w.mean() == pytest.approx(3.0)
    assert w.percentile(50) == pytest.approx(3.0)
    assert math.isnan(RollingWindow().percentile(99))


def test_rate_meter_rate_and_jitter():
    m = RateMeter(10)
    t = 0.0
    for dt in (0.1, 0.1, 0.12, 0.08, 0.1):
        t += dt
        m.tick(t)
    # periods seen: 0.1, 0.12, 0.08, 0.1 (the first tick has no predecessor)
    assert m.rate_hz == pytest.approx(10.0)
    assert m.jitter_p99(0.1) == pytest.approx(0.02, abs=1e-3)
    assert m.count == 5


def test_percentiles_of_nothing_are_nan():
    assert all(math.isnan(v) for v in percentiles([]).values())
