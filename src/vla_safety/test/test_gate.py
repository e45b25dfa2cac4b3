"""The gate rule by rule, and in combination: confidence, watchdog, validity, limits, zones,
time to collision, sources, joints, e-stop."""
import math

import numpy as np
import pytest

from vla_safety.gate import (GateState, GateStatus, Proposal, Reason, SensorSnapshot, SourceReading,
                             await_instruction, latch_estop, limit_axis, reset_estop, step)
from vla_safety.joint_limits import JointLimit
from vla_safety.params import SafetyParams

LIMITS = {'arm': JointLimit(-1.0, 1.0, 2.0), 'head': JointLimit(-0.5, 0.5, 1.0)}
FAST = {'max_linear_accel': 100.0, 'max_angular_accel': 100.0}   # full speed in one tick
KEEP = object()
ZERO = (0.0,) * 6


def proposal(t, vx=0.0, vy=0.0, wz=0.0, conf=0.9, joints=None, seq=0, twist=None, instruction='go',
             instruction_time=0.0):
    joints = joints or {}
    return Proposal(t, twist if twist is not None else (vx, vy, 0.0, 0.0, 0.0, wz),
                    tuple(joints), tuple(joints.values()), conf, seq, instruction, instruction_time)


class Rig:
    """A gate and its inputs; ``send`` delivers a fresh proposal and ticks at the same time."""

    def __init__(self, **overrides):
        self.params = SafetyParams(**{'joint_limits': LIMITS, **overrides})
        self.state = GateState()
        self.sensors = SensorSnapshot()
        self.measured = {}
        self.proposal = None
        self.seq = 0

    def tick(self, now, prop=KEEP):
        if prop is not KEEP:
            self.proposal = prop
        decision, self.state = step(self.state, self.proposal, self.sensors, self.measured, self.params, now)
        return decision

    def send(self, now, **kw):
        self.seq += 1
        return self.tick(now, proposal(now, seq=self.seq, **kw))

    def obstacles(self, points, now, name='scan', required=True):
        self.sensors = SensorSnapshot({name: SourceReading(np.array(points, dtype=float).reshape(-1, 2), now)},
                                      {name} if required else set())

    def cruise(self, vx=0.5, vy=0.0, wz=0.0, t0=0.0, **kw):
        """Two ticks (the first has dt = 0): the robot is then moving at the proposal's speed."""
        self.send(t0, vx=vx, vy=vy, wz=wz, **kw)
        return self.send(t0 + 0.1, vx=vx, vy=vy, wz=wz, **kw)


def vx_of(d):
    return d.twist[0]


# -- nothing to go on ------------------------------------------------------------------------------
def test_no_proposal_yet_is_a_stop_with_zero_twist():
    d = Rig().tick(0.0, None)
    assert d.state == GateStatus.STOP and d.reasons == (Reason.NO_PROPOSAL_YET,)
    assert d.twist == (0.0,) * 6 and d.joint_names == () and d.joint_positions == ()
    assert d.time_since_last_proposal == math.inf and math.isnan(d.confidence)
    assert d.nearest_obstacle_distance == math.inf and d.proposal_sequence == 0
    assert d.message == 'STOP: no_proposal_yet'
    d2, _ = step(GateState(), None, None, None, SafetyParams(), 0.0)   # no sensors, no joint states
    assert d2 == d


def test_first_tick_outputs_zero_then_the_proposal_passes():
    rig = Rig(**FAST)
    d = rig.send(0.0, vx=0.3)
    assert d.twist == (0.0,) * 6 and d.reasons == (Reason.ACCELERATION_LIMITED,) and d.state == GateStatus.LIMITED
    d = rig.send(0.1, vx=0.3, vy=-0.1, wz=0.5)
    assert d.state == GateStatus.PASS and d.reasons == () and d.message == 'PASS'
    assert d.twist == pytest.approx((0.3, -0.1, 0.0, 0.0, 0.0, 0.5))
    assert d.confidence == pytest.approx(0.9) and d.proposal_sequence == 2
    assert d.time_since_last_proposal == 0.0


# -- velocity and acceleration limits ------------------------------------------------------------------
def test_velocity_is_scaled_as_a_whole_to_fit():
    d = Rig(**FAST).cruise(vx=1.0, vy=0.3, wz=0.4)
    assert d.twist == pytest.approx((0.5, 0.15, 0.0, 0.0, 0.0, 0.2))    # scale 0.5: path kept
    assert Reason.VELOCITY_LIMITED in d.reasons and d.state == GateStatus.LIMITED
    d = Rig(**FAST).cruise(vx=-0.2, wz=-3.0)
    assert d.twist == pytest.approx((-0.2 / 3, 0.0, 0.0, 0.0, 0.0, -1.0))


def test_axis_with_a_zero_limit_is_zeroed_not_the_whole_twist():
    d = Rig(max_linear_y=0.0, **FAST).cruise(vx=0.4, vy=0.05)
    assert d.twist == pytest.approx((0.4, 0.0, 0.0, 0.0, 0.0, 0.0)) and Reason.VELOCITY_LIMITED in d.reasons


