"""The lockstep runner drives any vla_policy Policy; the scripted expert solves every task."""
import numpy as np
import pytest

from vla_core.policy import Observation, Policy, PolicyOutput
from vla_core.embodiment import load_embodiment
from vla_sim.expert import ScriptedExpert
from vla_core.runner import RunnerConfig
from vla_sim.lockstep import LockstepConfig, run_episode
from vla_sim.tasks import TASKS, make_task
from vla_sim.world import sample_world

EMB = load_embodiment('vla_humanoid')


class Recorder(Policy):
    """A camera policy stand-in: records what it sees, returns a fixed physical command."""

    name = 'recorder'

    def __init__(self, twist=(0.0, 0.0, 0.0), joints=None, chunk=1, value=None, confidence=0.9) -> None:
        self.twist, self.joints, self.chunk, self.value = twist, joints or {}, chunk, value
        self.confidence = confidence
        self.seen: list[Observation] = []
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1

    def infer(self, obs: Observation) -> PolicyOutput:
        self.seen.append(obs)
        if self.value is not None:
            a = np.full(EMB.action_dim, self.value, dtype=np.float32)
        else:
            vx, vy, wz = self.twist
            joints = {'head_tilt_joint': 0.3, **self.joints}
            for j in EMB.joint_names:
                joints.setdefault(j, 0.0)
            a = EMB.encode((vx, vy, 0, 0, 0, wz), joints)
        return PolicyOutput(np.repeat(a[None], self.chunk, axis=0), confidence=self.confidence, step_dt=0.1)


@pytest.fixture(scope='module')
def expert(sim):
    return ScriptedExpert(EMB, sim=sim)


@pytest.mark.parametrize('task', list(TASKS))
def test_expert_solves_every_task(sim, expert, task):
    """A few seeded episodes per task here; `python -m vla_tools.sim_benchmark` runs 50 (>= 98 % each)."""
    for seed in (0, 1, 2):
        r = run_episode(expert, task, seed, sim=sim)
        assert r.success, f'{task} seed {seed}: "{r.instruction}" failed after {r.time:.1f} s'
        assert r.time < r.time_limit and r.collisions == 0 and r.invalid_actions == 0
        assert r.policy_calls == r.steps     # one inference per control step


def test_expert_is_privileged_and_needs_the_sim(sim):
    assert ScriptedExpert.privileged is True
    with pytest.raises(ValueError, match='privileged'):
        ScriptedExpert(EMB)
    e = ScriptedExpert(EMB, sim=sim)
    sim.reset(0)
    with pytest.raises(RuntimeError, match='no task'):
        e.infer(Observation(np.zeros((4, 4, 3), np.uint8), 'wave'))


def test_expert_is_reachable_through_the_policy_registry(sim):
    from vla_policy.registry import make_policy
    p = make_policy('vla_sim.expert:ScriptedExpert', EMB, sim=sim)
    assert isinstance(p, ScriptedExpert) and p.privileged


def test_idle_policy_fails_the_motion_tasks(sim):
    idle = Recorder()
    for task in ('walk_to', 'turn_left', 'turn_right', 'raise_left_arm', 'raise_both_arms', 'wave'):
        r = run_episode(idle, task, 0, sim=sim)
        assert not r.success and r.time == pytest.approx(r.time_limit)
    assert run_episode(idle, 'stop', 0, sim=sim).success      # doing nothing is how to stop


