"""Inference off the control loop: a newest-wins frame mailbox and a worker thread.

Plain Python (no rclpy): the node hands frames to :class:`LatestSlot`, the
:class:`InferenceWorker` thread takes the newest one, decodes it, runs the policy and
reports a :class:`InferenceResult`. A frame that arrives before the previous one was taken
replaces it (counted as skipped): the policy always sees the freshest image and the
control timer never waits for inference.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from vla_policy.core import Observation, Policy, PolicyOutput, declared_action_steps

log = logging.getLogger(__name__)

#: how often a rate-limited worker looks for a new instruction while it waits, s
_POLL = 0.02


def call_period(max_inference_rate_hz: float, policy: Policy) -> float:
    """Seconds between policy calls for one instruction: ``1 / max_inference_rate_hz`` when it is
    set (> 0); else the policy's own, ``n_action_steps x chunk_step_dt`` (how it was trained and
    evaluated); else 0, a call on every new frame."""
    if max_inference_rate_hz > 0:
        return 1.0 / max_inference_rate_hz
    steps = declared_action_steps(policy)
    return steps * float(getattr(policy, 'chunk_step_dt', 0.1)) if steps else 0.0


class LatestSlot:
    """A one-item mailbox: put() overwrites, take() blocks until an item is there."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._closed = False

    def put(self, item: Any) -> bool:
        """Store ``item``; True if it replaced one nobody had taken."""
        with self._cond:
            replaced = self._item is not None
            self._item = item
            self._cond.notify()
            return replaced

    def take(self, timeout: float) -> Any:
        """The newest item, or None after ``timeout`` seconds or once closed."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    def clear(self) -> None:
        with self._cond:
            self._item = None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


@dataclass(frozen=True)
class Frame:
    """A camera message as received: decoded lazily by the worker."""

    msg: Any            # sensor_msgs/Image or CompressedImage (duck-typed)
    stamp: float        # header stamp, seconds (receive time when the header has none)
    received: float     # node clock when it arrived, seconds


@dataclass(frozen=True)
class Context:
    """What the policy follows when the frame is taken."""

    instruction: str
    generation: int     # increases with every new instruction; results of older ones are dropped
    joints: Mapping[str, float]


@dataclass(frozen=True)
class InferenceResult:
    output: PolicyOutput
    frame_stamp: float
    instruction: str
    generation: int
    inference_time: float   # wall seconds of decode + policy


class InferenceWorker:
    """Runs ``policy.infer`` on the newest frame in a thread of its own.

    decode:     Frame -> HxWx3 uint8 RGB; raises ValueError (e.g. ImageDecodeError) on bad input.
    context:    () -> Context or None (None = idle: nothing to infer).
    on_result:  called from the worker thread with each InferenceResult.
    on_error:   called from the worker thread with (kind, message); kinds: 'decode', 'policy',
                'non_finite', 'internal'.
    """

    def __init__(self, policy: Policy, slot: LatestSlot, decode: Callable[[Frame], np.ndarray],
                 context: Callable[[], Context | None], on_result: Callable[[InferenceResult], None],
                 on_error: Callable[[str, str], None], min_period: float = 0.0) -> None:
        self.policy = policy
        self._slot = slot
        self._decode = decode
        self._context = context
        self._on_result = on_result
        self._on_error = on_error
        self._min_period = min_period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='vla_inference_worker', daemon=True)
        self._generation_seen = -1

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._slot.close()
        self._thread.join(timeout)

    def _run(self) -> None:
        last_start = -math.inf
        while not self._stop.is_set():
            try:
                # the rate limit spaces the calls for one instruction: wait BEFORE taking a frame, so
                # the call gets the newest image, not one that aged through the wait; a new
                # instruction ends the wait at once
                wait = self._min_period - (time.monotonic() - last_start)
                if wait > 0:
                    ctx = self._context()
                    if ctx is not None and ctx.generation == self._generation_seen:
                        self._stop.wait(min(wait, _POLL))
                        continue
                frame = self._slot.take(timeout=0.1)
                if frame is None:
                    continue
                ctx = self._context()
                if ctx is None:
                    continue
                last_start = time.monotonic()
                self._infer_one(frame, ctx)
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any bug; no action = robot stops
                log.exception('inference worker error')
                self._on_error('internal', f'{type(exc).__name__}: {exc}')

    def _infer_one(self, frame: Frame, ctx: Context) -> None:
        t0 = time.perf_counter()
        try:
            rgb = self._decode(frame)
        except ValueError as exc:
            self._on_error('decode', str(exc))
            return
        if ctx.generation != self._generation_seen:
            self.policy.reset()
            self._generation_seen = ctx.generation
        try:
            obs = Observation(image=rgb, instruction=ctx.instruction, joint_positions=dict(ctx.joints),
                              stamp=frame.stamp)
            out = self.policy.infer(obs)
        except Exception as exc:  # noqa: BLE001 - a policy bug (or a remote policy's server being away)
            # must not kill the worker; no action is published, so the safety node stops the robot
            self._on_error('policy', f'{type(exc).__name__}: {exc}')
            return
        if not out.is_finite:
            self._on_error('non_finite', f'policy {self.policy.name} returned non-finite actions or confidence')
            return
        self._on_result(InferenceResult(out, frame.stamp, ctx.instruction, ctx.generation,
                                        time.perf_counter() - t0))
