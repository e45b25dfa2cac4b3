"""The recorder node over DDS: published camera, command, joint states, odometry and cmd_vel become an episode."""
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')


def test_recorder_node_records_an_episode(tmp_path):
    from geometry_msgs.msg import Twist
    from nav_msgs.msg import Odometry
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import String
    from vla_common.qos import COMMAND_QOS, IMAGE_QOS, RELIABLE_QOS, SENSOR_QOS
    from vla_core.embodiment import load_embodiment
    from vla_learning.dataset import ACTION_KEY, BASE_POSE_KEY, LeRobotDataset
    from vla_learning.recorder_node import RecorderNode

    rclpy.init()
    try:
        params = [Parameter('dataset_dir', value=str(tmp_path / 'rec')), Parameter('image_size', value=16),
                  Parameter('record_rate_hz', value=20.0), Parameter('min_episode_frames', value=3)]
        node = _make(RecorderNode, params)
        pub = rclpy.create_node('recorder_test_pub')
        p_img = pub.create_publisher(Image, 'camera/image_raw', IMAGE_QOS)
        p_cmd = pub.create_publisher(String, 'vla/command', COMMAND_QOS)
        p_js = pub.create_publisher(JointState, 'joint_states', SENSOR_QOS)
        p_tw = pub.create_publisher(Twist, 'cmd_vel', RELIABLE_QOS)
        p_odom = pub.create_publisher(Odometry, 'odom', RELIABLE_QOS)
        ex = SingleThreadedExecutor()
        ex.add_node(node)
        ex.add_node(pub)
        joints = list(load_embodiment('vla_humanoid').joint_names)

        def publish_all():
            img = Image(height=12, width=16, encoding='rgb8', step=48, data=np.full(12 * 48, 90, np.uint8).tobytes())
            p_img.publish(img)
            p_js.publish(JointState(name=joints, position=[0.0] * len(joints)))
            tw = Twist()
            tw.angular.z = 0.5
            p_tw.publish(tw)
            odom = Odometry()
            odom.pose.pose.position.x = 1.5
            odom.pose.pose.orientation.z, odom.pose.pose.orientation.w = np.sin(0.25), np.cos(0.25)   # yaw 0.5
            p_odom.publish(odom)

        import threading
        spinner = threading.Thread(target=ex.spin, daemon=True)
        spinner.start()
        def frames():
            ep = node._rec._open
            return len(ep.images) if ep is not None else 0

        end = time.monotonic() + 20.0                  # generous: discovery is slow on a loaded machine
        while time.monotonic() < end and frames() < 4:
            p_cmd.publish(String(data='turn left'))    # repeated: discovery may miss the first
            publish_all()                              # ~30 Hz, like a camera
            time.sleep(0.033)
        p_cmd.publish(String(data=''))
        end = time.monotonic() + 10.0
        while time.monotonic() < end and node._rec.episodes_written == 0:
            time.sleep(0.05)
        rec = node._rec
        assert rec.episodes_written == 1, (rec._instruction, rec.frames_skipped, rec.episodes_dropped)
        ds = LeRobotDataset(tmp_path / 'rec')
        assert ds.tasks == ['turn left'] and ds.total_frames >= 3
        assert ds.image_shape == (16, 16, 3)
        np.testing.assert_allclose(ds.frames[ACTION_KEY][:, 2], 0.5, atol=1e-6)
        pose = ds.frames[BASE_POSE_KEY]
        np.testing.assert_allclose(pose[-1], [1.5, 0.0, 0.5], atol=1e-5)
        ex.shutdown()
        node.destroy_node()
        pub.destroy_node()
    finally:
        rclpy.try_shutdown()


def _make(cls, params):
    """Instantiate a node class whose __init__ takes no arguments, with parameter overrides."""
    import rclpy.node
    orig = rclpy.node.Node.__init__

    def init(self, name, **kw):
        orig(self, name, parameter_overrides=params, **kw)
    rclpy.node.Node.__init__ = init
    try:
        return cls()
    finally:
        rclpy.node.Node.__init__ = orig
