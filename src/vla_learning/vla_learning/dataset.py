"""The demonstration dataset: LeRobotDataset v3.0 layout (parquet + meta/), written and read here.

Plain Python + NumPy + pyarrow (+ Pillow for PNG); no ROS, no PyTorch. One directory::

    <root>/meta/info.json                    format, fps, features (dtype, shape, names), totals,
                                             splits ("train": "0:N", "val": "N:M" episode ranges)
    <root>/meta/stats.json                   per feature: min / max / mean / std / count and the
                                             quantiles q01 q10 q50 q90 q99 (see dataset_stats)
    <root>/meta/tasks.parquet                LeRobot's layout: indexed by the task (instruction) text
                                             (a pandas index), one column task_index
    <root>/meta/episodes/chunk-000/file-000.parquet
                                             one row per episode: episode_index, tasks, length,
                                             dataset_from_index / dataset_to_index, data/chunk_index,
                                             data/file_index, meta/episodes/chunk_index,
                                             meta/episodes/file_index, stats/<feature>/<stat> (the
                                             episode's statistics), + ours: task_name, target, seed,
                                             success, source, split_group
    <root>/data/chunk-000/file-000.parquet   one row per frame (10 Hz control steps)

Frame columns (LeRobot names):

    observation.images.head_camera  image  {bytes: PNG, path: null}, H x W x 3 RGB
    observation.state               float32[J]  measured joint positions (rad), names in info.json
    action                          float32[D]  the command sent, in PHYSICAL units (m/s, rad/s, rad),
                                                one column per embodiment dimension, names in info.json
    timestamp                       float32     seconds since the episode start
    frame_index, episode_index, index, task_index   int64
    annotation.target_in_view       float32[3]  optional (simulated demonstrations): in_view (0/1), x, y of
                                                the named object's centre in the image ([-1, 1], x right,
                                                y down); NaN when the instruction names no object. A
                                                training-only label (grounding loss), never a policy input.
    annotation.objects_in_view      float32[3K] optional, with the above: (in_view, x, y) of each of the K
                                                objects of the simulator's catalogue (names in info.json:
                                                "<object>.in_view", ...), the same projection as the
                                                target's; NaN for objects absent from the scene. Labels
                                                for the per-attribute grounding loss ("red" lights up every
                                                red thing in view), also training-only.

    (No feature name contains "image" unless it is a camera: LeRobot takes such names for cameras.)

Versioning: ``info.json`` has ``codebase_version`` ("v3.0", LeRobot's layout version) and
``vla_format_version`` (this package's additions, now 2). A reader refuses a newer
``vla_format_version``. Format 1 named the annotations ``annotation.target_in_image`` /
``annotation.objects_in_image`` and kept tasks as two plain columns; the reader still reads it, the
writer does not append to it (:func:`upgrade` rewrites it as format 2).

LeRobot interop (checked with lerobot 0.4.4 by ``scripts/lerobot_interop.sh``): LeRobot's
``LeRobotDataset(repo_id, root=...)`` reads this directory with the instruction as ``task``; its
split / delete / merge / append work on it; this reader reads datasets LeRobot wrote (one camera,
stored as images). Images are stored in parquet (LeRobot's ``image`` dtype) rather than as MP4
videos, because frames are tiny (64 x 64) and decoding PNG needs no video stack.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from vla_learning.dataset_stats import (aggregate_stats, flatten_episode_stats, image_stats, unflatten_episode_stats,
                                        vector_stats)

CODEBASE_VERSION = 'v3.0'
VLA_FORMAT_VERSION = 2
IMAGE_KEY = 'observation.images.head_camera'
STATE_KEY = 'observation.state'
ACTION_KEY = 'action'
TARGET_KEY = 'annotation.target_in_view'
TARGET_NAMES = ['in_view', 'x', 'y']
OBJECTS_KEY = 'annotation.objects_in_view'
#: format 1's names of the annotation columns (the reader renames them)
LEGACY_KEYS = {'annotation.target_in_image': TARGET_KEY, 'annotation.objects_in_image': OBJECTS_KEY}
DATA_PATH = 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
EPISODES_PATH = 'meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
TASKS_PATH = 'meta/tasks.parquet'
#: LeRobot's default features, present in every dataset
INDEX_FEATURES = {name: {'dtype': dtype, 'shape': [1], 'names': None} for name, dtype in (
    ('timestamp', 'float32'), ('frame_index', 'int64'), ('episode_index', 'int64'), ('index', 'int64'),
    ('task_index', 'int64'))}
#: frames per data file before a new file is started
FRAMES_PER_FILE = 20000


class DatasetError(ValueError):
    """The dataset is malformed or of an unsupported version; the message says how to fix it."""


def encode_png(image: np.ndarray) -> bytes:
    """(H, W, 3) uint8 RGB -> PNG bytes (fast, lossless: zlib level 1)."""
    import cv2
    bgr = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_RGB2BGR)
    ok, png = cv2.imencode('.png', bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise DatasetError(f'cannot encode an image of shape {image.shape} as PNG')
    return png.tobytes()


def decode_png(data: bytes) -> np.ndarray:
    """PNG (or JPEG) bytes -> (H, W, 3) uint8 RGB; a damaged image is an ImageDecodeError (a ValueError)."""
    from vla_common.image_conversion import decode_compressed
    return decode_compressed('png', data)


#: the pandas metadata of a frame indexed by task text with one column task_index: what LeRobot's
#: ``pd.DataFrame({'task_index': ...}, index=tasks).to_parquet()`` writes (pandas is not needed here)
_TASKS_PANDAS_META = {
    'index_columns': ['__index_level_0__'],
    'column_indexes': [{'name': None, 'field_name': None, 'pandas_type': 'unicode', 'numpy_type': 'object',
                        'metadata': {'encoding': 'UTF-8'}}],
    'columns': [{'name': 'task_index', 'field_name': 'task_index', 'pandas_type': 'int64', 'numpy_type': 'int64',
                 'metadata': None},
                {'name': None, 'field_name': '__index_level_0__', 'pandas_type': 'unicode', 'numpy_type': 'object',
                 'metadata': None}]}


def write_tasks(tasks: Sequence[str], path: str | Path) -> None:
    """meta/tasks.parquet in LeRobot's layout: indexed by the task text, column task_index = position."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = pa.table({'task_index': pa.array(range(len(tasks)), pa.int64()),
                      '__index_level_0__': pa.array(list(tasks), pa.string())})
    pq.write_table(table.replace_schema_metadata({b'pandas': json.dumps(_TASKS_PANDAS_META).encode()}), path)


