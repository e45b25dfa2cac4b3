"""The demonstration dataset: LeRobotDataset v3.0 layout (parquet + meta/), its layout, keys and shared pieces.

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
    observation.base_pose           float32[3]  optional: x, y (m), yaw (rad) of the base in its odometry
                                                frame (nav_msgs/Odometry, REP 105), as measured; the
                                                policy reads how far it moved since the episode began
    observation.range_sectors       float32[K]  optional: the nearest obstacle (m) in each of K equal sectors
                                                around the base, from the planar scan (sector 0 straight
                                                ahead, counter-clockwise; vla_core.policy.nearest_by_sector)
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
from typing import Any, Sequence

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vla_common.image_compressed import decode_compressed

CODEBASE_VERSION = 'v3.0'
VLA_FORMAT_VERSION = 2
IMAGE_KEY = 'observation.images.head_camera'
STATE_KEY = 'observation.state'
ACTION_KEY = 'action'
BASE_POSE_KEY = 'observation.base_pose'
BASE_POSE_NAMES = ['x', 'y', 'yaw']
RANGES_KEY = 'observation.range_sectors'
#: metres up to which collections and recordings store the range sectors (a model reads them up to its
#: range_max_m, which must not be more)
RANGES_RECORDED_MAX = 5.0
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
    bgr = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_RGB2BGR)
    ok, png = cv2.imencode('.png', bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise DatasetError(f'cannot encode an image of shape {image.shape} as PNG')
    return png.tobytes()


def decode_png(data: bytes) -> np.ndarray:
    """PNG (or JPEG) bytes -> (H, W, 3) uint8 RGB; a damaged image is an ImageDecodeError (a ValueError)."""
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
    table = pa.table({'task_index': pa.array(range(len(tasks)), pa.int64()),
                      '__index_level_0__': pa.array(list(tasks), pa.string())})
    pq.write_table(table.replace_schema_metadata({b'pandas': json.dumps(_TASKS_PANDAS_META).encode()}), path)


def read_tasks(path: str | Path) -> list[str]:
    """The task texts by task_index, from LeRobot's layout (text in the pandas index, whatever its
    name) or format 1's (plain columns task_index, task)."""
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
    base_pose:     optional (N, 3) float32 x, y, yaw in the odometry frame, written as BASE_POSE_KEY
    range_sectors: optional (N, K) float32 nearest range per sector (m), written as RANGES_KEY
    """

    images: np.ndarray
    state: np.ndarray
    actions: np.ndarray
    timestamps: np.ndarray
    instruction: str
    info: dict[str, Any] = field(default_factory=dict)
    target_in_image: np.ndarray | None = None
    objects_in_image: np.ndarray | None = None
    base_pose: np.ndarray | None = None
    range_sectors: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.images)
        if n == 0:
            raise DatasetError('an episode needs at least one frame')
        if self.base_pose is not None and np.shape(self.base_pose) != (n, 3):
            raise DatasetError(f'base_pose must be ({n}, 3), got {np.shape(self.base_pose)}')
        if self.range_sectors is not None and (np.ndim(self.range_sectors) != 2 or len(self.range_sectors) != n):
            raise DatasetError(f'range_sectors must be ({n}, K), got {np.shape(self.range_sectors)}')
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

