"""The inference worker with real policies and threads (no ROS)."""
import threading
import time

import numpy as np
import pytest

from vla_inference.inference_worker import Context, Frame, InferenceWorker, LatestSlot
from vla_policy.core import Observation, Policy, PolicyOutput


class CountingPolicy(Policy):
    """A real policy: the action encodes the image's mean brightness; optionally slow or broken."""
    name = 'counting'

    def __init__(self, delay=0.0, fail_on=None, nan_on=None):
        self.delay, self.fail_on, self.nan_on = delay, fail_on, nan_on
        self.seen: list[float] = []
        self.resets = 0

    def reset(self):
        self.resets += 1

    def infer(self, obs: Observation) -> PolicyOutput:
        time.sleep(self.delay)
        v = float(obs.image.mean())
        self.seen.append(obs.stamp)
        if self.fail_on is not None and obs.stamp == self.fail_on:
            raise RuntimeError('boom')
        a = np.full((1, 2), v / 255.0, dtype=np.float32)
        if self.nan_on is not None and obs.stamp == self.nan_on:
            a[0, 0] = np.nan
        return PolicyOutput(actions=a, confidence=0.9)


def _run(policy, frames, ctx=Context('go', 1, {}), settle=0.5):
    slot = LatestSlot()
    results, errors = [], []
    done = threading.Event()

    def decode(f):
        if f.msg is None:
            raise ValueError('malformed image')
        return f.msg

    w = InferenceWorker(policy, slot, decode, lambda: ctx, results.append, lambda k, m: errors.append((k, m)))
    w.start()
    for f in frames:
        slot.put(f)
        time.sleep(0.02)
    time.sleep(settle)
    w.stop()
    done.set()
    return results, errors


def img(v):
    return np.full((4, 4, 3), v, dtype=np.uint8)


def test_results_carry_frame_stamp_and_instruction():
    results, errors = _run(CountingPolicy(), [Frame(img(255), 1.0, 1.0)])
    assert not errors and len(results) == 1
    r = results[0]
    assert r.frame_stamp == 1.0 and r.instruction == 'go' and r.generation == 1
    assert r.output.actions[0, 0] == pytest.approx(1.0) and r.inference_time > 0


def test_slow_policy_sees_only_the_newest_frame():
    policy = CountingPolicy(delay=0.2)
    frames = [Frame(img(i), float(i), float(i)) for i in range(1, 11)]   # 10 frames in 0.2 s
    results, _ = _run(policy, frames, settle=0.6)
    # the first frame is taken at once; while it runs, 9 more arrive and only the newest survives
    assert policy.seen[0] == 1.0 and policy.seen[-1] == 10.0
    assert len(policy.seen) <= 3


def test_errors_are_reported_and_the_worker_survives():
    policy = CountingPolicy(fail_on=2.0, nan_on=3.0)
    frames = [Frame(None, 1.0, 1.0), Frame(img(1), 2.0, 2.0), Frame(img(1), 3.0, 3.0), Frame(img(9), 4.0, 4.0)]
    results, errors = _run(policy, frames)
    kinds = [k for k, _ in errors]
    assert kinds == ['decode', 'policy', 'non_finite']
    assert [r.frame_stamp for r in results] == [4.0]


def test_idle_context_runs_nothing():
    policy = CountingPolicy()
    slot = LatestSlot()
    w = InferenceWorker(policy, slot, lambda f: f.msg, lambda: None, lambda r: None, lambda k, m: None)
    w.start()
    slot.put(Frame(img(1), 1.0, 1.0))
    time.sleep(0.3)
    w.stop()
    assert policy.seen == []


def test_new_instruction_resets_policy():
    policy = CountingPolicy()
    ctx = {'c': Context('a', 1, {})}
    slot = LatestSlot()
    w = InferenceWorker(policy, slot, lambda f: f.msg, lambda: ctx['c'], lambda r: None, lambda k, m: None)
    w.start()
    slot.put(Frame(img(1), 1.0, 1.0))
    time.sleep(0.2)
    slot.put(Frame(img(1), 2.0, 2.0))
    time.sleep(0.2)
    ctx['c'] = Context('b', 2, {})
    slot.put(Frame(img(1), 3.0, 3.0))
    time.sleep(0.2)
    w.stop()
    assert policy.resets == 2   # first instruction and the change; not for every frame


def test_rate_limit_spaces_calls_but_not_a_new_instruction():
    policy = CountingPolicy()
    ctx = {'c': Context('a', 1, {})}
    slot = LatestSlot()
    starts = []
    w = InferenceWorker(policy, slot, lambda f: f.msg, lambda: ctx['c'], lambda r: starts.append(time.monotonic()),
                        lambda k, m: None, min_period=1.0)
    w.start()
    slot.put(Frame(img(1), 1.0, 1.0))
    time.sleep(0.2)
    slot.put(Frame(img(1), 2.0, 2.0))     # same instruction: not run within the 1 s period ...
    time.sleep(0.2)
    slot.put(Frame(img(1), 3.0, 3.0))     # ... and a newer frame replaces it while it waits
    time.sleep(0.2)
    ctx['c'] = Context('b', 2, {})        # a new instruction ends the wait at once
    t_new = time.monotonic()
    time.sleep(0.3)
    w.stop()
    assert policy.seen == [1.0, 3.0]
    assert starts[-1] - t_new < 0.25


def test_slot_put_reports_replacement():
    s = LatestSlot()
    assert s.put(1) is False
    assert s.put(2) is True
    assert s.take(0.1) == 2
    assert s.take(0.05) is None
