"""Dataset format: round trip, statistics, splits, appending, version checks."""
import json

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
