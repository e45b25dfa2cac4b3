import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_safety.ee_twist import ZERO, EeLimits, gate_ee_twist
from vla_safety.gate import GateState, GateStatus, Proposal, Reason, SensorSnapshot, step
from vla_safety.params import SafetyParams

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


# -- in the gate: the ee twist is gated with the decision and raises only what the status reports ---------
FAST = {'max_linear_accel': 100.0, 'max_angular_accel': 100.0}


def moving(ee, ee_limits):
    """The second tick of a base moving at 0.2 m/s with ``ee`` proposed (the first has dt = 0)."""
    params = SafetyParams(**FAST)
    state = GateState()
    for seq, now in ((1, 0.0), (2, 0.1)):
        p = Proposal(now, (0.2, 0.0, 0.0, 0.0, 0.0, 0.0), (), (), 0.9, seq, 'go', 0.0, ee_twist=ee)
        decision, state = step(state, p, SensorSnapshot(), {}, params, now, ee_limits)
    return decision


def test_without_ee_limits_no_ee_twist_and_the_status_is_the_decision():
    d = moving((0.1, 0, 0, 0, 0, 0), None)
    assert d.ee_twist is None
    assert d.state == GateStatus.PASS and d.status_state == d.state and d.status_reasons == d.reasons == ()


def test_a_limited_ee_twist_goes_out_scaled_and_the_status_says_limited():
    plain = moving((0.3, 0.4, 0.0, 0.0, 0.0, 0.0), None)
    d = moving((0.3, 0.4, 0.0, 0.0, 0.0, 0.0), L)
    assert d.ee_twist[:3] == pytest.approx((0.12, 0.16, 0.0))
    assert d.status_state == GateStatus.LIMITED and d.status_reasons == ('ee_velocity_limited',)
    assert (d.state, d.reasons, d.message, d.twist) == (plain.state, plain.reasons, plain.message, plain.twist)


def test_a_refused_ee_twist_stops_the_arm_in_the_status_but_not_the_base():
    plain = moving((math.nan, 0, 0, 0, 0, 0), None)
    d = moving((math.nan, 0, 0, 0, 0, 0), L)
    assert d.ee_twist == ZERO
    assert d.status_state == GateStatus.STOP and d.status_reasons == ('non_finite_ee_twist',)
    assert d.state == GateStatus.PASS and d.twist == plain.twist and d.twist[0] == pytest.approx(0.2)


def test_a_stopped_gate_sends_a_zero_ee_twist():
    d, _ = step(GateState(), None, SensorSnapshot(), {}, SafetyParams(), 0.0, L)
    assert d.ee_twist == ZERO
    assert d.state == d.status_state == GateStatus.STOP and d.status_reasons == d.reasons == (Reason.NO_PROPOSAL_YET,)
