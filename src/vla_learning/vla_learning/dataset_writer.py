"""Writer of the demonstration dataset (:mod:`vla_learning.dataset_format`'s layout): a new
directory, or episodes appended to an existing one with the same features."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vla_learning.dataset_format import (ACTION_KEY, BASE_POSE_KEY, BASE_POSE_NAMES, CODEBASE_VERSION, DATA_PATH, EPISODE_INFO_COLUMNS,
                                         EPISODES_PATH, FRAMES_PER_FILE, IMAGE_KEY, INDEX_FEATURES, OBJECTS_KEY, RANGES_KEY,
                                         STATE_KEY, TARGET_KEY, TARGET_NAMES, TASKS_PATH, VLA_FORMAT_VERSION,
                                         DatasetError, Episode, encode_png, write_tasks)
from vla_learning.dataset_reader import LeRobotDataset
from vla_learning.dataset_stats import (aggregate_stats, flatten_episode_stats, image_stats, unflatten_episode_stats,
                                        vector_stats)


class DatasetWriter:
    """Writes episodes into a new dataset directory, or appends to an existing one (same features).

        w = DatasetWriter(root, fps=10, image_shape=(64, 64, 3), state_names=[...], action_names=[...])
        w.add_episode(Episode(...))
        w.close(val_fraction=0.1)          # writes meta/ (info, stats, tasks, episodes)

    ``target_annotations``: also write the TARGET_KEY column (NaN for episodes without it).
    ``object_names``: also write the OBJECTS_KEY column for these objects (NaN for episodes without it).
    ``base_pose``: also write the BASE_POSE_KEY column (odometry; NaN for episodes without it).
    ``range_sectors``: also write the RANGES_KEY column of this many sectors (NaN for episodes without it).
    """

    def __init__(self, root: str | Path, *, fps: float, image_shape: Sequence[int], state_names: Sequence[str],
                 action_names: Sequence[str], robot_type: str = 'vla_humanoid',
                 frames_per_file: int = FRAMES_PER_FILE, target_annotations: bool = False,
                 object_names: Sequence[str] = (), base_pose: bool = False, range_sectors: int = 0) -> None:
        self.root = Path(root)
        if not float(fps).is_integer() or fps <= 0:
            raise DatasetError(f'fps must be a positive whole number of frames per second (LeRobot stores an '
                               f'int), got {fps}')
        self.fps = int(fps)
        self.image_shape = tuple(int(x) for x in image_shape)
        self.state_names = list(state_names)
        self.action_names = list(action_names)
        self.robot_type = robot_type
        self.frames_per_file = int(frames_per_file)
        self.target_annotations = bool(target_annotations)
        self.object_names = list(object_names)
        self.base_pose = bool(base_pose)
        self.range_sectors = int(range_sectors)
        self._episodes: list[dict[str, Any]] = []
        self._tasks: dict[str, int] = {}
        self._buffer: list[dict[str, Any]] = []
        self._buffer_frames = 0
        self._file_index = 0
        self._total_frames = 0
        self._file_frames = 0
        if (self.root / 'meta' / 'info.json').exists():
            self._open_existing()
        else:
            (self.root / 'meta').mkdir(parents=True, exist_ok=True)

    def _open_existing(self) -> None:
        ds = LeRobotDataset(self.root, load_data=False)
        if ds.legacy_keys:
            raise DatasetError(f'{self.root} is in format 1 (columns {ds.legacy_keys}); appending would mix two '
                               'layouts. Rewrite it first: python -m vla_learning.dataset upgrade '
                               f'{self.root} NEW_DIR')
        if list(ds.state_names) != self.state_names or list(ds.action_names) != self.action_names:
            raise DatasetError(f'{self.root} holds other features (state {ds.state_names}, action '
                               f'{ds.action_names}); write to a new directory')
        if tuple(ds.image_shape) != self.image_shape:
            raise DatasetError(f'{self.root} holds {ds.image_shape} images, not {self.image_shape}')
        self.target_annotations = TARGET_KEY in ds.info['features']
        self.object_names = list(ds.object_names)
        self.base_pose = BASE_POSE_KEY in ds.info['features']
        self.range_sectors = int(ds.info['features'].get(RANGES_KEY, {}).get('shape', [0])[0])
        self._episodes = ds.episodes_rows()
        if any(not any(k.startswith('stats/') for k in r) for r in self._episodes):
            full = LeRobotDataset(self.root)             # written without per-episode statistics
            for r in self._episodes:
                if not any(k.startswith('stats/') for k in r):
                    r.update(flatten_episode_stats(full.episode_stats(int(r['episode_index']))))
        self._tasks = {t: i for i, t in enumerate(ds.tasks)}
        self._total_frames = ds.total_frames
        used = [int(p.stem.split('-')[1]) for p in (self.root / 'data').glob('chunk-000/file-*.parquet')]
        self._file_index = max(used, default=-1) + 1   # appended episodes go to new files

    @property
    def num_episodes(self) -> int:
        return len(self._episodes)

    def add_episode(self, ep: Episode) -> int:
        """Buffer one episode (written when the buffer holds ``frames_per_file`` frames); its index."""
        if tuple(ep.images.shape[1:]) != self.image_shape:
            raise DatasetError(f'episode images are {ep.images.shape[1:]}, the dataset holds {self.image_shape}')
        if ep.state.shape[1] != len(self.state_names) or ep.actions.shape[1] != len(self.action_names):
            raise DatasetError(f'episode state/action widths {ep.state.shape[1]}/{ep.actions.shape[1]} differ '
                               f'from the dataset features {len(self.state_names)}/{len(self.action_names)}')
        idx = len(self._episodes)
        task_index = self._tasks.setdefault(ep.instruction, len(self._tasks))
        n = len(ep.images)
        start = self._total_frames
        row = {'episode_index': idx, 'tasks': [ep.instruction], 'length': n,
               'data/chunk_index': 0, 'data/file_index': self._file_index,
               'dataset_from_index': start, 'dataset_to_index': start + n}
        for k, typ in EPISODE_INFO_COLUMNS.items():
            v = ep.info.get(k)
            row[k] = (None if v is None else bool(v) if typ == 'bool' else int(v) if typ == 'int64' else str(v))
        row.update(flatten_episode_stats(self._episode_stats(ep, idx, task_index, start)))
        self._episodes.append(row)
        self._buffer.append({'ep': ep, 'index': idx, 'task_index': task_index, 'start': start})
        self._total_frames += n
        self._buffer_frames += n
        if self._buffer_frames >= self.frames_per_file:
            self.flush()
        return idx

    def _episode_stats(self, ep: Episode, idx: int, task_index: int, start: int) -> dict[str, dict]:
        """The episode's statistics, of the columns exactly as :meth:`flush` writes them."""
        n = len(ep.images)
        cols = {STATE_KEY: np.asarray(ep.state, np.float32), ACTION_KEY: np.asarray(ep.actions, np.float32),
                'timestamp': np.asarray(ep.timestamps, np.float32), 'frame_index': np.arange(n),
                'episode_index': np.full(n, idx), 'index': np.arange(start, start + n),
                'task_index': np.full(n, task_index)}
        if self.base_pose:
            cols[BASE_POSE_KEY] = _rows3(ep.base_pose, n)
        if self.range_sectors:
            cols[RANGES_KEY] = self._ranges(ep, n)
        if self.target_annotations:
            cols[TARGET_KEY] = _rows3(ep.target_in_image, n)
        if self.object_names:
            o = ep.objects_in_image if ep.objects_in_image is not None else np.full((n, len(self.object_names), 3),
                                                                                     np.nan)
            cols[OBJECTS_KEY] = np.asarray(o, np.float32).reshape(n, -1)
        return {IMAGE_KEY: image_stats(ep.images), **{k: vector_stats(v) for k, v in cols.items()}}

    def flush(self) -> None:
        """Write the buffered episodes to the next data file."""
        if not self._buffer:
            return
        cols: dict[str, list] = {IMAGE_KEY: [], STATE_KEY: [], ACTION_KEY: [], 'timestamp': [], 'frame_index': [],
                                 'episode_index': [], 'index': [], 'task_index': []}
        for b in self._buffer:
            ep: Episode = b['ep']
            n = len(ep.images)
            cols[IMAGE_KEY] += [{'bytes': encode_png(im), 'path': None} for im in ep.images]
            cols[STATE_KEY] += list(np.asarray(ep.state, dtype=np.float32))
            cols[ACTION_KEY] += list(np.asarray(ep.actions, dtype=np.float32))
            cols['timestamp'] += list(np.asarray(ep.timestamps, dtype=np.float32))
            cols['frame_index'] += list(range(n))
            cols['episode_index'] += [b['index']] * n
            cols['index'] += list(range(b['start'], b['start'] + n))
            cols['task_index'] += [b['task_index']] * n
            if self.base_pose:
                cols.setdefault(BASE_POSE_KEY, []).extend(_rows3(ep.base_pose, n).tolist())
            if self.range_sectors:
                cols.setdefault(RANGES_KEY, []).extend(self._ranges(ep, n).tolist())
            if self.target_annotations:
                cols.setdefault(TARGET_KEY, []).extend(_rows3(ep.target_in_image, n).tolist())
            if self.object_names:
                k = len(self.object_names)
                o = ep.objects_in_image if ep.objects_in_image is not None else np.full((n, k, 3), np.nan)
                if np.shape(o)[1] != k:
                    raise DatasetError(f'episode labels {np.shape(o)[1]} objects, the dataset {k}')
                cols.setdefault(OBJECTS_KEY, []).extend(np.asarray(o, dtype=np.float32).reshape(n, -1).tolist())
        table = pa.table({
            IMAGE_KEY: pa.array(cols[IMAGE_KEY], type=pa.struct([('bytes', pa.binary()), ('path', pa.string())])),
            STATE_KEY: pa.array([v.tolist() for v in cols[STATE_KEY]], type=pa.list_(pa.float32())),
            ACTION_KEY: pa.array([v.tolist() for v in cols[ACTION_KEY]], type=pa.list_(pa.float32())),
            'timestamp': pa.array(cols['timestamp'], type=pa.float32()),
            'frame_index': pa.array(cols['frame_index'], type=pa.int64()),
            'episode_index': pa.array(cols['episode_index'], type=pa.int64()),
            'index': pa.array(cols['index'], type=pa.int64()),
            'task_index': pa.array(cols['task_index'], type=pa.int64()),
        })
        if self.base_pose:
            table = table.append_column(BASE_POSE_KEY, pa.array(cols[BASE_POSE_KEY], type=pa.list_(pa.float32())))
        if self.range_sectors:
            table = table.append_column(RANGES_KEY, pa.array(cols[RANGES_KEY], type=pa.list_(pa.float32())))
        if self.target_annotations:
            table = table.append_column(TARGET_KEY, pa.array(cols[TARGET_KEY], type=pa.list_(pa.float32())))
        if self.object_names:
            table = table.append_column(OBJECTS_KEY, pa.array(cols[OBJECTS_KEY], type=pa.list_(pa.float32())))
        path = self.root / DATA_PATH.format(chunk_index=0, file_index=self._file_index)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        self._buffer.clear()
        self._buffer_frames = 0
        self._file_index += 1

    def _ranges(self, ep: Episode, n: int) -> np.ndarray:
        """The episode's (n, range_sectors) ranges (NaN rows without them)."""
        if ep.range_sectors is None:
            return np.full((n, self.range_sectors), np.nan, dtype=np.float32)
        if np.shape(ep.range_sectors)[1] != self.range_sectors:
            raise DatasetError(f'episode ranges have {np.shape(ep.range_sectors)[1]} sectors, the dataset '
                               f'{self.range_sectors}')
        return np.asarray(ep.range_sectors, dtype=np.float32)

    def close(self, val_fraction: float = 0.1, extra_info: Mapping[str, Any] | None = None) -> Path:
        """Flush and write meta/: info.json (with splits), stats.json, tasks.parquet, episodes."""
        self.flush()
        meta = self.root / 'meta'
        n_ep = len(self._episodes)
        n_val = int(round(val_fraction * n_ep)) if n_ep > 1 else 0
        n_val = min(max(n_val, 1 if val_fraction > 0 and n_ep > 1 else 0), n_ep - 1) if n_ep > 1 else 0
        splits = {'train': f'0:{n_ep - n_val}'}
        if n_val:
            splits['val'] = f'{n_ep - n_val}:{n_ep}'
        write_tasks(list(self._tasks), self.root / TASKS_PATH)
        self._write_episodes()
        h, w, c = self.image_shape
        info = {
            'codebase_version': CODEBASE_VERSION,
            'vla_format_version': VLA_FORMAT_VERSION,
            'robot_type': self.robot_type,
            'total_episodes': n_ep,
            'total_frames': self._total_frames,
            'total_tasks': len(self._tasks),
            'chunks_size': 1000,
            'data_files_size_in_mb': 100,
            'video_files_size_in_mb': 500,
            'fps': self.fps,
            'splits': splits,
            'data_path': DATA_PATH,
            'video_path': None,
            'features': {
                IMAGE_KEY: {'dtype': 'image', 'shape': [h, w, c], 'names': ['height', 'width', 'channels']},
                STATE_KEY: {'dtype': 'float32', 'shape': [len(self.state_names)], 'names': self.state_names},
                ACTION_KEY: {'dtype': 'float32', 'shape': [len(self.action_names)], 'names': self.action_names},
                **{k: dict(v) for k, v in INDEX_FEATURES.items()},
            },
        }
        if self.base_pose:
            info['features'][BASE_POSE_KEY] = {'dtype': 'float32', 'shape': [3], 'names': BASE_POSE_NAMES}
        if self.range_sectors:
            info['features'][RANGES_KEY] = {'dtype': 'float32', 'shape': [self.range_sectors],
                                           'names': [f'sector_{k}' for k in range(self.range_sectors)]}
        if self.target_annotations:
            info['features'][TARGET_KEY] = {'dtype': 'float32', 'shape': [3], 'names': TARGET_NAMES}
        if self.object_names:
            info['features'][OBJECTS_KEY] = {'dtype': 'float32', 'shape': [3 * len(self.object_names)],
                                             'names': [f'{o}.{c}' for o in self.object_names for c in TARGET_NAMES]}
        info.update(dict(extra_info or {}))
        (meta / 'info.json').write_text(json.dumps(info, indent=2))
        stats = aggregate_stats([unflatten_episode_stats(r) for r in self._episodes])
        (meta / 'stats.json').write_text(json.dumps({k: v for k, v in stats.items() if k in info['features']},
                                                    indent=2))
        return self.root

    def _write_episodes(self) -> None:
        """meta/episodes: all rows in one file (rows of datasets LeRobot appended to keep their columns)."""
        types = {'episode_index': pa.int64(), 'tasks': pa.list_(pa.string()), 'length': pa.int64(),
                 'data/chunk_index': pa.int64(), 'data/file_index': pa.int64(),
                 'dataset_from_index': pa.int64(), 'dataset_to_index': pa.int64()}
        types.update({k: getattr(pa, t if t != 'bool' else 'bool_')() for k, t in EPISODE_INFO_COLUMNS.items()})
        types.update({'meta/episodes/chunk_index': pa.int64(), 'meta/episodes/file_index': pa.int64()})
        rows = [{**r, 'meta/episodes/chunk_index': 0, 'meta/episodes/file_index': 0} for r in self._episodes]
        names = list(dict.fromkeys([*types, *(k for r in rows for k in r)]))
        table = pa.table({k: pa.array([r.get(k) for r in rows], type=types.get(k)) for k in names})
        ep_dir = self.root / 'meta' / 'episodes'
        for old in ep_dir.glob('chunk-*/file-*.parquet'):
            old.unlink()
        path = self.root / EPISODES_PATH.format(chunk_index=0, file_index=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)



def _rows3(x: np.ndarray | None, n: int) -> np.ndarray:
    """An optional (n, 3) column of an episode as float32 (NaN rows when the episode has none)."""
    return np.asarray(x if x is not None else np.full((n, 3), np.nan), dtype=np.float32)
