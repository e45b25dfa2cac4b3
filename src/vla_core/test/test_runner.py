"""PolicyRunner: how chunks become commands, synchronously (lockstep) and threaded (the node).
Real policies, real threads, times passed in; no ROS."""
import threading
import time

import numpy as np
import pytest

from vla_core.policy import Observation, Policy, PolicyOutput
from vla_core.embodiment import load_embodiment
from vla_core.runner import PolicyRunner, RunnerConfig, call_ticks, ticks_for_rate
from vla_core.runner_thread import Frame, LatestSlot, RunnerThread

EMB = load_embodiment('diff_drive')   # 2 dims: linear.x in [-0.26, 0.26], angular.z in [-1.82, 1.82]


def img(v=0):
    return np.full((4, 4, 3), v, dtype=np.uint8)


class ChunkCounter(Policy):
    """Step k of call c is (c + k) / 100 on both dims; a chunk of ``length`` steps."""
    name = 'chunk_counter'

    def __init__(self, length=10, n_action_steps=None, nan_on_call=None, done_on_call=None, dim=2):
        self.length, self.n_action_steps = length, n_action_steps
        self.nan_on_call, self.done_on_call, self.dim = nan_on_call, done_on_call, dim
        self.calls, self.resets, self.seen = 0, 0, []

    def reset(self):
        self.resets += 1

    def infer(self, obs):
        c = self.calls
        self.calls += 1
        self.seen.append(obs.stamp)
        a = np.repeat(((c + np.arange(self.length)) / 100.0)[:, None], self.dim, axis=1).astype(np.float32)
        if c == self.nan_on_call:
            a[:] = np.nan
        return PolicyOutput(a, confidence=0.9 - 0.1 * min(c, 5), step_dt=0.1, done=c == self.done_on_call)


def run_sync(runner, ticks, dt=0.1):
    """A lockstep loop: a frame per tick, the policy called when due."""
    out = []
    for i in range(ticks):
        now = i * dt
        if runner.call_due(now):
            runner.accept(runner.call(Observation(img(), runner.instruction, {}, stamp=now)))
        out.append(runner.tick(now))
    return out


def test_call_schedule_comes_from_the_config_or_the_policy():
    cfg = RunnerConfig()
    assert call_ticks(cfg, ChunkCounter()) is None                       # declares nothing: every frame
    assert call_ticks(cfg, ChunkCounter(n_action_steps=3)) == 3
    assert call_ticks(RunnerConfig(call_every_ticks=2), ChunkCounter(n_action_steps=3)) == 2
    assert call_ticks(RunnerConfig(control_rate_hz=20.0), ChunkCounter(n_action_steps=3)) == 6
    assert ticks_for_rate(0.0, 10.0) == 0 and ticks_for_rate(4.0, 10.0) == 3 and ticks_for_rate(1000, 10) == 1