def test_non_planar_components_are_zeroed():
    rig = Rig(**FAST)
    rig.send(0.0, twist=(0.2, 0.0, 0.1, 0.1, -0.1, 0.0))
    d = rig.send(0.1, twist=(0.2, 0.0, 0.1, 0.1, -0.1, 0.0))
    assert d.twist == pytest.approx((0.2, 0.0, 0.0, 0.0, 0.0, 0.0)) and d.reasons == (Reason.VELOCITY_LIMITED,)


def test_acceleration_is_limited_relative_to_the_previous_output():
    rig = Rig()                                    # accel 1.0 m/s^2, 2.0 rad/s^2
    rig.send(0.0, vx=0.5, wz=1.0)
    outs = [rig.send(0.1 * k, vx=0.5, wz=1.0) for k in range(1, 8)]
    assert [vx_of(d) for d in outs] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5])
    assert [d.twist[5] for d in outs] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0])
    assert all(Reason.ACCELERATION_LIMITED in d.reasons for d in outs[:4]) and outs[-1].reasons == ()


def test_slowing_down_uses_the_decel_limit_and_reversal_comes_to_rest_first():
    rig = Rig(**FAST)
    rig.cruise(vx=0.5)
    assert vx_of(rig.send(0.2, vx=0.1)) == pytest.approx(0.3)         # decel 2.0 m/s^2 * 0.1 s
    assert vx_of(rig.send(0.3, vx=0.1)) == pytest.approx(0.1)
    assert vx_of(rig.send(0.4, vx=-0.5)) == pytest.approx(0.0)        # rest first...
    assert vx_of(rig.send(0.5, vx=-0.5)) == pytest.approx(-0.5)       # ...then speed up the other way


def test_limit_axis():
    assert limit_axis(0.0, 1.0, 1.0, 2.0, 0.1) == pytest.approx(0.1)
    assert limit_axis(1.0, 0.0, 1.0, 2.0, 0.1) == pytest.approx(0.8)
    assert limit_axis(-1.0, 0.0, 1.0, 2.0, 0.1) == pytest.approx(-0.8)
    assert limit_axis(0.1, -1.0, 1.0, 2.0, 0.1) == 0.0
    assert limit_axis(0.3, 0.35, 1.0, 2.0, 0.1) == pytest.approx(0.35)
    assert limit_axis(0.3, 1.0, 1.0, 2.0, 0.0) == 0.3


def test_a_late_tick_is_credited_at_most_max_dt():
    rig = Rig(max_dt=0.2)
    rig.send(0.0, vx=0.5)
    d = rig.send(5.0, vx=0.5)                      # the timer stalled for 5 s
    assert vx_of(d) == pytest.approx(0.2)           # 1.0 m/s^2 * 0.2 s, not 0.5


def test_clock_going_backwards_changes_nothing_and_old_proposals_are_stale():
    rig = Rig(**FAST)
    rig.cruise(vx=0.4, t0=10.0)
    d = rig.send(9.0, vx=0.0)                       # a new proposal at the new (earlier) time; dt = 0
    assert vx_of(d) == pytest.approx(0.4)
    rig2 = Rig(**FAST)
    rig2.cruise(vx=0.4, t0=10.0)
    d = rig2.tick(9.0)                               # the newest proposal is 1 s in the future
    assert Reason.PROPOSAL_TIMEOUT in d.reasons and d.state == GateStatus.STOP


def test_now_must_be_finite():
    with pytest.raises(ValueError, match='finite'):
        Rig().tick(math.nan, None)


# -- watchdog -------------------------------------------------------------------------------------------
def test_timeout_ramps_to_zero_within_decel_then_holds_zero():
    rig = Rig(command_timeout=0.25, **FAST)
    rig.cruise(vx=0.5, wz=1.0)                      # proposal received at 0.1
    ds = [rig.tick(0.1 * k) for k in range(2, 10)]
    assert [d.state for d in ds[:2]] == [GateStatus.PASS] * 2            # ages 0.1 and 0.2 s
    assert all(d.state == GateStatus.STOP and Reason.PROPOSAL_TIMEOUT in d.reasons for d in ds[2:])
    assert [vx_of(d) for d in ds] == pytest.approx([0.5, 0.5, 0.3, 0.1, 0.0, 0.0, 0.0, 0.0])
    assert [d.twist[5] for d in ds] == pytest.approx([1.0, 1.0, 0.6, 0.2, 0.0, 0.0, 0.0, 0.0])
    assert ds[-1].time_since_last_proposal == pytest.approx(0.8)


def test_timeout_boundary():
    rig = Rig(command_timeout=0.25)
    rig.tick(1.0, proposal(1.0))
    assert Reason.PROPOSAL_TIMEOUT not in rig.tick(1.25).reasons
    assert Reason.PROPOSAL_TIMEOUT in rig.tick(1.2500001).reasons


def test_none_after_a_proposal_is_a_timeout():
    rig = Rig(**FAST)
    rig.cruise(vx=0.5)
    d = rig.tick(0.2, None)
    assert d.reasons == (Reason.PROPOSAL_TIMEOUT, Reason.ACCELERATION_LIMITED)
    assert vx_of(d) == pytest.approx(0.3)


