"""vla_inference's counters for /diagnostics: plain Python, written by the executor and the worker."""
from __future__ import annotations

import threading
from typing import Any

from vla_common.stats import RateMeter, RollingWindow
from vla_core.runner import CallResult

#: CallResult.error_kind -> the counter it raises (others: policy_errors)
ERROR_COUNTER = {'decode': 'frames_rejected', 'non_finite': 'non_finite'}


class NodeStats:
    """Counts frames, calls, ticks and errors, and why no action is published (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts = dict(frames_received=0, frames_skipped=0, frames_rejected=0, inferences=0,
                           policy_errors=0, non_finite=0, ticks=0, ticks_stale=0, ticks_no_action=0,
                           published=0, commands_rejected=0)
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
