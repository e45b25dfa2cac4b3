"""RunnerThread: the PolicyRunner driven by a worker thread on the newest camera frame, its calls
phased against the control tick (the inference node's driver; lockstep calls the runner itself).

Plain Python (no rclpy): the node hands it frames and ticks, it hands back commands.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from vla_core.policy import Observation
from vla_core.runner import CallResult, Context, PolicyRunner, Tick

log = logging.getLogger(__name__)


class LatestSlot:
    """A one-item mailbox of the newest frame: put() overwrites; take() waits for one not yet
    taken; latest() returns the newest without waiting (marking it taken)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._fresh = False
        self._closed = False

    def put(self, item: Any) -> bool:
        """Store ``item``; True if it replaced one nobody had taken."""
        with self._cond:
            replaced = self._fresh
            self._item, self._fresh = item, True
            self._cond.notify_all()
            return replaced

    def take(self, timeout: float) -> Any:
        """The newest item not yet taken, or None after ``timeout`` seconds or once closed."""
        with self._cond:
            if not self._fresh and not self._closed:
                self._cond.wait(timeout)
            if not self._fresh:
                return None
            self._fresh = False
            return self._item

    def latest(self) -> Any:
        """The newest item (taken before or not); None before the first."""
        with self._cond:
            self._fresh = False
            return self._item

    def clear(self) -> None:
        with self._cond:
            self._item, self._fresh = None, False

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


@dataclass(frozen=True)
class Frame:
    """A camera message as received: decoded by the worker, not by the callback."""

    msg: Any            # whatever ``decode`` takes (a sensor_msgs/Image in the node)
    stamp: float        # image stamp, s (the clock of ``now``)
    received: float     # when it arrived, s


