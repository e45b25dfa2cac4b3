"""The chunk benchmark's figures of one loop, and its table (vla_tools.chunk_benchmark)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from vla_core.scheduler import mean_abs_jerk
from vla_tools.chunk_task import Reference


def held_command(times: Any, actions: Any, period: float) -> tuple[np.ndarray, np.ndarray]:
    """The last published action at each tick of a ``period`` grid, sampled mid-period
    (t_first + period/2 + j*period) so publish jitter does not move samples across ticks."""
    t = np.asarray(times, dtype=np.float64)
    a = np.asarray(actions, dtype=np.float64)
    if t.size == 0:
        return np.empty(0), np.empty((0, a.shape[-1] if a.ndim == 2 else 0))
    grid = t[0] + period / 2 + period * np.arange(max(0, int(math.floor((t[-1] - t[0]) / period)) + 1))
    idx = np.searchsorted(t, grid, side='right') - 1
    return grid, a[idx]


def loop_metrics(times: Any, actions: Any, reference: Reference, period: float, jump_threshold: float) -> dict:
    """Rate, smoothness and tracking figures of one published (time, action) sequence."""
    t = np.asarray(times, dtype=np.float64)
    a = np.asarray(actions, dtype=np.float64).reshape(len(t), -1)
    nan = math.nan
    m: dict[str, Any] = {'published': int(len(t))}
    periods = np.diff(t)
    span = t[-1] - t[0] if len(t) > 1 else 0.0
    m['rate_hz'] = (len(t) - 1) / span if span > 0 else nan
    m['period_p50_ms'] = float(np.percentile(periods, 50) * 1e3) if periods.size else nan
    m['period_p99_ms'] = float(np.percentile(periods, 99) * 1e3) if periods.size else nan
    m['period_max_ms'] = float(periods.max() * 1e3) if periods.size else nan
    m['jerk_published'] = mean_abs_jerk(a, period) if len(t) >= 4 else nan
    grid, held = held_command(t, a, period)
    m['jerk_held'] = mean_abs_jerk(held, period) if len(grid) >= 4 else nan
    m['track_err'] = float(np.mean(np.abs(a - reference(t)))) if len(t) else nan
    m['track_err_held'] = float(np.mean(np.abs(held - reference(grid)))) if len(grid) else nan
    steps = np.abs(np.diff(a, axis=0)).max(axis=1) if len(t) > 1 else np.empty(0)
    m['jumps'] = int(np.sum(steps > jump_threshold))
    m['max_step'] = float(steps.max()) if steps.size else nan
    return m


def format_table(result: dict) -> str:
    cfg = result['config']
    head = (f"chunk benchmark: server latency {cfg['latency_s'] * 1e3:g} ms, chunks of {cfg['horizon']} x "
            f"{cfg['step_dt']:g} s, control {cfg['control_rate_hz']:g} Hz, {cfg['duration']:g} s per loop, "
            f"jump threshold {cfg['jump_threshold']:.3f}")
    cols = f"{'loop':<22}{'rate Hz':>8}{'p99 period ms':>15}{'jerk pub':>10}{'jerk held':>11}" \
           f"{'track err':>11}{'jumps':>7}{'no-action ticks':>17}"
    lines = [head, cols, '-' * len(cols)]
    ref = result['reference']
    lines.append(f"{'reference a(t)':<22}{ref['rate_hz']:>8.1f}{'':>15}{ref['jerk_published']:>10.2f}"
                 f"{ref['jerk_published']:>11.2f}{0.0:>11.4f}{0:>7d}{'':>17}")
    for name, m in result['loops'].items():
        lines.append(f"{name:<22}{m['rate_hz']:>8.2f}{m['period_p99_ms']:>15.1f}{m['jerk_published']:>10.2f}"
                     f"{m['jerk_held']:>11.2f}{m['track_err']:>11.4f}{m['jumps']:>7d}"
                     f"{m['ticks_without_action']:>17d}")
    return '\n'.join(lines)


def json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj

