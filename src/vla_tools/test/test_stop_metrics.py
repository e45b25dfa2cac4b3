"""The scenario benchmark's figures, from hand-made series (no ROS, no simulator)."""
import math

import pytest

from vla_tools.stop_metrics import STOPPED_BELOW, Command, Sample, Targets, score, spread

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
    f = score(s, commands=[Command(0.0, 0.5), Command(2.08, 0.0), Command(5.1, 0.5)])
    assert f.time_to_stop == pytest.approx(0.08, abs=1e-6)
    assert f.time_to_still == pytest.approx(0.2, abs=DT)
    assert f.stopped_share == 1.0
    assert f.time_to_resume == pytest.approx(0.2, abs=DT)
    assert f.false_stops == 0.0
    assert f.stop_episodes == 1 and f.resume_episodes == 1
    assert f.required_time == pytest.approx(3.0, abs=DT)
    assert f.details['command_time_to_resume_each'] == [pytest.approx(0.1, abs=DT)]
    passes = f.passes(Targets())
    assert passes.pop('time_to_still') is None and all(passes.values())


def test_a_slow_stop_and_a_creep_while_required_are_misses():
    s = series([(1.0, 0.5, None, True),
                (0.5, 0.5, 0.0, False),                          # 0.5 s before it starts braking
                (1.5, ramp_down(0.5, 2.0), 0.0, False),
                (1.0, 0.05, 0.0, False),                         # creeps at 5 cm/s for 1 s of 3 s
                (1.0, 0.0, 0.0, False)])
    f = score(s, commands=[Command(0.0, 0.5), Command(1.5, 0.3), Command(1.6, 0.0)])   # zero 0.6 s late
    assert f.time_to_stop == pytest.approx(0.6)
    assert f.time_to_still == pytest.approx(0.5 + 0.24, abs=1.5 * DT)   # 0.5 -> 0.02 at 2 m/s^2
    # required time past the 0.3 s allowance: 3.7 s; not complying: 0.2 + 0.24 braking + 1.0 creeping
    assert f.stopped_share == pytest.approx(1 - (0.2 + 0.24 + 1.0) / 3.7, abs=0.02)
    p = f.passes(Targets())
    assert p['time_to_stop'] is False and p['time_to_still'] is None and p['stopped_share'] is False
    assert p['time_to_resume'] is None and f.time_to_resume is None   # nothing to resume from


def test_never_stopping_is_an_infinite_time_to_stop():
    f = score(series([(1.0, 0.5, None, True), (1.0, 0.5, 0.0, False), (1.0, 0.5, None, True)]))
    assert f.time_to_still == math.inf and f.stopped_share == 0.0
    assert f.time_to_resume == 0.0                                   # it never stopped


def test_a_speed_limit_is_complied_with_under_the_limit():
    s = series([(1.0, 0.5, None, True),
                (0.2, 0.5, 0.2, True),                           # the limit drops to 0.2 m/s
                (1.8, 0.2 + STOPPED_BELOW / 2, 0.2, True)])
    f = score(s)
    assert f.time_to_still == pytest.approx(0.2, abs=DT)
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
    assert f.time_to_still is None and f.stopped_share is None
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


def test_time_to_stop_is_read_at_the_command_level_and_time_to_still_from_the_base():
    # stop required at 1.0 s; the gate publishes 0.25 (walking) every 0.1 s, then a ramp step
    # (0.05) at 1.1 and zero at 1.2; the base is under 0.02 m/s only from 1.3
    s = series([(1.0, 0.25, None, True), (0.3, 0.25, 0.0, False), (1.0, 0.0, 0.0, False)])
    cmds = [Command(round(0.1 * k, 3), 0.25) for k in range(11)] + [Command(1.1, 0.05), Command(1.2, 0.0),
                                                                   Command(1.3, 0.0)]
    f = score(s, commands=cmds)
    assert f.time_to_stop == pytest.approx(0.2)
    assert f.time_to_still == pytest.approx(0.3, abs=DT)
    assert f.passes(Targets())['time_to_stop'] is True and f.passes(Targets())['time_to_still'] is None
    assert score(s).time_to_stop is None                             # no commands: not scored
    assert score(s).time_to_still == pytest.approx(0.3, abs=DT)


def test_a_stop_already_commanded_is_zero_and_one_never_commanded_is_infinite():
    s = series([(1.0, 0.25, None, True), (1.0, 0.1, 0.0, False)])
    assert score(s, commands=[Command(0.5, 0.25), Command(0.9, 0.0)]).time_to_stop == 0.0
    assert score(s, commands=[Command(0.5, 0.25), Command(1.5, 0.05)]).time_to_stop == math.inf
    # a stopping command after the requirement ended does not count for it
    s2 = series([(1.0, 0.25, None, True), (0.5, 0.25, 0.0, False), (0.5, 0.25, None, True)])
    assert score(s2, commands=[Command(0.5, 0.25), Command(1.7, 0.0)]).time_to_stop == math.inf


def test_a_requirement_outside_the_command_level_is_left_to_time_to_still():
    s = [Sample(round(k * DT, 6), 0.25 if k < 60 else 0.0, None if k < 50 else 0.0, k < 50,
                command_level=k < 50) for k in range(100)]
    f = score(s, commands=[Command(0.1, 0.25)])                      # the gate died: no stop command came
    assert f.time_to_stop is None
    assert f.time_to_still == pytest.approx(0.2, abs=DT)


def test_a_limit_complies_at_the_command_level_with_the_first_command_under_it():
    s = series([(1.0, 0.25, None, True), (1.0, 0.25, 0.1, True)])
    f = score(s, commands=[Command(0.9, 0.25), Command(1.05, 0.25), Command(1.15, 0.11), Command(1.25, 0.1)])
    assert f.time_to_stop == pytest.approx(0.15)


def test_commands_out_of_order_are_refused():
    with pytest.raises(ValueError, match='time order'):
        score([Sample(0.0, 0.0)], commands=[Command(1.0, 0.0), Command(0.5, 0.0)])


def test_the_spread_over_runs_is_median_worst_and_runs_meeting_the_target():
    sp = spread([0.2, 0.1, None, 0.4], [True, True, None, False])
    assert (sp.median, sp.worst, sp.runs, sp.met) == (pytest.approx(0.2), 0.4, 3, 2)
    assert spread([0.1, 0.3], []).median == pytest.approx(0.2) and spread([0.1, 0.3], []).met is None
    assert spread([0.99, 1.0, 0.5], worst_is_low=True).worst == 0.5
    assert spread([0.1, math.inf, math.inf]).median == math.inf
    assert spread([None, None]) is None
