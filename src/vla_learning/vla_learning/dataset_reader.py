"""Reader of the demonstration dataset (:mod:`vla_learning.dataset_format`'s layout), and of
datasets LeRobot wrote (one camera stored as images)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vla_learning.dataset_format import (ACTION_KEY, BASE_POSE_KEY, RANGES_KEY, CODEBASE_VERSION, IMAGE_KEY, INDEX_FEATURES,
                                         LEGACY_KEYS, OBJECTS_KEY, STATE_KEY, TARGET_KEY, TASKS_PATH, VLA_FORMAT_VERSION,
                                         DatasetError, decode_png, read_tasks)
from vla_learning.dataset_stats import aggregate_stats, image_stats, vector_stats


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
        optional = (BASE_POSE_KEY, RANGES_KEY, TARGET_KEY, OBJECTS_KEY)
        for k in (STATE_KEY, ACTION_KEY) + tuple(k for k in optional if k in self.info['features']):
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



class CombinedDataset:
    """Several datasets read as one, for training (a DAgger round: the demonstrations and the
    rollouts). The reader's interface: frames, images, tasks, episodes and splits, with episode,
    frame and task indices renumbered after the earlier parts'. They must share fps, image shape,
    state, action and object names and columns. :meth:`stats` are the first part's: the
    normalisation a model trained on it keeps when it goes on training on all of them."""

    def __init__(self, parts: Sequence[LeRobotDataset]) -> None:
        if not parts:
            raise DatasetError('CombinedDataset needs at least one dataset')
        first = parts[0]
        for p in parts[1:]:
            for what in ('fps', 'image_shape', 'state_names', 'action_names', 'object_names', 'image_key'):
                if getattr(p, what) != getattr(first, what):
                    raise DatasetError(f'{p.root} and {first.root} differ in {what} ({getattr(p, what)!r} vs '
                                       f'{getattr(first, what)!r}): they cannot be trained on together')
            if set(p.frames) != set(first.frames):
                raise DatasetError(f'{p.root} and {first.root} hold different columns '
                                   f'({sorted(set(p.frames) ^ set(first.frames))})')
        self.parts = list(parts)
        self.root = first.root
        self.fps, self.image_shape, self.image_key = first.fps, first.image_shape, first.image_key
        self.state_names, self.action_names = first.state_names, first.action_names
        self.object_names = first.object_names
        self.tasks = list(dict.fromkeys(t for p in parts for t in p.tasks))
        task_id = {t: i for i, t in enumerate(self.tasks)}
        frames: dict[str, list] = {k: [] for k in first.frames}
        self._rows: list[dict[str, Any]] = []
        self._splits: dict[str, list[int]] = {}
        ep0 = fr0 = 0
        for p in parts:
            f = p.frames
            for k, v in f.items():
                if k == 'episode_index':
                    v = v + ep0
                elif k == 'index':
                    v = v + fr0
                elif k == 'task_index':
                    v = np.array([task_id[p.tasks[int(t)]] for t in v], dtype=v.dtype)
                frames[k].append(v)
            for r in p.episodes_rows():
                self._rows.append(dict(r, episode_index=r['episode_index'] + ep0,
                                       dataset_from_index=r['dataset_from_index'] + fr0,
                                       dataset_to_index=r['dataset_to_index'] + fr0))
            for name in p.info.get('splits', {}):
                self._splits.setdefault(name, []).extend(e + ep0 for e in p.split(name))
            ep0 += p.num_episodes
            fr0 += p.total_frames
        self.frames = {k: ([b for part in v for b in part] if k == self.image_key else np.concatenate(v))
                       for k, v in frames.items()}
        self.total_frames = fr0
        self.info = {'fps': self.fps, 'total_frames': fr0, 'splits': {k: f'{len(v)} episodes' for k, v in
                                                                      self._splits.items()},
                     'parts': [str(p.root) for p in parts]}

    @property
    def num_episodes(self) -> int:
        return len(self._rows)

    def episodes_rows(self) -> list[dict[str, Any]]:
        return list(self._rows)

    def split(self, name: str) -> list[int]:
        if name not in self._splits:
            raise DatasetError(f"none of {self.info['parts']} has a split '{name}'")
        return list(self._splits[name])

    def images(self, rows: Iterable[int] | None = None) -> np.ndarray:
        return LeRobotDataset.images(self, rows)

    def episode_frames(self, episode_index: int) -> slice:
        row = self._rows[episode_index]
        return slice(row['dataset_from_index'], row['dataset_to_index'])

    def stats(self) -> dict[str, Any]:
        return self.parts[0].stats()
