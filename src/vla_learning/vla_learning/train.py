"""Train the seed VLA policy on a demonstration dataset (behaviour cloning + a real confidence target).

    python -m vla_learning.train --config src/vla_learning/configs/default.yaml
    python -m vla_learning.train --config ... --resume            # go on from <output_dir>/checkpoints/last
    torchrun --nproc_per_node 2 -m vla_learning.train --config ...  # DDP, unchanged (gloo on CPU, nccl on GPU)

One command does everything: collects the dataset if ``dataset`` does not exist yet (the config's
``collect:`` block), trains with a progress bar, validates every ``val_every`` steps, writes
checkpoints (``vla_policy.checkpoint`` directories + ``trainer_state.pt`` for resuming), appends
metrics to ``<output_dir>/metrics.jsonl`` (one JSON object per line; ``plot_metrics`` draws
them), and copies the best checkpoint to ``export_dir``. The effective config (:mod:`vla_learning.config`'s
defaults under the file's overrides) is printed at the start and written to ``<output_dir>/config.yaml``
and, with the dataset, date and git commit, into every checkpoint's metadata
(:func:`vla_learning.checkpoints.run_metadata`).

With ``dagger: episodes: N`` one DAgger round follows: the best checkpoint drives N episodes in the
simulator through vla_safety's gate, the teacher labels every state it reaches
(``collect.rollout_policy``; written to ``dagger.dataset``, default ``<dataset>_rollouts``, reused
only if these weights drove it: ``meta/driven_by.json``), and training goes on from those weights
over the demonstrations and the rollouts together (``dagger.steps`` at ``dagger.lr``, in
``<output_dir>/dagger``). The round's best checkpoint is the one exported. The demonstrations
alone never show the states a learned policy drifts into (facing the wrong object up close, a wave
that fades); the rollouts do, with the action that leaves them, and the confidence head learns
where the policy still disagrees with the teacher.

Losses (per batch):
* action: the model's own behaviour-cloning loss (``action_head.loss``: MSE of the chunk in the
  embodiment's normalised action space, [-1, 1] from the URDF bounds, the contract with the nodes).
* confidence: BCE of the confidence head against a target computed in the same pass: 1 when the
  predicted chunk is within the loss config's ``agreement_threshold`` (RMS, normalised units, the dimensions
  weighted as in the action loss: ``model.action_loss_weights``) of the expert's, else 0;
  and 0 for out-of-scope instructions (``oos_fraction`` of each batch gets one of
  ``instructions.OOS_TRAIN``, with "stand still" as the action target; ``object_negatives`` of those
  are instead the sample's own instruction with its verb or its object made of unknown words).
* grounding (spatial_pooling 'grounded_query'): cross-entropy of the instruction's attention map
  against the grid cell of the named object, or its "not in view" slot (``annotation.target_in_view``
  labels of simulated demonstrations, moved with the image shift augmentation); weight
  ``model.grounding_loss_weight``. Datasets without the labels train without it.
* attribute grounding (``model.grounding_attribute_weight``): each sample also gets one random
  colour or shape word ("red", "crate"); its map on the same image is pulled toward every object in
  view that has that attribute (``annotation.objects_in_view`` labels), or to "not in view".
State inputs are normalised with the dataset's statistics (mean / std of observation.state),
written to the checkpoint's stats.json along with the action statistics.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from vla_learning.batches import make_batch
from vla_learning.checkpoints import (export_checkpoint, git_revision, load_trainer_state, run_metadata,
                                      save_training_checkpoint)
from vla_learning.collect import collect
from vla_learning.config import ConfigError, RunConfig, TrainConfig, load_config
from vla_learning.dataset import ACTION_KEY, CombinedDataset, LeRobotDataset
from vla_learning.distributed import DistInfo, barrier, init_distributed, seed_everything, shutdown
from vla_learning.metrics import append_metrics, auroc, plot_metrics
from vla_learning.training_data import TrainingData, sample_weights
from vla_policy.checkpoint import WEIGHTS_FILE, read_checkpoint
from vla_core.embodiment import load_embodiment
from vla_policy.models.configuration_flat import convert_flat_config
from vla_policy.models.configuration_loss import SeedVLALossConfig
from vla_policy.models.configuration_seed_vla import SeedVLAConfig
from vla_policy.models.constants import ACTION, CONFIDENCE, OBS_STATE, OUT_OF_SCOPE
from vla_policy.models.modeling_seed_vla import SeedVLAModel
from vla_policy.onnx_format import weights_sha256

#: seed of the validation batches: every validation scores the same samples
VAL_SEED = 12345


def build_model_config(run: RunConfig, embodiment) -> SeedVLAConfig:
    """The model's config: the embodiment's defaults with the run's (flat) ``model:`` overrides."""
    return SeedVLAConfig.for_embodiment(embodiment, **convert_flat_config(run.model)[0])


