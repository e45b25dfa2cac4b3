"""Feature statistics in LeRobot's v3.0 layout: per episode, and aggregated over episodes. NumPy only.

The same rules as ``lerobot.datasets.compute_stats`` (0.4), so that statistics written here and
statistics LeRobot writes (when it appends, splits or merges one of our datasets) mean the same:

* every statistic is a list: ``min``, ``max``, ``mean``, ``std`` (population), ``count`` (``[n]``)
  and the quantiles ``q01``, ``q10``, ``q50``, ``q90``, ``q99`` (pi0.5 normalises with them);
* a vector feature (N, D) gets (D,) values, a scalar feature (N,) gets (1,) values; min and max of
  an integer feature (frame_index ...) are integers, everything else floats;
* an image feature gets per-channel values of shape (3, 1, 1), of pixels scaled to [0, 1], over the
  frames :func:`sample_indices` picks (all of a short episode; ``count`` is the number of frames used);
* with fewer than two samples the quantiles equal the mean;
* the dataset's statistics aggregate the episodes': min of mins, max of maxes, the count-weighted
  mean, the pooled variance, and count-weighted quantiles (LeRobot's approximation: a quantile of
  the whole is not the weighted mean of the episodes' quantiles, but this is what LeRobot computes
  when it edits a dataset, so both agree).

Quantiles here are exact sample quantiles (``numpy.quantile``, ``inverted_cdf``: the smallest value
with at least q of the samples at or below it); LeRobot estimates the same from a 5000-bin
histogram, so the two differ by about 1/5000 of the feature's range. Image ``std`` here is the true
one; lerobot 0.4.4 squares uint8 pixels without a cast and gets 0 (seen by scripts/lerobot_interop.py).

Labels with NaN entries (our annotation columns: NaN = not labelled) get their statistics over the
finite entries of each dimension; a dimension with none has NaN statistics.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_KEYS = tuple(f'q{int(q * 100):02d}' for q in QUANTILES)
STAT_KEYS = ('min', 'max', 'mean', 'std', 'count') + QUANTILE_KEYS


def sample_indices(n: int, min_samples: int = 100, max_samples: int = 10_000, power: float = 0.75) -> list[int]:
    """Which of an episode's ``n`` frames its image statistics use (LeRobot's choice): all when
    ``n`` <= 100, else ``max(100, n ** 0.75)`` frames evenly spread."""
    k = max(min(min_samples, n), min(int(n ** power), max_samples))
    return np.round(np.linspace(0, n - 1, k)).astype(int).tolist()


def _columns_stats(x: np.ndarray, count: int) -> dict[str, np.ndarray]:
    """Stats of each column of ``x`` (M, D) over its finite rows; ``count`` is reported as is."""
    x = np.asarray(x, dtype=np.float64)
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid='ignore'), _quiet_nan_warnings():
        out['min'] = np.nanmin(x, axis=0)
        out['max'] = np.nanmax(x, axis=0)
        out['mean'] = np.nanmean(x, axis=0)
        out['std'] = np.nanstd(x, axis=0)
        if x.shape[0] < 2:
            qs = [out['mean']] * len(QUANTILES)
        else:
            qs = list(np.nanquantile(x, QUANTILES, axis=0, method='inverted_cdf'))
    out['count'] = np.array([int(count)])
    for k, q in zip(QUANTILE_KEYS, qs):
        out[k] = np.asarray(q, dtype=np.float64)
    return out


class _quiet_nan_warnings:
    """All-NaN columns are expected for labels (NaN stats result); numpy's RuntimeWarning is noise."""

    def __enter__(self):
        import warnings
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter('ignore', RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def vector_stats(x: np.ndarray) -> dict[str, list]:
    """Statistics of a numeric feature: (N,) -> values of shape (1,), (N, D) -> (D,)."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f'vector_stats needs (N,) or (N, D) with N > 0, got {x.shape}')
    st = _columns_stats(x, len(x))
    if np.issubdtype(x.dtype, np.integer):           # as LeRobot: min / max of an integer feature stay integers
        st['min'], st['max'] = x.min(axis=0), x.max(axis=0)
    return _as_lists(st)


def image_stats(images: np.ndarray) -> dict[str, list]:
    """Per-channel statistics of (N, H, W, 3) uint8 frames, in [0, 1], shape (3, 1, 1) each."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
        raise ValueError(f'image_stats needs (N, H, W, 3) frames, got {images.shape}')
    rows = sample_indices(len(images))
    px = images[rows].reshape(-1, 3).astype(np.float64) / 255.0
    st = _columns_stats(px, len(rows))
    return _as_lists({k: v if k == 'count' else v.reshape(3, 1, 1) for k, v in st.items()})


def _as_lists(st: Mapping[str, np.ndarray]) -> dict[str, list]:
    return {k: np.asarray(v).tolist() for k, v in st.items()}


def aggregate_stats(per_episode: Sequence[Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, list]]:
    """The dataset's statistics from its episodes' (features missing in some episodes use the others)."""
    keys = list(dict.fromkeys(k for st in per_episode for k in st))
    out = {}
    for key in keys:
        parts = [st[key] for st in per_episode if key in st and st[key] is not None]
        out[key] = _as_lists(_aggregate_feature(parts))
    return out


def _aggregate_feature(parts: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    means = np.stack([np.asarray(p['mean'], dtype=np.float64) for p in parts])
    var = np.stack([np.asarray(p['std'], dtype=np.float64) ** 2 for p in parts])
    counts = np.stack([np.asarray(p['count'], dtype=np.float64) for p in parts])     # (E, 1)
    total = counts.sum(axis=0)
    w = counts.reshape(counts.shape + (1,) * (means.ndim - counts.ndim))
    mean = (means * w).sum(axis=0) / total
    variance = ((var + (means - mean) ** 2) * w).sum(axis=0) / total
    out = {'min': np.min(np.stack([np.asarray(p['min'], dtype=np.float64) for p in parts]), axis=0),
           'max': np.max(np.stack([np.asarray(p['max'], dtype=np.float64) for p in parts]), axis=0),
           'mean': mean, 'std': np.sqrt(variance), 'count': total.astype(np.int64)}
    for q in QUANTILE_KEYS:
        if all(q in p for p in parts):
            out[q] = (np.stack([np.asarray(p[q], dtype=np.float64) for p in parts]) * w).sum(axis=0) / total
    return out


def flatten_episode_stats(stats: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``{feature: {stat: v}}`` -> ``{'stats/<feature>/<stat>': v}`` (the columns of meta/episodes)."""
    return {f'stats/{feat}/{k}': v for feat, st in stats.items() for k, v in st.items()}


def unflatten_episode_stats(row: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The inverse of :func:`flatten_episode_stats` for one episodes row (other columns ignored)."""
    out: dict[str, dict[str, Any]] = {}
    for col, v in row.items():
        if col.startswith('stats/') and v is not None:
            feat, stat = col[len('stats/'):].rsplit('/', 1)
            out.setdefault(feat, {})[stat] = v
    return out