def read_tasks(path: str | Path) -> list[str]:
    """The task texts by task_index, from LeRobot's layout (text in the pandas index, whatever its
    name) or format 1's (plain columns task_index, task)."""
    import pyarrow.parquet as pq
    table = pq.read_table(path)
    if 'task' in table.column_names:
        text_col = 'task'
    else:
        meta = json.loads((table.schema.metadata or {}).get(b'pandas', b'{}'))
        index = [c for c in meta.get('index_columns', []) if isinstance(c, str)]
        if 'task_index' not in table.column_names or len(index) != 1:
            raise DatasetError(f'{path}: expected a task_index column indexed by the task text (LeRobot v3.0), '
                               f'found columns {table.column_names}')
        text_col = index[0]
    d = table.to_pydict()
    pairs = sorted(zip(d['task_index'], d[text_col]))
    if [i for i, _ in pairs] != list(range(len(pairs))):
        raise DatasetError(f'{path}: task_index must be 0..{len(pairs) - 1}, got {[i for i, _ in pairs]}')
    return [str(t) for _, t in pairs]


@dataclass
class Episode:
    """One recorded episode, all arrays with one row per frame.

    images:        (N, H, W, 3) uint8
    state:         (N, J) float32 joint positions, in ``DatasetWriter.state_names`` order
    actions:       (N, D) float32 physical command, in ``DatasetWriter.action_names`` order
    timestamps:    (N,) seconds since the episode start
    instruction:   the language instruction (LeRobot's 'task' string)
    info:          extra per-episode columns (task_name, target, seed, success, source, split_group)
    target_in_image: optional (N, 3) float32 label, written as TARGET_KEY (NaN rows: no object named)
    objects_in_image: optional (N, K, 3) float32 labels, written as OBJECTS_KEY (objects in the writer's
                   ``object_names`` order; NaN rows: not in the scene)
    """

    images: np.ndarray
    state: np.ndarray
    actions: np.ndarray
    timestamps: np.ndarray
    instruction: str
    info: dict[str, Any] = field(default_factory=dict)
    target_in_image: np.ndarray | None = None
    objects_in_image: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.images)
        if n == 0:
            raise DatasetError('an episode needs at least one frame')
        if self.target_in_image is not None and np.shape(self.target_in_image) != (n, 3):
            raise DatasetError(f'target_in_image must be ({n}, 3), got {np.shape(self.target_in_image)}')
        if self.objects_in_image is not None and (np.ndim(self.objects_in_image) != 3
                                                  or np.shape(self.objects_in_image)[::2] != (n, 3)):
            raise DatasetError(f'objects_in_image must be ({n}, K, 3), got {np.shape(self.objects_in_image)}')
        for name in ('state', 'actions', 'timestamps'):
            if len(getattr(self, name)) != n:
                raise DatasetError(f'episode arrays differ in length: {n} images but {len(getattr(self, name))} {name}')
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
            raise DatasetError(f'images must be (N, H, W, 3) uint8, got {self.images.shape} {self.images.dtype}')


