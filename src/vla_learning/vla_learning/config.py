"""Typed configs of the learning pipeline: collection, training, evaluation.

Every default is defined here, once. A YAML file (``configs/default.yaml``, ``configs/ablation.yaml``)
holds only what it changes; an unknown key is an error that names the key and the valid ones.

    RunConfig                 one training run (the YAML file of ``python -m vla_learning.train``)
      collect: CollectConfig  the dataset, when ``dataset`` does not exist yet
      model:   dict           overrides of ``SeedVLAConfig.for_embodiment`` (vla_policy checks them)
      train:   TrainConfig    optimiser, schedule, validation
        augment:    AugmentConfig
        confidence: ConfidenceConfig
    EvalConfig                ``python -m vla_learning.evaluate``'s defaults, an ablation's ``eval:`` block

The defaults are those the shipped default checkpoint (``src/vla_policy/checkpoints/default``)
was trained with. Plain Python (+ PyYAML to read files); no PyTorch, no simulator.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

#: evaluation splits (see :mod:`vla_learning.eval_cases`); 'custom' comes from an instruction file
SPLITS = ('seen', 'paraphrase', 'unseen_combo', 'obstructed', 'beside_object', 'out_of_scope')
#: first evaluation seed: disjoint from the collection seeds (``CollectConfig.seed * 1_000_003 + i``)
FIRST_SEED = 10_000_000
#: control steps per policy call; 0 = the runner's default, the policy's own n_action_steps
#: (:func:`vla_core.runner.call_ticks`), as the inference node calls it
CHUNK_STEPS = 0

#: the default policy's task mix (relative number of episodes); look_at is the hardest task
DEFAULT_TASK_WEIGHTS = {'walk_to': 4.0, 'look_at': 5.5, 'turn_left': 1.5, 'turn_right': 1.5, 'raise_left_arm': 1.0,
                        'raise_right_arm': 1.0, 'raise_both_arms': 1.0, 'wave': 1.5, 'stop': 1.5}


class ConfigError(ValueError):
    """A config value or key that cannot be used; the message says how to fix it."""


def _fraction(owner: str, **values: float) -> None:
    for name, v in values.items():
        if not 0.0 <= v <= 1.0:
            raise ConfigError(f'{owner}.{name} is a share: give a value in [0, 1], not {v}')


def _positive(owner: str, **values: float) -> None:
    for name, v in values.items():
        if not v > 0:
            raise ConfigError(f'{owner}.{name} must be > 0, not {v}')


def _non_negative(owner: str, **values: float) -> None:
    for name, v in values.items():
        if not v >= 0:
            raise ConfigError(f'{owner}.{name} must be >= 0 (0 turns it off), not {v}')


def _handover(key: str, span: tuple[float, ...]) -> None:
    if len(span) != 2 or not 0 <= span[0] <= span[1]:
        raise ConfigError(f'{key} must be [low, high] with 0 <= low <= high (shares of the time limit), '
                          f'not {list(span)}')


# -- collection ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CollectConfig:
    """Demonstration collection (``python -m vla_learning.collect``; a run config's ``collect:`` block)."""

    # -- size and processes
    episodes: int = 2800                 # episodes attempted (only successful ones are written)
    image_size: int = 64                 # square camera image, px (the policy's image_size)
    seed: int = 0                        # episode i uses world seed ``seed * 1_000_003 + i``
    workers: int = 2                     # processes
    val_fraction: float = 0.1            # share of the episodes (the last ones) in the 'val' split
    task_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TASK_WEIGHTS))
    """relative number of episodes per vla_sim task (tasks left out are not collected)"""

    # -- domain randomisation
    colour_jitter: float = 0.12          # +- per RGB channel of each object (the sim's default is 0.06)
    light_range: tuple[float, float] = (0.55, 1.35)   # scale of the sun's and headlight's intensity
    camera_noise_std: float = 6.0        # max Gaussian pixel noise (per episode U(0, this))
    camera_gain: float = 0.15            # per-episode gain U(1 - g, 1 + g) and offset U(-40g, 40g)

    # -- perturbed execution (DART): the robot visits states off the teacher's path, labels stay clean
    dart_fraction: float = 0.5           # share of episodes (not 'stop') with perturbed execution
    dart_std: float = 0.25               # std of the perturbation on the normalised base twist
    dart_head_kick: float = 0.3          # look_at DART episodes: on 10 % of the steps the head's pan and tilt
                                         # targets get a kick U(-k, k) (normalised), so the data shows the gaze
                                         # brought back onto an off-centre target (not only the teacher's jump)
    dart_head_kick_decay: float = 0.9    # the kick's share left after each step (0.9: an offset held ~1 s, the
                                         # object off-centre on either side for several frames)

    # -- start states and the teacher
    look_at_facing_fraction: float = 0.5  # share of look_at episodes starting turned toward the target (bearing
                                         # U(-0.5, 0.5) rad): the object in view from the first frame, on either
                                         # side, not only where the left search brings it in
    start_pose_fraction: float = 0.35    # share of episodes (not 'stop') starting from a random posture:
                                         # an arm or both raised, the head turned (what the last command left)
    turn_gaze_gain: float = 0.0          # turns: the teacher's head pan = -gain x the angle turned; 0 = the head
                                         # at rest, so the policy times its turn by the clock, not by a head angle
                                         # it commands itself (robust to joint-state latency)
    hold_after_success_s: float = 0.0    # each episode goes on (recorded) U(0, this) s after its success, so the
                                         # data shows what to do once the task is done
    walk_to_obstructed_fraction: float = 0.0  # share of walk_to episodes whose target lies past another object
                                         # (vla_sim.world.way_obstructed: the straight way blocked, the teacher goes
                                         # around); in random worlds about 5 % are
    walk_to_from_object_fraction: float = 0.0  # share of walk_to episodes starting where a walk to another object
                                         # ended (0.42-0.55 m from its surface, facing it): commands in a row
    range_sectors: int = 0               # record the waist lidar as the nearest range (m, up to 5: RANGES_RECORDED_MAX)
                                         # in this many sectors per frame (observation.range_sectors), for a model
                                         # with as many model.range_sectors; 0 = not recorded
    # -- rollouts (DAgger): a learned policy drives, the teacher labels
    rollout_policy: str = ''             # a checkpoint (or policy spec) whose proposals drive every episode, through
                                         # the gate, for U(rollout_handover) x the task's time limit (then the teacher
                                         # drives, with that much more time); each frame's label is the teacher's clean
                                         # action. '' = the teacher drives (demonstrations). Set by train's dagger:
    rollout_handover: tuple[float, float] = (0.5, 1.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, 'light_range', tuple(float(v) for v in self.light_range))
        object.__setattr__(self, 'rollout_handover', tuple(float(v) for v in self.rollout_handover))
        object.__setattr__(self, 'task_weights', {str(k): float(v) for k, v in dict(self.task_weights).items()})
        _positive('collect', episodes=self.episodes, image_size=self.image_size, workers=self.workers)
        _fraction('collect', val_fraction=self.val_fraction, dart_fraction=self.dart_fraction,
                  look_at_facing_fraction=self.look_at_facing_fraction, start_pose_fraction=self.start_pose_fraction,
                  dart_head_kick_decay=self.dart_head_kick_decay,
                  walk_to_obstructed_fraction=self.walk_to_obstructed_fraction,
                  walk_to_from_object_fraction=self.walk_to_from_object_fraction)
        if not (isinstance(self.range_sectors, int) and 0 <= self.range_sectors <= 64):
            raise ConfigError(f'collect.range_sectors must be a whole number in [0, 64], not {self.range_sectors!r}')
        _non_negative('collect', colour_jitter=self.colour_jitter, camera_noise_std=self.camera_noise_std,
                      camera_gain=self.camera_gain, dart_std=self.dart_std, dart_head_kick=self.dart_head_kick,
                      turn_gaze_gain=self.turn_gaze_gain, hold_after_success_s=self.hold_after_success_s)
        if len(self.light_range) != 2 or not 0 < self.light_range[0] <= self.light_range[1]:
            raise ConfigError(f'collect.light_range must be [low, high] with 0 < low <= high, not {self.light_range}')
        _handover('collect.rollout_handover', self.rollout_handover)
        if not self.task_weights or any(w < 0 for w in self.task_weights.values()) \
                or sum(self.task_weights.values()) <= 0:
            raise ConfigError(f'collect.task_weights must map task names to weights >= 0, some > 0, not '
                              f'{self.task_weights} (e.g. {{walk_to: 1.0, wave: 1.0}})')


