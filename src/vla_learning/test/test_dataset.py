"""Dataset format: round trip, statistics, splits, appending, version checks."""
import json
from pathlib import Path

import numpy as np
import pytest

from vla_learning.dataset import (ACTION_KEY, IMAGE_KEY, STATE_KEY, DatasetError, DatasetWriter, Episode,
                                  LeRobotDataset)


def _episode(rng, n, instruction, task='wave'):
    return Episode(images=rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8),
                   state=rng.normal(size=(n, 2)).astype(np.float32),
                   actions=rng.normal(size=(n, 3)).astype(np.float32),
                   timestamps=np.arange(n) * 0.1, instruction=instruction,
                   info={'task_name': task, 'seed': 3, 'success': True, 'source': 'test'})


def _writer(root, **kw):
    return DatasetWriter(root, fps=10, image_shape=(8, 8, 3), state_names=['a', 'b'], action_names=['x', 'y', 'z'],
                         **kw)


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    eps = [_episode(rng, 5, 'wave'), _episode(rng, 7, 'turn left', 'turn_left'), _episode(rng, 3, 'wave')]
    w = _writer(tmp_path / 'ds', frames_per_file=6)
    for e in eps:
        w.add_episode(e)
    w.close(val_fraction=0.34)
    ds = LeRobotDataset(tmp_path / 'ds')
    assert ds.num_episodes == 3 and ds.total_frames == 15
    assert ds.tasks == ['wave', 'turn left']
    assert ds.split('train') == [0, 1] and ds.split('val') == [2]
    assert len(list((tmp_path / 'ds' / 'data').glob('chunk-000/file-*.parquet'))) == 2
    for i, e in enumerate(eps):
        sl = ds.episode_frames(i)
        np.testing.assert_array_equal(ds.images(range(sl.start, sl.stop)), e.images)     # PNG is lossless
        np.testing.assert_allclose(ds.frames[STATE_KEY][sl], e.state)
        np.testing.assert_allclose(ds.frames[ACTION_KEY][sl], e.actions)
        assert list(ds.frames['frame_index'][sl]) == list(range(len(e.images)))
        assert set(ds.frames['episode_index'][sl]) == {i}
    rows = ds.episodes_rows()
    assert rows[1]['task_name'] == 'turn_left' and rows[1]['tasks'] == ['turn left'] and rows[1]['length'] == 7
    info = json.loads((tmp_path / 'ds' / 'meta' / 'info.json').read_text())
    assert info['codebase_version'] == 'v3.0' and info['features'][IMAGE_KEY]['dtype'] == 'image'
    assert info['features'][STATE_KEY]['names'] == ['a', 'b']
    stats = ds.stats()
    allact = np.concatenate([e.actions for e in eps])
    np.testing.assert_allclose(stats[ACTION_KEY]['mean'], allact.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats[ACTION_KEY]['max'], allact.max(0), rtol=1e-6)
    assert np.asarray(stats[IMAGE_KEY]['mean']).shape == (3, 1, 1)


def test_append_and_checks(tmp_path):
    rng = np.random.default_rng(1)
    w = _writer(tmp_path / 'ds')
    w.add_episode(_episode(rng, 4, 'wave'))
    w.close(val_fraction=0.0)
    w2 = _writer(tmp_path / 'ds')
    assert w2.add_episode(_episode(rng, 2, 'stop', 'stop')) == 1
    w2.close(val_fraction=0.0)
    ds = LeRobotDataset(tmp_path / 'ds')
    assert ds.num_episodes == 2 and ds.total_frames == 6 and list(ds.frames['index']) == list(range(6))
    with pytest.raises(DatasetError):
        DatasetWriter(tmp_path / 'ds', fps=10, image_shape=(8, 8, 3), state_names=['a'], action_names=['x', 'y', 'z'])
    info = json.loads((tmp_path / 'ds' / 'meta' / 'info.json').read_text())
    info['vla_format_version'] = 99
    (tmp_path / 'ds' / 'meta' / 'info.json').write_text(json.dumps(info))
    with pytest.raises(DatasetError, match='newer'):
        LeRobotDataset(tmp_path / 'ds')
    with pytest.raises(DatasetError, match='not a dataset'):
        LeRobotDataset(tmp_path / 'nothing')


