"""OnnxPolicy: a seed_vla checkpoint's exported network run by onnxruntime.

Export first (``python -m vla_policy.export_onnx <checkpoint_dir>`` writes
``<checkpoint_dir>/model.onnx``), then select it either way::

    make_policy('onnx', embodiment, checkpoint='<checkpoint_dir>')      # registered name
    make_policy('<checkpoint_dir>', embodiment, backend='onnx')         # checkpoint + option

Pre-processing is the seed_vla processor (resize, pixel normalisation, tokenizer or cached MiniLM
embedding, state normalisation from stats.json / the embodiment), so both backends see the same
inputs; only the network runs in onnxruntime (CPU, ``num_threads`` intra-op threads, sequential).
The model.onnx must come from the checkpoint's current model.safetensors: its recorded SHA-256
is checked on load, and a stale export is refused with the command that refreshes it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from vla_policy.checkpoint import WEIGHTS_FILE, CheckpointContents, read_checkpoint
from vla_core.policy import Observation, Policy, PolicyOutput
from vla_core.embodiment import Embodiment
from vla_policy.errors import PolicyLoadError
from vla_policy.models.constants import (OBS_ELAPSED, OBS_IMAGE, OBS_LANGUAGE_EMBEDDING, OBS_ODOMETRY, OBS_RANGES,
                                         OBS_STATE)
from vla_policy.models.normalization import make_action_rescaler
from vla_policy.models.optional import require
from vla_policy.models.processor_seed_vla import make_processor
from vla_policy.onnx_format import META_INPUTS, META_WEIGHTS_SHA256, ONNX_FILE, weights_sha256
from vla_policy.models.unknown_words import DEFAULT_THRESHOLD
from vla_policy.policies.seed_vla_checkpoint import attach_unknown_word_reader, read_checkpoint_config

DEFAULT_NUM_THREADS = 1


class OnnxPolicy(Policy):
    """A seed_vla checkpoint run with onnxruntime.

    Args:
        embodiment: the robot driven; its action_dim must equal the checkpoint's.
        checkpoint: the seed_vla checkpoint directory (or its :class:`CheckpointContents`).
        onnx_path: the exported network; default ``<checkpoint>/model.onnx``.
        num_threads: onnxruntime intra-op threads (and ``torch.set_num_threads`` for the processor,
            process-wide); None = onnxruntime's default.
        unknown_word_similarity: with the checkpoint's ``vocabulary.json``, words it was not trained on
            are read as the known word MiniLM finds this similar (vla_policy.models.unknown_words; 1 = off).
    """

    name = 'onnx'
    #: the words vla_learning trains on (vla_learning.instructions): instructions naming other colours
    #: or objects are refused (a checkpoint taught other words: the node's instruction_vocabulary)
    vocabulary = 'vla_arena'

    def __init__(self, embodiment: Embodiment, checkpoint: str | os.PathLike | None = None, *,
                 onnx_path: str | os.PathLike | None = None,
                 num_threads: int | None = DEFAULT_NUM_THREADS,
                 unknown_word_similarity: float = DEFAULT_THRESHOLD) -> None:
        if checkpoint is None:
            raise ValueError("policy 'onnx' needs checkpoint=<seed_vla checkpoint directory> (export its network "
                             'first: python -m vla_policy.export_onnx <dir>)')
        if num_threads is not None and not (isinstance(num_threads, int) and num_threads >= 1):
            raise ValueError(f'num_threads must be an integer >= 1 or None, got {num_threads!r}')
        contents = checkpoint if isinstance(checkpoint, CheckpointContents) else read_checkpoint(checkpoint)
        if contents.policy_type != 'seed_vla':
            raise PolicyLoadError(f"checkpoint '{contents.path}' holds a '{contents.policy_type}' policy; "
                                  "the 'onnx' backend runs seed_vla checkpoints")
        cfg, stats = read_checkpoint_config(contents, embodiment)
        path = Path(onnx_path) if onnx_path is not None else contents.path / ONNX_FILE
        if not path.is_file():
            raise PolicyLoadError(f"'{path}' does not exist: export the checkpoint's network first with "
                                  f'python -m vla_policy.export_onnx {contents.path}'
                                  + (f' --out {path}' if onnx_path is not None else ''))
        ort = require('onnxruntime', pip='onnxruntime', needed_for="the 'onnx' policy backend",
                      instead="use the PyTorch backend (backend='torch', the default)")
        options = ort.SessionOptions()
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
        try:
            session = ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types for bad files
            raise PolicyLoadError(f"'{path}' could not be loaded by onnxruntime ({type(exc).__name__}: {exc}); "
                                  f'export it again: python -m vla_policy.export_onnx {contents.path}') from exc
        meta = session.get_modelmeta().custom_metadata_map
        recorded = meta.get(META_WEIGHTS_SHA256)
        if recorded != weights_sha256(contents.path / WEIGHTS_FILE):
            why = 'records no weights hash' if recorded is None else 'was exported from other weights'
            raise PolicyLoadError(f"'{path}' {why} than {contents.path / WEIGHTS_FILE} (the checkpoint was saved "
                                  f'again after the export?); export it again: python -m vla_policy.export_onnx '
                                  f'{contents.path}' + (f' --out {path}' if onnx_path is not None else ''))
        self.input_names = [i.name for i in session.get_inputs()]
        if json.loads(meta.get(META_INPUTS, '[]')) != self.input_names:
            raise PolicyLoadError(f"'{path}' has inputs {self.input_names}, not those recorded at export; "
                                  f'export it again: python -m vla_policy.export_onnx {contents.path}')

        self.embodiment = embodiment
        self.trained_for = contents.trained_for
        self.config = cfg
        self.reads_odometry = cfg.odometry_input
        self.reads_scan = cfg.range_sectors > 0
        self.stats = stats
        self.n_action_steps = cfg.executed_steps
        self.chunk_step_dt = cfg.step_dt
        self.processor = make_processor(cfg, stats, contents.trained_for)
        attach_unknown_word_reader(self.processor, contents, unknown_word_similarity)
        self.action_rescaler = make_action_rescaler(cfg, stats, contents.trained_for)
        missing = sorted({*self.input_names} - {self.processor.language_key, *_BASE_INPUTS})
        if missing:
            raise PolicyLoadError(f"'{path}' needs inputs {missing} that the processor of this config does not "
                                  'produce; export it again from this checkpoint')
        self.session = session
        self.onnx_path = path
        self.trained = contents.trained
        self.num_threads = num_threads
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        self.source = f'{path} (onnxruntime {ort.__version__})'

    @classmethod
    def from_checkpoint_contents(cls, contents, embodiment: Embodiment, *, onnx_path=None,
                                 num_threads: int | None = DEFAULT_NUM_THREADS,
                                 unknown_word_similarity: float = DEFAULT_THRESHOLD) -> 'OnnxPolicy':
        """Checkpoint hook (``load_checkpoint(dir, backend='onnx')`` goes through seed_vla's hook to here)."""
        return cls(embodiment, contents, onnx_path=onnx_path, num_threads=num_threads,
                   unknown_word_similarity=unknown_word_similarity)

    @property
    def description(self) -> str:
        state = 'trained' if self.trained else 'UNTRAINED (saved without training)'
        return f"seed_vla {state}, {self.source}, for embodiment '{self.trained_for.name}'"

    def reset(self) -> None:
        self.processor.reset()

    def infer(self, obs: Observation) -> PolicyOutput:
        batch = self.processor(obs)
        actions, confidence = self.session.run(None, {k: batch[k].numpy() for k in self.input_names})
        actions = np.array(actions[0], dtype=np.float32)
        if self.action_rescaler is not None:
            actions = self.action_rescaler.to_embodiment(actions)
        return PolicyOutput(actions=actions, confidence=float(confidence[0]), step_dt=self.config.step_dt)

    def __repr__(self) -> str:
        return f'<OnnxPolicy {self.description}>'


_BASE_INPUTS = (OBS_IMAGE, OBS_STATE, OBS_ELAPSED, OBS_ODOMETRY, OBS_RANGES, OBS_LANGUAGE_EMBEDDING)
