"""The control loops the chunk benchmark compares, and their plumbing (vla_tools.chunk_benchmark).

Each loop has its own camera thread (:class:`Camera`) and a timer with rcl semantics
(:func:`run_timer`), and records what it published in a :class:`Recording`:

  run_async        the inference node's design: a PolicyRunner driven by a RunnerThread
                   (``ignore_stamp``: the async_stamp_ignored baseline)
  run_blocking     infer in the timer callback, publish step 0
  run_chunk_queue  LeRobot's select_action: pop one queued action per tick, blocking refill
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from vla_core.embodiment import load_embodiment
from vla_core.policy import Observation, Policy, PolicyOutput
from vla_core.runner import CallResult, PolicyRunner, RunnerConfig
from vla_core.runner_thread import Frame, LatestSlot, RunnerThread
from vla_tools.chunk_task import EMBODIMENT, INSTRUCTION


# ---------------------------------------------------------------------------------------------
# plumbing: camera, timer, recording
# ---------------------------------------------------------------------------------------------
class Camera:
    """A thread that puts a stamped tiny frame into a :class:`LatestSlot` at ``rate_hz``."""

    def __init__(self, rate_hz: float = 30.0, size: int = 8) -> None:
        self.slot = LatestSlot()
        self.latest: Frame | None = None
        self.frames = 0
        self._period = 1.0 / rate_hz
        self._image = np.full((size, size, 3), 128, dtype=np.uint8)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='chunk_benchmark_camera', daemon=True)
        self._first = threading.Event()

    def start(self) -> 'Camera':
        self._thread.start()
        self._first.wait(1.0)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)

    def _run(self) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            self.latest = Frame(self._image, now, now)
            self.slot.put(self.latest)
            self.frames += 1
            self._first.set()
            next_t += self._period
            if next_t < now:  # fell behind (loaded machine): no burst to catch up
                next_t = now + self._period
            self._stop.wait(max(0.0, next_t - time.monotonic()))


def run_timer(period: float, duration: float, tick: Callable[[float], None]) -> None:
    """Call ``tick(now)`` every ``period`` s for ``duration`` s, paced by time.monotonic like an rcl
    timer: a tick that is due runs at once, and periods missed entirely are skipped, not made up."""
    start = time.monotonic()
    end, next_call = start + duration, start
    while True:
        now = time.monotonic()
        if now >= end:
            return
        if now < next_call:
            time.sleep(min(next_call, end) - now)
            continue
        next_call += period
        if now >= next_call:
            next_call += (math.floor((now - next_call) / period) + 1) * period
        tick(now)


@dataclass
class Recording:
    """What one loop did: ticks, and the (time, action) pairs it published."""

    start: float
    tick_times: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    policy_calls: int = 0
    policy_errors: int = 0
    call_seconds: list[float] = field(default_factory=list)

    def publish(self, t: float, action: np.ndarray) -> None:
        self.times.append(t)
        self.actions.append(np.asarray(action, dtype=np.float64))


# ---------------------------------------------------------------------------------------------
# the loops
# ---------------------------------------------------------------------------------------------
class _ArrivalStamped(PolicyRunner):
    """The async_stamp_ignored baseline: each chunk stamped with its arrival, not its image's time."""

    def accept(self, result: CallResult | None) -> str | None:
        if result is not None and not result.error_kind:
            result = replace(result, frame_stamp=time.monotonic())
        return super().accept(result)


def run_async(policy: Policy, config: RunnerConfig, duration: float, period: float, camera_hz: float,
              ignore_stamp: bool = False) -> Recording:
    """The inference node's design: a PolicyRunner driven by a RunnerThread on the newest frame, a
    timer publishing its ``tick(now)``. ``ignore_stamp`` stamps each chunk with its arrival time
    instead of its image's, so it runs from step 0 when it arrives."""
    rec = Recording(time.monotonic())
    lock = threading.Lock()

    def on_result(r: CallResult, problem: str | None) -> None:
        with lock:
            rec.policy_calls += 1
            if r.error_kind or problem:
                rec.policy_errors += 1
            else:
                rec.call_seconds.append(r.inference_time)

    def tick(now: float) -> None:
        rec.tick_times.append(now)
        t = worker.tick(now)
        if t.command is not None:
            rec.publish(now, t.command.action)

    camera = Camera(camera_hz)
    runner = (_ArrivalStamped if ignore_stamp else PolicyRunner)(policy, load_embodiment(EMBODIMENT), config)
    worker = RunnerThread(runner, lambda f: f.msg, on_result)
    camera.slot = worker.slot
    camera.start()
    worker.set_instruction(INSTRUCTION, time.monotonic())
    worker.start()
    rec.start = time.monotonic()
    try:
        run_timer(period, duration, tick)
    finally:
        worker.stop()
        camera.stop()
    return rec


def _infer_newest(policy: Policy, camera: Camera, rec: Recording) -> PolicyOutput | None:
    frame = camera.latest
    t0 = time.monotonic()
    rec.policy_calls += 1
    try:
        out = policy.infer(Observation(frame.msg, INSTRUCTION, {}, frame.stamp))
    except Exception:  # noqa: BLE001 - counted; the tick publishes nothing, as a node would
        rec.policy_errors += 1
        return None
    rec.call_seconds.append(time.monotonic() - t0)
    return out


def run_blocking(policy: Policy, duration: float, period: float, camera_hz: float) -> Recording:
    """What a simple node does: infer in the timer callback, publish step 0."""
    camera = Camera(camera_hz).start()
    rec = Recording(time.monotonic())

    def tick(now: float) -> None:
        rec.tick_times.append(now)
        out = _infer_newest(policy, camera, rec)
        if out is not None:
            rec.publish(time.monotonic(), out.actions[0])

    try:
        run_timer(period, duration, tick)
    finally:
        camera.stop()
    return rec


def run_chunk_queue(policy: Policy, duration: float, period: float, camera_hz: float,
                    n_action_steps: int | None = None) -> Recording:
    """LeRobot's ``select_action``: pop one queued action per tick; refill (blocking) when empty,
    with the first ``n_action_steps`` steps (all by default) from step 0."""
    camera = Camera(camera_hz).start()
    rec = Recording(time.monotonic())
    queue: deque[np.ndarray] = deque()

    def tick(now: float) -> None:
        rec.tick_times.append(now)
        if not queue:
            out = _infer_newest(policy, camera, rec)
            if out is None:
                return
            queue.extend(out.actions[:n_action_steps])
        rec.publish(time.monotonic(), queue.popleft())

    try:
        run_timer(period, duration, tick)
    finally:
        camera.stop()
    return rec