def test_target_annotations_round_trip(tmp_path):
    from vla_learning.dataset import OBJECTS_KEY, TARGET_KEY
    rng = np.random.default_rng(0)
    w = _writer(tmp_path / 'ds', target_annotations=True, object_names=['red_box', 'blue_ball'])
    ep = _episode(rng, 3, 'walk to the red box', task='walk_to')
    ep.target_in_image = np.array([[0, np.nan, np.nan], [1, 0.5, -0.25], [1, 0.0, 0.1]], dtype=np.float32)
    ep.objects_in_image = np.stack([ep.target_in_image, np.full((3, 3), np.nan)], axis=1)   # no blue ball
    w.add_episode(ep)
    w.add_episode(_episode(rng, 2, 'wave'))                 # no label: NaN rows
    w.close(val_fraction=0.0)
    ds = LeRobotDataset(tmp_path / 'ds')
    assert ds.info['features'][TARGET_KEY]['names'] == ['in_view', 'x', 'y']
    t = ds.frames[TARGET_KEY]
    assert t.shape == (5, 3) and np.allclose(t[1], [1, 0.5, -0.25]) and np.isnan(t[3:]).all()
    assert ds.object_names == ['red_box', 'blue_ball']
    o = ds.frames[OBJECTS_KEY].reshape(5, 2, 3)
    assert np.allclose(o[1, 0], [1, 0.5, -0.25]) and np.isnan(o[:, 1]).all() and np.isnan(o[3:]).all()
    with pytest.raises(DatasetError, match='target_in_image'):
        Episode(ep.images, ep.state, ep.actions, ep.timestamps, 'x', target_in_image=np.zeros((2, 3)))
    with pytest.raises(DatasetError, match='objects_in_image'):
        Episode(ep.images, ep.state, ep.actions, ep.timestamps, 'x', objects_in_image=np.zeros((3, 3)))
    again = _writer(tmp_path / 'ds')                       # appending keeps the object columns
    assert again.object_names == ['red_box', 'blue_ball']
    plain = _writer(tmp_path / 'plain')
    plain.add_episode(_episode(rng, 2, 'wave'))
    plain.close(val_fraction=0.0)
    assert TARGET_KEY not in LeRobotDataset(tmp_path / 'plain').frames
    assert LeRobotDataset(tmp_path / 'plain').object_names == []


