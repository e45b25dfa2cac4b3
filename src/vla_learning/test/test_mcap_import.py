"""MCAP import: a bag written with mcap-ros2-support's writer becomes dataset episodes."""
import numpy as np

from vla_learning.dataset import ACTION_KEY, LeRobotDataset

TIME = 'int32 sec\nuint32 nanosec\n'
HEADER = 'builtin_interfaces/Time stamp\nstring frame_id\n'
SEP = '=' * 80 + '\n'
IMAGE_DEF = ('std_msgs/Header header\nuint32 height\nuint32 width\nstring encoding\nuint8 is_bigendian\n'
             'uint32 step\nuint8[] data\n' + SEP + 'MSG: std_msgs/Header\n' + HEADER + SEP
             + 'MSG: builtin_interfaces/Time\n' + TIME)
JOINTS_DEF = ('std_msgs/Header header\nstring[] name\nfloat64[] position\nfloat64[] velocity\nfloat64[] effort\n'
              + SEP + 'MSG: std_msgs/Header\n' + HEADER + SEP + 'MSG: builtin_interfaces/Time\n' + TIME)
TWIST_DEF = ('geometry_msgs/Vector3 linear\ngeometry_msgs/Vector3 angular\n' + SEP
             + 'MSG: geometry_msgs/Vector3\nfloat64 x\nfloat64 y\nfloat64 z\n')
STRING_DEF = 'string data\n'
VECTOR3 = 'float64 x\nfloat64 y\nfloat64 z\n'
ODOM_DEF = ('std_msgs/Header header\nstring child_frame_id\ngeometry_msgs/PoseWithCovariance pose\n'
            'geometry_msgs/TwistWithCovariance twist\n' + SEP + 'MSG: std_msgs/Header\n' + HEADER + SEP
            + 'MSG: builtin_interfaces/Time\n' + TIME + SEP
            + 'MSG: geometry_msgs/PoseWithCovariance\ngeometry_msgs/Pose pose\nfloat64[36] covariance\n' + SEP
            + 'MSG: geometry_msgs/Pose\ngeometry_msgs/Point position\ngeometry_msgs/Quaternion orientation\n' + SEP
            + 'MSG: geometry_msgs/Point\n' + VECTOR3 + SEP
            + 'MSG: geometry_msgs/Quaternion\nfloat64 x\nfloat64 y\nfloat64 z\nfloat64 w\n' + SEP
            + 'MSG: geometry_msgs/TwistWithCovariance\ngeometry_msgs/Twist twist\nfloat64[36] covariance\n' + SEP
            + 'MSG: geometry_msgs/Twist\ngeometry_msgs/Vector3 linear\ngeometry_msgs/Vector3 angular\n' + SEP
            + 'MSG: geometry_msgs/Vector3\n' + VECTOR3)


def write_bag(path, joint_names, n_frames=12):
    from mcap_ros2.writer import Writer
    with open(path, 'wb') as f:
        w = Writer(f)
        s_img = w.register_msgdef('sensor_msgs/msg/Image', IMAGE_DEF)
        s_js = w.register_msgdef('sensor_msgs/msg/JointState', JOINTS_DEF)
        s_tw = w.register_msgdef('geometry_msgs/msg/Twist', TWIST_DEF)
        s_str = w.register_msgdef('std_msgs/msg/String', STRING_DEF)
        s_odom = w.register_msgdef('nav_msgs/msg/Odometry', ODOM_DEF)
        ns = 1_000_000_000

        def hdr(t):
            return {'stamp': {'sec': int(t), 'nanosec': int((t % 1) * 1e9)}, 'frame_id': 'x'}
        t0 = 100.0
        w.write_message('/vla/command', s_str, {'data': 'turn left'}, log_time=int(t0 * ns))
        for k in range(n_frames):
            t = t0 + 0.05 + 0.1 * k
            img = np.full((24, 32, 3), 8 * k, np.uint8)
            w.write_message('/camera/image_raw', s_img, {
                'header': hdr(t), 'height': 24, 'width': 32, 'encoding': 'rgb8', 'is_bigendian': 0, 'step': 96,
                'data': img.tobytes()}, log_time=int(t * ns))
            w.write_message('/joint_states', s_js, {'header': hdr(t), 'name': list(joint_names),
                                                    'position': [0.05 * k] * len(joint_names), 'velocity': [],
                                                    'effort': []}, log_time=int(t * ns) + 1)
            w.write_message('/cmd_vel', s_tw, {'linear': {'x': 0.0, 'y': 0.0, 'z': 0.0},
                                               'angular': {'x': 0.0, 'y': 0.0, 'z': 0.8}}, log_time=int(t * ns) + 2)
            yaw = 0.08 * k
            zero3 = {'x': 0.0, 'y': 0.0, 'z': 0.0}
            w.write_message('/odom', s_odom, {
                'header': hdr(t), 'child_frame_id': 'base_footprint',
                'pose': {'pose': {'position': {'x': 0.0, 'y': 0.01 * k, 'z': 0.0},
                                  'orientation': {'x': 0.0, 'y': 0.0, 'z': np.sin(yaw / 2), 'w': np.cos(yaw / 2)}},
                         'covariance': [0.0] * 36},
                'twist': {'twist': {'linear': zero3, 'angular': {'x': 0.0, 'y': 0.0, 'z': 0.8}}, 'covariance': [0.0] * 36}},
                log_time=int(t * ns) + 3)
        w.write_message('/vla/command', s_str, {'data': ''}, log_time=int((t0 + 0.1 * n_frames + 0.1) * ns))
        w.finish()


def test_bag_to_dataset(tmp_path):
    from vla_core.embodiment import load_embodiment
    from vla_learning.mcap_import import import_bags
    emb = load_embodiment('vla_humanoid')
    bag = tmp_path / 'demo.mcap'
    write_bag(bag, emb.joint_names)
    counts = import_bags([bag], tmp_path / 'ds', image_size=16, task_name='turn_left', val_fraction=0.0)
    assert counts['episodes'] == 1 and counts['images_rejected'] == 0
    ds = LeRobotDataset(tmp_path / 'ds')
    assert ds.tasks == ['turn left'] and ds.num_episodes == 1
    assert 10 <= ds.total_frames <= 13
    wz = [d.name for d in emb.dims].index('base_angular_z')
    np.testing.assert_allclose(ds.frames[ACTION_KEY][:, wz], 0.8, atol=1e-6)
    assert ds.images([0]).shape == (1, 16, 16, 3)
    assert ds.episodes_rows()[0]['source'] == 'mcap'
    from vla_learning.dataset import BASE_POSE_KEY
    pose = ds.frames[BASE_POSE_KEY]
    assert np.isfinite(pose).all() and np.all(np.diff(pose[:, 2]) >= 0), 'the odometry of the turn, frame by frame'
    np.testing.assert_allclose(pose[-1], [0.0, 0.11, 0.88], atol=1e-5)