# -- training ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AugmentConfig:
    """Training-batch augmentations (``train.augment:``); validation batches get none."""

    shift_px: int = 3                    # random translation of the image, px (grounding labels move with it)
    brightness: float = 0.15             # image gain U(1 - b, 1 + b)
    word_dropout: float = 0.1            # each word dropped with this probability (at least one kept)
    unknown_word: float = 0.3            # share of instructions given one random, never-seen word
    odometry_lag_s: float = 0.3          # odometry read U{0, .., lag} s late (whole frames, not before the
                                         # episode's start), as a real base's arrives late. Not the joint state:
                                         # read late, it no longer says where a wave is in its cycle (run v25:
                                         # wave 0/10 with both lagged)
    sentence_dropout: float = 0.1        # model.sentence_dim: share of samples whose sentence embedding is zeroed
                                         # (the made-up out-of-scope instructions have none: not a refusal cue)

    def __post_init__(self) -> None:
        _non_negative('train.augment', shift_px=self.shift_px, brightness=self.brightness,
                      odometry_lag_s=self.odometry_lag_s)
        _fraction('train.augment', word_dropout=self.word_dropout, unknown_word=self.unknown_word,
                  sentence_dropout=self.sentence_dropout)


@dataclass(frozen=True)
class ConfidenceConfig:
    """Out-of-scope negatives for the confidence head (``train.confidence:``). The agreement target
    itself is the loss config's (``model: agreement_threshold``, vla_policy's SeedVLALossConfig)."""

    oos_fraction: float = 0.2            # share of each batch whose instruction is replaced by an out-of-scope one
    unknown_word_rate: float = 0.5       # each word of those becomes a random never-seen one with this probability
    object_negatives: float = 0.3        # share of those made from the sample's own instruction with its verb or
                                         # its object unknown

    def __post_init__(self) -> None:
        _fraction('train.confidence', oos_fraction=self.oos_fraction, unknown_word_rate=self.unknown_word_rate,
                  object_negatives=self.object_negatives)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, schedule and validation (a run config's ``train:`` block)."""

    # -- budget
    steps: int = 36000                   # optimiser steps (one global batch each)
    time_limit_s: float = 2100.0         # stop (and save) after this many seconds (0 = no limit); the LR schedule
                                         # anneals by max(step / steps, elapsed / time_limit_s), so it ends
                                         # annealed either way
    # -- optimiser (AdamW, warm-up then cosine to 2 % of lr)
    batch_size: int = 64                 # per process
    lr: float = 0.002
    weight_decay: float = 0.0001
    warmup_steps: int = 300
    grad_clip: float = 1.0               # max gradient norm (0 = no clipping)
    num_threads: int = 2                 # torch intra-op threads per process
    # -- validation, checkpoints, logs
    val_every: int = 1000                # steps between validations (and checkpoints)
    val_batches: int = 20                # batches per validation (a fixed seed: the same batches every time)
    log_every: int = 50                  # steps between lines of metrics.jsonl
    # -- batches
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    confidence: ConfidenceConfig = field(default_factory=ConfidenceConfig)

    def __post_init__(self) -> None:
        _positive('train', steps=self.steps, batch_size=self.batch_size, lr=self.lr, num_threads=self.num_threads,
                  val_every=self.val_every, val_batches=self.val_batches, log_every=self.log_every)
        _non_negative('train', time_limit_s=self.time_limit_s, weight_decay=self.weight_decay,
                      warmup_steps=self.warmup_steps, grad_clip=self.grad_clip)


@dataclass(frozen=True)
class DaggerConfig:
    """One DAgger round after training (``dagger:``): the trained policy drives, the teacher labels
    the states it reaches (``collect.rollout_policy``), and training goes on over the demonstrations
    and those rollouts together, from the trained weights, with the demonstrations' normalisation."""

    episodes: int = 0                    # rollout episodes collected (0 = no round: train exports its best)
    dataset: str = ''                    # where they are written ('' = <dataset>_rollouts); collected if missing or
                                         # driven by other weights (its meta/driven_by.json)
    seed: int = 1                        # their collection seed (collect.seed; the demonstrations use another)
    handover: tuple[float, float] = (0.5, 1.0)   # collect.rollout_handover: the policy drives U(a, b) x time limit
    task_weights: dict[str, float] = field(default_factory=dict)   # the rollouts' tasks ({} = collect.task_weights)
    hold_after_success_s: float = -1.0   # each rollout goes on U(0, this) s after its success, the policy still
                                         # driving (a handover > 1 leaves it the wheel): the states a held task
                                         # drifts into, labelled by the teacher; < 0 = collect.hold_after_success_s
    steps: int = 8000                    # optimiser steps over both datasets
    lr: float = 0.0005                   # peak learning rate (warm-up, then cosine to 2 % of it)
    warmup_steps: int = 100
    time_limit_s: float = 900.0          # as train.time_limit_s

    def __post_init__(self) -> None:
        object.__setattr__(self, 'handover', tuple(float(v) for v in self.handover))
        object.__setattr__(self, 'task_weights', {str(k): float(v) for k, v in dict(self.task_weights).items()})
        _non_negative('dagger', episodes=self.episodes, warmup_steps=self.warmup_steps,
                      time_limit_s=self.time_limit_s)
        _positive('dagger', steps=self.steps, lr=self.lr)
        _handover('dagger.handover', self.handover)


@dataclass(frozen=True)
class RunConfig:
    """One training run: ``python -m vla_learning.train --config FILE [--set key.sub=value ...]``."""

    # -- where
    dataset: str                         # LeRobot v3 dataset directory; collected first (``collect``) if missing
    output_dir: str                      # metrics.jsonl, checkpoints/ (last, best), summary.json, metrics.png
    export_dir: str = ''                 # the best checkpoint is copied here at the end ('' = no copy)
    # -- what
    seed: int = 0                        # model initialisation and batch sampling
    embodiment: str = 'vla_humanoid'     # vla_policy embodiment (action space, joints)
    collect: CollectConfig = field(default_factory=CollectConfig)
    model: dict[str, Any] = field(default_factory=dict)
    """overrides of ``SeedVLAConfig.for_embodiment(embodiment)`` (vla_policy validates them)"""
    train: TrainConfig = field(default_factory=TrainConfig)
    dagger: DaggerConfig = field(default_factory=DaggerConfig)

    def __post_init__(self) -> None:
        for name in ('dataset', 'output_dir'):
            if not getattr(self, name):
                raise ConfigError(f"'{name}' is required: set it in the config file or with --set {name}=PATH")
        object.__setattr__(self, 'model', dict(self.model or {}))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, not tuples): what YAML or JSON writes and :func:`from_dict` reads back."""
        return _plain(dataclasses.asdict(self))


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation in lockstep (``python -m vla_learning.evaluate``'s defaults; an ablation's ``eval:``)."""

    episodes: int = 20                   # per task and split
    splits: tuple[str, ...] = SPLITS     # from SPLITS ('custom' is added by an instruction file)
    tasks: tuple[str, ...] | None = None  # vla_sim task names; None = every task
    chunk_steps: int = CHUNK_STEPS       # control steps per policy call; 0 = the policy's own n_action_steps
    confidence_threshold: float = 0.5    # the safety gate's confidence_threshold (vla_safety's default)
    first_seed: int = FIRST_SEED         # episode seeds start here

    def __post_init__(self) -> None:
        object.__setattr__(self, 'splits', tuple(self.splits or ()))
        object.__setattr__(self, 'tasks', None if self.tasks is None else tuple(self.tasks))
        _positive('eval', episodes=self.episodes)
        _non_negative('eval', chunk_steps=self.chunk_steps)
        _fraction('eval', confidence_threshold=self.confidence_threshold)
        unknown = [s for s in self.splits if s not in SPLITS]
        if unknown:
            raise ConfigError(f"eval.splits: unknown split(s) {unknown}; splits are {', '.join(SPLITS)}")