def test_png_frames_are_standard_pngs():
    """Frames are written by OpenCV; other tools (LeRobot, Pillow) read the same pixels back."""
    import io

    from PIL import Image

    from vla_learning.dataset import decode_png, encode_png
    rgb = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encode_png(rgb)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == 'PNG' and im.mode == 'RGB'
        np.testing.assert_array_equal(np.asarray(im), rgb)
    np.testing.assert_array_equal(decode_png(data), rgb)
    with pytest.raises(ValueError, match='cannot decode'):
        decode_png(data[:len(data) // 2])


# -- LeRobot v3.0 layout (checked against lerobot 0.4.4 by scripts/lerobot_interop.sh; here without it) --
def _annotated_dataset(root, rng):
    w = _writer(root, target_annotations=True, object_names=['red_box', 'blue_ball'])
    for i, (n, instr) in enumerate([(6, 'wave'), (9, 'walk to the red box'), (4, 'wave')]):
        ep = _episode(rng, n, instr)
        if i == 1:                                                  # labelled; the others are NaN
            ep.target_in_image = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
            ep.objects_in_image = np.stack([ep.target_in_image, np.full((n, 3), np.nan)], axis=1)
        w.add_episode(ep)
    w.close(val_fraction=0.34)
    return LeRobotDataset(root)


def test_meta_files_follow_lerobot_v3_layout(tmp_path):
    import pyarrow.parquet as pq
    from vla_learning.dataset_stats import STAT_KEYS
    ds = _annotated_dataset(tmp_path / 'ds', np.random.default_rng(2))
    meta = tmp_path / 'ds' / 'meta'
    info = json.loads((meta / 'info.json').read_text())
    assert {'codebase_version', 'robot_type', 'total_episodes', 'total_frames', 'total_tasks', 'chunks_size',
            'data_files_size_in_mb', 'video_files_size_in_mb', 'fps', 'splits', 'data_path', 'video_path',
            'features'} <= set(info)
    assert info['fps'] == 10 and isinstance(info['fps'], int)               # LeRobot writes an int
    assert (info['total_episodes'], info['total_frames'], info['total_tasks']) == (3, 19, 2)
    feats = info['features']
    for k in ('timestamp', 'frame_index', 'episode_index', 'index', 'task_index'):
        assert feats[k]['shape'] == [1]
    for k, f in feats.items():
        assert {'dtype', 'shape', 'names'} <= set(f) and '/' not in k
        assert ('image' in k) == (f['dtype'] == 'image'), f'{k}: LeRobot takes names with "image" for cameras'
    # tasks: indexed by the task text (pandas index), one column task_index
    t = pq.read_table(meta / 'tasks.parquet')
    pandas_meta = json.loads(t.schema.metadata[b'pandas'])
    assert t.column_names == ['task_index', '__index_level_0__']
    assert pandas_meta['index_columns'] == ['__index_level_0__']
    assert t.column('__index_level_0__').to_pylist() == ['wave', 'walk to the red box']
    assert t.column('task_index').to_pylist() == [0, 1]
    # episodes: LeRobot's columns, with per-episode statistics of every feature
    files = sorted((meta / 'episodes').glob('chunk-*/file-*.parquet'))
    assert [f.relative_to(meta) for f in files] == [Path('episodes/chunk-000/file-000.parquet')]
    ep = pq.read_table(files[0]).to_pylist()
    for col in ('episode_index', 'tasks', 'length', 'data/chunk_index', 'data/file_index', 'dataset_from_index',
                'dataset_to_index', 'meta/episodes/chunk_index', 'meta/episodes/file_index'):
        assert all(col in r for r in ep), col
    assert [r['tasks'] for r in ep] == [['wave'], ['walk to the red box'], ['wave']]
    assert [(r['dataset_from_index'], r['dataset_to_index']) for r in ep] == [(0, 6), (6, 15), (15, 19)]
    for r in ep:
        for k in feats:
            for s in STAT_KEYS:
                assert f'stats/{k}/{s}' in r, f'stats/{k}/{s}'
        assert r[f'stats/{IMAGE_KEY}/count'] == [r['length']]
    # stats.json: every feature, quantiles included, LeRobot's shapes
    stats = json.loads((meta / 'stats.json').read_text())
    assert set(stats) == set(feats)
    for k, st in stats.items():
        assert set(st) == set(STAT_KEYS), k
        want = (3, 1, 1) if feats[k]['dtype'] == 'image' else tuple(feats[k]['shape'])
        for s, v in st.items():
            assert np.shape(v) == ((1,) if s == 'count' else want), (k, s)
    # data: one column per feature
    data = pq.read_table(tmp_path / 'ds' / 'data' / 'chunk-000' / 'file-000.parquet')
    assert set(data.column_names) == set(feats)
    assert ds.tasks == ['wave', 'walk to the red box']


def test_statistics_aggregate_the_episodes(tmp_path):
    from vla_learning.dataset import OBJECTS_KEY, TARGET_KEY
    from vla_learning.dataset_stats import QUANTILE_KEYS, QUANTILES
    ds = _annotated_dataset(tmp_path / 'ds', np.random.default_rng(3))
    st = ds.stats()
    x = ds.frames[ACTION_KEY].astype(np.float64)
    np.testing.assert_allclose(st[ACTION_KEY]['mean'], x.mean(0), rtol=1e-9)
    np.testing.assert_allclose(st[ACTION_KEY]['std'], x.std(0), rtol=1e-9)       # pooled variance is exact
    np.testing.assert_allclose(st[ACTION_KEY]['min'], x.min(0))
    assert st[ACTION_KEY]['count'] == [19] and st['index']['max'] == [18.0]
    # quantiles: the count-weighted mean of the episodes' exact quantiles (LeRobot's aggregation)
    rows = ds.episodes_rows()
    for k, q in zip(QUANTILE_KEYS, QUANTILES):
        per = [np.quantile(x[r['dataset_from_index']:r['dataset_to_index']], q, axis=0, method='inverted_cdf')
               for r in rows]
        want = sum(p * r['length'] for p, r in zip(per, rows)) / 19
        np.testing.assert_allclose(st[ACTION_KEY][k], want, rtol=1e-9)
        assert np.all(np.diff([st[ACTION_KEY][k] for k in QUANTILE_KEYS], axis=0) >= 0)
    im = ds.images().astype(np.float64) / 255
    np.testing.assert_allclose(np.ravel(st[IMAGE_KEY]['mean']), im.reshape(-1, 3).mean(0), rtol=1e-9)
    # labels: statistics of the labelled entries of the one labelled episode (NaN elsewhere is skipped)
    ep1 = rows[1]
    label = ds.frames[TARGET_KEY][ep1['dataset_from_index']:ep1['dataset_to_index']]
    np.testing.assert_allclose(ep1[f'stats/{TARGET_KEY}/mean'], label.mean(0), rtol=1e-6)
    assert np.isnan(rows[0][f'stats/{OBJECTS_KEY}/mean']).all()
    # without stats.json the reader aggregates the same from the episodes
    (tmp_path / 'ds' / 'meta' / 'stats.json').unlink()
    again = LeRobotDataset(tmp_path / 'ds').stats()
    np.testing.assert_allclose(again[ACTION_KEY]['q50'], st[ACTION_KEY]['q50'], rtol=1e-9)


def test_format_1_is_read_and_upgraded(tmp_path):
    """Format 1: annotations named *_in_image, tasks as two plain columns, no per-episode statistics."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from vla_learning.dataset import LEGACY_KEYS, TARGET_KEY, upgrade
    new = _annotated_dataset(tmp_path / 'ds', np.random.default_rng(4))
    root = tmp_path / 'ds'
    info = json.loads((root / 'meta' / 'info.json').read_text())
    back = {v: k for k, v in LEGACY_KEYS.items()}
    info['features'] = {back.get(k, k): v for k, v in info['features'].items()}
    info['vla_format_version'] = 1
    (root / 'meta' / 'info.json').write_text(json.dumps(info))
    (root / 'meta' / 'stats.json').unlink()
    f = root / 'data' / 'chunk-000' / 'file-000.parquet'
    t = pq.read_table(f)
    pq.write_table(t.rename_columns([back.get(c, c) for c in t.column_names]), f)
    pq.write_table(pa.table({'task_index': [0, 1], 'task': ['wave', 'walk to the red box']}),
                   root / 'meta' / 'tasks.parquet')
    e = root / 'meta' / 'episodes' / 'chunk-000' / 'file-000.parquet'
    t = pq.read_table(e)
    pq.write_table(t.select([c for c in t.column_names if not c.startswith(('stats/', 'meta/'))]), e)

    old = LeRobotDataset(root)
    assert old.tasks == ['wave', 'walk to the red box'] and old.legacy_keys == list(LEGACY_KEYS)
    np.testing.assert_array_equal(old.frames[TARGET_KEY], new.frames[TARGET_KEY])
    np.testing.assert_allclose(old.stats()[ACTION_KEY]['mean'], new.stats()[ACTION_KEY]['mean'], rtol=1e-9)
    with pytest.raises(DatasetError, match='upgrade'):
        _writer(root)
    up = LeRobotDataset(upgrade(root, tmp_path / 'up'))
    assert up.legacy_keys == [] and up.tasks == old.tasks and up.info['splits'] == new.info['splits']
    np.testing.assert_array_equal(up.images(), new.images())
    np.testing.assert_array_equal(up.frames[TARGET_KEY], new.frames[TARGET_KEY])
    assert [r['seed'] for r in up.episodes_rows()] == [3, 3, 3]
    np.testing.assert_allclose(up.stats()[ACTION_KEY]['q50'], new.stats()[ACTION_KEY]['q50'], rtol=1e-9)


def test_fps_is_a_whole_number(tmp_path):
    with pytest.raises(DatasetError, match='whole number'):
        DatasetWriter(tmp_path / 'ds', fps=7.5, image_shape=(8, 8, 3), state_names=['a'], action_names=['x'])


def test_base_pose_round_trip_and_append(tmp_path):
    """observation.base_pose (odometry: x, y, yaw) is written per frame, NaN for episodes without it,
    kept by appends and by an upgrade; a wrong shape is refused."""
    from vla_learning.dataset import BASE_POSE_KEY, upgrade
    rng = np.random.default_rng(3)
    w = _writer(tmp_path / 'ds', base_pose=True)
    ep = _episode(rng, 3, 'turn left', task='turn_left')
    pose = np.array([[0.0, 0.0, 0.1], [0.1, 0.0, 0.2], [0.2, 0.1, 0.3]], np.float32)
    w.add_episode(Episode(ep.images, ep.state, ep.actions, ep.timestamps, ep.instruction, ep.info, base_pose=pose))
    w.add_episode(_episode(rng, 2, 'wave'))
    w.close(val_fraction=0.0)
    ds = LeRobotDataset(tmp_path / 'ds')
    assert ds.info['features'][BASE_POSE_KEY]['names'] == ['x', 'y', 'yaw']
    assert np.allclose(ds.frames[BASE_POSE_KEY][:3], pose) and np.isnan(ds.frames[BASE_POSE_KEY][3:]).all()
    assert _writer(tmp_path / 'ds').base_pose, 'appending keeps the column'
    up = LeRobotDataset(upgrade(tmp_path / 'ds', tmp_path / 'up'))
    assert np.allclose(up.frames[BASE_POSE_KEY][:3], pose)
    with pytest.raises(DatasetError, match='base_pose'):
        Episode(ep.images, ep.state, ep.actions, ep.timestamps, 'x', base_pose=np.zeros((2, 3)))


def test_range_sectors_round_trip_and_append(tmp_path):
    """observation.range_sectors (the nearest range per sector) is written per frame with as many
    sectors as the writer's, NaN for episodes without it, kept by appends and by an upgrade; another
    sector count is refused."""
    from vla_learning.dataset import RANGES_KEY, upgrade
    rng = np.random.default_rng(4)
    w = _writer(tmp_path / 'ds', range_sectors=4)
    ep = _episode(rng, 3, 'walk to the red ball', task='walk_to')
    ranges = rng.uniform(0.2, 5.0, (3, 4)).astype(np.float32)
    w.add_episode(Episode(ep.images, ep.state, ep.actions, ep.timestamps, ep.instruction, ep.info,
                          range_sectors=ranges))
    w.add_episode(_episode(rng, 2, 'wave'))
    with pytest.raises(DatasetError, match='3 sectors, the dataset 4'):
        w.add_episode(Episode(ep.images, ep.state, ep.actions, ep.timestamps, ep.instruction, ep.info,
                              range_sectors=ranges[:, :3]))
    w.close(val_fraction=0.0)
    ds = LeRobotDataset(tmp_path / 'ds')
    assert ds.info['features'][RANGES_KEY]['shape'] == [4]
    assert np.allclose(ds.frames[RANGES_KEY][:3], ranges) and np.isnan(ds.frames[RANGES_KEY][3:]).all()
    assert _writer(tmp_path / 'ds').range_sectors == 4, 'appending keeps the column'
    up = LeRobotDataset(upgrade(tmp_path / 'ds', tmp_path / 'up'))
    assert np.allclose(up.frames[RANGES_KEY][:3], ranges)
    with pytest.raises(DatasetError, match='range_sectors'):
        Episode(ep.images, ep.state, ep.actions, ep.timestamps, 'x', range_sectors=np.zeros((2, 4)))
