"""The demonstration dataset: LeRobotDataset v3.0 layout (parquet + meta/), written and read here.

    from vla_learning.dataset import DatasetWriter, Episode, LeRobotDataset
    python -m vla_learning.dataset upgrade OLD_DIR NEW_DIR      # a format-1 dataset in today's format

The layout, keys and versions: :mod:`vla_learning.dataset_format`; writing:
:mod:`vla_learning.dataset_writer`; reading: :mod:`vla_learning.dataset_reader`; statistics:
:mod:`vla_learning.dataset_stats`. This module is their public face (import from here) and the
``upgrade`` command.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from vla_learning.dataset_format import (ACTION_KEY, BASE_POSE_KEY, CODEBASE_VERSION, RANGES_KEY, EPISODE_INFO_COLUMNS, IMAGE_KEY,
                                         LEGACY_KEYS, OBJECTS_KEY, STATE_KEY, TARGET_KEY, TARGET_NAMES,
                                         VLA_FORMAT_VERSION, DatasetError, Episode, decode_png, encode_png)
from vla_learning.dataset_reader import CombinedDataset, LeRobotDataset
from vla_learning.dataset_writer import DatasetWriter

__all__ = ['ACTION_KEY', 'BASE_POSE_KEY', 'RANGES_KEY', 'CODEBASE_VERSION', 'CombinedDataset', 'EPISODE_INFO_COLUMNS', 'IMAGE_KEY', 'LEGACY_KEYS', 'OBJECTS_KEY',
           'STATE_KEY', 'TARGET_KEY', 'TARGET_NAMES', 'VLA_FORMAT_VERSION', 'DatasetError', 'DatasetWriter',
           'Episode', 'LeRobotDataset', 'decode_png', 'encode_png', 'main', 'upgrade']


def upgrade(src: str | Path, dst: str | Path) -> Path:
    """Rewrite a dataset (format 1, or any this reader reads) into ``dst`` in today's format.

    Same frames, instructions, per-episode columns and splits; new statistics, tasks and annotation names.
    """
    old = LeRobotDataset(src)
    if (Path(dst) / 'meta' / 'info.json').exists():
        raise DatasetError(f'{dst} already holds a dataset; upgrade into a new directory')
    f = old.frames
    extra = {k: old.info[k] for k in ('robot_type', 'splits') if k in old.info}
    w = DatasetWriter(dst, fps=old.fps, image_shape=old.image_shape, state_names=old.state_names,
                      action_names=old.action_names, robot_type=extra.get('robot_type') or 'vla_humanoid',
                      target_annotations=TARGET_KEY in f, object_names=old.object_names, base_pose=BASE_POSE_KEY in f,
                      range_sectors=f[RANGES_KEY].shape[1] if RANGES_KEY in f else 0)
    for row in old.episodes_rows():
        sl = old.episode_frames(int(row['episode_index']))
        n = sl.stop - sl.start
        w.add_episode(Episode(
            old.images(range(sl.start, sl.stop)), f[STATE_KEY][sl], f[ACTION_KEY][sl], f['timestamp'][sl],
            old.tasks[int(f['task_index'][sl.start])], {k: row.get(k) for k in EPISODE_INFO_COLUMNS},
            target_in_image=f[TARGET_KEY][sl] if TARGET_KEY in f else None,
            objects_in_image=f[OBJECTS_KEY][sl].reshape(n, -1, 3) if OBJECTS_KEY in f else None,
            base_pose=f[BASE_POSE_KEY][sl] if BASE_POSE_KEY in f else None,
            range_sectors=f[RANGES_KEY][sl] if RANGES_KEY in f else None))
    return w.close(val_fraction=0.0, extra_info={'splits': extra.get('splits') or {'train': f'0:{old.num_episodes}'}})


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog='python -m vla_learning.dataset', description='Dataset tools.')
    sub = ap.add_subparsers(dest='cmd', required=True)
    up = sub.add_parser('upgrade', help='rewrite a dataset of an older format into a new directory')
    up.add_argument('src')
    up.add_argument('dst')
    args = ap.parse_args(argv)
    print(upgrade(args.src, args.dst))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
