"""Property tests: whatever arrives (NaN, inf, huge numbers, random joint names and confidences,
any obstacle points, any sequence of times, e-stops and resets), the command is finite and inside
the limits, and the gate stops whenever the proposal is missing, invalid or stale."""
import math

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from vla_safety.gate import (GateState, GateStatus, Proposal, Reason, SensorSnapshot, SourceReading, latch_estop,
                             reset_estop, step)
from vla_safety.joint_limits import JointLimit
from vla_safety.params import SafetyParams

LIMITS = {'arm': JointLimit(-1.0, 1.0, 2.0), 'head': JointLimit(-0.5, 0.5, 1.0), 'wrist': JointLimit(0.0, 0.1, 0.5)}
FULL_STOP = {Reason.ESTOP_LATCHED, Reason.AWAITING_INSTRUCTION, Reason.NO_PROPOSAL_YET, Reason.PROPOSAL_TIMEOUT,
             Reason.MALFORMED_PROPOSAL, Reason.NON_FINITE_PROPOSAL, Reason.OUT_OF_RANGE_PROPOSAL, Reason.LOW_CONFIDENCE}
OVERRIDES = {Reason.OBSTACLE_STOP_ZONE, Reason.TIME_TO_COLLISION, Reason.ESTOP_LATCHED}
TOL = 1e-9

wild = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                 st.sampled_from([0.0, -0.0, 1e300, -1e300, math.nan, math.inf, -math.inf, 5e-324]))
twist_values = st.one_of(st.floats(-1.0, 1.0), st.floats(-6.0, 6.0), wild)
joint_values = st.one_of(st.floats(-1.5, 1.5), st.floats(-25.0, 25.0), wild)
confidences = st.one_of(st.floats(0.0, 1.0), st.floats(-0.5, 1.5), wild)
names = st.one_of(st.sampled_from(sorted(LIMITS)), st.text(max_size=4))
ages = st.one_of(st.floats(-0.1, 0.6), st.floats(0.0, 0.35), st.just(math.nan), st.just(-math.inf))

params_strategy = st.builds(
    lambda fp, unknown, ttc, trig, rel, min_points, accel: SafetyParams(
        footprint=fp, allow_unknown_joints=unknown, time_to_collision=ttc, trigger_count=trig,
        release_count=rel, min_points=min_points, max_linear_accel=accel, max_angular_accel=2 * accel,
        joint_limits=LIMITS, source_timeouts={'depth': 0.2}),
    st.sampled_from([(), [0.25, 0.15, -0.25, 0.15, -0.25, -0.15, 0.25, -0.15], [0.3, 0.0, -0.2, 0.2, -0.2, -0.2]]),
    st.booleans(), st.sampled_from([0.0, 1.5]), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
    st.sampled_from([1.0, 20.0]))


@st.composite
def proposals(draw, now):
    """Three in four are plausible (so the gate passes some), the rest anything at all."""
    if draw(st.integers(0, 3)):
        joint_names = tuple(draw(st.lists(st.sampled_from(sorted(LIMITS)), max_size=3, unique=True)))
        positions = tuple(draw(st.lists(st.floats(-1.2, 1.2), min_size=len(joint_names), max_size=len(joint_names))))
        twist = (draw(st.floats(-0.8, 0.8)), draw(st.floats(-0.4, 0.4)), 0.0, 0.0, 0.0, draw(st.floats(-1.5, 1.5)))
        return Proposal(now - draw(st.floats(0.0, 0.25)), twist, joint_names, positions,
                        draw(st.floats(0.3, 1.0)), draw(st.integers(0, 3)), draw(st.sampled_from(['', 'go'])),
                        draw(st.one_of(st.floats(-100.0, 100.0), st.just(math.nan))))
    n = draw(st.integers(0, 3))
    joint_names = tuple(draw(st.lists(names, min_size=n, max_size=n)))
    m = n if draw(st.integers(0, 5)) else draw(st.integers(0, 4))
    positions = tuple(draw(st.lists(joint_values, min_size=m, max_size=m)))
    twist = tuple(draw(st.lists(twist_values, min_size=6, max_size=6)))
    return Proposal(now - draw(ages), twist, joint_names, positions, draw(confidences), draw(st.integers(0, 3)),
                    draw(st.one_of(st.text(max_size=3), st.none(), st.integers())), draw(wild))