# -- confidence -----------------------------------------------------------------------------------------
def test_low_confidence_blocks_at_once_and_ramps_down():
    rig = Rig(**FAST)
    rig.cruise(vx=0.5)
    d = rig.send(0.2, vx=0.5, conf=0.2)
    assert d.state == GateStatus.STOP and Reason.LOW_CONFIDENCE in d.reasons
    assert vx_of(d) == pytest.approx(0.3) and d.confidence == pytest.approx(0.2)


def test_threshold_is_inclusive_for_good():
    rig = Rig()
    rig.send(0.0, conf=0.5)
    assert Reason.LOW_CONFIDENCE not in rig.send(0.1, conf=0.5).reasons
    assert Reason.LOW_CONFIDENCE in rig.send(0.2, conf=0.4999).reasons


def test_trigger_and_release_debouncing():
    rig = Rig(trigger_count=2, release_count=3)
    blocked = [Reason.LOW_CONFIDENCE in rig.send(0.1 * i, conf=c).reasons
               for i, c in enumerate([0.9, 0.1, 0.1, 0.9, 0.9, 0.1, 0.9, 0.9, 0.9, 0.1, 0.9])]
    #           good   low1   low2   g1     g2     low    g1     g2     g3     low1   good
    assert blocked == [False, False, True, True, True, True, True, True, False, False, False]


def test_a_proposal_seen_on_many_ticks_counts_once():
    rig = Rig(trigger_count=2)
    p = proposal(0.0, conf=0.1, seq=7)
    assert all(Reason.LOW_CONFIDENCE not in rig.tick(0.01 * i, p).reasons for i in range(5))
    # same sequence number, new arrival time: a new proposal
    assert Reason.LOW_CONFIDENCE in rig.tick(0.06, proposal(0.06, conf=0.1, seq=7)).reasons


def test_an_invalid_proposal_breaks_the_good_streak():
    rig = Rig(release_count=3)
    rig.send(0.0, conf=0.0)
    rig.send(0.1)
    rig.send(0.2)
    d = rig.send(0.3, vx=math.nan)
    assert d.reasons[:2] == (Reason.NON_FINITE_PROPOSAL, Reason.LOW_CONFIDENCE)
    assert Reason.LOW_CONFIDENCE in rig.send(0.4).reasons
    assert Reason.LOW_CONFIDENCE in rig.send(0.5).reasons
    assert Reason.LOW_CONFIDENCE not in rig.send(0.6).reasons


def test_new_content_with_a_reused_sequence_and_stamp_is_a_new_proposal():
    rig = Rig(**FAST)
    rig.tick(0.0, proposal(0.0, vx=0.2, seq=5))
    assert rig.tick(0.0, proposal(0.0, vx=0.2, conf=0.1, seq=5)).state == GateStatus.STOP
    rig = Rig()
    rig.tick(0.0, Proposal(0.0, ZERO, (), (0.0,), 0.0, 0))            # malformed ...
    d = rig.tick(0.1, Proposal(0.0, ZERO, (), (), 0.0, 0))           # ... then valid, same stamp and sequence
    assert Reason.LOW_CONFIDENCE in d.reasons


# -- invalid proposals ----------------------------------------------------------------------------------
@pytest.mark.parametrize('kw, reason', [
    ({'vx': math.nan}, Reason.NON_FINITE_PROPOSAL),
    ({'wz': math.inf}, Reason.NON_FINITE_PROPOSAL),
    ({'vy': -math.inf}, Reason.NON_FINITE_PROPOSAL),
    ({'conf': math.nan}, Reason.NON_FINITE_PROPOSAL),
    ({'joints': {'arm': math.nan}}, Reason.NON_FINITE_PROPOSAL),
    ({'vx': 1e300}, Reason.OUT_OF_RANGE_PROPOSAL),
    ({'vx': 5.01}, Reason.OUT_OF_RANGE_PROPOSAL),       # > 10 x max(max_linear_x, max_linear_y)
    ({'wz': -10.01}, Reason.OUT_OF_RANGE_PROPOSAL),
    ({'twist': (0, 0, 5.01, 0, 0, 0)}, Reason.OUT_OF_RANGE_PROPOSAL),
    ({'conf': 1.01}, Reason.OUT_OF_RANGE_PROPOSAL),
    ({'conf': -0.01}, Reason.OUT_OF_RANGE_PROPOSAL),
    ({'joints': {'arm': 20.01}}, Reason.OUT_OF_RANGE_PROPOSAL),    # arm [-1, 1]: 10 x max(|lower|, |upper|, range)
    ({'joints': {'arm': 1e9}}, Reason.OUT_OF_RANGE_PROPOSAL),
    ({'twist': (0.1, 0.0, 0.0)}, Reason.MALFORMED_PROPOSAL),
    ({'twist': 'fast'}, Reason.MALFORMED_PROPOSAL),
    ({'conf': 'high'}, Reason.MALFORMED_PROPOSAL),
    ({'conf': None}, Reason.MALFORMED_PROPOSAL),
])
def test_invalid_proposals_stop_the_robot(kw, reason):
    rig = Rig(**FAST)
    rig.measured = {'arm': 0.2}
    rig.cruise(vx=0.5, joints={'arm': 0.2})
    d = rig.send(0.2, **kw)
    assert d.state == GateStatus.STOP and reason in d.reasons
    assert vx_of(d) == pytest.approx(0.3)             # ramps down like a timeout
    assert d.joint_names == ('arm',) and d.joint_positions == (0.2,)   # holds
    assert all(math.isfinite(v) for v in d.twist)


