"""The evaluation report: per (split, task) and per split, success with a 95 % Wilson interval,
time to success, collisions, confidence, refusals and the safety gate's states; overall refusal
rates, AUROC of confidence for predicting failure and inference latency; as JSON, Markdown and plots.

An episode is *refused* when its first proposal's confidence is below the threshold (the robot never
starts); *blocked* when any proposal's is.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vla_learning.config import SPLITS
from vla_learning.eval_cases import Case
from vla_learning.eval_plots import plot
from vla_learning.metrics import auroc


#: how the report names a seed_vla checkpoint's backend
BACKEND_NOTE = {'onnx': ' (onnxruntime)', 'auto': ' (onnxruntime if exported, else PyTorch)'}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k/n."""
    if n == 0:
        return (float('nan'), float('nan'))
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    # exact ends at k = 0 and k = n (float round-off would put them a hair inside)
    return (0.0 if k == 0 else max(0.0, c - h), 1.0 if k == n else min(1.0, c + h))


@dataclass
class Outcome:
    """What one case's episode gave: success, time, collisions, a confidence and a latency per
    policy call, and the safety gate's decisions by state."""

    split: str
    task: str
    instruction: str
    seed: int
    success: bool
    time: float
    collisions: int
    confidences: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    gate_counts: dict[str, int] = field(default_factory=dict)
    kept: bool | None = None              # --hold: the task's state still kept at the hold's end
    hold_confidences: list[float] = field(default_factory=list)   # the calls after the success

    @property
    def first_conf(self) -> float:
        return self.confidences[0] if self.confidences else float('nan')

    @property
    def mean_conf(self) -> float:
        return float(np.mean(self.confidences)) if self.confidences else float('nan')


def case_outcome(case: Case, success: bool, time_s: float, collisions: int, confidences, latencies_ms,
                 gate_counts=None, kept: bool | None = None, hold_confidences=()) -> Outcome:
    """An Outcome as the report reads it: ``confidences`` one per policy call until the success
    (the first one decides a refusal), out-of-scope cases never a success; ``gate_counts``: the
    gate's decisions by state, where they are counted; ``kept``, ``hold_confidences``: after the
    success, with a hold."""
    success = bool(success) and case.task != 'out_of_scope'
    return Outcome(case.split, case.task, case.instruction, case.seed, success, float(time_s), int(collisions),
                   [float(c) for c in confidences], [float(v) for v in latencies_ms], dict(gate_counts or {}),
                   bool(kept) if success and kept is not None else None, [float(c) for c in hold_confidences])


# -- report --------------------------------------------------------------------------------------
def summarise(outcomes: list[Outcome], threshold: float) -> dict[str, Any]:
    rows = []
    keys = sorted({(o.split, o.task) for o in outcomes}, key=lambda k: (_split_order(k[0]), k[1]))
    for split, task in keys:
        os_ = [o for o in outcomes if o.split == split and o.task == task]
        rows.append(_row(split, task, os_, threshold))
    splits = {}
    for split in sorted({o.split for o in outcomes}, key=_split_order):
        os_ = [o for o in outcomes if o.split == split]
        splits[split] = _row(split, 'ALL', os_, threshold)
    inscope = [o for o in outcomes if o.task != 'out_of_scope' and o.confidences]
    fail = np.array([not o.success for o in inscope])
    lat = np.concatenate([o.latencies_ms for o in outcomes if o.latencies_ms]) if outcomes else np.zeros(0)
    oos = [o for o in outcomes if o.task == 'out_of_scope']
    seen = [o for o in outcomes if o.split == 'seen']
    nan = float('nan')
    summary = {
        'threshold': threshold,
        'episodes': len(outcomes),
        'auroc_failure_mean_conf': auroc(-np.array([o.mean_conf for o in inscope]), fail) if inscope else nan,
        'auroc_failure_first_conf': auroc(-np.array([o.first_conf for o in inscope]), fail) if inscope else nan,
        'failures_in_scope': int(fail.sum()),
        'refusal_rate_out_of_scope': _rate([o.first_conf < threshold for o in oos]),
        'refusal_ci_out_of_scope': wilson(sum(o.first_conf < threshold for o in oos), len(oos)),
        'false_refusal_rate_seen': _rate([o.first_conf < threshold for o in seen]),
        'false_refusal_ci_seen': wilson(sum(o.first_conf < threshold for o in seen), len(seen)),
        'latency_ms_p50': float(np.percentile(lat, 50)) if len(lat) else float('nan'),
        'latency_ms_p99': float(np.percentile(lat, 99)) if len(lat) else float('nan'),
    }
    return {'summary': summary, 'splits': splits, 'rows': rows}


def make_report(outcomes: list[Outcome], threshold: float, policy: str, episodes: int, chunk_steps: int,
                first_seed: int, wall_s: float, **meta) -> dict[str, Any]:
    """:func:`summarise` plus what :func:`to_markdown` states about the run (``meta``: backend,
    ensemble_coeff, state_delay_s, ... as they apply)."""
    report = summarise(outcomes, threshold)
    report.update(policy=policy, episodes_per_case=episodes, chunk_steps=chunk_steps, first_seed=first_seed,
                  wall_s=wall_s, simulated_s=float(sum(o.time for o in outcomes)), **meta)
    return report


def _split_order(s: str) -> int:
    return SPLITS.index(s) if s in SPLITS else len(SPLITS)


def _rate(flags) -> float:
    flags = list(flags)
    return float(np.mean(flags)) if flags else float('nan')