# -- reading -------------------------------------------------------------------------------------
def from_dict(cls: type, data: Mapping[str, Any] | None, where: str = ''):
    """``cls`` (a config dataclass) from plain data; nested dataclass fields from nested mappings.
    An unknown key raises ConfigError naming it and the valid ones."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    place = f"'{where}' block" if where else 'top level'
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} at the {place} of the config; valid keys there: "
                          f"{', '.join(names)}")
    for f in dataclasses.fields(cls):
        if f.name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            key = f'{where}.{f.name}' if where else f.name
            raise ConfigError(f"'{key}' is required ({place}): set it in the config file or with --set {key}=VALUE")
    kwargs = {}
    for name, value in data.items():
        hint, key = hints[name], f'{where}.{name}' if where else name
        if dataclasses.is_dataclass(hint):
            value = from_dict(hint, value, key)
        elif hint in (int, float) and not isinstance(value, bool):
            try:                            # YAML reads 1e-3 as a string (1.0e-3 is a float)
                value = hint(float(value)) if hint is int and float(value).is_integer() else hint(value)
            except (TypeError, ValueError):
                raise ConfigError(f"'{key}' must be a number ({hint.__name__}), not {value!r}") from None
        kwargs[name] = value
    return cls(**kwargs)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping (an empty file is {})."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: a config file holds a mapping of keys, not {type(data).__name__}')
    return data


def apply_overrides(data: dict[str, Any], overrides: Sequence[str] = ()) -> dict[str, Any]:
    """``key.sub=value`` items (values parsed as YAML) set into ``data`` (nested mappings made as needed)."""
    for item in overrides or ():
        if '=' not in item:
            raise ConfigError(f"override '{item}' must look like train.steps=100")
        key, value = item.split('=', 1)
        node = data
        parts = key.split('.')
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = yaml.safe_load(value)
    return data


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` on top; nested mappings merged key by key."""
    out = dict(base)
    for k, v in update.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def load_config(path: str | Path, overrides: Sequence[str] = (), updates: Mapping[str, Any] | None = None
                ) -> RunConfig:
    """The run config of YAML file ``path``, with ``updates`` merged in and ``key.sub=value``
    ``overrides`` on top; every key not given takes the dataclass default."""
    data = deep_merge(read_yaml(path), updates or {})
    try:
        return from_dict(RunConfig, apply_overrides(data, overrides))
    except ConfigError as exc:
        raise ConfigError(f'{path}: {exc}') from None


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x