def build_loss_config(run: RunConfig) -> SeedVLALossConfig:
    """The training-only loss weights among the run's ``model:`` overrides."""
    return SeedVLALossConfig.from_dict(convert_flat_config(run.model)[1])


class BCObjective(nn.Module):
    """``model.compute_loss`` as a module, so DistributedDataParallel sees one forward per step."""

    def __init__(self, model, loss_cfg: SeedVLALossConfig) -> None:
        super().__init__()
        self.model = model
        self.loss_cfg = loss_cfg

    def forward(self, batch):
        return self.model.compute_loss(batch, self.loss_cfg)


def lr_at(step: int, elapsed: float, tc: TrainConfig) -> float:
    """Linear warm-up, then cosine from ``lr`` to 2 % of it over max(step / steps, elapsed / time_limit_s)."""
    if step < tc.warmup_steps:
        return tc.lr * (step + 1) / tc.warmup_steps
    progress = step / max(tc.steps, 1)
    if tc.time_limit_s > 0:
        progress = max(progress, elapsed / tc.time_limit_s)
    return tc.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


@dataclass
class Session:
    """What a training run's steps, validations and checkpoints share."""

    run: RunConfig
    dist: DistInfo
    device: torch.device
    embodiment: Any
    model_cfg: SeedVLAConfig
    loss_cfg: SeedVLALossConfig
    data: TrainingData
    stats: dict[str, Any]                 # the checkpoint's stats.json
    train_rows: np.ndarray
    val_rows: np.ndarray
    weights: np.ndarray                   # sampling weight of each train row
    model: SeedVLAModel
    objective: BCObjective
    wrapped: nn.Module                    # the objective, under DDP with several processes
    opt: torch.optim.Optimizer
    gen: np.random.Generator
    metadata: dict[str, Any]
    step: int = 0
    elapsed_before: float = 0.0           # seconds trained before this process (resumed runs)
    best_val: float = float('inf')
    t_start: float = field(default_factory=time.perf_counter)

    @property
    def out_dir(self) -> Path:
        return Path(self.run.output_dir)

    @property
    def ckpt_dir(self) -> Path:
        return self.out_dir / 'checkpoints'

    @property
    def metrics_path(self) -> Path:
        return self.out_dir / 'metrics.jsonl'

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.t_start


def ensure_dataset(run: RunConfig, dist: DistInfo, progress: bool) -> None:
    """Collect ``run.dataset`` (the ``collect:`` block) if it does not exist yet (rank 0)."""
    ds_path = Path(run.dataset)
    if not (ds_path / 'meta' / 'info.json').exists():
        if dist.main:
            print(f'dataset {ds_path} not found: collecting it first')
            collect(ds_path, run.collect, progress=progress)
        barrier(dist)


