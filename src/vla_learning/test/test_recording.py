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