@pytest.mark.parametrize('prop', [
    Proposal(0.1, (0, 0, 0, 0, 0, 0), ('arm', 'head'), (0.1,), 0.9, 1),        # lengths differ
    Proposal(0.1, (0, 0, 0, 0, 0, 0), ('arm', 'arm'), (0.1, 0.2), 0.9, 1),     # repeated joint
    Proposal(0.1, (0, 0, 0, 0, 0, 0), (3,), (0.1,), 0.9, 1),                   # name not a string
    Proposal(0.1, (0, 0, 0, 0, 0, 0), ('arm',), None, 0.9, 1),
    Proposal(0.1, None, (), (), 0.9, 1),
    Proposal('now', (0, 0, 0, 0, 0, 0), (), (), 0.9, 1),
    Proposal(0.1, (0, 0, 0, 0, 0, 0), (), (), 0.9, 'x'),                      # bad sequence: still judged
])
def test_malformed_proposals(prop):
    rig = Rig()
    d = rig.tick(0.1, prop)
    if prop.sequence == 'x':
        assert d.state != GateStatus.STOP or Reason.MALFORMED_PROPOSAL not in d.reasons
        assert d.proposal_sequence == 0
        return
    assert d.state == GateStatus.STOP and Reason.MALFORMED_PROPOSAL in d.reasons


def test_non_finite_received_time_is_invalid():
    d = Rig().tick(0.0, proposal(math.nan))
    assert d.state == GateStatus.STOP and Reason.NON_FINITE_PROPOSAL in d.reasons


def test_large_but_not_absurd_values_are_clamped():
    rig = Rig(**FAST)
    rig.measured = {'arm': 0.95}
    rig.send(0.0, vx=4.9, joints={'arm': 19.0})
    d = rig.send(0.1, vx=4.9, joints={'arm': 19.0})
    assert vx_of(d) == pytest.approx(0.5) and d.joint_positions == (1.0,)
    assert {Reason.VELOCITY_LIMITED, Reason.JOINT_POSITION_LIMITED} <= set(d.reasons)
    assert d.state == GateStatus.LIMITED


def test_time_since_last_proposal_counts_from_the_newest_valid_one():
    rig = Rig()
    rig.send(1.0)
    d = rig.send(1.5, vx=math.nan)
    assert d.time_since_last_proposal == pytest.approx(0.5)


# -- joints ---------------------------------------------------------------------------------------------
def test_joint_position_and_velocity_limits():
    rig = Rig()                                          # arm: [-1, 1], 2 rad/s
    rig.measured = {'arm': 0.0}
    d = rig.send(0.0, joints={'arm': 5.0})               # dt = 0: stays at the measured position
    assert d.joint_positions == (0.0,)
    assert {Reason.JOINT_POSITION_LIMITED, Reason.JOINT_VELOCITY_LIMITED} <= set(d.reasons)
    path = [rig.send(0.1 * k, joints={'arm': 5.0}).joint_positions[0] for k in range(1, 8)]
    assert path == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0])
    # the reference is the previous command, not the (lagging) measurement
    assert rig.measured == {'arm': 0.0}
    d = rig.send(0.8, joints={'arm': -1.0})
    assert d.joint_positions == pytest.approx((0.8,)) and Reason.JOINT_VELOCITY_LIMITED in d.reasons


def test_joint_within_limits_passes_unchanged():
    rig = Rig()
    rig.measured = {'arm': 0.3, 'head': 0.0}
    rig.send(0.0, joints={'arm': 0.3, 'head': 0.0})
    d = rig.send(0.1, joints={'arm': 0.35, 'head': -0.05})
    assert d.joint_names == ('arm', 'head') and d.joint_positions == pytest.approx((0.35, -0.05))
    assert d.state == GateStatus.PASS


def test_unknown_joints_are_dropped_unless_allowed():
    rig = Rig()
    rig.measured = {'arm': 0.0, 'leg': 0.0}
    d = rig.send(0.0, joints={'arm': 0.0, 'leg': 0.3})
    assert d.joint_names == ('arm',) and Reason.UNKNOWN_JOINT in d.reasons and d.state == GateStatus.LIMITED
    rig = Rig(allow_unknown_joints=True)
    rig.measured = {'arm': 0.0}
    d = rig.send(0.0, joints={'arm': 0.0, 'leg': 123.0})
    assert d.joint_names == ('arm', 'leg') and d.joint_positions == (0.0, 123.0) and d.reasons == ()


