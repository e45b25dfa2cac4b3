import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_safety.ee_twist import ZERO, EeLimits, gate_ee_twist

L = EeLimits(max_linear=0.2, max_angular=1.0)


def test_within_limits_passes_unchanged():
    assert gate_ee_twist((0.1, 0.0, 0.0, 0.0, 0.0, 0.5), False, L) == ((0.1, 0.0, 0.0, 0.0, 0.0, 0.5), ())


def test_blocked_or_absent_is_zero():
    assert gate_ee_twist((0.1, 0, 0, 0, 0, 0), True, L) == (ZERO, ())
    assert gate_ee_twist(None, False, L) == (ZERO, ())


def test_scaled_as_a_vector_keeping_direction():
    out, reasons = gate_ee_twist((0.3, 0.4, 0.0, 0.0, 0.0, 0.0), False, L)   # |v| = 0.5
    assert reasons == ('ee_velocity_limited',)
    assert out[:3] == pytest.approx((0.12, 0.16, 0.0))


@pytest.mark.parametrize('ee,reason', [
    ((math.nan, 0, 0, 0, 0, 0), 'non_finite_ee_twist'),
    ((0, 0, 0, math.inf, 0, 0), 'non_finite_ee_twist'),
    ((5.0, 0, 0, 0, 0, 0), 'out_of_range_ee_twist'),
    ((0.1, 0.1), 'malformed_ee_twist'),
    (('a', 0, 0, 0, 0, 0), 'malformed_ee_twist'),
])
def test_bad_values_are_refused(ee, reason):
    assert gate_ee_twist(ee, False, L) == (ZERO, (reason,))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=8), st.booleans())
def test_output_always_finite_and_within_limits(ee, blocked):
    out, _ = gate_ee_twist(ee, blocked, L)
    assert len(out) == 6 and all(math.isfinite(x) for x in out)
    assert math.hypot(*out[:3]) <= L.max_linear + 1e-9
    assert math.hypot(*out[3:]) <= L.max_angular + 1e-9
