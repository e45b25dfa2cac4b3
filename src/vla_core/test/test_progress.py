"""The progress check (vla_core.progress) and the runner's use of it: proposals the base does not carry
out get confidence 0 for a window, then the policy gets another. Real policies, times passed in."""
import math

import numpy as np
import pytest

from vla_core.embodiment import load_embodiment
from vla_core.policy import Observation, Policy, PolicyOutput
from vla_core.progress import TURN_RADIUS, ProgressCheck, motion
from vla_core.runner import PolicyRunner, RunnerConfig

DT = 0.1
WALK = (0.4, 0.0, 0.0, 0.0, 0.0, 0.0)
TURN = (0.0, 0.0, 0.0, 0.0, 0.0, 0.8)


def drive(check, seconds, twist, speed_made=1.0, start=0.0, pose=(0.0, 0.0, 0.0)):
    """Command ``twist`` for ``seconds``; the base carries out ``speed_made`` of it. Returns the
    pose reached and the last time."""
    x, y, yaw = pose
    t = start
    for _ in range(int(round(seconds / DT))):
        t += DT
        check.commanded(t, twist, DT)
        x += speed_made * twist[0] * DT * math.cos(yaw)
        y += speed_made * twist[0] * DT * math.sin(yaw)
        yaw += speed_made * twist[5] * DT
        check.measured(t, (x, y, yaw))
    return (x, y, yaw), t


def test_motion_counts_turns_at_the_turn_radius():
    assert motion(0.5, 0.0) == 0.5
    assert motion(0.0, -2.0) == pytest.approx(2.0 * TURN_RADIUS)


def test_a_base_that_does_what_is_asked_never_stalls():
    check = ProgressCheck(window=3.0)
    check.reset(0.0)
    pose, t = drive(check, 5.0, WALK)
    assert check.stall(t) is None
    pose, t = drive(check, 5.0, TURN, start=t, pose=pose)
    assert check.stall(t) is None
    drive(check, 5.0, WALK, speed_made=0.3, start=t, pose=pose)       # slowed by the gate, still moving
    assert check.stall(t + 5.0) is None


def test_a_blocked_base_stalls_once_a_window_is_recorded():
    check = ProgressCheck(window=3.0, min_commanded=0.05, min_fraction=0.2)
    check.reset(0.0)
    _, t = drive(check, 2.5, WALK, speed_made=0.0)
    assert check.stall(t) is None, 'judged before a whole window was recorded'
    _, t = drive(check, 1.0, WALK, speed_made=0.0, start=t)
    stall = check.stall(t)
    assert stall is not None and stall.made == 0.0
    assert stall.commanded == pytest.approx(0.4 * stall.window, rel=0.05)
    assert 'no progress' in stall.describe() and f'{stall.commanded:.2f} m' in stall.describe()


def test_a_turn_in_place_that_does_not_turn_stalls():
    check = ProgressCheck(window=3.0)
    check.reset(0.0)
    _, t = drive(check, 4.0, TURN, speed_made=0.05)
    assert check.stall(t) is not None


def test_too_little_asked_is_not_judged_and_window_zero_is_off():
    check = ProgressCheck(window=3.0, min_commanded=0.05)
    check.reset(0.0)
    _, t = drive(check, 5.0, (0.01, 0, 0, 0, 0, 0), speed_made=0.0)     # 0.03 m asked in 3 s
    assert check.stall(t) is None
    arrived = ProgressCheck()                   # the defaults: a policy at its object, nudging at 0.05 m/s
    arrived.reset(0.0)
    _, t = drive(arrived, 5.0, (0.05, 0, 0, 0, 0, 0.1), speed_made=0.0)
    assert arrived.stall(t) is None
    off = ProgressCheck(window=0.0)
    off.reset(0.0)
    _, t = drive(off, 5.0, WALK, speed_made=0.0)
    assert off.judge(t) is None


def test_no_odometry_is_no_verdict():
    check = ProgressCheck(window=3.0)
    check.reset(0.0)
    for i in range(1, 50):
        check.commanded(i * DT, WALK, DT)
        check.measured(i * DT, None)
    assert check.stall(4.9) is None


def test_a_stall_holds_for_a_window_then_the_record_starts_afresh():
    check = ProgressCheck(window=3.0)
    check.reset(0.0)
    pose, t = drive(check, 3.5, WALK, speed_made=0.0)
    stall = check.judge(t)
    assert stall is not None
    assert check.judge(t + 2.9) is stall                                 # held for the window
    # the way is clear again: the base carries out what is asked, and nothing is held any more
    pose, t2 = drive(check, 0.5, WALK, start=t + 3.0, pose=pose)
    assert check.judge(t2) is None
    pose, t3 = drive(check, 4.0, WALK, start=t2, pose=pose)
    assert check.judge(t3) is None
    # blocked again: a new stall, one window later
    _, t4 = drive(check, 3.5, WALK, speed_made=0.0, start=t3, pose=pose)
    again = check.judge(t4)
    assert again is not None and again is not stall