def test_a_joint_with_no_reference_waits_for_its_state():
    rig = Rig()
    d = rig.send(0.0, joints={'arm': 0.1})
    assert d.joint_names == () and Reason.JOINT_STATE_UNKNOWN in d.reasons
    rig.measured = {'arm': 0.05}
    d = rig.send(0.1, joints={'arm': 0.1})
    assert d.joint_positions == pytest.approx((0.1,)) and Reason.JOINT_STATE_UNKNOWN not in d.reasons
    rig.measured = {'arm': math.nan}                      # a non-finite measurement is ignored
    assert rig.send(0.2, joints={'arm': 0.2}).joint_positions == pytest.approx((0.2,))


def test_blocked_joints_hold_the_latched_measured_position():
    rig = Rig(**FAST)
    rig.measured = {'arm': 0.3}
    rig.cruise(vx=0.2, joints={'arm': 0.3})
    rig.send(0.2, vx=0.2, joints={'arm': 0.5})            # commanded 0.5 ...
    rig.measured = {'arm': 0.42}                          # ... the arm is at 0.42
    d = rig.send(0.3, vx=0.2, joints={'arm': 0.9}, conf=0.1)
    assert d.state == GateStatus.STOP and d.joint_names == ('arm',) and d.joint_positions == (0.42,)
    rig.measured = {'arm': 0.30}                          # sagging: the hold does not follow
    for k in range(4, 7):
        assert rig.send(0.1 * k, joints={'arm': 0.9}, conf=0.1).joint_positions == (0.42,)
    # release (3 good): resumes from the hold, within the joint speed limit
    ds = [rig.send(0.1 * k, joints={'arm': 0.9}) for k in range(7, 10)]
    assert [d.state for d in ds[:2]] == [GateStatus.STOP] * 2
    assert ds[2].joint_positions == pytest.approx((0.62,)) and Reason.JOINT_VELOCITY_LIMITED in ds[2].reasons


def test_hold_falls_back_to_the_last_command_then_to_nothing():
    rig = Rig()
    rig.measured = {'arm': 0.3}
    rig.send(0.0, joints={'arm': 0.3})
    rig.send(0.1, joints={'arm': 0.4})
    rig.measured = {}
    d = rig.tick(1.0)                                     # timeout
    assert d.joint_names == ('arm',) and d.joint_positions == pytest.approx((0.4,))
    d = Rig().send(0.0, conf=0.1, joints={'arm': 0.3})    # never commanded, never measured
    assert d.joint_names == () and d.joint_positions == ()


def test_hold_covers_the_proposals_joints_and_is_clamped_to_limits():
    rig = Rig()
    rig.measured = {'arm': 1.5, 'head': 0.1}
    d = rig.send(0.0, conf=0.1, joints={'arm': 0.0, 'head': 0.0, 'leg': 0.0})
    assert dict(zip(d.joint_names, d.joint_positions)) == {'arm': 1.0, 'head': 0.1}
    assert Reason.JOINT_POSITION_LIMITED in d.reasons and d.state == GateStatus.STOP


# -- e-stop ---------------------------------------------------------------------------------------------
def test_estop_latches_zeroes_at_once_and_holds_joints():
    rig = Rig(**FAST)
    rig.measured = {'arm': 0.2}
    rig.cruise(vx=0.5, joints={'arm': 0.2})
    before = rig.state
    rig.state = latch_estop(rig.state)
    assert before.estop is False and rig.state.estop is True       # a new state; the old one unchanged
    for k in range(2, 6):
        d = rig.send(0.1 * k, vx=0.5, joints={'arm': 0.5})
        assert d.state == GateStatus.ESTOP and d.reasons == (Reason.ESTOP_LATCHED,)
        assert d.twist == (0.0,) * 6 and d.joint_positions == (0.2,)


def test_estop_reset_never_restarts_motion():
    """ISO 13850: a reset must not start motion. The proposals of the instruction followed before the
    e-stop stay blocked, whatever their confidence; a new instruction (received after the reset) moves."""
    rig = Rig(release_count=2, **FAST)
    rig.cruise(vx=0.5)                                     # instruction 'go' received at t = 0
    rig.state = latch_estop(rig.state)
    rig.send(0.2, vx=0.5)
    rig.state = reset_estop(rig.state, 0.25)
    d = rig.tick(0.25)                                    # the proposal from before the reset
    assert d.state == GateStatus.STOP and d.reasons == (Reason.AWAITING_INSTRUCTION,) and d.twist == ZERO
    for k in range(3, 20):                                # the same instruction, fresh proposals: still held
        d = rig.send(0.1 * k, vx=0.5)
        assert d.state == GateStatus.STOP and d.reasons == (Reason.AWAITING_INSTRUCTION,) and d.twist == ZERO
    d = rig.send(2.0, vx=0.5, instruction='go', instruction_time=1.95)   # the same words, sent again
    assert d.state == GateStatus.PASS and vx_of(d) == pytest.approx(0.5)


def test_an_idle_proposal_ends_the_wait():
    """The proposer dropped its instruction (idle: no instruction, no motion): the wait ends."""
    rig = Rig(**FAST)
    rig.state = await_instruction(rig.state, 10.0)
    assert rig.send(10.1, vx=0.5).reasons == (Reason.AWAITING_INSTRUCTION,)
    d = rig.send(10.2, instruction='')
    assert d.state == GateStatus.PASS and d.twist == ZERO
    d = rig.send(10.3, vx=0.5, instruction='go', instruction_time=10.25)
    assert d.state == GateStatus.PASS and vx_of(d) == pytest.approx(0.5)


