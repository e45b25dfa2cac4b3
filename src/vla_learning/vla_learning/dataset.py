"""The demonstration dataset: LeRobotDataset v3.0 layout (parquet + meta/), written and read here.

Plain Python + NumPy + pyarrow (+ Pillow for PNG); no ROS, no PyTorch. One directory::

    <root>/meta/info.json                    format, fps, features (dtype, shape, names), totals,
                                             splits ("train": "0:N", "val": "N:M" episode ranges)
    <root>/meta/stats.json                   per-feature min / max / mean / std / count (LeRobot layout)
    <root>/meta/tasks.parquet                task_index -> task (the instruction text)
    <root>/meta/episodes/chunk-000/file-000.parquet
                                             one row per episode: episode_index, tasks, length,
                                             dataset_from_index / dataset_to_index, data/chunk_index,
                                             data/file_index, + ours: task_name, target, seed, success,
                                             source, split_group
    <root>/data/chunk-000/file-000.parquet   one row per frame (10 Hz control steps)

Frame columns (LeRobot names):

    observation.images.head_camera  image  {bytes: PNG, path: null}, H x W x 3 RGB
    observation.state               float32[J]  measured joint positions (rad), names in info.json
    action                          float32[D]  the command sent, in PHYSICAL units (m/s, rad/s, rad),
                                                one column per embodiment dimension, names in info.json
    timestamp                       float32     seconds since the episode start
    frame_index, episode_index, index, task_index   int64
    annotation.target_in_image      float32[3]  optional (simulated demonstrations): in_view (0/1), x, y of
                                                the named object's centre in the image ([-1, 1], x right,
                                                y down); NaN when the instruction names no object. A
                                                training-only label (grounding loss), never a policy input.
    annotation.objects_in_image     float32[3K] optional, with the above: (in_view, x, y) of each of the K
                                                objects of the simulator's catalogue (names in info.json:
                                                "<object>.in_view", ...), the same projection as the
                                                target's; NaN for objects absent from the scene. Labels
                                                for the per-attribute grounding loss ("red" lights up every
                                                red thing in view), also training-only.

Versioning: ``info.json`` has ``codebase_version`` ("v3.0", LeRobot's layout version) and
``vla_format_version`` (this package's additions, now 1). A reader refuses a newer
``vla_format_version``. LeRobot >= 0.4 (``LeRobotDataset(repo_id, root=...)``) reads the same
directory; images are stored in parquet (LeRobot's ``image`` dtype) rather than as MP4 videos,
because frames are tiny (64 x 64) and decoding PNG needs no video stack.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

CODEBASE_VERSION = 'v3.0'
VLA_FORMAT_VERSION = 1
IMAGE_KEY = 'observation.images.head_camera'
STATE_KEY = 'observation.state'
ACTION_KEY = 'action'
TARGET_KEY = 'annotation.target_in_image'
TARGET_NAMES = ['in_view', 'x', 'y']
OBJECTS_KEY = 'annotation.objects_in_image'
DATA_PATH = 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
EPISODES_PATH = 'meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
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


@dataclass
class Episode:
    """One recorded episode, all arrays with one row per frame.

    images:        (N, H, W, 3) uint8
    state:         (N, J) float32 joint positions, in ``DatasetWriter.state_names`` order
    actions:       (N, D) float32 physical command, in ``DatasetWriter.action_names`` order
    timestamps:    (N,) seconds since the episode start
    instruction:   the language instruction (LeRobot's 'task' string)
    info:          extra per-episode columns (task_name, target, seed, success, source, split_group)
    target_in_image: optional (N, 3) float32 label, see TARGET_KEY (NaN rows: no object named)
    objects_in_image: optional (N, K, 3) float32 labels, see OBJECTS_KEY (objects in the writer's
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
        self.fps = float(fps)
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
        if list(ds.state_names) != self.state_names or list(ds.action_names) != self.action_names:
            raise DatasetError(f'{self.root} holds other features (state {ds.state_names}, action '
                               f'{ds.action_names}); write to a new directory')
        if tuple(ds.image_shape) != self.image_shape:
            raise DatasetError(f'{self.root} holds {ds.image_shape} images, not {self.image_shape}')
        self.target_annotations = TARGET_KEY in ds.info['features']
        self.object_names = list(ds.object_names)
        self._episodes = ds.episodes_rows()
        self._tasks = {t: i for i, t in enumerate(ds.tasks)}
        self._total_frames = ds.total_frames
        files = sorted((self.root / 'data').glob('chunk-*/file-*.parquet'))
        self._file_index = len(files)   # appended episodes go to new files

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
        self._episodes.append(row)
        self._buffer.append({'ep': ep, 'index': idx, 'task_index': task_index, 'start': start})
        self._total_frames += n
        self._buffer_frames += n
        if self._buffer_frames >= self.frames_per_file:
            self.flush()
        return idx

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
        import pyarrow as pa
        import pyarrow.parquet as pq
        self.flush()
        meta = self.root / 'meta'
        n_ep = len(self._episodes)
        n_val = int(round(val_fraction * n_ep)) if n_ep > 1 else 0
        n_val = min(max(n_val, 1 if val_fraction > 0 and n_ep > 1 else 0), n_ep - 1) if n_ep > 1 else 0
        splits = {'train': f'0:{n_ep - n_val}'}
        if n_val:
            splits['val'] = f'{n_ep - n_val}:{n_ep}'
        pq.write_table(pa.table({'task_index': pa.array(list(self._tasks.values()), pa.int64()),
                                 'task': pa.array(list(self._tasks), pa.string())}), meta / 'tasks.parquet')
        ep_path = self.root / EPISODES_PATH.format(chunk_index=0, file_index=0)
        ep_path.parent.mkdir(parents=True, exist_ok=True)
        schema = {'episode_index': pa.int64(), 'tasks': pa.list_(pa.string()), 'length': pa.int64(),
                  'data/chunk_index': pa.int64(), 'data/file_index': pa.int64(),
                  'dataset_from_index': pa.int64(), 'dataset_to_index': pa.int64()}
        schema.update({k: getattr(pa, t if t != 'bool' else 'bool_')() for k, t in EPISODE_INFO_COLUMNS.items()})
        pq.write_table(pa.table({k: pa.array([r.get(k) for r in self._episodes], type=t)
                                 for k, t in schema.items()}), ep_path)
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
                'timestamp': {'dtype': 'float32', 'shape': [1], 'names': None},
                'frame_index': {'dtype': 'int64', 'shape': [1], 'names': None},
                'episode_index': {'dtype': 'int64', 'shape': [1], 'names': None},
                'index': {'dtype': 'int64', 'shape': [1], 'names': None},
                'task_index': {'dtype': 'int64', 'shape': [1], 'names': None},
            },
        }
        if self.target_annotations:
            info['features'][TARGET_KEY] = {'dtype': 'float32', 'shape': [3], 'names': TARGET_NAMES}
        if self.object_names:
            info['features'][OBJECTS_KEY] = {'dtype': 'float32', 'shape': [3 * len(self.object_names)],
                                             'names': [f'{o}.{c}' for o in self.object_names for c in TARGET_NAMES]}
        info.update(dict(extra_info or {}))
        (meta / 'info.json').write_text(json.dumps(info, indent=2))
        ds = LeRobotDataset(self.root)
        (meta / 'stats.json').write_text(json.dumps(ds.compute_stats(), indent=2))
        return self.root


