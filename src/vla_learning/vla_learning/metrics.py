"""Training metrics: ``metrics.jsonl`` (one JSON object per line), its plot, and the AUROC used
by validation and evaluation. NumPy only (+ matplotlib to plot)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for positive ``labels`` (NaN if one class is missing)."""
    scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
    pos, neg = scores[labels], scores[~labels]
    if len(pos) == 0 or len(neg) == 0:
        return float('nan')
    order = np.argsort(np.concatenate([pos, neg]), kind='mergesort')
    ranks = np.empty(len(order))
    allv = np.concatenate([pos, neg])[order]
    # average ranks for ties
    i = 0
    r = np.arange(1, len(order) + 1, dtype=float)
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        r[i:j + 1] = (i + j + 2) / 2.0
        i = j + 1
    ranks[order] = r
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def append_metrics(path: Path, row: dict) -> None:
    """One line of ``metrics.jsonl``."""
    with open(path, 'a') as f:
        f.write(json.dumps({k: (float(v) if isinstance(v, (np.floating,)) else v) for k, v in row.items()}) + '\n')


def read_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def plot_metrics(metrics_path: Path, out_png: Path) -> Path:
    """Losses (train and val) and the validation's confidence figures over the steps."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = read_metrics(metrics_path)
    tr = [r for r in rows if r.get('split') == 'train']
    va = [r for r in rows if r.get('split') == 'val']
    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    for key, a in (('action_loss', ax[0]), ('confidence_loss', ax[1])):
        a.plot([r['step'] for r in tr], [r[key] for r in tr], label='train', alpha=0.7)
        a.plot([r['step'] for r in va], [r[key] for r in va], 'o-', label='val')
        a.set_title(key)
        a.set_xlabel('step')
        a.set_yscale('log')
        a.legend()
    for key, label in (('oos_auroc', 'OOS AUROC'), ('conf_inscope', 'mean conf in-scope'),
                       ('conf_oos', 'mean conf OOS')):
        ax[2].plot([r['step'] for r in va], [r.get(key, float('nan')) for r in va], 'o-', label=label)
    ax[2].set_title('confidence (val)')
    ax[2].set_xlabel('step')
    ax[2].legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png