def test_a_camera_policy_sees_rendered_images_and_its_commands_are_applied(sim):
    p = Recorder(twist=(0.3, 0.0, 0.0), joints={'left_shoulder_pitch_joint': -1.0})
    cfg = LockstepConfig(image_size=(64, 80), depth=True)
    r = run_episode(p, 'turn_left', 5, sim=sim, config=cfg)
    assert p.resets == 1 and not r.success
    assert r.steps == 60 and len(p.seen) == 60
    obs = p.seen[10]
    assert obs.image.shape == (64, 80, 3) and obs.image.std() > 5          # rendered, not blank
    assert obs.depth.shape == (64, 80) and 0.03 < np.nanmin(obs.depth) < np.nanmax(obs.depth) < 20
    assert obs.instruction == r.instruction == make_task('turn_left', sample_world(5), 5).instruction
    assert obs.stamp == pytest.approx(1.0)
    assert obs.joint_positions['left_shoulder_pitch_joint'] == pytest.approx(-1.0, abs=0.05)
    # the gate ramps the twist up at 1 m/s^2 from a standstill (and slows it near obstacles)
    assert r.path_length == pytest.approx(0.3 * 6.0, rel=0.1) or r.gate_counts.get('SLOWDOWN')


def test_privileged_policies_skip_rendering_unless_recording(sim, expert):
    r = run_episode(expert, 'raise_right_arm', 0, sim=sim)
    assert r.trajectory is None
    frames = sim.camera.frames
    r = run_episode(expert, 'raise_right_arm', 0, sim=sim, config=LockstepConfig(record=True, image_size=(32, 32)))
    arrays = r.trajectory.as_arrays()
    assert sim.camera.frames - frames == r.steps
    assert arrays['images'].shape == (r.steps, 32, 32, 3)
    assert arrays['actions'].shape == (r.steps, EMB.action_dim)
    assert arrays['joint_positions'].shape == (r.steps, len(sim.joint_names))
    assert np.all(np.abs(arrays['actions']) <= 1.0 + 1e-6)


def test_action_chunks_are_executed_open_loop(sim):
    p = Recorder(twist=(0.0, 0.0, 0.5), chunk=5)
    r = run_episode(p, 'turn_right', 1, sim=sim, config=LockstepConfig(runner=RunnerConfig(call_every_ticks=5)))
    assert r.steps == 60 and r.policy_calls == 12
    r = run_episode(p, 'turn_right', 1, sim=sim, config=LockstepConfig(runner=RunnerConfig(call_every_ticks=10)))
    assert r.policy_calls == 12                               # a 5-step chunk cannot serve 10 steps


def test_every_command_goes_through_the_safety_gate(sim):
    """Full speed ahead: without the gate the robot runs into something; with it (the default)
    it never touches anything, and the gate's states are reported. A low confidence is a stop."""
    ahead = Recorder(twist=(0.5, 0.0, 0.0))
    cfg = LockstepConfig(image_size=(8, 8))
    raw = run_episode(ahead, 'walk_to', 2, sim=sim, config=LockstepConfig(image_size=(8, 8), gate=False))
    gated = run_episode(ahead, 'walk_to', 2, sim=sim, config=cfg)
    assert raw.collisions > 0 and raw.gate_counts == {}
    assert gated.collisions == 0 and gated.gate_counts.get('STOP', 0) > 0
    assert sum(gated.gate_counts.values()) == gated.steps
    unsure = run_episode(Recorder(twist=(0.5, 0.0, 0.0), confidence=0.2), 'walk_to', 2, sim=sim, config=cfg)
    assert unsure.path_length < 0.01 and unsure.gate_counts == {'STOP': unsure.steps}


def test_non_finite_actions_stop_the_robot(sim):
    p = Recorder(value=float('nan'))
    r = run_episode(p, 'stop', 3, sim=sim)                   # starts while walking
    assert r.invalid_actions == r.policy_calls == r.steps > 0
    assert r.success                                          # no chunk -> the gate stops it, joints hold


def test_wrong_action_dimension_is_an_error(sim):
    class Short(Recorder):
        def infer(self, obs):
            return PolicyOutput(np.zeros((1, 3), np.float32), confidence=1.0)
    with pytest.raises(ValueError, match='3-dim actions'):
        run_episode(Short(), 'wave', 0, sim=sim)