@st.composite
def snapshots(draw, now):
    sources = {}
    for name in ('scan', 'depth'):
        kind = draw(st.integers(0, 5))
        if kind == 0:
            continue                                   # never arrived
        if kind == 1:
            pts = draw(st.lists(st.tuples(st.one_of(st.floats(-3, 3), wild), st.one_of(st.floats(-3, 3), wild)),
                                max_size=25))
        else:
            pts = draw(st.lists(st.tuples(st.floats(-3, 3), st.floats(-3, 3)), max_size=25))
        points = None if kind == 2 else np.array(pts, dtype=float).reshape(-1, 2)
        age = draw(ages) if kind <= 2 else draw(st.floats(0.0, 0.15))
        sources[name] = SourceReading(points, now - age)
    required = draw(st.sets(st.sampled_from(['scan', 'depth'])))
    return SensorSnapshot(sources, required)


@st.composite
def joint_states(draw):
    if draw(st.integers(0, 2)):
        return {n: draw(st.floats(-1.2, 1.2)) for n in draw(st.lists(st.sampled_from(sorted(LIMITS)), unique=True))}
    return dict(zip(draw(st.lists(names, max_size=4)), draw(st.lists(joint_values, max_size=4))))


def valid_and_fresh(p, params, now):
    """An independent statement of what a usable proposal is."""
    if p is None or len(p.joint_names) != len(p.joint_positions) or len(set(p.joint_names)) != len(p.joint_names):
        return False
    values = (*p.twist, *p.joint_positions, p.confidence, p.received_time)
    if not all(math.isfinite(v) for v in values) or not 0.0 <= p.confidence <= 1.0:
        return False
    lin = 10.0 * max(params.max_linear_x, params.max_linear_y)
    if any(abs(v) > lin for v in p.twist[:3]) or any(abs(v) > 10.0 * params.max_angular_z for v in p.twist[3:]):
        return False
    for n, x in zip(p.joint_names, p.joint_positions):
        lim = LIMITS.get(n)
        if lim is not None and abs(x) > 10.0 * max(abs(lim.lower), abs(lim.upper), lim.upper - lim.lower):
            return False
    return 0.0 <= now - p.received_time <= params.command_timeout


def check_invariants(prev: GateState, d, new: GateState, params: SafetyParams, now, prop, sensors, measured):
    reasons = set(d.reasons)
    assert isinstance(d.state, GateStatus) and len(reasons) == len(d.reasons)
    assert all(isinstance(r, str) and r for r in d.reasons)

    # -- the twist: finite, planar, inside the velocity limits ------------------------------------------
    assert len(d.twist) == 6 and all(isinstance(v, float) and math.isfinite(v) for v in d.twist)
    assert d.twist[2] == d.twist[3] == d.twist[4] == 0.0
    out = (d.twist[0], d.twist[1], d.twist[5])
    caps = (params.max_linear_x, params.max_linear_y, params.max_angular_z)
    assert all(abs(o) <= c for o, c in zip(out, caps))
    assert new.twist == out

    # -- ... and the acceleration limits relative to the previous output ---------------------------------
    dt = 0.0 if prev.time is None else min(max(now - prev.time, 0.0), params.max_dt)
    accel = (params.max_linear_accel, params.max_linear_accel, params.max_angular_accel)
    decel = (params.max_linear_decel, params.max_linear_decel, params.max_angular_decel)
    for p, o, a, b in zip(prev.twist, out, accel, decel):
        assert p * o >= 0.0, 'a reversal must come to rest first'
        assert abs(o) <= abs(p) + a * dt + TOL, 'speeding up faster than the accel limit'
        if not reasons & OVERRIDES:                    # only STOP zone / TTC / e-stop may brake harder
            assert abs(p) - abs(o) <= b * dt + TOL, 'slowing down faster than the decel limit'

    # -- joints: finite, inside position limits, inside the speed limit unless holding ------------------
    assert len(d.joint_names) == len(d.joint_positions) == len(set(d.joint_names))
    full_stop = bool(reasons & FULL_STOP)
    for n, x in zip(d.joint_names, d.joint_positions):
        assert isinstance(n, str) and isinstance(x, float) and math.isfinite(x)
        lim = LIMITS.get(n)
        if lim is None:
            assert params.allow_unknown_joints
            continue
        assert lim.lower <= x <= lim.upper
        m = measured.get(n)
        m = lim.clamp(m) if m is not None and math.isfinite(m) else None
        if full_stop:
            allowed = {m, prev.joint_targets.get(n), (prev.hold or {}).get(n)} - {None}
            assert x in allowed, 'a stopped joint holds its measured or last commanded position'
        else:
            ref = prev.joint_targets.get(n, m)
            assert ref is not None and abs(x - ref) <= lim.max_velocity * dt + TOL

    # -- stops -----------------------------------------------------------------------------------------
    if not valid_and_fresh(prop, params, now):
        assert d.state >= GateStatus.STOP, f'invalid or stale proposal passed: {d}'
    if prev.estop:
        assert d.state == GateStatus.ESTOP and out == (0.0, 0.0, 0.0)
    for name in sensors.required:
        r = sensors.sources.get(name)
        timeout = params.timeout_of(name)
        if r is None or r.points is None or not 0.0 <= now - r.received_time <= timeout:
            assert f'{name}_timeout' in reasons and d.state >= GateStatus.STOP
    if d.state < GateStatus.STOP:
        assert valid_and_fresh(prop, params, now)
        if params.trigger_count == 1:
            assert prop.confidence >= params.confidence_threshold
    assert d.nearest_obstacle_distance >= 0.0
    assert math.isnan(d.confidence) or isinstance(d.confidence, float)