EPISODE_INFO_COLUMNS = {'task_name': 'string', 'target': 'string', 'seed': 'int64', 'success': 'bool',
                        'source': 'string', 'split_group': 'string'}


class DatasetWriter:
    """Writes episodes into a new dataset directory, or appends to an existing one (same features).

        w = DatasetWriter(root, fps=10, image_shape=(64, 64, 3), state_names=[...], action_names=[...])
        w.add_episode(Episode(...))
        w.close(val_fraction=0.1)          # writes meta/ (info, stats, tasks, episodes)

    ``target_annotations``: also write the TARGET_KEY column (NaN for episodes without it).
    ``object_names``: also write the OBJECTS_KEY column for these objects (NaN for episodes without it).
    """

    def __init__(self, root: str | Path, *, fps: float, image_shape: Sequence[int], state_names: Sequence[str],
                 action_names: Sequence[str], robot_type: str = 'vla_humanoid',
                 frames_per_file: int = FRAMES_PER_FILE, target_annotations: bool = False,
                 object_names: Sequence[str] = ()) -> None:
        import pyarrow  # noqa: F401  (fail early with a clear error if missing)
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
        if self.target_annotations:
            cols[TARGET_KEY] = np.asarray(ep.target_in_image if ep.target_in_image is not None
                                          else np.full((n, 3), np.nan), np.float32)
        if self.object_names:
            o = ep.objects_in_image if ep.objects_in_image is not None else np.full((n, len(self.object_names), 3),
                                                                                     np.nan)
            cols[OBJECTS_KEY] = np.asarray(o, np.float32).reshape(n, -1)
        return {IMAGE_KEY: image_stats(ep.images), **{k: vector_stats(v) for k, v in cols.items()}}

    def flush(self) -> None:
        """Write the buffered episodes to the next data file."""
        if not self._buffer:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq
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
            if self.target_annotations:
                t = ep.target_in_image if ep.target_in_image is not None else np.full((n, 3), np.nan)
                cols.setdefault(TARGET_KEY, []).extend(np.asarray(t, dtype=np.float32).tolist())
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
        import pyarrow as pa
        import pyarrow.parquet as pq
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


def _parse_range(spec: str, n: int) -> list[int]:
    a, b = (int(x) for x in spec.split(':'))
    return list(range(max(a, 0), min(b, n)))