def test_steps_are_executed_exactly_at_their_times_and_decoded():
    policy = ChunkCounter(n_action_steps=3)
    runner = PolicyRunner(policy, EMB)
    runner.set_instruction('go', 0.0)
    ticks = run_sync(runner, 7)
    assert policy.calls == 3 and policy.seen == pytest.approx([0.0, 0.3, 0.6])
    # call c at tick 3c; tick i runs step i - 3c of it: value (c + k) / 100 = (i - 2c) / 100
    expected = [(i - 2 * (i // 3)) / 100 for i in range(7)]
    got = [t.command.action[0] for t in ticks]
    assert got == pytest.approx(expected, abs=1e-6), 'interpolation at a step time is the step itself'
    assert [t.command.chunk_index for t in ticks] == [0, 1, 2] * 2 + [0]
    assert ticks[1].command.command.twist[0] == pytest.approx(-0.26 + (0.01 + 1) / 2 * 0.52)   # unnormalised
    assert ticks[4].command.stamp == pytest.approx(0.3) and ticks[4].instruction == 'go'


def test_a_chunk_used_up_early_calls_again():
    policy = ChunkCounter(length=2, n_action_steps=5)
    runner = PolicyRunner(policy, EMB)
    runner.set_instruction('go', 0.0)
    ticks = run_sync(runner, 5)
    assert policy.seen == pytest.approx([0.0, 0.2, 0.4]) and all(t.command is not None for t in ticks)


def test_act_ensembling_blends_every_chunk_that_predicts_the_tick():
    policy = ChunkCounter(n_action_steps=1)
    runner = PolicyRunner(policy, EMB, RunnerConfig(temporal_ensembling=True, ensemble_coeff=0.0))
    runner.set_instruction('go', 0.0)
    ticks = run_sync(runner, 3)
    # tick 2: chunk 0's step 2 (0.02), chunk 1's step 1 (0.02), chunk 2's step 0 (0.02): all (c + k) = 2
    assert ticks[2].command.num_blended == 3 and ticks[2].command.action[0] == pytest.approx(0.02)
    assert ticks[2].command.confidence == pytest.approx(0.7), 'the least sure chunk'


def test_reconfigure_changes_the_schedule_and_rules_and_keeps_the_chunks():
    """A live parameter change (vla_inference's ros2 param set): the next ticks and calls follow the
    new settings; the chunk in use stays, so the robot is not left without a command."""
    policy = ChunkCounter(n_action_steps=1)
    runner = PolicyRunner(policy, EMB)
    runner.set_instruction('go', 0.0)
    run_sync(runner, 2)
    assert runner.call_ticks == 1 and runner.vocabulary is None
    runner.reconfigure(RunnerConfig(call_every_ticks=3, interpolate=False, smoothing='ema', smoothing_alpha=0.5,
                                    vocabulary='vla_arena'))
    assert runner.call_ticks == 3 and runner.vocabulary.name == 'vla_arena'
    assert runner.tick(0.15).command is not None, 'the chunk computed before the change is kept'
    assert runner.unknown_references('walk to the purple box'), 'the new vocabulary refuses'
    with pytest.raises(ValueError, match='unknown vocabulary'):
        runner.reconfigure(RunnerConfig(vocabulary='no_such_vocabulary'))
    assert runner.call_ticks == 3 and runner.vocabulary.name == 'vla_arena', 'a refused change changes nothing'
    with pytest.raises(ValueError, match='control_rate_hz'):
        runner.reconfigure(RunnerConfig(control_rate_hz=20.0))


def test_new_instruction_resets_and_done_ends_it():
    policy = ChunkCounter(n_action_steps=1, done_on_call=1)
    runner = PolicyRunner(policy, EMB)
    g = runner.set_instruction('a', 0.0)
    ticks = run_sync(runner, 3)
    assert policy.resets == 1 and ticks[0].command is not None
    assert ticks[1].finished and ticks[1].instruction == '' and runner.done_generation == g
    assert policy.calls == 2 and not ticks[2].finished and ticks[2].command is None
    assert not runner.call_due(0.3), 'idle: no calls'
    runner.set_instruction('b', 0.3)
    assert runner.call_due(0.3) and runner.tick(0.3).command is None, 'chunks of the old instruction are gone'
    runner.accept(runner.call(Observation(img(), 'b', {}, stamp=0.3)))
    assert policy.resets == 2 and runner.tick(0.3).command is not None


def test_stale_invalid_and_non_finite_results_are_not_used():
    runner = PolicyRunner(ChunkCounter(n_action_steps=1, nan_on_call=0), EMB)
    runner.set_instruction('go', 0.0)
    r = runner.call(Observation(img(), 'go', {}, stamp=0.0))
    assert r.error_kind == 'non_finite' and runner.accept(r) and runner.tick(0.0).command is None
    old = runner.call(Observation(img(), 'go', {}, stamp=0.0))
    runner.set_instruction('other', 0.05)
    assert runner.accept(old) == 'stale' and runner.tick(0.05).command is None
    wrong = PolicyRunner(ChunkCounter(dim=3), EMB)
    wrong.set_instruction('go', 0.0)
    assert '3-dim actions' in wrong.accept(wrong.call(Observation(img(), 'go', {}, stamp=0.0)))

    class Broken(Policy):
        name = 'broken'

        def infer(self, obs):
            raise RuntimeError('boom')
    b = PolicyRunner(Broken(), EMB)
    b.set_instruction('go', 0.0)
    r = b.call(Observation(img(), 'go', {}, stamp=0.0))
    assert r.error_kind == 'policy' and 'boom' in r.error


def test_config_errors_say_how_to_fix():
    with pytest.raises(ValueError, match='call_every_ticks'):
        RunnerConfig(call_every_ticks=-1)
    with pytest.raises(ValueError, match='smoother kind'):
        RunnerConfig(smoothing='median')
    with pytest.raises(ValueError, match='max_action_age'):
        RunnerConfig(max_action_age=0.0)


# -- threaded ------------------------------------------------------------------------------------
class Slow(Policy):
    """Records the stamps it sees; the action encodes the image brightness; optionally slow/broken."""
    name = 'slow'

    def __init__(self, delay=0.0, fail_on=None, nan_on=None, n_action_steps=None):
        self.delay, self.fail_on, self.nan_on, self.n_action_steps = delay, fail_on, nan_on, n_action_steps
        self.seen, self.starts, self.resets = [], [], 0

    def reset(self):
        self.resets += 1

    def infer(self, obs):
        self.starts.append(time.monotonic())
        time.sleep(self.delay)
        self.seen.append(obs.stamp)
        if obs.stamp == self.fail_on:
            raise RuntimeError('boom')
        a = np.full((10, 2), obs.image.mean() / 255.0, dtype=np.float32)
        if obs.stamp == self.nan_on:
            a[0, 0] = np.nan
        return PolicyOutput(a, confidence=0.9)


def _decode(f):
    if f.msg is None:
        raise ValueError('malformed image')
    return f.msg


def _threaded(policy, frames, settle=0.4, config=None):
    results = []
    runner = PolicyRunner(policy, EMB, config)
    worker = RunnerThread(runner, _decode, lambda r, p: results.append((r, p)))
    worker.set_instruction('go', 0.0)
    worker.start()
    for f in frames:
        worker.put_frame(f)
        time.sleep(0.02)
    time.sleep(settle)
    worker.stop()
    return runner, results


def test_every_frame_mode_sees_only_the_newest_frame():
    policy = Slow(delay=0.2)
    _, results = _threaded(policy, [Frame(img(i), float(i), float(i)) for i in range(1, 11)], settle=0.6)
    assert policy.seen[0] == 1.0 and policy.seen[-1] == 10.0 and len(policy.seen) <= 3
    assert results[0][0].frame_stamp == 1.0 and results[0][0].instruction == 'go' and results[0][1] is None


def test_worker_reports_errors_and_survives():
    policy = Slow(fail_on=2.0, nan_on=3.0)
    frames = [Frame(None, 1.0, 1.0), Frame(img(1), 2.0, 2.0), Frame(img(1), 3.0, 3.0), Frame(img(9), 4.0, 4.0)]
    _, results = _threaded(policy, frames)
    assert [r.error_kind for r, _ in results] == ['decode', 'policy', 'non_finite', '']
    assert results[-1][0].frame_stamp == 4.0 and results[-1][1] is None


def test_idle_runner_calls_nothing():
    policy = Slow()
    worker = RunnerThread(PolicyRunner(policy, EMB), _decode)
    worker.start()
    worker.put_frame(Frame(img(1), 1.0, 1.0))
    time.sleep(0.3)
    worker.stop()
    assert policy.seen == []


def test_phased_calls_finish_just_before_each_tick_on_the_newest_frame():
    """A 10 Hz tick, a 30 Hz camera, a policy that asks for a call every tick and takes 10 ms:
    one call per tick, started after the tick before, on the newest frame at its start."""
    policy = Slow(delay=0.01, n_action_steps=1)
    runner = PolicyRunner(policy, EMB)
    worker = RunnerThread(runner, _decode)
    stop = threading.Event()
    frames = []

    def camera():
        while not stop.is_set():
            t = time.monotonic()
            frames.append(t)
            worker.put_frame(Frame(img(), t, t))
            stop.wait(1 / 30)
    cam = threading.Thread(target=camera, daemon=True)
    cam.start()
    worker.start()
    worker.set_instruction('go', time.monotonic())
    ticks, fresh = [], 0
    t_next = time.monotonic() + 0.1
    for i in range(30):
        time.sleep(max(0.0, t_next - time.monotonic()))
        now = time.monotonic()
        t = worker.tick(now)
        if i >= 5 and t.command is not None:
            ticks.append(now)
            previous_tick = now - 0.1
            fresh += t.command.stamp > previous_tick - 1 / 30   # a frame from the last period, not older
        t_next += 0.1
    stop.set()
    worker.stop()
    cam.join()
    calls_in_window = sum(ticks[0] - 0.1 <= s <= ticks[-1] for s in policy.starts)
    assert calls_in_window <= len(ticks) + 1, 'never more often than the policy asks (once a tick)'
    assert fresh >= 0.8 * len(ticks), f'{fresh} of {len(ticks)} ticks ran a chunk of the newest frames'


def test_slot_put_take_and_latest():
    s = LatestSlot()
    assert s.put(1) is False and s.put(2) is True
    assert s.take(0.1) == 2 and s.take(0.05) is None
    assert s.latest() == 2, 'the newest frame stays available to a phased call'


@pytest.mark.parametrize('slow_delay, expect_fresh', [(0.015, True), (0.08, False)])
def test_a_tick_waits_up_to_tick_wait_for_its_running_call(slow_delay, expect_fresh):
    """Calls of 2 ms teach the worker a short lead; then a call runs long. Its tick waits for it
    (tick_wait 25 ms): 13 ms late, the tick gets its chunk; 78 ms late, the tick gives up and uses
    the previous chunk (counted in ticks_missed), never the unfinished one."""
    policy = Slow(delay=0.002, n_action_steps=1)
    runner = PolicyRunner(policy, EMB, RunnerConfig(tick_wait=0.025))
    worker = RunnerThread(runner, _decode)
    t = time.monotonic()
    frame_of = {t: -1}                                   # frame stamp -> the tick it was put at
    worker.put_frame(Frame(img(1), t, t))
    worker.start()
    worker.set_instruction('go', t)
    t_next = t + 0.1
    used = []                                            # per tick: the tick whose frame its chunk came from
    for i in range(14):
        if i == 10:
            policy.delay = slow_delay                    # the call for tick 11 runs long
        time.sleep(max(0.0, t_next - time.monotonic()))
        now = time.monotonic()
        tick = worker.tick(now)
        used.append(None if tick.command is None else frame_of[tick.command.stamp])
        frame_of[now] = i
        worker.put_frame(Frame(img(i), now, now))        # a frame just after each tick
        t_next += 0.1
    worker.stop()
    assert worker.ticks_waited >= 1
    if expect_fresh:
        assert worker.ticks_missed == 0
        assert used[11] == 10, f'tick 11 ran the chunk of the frame after tick 10: {used}'
    else:
        assert worker.ticks_missed >= 1
        assert used[11] is not None and used[11] < 10, f'the previous chunk, not the unfinished one: {used}'


@pytest.mark.parametrize('reads, field, update, value, refusal', [
    ('reads_odometry', 'base_pose', 'update_base_pose', (1.0, 2.0, 0.5), 'no_odometry'),
    ('reads_scan', 'scan', 'update_scan', 'scan', 'no_scan')])
def test_a_policy_that_reads_a_state_input_is_refused_until_it_arrives_and_after_it_is_lost(
        reads, field, update, value, refusal):
    """Policy.reads_odometry / reads_scan: a call without Observation.base_pose / scan gets
    confidence 0 (refused 'no_odometry' / 'no_scan'); the runner's newest value goes into the next
    call's context; None forgets it; a policy that does not read it never needs it."""
    from vla_core.embodiment import load_embodiment
    from vla_core.policy import Observation, PlanarScan, Policy, PolicyOutput
    from vla_core.runner import PolicyRunner

    class Reads(Policy):
        name = 'reads_it'

        def __init__(self, dim):
            self.dim, self.seen = dim, []

        def infer(self, obs):
            self.seen.append(getattr(obs, field))
            return PolicyOutput(np.full((1, self.dim), 0.2, np.float32), 0.9)

    if value == 'scan':
        value = PlanarScan(np.ones(4, np.float32), -np.pi, np.pi / 2)
    emb = load_embodiment('vla_humanoid')
    policy = Reads(emb.action_dim)
    setattr(policy, reads, True)
    runner = PolicyRunner(policy, emb)
    runner.set_instruction('turn left', 0.0)
    image = np.zeros((8, 8, 3), np.uint8)

    def call(now):
        res = runner.call(lambda ctx: Observation(image, ctx.instruction, ctx.joints, now, base_pose=ctx.base_pose,
                                                  scan=ctx.scan))
        assert runner.accept(res) is None
        return res

    res = call(0.0)
    assert res.refused == refusal and res.output.confidence == 0.0
    getattr(runner, update)(value)
    res = call(0.1)
    assert res.refused == '' and res.output.confidence == pytest.approx(0.9)
    assert policy.seen[-1] == value
    getattr(runner, update)(None)
    assert call(0.2).refused == refusal
    setattr(policy, reads, False)
    assert call(0.3).refused == '', 'a policy that does not read it never needs it'


def test_nearest_by_sector_reads_a_laser_scan_as_rep_103_and_117_say():
    """Sector 0 is straight ahead, counter-clockwise; -inf (too close) is 0, +inf (no return) and
    NaN (invalid) are nothing; ranges clip at range_max; an empty sector reads range_max."""
    from vla_core.policy import PlanarScan, nearest_by_sector
    inc = np.pi / 180
    r = np.full(360, np.inf, np.float32)
    angle = lambda deg: int(round((np.radians(deg) + np.pi) / inc))  # noqa: E731 - beam index of an angle
    r[angle(0)] = 0.7          # ahead
    r[angle(40)] = 0.9         # left of ahead: sector 0 covers -45..45 deg with 4 sectors
    r[angle(90)] = 3.0         # left, beyond range_max
    r[angle(-90)] = np.nan     # right: invalid
    r[angle(180) % 360] = -np.inf   # behind: too close to measure
    out = nearest_by_sector(PlanarScan(r, -np.pi, inc), 4, 1.5)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.7, 1.5, 0.0, 1.5])
    # a scan of another layout (forward half only, counter-clockwise from -90 deg), 8 sectors
    half = np.full(181, 2.0, np.float32)
    half[90] = 0.4             # straight ahead
    out8 = nearest_by_sector(PlanarScan(half, -np.pi / 2, inc), 8, 1.0)
    np.testing.assert_allclose(out8, [0.4, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert nearest_by_sector(PlanarScan(np.zeros(0, np.float32), 0.0, inc), 3, 2.0).tolist() == [2.0] * 3