def _row(split: str, task: str, os_: list[Outcome], threshold: float) -> dict[str, Any]:
    n = len(os_)
    k = sum(o.success for o in os_)
    lo, hi = wilson(k, n)
    won = [o.time for o in os_ if o.success]
    return {'split': split, 'task': task, 'episodes': n, 'successes': k,
            'success_rate': k / n if n else float('nan'), 'ci95': [lo, hi],
            'mean_time_to_success_s': float(np.mean(won)) if won else float('nan'),
            'collisions': int(sum(o.collisions for o in os_)),
            'mean_confidence': float(np.nanmean([o.mean_conf for o in os_])) if n else float('nan'),
            'refused': _rate([o.first_conf < threshold for o in os_]),
            'blocked_any': _rate([any(c < threshold for c in o.confidences) for o in os_]),
            'gate_share': _gate_share(os_),
            # --hold: of the successes, those whose state was kept, and the lowest confidence after each success
            'kept': sum(bool(o.kept) for o in os_ if o.success),
            'hold_min_confidence': [min(o.hold_confidences) for o in os_ if o.success and o.hold_confidences]}


def _gate_share(os_: list[Outcome]) -> dict[str, float]:
    """Share of control steps per gate state (empty without the gate)."""
    total: dict[str, int] = {}
    for o in os_:
        for k, v in o.gate_counts.items():
            total[k] = total.get(k, 0) + v
    n = sum(total.values())
    return {k: v / n for k, v in sorted(total.items())} if n else {}


def _fmt(x: float, pct: bool = True) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return 'n/a'
    return f'{100 * x:.0f}%' if pct else f'{x:.2f}'


GATED = "through vla_safety's gate (default parameters)"
UNGATED = 'UNGATED (commands applied as proposed)'


def _fmt_gate(share: dict[str, float]) -> str:
    if not share:
        return '-'
    return ' / '.join(_fmt(share.get(k, 0.0)) for k in ('SLOWDOWN', 'LIMITED', 'STOP'))


def to_markdown(report: dict[str, Any], title: str) -> str:
    s = report['summary']
    late = f", joint states and odometry {report['state_delay_s']} s late" if report.get('state_delay_s') else ''
    lines = [f'# {title}', '',
             f"policy `{report['policy']}`{BACKEND_NOTE.get(report.get('backend'), '')}, "
             f"{report['episodes_per_case']} episodes per task and split, chunk_steps "
             f"{report['chunk_steps']}"
             f"{'' if report.get('ensemble_coeff') is None else ', ACT ensembling ' + str(report['ensemble_coeff'])}"
             f", {GATED if report.get('gate', True) else UNGATED}"
             f"{late}"
             f", confidence threshold {s['threshold']}, seeds from {report['first_seed']}, "
             f"wall {report['wall_s']:.0f} s", '',
             '| split | task | success | 95% CI | mean time to success (s) | collisions | mean conf | refused '
             '| blocked | gate SLOWDOWN / LIMITED / STOP |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for r in report['rows'] + [dict(v, task='**all**') for v in report['splits'].values()]:
        oos = r['split'] == 'out_of_scope'
        succ = '-' if oos else f"{r['successes']}/{r['episodes']} ({_fmt(r['success_rate'])})"
        ci = '-' if oos else f"{_fmt(r['ci95'][0])}-{_fmt(r['ci95'][1])}"
        lines.append(f"| {r['split']} | {r['task']} | {succ} | {ci} | {_fmt(r['mean_time_to_success_s'], False)} | "
                     f"{r['collisions']} | {_fmt(r['mean_confidence'], False)} | {_fmt(r['refused'])} | "
                     f"{_fmt(r['blocked_any'])} | {_fmt_gate(r.get('gate_share') or {})} |")
    lo, hi = s['refusal_ci_out_of_scope']
    flo, fhi = s['false_refusal_ci_seen']
    lines += ['',
              f"- out-of-scope refused: {_fmt(s['refusal_rate_out_of_scope'])} (95% CI {_fmt(lo)}-{_fmt(hi)})",
              f"- false refusals on seen: {_fmt(s['false_refusal_rate_seen'])} (95% CI {_fmt(flo)}-{_fmt(fhi)})",
              f"- AUROC of confidence for predicting failure (in-scope episodes, {s['failures_in_scope']} failures): "
              f"mean confidence {_fmt(s['auroc_failure_mean_conf'], False)}, first confidence "
              f"{_fmt(s['auroc_failure_first_conf'], False)}",
              f"- policy latency per inference: p50 {s['latency_ms_p50']:.1f} ms, p99 {s['latency_ms_p99']:.1f} ms",
              '']
    if report.get('hold_s'):
        lines += [f"## Kept until the next command: {report['hold_s']:g} s after each success", '',
                  "the task's state at the end (vla_sim's keep check: still near the object, still looking at it, "
                  'the arm still up, still waving, no further turn, still at rest)', '',
                  '| split | task | kept / successes | lowest confidence after the success (median over episodes) |',
                  '|---|---|---|---|']
        for r in report['rows']:
            if r['split'] != 'out_of_scope':
                lows = r['hold_min_confidence']
                low = _fmt(float(np.median(lows)), False) if lows else 'n/a'
                lines.append(f"| {r['split']} | {r['task']} | {r['kept']}/{r['successes']} | {low} |")
        lines.append('')
    return '\n'.join(lines)


def write_report(out: Path, report: dict[str, Any], outcomes: list[Outcome], title: str,
                 extra_markdown: str = '') -> None:
    """``out``/results.json (the report and every episode), results.md (``title``, then
    ``extra_markdown``) and plots/*.png."""
    out.mkdir(parents=True, exist_ok=True)
    (out / 'results.json').write_text(json.dumps(_clean(dict(report, episodes=[asdict(o) for o in outcomes])),
                                                 indent=1))
    (out / 'results.md').write_text(to_markdown(report, title) + extra_markdown)
    plot(report, outcomes, out / 'plots')


def _clean(x):
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x