class LeRobotDataset:
    """Reader of the layout above. ``load_data=False`` reads meta/ only.

    Attributes: info, fps, tasks (list of instruction strings by task_index), episodes (pyarrow
    table), state_names, action_names, image_key (the camera), image_shape; with data: ``frames``
    (dict of NumPy columns, images still PNG bytes) and :meth:`images` to decode them.

    Also reads datasets LeRobot wrote (one camera stored as images; video datasets are refused).
    """

    def __init__(self, root: str | Path, load_data: bool = True) -> None:
        self.root = Path(root)
        info_path = self.root / 'meta' / 'info.json'
        if not info_path.is_file():
            raise DatasetError(f"'{self.root}' is not a dataset: {info_path} is missing (collect one with "
                               'python -m vla_learning.collect --out DIR)')
        self.info = json.loads(info_path.read_text())
        if self.info.get('codebase_version') != CODEBASE_VERSION:
            raise DatasetError(f"{info_path}: codebase_version {self.info.get('codebase_version')!r}; this reader "
                               f'reads LeRobot {CODEBASE_VERSION} layouts')
        v = int(self.info.get('vla_format_version', 1))
        if v > VLA_FORMAT_VERSION:
            raise DatasetError(f'{info_path}: vla_format_version {v} is newer than this reader ({VLA_FORMAT_VERSION}); '
                               'upgrade vla_learning')
        feats = self.info['features']
        #: format-1 annotation columns found (renamed to today's keys in ``info`` and ``frames``)
        self.legacy_keys = [k for k in LEGACY_KEYS if k in feats]
        for k in self.legacy_keys:
            feats[LEGACY_KEYS[k]] = feats.pop(k)
        self.fps = self.info['fps']
        self.state_names = _names(feats, STATE_KEY)
        self.action_names = _names(feats, ACTION_KEY)
        self.image_key = _camera_key(feats, info_path)
        self.image_shape = tuple(feats[self.image_key]['shape'])
        self.tasks = read_tasks(self.root / TASKS_PATH)
        files = sorted((self.root / 'meta' / 'episodes').glob('chunk-*/file-*.parquet'))
        import pyarrow as pa
        import pyarrow.parquet as pq
        # 'permissive': rows LeRobot appended may type a statistic differently (int64 vs double)
        self.episodes = (pa.concat_tables([pq.read_table(f) for f in files], promote_options='permissive')
                         .sort_by('episode_index') if files else None)
        self.total_frames = int(self.info['total_frames'])
        self.frames: dict[str, np.ndarray] | None = None
        if load_data:
            self._load_frames()

    @property
    def object_names(self) -> list[str]:
        """The objects of the OBJECTS_KEY column, in order ([] without it)."""
        names = self.info['features'].get(OBJECTS_KEY, {}).get('names') or []
        return list(dict.fromkeys(n.rsplit('.', 1)[0] for n in names))

    def episodes_rows(self) -> list[dict[str, Any]]:
        return self.episodes.to_pylist() if self.episodes is not None else []

    @property
    def num_episodes(self) -> int:
        return 0 if self.episodes is None else self.episodes.num_rows

    def split(self, name: str) -> list[int]:
        """Episode indices of split ``name`` ('train', 'val')."""
        spec = self.info.get('splits', {}).get(name)
        if spec is None:
            raise DatasetError(f"dataset {self.root} has no split '{name}' (has {list(self.info.get('splits', {}))})")
        return _parse_range(spec, self.num_episodes)

    def _load_frames(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq
        files = sorted((self.root / 'data').glob('chunk-*/file-*.parquet'))
        if not files:
            raise DatasetError(f'{self.root}/data holds no parquet files')
        tables = []
        for f in files:
            t = pq.read_table(f)
            for old, new in LEGACY_KEYS.items():
                if old in t.column_names:
                    t = t.rename_columns([new if c == old else c for c in t.column_names])
            tables.append(_variable_lists(t.replace_schema_metadata(None)))
        t = pa.concat_tables(tables, promote_options='default').sort_by('index')
        if t.num_rows != self.total_frames:
            raise DatasetError(f'{self.root}: info.json says {self.total_frames} frames, data holds {t.num_rows}')
        out = {}
        for k in INDEX_FEATURES:
            out[k] = t.column(k).to_numpy()
        for k in (STATE_KEY, ACTION_KEY) + tuple(k for k in (TARGET_KEY, OBJECTS_KEY) if k in self.info['features']):
            col = t.column(k).combine_chunks()
            out[k] = col.flatten().to_numpy().reshape(t.num_rows, -1).astype(np.float32)
        out[self.image_key] = t.column(self.image_key).combine_chunks().field('bytes').to_pylist()
        self.frames = out

    def images(self, rows: Iterable[int] | None = None) -> np.ndarray:
        """Decode images (all frames, or ``rows``) -> (N, H, W, 3) uint8."""
        data = self.frames[self.image_key]
        rows = range(len(data)) if rows is None else rows
        return np.stack([decode_png(data[i]) for i in rows])

    def episode_frames(self, episode_index: int) -> slice:
        row = self.episodes.slice(episode_index, 1).to_pylist()[0]
        return slice(row['dataset_from_index'], row['dataset_to_index'])

    def episode_stats(self, episode_index: int) -> dict[str, dict]:
        """One episode's statistics, computed from its frames (as the writer computes them)."""
        sl = self.episode_frames(episode_index)
        st = {self.image_key: image_stats(self.images(range(sl.start, sl.stop)))}
        for k, v in self.frames.items():
            if k != self.image_key:
                st[k] = vector_stats(np.asarray(v[sl]))
        return st

    def stats(self) -> dict[str, Any]:
        """meta/stats.json; without it, aggregated from the episodes' statistics (computed if absent)."""
        p = self.root / 'meta' / 'stats.json'
        if p.is_file():
            st = json.loads(p.read_text())
            for old, new in LEGACY_KEYS.items():
                if old in st:
                    st[new] = st.pop(old)
            return st
        if self.frames is None:
            self._load_frames()
        return aggregate_stats([self.episode_stats(i) for i in range(self.num_episodes)])


def _variable_lists(t):
    """Fixed-size list columns (what LeRobot writes) as plain lists (what we write), so files concatenate."""
    import pyarrow as pa
    schema = pa.schema([pa.field(f.name, pa.list_(f.type.value_type)) if pa.types.is_fixed_size_list(f.type) else f
                        for f in t.schema])
    return t.cast(schema)


def _names(feats: Mapping[str, Any], key: str) -> list[str]:
    """A vector feature's dimension names: a list, LeRobot's ``{"motors": [...]}``, or none (``key_i``)."""
    if key not in feats:
        raise DatasetError(f'the dataset has no {key!r} feature (has {sorted(feats)})')
    names = feats[key].get('names')
    if isinstance(names, Mapping):
        names = [n for v in names.values() for n in v]
    return list(names) if names else [f'{key}_{i}' for i in range(int(np.prod(feats[key]['shape'])))]


def _camera_key(feats: Mapping[str, Any], info_path: Path) -> str:
    """The one camera: IMAGE_KEY, or a dataset's only ``image`` feature."""
    if IMAGE_KEY in feats and feats[IMAGE_KEY].get('dtype') == 'image':
        return IMAGE_KEY
    cams = [k for k, f in feats.items() if f.get('dtype') in ('image', 'video')]
    images = [k for k in cams if feats[k]['dtype'] == 'image']
    if len(cams) == 1 and images:
        return images[0]
    raise DatasetError(f'{info_path}: this reader needs one camera stored as images (dtype "image"), found '
                       f'{ {k: feats[k]["dtype"] for k in cams} }; re-record with one camera, or convert videos '
                       'to images with LeRobot first')


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
                      target_annotations=TARGET_KEY in f, object_names=old.object_names)
    for row in old.episodes_rows():
        sl = old.episode_frames(int(row['episode_index']))
        n = sl.stop - sl.start
        w.add_episode(Episode(
            old.images(range(sl.start, sl.stop)), f[STATE_KEY][sl], f[ACTION_KEY][sl], f['timestamp'][sl],
            old.tasks[int(f['task_index'][sl.start])], {k: row.get(k) for k in EPISODE_INFO_COLUMNS},
            target_in_image=f[TARGET_KEY][sl] if TARGET_KEY in f else None,
            objects_in_image=f[OBJECTS_KEY][sl].reshape(n, -1, 3) if OBJECTS_KEY in f else None))
    return w.close(val_fraction=0.0, extra_info={'splits': extra.get('splits') or {'train': f'0:{old.num_episodes}'}})


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
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
