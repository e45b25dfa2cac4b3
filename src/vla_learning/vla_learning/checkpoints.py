"""Checkpoints of a training run: ``vla_policy`` checkpoint directories + the trainer's state, the
metadata the training command writes into them, and the export of the best one.

The metadata (``config.json``'s ``metadata`` field) is written by code, never by hand: what a user
needs to know where a checkpoint came from (:func:`run_metadata`) plus the step and validation
loss it was saved at.
"""
from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path
from typing import Any

import torch

from vla_learning.config import RunConfig
from vla_core.grounding import COLOUR_LEXICON, HANDLING_VERBS, OBJECT_LEXICON
from vla_learning.instructions import COLOUR_WORDS, OOS_TRAIN, SHAPE_WORDS
from vla_policy.checkpoint import CONFIG_FILE, EMBODIMENT_FILE, STATS_FILE, WEIGHTS_FILE, save_checkpoint
from vla_policy.models.unknown_words import FUNCTION_WORDS, VOCABULARY_FILE, CheckpointVocabulary

TRAINER_STATE_FILE = 'trainer_state.pt'


def git_revision(where: Path | None = None) -> dict[str, Any]:
    """{'git_commit': the commit of the source tree ``where`` (this package's by default), 'git_dirty':
    uncommitted changes?}; both None when it is not a git checkout (an installed copy)."""
    where = where or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=where, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=where,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {'git_commit': None, 'git_dirty': None}
    return {'git_commit': commit, 'git_dirty': bool(dirty)}


def run_metadata(run: RunConfig, dataset_episodes: int, dataset_frames: int, world_size: int,
                 started: datetime.datetime, revision: dict[str, Any]) -> dict[str, Any]:
    """Where a run's checkpoints come from: the effective config (every default filled in), the
    dataset (path and size), when the run started (UTC), the code's git commit, the processes."""
    return {'written_by': 'vla_learning.train', 'started_utc': started.isoformat(timespec='seconds'),
            **revision, 'dataset': run.dataset, 'dataset_episodes': int(dataset_episodes),
            'dataset_frames': int(dataset_frames), 'world_size': int(world_size),
            'training_config': run.to_dict()}


def save_training_checkpoint(path: Path, model, embodiment, stats, metadata: dict[str, Any],
                             trainer_state: dict, instructions: list[str] | None = None) -> None:
    """A loadable ``vla_policy`` checkpoint at ``path`` plus ``trainer_state.pt`` (for --resume), and
    with ``instructions`` (hashed words: the dataset's), the words it was trained on (``vocabulary.json``)."""
    save_checkpoint(model, path, embodiment, stats=stats, metadata=metadata, trained=True, overwrite=True)
    torch.save(trainer_state, path / TRAINER_STATE_FILE)
    if instructions is not None:
        write_vocabulary(path, instructions, model.config)


def write_vocabulary(path: Path, instructions, model_config) -> dict:
    """``vocabulary.json`` of a checkpoint trained on ``instructions`` (the dataset's tasks): their
    words, the colour and object words of the attribute and negative samples, and the words of the
    out-of-scope requests it learned to refuse (vla_policy.models.unknown_words reads other words
    as a trained word or as the verb of a refused request, never as a colour, an object or a
    direction)."""
    from vla_policy.models.tokenizer import HashWordTokenizer
    split = HashWordTokenizer(model_config.language.vocab_size, 10_000, 1).words
    attributes = {w for table in (COLOUR_WORDS, SHAPE_WORDS) for ws in table.values() for w in ws}
    words = {w for text in instructions for w in split(text)} | attributes | {'the', 'that', 'a'}
    refused = {w for text in OOS_TRAIN for w in split(text)}
    # the verb of each refused request: its first word, unless that is a function word ("what time is it")
    verbs = {ws[0] for ws in map(split, OOS_TRAIN) if ws and ws[0] not in FUNCTION_WORDS}
    lexicons = COLOUR_LEXICON | OBJECT_LEXICON
    return CheckpointVocabulary.write(path / VOCABULARY_FILE, words, refused, verbs, attributes | lexicons,
                                      keep=lexicons | HANDLING_VERBS)


def load_trainer_state(path: Path) -> dict | None:
    """The trainer state saved with the checkpoint at ``path`` (None if there is none)."""
    f = path / TRAINER_STATE_FILE
    return torch.load(f, map_location='cpu', weights_only=False) if f.exists() else None


def export_checkpoint(src: Path, dest: Path) -> None:
    """Copy a checkpoint directory without the trainer state (what the nodes load)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in (WEIGHTS_FILE, EMBODIMENT_FILE, STATS_FILE, VOCABULARY_FILE, CONFIG_FILE):   # config.json last
        if (src / name).exists():
            shutil.copy2(src / name, dest / name)