def prepare(run: RunConfig, progress: bool, *, extra_datasets: tuple[str, ...] = (), init_from: Path | None = None,
            record: RunConfig | None = None) -> Session:
    """Dataset (collected if missing), model, optimiser, under torchrun or not. ``extra_datasets``
    are trained on with ``run.dataset`` (its statistics normalise them all); ``init_from``: start
    from that checkpoint's weights; ``record``: the run config the checkpoints' metadata names
    (default ``run``)."""
    dist, device = init_distributed()
    torch.set_num_threads(run.train.num_threads)
    embodiment = load_embodiment(run.embodiment)
    model_cfg, loss_cfg = build_model_config(run, embodiment), build_loss_config(run)
    loss_cfg.check_action_dim(model_cfg.action_dim)      # before minutes of collection, not at the first step
    ensure_dataset(run, dist, progress)
    if dist.main:
        (Path(run.output_dir) / 'checkpoints').mkdir(parents=True, exist_ok=True)
    ds = LeRobotDataset(run.dataset)
    if extra_datasets:
        ds = CombinedDataset([ds, *(LeRobotDataset(p) for p in extra_datasets)])
    ds_stats = ds.stats()
    data = TrainingData(ds, model_cfg, embodiment, ds_stats)
    stats = {OBS_STATE: data.state_normalizer.to_stats(),
             ACTION: {'names': [d.name for d in embodiment.dims],
                      **{k: ds_stats[ACTION_KEY][k] for k in ('mean', 'std', 'min', 'max')}}}
    train_rows = data.rows_of(ds.split('train'))
    val_rows = data.rows_of(ds.split('val')) if 'val' in ds.info.get('splits', {}) else train_rows[:0]
    seed_everything(run.seed)
    model = SeedVLAModel.from_seed(model_cfg, run.seed)
    if model_cfg.residual_joints:
        model.set_residual_reference(embodiment, data.state_normalizer.mean, data.state_normalizer.std)
    if init_from is not None:
        model.load_state_dict(read_checkpoint(init_from).load_tensors())
    model = model.to(device)
    objective = BCObjective(model, loss_cfg)
    wrapped = objective if dist.world == 1 else DistributedDataParallel(
        objective, device_ids=[device.index] if device.type == 'cuda' else None)
    opt = torch.optim.AdamW(model.parameters(), lr=run.train.lr, weight_decay=run.train.weight_decay)
    metadata = run_metadata(record or run, ds.num_episodes, ds.total_frames, dist.world,
                            datetime.datetime.now(datetime.timezone.utc), git_revision())
    if extra_datasets:
        metadata.update(extra_datasets=list(extra_datasets), initialised_from=str(init_from))
    metadata['loss'] = loss_cfg.to_dict()          # training-only weights: not in the model's config
    return Session(run, dist, device, embodiment, model_cfg, loss_cfg, data, stats, train_rows, val_rows,
                   sample_weights(data.task_name, train_rows), model, objective, wrapped, opt,
                   np.random.default_rng([run.seed, dist.rank]), metadata)


def resume_from_last(s: Session) -> None:
    """Weights, optimiser, step, clock and RNG states of ``checkpoints/last``, if there is one."""
    last = s.ckpt_dir / 'last'
    st = load_trainer_state(last)
    if st is None:
        if s.dist.main:
            print(f'--resume: nothing in {last}; starting from scratch')
        return
    s.model.load_state_dict(read_checkpoint(last).load_tensors())
    s.opt.load_state_dict(st['optimizer'])
    s.step, s.elapsed_before, s.best_val = st['step'], st['elapsed_s'], st['best_val']
    s.gen.bit_generator.state = st['numpy_rng'][s.dist.rank % len(st['numpy_rng'])]
    torch.set_rng_state(st['torch_rng'])
    if s.dist.main:
        print(f'resumed from {last} at step {s.step} ({s.elapsed_before:.0f} s trained)')