def test_config_and_task_validation(sim, expert):
    with pytest.raises(ValueError, match='render'):
        LockstepConfig(render='sometimes')
    with pytest.raises(ValueError, match='whole number'):
        run_episode(expert, 'wave', 0, sim=sim, config=LockstepConfig(runner=RunnerConfig(control_rate_hz=1 / 0.0123)))
    other = make_task('walk_to', sample_world(0), 0)
    missing = next(s for s in range(1, 50) if other.target not in sample_world(s).names)
    with pytest.raises(ValueError, match='not in the world'):
        run_episode(expert, other, missing, sim=sim)


def test_a_task_can_start_from_another_posture(sim):
    """initial_joints: the episode starts with the left arm raised (what 'raise your left arm' left)."""
    import dataclasses
    task = dataclasses.replace(make_task('walk_to', sample_world(0), 0),
                               initial_joints=(('left_shoulder_pitch_joint', -2.8), ('head_pan_joint', 0.5)))
    seen = Recorder(joints={'left_shoulder_pitch_joint': -2.8, 'head_pan_joint': 0.5})
    run_episode(seen, task, 0, sim=sim, config=LockstepConfig(image_size=(8, 8)))
    first = seen.seen[0].joint_positions
    assert first['left_shoulder_pitch_joint'] == pytest.approx(-2.8, abs=0.01)
    assert first['head_pan_joint'] == pytest.approx(0.5, abs=0.01)
    fresh = Recorder()
    run_episode(fresh, 'walk_to', 0, sim=sim, config=LockstepConfig(image_size=(8, 8)))
    assert fresh.seen[0].joint_positions['left_shoulder_pitch_joint'] == pytest.approx(0.0, abs=0.01), \
        'the next episode starts from the rest pose again'


def test_hold_after_success_goes_on_and_keeps_the_success_time(sim, expert):
    """hold_after_success: the episode (and its recording) runs on that long after the success,
    which stays true and is timed when it happened; a negative hold is refused."""
    plain = run_episode(expert, 'raise_left_arm', 4, sim=sim, config=LockstepConfig(record=True))
    held = run_episode(expert, 'raise_left_arm', 4, sim=sim,
                       config=LockstepConfig(record=True, hold_after_success=1.0))
    assert plain.success and held.success and held.time == pytest.approx(plain.time)
    assert held.steps == plain.steps + 10 and len(held.trajectory.actions) == held.steps
    assert held.trajectory.stamps[-1] > plain.time + 0.85
    with pytest.raises(ValueError, match='hold_after_success'):
        LockstepConfig(hold_after_success=-1.0)


def test_the_policy_reads_odometry_and_a_state_delay_makes_it_late(sim):
    """Observation.base_pose is the base's pose (x, y, yaw) as the joint states are its joints;
    state_delay hands both to the policy that many seconds late, the image still current."""
    cfg = LockstepConfig(image_size=(32, 32), record=True)
    p = Recorder(twist=(0.0, 0.0, 0.5))
    r = run_episode(p, 'turn_left', 5, sim=sim, config=cfg)
    poses = r.trajectory.as_arrays()['base_poses']
    for k in (0, 20, 40):
        np.testing.assert_allclose(p.seen[k].base_pose, poses[k], atol=1e-6)
    late = Recorder(twist=(0.0, 0.0, 0.5))
    r2 = run_episode(late, 'turn_left', 5, sim=sim, config=LockstepConfig(image_size=(32, 32), record=True,
                                                                           state_delay=0.3))
    poses2 = r2.trajectory.as_arrays()['base_poses']
    assert late.seen[2].base_pose == pytest.approx(tuple(poses2[0]), abs=1e-6), 'before 0.3 s: the first pose'
    for k in (20, 40):
        np.testing.assert_allclose(late.seen[k].base_pose, poses2[k - 3], atol=1e-6)
        assert late.seen[k].stamp == pytest.approx(r2.trajectory.stamps[k])
    assert abs(poses2[40][2] - poses2[37][2]) > 0.05, 'the base turns: three steps late is another pose'
    with pytest.raises(ValueError, match='state_delay'):
        LockstepConfig(state_delay=-0.1)


