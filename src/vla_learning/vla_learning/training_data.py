"""A demonstration dataset in memory, as the tensors training batches are cut from.

Images (N, 3, S, S) uint8 at the model's image size; state normalised by the dataset's statistics;
action chunks (N, K, D) in the model's normalised action space (padded with the episode's last
action); token ids per instruction; grounding labels; "stand still" targets for refusals.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vla_learning.dataset import ACTION_KEY, BASE_POSE_KEY, OBJECTS_KEY, RANGES_KEY, STATE_KEY, TARGET_KEY
from vla_learning.dataset_format import RANGES_RECORDED_MAX
from vla_learning.instructions import COLOUR_WORDS, OOS_TRAIN, SHAPE_WORDS
from vla_policy.models.constants import OBS_LANGUAGE_EMBEDDING
from vla_policy.models.normalization import ActionRescaler, StateNormalizer
from vla_policy.models.processor_seed_vla import SeedVLAProcessor, odometry_since

STATE_STD_FLOOR = 0.1   # rad: joints that barely move in the data are not blown up by a tiny std


def resize_images(images: np.ndarray, size: int) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, size, size) (bilinear, antialiased, in blocks of 512)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return torch.cat([F.interpolate(x[i:i + 512], size=(size, size), mode='bilinear', antialias=True)
                      for i in range(0, len(x), 512)])


def chunk_rows(episode: np.ndarray, starts_stops: dict[int, slice], chunk_size: int) -> np.ndarray:
    """(N, chunk_size) row indices of each frame's action chunk, clamped at its episode's last frame."""
    n = len(episode)
    ends = np.zeros(n, dtype=np.int64)
    for e in np.unique(episode):
        sl = starts_stops[int(e)]
        ends[sl] = sl.stop - 1
    return np.minimum(np.arange(n)[:, None] + np.arange(chunk_size)[None, :], ends[:, None])


def _filled(pose: np.ndarray) -> np.ndarray | None:
    """An episode's (n, 3) poses with NaN rows (before the first odometry, or gaps) taken from the
    nearest earlier row, else the first later one; None when no row has a pose."""
    ok = np.isfinite(pose).all(1)
    if not ok.any():
        return None
    idx = np.where(ok, np.arange(len(pose)), -1)
    idx = np.maximum.accumulate(idx)
    idx[idx < 0] = int(np.argmax(ok))
    return pose[idx]


class TrainingData:
    """The dataset in memory, as tensors ready for batches.

    images (N, 3, S, S) uint8; state (N, J) normalised; chunks (N, K, D) normalised actions
    (padded with the episode's last action); tokens (T, L) per task_index; per-frame task name.
    """

    def __init__(self, ds, model_cfg, embodiment, stats: dict[str, Any]) -> None:
        f = ds.frames
        n = len(f['index'])
        self.images = resize_images(ds.images(), model_cfg.vision.image_size)
        names = list(ds.state_names)
        order = [names.index(j) for j in model_cfg.state_joints]
        st = stats[STATE_KEY]
        self.state_normalizer = StateNormalizer(
            list(model_cfg.state_joints), [st['mean'][i] for i in order],
            [max(st['std'][i], STATE_STD_FLOOR) for i in order])
        # the policy's processor: the language input and the pixel normalisation, as at inference
        self.processor = SeedVLAProcessor(model_cfg, self.state_normalizer)
        self.raw_state = f[STATE_KEY][:, order]
        # seconds since the episode's instruction began (OBS_ELAPSED, for elapsed_horizon_s)
        self.elapsed = torch.from_numpy(np.array(f['timestamp'], dtype=np.float32).reshape(n, 1))
        self.state = torch.from_numpy(np.clip((self.raw_state - self.state_normalizer.mean)
                                              / self.state_normalizer.std, -5, 5).astype(np.float32))
        acts = np.clip(embodiment.normalize(f[ACTION_KEY]), -1, 1).astype(np.float32)     # (N, D)
        self.episode = f['episode_index']
        spans = {int(e): ds.episode_frames(int(e)) for e in np.unique(self.episode)}
        #: the first row of each row's episode (how far a late state may reach back)
        self.episode_start = np.zeros(n, dtype=np.int64)
        for sl in spans.values():
            self.episode_start[sl] = sl.start
        self.fps = float(ds.fps)
        self.odometry = self._odometry(f, spans, n) if model_cfg.odometry_input else None
        self.ranges = self._ranges(f, model_cfg) if model_cfg.range_sectors else None
        self.chunks = torch.from_numpy(acts[chunk_rows(self.episode, spans, model_cfg.chunk_size)])
        self.task_index = torch.from_numpy(f['task_index'].astype(np.int64))
        self._tokens(ds)
        # grounding labels (simulated demonstrations): in_view, x, y of the named object; NaN = none
        self.target_in_image = (torch.from_numpy(f[TARGET_KEY].astype(np.float32)) if TARGET_KEY in f
                                else torch.full((n, 3), float('nan')))
        self.objects_in_image = self.attribute_tokens = self.attribute_objects = None
        if OBJECTS_KEY in f and ds.object_names:
            self._attribute_labels(ds, f[OBJECTS_KEY])
        ep_task = {r['episode_index']: r.get('task_name') or 'unknown' for r in ds.episodes_rows()}
        self.task_name = np.array([ep_task[int(e)] for e in self.episode])
        self.hold = self._hold_targets(f[STATE_KEY], names, embodiment)
        if model_cfg.action_normalization == 'dataset':     # the model's [-1, 1] spans the data's actions
            rescale = ActionRescaler.from_stats(stats[ACTION_KEY], embodiment)
            self.chunks = torch.from_numpy(rescale.to_model(self.chunks.numpy()).astype(np.float32))
            self.hold = torch.from_numpy(rescale.to_model(self.hold.numpy()).astype(np.float32))

    @staticmethod
    def _odometry(f, spans: dict[int, slice], n: int) -> torch.Tensor:
        """(N, 3) OBS_ODOMETRY of each frame: how far the base went since its episode's first frame
        (the instruction's start), computed from the dataset's base poses as the processor does."""
        if BASE_POSE_KEY not in f:
            raise ValueError(f"the model reads odometry (odometry_input) but the dataset has no '{BASE_POSE_KEY}' "
                             'column: collect it again with this vla_learning, or set model.odometry_input false')
        pose = f[BASE_POSE_KEY].astype(np.float64)
        out = np.zeros((n, 3), dtype=np.float32)
        for sl in spans.values():
            p = _filled(pose[sl])
            if p is None:
                raise ValueError(f"'{BASE_POSE_KEY}' is NaN for all of frames {sl.start}..{sl.stop - 1} (recorded "
                                 'without odom?): every episode needs odometry to train a model that reads it')
            yaw = np.unwrap(p[:, 2])
            out[sl] = odometry_since(p[0], p, yaw - yaw[0])
        return torch.from_numpy(out)

    @staticmethod
    def _ranges(f, model_cfg) -> torch.Tensor:
        """(N, range_sectors) OBS_RANGES of each frame, from the dataset's column of as many sectors."""
        k = model_cfg.range_sectors
        if RANGES_KEY not in f or f[RANGES_KEY].shape[1] != k:
            has = f'{f[RANGES_KEY].shape[1]} sectors' if RANGES_KEY in f else 'none'
            raise ValueError(f"the model reads {k} range sectors (range_sectors) but the dataset's '{RANGES_KEY}' "
                             f'has {has}: collect it with collect.range_sectors {k}, or set model.range_sectors to match')
        if model_cfg.range_max_m > RANGES_RECORDED_MAX:
            raise ValueError(f'model.range_max_m is {model_cfg.range_max_m} m, but datasets record ranges only up to '
                             f'{RANGES_RECORDED_MAX} m (farther returns are written as {RANGES_RECORDED_MAX}): the model '
                             f'would learn {RANGES_RECORDED_MAX} m where the robot sees farther; set it <= '
                             f'{RANGES_RECORDED_MAX}')
        r = f[RANGES_KEY].astype(np.float32)
        if np.isnan(r).all(axis=1).any():
            raise ValueError(f"'{RANGES_KEY}' is NaN for {int(np.isnan(r).all(axis=1).sum())} frames (recorded "
                             'without a scan?): every frame needs one to train a model that reads it')
        return torch.from_numpy(r)

    def _tokens(self, ds) -> None:
        """Token ids of the dataset's instructions, of the out-of-scope ones, and (hashed words) of
        the object words and articles, for the object negatives ("<unknown verb> the red ball",
        "walk to the <unknown> <unknown>"): the processor's language input."""
        self.language_key = self.processor.language_key
        self.instructions = list(ds.tasks)
        lang, oos = self.processor.language(list(ds.tasks)), self.processor.language(list(OOS_TRAIN))
        self.tokens, self.oos_tokens = lang[self.language_key], oos[self.language_key]
        # language.sentence_dim: the MiniLM sentence embedding of each instruction (None without it)
        self.sentences, self.oos_sentences = lang.get(OBS_LANGUAGE_EMBEDDING), oos.get(OBS_LANGUAGE_EMBEDDING)
        self.object_word_ids = self.article_ids = None
        if not self.tokens.is_floating_point():               # hashed words (not sentence embeddings)
            objects = [w for ws in (*COLOUR_WORDS.values(), *SHAPE_WORDS.values()) for w in ws]
            self.object_word_ids = self.language(objects)[:, 0]
            self.article_ids = self.language(['the', 'that', 'a'])[:, 0]

    def language(self, texts) -> torch.Tensor:
        """Instructions -> the model's language input (B, ...), built by the processor."""
        return self.processor.language(list(texts))[self.language_key]

    def _attribute_labels(self, ds, objects: np.ndarray) -> None:
        """Per-attribute grounding labels: (in_view, x, y) of every catalogue object; one query word
        per colour / shape word (synonyms included) and which objects have its attribute."""
        k = len(ds.object_names)
        self.objects_in_image = torch.from_numpy(objects.astype(np.float32).reshape(len(objects), k, 3))
        parts = [name.split('_', 1) for name in ds.object_names]           # 'red_ball' -> red, ball
        words, has = [], []
        for column, table in ((0, COLOUR_WORDS), (1, SHAPE_WORDS)):
            for attribute, synonyms in table.items():
                for w in synonyms:
                    words.append(w)
                    has.append([p[column] == attribute for p in parts])
        self.attribute_tokens = self.language(words)
        self.attribute_objects = torch.tensor(has, dtype=torch.bool)       # (words, K)

    @staticmethod
    def _hold_targets(state: np.ndarray, state_names: list[str], embodiment) -> torch.Tensor:
        """"Stand still" targets for refusals: zero twist, joints held where they are (normalised)."""
        joint_idx = {j: i for i, j in enumerate(state_names)}
        hold = np.zeros((len(state), embodiment.action_dim), dtype=np.float64)
        for d_i, d in enumerate(embodiment.dims):
            if d.target.startswith('joint/'):
                hold[:, d_i] = state[:, joint_idx[d.target[len('joint/'):]]]
        out = torch.from_numpy(np.clip(embodiment.normalize(hold), -1, 1).astype(np.float32))
        # twist dims are exactly 0 physical; normalising a symmetric bound gives 0 too
        out[:, [i for i, d in enumerate(embodiment.dims) if d.target.startswith('twist.')]] = 0.0
        return out

    def rows_of(self, episodes: list[int]) -> np.ndarray:
        return np.nonzero(np.isin(self.episode, np.asarray(episodes)))[0]


def sample_weights(task_name: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per-row sampling weight ~ 1/sqrt(frames of its task): long tasks do not drown short ones."""
    names, counts = np.unique(task_name[rows], return_counts=True)
    per = {n: 1.0 / math.sqrt(c) for n, c in zip(names, counts)}
    w = np.array([per[t] for t in task_name[rows]])
    return w / w.sum()