def test_an_unknown_instruction_time_never_ends_the_wait():
    rig = Rig(**FAST)
    rig.state = await_instruction(rig.state, 1.0)
    for k in range(11, 20):
        d = rig.send(0.1 * k, vx=0.5, instruction_time=math.nan)
        assert d.state == GateStatus.STOP and d.reasons == (Reason.AWAITING_INSTRUCTION,)


def test_a_clock_jump_back_restarts_the_wait_at_the_new_time():
    rig = Rig(**FAST)
    rig.state = await_instruction(rig.state, 50.0)          # e.g. reset at sim time 50, then the sim restarts
    assert rig.send(1.0, vx=0.5, instruction_time=0.5).reasons == (Reason.AWAITING_INSTRUCTION,)
    assert rig.send(1.1, vx=0.5, instruction_time=0.9).reasons == (Reason.AWAITING_INSTRUCTION,)
    assert rig.send(1.2, vx=0.5, instruction_time=1.15).state == GateStatus.PASS


def test_an_instruction_from_before_a_clock_jump_back_never_moves():
    """Time restarts (a simulator reset, a looping bag) while the proposer keeps an instruction
    stamped on the old time line: it looks 'newer' than the restarted floor, but it lies after
    the proposal's own arrival, so it is not taken as new."""
    rig = Rig(**FAST)
    rig.state = await_instruction(rig.state, 101.0)
    assert rig.send(101.5, vx=0.5, instruction_time=50.0).reasons == (Reason.AWAITING_INSTRUCTION,)
    for k in range(1, 10):
        d = rig.send(0.1 * k, vx=0.5, instruction_time=50.0)
        assert d.state == GateStatus.STOP and Reason.AWAITING_INSTRUCTION in d.reasons and d.twist == ZERO


def test_idle_means_no_motion_and_the_floor_stays_after_a_release():
    rig = Rig(**FAST)
    rig.state = await_instruction(rig.state, 10.0)
    # 'idle' that moves is no idle: it does not end the wait (a proposer that does not stamp instructions)
    assert rig.send(10.1, vx=0.5, instruction='').reasons == (Reason.AWAITING_INSTRUCTION,)
    assert rig.send(10.2, instruction='').state == GateStatus.PASS           # idle: released
    # released, but an instruction from before the reset still never moves: it waits again
    d = rig.send(10.3, vx=0.5, instruction='go', instruction_time=9.0)
    assert d.state == GateStatus.STOP and d.reasons == (Reason.AWAITING_INSTRUCTION,)
    assert rig.send(10.4, vx=0.5, instruction='go', instruction_time=10.35).state == GateStatus.PASS


def test_an_instruction_stamped_after_its_proposal_arrived_does_not_end_the_wait():
    """The proposer's clock is ahead of the gate's (another machine, another time source)."""
    rig = Rig(**FAST)
    rig.state = await_instruction(rig.state, 10.0)
    d = rig.send(10.1, vx=0.5, instruction_time=1.7e9)
    assert d.state == GateStatus.STOP and d.reasons == (Reason.AWAITING_INSTRUCTION,)


def test_a_low_confidence_block_does_not_end_the_wait():
    """The confidence latch and the wait are separate: releasing one does not release the other."""
    rig = Rig(release_count=1, **FAST)
    rig.state = await_instruction(rig.state, 1.0)
    assert rig.send(1.1, conf=0.0).reasons == (Reason.AWAITING_INSTRUCTION, Reason.LOW_CONFIDENCE)
    assert rig.send(1.2, vx=0.5).reasons == (Reason.AWAITING_INSTRUCTION,)
    assert rig.send(1.3, vx=0.5, instruction_time=1.25).state == GateStatus.PASS


def test_reset_without_estop_changes_nothing():
    state = GateState()
    assert reset_estop(state, 1.0) is state


# -- obstacles ------------------------------------------------------------------------------------------
def test_stop_zone_zeroes_the_twist_at_once():
    rig = Rig(**FAST)
    rig.measured = {'arm': 0.0}
    rig.cruise(vx=0.5, joints={'arm': 0.0})
    rig.obstacles([(-0.35, 0.0)], 0.2)                    # 0.05 m behind the 0.3 m footprint
    d = rig.send(0.2, vx=0.5, joints={'arm': 0.1})
    assert d.state == GateStatus.STOP and Reason.OBSTACLE_STOP_ZONE in d.reasons
    assert d.twist == (0.0,) * 6                          # not ramped (0.3 would be)
    assert d.nearest_obstacle_distance == pytest.approx(0.05)
    assert d.joint_positions == pytest.approx((0.1,))      # the zones gate the base only


def test_stop_zone_stops_rotation_too():
    rig = Rig(**FAST)
    rig.obstacles([(0.0, 0.38)], 0.0)
    rig.send(0.0, wz=1.0)
    d = rig.send(0.1, wz=1.0)
    assert d.twist == (0.0,) * 6 and Reason.OBSTACLE_STOP_ZONE in d.reasons