class RunnerThread:
    """A worker thread that calls ``runner``'s policy on the newest frame, phased against the ticks.

    decode:    Frame -> HxWx3 uint8 RGB; raises ValueError on bad input.
    on_result: (CallResult, problem or None) from the worker thread after each call, for counters.
    clock:     monotonic seconds (the worker's sleeps); tick() records it to learn the tick phase.

    Schedule (``runner.call_ticks``): None -> a call on every new frame. n -> a call for every
    n-th tick: it starts on the newest frame ``estimate + call_margin`` before that tick, where
    estimate is the 95th percentile of the recent phased calls' time from their planned start to
    their chunk being stored (the worker's wake-up delay included). A tick whose call is still
    running waits up to ``tick_wait`` for it (``ticks_waited``); one that still finds it running
    uses the previous chunk (``ticks_missed``). A new instruction is called at once on the newest
    frame.
    """

    def __init__(self, runner: PolicyRunner, decode: Callable[[Frame], np.ndarray],
                 on_result: Callable[[CallResult, str | None], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.runner = runner
        self.slot = LatestSlot()
        self._decode = decode
        self._on_result = on_result or (lambda r, p: None)
        self._clock = clock
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name='vla_policy_runner', daemon=True)
        self._durations: deque[float] = deque(maxlen=50)
        self._tick_lock = threading.Lock()
        self._last_tick: float | None = None      # clock() of the newest tick
        self._served: float | None = None         # clock() of the tick the newest phased call served
        self._generation_seen = -1
        self._target: float | None = None
        self._inflight: float | None = None        # clock() of the tick the running phased call serves
        self._inflight_cond = threading.Condition()
        self.ticks_waited = 0                      # ticks that waited for their call (at most tick_wait)
        self.ticks_missed = 0                      # ticks whose call was still pending after the wait
        self.ticks_reused_chunk = 0                # ticks of a policy called every tick that got no new chunk
        self._last_stamp: float | None = None

    # -- node side ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        self.slot.close()
        self._thread.join(timeout)

    def put_frame(self, frame: Frame) -> bool:
        """A new camera frame; True if it replaced one the worker never took."""
        return self.slot.put(frame)

    def set_instruction(self, text: str, now: float) -> int:
        generation = self.runner.set_instruction(text, now)
        self._wake.set()
        return generation

    def tick(self, now: float) -> Tick:
        """The control tick at ``now``; also teaches the worker the tick phase."""
        with self._tick_lock:
            self._last_tick = t = self._clock()
        self._wait_for_call(t)
        tick = self.runner.tick(now)
        stamp = tick.command.stamp if tick.command is not None else None
        if stamp is not None and stamp == self._last_stamp and self.runner.call_ticks == 1:
            self.ticks_reused_chunk += 1           # called every tick, yet no new chunk for this one
        self._last_stamp = stamp
        return tick

    def _wait_for_call(self, tick: float) -> None:
        """Give the phased call that serves this tick up to ``tick_wait`` to store its chunk."""
        period = self.runner.config.control_period
        with self._inflight_cond:
            if self._inflight is None or abs(self._inflight - tick) > period / 2:
                return
            self.ticks_waited += 1
            wait = min(self.runner.config.tick_wait, period / 4)
            if not self._inflight_cond.wait_for(lambda: self._inflight is None, wait):
                self.ticks_missed += 1

    def estimate(self) -> float:
        """Expected duration of a call (decode + policy), s."""
        if not self._durations:
            return 0.0
        return float(np.percentile(self._durations, 95))

    # -- worker ---------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._once()
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any bug; no chunk = robot stops
                log.exception('policy runner worker error')
                self._on_result(CallResult(None, 0.0, '', -1, 0.0, 'internal', f'{type(exc).__name__}: {exc}'),
                                f'internal: {type(exc).__name__}: {exc}')
                self._stop.wait(0.05)

    def _once(self) -> None:
        ctx = self.runner.context()
        if ctx is None:
            self._wake.wait(0.05)
            self._wake.clear()
            return
        new_instruction = ctx.generation != self._generation_seen
        if new_instruction:     # its unknown words are read before a frame is taken, so the frame is fresh
            self.runner.prepare(ctx.instruction)
        planned = None                                    # a phased call's planned start
        if self.runner.call_ticks is None:
            frame = self.slot.take(timeout=0.05)          # every new frame
        elif new_instruction:
            frame = self.slot.latest() or self.slot.take(timeout=0.05)
            self._served = None
        else:
            start = self._next_start()
            if start is None:
                self._wake.wait(0.01)
                self._wake.clear()
                return
            wait = start - self._clock()
            if wait > 0:
                if wait <= 0.05 and self._target is not None:
                    # the tick this call serves waits for it (up to tick_wait) from now on: a worker
                    # that wakes a few ms late still makes that tick
                    self._set_inflight(self._target)
                self._wake.wait(min(wait, 0.05))
                self._wake.clear()
                if wait > 0.05 or self.runner.generation != ctx.generation:
                    self._set_inflight(None)
                    return                                # not yet (or a new instruction): look again
            frame = self.slot.latest()
            self._served = self._target
            planned = start
        phased = planned is not None and self._target is not None
        try:
            if frame is None:
                return
            ctx = self.runner.context()
            if ctx is None:
                return
            self._generation_seen = ctx.generation
            if phased:
                self._set_inflight(self._target)
            result = self._call(frame, ctx)
            problem = self.runner.accept(result)
        finally:
            self._set_inflight(None)
        self._durations.append(self._clock() - planned if phased else result.inference_time)
        if new_instruction and self.runner.call_ticks is not None:
            self._served = self._tick_after(self._clock())
        self._on_result(result, problem)

    def _set_inflight(self, tick: float | None) -> None:
        """The tick a call is planned or running for (None: none); a tick waits only for its own."""
        with self._inflight_cond:
            self._inflight = tick
            if tick is None:
                self._inflight_cond.notify_all()

    def _call(self, frame: Frame, ctx: Context) -> CallResult:
        t0 = time.perf_counter()
        try:
            rgb = self._decode(frame)
        except ValueError as exc:
            return CallResult(None, frame.stamp, ctx.instruction, ctx.generation, time.perf_counter() - t0,
                              'decode', str(exc))
        obs = Observation(image=rgb, instruction=ctx.instruction, joint_positions=dict(ctx.joints),
                          stamp=frame.stamp, base_pose=ctx.base_pose, scan=ctx.scan)
        return self.runner.call(obs, context=ctx, decode_time=time.perf_counter() - t0)

    def _tick_after(self, t: float) -> float | None:
        """The first tick of the grid at or after clock time ``t`` (None before the first tick)."""
        with self._tick_lock:
            last = self._last_tick
        if last is None:
            return None
        period = self.runner.config.control_period
        return last + max(0, math.ceil((t - last) / period - 1e-9)) * period

    def _next_start(self) -> float | None:
        """Clock time to start the next phased call (sets ``_target``, the tick it serves)."""
        period = self.runner.config.control_period
        lead = self.estimate() + self.runner.config.call_margin
        earliest = self._tick_after(self._clock() + lead)
        if earliest is None:                  # no tick yet: call now
            self._target = None
            return self._clock()
        target = earliest
        if self._served is not None:   # not before the n-th tick after the one served last
            due = self._served + self.runner.call_ticks * period
            due_tick = self._tick_after(due - period / 2)     # the grid tick nearest to it (tick jitter)
            target = max(target, due_tick)
        self._target = target
        return target - lead
