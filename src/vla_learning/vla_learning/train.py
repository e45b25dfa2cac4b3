"""Train the seed VLA policy on a demonstration dataset (behaviour cloning + a real confidence target).

    python -m vla_learning.train --config src/vla_learning/configs/default.yaml
    python -m vla_learning.train --config ... --resume            # go on from <output_dir>/checkpoints/last
    torchrun --nproc_per_node 2 -m vla_learning.train --config ...  # DDP, unchanged (gloo on CPU, nccl on GPU)

One command does everything: collects the dataset if ``dataset`` does not exist yet (the config's
``collect:`` block), trains with a progress bar, validates every ``val_every`` steps, writes
checkpoints (``vla_policy.checkpoint`` directories + ``trainer_state.pt`` for resuming), appends
metrics to ``<output_dir>/metrics.jsonl`` (one JSON object per line; ``plot_metrics`` draws
them), and copies the best checkpoint to ``export_dir``.

Losses (per batch):
* action: the model's own behaviour-cloning loss (``action_head.loss``: MSE of the chunk in the
  embodiment's normalised action space, [-1, 1] from the URDF bounds, the contract with the nodes).
* confidence: BCE of the confidence head against a target computed in the same pass: 1 when the
  predicted chunk is within ``confidence.tolerance`` (RMS, normalised units) of the expert's, else 0;
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
import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

STATE_STD_FLOOR = 0.1   # rad: joints that barely move in the data are not blown up by a tiny std


# -- configuration -------------------------------------------------------------------------------
def load_config(path: str | os.PathLike, overrides: list[str] | None = None) -> dict[str, Any]:
    """YAML config + ``key.sub=value`` overrides (values parsed as YAML)."""
    import yaml
    conf = yaml.safe_load(Path(path).read_text()) or {}
    for item in overrides or []:
        if '=' not in item:
            raise ValueError(f"override '{item}' must look like train.steps=100")
        key, value = item.split('=', 1)
        node = conf
        parts = key.split('.')
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = yaml.safe_load(value)
    for k in ('dataset', 'output_dir'):
        if not conf.get(k):
            raise ValueError(f"config {path}: '{k}' is required")
    return conf


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed():
    """DDP when launched by torchrun (WORLD_SIZE > 1): gloo on CPU, nccl with CUDA."""
    import torch
    import torch.distributed as dist
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world <= 1:
        return DistInfo(), torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    local = int(os.environ.get('LOCAL_RANK', '0'))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        dist.init_process_group('nccl')
        device = torch.device('cuda', local)
    else:
        dist.init_process_group('gloo')
        device = torch.device('cpu')
    return DistInfo(dist.get_rank(), dist.get_world_size(), local), device


def seed_everything(seed: int) -> None:
    import torch
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


# -- data ----------------------------------------------------------------------------------------
class TrainingData:
    """The dataset in memory, as tensors ready for batches.

    images (N, 3, S, S) uint8; state (N, J) normalised; chunks (N, K, D) normalised actions
    (padded with the episode's last action); tokens (T, L) per task_index; per-frame task name.
    """

    def __init__(self, ds, model_cfg, embodiment, stats: dict[str, Any]) -> None:
        import torch
        import torch.nn.functional as F
        from vla_policy.models.components import TOKENIZERS
        from vla_policy.models.normalization import StateNormalizer
        from vla_learning.dataset import ACTION_KEY, OBJECTS_KEY, STATE_KEY, TARGET_KEY
        from vla_learning.instructions import OOS_TRAIN
        f = ds.frames
        n = len(f['index'])
        imgs = ds.images()
        x = torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous()
        s = model_cfg.image_size
        if x.shape[-1] != s or x.shape[-2] != s:
            x = torch.cat([F.interpolate(x[i:i + 512], size=(s, s), mode='bilinear', antialias=True)
                           for i in range(0, n, 512)])
        self.images = x
        names = list(ds.state_names)
        order = [names.index(j) for j in model_cfg.state_joints]
        st = stats[STATE_KEY]
        self.state_normalizer = StateNormalizer(
            list(model_cfg.state_joints), [st['mean'][i] for i in order],
            [max(st['std'][i], STATE_STD_FLOOR) for i in order])
        raw_state = f[STATE_KEY][:, order]
        self.raw_state = raw_state
        # seconds since the episode's instruction began (OBS_ELAPSED, for elapsed_horizon_s)
        self.elapsed = torch.from_numpy(np.array(f['timestamp'], dtype=np.float32).reshape(n, 1))
        self.state = torch.from_numpy(np.clip((raw_state - self.state_normalizer.mean) / self.state_normalizer.std,
                                              -5, 5).astype(np.float32))
        acts = np.clip(embodiment.normalize(f[ACTION_KEY]), -1, 1).astype(np.float32)     # (N, D)
        ep = f['episode_index']
        ends = np.zeros(n, dtype=np.int64)
        for e in np.unique(ep):
            sl = ds.episode_frames(int(e))
            ends[sl] = sl.stop - 1
        k = model_cfg.chunk_size
        idx = np.minimum(np.arange(n)[:, None] + np.arange(k)[None, :], ends[:, None])
        self.chunks = torch.from_numpy(acts[idx])
        tok = TOKENIZERS.get(model_cfg.tokenizer).from_config(model_cfg)
        self.language_key = getattr(tok, 'batch_key', None) or TOKENIZERS.batch_key(model_cfg.tokenizer)
        self.tokens = torch.from_numpy(np.asarray(tok(list(ds.tasks))))
        self.oos_tokens = torch.from_numpy(np.asarray(tok(list(OOS_TRAIN))))
        # ids of the object words (colours, shapes and their synonyms) and of the articles, for the
        # object negatives ("<unknown verb> the red ball", "walk to the <unknown> <unknown>")
        self.object_word_ids = self.article_ids = None
        if not self.tokens.is_floating_point():               # hashed words (not sentence embeddings)
            from vla_learning.instructions import COLOUR_WORDS, SHAPE_WORDS
            objects = [w for ws in (*COLOUR_WORDS.values(), *SHAPE_WORDS.values()) for w in ws]
            self.object_word_ids = torch.from_numpy(np.asarray(tok(objects))[:, 0])
            self.article_ids = torch.from_numpy(np.asarray(tok(['the', 'that', 'a']))[:, 0])
        self.task_index = torch.from_numpy(f['task_index'].astype(np.int64))
        # grounding labels (simulated demonstrations): in_view, x, y of the named object; NaN = none
        self.target_in_image = (torch.from_numpy(f[TARGET_KEY].astype(np.float32)) if TARGET_KEY in f
                                else torch.full((n, 3), float('nan')))
        # per-attribute grounding labels: (in_view, x, y) of every catalogue object; one query word
        # per colour / shape word (synonyms included) and which objects have its attribute
        self.objects_in_image = self.attribute_tokens = self.attribute_objects = None
        if OBJECTS_KEY in f and ds.object_names:
            from vla_learning.instructions import COLOUR_WORDS, SHAPE_WORDS
            k = len(ds.object_names)
            self.objects_in_image = torch.from_numpy(f[OBJECTS_KEY].astype(np.float32).reshape(n, k, 3))
            parts = [name.split('_', 1) for name in ds.object_names]           # 'red_ball' -> red, ball
            words, has = [], []
            for column, table in ((0, COLOUR_WORDS), (1, SHAPE_WORDS)):
                for attribute, synonyms in table.items():
                    for w in synonyms:
                        words.append(w)
                        has.append([p[column] == attribute for p in parts])
            self.attribute_tokens = torch.from_numpy(np.asarray(tok(words)))
            self.attribute_objects = torch.tensor(has, dtype=torch.bool)       # (words, K)
        rows = ds.episodes_rows()
        ep_task = {r['episode_index']: r.get('task_name') or 'unknown' for r in rows}
        self.task_name = np.array([ep_task[int(e)] for e in ep])
        self.episode = ep
        # "stand still" targets for refusals: zero twist, joints held where they are
        emb_joint_idx = {j: i for i, j in enumerate(names)}
        hold = np.zeros((n, embodiment.action_dim), dtype=np.float64)
        for d_i, d in enumerate(embodiment.dims):
            if d.target.startswith('joint/'):
                hold[:, d_i] = f[STATE_KEY][:, emb_joint_idx[d.target[len('joint/'):]]]
        self.hold = torch.from_numpy(np.clip(embodiment.normalize(hold), -1, 1).astype(np.float32))
        self.hold[:, [i for i, d in enumerate(embodiment.dims) if d.target.startswith('twist.')]] = 0.0
        # twist dims are exactly 0 physical; normalising a symmetric bound gives 0 too
        if model_cfg.action_normalization == 'dataset':     # the model's [-1, 1] spans the data's actions
            from vla_policy.models.normalization import ActionRescaler
            rescale = ActionRescaler.from_stats(stats[ACTION_KEY], embodiment)
            self.chunks = torch.from_numpy(rescale.to_model(self.chunks.numpy()).astype(np.float32))
            self.hold = torch.from_numpy(rescale.to_model(self.hold.numpy()).astype(np.float32))

    def rows_of(self, episodes: list[int]) -> np.ndarray:
        return np.nonzero(np.isin(self.episode, np.asarray(episodes)))[0]


def sample_weights(task_name: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per-row sampling weight ~ 1/sqrt(frames of its task): long tasks do not drown short ones."""
    names, counts = np.unique(task_name[rows], return_counts=True)
    per = {n: 1.0 / math.sqrt(c) for n, c in zip(names, counts)}
    w = np.array([per[t] for t in task_name[rows]])
    return w / w.sum()


def make_batch(data: TrainingData, rows: np.ndarray, gen: np.random.Generator, conf_cfg: dict, model_cfg,
               augment: dict | None, device) -> dict:
    """A training batch: normalised pixels (augmented), tokens, state, action chunks, OOS mask, and
    the named object's place in the (shifted) image."""
    import torch
    from vla_policy.models.constants import ACTION, OBS_ELAPSED, OBS_IMAGE, OBS_STATE, OUT_OF_SCOPE, TARGET_IN_IMAGE
    rows_t = torch.from_numpy(rows)
    img = data.images[rows_t].float()
    target = data.target_in_image[rows_t].clone()
    if augment:
        img, shift = _augment(img, gen, augment)
        target[:, 1:] += shift
        gone = (target[:, 1:].abs() > 1.0).any(1)            # shifted out of the image
        target[gone] = torch.tensor([0.0, float('nan'), float('nan')])
    mean = torch.tensor(model_cfg.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(model_cfg.image_std).view(1, 3, 1, 1)
    img = (img / 255.0 - mean) / std
    instructions = data.tokens[data.task_index[rows_t]]
    tokens = instructions.clone()
    word_ids = not tokens.is_floating_point()         # hashed words; sentence embeddings are not augmented
    if word_ids and augment and float(augment.get('word_dropout', 0.0)) > 0:
        tokens = _drop_words(tokens, gen, float(augment['word_dropout']))
    if word_ids and augment and float(augment.get('unknown_word', 0.0)) > 0:
        tokens = _insert_unknown_word(tokens, gen, float(augment['unknown_word']), int(model_cfg.vocab_size))
    actions = data.chunks[rows_t].clone()
    oos = torch.from_numpy(gen.random(len(rows)) < float(conf_cfg.get('oos_fraction', 0.0)))
    if bool(oos.any()):
        pick = torch.from_numpy(gen.integers(0, len(data.oos_tokens), int(oos.sum())))
        tokens[oos] = data.oos_tokens[pick]
        unknown = float(conf_cfg.get('unknown_word_rate', 0.0))
        if unknown > 0 and word_ids:
            tokens[oos] = _unknown_words(tokens[oos], gen, unknown, int(model_cfg.vocab_size))
        share = float(conf_cfg.get('object_negatives', 0.0))
        if share > 0 and word_ids and data.object_word_ids is not None:
            names_obj = torch.isin(instructions, data.object_word_ids).any(1)
            pick = oos & names_obj & torch.from_numpy(gen.random(len(rows)) < share)
            if bool(pick.any()):
                tokens[pick] = _object_negatives(instructions[pick], gen, data.object_word_ids, data.article_ids,
                                                 int(model_cfg.vocab_size))
        actions[oos] = data.hold[rows_t[oos]].unsqueeze(1).expand(-1, actions.shape[1], -1)
        target[oos] = float('nan')
    batch = {OBS_IMAGE: img, data.language_key: tokens, OBS_STATE: data.state[rows_t], ACTION: actions,
             OUT_OF_SCOPE: oos, TARGET_IN_IMAGE: target}
    if model_cfg.elapsed_horizon_s:
        batch[OBS_ELAPSED] = data.elapsed[rows_t]
    if data.objects_in_image is not None and model_cfg.grounding_attribute_weight > 0:
        batch.update(_attribute_queries(data, rows_t, gen, shift if augment else None))
    return {k: v.to(device) for k, v in batch.items()}


def _attribute_queries(data: TrainingData, rows_t, gen: np.random.Generator, shift) -> dict:
    """One random colour or shape word per sample and the place of every object in view that has
    its attribute (ATTRIBUTE_QUERY / ATTRIBUTE_IN_IMAGE; the labels move with the image ``shift``)."""
    import torch
    from vla_policy.models.constants import ATTRIBUTE_IN_IMAGE, ATTRIBUTE_QUERY
    objects = data.objects_in_image[rows_t].clone()                               # (B, K, 3)
    labelled = ~torch.isnan(objects[..., 0]).all(1)
    if shift is not None:
        objects[..., 1:] += shift.unsqueeze(1)
        objects[..., 0] = objects[..., 0].masked_fill((objects[..., 1:].abs() > 1.0).any(-1), 0.0)
    pick = torch.from_numpy(gen.integers(0, len(data.attribute_tokens), len(rows_t)))
    in_view = torch.nan_to_num(objects[..., 0], nan=0.0) * data.attribute_objects[pick]
    objects[..., 0] = torch.where(labelled.unsqueeze(1), in_view, torch.full_like(in_view, float('nan')))
    return {ATTRIBUTE_QUERY: data.attribute_tokens[pick], ATTRIBUTE_IN_IMAGE: objects}


def _drop_words(tokens, gen: np.random.Generator, p: float):
    """Word dropout: each token id (0 = padding) becomes padding with probability ``p``; every
    instruction keeps at least one word. The policy learns not to hang on any single word, which
    is what an unseen phrasing ("could you turn to the left") asks of it."""
    import torch
    present = tokens != 0
    drop = torch.from_numpy(gen.random(tuple(tokens.shape)) < p) & present
    emptied = torch.nonzero((present & ~drop).sum(1) == 0).flatten()
    if len(emptied):                                 # keep one word, picked at random, of those
        score = torch.from_numpy(gen.random((len(emptied), tokens.shape[1]))) * present[emptied]
        drop[emptied, score.argmax(1)] = False
    return tokens.masked_fill(drop, 0)


def _insert_unknown_word(tokens, gen: np.random.Generator, p: float, vocab_size: int):
    """With probability ``p`` per instruction, one random hash bucket (a word the policy never saw)
    goes into its first padding slot: "could you wave" must still wave."""
    import torch
    tokens = tokens.clone()
    free = tokens == 0
    rows = torch.from_numpy(gen.random(tokens.shape[0]) < p) & free.any(1)
    idx = torch.nonzero(rows).flatten()
    if len(idx):
        slot = free[idx].float().argmax(1)
        tokens[idx, slot] = torch.from_numpy(gen.integers(1, vocab_size, len(idx)))
    return tokens


def _unknown_words(tokens, gen: np.random.Generator, rate: float, vocab_size: int):
    """Out-of-scope negatives with words the policy never saw: each word id of these (already
    out-of-scope) instructions becomes a random hash bucket with probability ``rate``. Real
    requests are full of words outside the training vocabulary ("order a pizza"); without this,
    an unknown word's embedding is whatever its random initialisation says."""
    import torch
    swap = torch.from_numpy(gen.random(tuple(tokens.shape)) < rate) & (tokens != 0)
    random_ids = torch.from_numpy(gen.integers(1, vocab_size, tuple(tokens.shape)))
    return torch.where(swap, random_ids, tokens)


def _object_negatives(tokens, gen: np.random.Generator, object_ids, article_ids, vocab_size: int):
    """Out-of-scope variants of in-scope instructions that name an object, half of each kind:
    the object kept and every other word unknown ("grab the yellow ball": no verb the policy knows),
    or the object's words unknown and the rest kept ("walk to the <?> <?>", "walk the dog": no object
    it knows). Bag-of-words refusals otherwise key on the object phrase alone."""
    import torch
    present = tokens != 0
    is_obj = torch.isin(tokens, object_ids)
    keep_object = torch.from_numpy(gen.random(tokens.shape[0]) < 0.5).unsqueeze(1)
    keep = torch.where(keep_object, is_obj | torch.isin(tokens, article_ids), ~is_obj)
    random_ids = torch.from_numpy(gen.integers(1, vocab_size, tuple(tokens.shape)))
    return torch.where(present & ~keep, random_ids, tokens)


def _augment(img, gen: np.random.Generator, aug: dict):
    """Random shift (``shift_px``) and brightness gain -> (images, (B, 2) shift of the content in
    normalised image units, x right and y down, for moving the grounding labels along)."""
    import torch
    import torch.nn.functional as F
    b, _, h, w = img.shape
    p = int(aug.get('shift_px', 0))
    shift = torch.zeros(b, 2)
    if p > 0:
        padded = F.pad(img, (p, p, p, p), mode='replicate')
        dx = gen.integers(0, 2 * p + 1, b)
        dy = gen.integers(0, 2 * p + 1, b)
        img = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])
        shift = torch.from_numpy(np.stack([2.0 * (p - dx) / w, 2.0 * (p - dy) / h], 1).astype(np.float32))
    br = float(aug.get('brightness', 0.0))
    if br > 0:
        g = torch.from_numpy(gen.uniform(1 - br, 1 + br, (b, 1, 1, 1)).astype(np.float32))
        img = (img * g).clamp(0, 255)
    return img, shift