def test_standing_still_next_to_an_obstacle_is_not_a_stop():
    rig = Rig()
    rig.measured = {'arm': 0.0}
    rig.obstacles([(0.35, 0.0)], 0.0)
    rig.send(0.0, joints={'arm': 0.0})
    d = rig.send(0.1, joints={'arm': 0.1})
    assert d.state == GateStatus.PASS and d.reasons == () and d.nearest_obstacle_distance == pytest.approx(0.05)
    assert d.joint_positions == pytest.approx((0.1,))


def test_slowdown_zone_caps_each_axis_and_ramps_within_decel():
    rig = Rig(time_to_collision=0.0, **FAST)
    rig.cruise(vx=0.5, vy=0.3, wz=1.0)
    rig.obstacles([(-0.6, 0.0)], 0.2)                     # 0.3 m from the footprint: SLOWDOWN zone
    d = rig.send(0.2, vx=0.5, vy=0.3, wz=1.0)
    assert d.state == GateStatus.SLOWDOWN and Reason.OBSTACLE_SLOWDOWN_ZONE in d.reasons
    assert d.twist == pytest.approx((0.3, 0.15, 0.0, 0.0, 0.0, 0.6))   # decel 0.2 m/s, 0.4 rad/s per tick
    d = rig.send(0.3, vx=0.5, vy=0.3, wz=1.0)
    assert d.twist == pytest.approx((0.25, 0.15, 0.0, 0.0, 0.0, 0.5))  # 0.5 x the limits
    d = rig.send(0.4, vx=0.1)
    assert vx_of(d) == pytest.approx(0.1)                  # already slow: the cap does not bind


def test_time_to_collision_scales_the_approach():
    rig = Rig(**FAST)
    rig.obstacles([(1.0, y) for y in np.linspace(-0.5, 0.5, 21)], 0.0)   # a wall 1 m ahead
    rig.send(0.0, vx=0.5)
    d = rig.send(0.1, vx=0.5)
    assert d.state == GateStatus.SLOWDOWN and d.reasons == (Reason.TIME_TO_COLLISION,)
    # the grown footprint (0.4 m) meets the wall after 1.2 s at 0.5 m/s: scaled to ~1.1/1.5
    assert 0.5 * 1.0 / 1.5 <= vx_of(d) <= 0.5 * 1.2 / 1.5
    # moving away: no scaling
    rig.send(0.2, vx=-0.3)
    rig.send(0.3, vx=-0.3)
    assert rig.send(0.4, vx=-0.3).reasons == ()
    # off
    rig = Rig(time_to_collision=0.0, **FAST)
    rig.obstacles([(1.0, 0.0)], 0.0)
    assert rig.cruise(vx=0.5).state == GateStatus.PASS


def test_time_to_collision_down_to_zero_is_a_stop():
    rig = Rig(**FAST)
    rig.obstacles([(0.41, 0.0)], 0.0)                     # 0.11 m: outside the STOP zone, inside SLOWDOWN
    d = rig.cruise(vx=0.5)
    assert d.twist == (0.0,) * 6 and d.state == GateStatus.STOP
    assert d.reasons == (Reason.TIME_TO_COLLISION, Reason.OBSTACLE_SLOWDOWN_ZONE)


def test_polygon_footprint():
    rig = Rig(footprint=[0.3, 0.1, -0.3, 0.1, -0.3, -0.1, 0.3, -0.1], **FAST)   # long in x
    rig.obstacles([(0.0, 0.25)], 0.0)                     # 0.15 m beside: SLOWDOWN zone only
    d = rig.cruise(vx=0.5)
    assert Reason.OBSTACLE_SLOWDOWN_ZONE in d.reasons and vx_of(d) == pytest.approx(0.25)
    rig.obstacles([(0.35, 0.0)], 0.2)                     # 0.05 m ahead of the nose
    assert rig.send(0.2, vx=0.5).twist == (0.0,) * 6


def test_min_points_filters_single_returns():
    rig = Rig(min_points=3, **FAST)
    rig.obstacles([(0.35, 0.0)], 0.0)
    assert Reason.OBSTACLE_STOP_ZONE not in rig.cruise(vx=-0.2).reasons
    rig.obstacles([(0.35, 0.0), (0.35, 0.01), (0.35, -0.01)], 0.1)
    assert Reason.OBSTACLE_STOP_ZONE in rig.send(0.2, vx=-0.2).reasons


# -- obstacle sources -----------------------------------------------------------------------------------
def test_required_source_never_arrived():
    rig = Rig(**FAST)
    rig.sensors = SensorSnapshot({}, {'scan'})
    rig.measured = {'arm': 0.0}
    rig.send(0.0, joints={'arm': 0.0})
    d = rig.send(0.1, vx=0.5, joints={'arm': 0.1})
    assert d.state == GateStatus.STOP and d.reasons == ('scan_timeout',) and d.twist == (0.0,) * 6
    assert d.joint_positions == pytest.approx((0.1,))      # joints go on: sources gate the base
    rig.sensors = SensorSnapshot({'scan': SourceReading(None, 0.1)}, {'scan'})   # a stamp but no data
    assert 'scan_timeout' in rig.send(0.2).reasons


