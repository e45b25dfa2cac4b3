"""Pre-processing for the seed VLA: Observation -> normalised batch (resize, tokenise / embed text, state).

All normalisation happens here, not in the network: pixel mean/std, and joint positions through a
:class:`~vla_policy.models.normalization.StateNormalizer` built from the embodiment or from the
dataset statistics of a checkpoint. Training builds its batches' pixels and language with the same
processor (:meth:`SeedVLAProcessor.pixels`, :meth:`SeedVLAProcessor.language`).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from vla_core.policy import Observation, nearest_by_sector
from vla_policy.models.components import TOKENIZERS
from vla_policy.models.configuration_seed_vla import SeedVLAConfig
from vla_policy.models.constants import (OBS_ELAPSED, OBS_IMAGE, OBS_LANGUAGE_EMBEDDING, OBS_LANGUAGE_TOKENS,
                                         OBS_ODOMETRY, OBS_RANGES, OBS_STATE)
from vla_policy.models.normalization import StateNormalizer
from vla_policy.models.unknown_words import Reading, UnknownWordReader


def resize_rgb(image: np.ndarray, size: int) -> torch.Tensor:
    """HxWx3 uint8 -> (1, 3, size, size) uint8, antialiased bilinear (stretches to a square).

    Uses PyTorch's uint8 channels-last kernel: about 0.2 ms for 640x480 -> 96x96 on one core.
    The result does not share memory with ``image``.
    """
    if not (image.flags.c_contiguous and image.flags.writeable):
        image = np.array(image, dtype=np.uint8, order='C', copy=True)  # negative strides / read-only buffers
    x = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0)   # NCHW view with channels-last strides
    if image.shape[0] == size and image.shape[1] == size:
        return x.clone()
    return F.interpolate(x, size=(size, size), mode='bilinear', antialias=True, align_corners=False)


def centre_square(image: np.ndarray) -> np.ndarray:
    """The centred square of an HxWxC image (a view; the image itself when it is square)."""
    h, w = image.shape[:2]
    if h == w:
        return image
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[top:top + side, left:left + side]


class InstructionClock:
    """Seconds since the current instruction began, from the observations' stamps.

    It restarts when the instruction changes, after :meth:`reset` (a policy's reset: a new
    episode, or the node's new command), and when the stamps go backwards (a simulator reset, a
    replayed bag).
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._instruction: str | None = None
        self._start = self._last = 0.0

    def __call__(self, instruction: str, stamp: float) -> float:
        stamp = float(stamp) if math.isfinite(stamp) else self._last
        if instruction != self._instruction or stamp < self._last:
            self._instruction, self._start = instruction, stamp
        self._last = stamp
        return stamp - self._start


def wrap_angle(a):
    """Angle(s) in radians -> [-pi, pi)."""
    return (np.asarray(a) + math.pi) % (2.0 * math.pi) - math.pi


def odometry_since(start, poses: np.ndarray, turned: np.ndarray) -> np.ndarray:
    """(N, 3) poses x, y, yaw in the odometry frame, and how far the base has turned since ``start``
    (N,) (unwrapped) -> (N, 3) OBS_ODOMETRY: forward, left (m) in the base frame of ``start`` (its
    x, y, yaw), turned (rad). The one place the policy's odometry input is computed (the processor
    at inference, the training data from the datasets' poses)."""
    poses = np.asarray(poses, dtype=np.float64).reshape(-1, 3)
    x0, y0, yaw0 = (float(v) for v in start)
    dx, dy = poses[:, 0] - x0, poses[:, 1] - y0
    c, s = math.cos(yaw0), math.sin(yaw0)
    return np.stack([c * dx + s * dy, -s * dx + c * dy, np.asarray(turned, dtype=np.float64)], axis=1)