def train_step(s: Session, lr: float) -> dict[str, float]:
    """One optimiser step on a sampled batch; its logs."""
    tc = s.run.train
    for g in s.opt.param_groups:
        g['lr'] = lr
    rows = s.train_rows[s.gen.choice(len(s.train_rows), tc.batch_size, p=s.weights)]
    batch = make_batch(s.data, rows, s.gen, tc.confidence, s.model_cfg, tc.augment, s.device, s.loss_cfg)
    loss, logs = s.wrapped(batch)
    s.opt.zero_grad(set_to_none=True)
    loss.backward()
    if tc.grad_clip:
        torch.nn.utils.clip_grad_norm_(s.model.parameters(), tc.grad_clip)
    s.opt.step()
    s.step += 1
    return {k: float(v) for k, v in logs.items()}


def validate(s: Session, elapsed: float) -> dict[str, Any]:
    """The validation row of metrics.jsonl: mean losses over ``val_batches`` fixed batches of the
    val episodes, and the confidence in scope, out of scope and its AUROC."""
    row: dict[str, Any] = {'split': 'val', 'step': s.step, 'wall_s': round(elapsed, 1)}
    if not len(s.val_rows):
        return row
    tc = s.run.train
    vgen = np.random.default_rng(VAL_SEED)
    sums: dict[str, float] = {}
    confs, oos = [], []
    s.model.eval()
    with torch.no_grad():
        for _ in range(tc.val_batches):
            rows = s.val_rows[vgen.choice(len(s.val_rows), min(tc.batch_size, len(s.val_rows)), replace=False)]
            batch = make_batch(s.data, rows, vgen, tc.confidence, s.model_cfg, None, s.device, s.loss_cfg)
            _, logs = s.objective(batch)
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            confs.append(s.model(batch)[CONFIDENCE].cpu().numpy())
            oos.append(batch[OUT_OF_SCOPE].cpu().numpy())
    s.model.train()
    row.update({k: v / tc.val_batches for k, v in sums.items()})
    c, o = np.concatenate(confs), np.concatenate(oos)
    row['conf_inscope'] = float(c[~o].mean()) if (~o).any() else float('nan')
    row['conf_oos'] = float(c[o].mean()) if o.any() else float('nan')
    row['oos_auroc'] = auroc(-c, o)
    return row


def save_checkpoints(s: Session, val_loss: float, elapsed: float) -> None:
    """``checkpoints/last`` always; ``checkpoints/best`` when ``val_loss`` is the best so far."""
    state = {'step': s.step, 'elapsed_s': elapsed, 'best_val': s.best_val, 'optimizer': s.opt.state_dict(),
             'numpy_rng': [s.gen.bit_generator.state], 'torch_rng': torch.get_rng_state()}
    md = dict(s.metadata, step=s.step, val_action_loss=val_loss, trained_s=round(elapsed, 1))
    words = s.data.instructions if s.data.object_word_ids is not None else None     # hashed words
    save_training_checkpoint(s.ckpt_dir / 'last', s.model, s.embodiment, s.stats, md, state, words)
    if not (val_loss >= s.best_val):   # NaN-safe: the first validation always counts
        s.best_val = val_loss if math.isfinite(val_loss) else s.best_val
        state['best_val'] = s.best_val
        save_training_checkpoint(s.ckpt_dir / 'best', s.model, s.embodiment, s.stats, md, state, words)


def validate_and_save(s: Session) -> None:
    """Rank 0 validates and writes checkpoints; the other ranks wait for it."""
    if s.dist.main:
        elapsed = s.elapsed()
        row = validate(s, elapsed)
        append_metrics(s.metrics_path, row)
        save_checkpoints(s, row.get('action_loss', float('nan')), elapsed)
    barrier(s.dist)


def report_effective_config(run: RunConfig) -> None:
    """Print the effective config and write it to ``<output_dir>/config.yaml``."""
    text = yaml.safe_dump(run.to_dict(), sort_keys=False)
    print(f'effective config (defaults: vla_learning.config):\n{text}', flush=True)
    (Path(run.output_dir) / 'config.yaml').write_text(text)