def test_stale_required_source_ramps_the_base_down():
    rig = Rig(**FAST)
    rig.obstacles([], 0.0)
    rig.cruise(vx=0.5)
    d = rig.send(0.5, vx=0.5)                             # age 0.5 = source_timeout: still fresh
    assert d.reasons == () and vx_of(d) == pytest.approx(0.5)
    d = rig.send(0.6, vx=0.5)
    assert d.state == GateStatus.STOP and d.reasons == ('scan_timeout', Reason.ACCELERATION_LIMITED)
    assert vx_of(d) == pytest.approx(0.3)


def test_per_source_timeout_and_future_stamps():
    rig = Rig(source_timeouts={'scan': 0.1})
    rig.obstacles([], 0.0)
    assert 'scan_timeout' in rig.send(0.2).reasons
    rig = Rig()
    rig.obstacles([], 5.0)                               # stamped in the future: the clock jumped
    assert 'scan_timeout' in rig.send(1.0).reasons


def test_optional_stale_sources_are_ignored():
    rig = Rig(**FAST)
    rig.obstacles([(0.35, 0.0)], 0.0, name='depth', required=False)
    d = rig.cruise(vx=0.5, t0=1.0)                        # the depth data is 1 s old: not used
    assert d.state == GateStatus.PASS and d.nearest_obstacle_distance == math.inf


def test_several_sources_are_merged():
    rig = Rig(**FAST)
    rig.sensors = SensorSnapshot({'scan': (np.array([[2.0, 0.0]]), 0.0), 'depth': (np.array([[-0.35, 0.0]]), 0.0)},
                                 {'scan', 'depth'})
    d = rig.cruise(vx=0.2)
    assert Reason.OBSTACLE_STOP_ZONE in d.reasons and d.nearest_obstacle_distance == pytest.approx(0.05)


def test_source_reading_drops_non_finite_points_and_is_read_only():
    r = SourceReading([[1.0, 0.0], [math.nan, 0.0], [0.0, math.inf], [0.5, 0.5], [1e300, 0.0]], 0)
    assert r.points.tolist() == [[1.0, 0.0], [0.5, 0.5]] and isinstance(r.received_time, float)
    with pytest.raises(ValueError):
        r.points[0, 0] = 3.0
    with pytest.raises(ValueError):
        SourceReading([1.0, 2.0, 3.0], 0.0)


# -- combinations ---------------------------------------------------------------------------------------
def test_low_confidence_and_an_obstacle_both_reported_and_zero_at_once():
    rig = Rig(**FAST)
    rig.cruise(vx=0.5)
    rig.obstacles([(0.38, 0.0)], 0.2)
    d = rig.send(0.2, vx=0.5, conf=0.1)
    assert d.state == GateStatus.STOP and d.twist == (0.0,) * 6
    assert d.reasons == (Reason.LOW_CONFIDENCE, Reason.OBSTACLE_STOP_ZONE)


def test_estop_with_timeouts_lists_everything_estop_wins():
    rig = Rig(**FAST)
    rig.sensors = SensorSnapshot({}, {'scan', 'depth'})
    rig.cruise(vx=0.5)
    rig.state = latch_estop(rig.state)
    d = rig.tick(1.0)
    assert d.state == GateStatus.ESTOP
    assert d.reasons == (Reason.ESTOP_LATCHED, Reason.PROPOSAL_TIMEOUT, 'depth_timeout', 'scan_timeout')
    assert d.message == 'ESTOP: estop_latched, proposal_timeout, depth_timeout, scan_timeout'


def test_no_proposal_and_no_sensor():
    rig = Rig()
    rig.sensors = SensorSnapshot({}, {'scan'})
    d = rig.tick(0.0, None)
    assert d.state == GateStatus.STOP and d.reasons == (Reason.NO_PROPOSAL_YET, 'scan_timeout')


def test_step_does_not_change_its_inputs():
    rig = Rig(**FAST)
    rig.measured = {'arm': 0.0}
    rig.cruise(vx=0.5, joints={'arm': 0.0})
    state = rig.state
    snapshot = (state.twist, dict(state.joint_targets), state.time)
    measured = dict(rig.measured)
    rig.send(0.2, vx=0.1, joints={'arm': 0.3}, conf=0.1)
    assert (state.twist, dict(state.joint_targets), state.time) == snapshot and rig.measured == measured
    with pytest.raises(TypeError):
        rig.state.joint_targets['arm'] = 1.0


def test_params_and_state_can_be_copied_and_pickled():
    import copy
    import pickle
    rig = Rig(footprint=[0.3, 0.1, -0.3, 0.1, -0.3, -0.1, 0.3, -0.1], source_timeouts={'scan': 0.2})
    rig.measured = {'arm': 0.1}
    rig.send(0.0, joints={'arm': 0.1})
    for obj in (rig.params, rig.state, rig.sensors):
        assert copy.deepcopy(obj) == obj and pickle.loads(pickle.dumps(obj)) == obj
    p2 = pickle.loads(pickle.dumps(rig.params))
    assert p2.footprint_shape.polygon is not None and p2.joint_limits['arm'] == LIMITS['arm']