# -- objective -----------------------------------------------------------------------------------
def _objective_class():
    from torch import nn

    class BCObjective(nn.Module):
        """``model.compute_loss`` as a module, so DistributedDataParallel sees one forward per step."""

        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, batch):
            return self.model.compute_loss(batch)

    return BCObjective


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


# -- checkpoints ---------------------------------------------------------------------------------
def save_training_checkpoint(path: Path, model, embodiment, stats, metadata, trainer_state: dict) -> None:
    import torch
    from vla_policy.checkpoint import save_checkpoint
    save_checkpoint(model, path, embodiment, stats=stats, metadata=metadata, trained=True, overwrite=True)
    torch.save(trainer_state, path / 'trainer_state.pt')


def export_checkpoint(src: Path, dest: Path) -> None:
    """Copy a checkpoint directory without the trainer state (what the nodes load)."""
    from vla_policy.checkpoint import CONFIG_FILE, EMBODIMENT_FILE, STATS_FILE, WEIGHTS_FILE
    dest.mkdir(parents=True, exist_ok=True)
    for name in (WEIGHTS_FILE, EMBODIMENT_FILE, STATS_FILE, CONFIG_FILE):   # config.json last
        if (src / name).exists():
            shutil.copy2(src / name, dest / name)


# -- plotting ------------------------------------------------------------------------------------
def read_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def plot_metrics(metrics_path: Path, out_png: Path) -> Path:
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
    ax[2].plot([r['step'] for r in va], [r.get('oos_auroc', float('nan')) for r in va], 'o-', label='OOS AUROC')
    ax[2].plot([r['step'] for r in va], [r.get('conf_inscope', float('nan')) for r in va], 'o-',
               label='mean conf in-scope')
    ax[2].plot([r['step'] for r in va], [r.get('conf_oos', float('nan')) for r in va], 'o-', label='mean conf OOS')
    ax[2].set_title('confidence (val)')
    ax[2].set_xlabel('step')
    ax[2].legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png