def _parse_range(spec: str, n: int) -> list[int]:
    a, b = (int(x) for x in spec.split(':'))
    return list(range(max(a, 0), min(b, n)))


class LeRobotDataset:
    """Reader of the layout above. ``load_data=False`` reads meta/ only.

    Attributes: info, fps, tasks (list of instruction strings by task_index), episodes (pyarrow
    table), state_names, action_names, image_shape; with data: ``frames`` (dict of NumPy columns,
    images still PNG bytes) and :meth:`images` to decode them.
    """

    def __init__(self, root: str | Path, load_data: bool = True) -> None:
        import pyarrow.parquet as pq
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
        self.fps = float(self.info['fps'])
        self.state_names = list(feats[STATE_KEY]['names'])
        self.action_names = list(feats[ACTION_KEY]['names'])
        self.image_shape = tuple(feats[IMAGE_KEY]['shape'])
        tasks = pq.read_table(self.root / 'meta' / 'tasks.parquet').to_pydict()
        self.tasks = [t for _, t in sorted(zip(tasks['task_index'], tasks['task']))]
        files = sorted((self.root / 'meta' / 'episodes').glob('chunk-*/file-*.parquet'))
        import pyarrow as pa
        self.episodes = pa.concat_tables([pq.read_table(f) for f in files]) if files else None
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
        t = pa.concat_tables([pq.read_table(f) for f in files]).sort_by('index')
        if t.num_rows != self.total_frames:
            raise DatasetError(f'{self.root}: info.json says {self.total_frames} frames, data holds {t.num_rows}')
        out = {}
        for k in ('timestamp', 'frame_index', 'episode_index', 'index', 'task_index'):
            out[k] = t.column(k).to_numpy()
        for k in (STATE_KEY, ACTION_KEY) + tuple(k for k in (TARGET_KEY, OBJECTS_KEY) if k in self.info['features']):
            col = t.column(k).combine_chunks()
            out[k] = col.flatten().to_numpy().reshape(t.num_rows, -1).astype(np.float32)
        out[IMAGE_KEY] = t.column(IMAGE_KEY).combine_chunks().field('bytes').to_pylist()
        self.frames = out

    def images(self, rows: Iterable[int] | None = None) -> np.ndarray:
        """Decode images (all frames, or ``rows``) -> (N, H, W, 3) uint8."""
        data = self.frames[IMAGE_KEY]
        rows = range(len(data)) if rows is None else rows
        return np.stack([decode_png(data[i]) for i in rows])

    def episode_frames(self, episode_index: int) -> slice:
        row = self.episodes.slice(episode_index, 1).to_pylist()[0]
        return slice(row['dataset_from_index'], row['dataset_to_index'])

    def compute_stats(self, max_images: int = 2000) -> dict[str, Any]:
        """LeRobot-style per-feature statistics (images: per channel, in [0, 1], on a sample)."""
        f = self.frames
        stats: dict[str, Any] = {}
        for k in (STATE_KEY, ACTION_KEY):
            x = f[k].astype(np.float64)
            stats[k] = {'min': x.min(0).tolist(), 'max': x.max(0).tolist(), 'mean': x.mean(0).tolist(),
                        'std': x.std(0).tolist(), 'count': [int(len(x))]}
        n = len(f[IMAGE_KEY])
        rows = np.linspace(0, n - 1, min(n, max_images)).astype(int)
        im = self.images(rows).astype(np.float64) / 255.0
        per = im.reshape(-1, 3)
        stats[IMAGE_KEY] = {'min': _chw(per.min(0)), 'max': _chw(per.max(0)), 'mean': _chw(per.mean(0)),
                            'std': _chw(per.std(0)), 'count': [int(len(rows))]}
        ts = f['timestamp'].astype(np.float64)
        stats['timestamp'] = {'min': [float(ts.min())], 'max': [float(ts.max())], 'mean': [float(ts.mean())],
                              'std': [float(ts.std())], 'count': [int(n)]}
        return stats

    def stats(self) -> dict[str, Any]:
        p = self.root / 'meta' / 'stats.json'
        return json.loads(p.read_text()) if p.is_file() else self.compute_stats()


def _chw(v: np.ndarray) -> list:
    """(3,) -> [[[r]], [[g]], [[b]]] (LeRobot keeps image stats as (C, 1, 1))."""
    return [[[float(x)]] for x in v]