def fit(s: Session, progress: bool) -> dict[str, Any]:
    """Train ``s`` to its steps or time limit, validating and checkpointing; its summary."""
    tc = s.run.train
    bar = tqdm(total=tc.steps, initial=s.step, disable=not (progress and s.dist.main), desc='train', unit='step',
               dynamic_ncols=True)
    acc: dict[str, float] = {}
    n_acc, t_log, stop_reason = 0, time.perf_counter(), 'steps'
    s.model.train()
    while s.step < tc.steps:
        elapsed = s.elapsed()
        if tc.time_limit_s > 0 and elapsed >= tc.time_limit_s:
            stop_reason = 'time_limit'
            break
        lr = lr_at(s.step, elapsed, tc)
        for k, v in train_step(s, lr).items():
            acc[k] = acc.get(k, 0.0) + v
        n_acc += 1
        bar.update(1)
        if s.step % tc.log_every == 0 and s.dist.main:
            now = time.perf_counter()
            row = {'split': 'train', 'step': s.step, 'lr': lr, 'wall_s': round(s.elapsed(), 1),
                   'samples_per_s': round(tc.log_every * tc.batch_size * s.dist.world / (now - t_log), 1),
                   **{k: v / n_acc for k, v in acc.items()}}
            append_metrics(s.metrics_path, row)
            bar.set_postfix(loss=f"{row['loss']:.4f}", act=f"{row['action_loss']:.4f}",
                            agree=f"{row.get('agreement', float('nan')):.2f}")
            acc, n_acc, t_log = {}, 0, now
        if s.step % tc.val_every == 0 or s.step == tc.steps:
            validate_and_save(s)
    bar.close()
    if s.step % tc.val_every != 0 and s.step != tc.steps:
        validate_and_save(s)
    return {'steps': s.step, 'stop_reason': stop_reason, 'train_wall_s': round(s.elapsed(), 1),
            'best_val': s.best_val, 'output_dir': str(s.out_dir)}


#: in a rollout dataset's meta/: the checkpoint whose weights drove it (a DAgger round reuses only its own)
DRIVEN_BY = 'driven_by.json'


def weights_digest(checkpoint: Path) -> str:
    """sha256 of a checkpoint's weights file (the ONNX export's own digest): which policy drove a set
    of rollouts."""
    return weights_sha256(Path(checkpoint) / WEIGHTS_FILE)


def dagger_session(run: RunConfig, first: Session, progress: bool) -> Session:
    """The DAgger round after ``first`` (``run.dagger``): its best checkpoint drives rollouts the
    teacher labels (collected unless the dataset exists and those weights drove it), and a session
    that goes on training from those weights over the demonstrations and the rollouts, in
    ``<output_dir>/dagger``."""
    d = run.dagger
    best = first.ckpt_dir / 'best'
    rollouts = Path(d.dataset or f"{run.dataset.rstrip('/')}_rollouts")
    digest = weights_digest(best)
    marker = rollouts / 'meta' / DRIVEN_BY
    driver = json.loads(marker.read_text()) if marker.exists() else None
    stale = driver is not None and driver.get('model_sha256') != digest
    if stale or not (rollouts / 'meta' / 'info.json').exists():
        if first.dist.main:
            if stale:
                # rollouts belong to the policy that drove them: another run's would teach this one
                # the states that one drifted into
                print(f"dagger: the rollouts in {rollouts} were driven by other weights ({driver.get('checkpoint')}, "
                      f"sha256 {str(driver.get('model_sha256'))[:12]}); deleting them", flush=True)
                shutil.rmtree(rollouts)
            print(f'dagger: {best} drives {d.episodes} episodes through the gate, the teacher labels them: '
                  f'{rollouts}', flush=True)
            c = run.collect
            done = collect(rollouts, replace(c, episodes=d.episodes, seed=d.seed, rollout_policy=str(best),
                                             rollout_handover=d.handover, task_weights=d.task_weights or c.task_weights,
                                             hold_after_success_s=(c.hold_after_success_s if d.hold_after_success_s < 0
                                                                   else d.hold_after_success_s)),
                           progress=progress)
            marker.write_text(json.dumps({'checkpoint': str(best), 'model_sha256': digest}, indent=2))
            print(f"dagger: {done['episodes_written']} rollouts, {done['frames']} frames in {done['wall_s']} s "
                  f"(not finished by the teacher, kept up to the handover: {done['teacher_failures'] or 'none'})",
                  flush=True)
        barrier(first.dist)
    elif first.dist.main:
        by = 'these weights' if driver else 'a policy it does not record'
        print(f'dagger: reusing the rollouts in {rollouts}, driven by {by} (delete it to have {best} drive them '
              f'again)', flush=True)
    first.data = None                          # the demonstrations are read again with the rollouts
    stage = replace(run, output_dir=str(Path(run.output_dir) / 'dagger'),
                    train=replace(run.train, steps=d.steps, lr=d.lr, warmup_steps=d.warmup_steps,
                                  time_limit_s=d.time_limit_s))
    return prepare(stage, progress, extra_datasets=(str(rollouts),), init_from=best, record=run)