# -- training ------------------------------------------------------------------------------------
def train(conf: dict[str, Any], resume: bool = False, progress: bool = True) -> dict[str, Any]:
    import torch
    from tqdm import tqdm
    from vla_policy.embodiment import load_embodiment
    from vla_policy.models.configuration_seed_vla import SeedVLAConfig
    from vla_policy.models.constants import ACTION, OBS_STATE
    from vla_policy.models.modeling_seed_vla import SeedVLAModel
    from vla_learning.dataset import ACTION_KEY, LeRobotDataset

    dist_info, device = init_distributed()
    tc = dict(conf.get('train') or {})
    seed = int(conf.get('seed', 0))
    torch.set_num_threads(int(tc.get('num_threads', 2)))
    out_dir = Path(conf['output_dir'])
    ckpt_dir = out_dir / 'checkpoints'
    ds_path = Path(conf['dataset'])

    if not (ds_path / 'meta' / 'info.json').exists():
        if dist_info.main:
            from vla_learning.collect import collect, config_from_dict
            print(f'dataset {ds_path} not found: collecting it first')
            collect(ds_path, config_from_dict(conf.get('collect')), progress=progress)
        _barrier(dist_info)
    if dist_info.main:
        out_dir.mkdir(parents=True, exist_ok=True)
        ckpt_dir.mkdir(parents=True, exist_ok=True)

    embodiment = load_embodiment(conf.get('embodiment', 'vla_humanoid'))
    model_cfg = SeedVLAConfig.for_embodiment(embodiment, **dict(conf.get('model') or {}))
    ds = LeRobotDataset(ds_path)
    ds_stats = ds.stats()
    data = TrainingData(ds, model_cfg, embodiment, ds_stats)
    stats = {OBS_STATE: data.state_normalizer.to_stats(),
             ACTION: {'names': [d.name for d in embodiment.dims], **{k: ds_stats[ACTION_KEY][k]
                                                                     for k in ('mean', 'std', 'min', 'max')}}}
    train_rows = data.rows_of(ds.split('train'))
    val_rows = data.rows_of(ds.split('val')) if 'val' in ds.info.get('splits', {}) else train_rows[:0]
    weights = sample_weights(data.task_name, train_rows)

    seed_everything(seed)
    model = SeedVLAModel.from_seed(model_cfg, seed)
    if model_cfg.residual_joints:
        model.set_residual_reference(embodiment, data.state_normalizer.mean, data.state_normalizer.std)
    model = model.to(device)
    conf_cfg = dict(tc.get('confidence') or {})
    objective = _objective_class()(model)
    wrapped = objective
    if dist_info.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        wrapped = DDP(objective, device_ids=[device.index] if device.type == 'cuda' else None)
    opt = torch.optim.AdamW(model.parameters(), lr=float(tc.get('lr', 1e-3)),
                            weight_decay=float(tc.get('weight_decay', 0.0)))
    total_steps = int(tc.get('steps', 1000))
    warmup = int(tc.get('warmup_steps', 0))
    time_limit = float(tc.get('time_limit_s', 0) or 0)
    base_lr = float(tc.get('lr', 1e-3))
    batch_size = int(tc.get('batch_size', 64))
    step, elapsed_before, best_val = 0, 0.0, float('inf')
    gen = np.random.default_rng([seed, dist_info.rank])

    last = ckpt_dir / 'last'
    if resume and (last / 'trainer_state.pt').exists():
        st = torch.load(last / 'trainer_state.pt', map_location='cpu', weights_only=False)
        from vla_policy.checkpoint import read_checkpoint
        tensors = read_checkpoint(last).load_tensors()
        model.load_state_dict(tensors)
        opt.load_state_dict(st['optimizer'])
        step, elapsed_before, best_val = st['step'], st['elapsed_s'], st['best_val']
        gen.bit_generator.state = st['numpy_rng'][dist_info.rank % len(st['numpy_rng'])]
        torch.set_rng_state(st['torch_rng'])
        if dist_info.main:
            print(f'resumed from {last} at step {step} ({elapsed_before:.0f} s trained)')
    elif resume and dist_info.main:
        print(f'--resume: nothing in {last}; starting from scratch')

    def progress_frac(s: int, elapsed: float) -> float:
        p = s / max(total_steps, 1)
        if time_limit > 0:
            p = max(p, elapsed / time_limit)
        return min(p, 1.0)

    def lr_at(s: int, elapsed: float) -> float:
        if s < warmup:
            return base_lr * (s + 1) / warmup
        return base_lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress_frac(s, elapsed))))

    metrics_path = out_dir / 'metrics.jsonl'
    meta = {'dataset': str(ds_path), 'dataset_episodes': ds.num_episodes, 'dataset_frames': ds.total_frames,
            'seed': seed, 'train_config': tc, 'world_size': dist_info.world}
    t_start = time.perf_counter()
    bar = tqdm(total=total_steps, initial=step, disable=not (progress and dist_info.main), desc='train',
               unit='step', dynamic_ncols=True)
    val_every = int(tc.get('val_every', 500))
    log_every = int(tc.get('log_every', 50))
    acc: dict[str, float] = {}
    n_acc = 0
    t_log = time.perf_counter()
    stop_reason = 'steps'
    model.train()
    while step < total_steps:
        elapsed = elapsed_before + time.perf_counter() - t_start
        if time_limit > 0 and elapsed >= time_limit:
            stop_reason = 'time_limit'
            break
        lr = lr_at(step, elapsed)
        for g in opt.param_groups:
            g['lr'] = lr
        rows = train_rows[gen.choice(len(train_rows), batch_size, p=weights)]
        batch = make_batch(data, rows, gen, conf_cfg, model_cfg, tc.get('augment'), device)
        loss, logs = wrapped(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tc.get('grad_clip'):
            torch.nn.utils.clip_grad_norm_(model.parameters(), float(tc['grad_clip']))
        opt.step()
        step += 1
        bar.update(1)
        for k, v in logs.items():
            acc[k] = acc.get(k, 0.0) + float(v)
        n_acc += 1
        if step % log_every == 0 and dist_info.main:
            now = time.perf_counter()
            row = {'split': 'train', 'step': step, 'lr': lr, 'wall_s': round(elapsed_before + now - t_start, 1),
                   'samples_per_s': round(log_every * batch_size * dist_info.world / (now - t_log), 1),
                   **{k: v / n_acc for k, v in acc.items()}}
            _append(metrics_path, row)
            bar.set_postfix(loss=f"{row['loss']:.4f}", act=f"{row['action_loss']:.4f}",
                            agree=f"{row.get('agreement', float('nan')):.2f}")
            acc, n_acc, t_log = {}, 0, now
        if step % val_every == 0 or step == total_steps:
            best_val = _validate_and_save(step, model, objective, data, val_rows, conf_cfg, model_cfg, tc, device,
                                          dist_info, metrics_path, ckpt_dir, embodiment, stats, meta, opt, gen,
                                          elapsed_before + time.perf_counter() - t_start, best_val)
    bar.close()
    if step % val_every != 0 and step != total_steps:
        best_val = _validate_and_save(step, model, objective, data, val_rows, conf_cfg, model_cfg, tc, device,
                                      dist_info, metrics_path, ckpt_dir, embodiment, stats, meta, opt, gen,
                                      elapsed_before + time.perf_counter() - t_start, best_val)
    wall = elapsed_before + time.perf_counter() - t_start
    summary = {'steps': step, 'stop_reason': stop_reason, 'train_wall_s': round(wall, 1), 'best_val': best_val,
               'output_dir': str(out_dir)}
    if dist_info.main:
        try:
            plot_metrics(metrics_path, out_dir / 'metrics.png')
        except Exception as exc:  # noqa: BLE001 - a plot must not lose a finished training run
            print(f'could not plot metrics: {exc}')
        export = conf.get('export_dir')
        if export:
            export_checkpoint(ckpt_dir / 'best', Path(export))
            summary['exported_to'] = str(export)
        (out_dir / 'summary.json').write_text(json.dumps(summary, indent=2))
    _barrier(dist_info)
    if dist_info.world > 1:
        import torch.distributed as dist
        dist.destroy_process_group()
    return summary


def _validate_and_save(step, model, objective, data, val_rows, conf_cfg, model_cfg, tc, device, dist_info,
                       metrics_path, ckpt_dir, embodiment, stats, meta, opt, gen, elapsed, best_val):
    import torch
    from vla_policy.models.constants import CONFIDENCE, OUT_OF_SCOPE
    if not dist_info.main:
        _barrier(dist_info)
        return best_val
    model.eval()
    vgen = np.random.default_rng(12345)
    rows_all = val_rows if len(val_rows) else None
    logs_sum: dict[str, float] = {}
    confs, oos_flags = [], []
    n = 0
    if rows_all is not None:
        bs = int(tc.get('batch_size', 64))
        with torch.no_grad():
            for _ in range(int(tc.get('val_batches', 10))):
                rows = rows_all[vgen.choice(len(rows_all), min(bs, len(rows_all)), replace=False)]
                batch = make_batch(data, rows, vgen, conf_cfg, model_cfg, None, device)
                _, logs = objective(batch)
                conf = model(batch)[CONFIDENCE]
                for k, v in logs.items():
                    logs_sum[k] = logs_sum.get(k, 0.0) + float(v)
                confs.append(conf.cpu().numpy())
                oos_flags.append(batch[OUT_OF_SCOPE].cpu().numpy())
                n += 1
    row = {'split': 'val', 'step': step, 'wall_s': round(elapsed, 1)}
    if n:
        row.update({k: v / n for k, v in logs_sum.items()})
        c, o = np.concatenate(confs), np.concatenate(oos_flags)
        row['conf_inscope'] = float(c[~o].mean()) if (~o).any() else float('nan')
        row['conf_oos'] = float(c[o].mean()) if o.any() else float('nan')
        row['oos_auroc'] = auroc(-c, o)
    _append(metrics_path, row)
    val_loss = row.get('action_loss', float('nan'))
    trainer_state = {'step': step, 'elapsed_s': elapsed, 'best_val': best_val, 'optimizer': opt.state_dict(),
                     'numpy_rng': [gen.bit_generator.state], 'torch_rng': torch.get_rng_state()}
    md = dict(meta, step=step, val_action_loss=val_loss, trained_s=round(elapsed, 1))
    save_training_checkpoint(ckpt_dir / 'last', model, embodiment, stats, md, trainer_state)
    if not (val_loss >= best_val):   # NaN-safe: the first validation always counts
        best_val = val_loss if math.isfinite(val_loss) else best_val
        trainer_state['best_val'] = best_val
        save_training_checkpoint(ckpt_dir / 'best', model, embodiment, stats, md, trainer_state)
    model.train()
    _barrier(dist_info)
    return best_val


def _barrier(d: DistInfo) -> None:
    if d.world > 1:
        import torch.distributed as dist
        dist.barrier()


def _append(path: Path, row: dict) -> None:
    with open(path, 'a') as f:
        f.write(json.dumps({k: (float(v) if isinstance(v, (np.floating,)) else v) for k, v in row.items()}) + '\n')


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog='python -m vla_learning.train', description=__doc__.split('\n\n')[0])
    ap.add_argument('--config', required=True, help='training config YAML (see configs/default.yaml)')
    ap.add_argument('--resume', action='store_true', help='continue from <output_dir>/checkpoints/last')
    ap.add_argument('--set', nargs='*', default=[], metavar='KEY=VALUE',
                    help='override config values, e.g. train.steps=200 output_dir=data/runs/x')
    ap.add_argument('--no-progress', action='store_true')
    ap.add_argument('--plot', metavar='METRICS_JSONL', help='only plot an existing metrics file and exit')
    args = ap.parse_args(argv)
    if args.plot:
        print(plot_metrics(Path(args.plot), Path(args.plot).with_suffix('.png')))
        return 0
    conf = load_config(args.config, args.set)
    summary = train(conf, resume=args.resume, progress=not args.no_progress)
    if int(os.environ.get('RANK', '0')) == 0:
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
