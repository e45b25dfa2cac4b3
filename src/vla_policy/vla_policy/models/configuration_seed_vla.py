"""Configuration of the seed VLA model: every knob, documented and validated.

Plain Python (no PyTorch): a checkpoint's ``config.json`` is checked before any tensor is read.
Component fields (``vision_encoder``, ``language_encoder``, ``tokenizer``, ``fusion``,
``action_head``) name entries of the registries in :mod:`vla_policy.models.components`, so new
parts plug in behind the same config.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from vla_policy.models.components import (ACTION_HEADS, FUSIONS, LANGUAGE_ENCODERS, TOKENIZERS,
                                          VISION_ENCODERS)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class SeedVLAConfig:
    """Seed VLA: image + instruction (+ joint state) -> a chunk of normalised actions + a confidence.

    Build one for a robot with :meth:`for_embodiment`; change fields with
    ``dataclasses.replace(cfg, chunk_size=4)`` (validation runs again).
    """

    #: policy type written to checkpoints; the registry name of the policy that runs this model
    policy_type: ClassVar[str] = 'seed_vla'

    # ---- inputs ------------------------------------------------------------------------------
    image_size: int = 96
    """Side of the square image the vision encoder sees, in pixels (32..512). The processor
    resizes (stretches, antialiased) each camera image to image_size x image_size."""
    image_mean: tuple[float, float, float] = IMAGENET_MEAN
    """Per-channel RGB mean subtracted by the processor after scaling pixels to [0, 1]."""
    image_std: tuple[float, float, float] = IMAGENET_STD
    """Per-channel RGB std the processor divides by (each > 0)."""
    state_joints: tuple[str, ...] = ()
    """Joints whose measured positions form the state input, in this order; () = no state input.
    :meth:`for_embodiment` fills in the embodiment's joints. Missing measurements count as the
    joint's normalisation centre (0 after normalisation)."""

    # ---- vision ------------------------------------------------------------------------------
    vision_encoder: str = 'small_cnn'
    """Vision encoder, a name in components.VISION_ENCODERS ('small_cnn': a CNN trained from scratch)."""
    vision_channels: tuple[int, ...] = (32, 64, 128, 128)
    """small_cnn: output channels of each stride-2 conv stage (1..6 stages, 4..1024 each); the last
    one is the width of the visual features."""

    # ---- language ----------------------------------------------------------------------------
    tokenizer: str = 'hash_words'
    """Tokenizer, a name in components.TOKENIZERS ('hash_words': lowercase words and word n-grams
    hashed into ``vocab_size`` buckets; deterministic, no vocabulary file)."""
    language_encoder: str = 'hash_bag'
    """Language encoder, a name in components.LANGUAGE_ENCODERS ('hash_bag': an embedding bag)."""
    vocab_size: int = 4096
    """Number of token ids including padding id 0 (2..1048576). More buckets, fewer hash collisions."""
    max_tokens: int = 32
    """Tokens kept per instruction (1..512); longer instructions are truncated."""
    text_ngrams: int = 2
    """hash_words: longest word n-gram hashed (1 = words only, 2 = words + bigrams, at most 3)."""
    text_dim: int = 128
    """Width of the token embeddings (8..2048)."""

    # ---- fusion ------------------------------------------------------------------------------
    fusion: str = 'concat'
    """How vision, language and state meet, a name in components.FUSIONS ('concat': late fusion,
    pooled features concatenated then an MLP)."""
    hidden_dim: int = 256
    """Width of the fused feature vector and of the fusion MLP's hidden layers (8..4096)."""
    fusion_layers: int = 2
    """Linear layers of the fusion MLP (1..8)."""
    dropout: float = 0.1
    """Dropout in the fusion MLP while training, in [0, 1). No effect at inference."""

    # ---- outputs -----------------------------------------------------------------------------
    action_head: str = 'tanh_chunk'
    """Action head, a name in components.ACTION_HEADS ('tanh_chunk': an MLP regressing the whole
    chunk, squashed to [-1, 1] by tanh)."""
    action_dim: int = 11
    """Dimensions of one normalised action; must equal the embodiment's action_dim (1..256)."""
    chunk_size: int = 8
    """Future actions predicted per inference, step 0 = now (1..256)."""
    step_dt: float = 0.1
    """Seconds between consecutive actions of a chunk (0 < step_dt <= 10), as in the training data."""

    # ---- training ----------------------------------------------------------------------------
    confidence_loss_weight: float = 0.1
    """Weight of the confidence head's binary cross-entropy next to the action loss (>= 0)."""

    # -- validation ---------------------------------------------------------------------------
    def __post_init__(self) -> None:
        _set = object.__setattr__
        for name in ('image_mean', 'image_std', 'vision_channels', 'state_joints'):
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                _set(self, name, tuple(value))
        _int(self, 'image_size', 32, 512, 'e.g. 96 (the seed encoder) or 224 (ImageNet encoders)')
        for name in ('image_mean', 'image_std'):
            v = getattr(self, name)
            if not (isinstance(v, tuple) and len(v) == 3 and all(_is_real(x) for x in v)):
                raise ValueError(f'SeedVLAConfig.{name} must be three numbers (R, G, B), got {v!r}; '
                                 f'ImageNet uses {IMAGENET_MEAN if name == "image_mean" else IMAGENET_STD}')
            _set(self, name, tuple(float(x) for x in v))
        if min(self.image_std) <= 0:
            raise ValueError(f'SeedVLAConfig.image_std must be > 0 per channel, got {self.image_std}')
        joints = self.state_joints
        if not all(isinstance(j, str) and j for j in joints):
            raise ValueError(f'SeedVLAConfig.state_joints must be joint names (non-empty strings), got {joints!r}')
        if len(set(joints)) != len(joints):
            dup = sorted({j for j in joints if joints.count(j) > 1})
            raise ValueError(f'SeedVLAConfig.state_joints lists {dup} more than once; list each joint once')

        VISION_ENCODERS.check(self.vision_encoder, 'vision_encoder')
        ch = self.vision_channels
        if not (isinstance(ch, tuple) and 1 <= len(ch) <= 6 and all(_is_int(c) and 4 <= c <= 1024 for c in ch)):
            raise ValueError(f'SeedVLAConfig.vision_channels must be 1..6 ints in 4..1024 (one per stride-2 stage), '
                             f'got {ch!r}; e.g. (32, 64, 128, 128)')
        if self.image_size < 2 ** len(ch):
            raise ValueError(f'SeedVLAConfig.image_size={self.image_size} is too small for {len(ch)} stride-2 stages '
                             f'(needs >= {2 ** len(ch)}); raise image_size or drop stages from vision_channels')

        TOKENIZERS.check(self.tokenizer, 'tokenizer')
        LANGUAGE_ENCODERS.check(self.language_encoder, 'language_encoder')
        _int(self, 'vocab_size', 2, 1 << 20, 'e.g. 4096')
        _int(self, 'max_tokens', 1, 512, 'e.g. 32')
        _int(self, 'text_ngrams', 1, 3, '1 = words, 2 = words + bigrams')
        _int(self, 'text_dim', 8, 2048, 'e.g. 128')

        FUSIONS.check(self.fusion, 'fusion')
        _int(self, 'hidden_dim', 8, 4096, 'e.g. 256')
        _int(self, 'fusion_layers', 1, 8, 'e.g. 2')
        if not (_is_real(self.dropout) and 0.0 <= self.dropout < 1.0):
            raise ValueError(f'SeedVLAConfig.dropout must be in [0, 1), got {self.dropout!r}; use 0 to disable it')

        ACTION_HEADS.check(self.action_head, 'action_head')
        _int(self, 'action_dim', 1, 256, "it must equal the embodiment's action_dim; "
                                         'SeedVLAConfig.for_embodiment(embodiment) fills it in')
        _int(self, 'chunk_size', 1, 256, 'e.g. 8 actions per inference')
        if not (_is_real(self.step_dt) and 0.0 < self.step_dt <= 10.0):
            raise ValueError(f'SeedVLAConfig.step_dt must be seconds in (0, 10], got {self.step_dt!r}; '
                             'use the period of the training data, e.g. 0.1 for 10 Hz')
        if not (_is_real(self.confidence_loss_weight) and self.confidence_loss_weight >= 0):
            raise ValueError(f'SeedVLAConfig.confidence_loss_weight must be a number >= 0, '
                             f'got {self.confidence_loss_weight!r}')
        _set(self, 'step_dt', float(self.step_dt))
        _set(self, 'dropout', float(self.dropout))
        _set(self, 'confidence_loss_weight', float(self.confidence_loss_weight))

    # -- derived ------------------------------------------------------------------------------
    @property
    def state_dim(self) -> int:
        return len(self.state_joints)

    # -- construction / serialisation ---------------------------------------------------------
    @classmethod
    def for_embodiment(cls, embodiment, use_state: bool = True, **overrides: Any) -> 'SeedVLAConfig':
        """A config sized for ``embodiment``: its action_dim and (if ``use_state``) its joints as state."""
        base: dict[str, Any] = {'action_dim': embodiment.action_dim,
                                'state_joints': tuple(embodiment.joint_names) if use_state else ()}
        base.update(overrides)
        return cls.from_dict(base)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if not f.name.startswith('_')]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'SeedVLAConfig':
        """Build from a mapping (e.g. config.json's 'config'); unknown keys are an error, missing ones default."""
        if not isinstance(data, Mapping):
            raise ValueError(f'SeedVLAConfig needs a mapping of field -> value, got {type(data).__name__}')
        known = cls.field_names()
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f'SeedVLAConfig has no field(s) {unknown}; known fields: {", ".join(known)}')
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists); ``from_dict(to_dict())`` gives an equal config."""
        out = {}
        for name in self.field_names():
            v = getattr(self, name)
            out[name] = list(v) if isinstance(v, tuple) else v
        return out


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(cfg: SeedVLAConfig, name: str, lo: int, hi: int, hint: str) -> None:
    v = getattr(cfg, name)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
        object.__setattr__(cfg, name, v)
    if not (_is_int(v) and lo <= v <= hi):
        raise ValueError(f'SeedVLAConfig.{name} must be an integer in [{lo}, {hi}], got {v!r}; {hint}')