def train(run: RunConfig, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train ``run`` (then its DAgger round, if any); the summary (steps, stop reason, wall time,
    best validation loss; the round's under 'dagger'). ``resume`` goes on with the first training
    from ``checkpoints/last``; a DAgger round starts over (reusing its rollouts if these weights
    drove them)."""
    s = prepare(run, progress)
    if s.dist.main:
        report_effective_config(run)
    if resume:
        resume_from_last(s)
    summary = fit(s, progress)
    stages = [s]
    if run.dagger.episodes:
        stages.append(dagger_session(run, s, progress))
        summary['dagger'] = fit(stages[-1], progress)
    if s.dist.main:
        finish(stages, summary)
    barrier(s.dist)
    shutdown(s.dist)
    return summary


def finish(stages: list[Session], summary: dict[str, Any]) -> None:
    """metrics.png of each stage, the export of the last stage's best checkpoint, summary.json."""
    for s in stages:
        try:
            plot_metrics(s.metrics_path, s.out_dir / 'metrics.png')
        except Exception as exc:  # noqa: BLE001 - a plot must not lose a finished training run
            print(f'could not plot metrics: {exc}')
    last = stages[-1]
    if last.run.export_dir:
        export_checkpoint(last.ckpt_dir / 'best', Path(last.run.export_dir))
        summary['exported_to'] = last.run.export_dir
    (stages[0].out_dir / 'summary.json').write_text(json.dumps(summary, indent=2))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog='python -m vla_learning.train', description=__doc__.split('\n\n')[0])
    ap.add_argument('--config', help='training config YAML (see configs/default.yaml); required unless --plot')
    ap.add_argument('--resume', action='store_true', help='continue from <output_dir>/checkpoints/last')
    ap.add_argument('--set', nargs='*', default=[], metavar='KEY=VALUE',
                    help='override config values, e.g. train.steps=200 output_dir=data/runs/x '
                         '(the keys and defaults: vla_learning/config.py)')
    ap.add_argument('--no-progress', action='store_true')
    ap.add_argument('--plot', metavar='METRICS_JSONL', help='only plot an existing metrics file and exit')
    args = ap.parse_args(argv)
    if args.plot:
        print(plot_metrics(Path(args.plot), Path(args.plot).with_suffix('.png')))
        return 0
    if not args.config:
        ap.error('give --config FILE (e.g. src/vla_learning/configs/default.yaml), or --plot METRICS_JSONL')
    try:
        run = load_config(args.config, args.set)
    except ConfigError as exc:
        ap.error(str(exc))
    summary = train(run, resume=args.resume, progress=not args.no_progress)
    if int(os.environ.get('RANK', '0')) == 0:
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
