"""SeedVLAPolicy: the seed VLA network behind the Policy interface.

Observation -> processor (resize, normalise, tokenise, state) -> SeedVLAModel -> PolicyOutput.
Made fresh (:meth:`SeedVLAPolicy.untrained`: deterministic random weights, runs but has learned
nothing) or from a checkpoint (:meth:`SeedVLAPolicy.from_checkpoint`). Loading a checkpoint with
``backend='onnx'`` returns an :class:`~vla_policy.policies.onnx_policy.OnnxPolicy` instead, which
runs the network exported by ``python -m vla_policy.export_onnx`` under onnxruntime.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Mapping

import torch

from vla_policy.checkpoint import check_tensors, load_checkpoint
from vla_core.policy import Observation, Policy, PolicyOutput
from vla_core.embodiment import Embodiment
from vla_policy.errors import PolicyLoadError
from vla_policy.models.configuration_seed_vla import SeedVLAConfig
from vla_policy.models.constants import ACTION, CONFIDENCE
from vla_policy.models.modeling_seed_vla import SeedVLAModel
from vla_policy.models.normalization import make_action_rescaler, validate_stats
from vla_policy.models.processor_seed_vla import make_processor
from vla_policy.policies.onnx_policy import OnnxPolicy
from vla_policy.models.unknown_words import DEFAULT_THRESHOLD
from vla_policy.policies.seed_vla_checkpoint import attach_unknown_word_reader, read_checkpoint_config

_log = logging.getLogger(__name__)

#: intra-op threads for inference. One thread is fastest for this small model on a few cores
#: (see ``python -m vla_tools.policy_benchmark``) and leaves the other cores to the ROS executor.
DEFAULT_NUM_THREADS = 1


class SeedVLAPolicy(Policy):
    """The seed VLA policy.

    Args:
        embodiment: the robot driven; its action_dim must equal the model's.
        config: model config for a fresh model: a SeedVLAConfig, a dict of overrides for
            :meth:`SeedVLAConfig.for_embodiment` (nested: ``{'fusion': {'type': 'film'}}``), or None
            for the defaults. With ``model``, leave
            it None (or pass the model's own config).
        seed: seed of the random initialisation of a fresh model (same seed, same weights).
        num_threads: ``torch.set_num_threads`` value (process-wide), None leaves PyTorch's setting.
        model: an existing (trained) SeedVLAModel to wrap instead of a fresh one.
        stats: dataset statistics (stats.json layout); its 'observation.state' block normalises the
            state instead of the embodiment's bounds.
        trained_for: the embodiment the model was trained for (its joint statistics normalise the
            state); defaults to ``embodiment``.
        source: where the weights came from (for :attr:`description`).
    """

    name = 'seed_vla'
    #: the words vla_learning trains on (vla_learning.instructions): instructions naming other colours
    #: or objects are refused (a checkpoint taught other words: the node's instruction_vocabulary)
    vocabulary = 'vla_arena'

    def __init__(self, embodiment: Embodiment, *, config: SeedVLAConfig | Mapping[str, Any] | None = None,
                 seed: int = 0, num_threads: int | None = DEFAULT_NUM_THREADS, model: SeedVLAModel | None = None,
                 stats: Mapping[str, Any] | None = None, trained_for: Embodiment | None = None,
                 source: str | None = None) -> None:
        if not isinstance(embodiment, Embodiment):
            raise TypeError(f'embodiment must be an Embodiment, got {type(embodiment).__name__}')
        if not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
            raise ValueError(f'seed must be an integer >= 0, got {seed!r}')
        if num_threads is not None and not (isinstance(num_threads, int) and num_threads >= 1):
            raise ValueError(f'num_threads must be an integer >= 1 or None, got {num_threads!r}')
        self.embodiment = embodiment
        self.trained_for = trained_for or embodiment
        if model is None:
            cfg = _as_config(config, self.trained_for)
            model = SeedVLAModel.from_seed(cfg, seed)
            self.trained, self.seed = False, seed
        else:
            if not isinstance(model, SeedVLAModel):
                raise TypeError(f'model must be a SeedVLAModel, got {type(model).__name__}')
            if config is not None and _as_config(config, self.trained_for) != model.config:
                raise ValueError('config differs from model.config; pass only the model')
            self.trained, self.seed = True, None
        cfg = model.config
        if cfg.action_dim != embodiment.action_dim:
            raise ValueError(f"the model outputs {cfg.action_dim} action dims but embodiment '{embodiment.name}' has "
                             f'{embodiment.action_dim}; use the embodiment the model was trained for, or build a '
                             'fresh model with SeedVLAConfig.for_embodiment(embodiment)')
        self.stats = validate_stats(stats, cfg.state_joints, cfg.action_dim) if stats is not None else None
        self.config = cfg
        self.reads_odometry = cfg.odometry_input
        self.reads_scan = cfg.range_sectors > 0
        self.processor = make_processor(cfg, self.stats, self.trained_for)
        self.n_action_steps = cfg.executed_steps
        self.chunk_step_dt = cfg.step_dt
        self.action_rescaler = make_action_rescaler(cfg, self.stats, self.trained_for)
        if cfg.residual_joints and not bool(torch.isfinite(model.residual_scale).all()):
            # a model that was never trained: its residual joints read the state as this processor does
            norm = self.processor.state_normalizer
            model.set_residual_reference(self.trained_for, norm.mean, norm.std)
        self.model = model.eval()
        self.num_threads = num_threads
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        self.source = source or ('random init' if not self.trained else 'in-memory model')
        if not self.trained:
            _log.warning('%s: its actions are meaningless until it is trained', self.description)

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def untrained(cls, embodiment: Embodiment, seed: int = 0, **kwargs: Any) -> 'SeedVLAPolicy':
        """A fresh, randomly initialised (UNTRAINED) policy: finite, deterministic, meaningless actions."""
        return cls(embodiment, seed=seed, **kwargs)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, embodiment: Embodiment | str | None = None,
                        **options: Any) -> 'SeedVLAPolicy':
        """Load a seed_vla checkpoint directory (see :mod:`vla_policy.checkpoint`)."""
        policy = load_checkpoint(path, embodiment, **options)
        if not isinstance(policy, cls):
            raise PolicyLoadError(f"checkpoint '{path}' holds a '{policy.name}' policy, not '{cls.name}'")
        return policy

    @classmethod
    def from_checkpoint_contents(cls, contents, embodiment: Embodiment, *,
                                 num_threads: int | None = DEFAULT_NUM_THREADS, backend: str = 'torch',
                                 unknown_word_similarity: float = DEFAULT_THRESHOLD) -> Policy:
        """Checkpoint hook of :func:`vla_policy.checkpoint.load_checkpoint` (validates config and tensors).

        ``backend``: 'torch' (this class), 'onnx' (an :class:`~vla_policy.policies.onnx_policy.OnnxPolicy`
        running the checkpoint's model.onnx, written by ``python -m vla_policy.export_onnx``), or
        'auto': 'onnx' when the checkpoint has a current export and onnxruntime is installed (the
        same actions, about half the CPU time per call), else 'torch'; the log says which and why.
        ``unknown_word_similarity``: with a ``vocabulary.json``, words the checkpoint was not trained on
        are read as the known word MiniLM finds this similar (vla_policy.models.unknown_words; 1 = off).
        """
        onnx_options = dict(num_threads=num_threads, unknown_word_similarity=unknown_word_similarity)
        if backend == 'auto':
            try:
                policy = OnnxPolicy.from_checkpoint_contents(contents, embodiment, **onnx_options)
            except PolicyLoadError as exc:
                _log.info('backend auto: PyTorch, not onnxruntime (%s)', exc)
                backend = 'torch'
            else:
                _log.info('backend auto: onnxruntime (%s)', contents.path / 'model.onnx')
                return policy
        if backend == 'onnx':
            return OnnxPolicy.from_checkpoint_contents(contents, embodiment, **onnx_options)
        if backend != 'torch':
            raise ValueError(f"backend must be 'auto', 'torch' or 'onnx', got {backend!r}")
        cfg, stats = read_checkpoint_config(contents, embodiment)
        model = SeedVLAModel.from_seed(cfg, 0)
        tensors = check_tensors(contents, contents.load_tensors(), model.state_dict())
        try:
            model.load_state_dict(tensors, strict=True)
        except RuntimeError as exc:  # names/shapes were checked above; this is a last line of defence
            raise PolicyLoadError(f'{contents.weights_path}: {exc}') from exc
        policy = cls(embodiment, model=model, stats=stats, trained_for=contents.trained_for,
                     num_threads=num_threads, source=f'checkpoint {contents.path}')
        policy.trained = contents.trained
        attach_unknown_word_reader(policy.processor, contents, unknown_word_similarity)
        return policy

    # -- Policy --------------------------------------------------------------------------------
    @property
    def description(self) -> str:
        if self.trained:
            state = 'trained'
        elif self.seed is not None:
            state = f'UNTRAINED (random weights, seed={self.seed})'
        else:
            state = 'UNTRAINED (saved without training)'
        return f"seed_vla {state}, {self.source}, for embodiment '{self.trained_for.name}'"

    def reset(self) -> None:
        self.processor.reset()

    def infer(self, obs: Observation) -> PolicyOutput:
        with torch.inference_mode():
            out = self.model(self.processor(obs))
            actions = out[ACTION][0].numpy().copy()
            confidence = float(out[CONFIDENCE][0])
        if self.action_rescaler is not None:
            actions = self.action_rescaler.to_embodiment(actions)
        return PolicyOutput(actions=actions, confidence=confidence, step_dt=self.config.step_dt)

    def __repr__(self) -> str:
        return f'<SeedVLAPolicy {self.description}>'


def _as_config(config, embodiment: Embodiment) -> SeedVLAConfig:
    if config is None:
        return SeedVLAConfig.for_embodiment(embodiment)
    if isinstance(config, SeedVLAConfig):
        return config
    if isinstance(config, Mapping):
        return SeedVLAConfig.for_embodiment(embodiment, **dict(config))
    raise TypeError(f'config must be a SeedVLAConfig, a dict of its fields, or None; got {type(config).__name__}')