def test_a_new_instruction_forgets_the_record():
    check = ProgressCheck(window=3.0)
    check.reset(0.0)
    _, t = drive(check, 3.5, WALK, speed_made=0.0)
    assert check.judge(t) is not None
    check.reset(t)
    assert check.judge(t + 0.1) is None


class Walker(Policy):
    """Always proposes walking forward at half speed, confidence 0.9."""
    name = 'walker'
    n_action_steps = 1
    chunk_step_dt = DT

    def reset(self):
        pass

    def infer(self, obs):
        return PolicyOutput(np.array([[0.5, 0.0]], dtype=np.float32), confidence=0.9, step_dt=DT)


def run(runner, seconds, blocked, start=0.0, pose=(0.0, 0.0, 0.0)):
    """A lockstep loop on a base that moves as commanded unless ``blocked``; (confidences per call,
    refusals per call, pose, time)."""
    x, y, yaw = pose
    confs, refusals = [], []
    t = start
    for _ in range(int(round(seconds / DT))):
        if runner.call_due(t):
            r = runner.call(Observation(np.zeros((4, 4, 3), np.uint8), runner.instruction, {}, stamp=t,
                                        base_pose=(x, y, yaw)))
            runner.accept(r)
            confs.append(r.output.confidence)
            refusals.append(r.refused)
        tick = runner.tick(t)
        if tick.command is not None and tick.command.confidence > 0.5 and not blocked:
            x += tick.command.command.twist[0] * DT
        t += DT
    return confs, refusals, (x, y, yaw), t


def test_the_runner_refuses_a_stalled_instruction_for_a_window_and_lets_it_walk_on():
    runner = PolicyRunner(Walker(), load_embodiment('diff_drive'), RunnerConfig())
    runner.set_instruction('walk forward', 0.0)
    confs, refusals, pose, t = run(runner, 6.0, blocked=True)
    assert 'no_progress' in refusals and confs[refusals.index('no_progress')] == 0.0
    assert runner.stall is not None and runner.stall.made == 0.0
    assert refusals[:25] == [''] * 25, 'refused before a window was recorded'
    # the way clears: within a window it is proposed with its confidence again, and walks
    confs, refusals, pose2, t = run(runner, 5.0, blocked=False, start=t, pose=pose)
    assert refusals[-1] == '' and confs[-1] == pytest.approx(0.9) and pose2[0] > pose[0] + 0.2
    assert runner.stall is None


def test_the_runner_does_not_judge_with_the_check_off_or_without_odometry():
    runner = PolicyRunner(Walker(), load_embodiment('diff_drive'), RunnerConfig(progress_window=0.0))
    runner.set_instruction('walk forward', 0.0)
    _, refusals, _, _ = run(runner, 8.0, blocked=True)
    assert set(refusals) == {''}
    runner = PolicyRunner(Walker(), load_embodiment('diff_drive'), RunnerConfig())
    runner.set_instruction('walk forward', 0.0)
    for i in range(80):
        t = i * DT
        if runner.call_due(t):
            r = runner.call(Observation(np.zeros((4, 4, 3), np.uint8), runner.instruction, {}, stamp=t))
            runner.accept(r)
            assert r.refused == ''
        runner.tick(t)


def test_a_live_change_of_the_window_applies_to_the_running_instruction():
    runner = PolicyRunner(Walker(), load_embodiment('diff_drive'), RunnerConfig(progress_window=10.0))
    runner.set_instruction('walk forward', 0.0)
    _, refusals, pose, t = run(runner, 4.0, blocked=True)
    assert set(refusals) == {''}
    runner.reconfigure(RunnerConfig(progress_window=2.0, progress_min_commanded=0.1))
    _, refusals, _, _ = run(runner, 1.0, blocked=True, start=t, pose=pose)
    assert 'no_progress' in refusals


@pytest.mark.parametrize('field,value', [('progress_window', -1.0), ('progress_window', 61.0),
                                         ('progress_min_commanded', -0.1), ('progress_min_fraction', 1.5)])
def test_bad_progress_settings_are_refused_with_their_name(field, value):
    with pytest.raises(ValueError, match=field):
        RunnerConfig(**{field: value})