@settings(max_examples=120, deadline=None)
@given(params_strategy, st.data())
def test_any_input_sequence_gives_a_safe_command(params, data):
    state = GateState()
    now = data.draw(st.floats(-100.0, 100.0), label='t0')
    prop = None
    measured = data.draw(joint_states(), label='joint states')
    for _ in range(data.draw(st.integers(1, 20), label='ticks')):
        now += data.draw(st.one_of(st.floats(0.0, 0.15), st.floats(-0.3, 1.0), st.just(0.0)), label='dt')
        what = data.draw(st.integers(0, 9), label='proposal')
        if what == 0:
            prop = None
        elif what <= 6:
            prop = data.draw(proposals(now), label='new proposal')
        sensors = data.draw(snapshots(now), label='sensors')
        if data.draw(st.integers(0, 3), label='new joint states') == 0:
            measured = data.draw(joint_states(), label='joint states')
        button = data.draw(st.integers(0, 39), label='estop')   # hypothesis favours 0: latch on 20
        if button == 20:
            state = latch_estop(state)
        elif button in (0, 21, 22):
            state = reset_estop(state, now)
        decision, new_state = step(state, prop, sensors, measured, params, now)
        check_invariants(state, decision, new_state, params, now, prop, sensors, measured)
        event(f'state {decision.state.name}')    # pytest --hypothesis-show-statistics: all states occur
        if decision.joint_names and not set(decision.reasons) & FULL_STOP:
            event('joints commanded')
        state = new_state


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_moving_towards_obstacles_never_enters_the_stop_zone_on_a_pass(data):
    """Fresh, valid, confident proposals and fresh scans: whenever the gate lets the base move,
    no obstacle point is inside the STOP zone."""
    params = SafetyParams(max_linear_accel=3.0, max_angular_accel=6.0, joint_limits=LIMITS)
    state = GateState()
    fp = params.footprint_shape
    for k in range(data.draw(st.integers(2, 15))):
        now = 0.1 * k
        twist = (data.draw(st.floats(-0.6, 0.6)), data.draw(st.floats(-0.4, 0.4)), 0.0, 0.0, 0.0,
                 data.draw(st.floats(-1.2, 1.2)))
        pts = np.array(data.draw(st.lists(st.tuples(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5)), max_size=20)),
                       dtype=float).reshape(-1, 2)
        sensors = SensorSnapshot({'scan': SourceReading(pts, now)}, {'scan'})
        d, state = step(state, Proposal(now, twist, (), (), 0.9, k), sensors, {}, params, now)
        moving = any(v != 0.0 for v in d.twist)
        if len(pts) and moving:
            assert fp.distance(pts).min() > params.stop_margin
        assert d.nearest_obstacle_distance == (fp.distance(pts).min() if len(pts) else math.inf)
