"""The scenario benchmark's figures, from hand-made series (no ROS, no simulator)."""
import math

import pytest

from vla_bringup.stop_metrics import STOPPED_BELOW, Sample, Targets, score

DT = 0.02


def series(spec):
    """spec: list of (duration s, speed m/s or callable(t in segment), limit, move, clearance, contacts)."""
    out, t = [], 0.0
    for dur, speed, limit, move, *rest in spec:
        clearance = rest[0] if rest else math.inf
        contacts = frozenset(rest[1]) if len(rest) > 1 else frozenset()
        for k in range(int(round(dur / DT))):
            v = speed(k * DT) if callable(speed) else speed
            out.append(Sample(round(t, 6), v, limit, move, clearance, contacts))
            t += DT
    return out


def ramp_down(v0, decel):
    return lambda t: max(v0 - decel * t, 0.0)


def test_a_clean_stop_and_resume():
    s = series([(2.0, 0.5, None, True),                          # walking
                (0.1, 0.5, 0.0, False),                          # obstacle in the stop zone: 0.1 s reaction
                (2.9, ramp_down(0.5, 5.0), 0.0, False),          # then 0.1 s to stop
                (0.2, 0.0, None, True),                          # obstacle gone: 0.2 s to restart
                (2.0, 0.5, None, True)])
    f = score(s)
    assert f.time_to_stop == pytest.approx(0.2, abs=DT)
    assert f.stopped_share == 1.0
    assert f.time_to_resume == pytest.approx(0.2, abs=DT)
    assert f.false_stops == 0.0
    assert f.stop_episodes == 1 and f.resume_episodes == 1
    assert f.required_time == pytest.approx(3.0, abs=DT)
    assert all(f.passes(Targets()).values())


def test_a_slow_stop_and_a_creep_while_required_are_misses():
    s = series([(1.0, 0.5, None, True),
                (0.5, 0.5, 0.0, False),                          # 0.5 s before it starts braking
                (1.5, ramp_down(0.5, 2.0), 0.0, False),
                (1.0, 0.05, 0.0, False),                         # creeps at 5 cm/s for 1 s of 3 s
                (1.0, 0.0, 0.0, False)])
    f = score(s)
    assert f.time_to_stop == pytest.approx(0.5 + 0.24, abs=1.5 * DT)   # 0.5 -> 0.02 at 2 m/s^2
    # required time past the 0.3 s allowance: 3.7 s; not complying: 0.2 + 0.24 braking + 1.0 creeping
    assert f.stopped_share == pytest.approx(1 - (0.2 + 0.24 + 1.0) / 3.7, abs=0.02)
    p = f.passes(Targets())
    assert p['time_to_stop'] is False and p['stopped_share'] is False
    assert p['time_to_resume'] is None and f.time_to_resume is None   # nothing to resume from


def test_never_stopping_is_an_infinite_time_to_stop():
    f = score(series([(1.0, 0.5, None, True), (1.0, 0.5, 0.0, False), (1.0, 0.5, None, True)]))
    assert f.time_to_stop == math.inf and f.stopped_share == 0.0
    assert f.time_to_resume == 0.0                                   # it never stopped


def test_a_speed_limit_is_complied_with_under_the_limit():
    s = series([(1.0, 0.5, None, True),
                (0.2, 0.5, 0.2, True),                           # the limit drops to 0.2 m/s
                (1.8, 0.2 + STOPPED_BELOW / 2, 0.2, True)])
    f = score(s)
    assert f.time_to_stop == pytest.approx(0.2, abs=DT)
    assert f.stopped_share == 1.0 and f.false_stops == 0.0


def test_stops_without_a_reason_are_false_stops_and_dont_care_time_is_not_scored():
    s = series([(0.3, ramp_down(0.0, 0.0), None, True),          # start from rest: within the allowance
                (1.7, 0.5, None, True),
                (1.0, 0.0, None, True),                          # stopped for no reason: 1 s of 4.4 s
                (2.0, 0.0, None, False),                         # near an obstacle: don't care
                (1.0, 0.5, None, True)])
    f = score(s)
    move_scored = (3.0 - 0.6) + (1.0 - 0.6)
    assert f.false_stops == pytest.approx(1.0 / move_scored, abs=0.02)
    assert f.time_to_stop is None and f.stopped_share is None
    assert f.time_to_resume == pytest.approx(0.0)                    # moving at once when expected
    assert f.passes(Targets())['false_stops'] is False


def test_resuming_too_late_is_a_miss():
    s = series([(1.0, 0.5, None, True), (2.0, 0.0, 0.0, False), (1.5, 0.0, None, True), (1.0, 0.4, None, True)])
    f = score(s)
    assert f.time_to_resume == pytest.approx(1.5, abs=DT)
    assert f.passes(Targets())['time_to_resume'] is False
    assert f.false_stops > 0.0                                       # 0.9 s of the 1.9 s scored


def test_contacts_count_each_touch_once_and_clearance_is_the_minimum():
    s = series([(1.0, 0.5, None, True, 0.8), (0.5, 0.1, None, False, 0.0, {'red_box'}),
                (0.5, 0.0, None, False, 0.05), (0.2, 0.0, None, False, 0.0, {'red_box', 'wall_north'})])
    f = score(s)
    assert f.contacts == 3 and f.contact_objects == ('red_box', 'wall_north')
    assert f.min_clearance == 0.0
    assert f.passes(Targets())['contacts'] is False
    assert score(series([(1.0, 0.5, None, True, 0.3)])).min_clearance == 0.3


def test_samples_out_of_order_are_refused():
    with pytest.raises(ValueError, match='time order'):
        score([Sample(1.0, 0.0), Sample(0.5, 0.0)])
