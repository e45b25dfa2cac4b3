"""EpisodeRecorder (the recorder node's and the MCAP importer's logic), without ROS."""
import numpy as np

from vla_core.embodiment import load_embodiment
from vla_learning.recording import EpisodeRecorder, RecorderConfig


def test_episodes_from_a_stream():
    emb = load_embodiment('vla_humanoid')
    out = []
    rec = EpisodeRecorder(emb, out.append, RecorderConfig(image_size=16, min_frames=2), task_name='walk_to')
    joints = list(emb.joint_names)
    rec.on_joint_states(joints, [0.1] * len(joints))
    assert not rec.tick(0.0)                                   # no instruction: nothing recorded
    rec.on_instruction('walk to the red box', 0.0)
    assert not rec.tick(0.05)                                  # no image yet
    for k in range(5):
        t = 0.1 * (k + 1)
        if k >= 1:
            rec.on_odometry((0.1 * k, 0.0, 0.05 * k))             # odometry from the second frame on
        rec.on_image(np.full((48, 64, 3), 10 * k, np.uint8), t)
        rec.on_cmd_vel((0.3, 0.0, 0.0, 0.0, 0.0, -0.5), t)
        rec.on_joint_command(['head_pan_joint'], [0.4])
        assert rec.tick(t + 0.01)
    assert not rec.tick(2.0)                                   # image stale
    rec.on_instruction('', 2.0)                                # stop ends the episode
    assert len(out) == 1
    ep = out[0]
    assert ep.instruction == 'walk to the red box' and ep.images.shape == (5, 16, 16, 3)
    names = [d.name for d in emb.dims]
    np.testing.assert_allclose(ep.actions[:, names.index('base_linear_x')], 0.3, atol=1e-6)
    np.testing.assert_allclose(ep.actions[:, names.index('base_angular_z')], -0.5, atol=1e-6)
    np.testing.assert_allclose(ep.actions[:, names.index('head_pan')], 0.4, atol=1e-6)
    np.testing.assert_allclose(ep.actions[:, names.index('left_elbow')], 0.1, atol=1e-6)   # held at measured
    np.testing.assert_allclose(ep.timestamps, [0.11, 0.21, 0.31, 0.41, 0.51], atol=1e-9)
    assert ep.info['task_name'] == 'walk_to'
    assert np.isnan(ep.base_pose[0]).all(), 'no odometry yet: NaN'
    np.testing.assert_allclose(ep.base_pose[1:], [[0.1 * k, 0.0, 0.05 * k] for k in range(1, 5)], atol=1e-6)
    rec.on_instruction('wave', 3.0)
    rec.on_image(np.zeros((8, 8, 3), np.uint8), 3.0)
    rec.tick(3.05)
    rec.finish()                                               # 1 frame < min_frames: dropped
    assert len(out) == 1 and rec.episodes_dropped == 1


def test_the_scan_is_recorded_as_range_sectors_when_asked():
    """RecorderConfig.range_sectors: each frame keeps the newest scan as the nearest range per sector
    (NaN before the first scan); without it the episode has no range column."""
    import math
    from vla_core.policy import PlanarScan
    emb = load_embodiment('vla_humanoid')
    joints = list(emb.joint_names)
    ranges = np.full(8, np.inf, np.float32)
    ranges[4] = 0.6                                            # the beam at 0 rad: ahead
    for sectors in (4, 0):
        out = []
        rec = EpisodeRecorder(emb, out.append, RecorderConfig(image_size=16, min_frames=2, range_sectors=sectors))
        rec.on_joint_states(joints, [0.0] * len(joints))
        rec.on_instruction('walk forward', 0.0)
        for k in range(3):
            if k >= 1:
                rec.on_scan(PlanarScan(ranges, -math.pi, math.pi / 4))
            rec.on_image(np.zeros((16, 16, 3), np.uint8), 0.1 * k)
            assert rec.tick(0.1 * k + 0.01)
        rec.finish()
        ep = out[0]
        if sectors:
            assert ep.range_sectors.shape == (3, 4) and np.isnan(ep.range_sectors[0]).all()
            np.testing.assert_allclose(ep.range_sectors[1:], [[0.6, 5.0, 5.0, 5.0]] * 2)
        else:
            assert ep.range_sectors is None
