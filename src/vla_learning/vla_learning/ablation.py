"""Ablation: train several model variants on the same data and evaluate them the same way.

    python -m vla_learning.ablation --config src/vla_learning/configs/ablation.yaml

The config names a base training config (the default policy's), a training budget shared by
every variant (steps, time limit), the evaluation (episodes per task and split), and the
variants, each a dict of model overrides (``SeedVLAConfig`` fields), trained without the base
config's DAgger round (``dagger.episodes`` 0: designs are compared on their training). Each variant trains into
``<output_dir>/<name>/run`` and is evaluated into ``<output_dir>/<name>/eval``; a variant whose
``eval/results.json`` exists is not run again (delete it to redo one). The table goes to
``<output_dir>/ablation.md`` and ``ablation.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vla_learning.config import ConfigError, EvalConfig, from_dict, load_config, read_yaml
from vla_learning.evaluate import evaluate
from vla_learning.train import train
from vla_policy.checkpoint import read_checkpoint

_PCT = '{:.0%}'.format


@dataclass(frozen=True)
class AblationConfig:
    """An ablation (``python -m vla_learning.ablation --config FILE``)."""

    base_config: str                     # the run config every variant starts from (data, training, model)
    output_dir: str = 'data/ablation'    # <output_dir>/<variant>/{run,checkpoint,eval}, ablation.md / .json
    train: dict[str, Any] = field(default_factory=dict)   # overrides of base_config's train: block, every variant
    eval: EvalConfig = field(default_factory=EvalConfig)  # the evaluation of every variant
    variants: dict[str, Any] = field(default_factory=dict)
    """name -> {model: SeedVLAConfig overrides, train: overrides of this variant only}"""

    def __post_init__(self) -> None:
        for name, v in self.variants.items():
            unknown = sorted(set(v or {}) - {'model', 'train'})
            if unknown:
                raise ConfigError(f"variant '{name}': unknown key(s) {unknown}; a variant has model: and train:")


def load_ablation(path: str | Path) -> AblationConfig:
    try:
        return from_dict(AblationConfig, read_yaml(path))
    except ConfigError as exc:
        raise ConfigError(f'{path}: {exc}') from None


def run_variant(name: str, overrides: dict[str, Any], conf: AblationConfig, out_root: Path,
                run: bool = True) -> dict[str, Any] | None:
    """Train (unless done) and evaluate (unless done) one variant; its row of the table. With
    ``run`` False, only the row of a variant already evaluated (None if it was not)."""
    out = out_root / name
    results = out / 'eval' / 'results.json'
    summary_path = out / 'run' / 'summary.json'
    if not run and not (results.exists() and summary_path.exists()):
        return None
    if not summary_path.exists():
        run_conf = load_config(conf.base_config, updates={
            'model': overrides.get('model') or {}, 'train': {**conf.train, **(overrides.get('train') or {})},
            'output_dir': str(out / 'run'), 'export_dir': str(out / 'checkpoint'),
            'dagger': {'episodes': 0}})   # designs compared on their training alone: no base round, whose
                                          # rollouts (one dataset path) another variant's policy would have made
        print(f'== {name}: training ({run_conf.train.steps} steps)', flush=True)
        train(run_conf, progress=False)
    summary = json.loads(summary_path.read_text())
    if not results.exists():
        ev = conf.eval
        print(f'== {name}: evaluating', flush=True)
        evaluate(str(out / 'checkpoint'), splits=ev.splits, tasks=ev.tasks, episodes=ev.episodes,
                 chunk_steps=ev.chunk_steps, threshold=ev.confidence_threshold, first_seed=ev.first_seed,
                 out=out / 'eval', progress=False)
    report = json.loads(results.read_text())
    return row_of(name, overrides, summary, report, out / 'checkpoint')


def row_of(name: str, overrides: dict, summary: dict, report: dict, checkpoint: Path) -> dict[str, Any]:
    s, sp = report['summary'], report['splits']
    cfg = json.loads((checkpoint / 'config.json').read_text()).get('config', {})
    n_params = sum(int(t.numel()) for t in read_checkpoint(checkpoint).load_tensors().values())

    def rate(split):
        return sp.get(split, {}).get('success_rate')

    return {'variant': name, 'overrides': overrides.get('model') or {},
            'vision': cfg['vision']['encoder'], 'language': cfg['language']['encoder'],
            'fusion': cfg['fusion']['type'], 'pooling': cfg['fusion'].get('pooling', 'mean'),
            'head': cfg['head']['type'], 'parameters': n_params,
            'steps': summary.get('steps'), 'train_wall_s': summary.get('train_wall_s'),
            'seen': rate('seen'), 'paraphrase': rate('paraphrase'), 'unseen_combo': rate('unseen_combo'),
            'oos_refused': s.get('refusal_rate_out_of_scope'), 'false_refusal': s.get('false_refusal_rate_seen'),
            'auroc': s.get('auroc_failure_mean_conf'), 'latency_p99_ms': s.get('latency_ms_p99')}


def to_markdown(rows: list[dict], conf: AblationConfig) -> str:
    lines = [f"Same dataset, same training budget ({conf.train.get('steps')} steps of batch "
             f"{conf.train.get('batch_size', 'as base')}), same evaluation "
             f"({conf.eval.episodes} seeded episodes per task and split).", '',
             '| variant | vision | language | fusion | pooling | head | params | steps | train min | seen | '
             'paraphrase | unseen combo | OOS refused | false refusal | AUROC | p99 ms |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']

    def f(x, pct=True):
        if x is None:
            return 'n/a'
        return _PCT(x) if pct else f'{x:.2f}'

    for r in rows:
        lines.append(f"| {r['variant']} | {r['vision']} | {r['language']} | {r['fusion']} | {r['pooling']} | "
                     f"{r['head']} | {r['parameters'] / 1e6:.2f} M | {r['steps']} | {r['train_wall_s'] / 60:.1f} | "
                     f"{f(r['seen'])} | {f(r['paraphrase'])} | {f(r['unseen_combo'])} | {f(r['oos_refused'])} | "
                     f"{f(r['false_refusal'])} | {f(r['auroc'], False)} | {f(r['latency_p99_ms'], False)} |")
    return '\n'.join(lines) + '\n'


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog='python -m vla_learning.ablation', description=__doc__.split('\n\n')[0])
    ap.add_argument('--config', required=True, help='ablation YAML (see configs/ablation.yaml)')
    ap.add_argument('--only', default='', help='comma-separated variant names to run (default: all)')
    args = ap.parse_args(argv)
    try:
        conf = load_ablation(args.config)
    except ConfigError as exc:
        ap.error(str(exc))
    out_root = Path(conf.output_dir)
    out_root.mkdir(parents=True, exist_ok=True)
    only = {v for v in args.only.split(',') if v}
    variants = conf.variants
    unknown = only - set(variants)
    if unknown:
        ap.error(f"--only names unknown variants {sorted(unknown)}; the config has {', '.join(variants)}")
    rows = []
    t0 = time.perf_counter()
    for name, overrides in variants.items():
        row = run_variant(name, overrides or {}, conf, out_root, run=not only or name in only)
        if row is None:
            continue
        rows.append(row)
        (out_root / 'ablation.json').write_text(json.dumps(rows, indent=1))
        (out_root / 'ablation.md').write_text(to_markdown(rows, conf))
    print(to_markdown(rows, conf))
    print(f'wrote {out_root}/ablation.md and ablation.json in {time.perf_counter() - t0:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
