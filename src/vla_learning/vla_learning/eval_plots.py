"""Plots of an evaluation report: success per task and split (95 % CI), and the confidence of
successes, failures and out-of-scope requests against the threshold."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from vla_learning.config import SPLITS


def plot(report: dict[str, Any], outcomes, out_dir: Path) -> list[Path]:
    """``out_dir``/success.png and confidence.png of ``report`` and its ``outcomes`` (Outcome list)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    rows = [r for r in report['rows'] if r['split'] != 'out_of_scope']
    tasks = sorted({r['task'] for r in rows})
    splits = [s for s in SPLITS if any(r['split'] == s for r in rows)] + sorted(
        {r['split'] for r in rows} - set(SPLITS))
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(tasks)), 4))
    w = 0.8 / max(len(splits), 1)
    for j, sp in enumerate(splits):
        xs, ys, err = [], [], [[], []]
        for i, t in enumerate(tasks):
            r = next((r for r in rows if r['split'] == sp and r['task'] == t), None)
            if r is None:
                continue
            xs.append(i + j * w)
            ys.append(r['success_rate'])
            err[0].append(max(0.0, r['success_rate'] - r['ci95'][0]))
            err[1].append(max(0.0, r['ci95'][1] - r['success_rate']))
        ax.bar(xs, ys, w, yerr=err, capsize=2, label=sp)
    ax.set_xticks([i + 0.4 - w / 2 for i in range(len(tasks))])
    ax.set_xticklabels(tasks, rotation=30, ha='right')
    ax.set_ylim(0, 1.05)
    ax.set_ylabel('success rate (95% CI)')
    ax.legend(fontsize=8)
    paths.append(_save(fig, out_dir / 'success.png'))
    fig, ax = plt.subplots(figsize=(6, 4))
    groups = {'in-scope success': [o.mean_conf for o in outcomes if o.task != 'out_of_scope' and o.success],
              'in-scope failure': [o.mean_conf for o in outcomes if o.task != 'out_of_scope' and not o.success],
              'out of scope (first)': [o.first_conf for o in outcomes if o.task == 'out_of_scope']}
    for label, v in groups.items():
        if v:
            ax.hist(v, bins=20, range=(0, 1), alpha=0.6, label=f'{label} ({len(v)})')
    ax.axvline(report['summary']['threshold'], color='k', ls='--')
    ax.set_xlabel('confidence')
    ax.set_ylabel('episodes')
    ax.legend(fontsize=8)
    paths.append(_save(fig, out_dir / 'confidence.png'))
    return paths


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path

