"""vla_inference's counters for /diagnostics: plain Python, written by the executor and the worker."""
from __future__ import annotations

import threading
from typing import Any

from vla_common import diagnostics
from vla_common.stats import RateMeter, RollingWindow
from vla_core.runner import CallResult, Tick
from vla_core.runner_thread import Frame, RunnerThread

#: CallResult.error_kind -> the counter it raises (others: policy_errors)
ERROR_COUNTER = {'decode': 'frames_rejected', 'non_finite': 'non_finite'}


class NodeStats:
    """Counts frames, calls, ticks and errors, and why no action is published (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts = dict(frames_received=0, frames_skipped=0, frames_rejected=0, inferences=0,
                           policy_errors=0, non_finite=0, ticks=0, ticks_stale=0, ticks_no_action=0,
                           published=0, commands_rejected=0, instructions_refused=0, stalls=0,
                           calls_without_odometry=0, calls_without_scan=0)
        self.latency = RollingWindow(200)
        self.rate = RateMeter(600)            # the last minute of ticks at 10 Hz
        self.last_error = ''
        self.no_action_reason = 'no image yet'

    def count(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n

    def tick(self, outcome: str, reason: str) -> None:
        """One control tick: ``outcome`` is its counter (published, ticks_stale, ticks_no_action),
        ``reason`` why nothing was published ('' when something was)."""
        with self.lock:
            self.counts['ticks'] += 1
            self.counts[outcome] += 1
            self.no_action_reason = reason

    def result(self, r: CallResult, problem: str | None) -> str | None:
        """Count one policy call; returns the error to log, if any. A result of an instruction
        that has since changed (``problem == 'stale'``) is not counted."""
        if problem == 'stale':
            return None
        with self.lock:
            if r.error_kind:
                self.counts[ERROR_COUNTER.get(r.error_kind, 'policy_errors')] += 1
                self.last_error = f'{r.error_kind}: {r.error}'
                return f'{r.error_kind} error, no action from this frame: {r.error}'
            self.counts['inferences'] += 1
            if r.refused in ('no_odometry', 'no_scan'):
                self.counts['calls_without_' + r.refused[3:]] += 1
            self.latency.add(r.inference_time)
            if problem:   # wrong action dimension, confidence outside 0..1, ...
                self.counts['policy_errors'] += 1
                self.last_error = problem
            return problem

    def values(self) -> dict[str, Any]:
        """Counters, latency and rate for /diagnostics (with ``no_action_reason`` and ``last_error``)."""
        with self.lock:
            return {'inference_latency_p50_s': self.latency.percentile(50),
                    'inference_latency_p99_s': self.latency.percentile(99),
                    **self.counts, 'last_error': self.last_error, 'no_action_reason': self.no_action_reason}


def tick_outcome(frame: Frame | None, tick: Tick, now: float, stale_after: float, inferences: int) -> tuple[str, str]:
    """A control tick's counter and why nothing is published ('' when something is)."""
    if frame is None:
        return 'ticks_stale', 'no image received yet'
    if now - frame.received > stale_after:
        return 'ticks_stale', f'newest image is {now - frame.received:.2f} s old'
    if tick.instruction and tick.command is None:
        return 'ticks_no_action', ('waiting for the policy' if inferences == 0
                                   else 'no fresh action chunk (policy slower than max_action_age?)')
    return 'published', ''


def diagnostics_report(stats: NodeStats, worker: RunnerThread, instruction: str, policy_name: str,
                       rate_hz: float) -> tuple[int, str, dict[str, Any]]:
    """(level, message, values) of the node's /diagnostics status; ``rate_hz`` is the target rate."""
    values = stats.values()
    reason = values.pop('no_action_reason')
    rate = stats.rate.rate_hz
    values = {'instruction': instruction or '(idle)', 'policy': policy_name,
              'control_rate_hz': rate, 'control_period_p99_s': stats.rate.period_p99,
              'control_jitter_p99_s': stats.rate.jitter_p99(1.0 / rate_hz),
              'call_lead_s': worker.estimate() + worker.runner.config.call_margin,
              'ticks_waited_for_call': worker.ticks_waited, 'ticks_call_late': worker.ticks_missed,
              'ticks_reused_chunk': worker.ticks_reused_chunk, **values}
    if reason:
        return diagnostics.WARN, f'no action published: {reason}', values
    if abs(rate - rate_hz) > 0.1 * rate_hz:
        return diagnostics.WARN, f'control rate {rate:.1f} Hz off target', values
    return diagnostics.OK, 'publishing actions' if instruction else 'idle', values