class InstructionOdometry:
    """How far the base has moved and turned since the current instruction began (OBS_ODOMETRY),
    from the observations' base poses; it restarts like :class:`InstructionClock`. The turn is
    summed from one pose to the next (each step's change wrapped to [-pi, pi)), so two full turns
    read 4 pi. No pose yet: zeros (the PolicyRunner refuses such calls)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._instruction: str | None = None
        self._start: tuple[float, float, float] | None = None
        self._yaw = self._turned = 0.0
        self._last = -math.inf

    def __call__(self, instruction: str, stamp: float, pose) -> np.ndarray:
        if pose is None or not all(math.isfinite(float(v)) for v in pose):
            return np.zeros(3)
        stamp = float(stamp) if math.isfinite(stamp) else self._last
        if instruction != self._instruction or self._start is None or stamp < self._last:
            self._instruction, self._start = instruction, tuple(float(v) for v in pose)
            self._yaw, self._turned = self._start[2], 0.0
        self._last = stamp
        self._turned += float(wrap_angle(float(pose[2]) - self._yaw))
        self._yaw = float(pose[2])
        return odometry_since(self._start, np.asarray(pose), np.array([self._turned]))[0]


class SeedVLAProcessor:
    """Turns observations into the batch dict :class:`SeedVLAModel` expects.

    With ``elapsed_horizon_s`` it also keeps an :class:`InstructionClock` (OBS_ELAPSED), with
    ``odometry_input`` an :class:`InstructionOdometry` (OBS_ODOMETRY): consecutive calls are one
    stream of observations; :meth:`reset` restarts them.
    """

    def __init__(self, config: SeedVLAConfig, state_normalizer: StateNormalizer | None = None) -> None:
        self.config = config
        self.tokenizer = TOKENIZERS.get(config.language.tokenizer).from_config(config)
        # language.sentence_dim: the MiniLM sentence embedding too, beside the words
        self.sentence = TOKENIZERS.get('minilm_l6').from_config(config) if config.language.sentence_dim else None
        std = torch.tensor(config.vision.image_std, dtype=torch.float32).view(1, 3, 1, 1)
        mean = torch.tensor(config.vision.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        self._pixel_scale = 1.0 / (255.0 * std)   # (u8 / 255 - mean) / std == u8 * scale - shift
        self._pixel_shift = mean / std
        if config.state_dim:
            if state_normalizer is None:
                raise ValueError(f'the model takes a state of joints {list(config.state_joints)}: '
                                 'give the processor a StateNormalizer (from the embodiment or stats.json)')
            if state_normalizer.names != config.state_joints:
                raise ValueError(f'state normaliser joints {list(state_normalizer.names)} differ from the '
                                 f'config state_joints {list(config.state_joints)}')
        self.state_normalizer = state_normalizer if config.state_dim else None
        self.clock = InstructionClock() if config.elapsed_horizon_s else None
        self.odometry = InstructionOdometry() if config.odometry_input else None
        #: inference only: reads words the checkpoint never saw as known ones (unknown_words.py);
        #: None (training, or a checkpoint without vocabulary.json) leaves instructions as they are
        self.reader: UnknownWordReader | None = None

    def reset(self) -> None:
        """A new episode / command: the elapsed time and the odometry start again from the next observation."""
        for tracker in (self.clock, self.odometry):
            if tracker is not None:
                tracker.reset()

    # -- pieces -------------------------------------------------------------------------------
    def image(self, image: np.ndarray) -> torch.Tensor:
        """HxWx3 uint8 -> (1, 3, S, S) float32, normalised (centre-cropped to a square first when
        the config's ``vision.image_resize`` is 'crop')."""
        if self.config.vision.image_resize == 'crop':
            image = centre_square(image)
        return self.pixels(resize_rgb(image, self.config.vision.image_size).float().contiguous())

    def pixels(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) pixel values in 0..255 (uint8 or float, already the model's size) -> float32
        normalised with the config's mean / std: what the model reads as OBS_IMAGE."""
        return images.float() * self._pixel_scale - self._pixel_shift

    def tokens(self, instruction: str) -> torch.Tensor:
        """Instruction -> the tokenizer's output with a batch dimension: (1, max_tokens) int64 ids for
        'hash_words', (1, 384) float32 for 'minilm_l6'."""
        return torch.from_numpy(self.tokenizer(instruction))

    @property
    def language_key(self) -> str:
        """Batch key of the language input (OBS_LANGUAGE_TOKENS or OBS_LANGUAGE_EMBEDDING)."""
        return getattr(self.tokenizer, 'batch_key', OBS_LANGUAGE_TOKENS)

    def language(self, instructions: str | Sequence[str]) -> dict[str, torch.Tensor]:
        """One instruction or a list -> ``{language_key: (B, ...) tensor}``, the model's language input.

        Datasets and training loops should build the language part of a batch with this, so
        the configured tokenizer (and its cache, for 'minilm_l6') is used. With
        ``language.sentence_dim`` it also holds OBS_LANGUAGE_EMBEDDING, the sentence embedding.
        """
        if self.reader is not None:
            texts = [instructions] if isinstance(instructions, str) else list(instructions)
            instructions = [self.reader(t).text for t in texts]
        out = {self.language_key: torch.from_numpy(self.tokenizer(instructions))}
        if self.sentence is not None:
            out[OBS_LANGUAGE_EMBEDDING] = torch.from_numpy(self.sentence(instructions))
        return out

    def reading(self, instruction: str) -> Reading | None:
        """How :attr:`reader` reads ``instruction`` (None without a reader)."""
        return self.reader(instruction) if self.reader is not None else None

    def state(self, joint_positions: Mapping[str, float]) -> torch.Tensor | None:
        """Joint name -> position  ->  (1, state_dim) float32, or None when the model takes no state."""
        if self.state_normalizer is None:
            return None
        return torch.from_numpy(self.state_normalizer(joint_positions)).unsqueeze(0)

    def ranges(self, scan) -> np.ndarray:
        """Observation.scan -> (range_sectors,) float32 metres (all ``range_max_m``, empty, without one)."""
        c = self.config
        if scan is None:
            return np.full(c.range_sectors, c.range_max_m, dtype=np.float32)
        return nearest_by_sector(scan, c.range_sectors, c.range_max_m)

    # -- whole observations -------------------------------------------------------------------
    def __call__(self, obs: Observation) -> dict[str, torch.Tensor]:
        batch = {OBS_IMAGE: self.image(obs.image), **self.language(obs.instruction)}
        state = self.state(obs.joint_positions)
        if state is not None:
            batch[OBS_STATE] = state
        if self.clock is not None:
            batch[OBS_ELAPSED] = torch.tensor([[self.clock(obs.instruction, obs.stamp)]], dtype=torch.float32)
        if self.odometry is not None:
            odom = self.odometry(obs.instruction, obs.stamp, obs.base_pose)
            batch[OBS_ODOMETRY] = torch.tensor(odom, dtype=torch.float32).reshape(1, 3)
        if self.config.range_sectors:
            batch[OBS_RANGES] = torch.from_numpy(self.ranges(obs.scan)).reshape(1, -1)
        return batch

    def batch(self, observations: Sequence[Observation]) -> dict[str, torch.Tensor]:
        """Several observations -> one batch (e.g. for training or batched evaluation)."""
        items = [self(o) for o in observations]
        if not items:
            raise ValueError('batch() needs at least one observation')
        return {k: torch.cat([it[k] for it in items]) for k in items[0]}


def make_processor(cfg: SeedVLAConfig, stats: Mapping[str, Any] | None, trained_for) -> SeedVLAProcessor:
    """The processor of a model: state normalised by ``stats['observation.state']`` if given, else by
    the joint bounds / statistics of the embodiment the model was trained for."""
    normalizer = None
    if cfg.state_dim:
        if stats and OBS_STATE in stats:
            normalizer = StateNormalizer.from_stats(stats[OBS_STATE])
        else:
            normalizer = StateNormalizer.from_embodiment(trained_for, cfg.state_joints)
    return SeedVLAProcessor(cfg, normalizer)