def test_a_policy_that_reads_the_scan_sees_the_waist_lidar_and_recordings_keep_its_sectors(sim):
    """Observation.scan is the waist lidar's scan at the step (only for a policy that reads one:
    Policy.reads_scan); record with range_sectors keeps each step's nearest range per sector, the
    same the policy's processor computes (vla_core.policy.nearest_by_sector)."""
    from vla_core.policy import nearest_by_sector
    reads = Recorder(twist=(0.2, 0.0, 0.0))
    reads.reads_scan = True
    cfg = LockstepConfig(image_size=(32, 32), record=True, range_sectors=8, range_max=5.0)
    r = run_episode(reads, 'walk_to', 5, sim=sim, config=cfg)
    sectors = r.trajectory.as_arrays()['range_sectors']
    assert sectors.shape == (r.steps, 8) and (sectors <= 5.0).all() and (sectors < 5.0).any()
    for k in (0, 10, 30):
        scan = reads.seen[k].scan
        assert scan is not None and len(scan.ranges) == sim.lidar.config.n_beams
        np.testing.assert_allclose(nearest_by_sector(scan, 8, 5.0), sectors[k], atol=0.05)   # noise: another draw
    blind = Recorder(twist=(0.2, 0.0, 0.0))
    run_episode(blind, 'walk_to', 5, sim=sim, config=LockstepConfig(image_size=(32, 32)))
    assert all(o.scan is None for o in blind.seen), 'a policy that reads no scan gets none'


@pytest.mark.parametrize('task, kept', [('raise_left_arm', True), ('turn_left', True), ('wave', False)])
def test_a_hold_after_success_judges_whether_the_task_is_kept(sim, expert, task, kept):
    """The scripted expert reports done at its success, so the runner then stands the robot still:
    a raised arm stays up and a turn stays where it ended (kept), but the wave stops (not kept).
    Confidences are split at the success."""
    r = run_episode(expert, task, 3, sim=sim, config=LockstepConfig(hold_after_success=4.0))
    assert r.success and r.kept is kept
    assert r.policy_calls == len(r.confidences) + len(r.hold_confidences) and r.hold_confidences
    assert run_episode(expert, task, 3, sim=sim).kept is None, 'no hold: not judged'


def test_the_expert_stands_still_once_a_turn_has_succeeded(sim):
    """A DAgger rollout's teacher: a driver that stops turning at 75 deg (within the 20 deg of a
    success) is labelled 'turn on to 90' until the success, then 'stand still where it ended' (the
    keep check), not 'go on' - so a policy learns to hold a turn, not to creep after it."""
    import math
    expert = ScriptedExpert(EMB, sim=sim)
    world = sim.reset(3)
    sim.set_task(make_task('turn_left', world, 3))
    wz_dim = [d.target for d in EMB.dims].index('twist.angular.z')
    yaw0, labels = sim.state().base_pose[2], []
    for _ in range(60):
        out = expert.infer(None)
        labels.append((float(out.actions[0][wz_dim]), out.done))
        turned = math.atan2(math.sin(sim.state().base_pose[2] - yaw0), math.cos(sim.state().base_pose[2] - yaw0))
        sim.set_base_twist(0.0, 0.0, 1.0 if turned < math.radians(75) else 0.0)
        sim.step(0.1)
    first_done = next(i for i, (_, done) in enumerate(labels) if done)
    assert math.radians(70) < turned < math.radians(85), 'the driver stopped short of 90 deg'
    assert labels[first_done - 1][0] > 0.3, 'before the success: turn on towards 90 deg'
    assert all(abs(wz) < 0.05 for wz, _ in labels[first_done + 1:]), 'after it: keep still where it ended'
