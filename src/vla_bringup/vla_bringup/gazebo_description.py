"""The humanoid for Gazebo Harmonic: the shared URDF plus a `<gazebo>` overlay, made at launch time.

The URDF in vla_description is shared with the MuJoCo simulator and stays Gazebo-free. This
module reads the robot with vla_description's URDF reader (``parse_urdf``) and inserts what Gazebo
needs into the URDF's text (plain Python + NumPy, no ROS; tested without Gazebo):

* a camera on the head camera link (rgb8, the size, field of view and rate of vla_sim's camera),
  whose images carry the ROS optical frame as frame_id (``gz_frame_id``);
* a gpu_lidar on the laser link (a full turn, vla_sim's beams, range and noise), blind to the
  robot's own visuals (visibility mask), as vla_sim's scan is;
* JointStatePublisher (every joint), OdometryPublisher (odom -> base_footprint);
* VelocityControl on the model: Twist commands (linear.x, linear.y, angular.z, base frame) set the
  model's velocity every step. That is a planar velocity-controlled base, not walking: there is
  no balance controller. Gravity is off for the robot's links (vla_sim's planar base at a fixed
  height with gravity-compensated servos, in Gazebo terms), so the feet hover 5 mm above the floor;
* one JointPositionController per commanded joint (the embodiment's ``joint/<name>`` targets),
  each on its own gz topic, moving at up to the URDF velocity limit; the other movable joints
  (the legs) get one too, holding 0, with no bridged topic.

    urdf = gazebo_urdf(read_urdf(), commanded_joints('vla_humanoid'))     # robot_description

The gz topics are :class:`GzTopics`; config/gz_bridge.yaml bridges them (test_gz_bridge_config.py
checks that the two agree).
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from vla_description.urdf_info import Joint, Robot, UrdfError, parse_urdf

#: the model's name in Gazebo; config/gz_bridge.yaml's gz topics contain it
MODEL_NAME = 'vla_humanoid'

#: visibility bit carried by every robot visual; the lidar's mask leaves it out (self-masking)
ROBOT_VISIBILITY_BIT = 0x00010000
_ALL_VISIBLE = 0xFFFFFFFF

_OVERLAY_MARK = 'vla_bringup.gazebo_description overlay'


class GazeboDescriptionError(UrdfError):
    """The URDF or the configuration does not fit the overlay; the message says what to change.
    A UrdfError (a ValueError); the URDF reader's own errors come out as this type too."""


@dataclass(frozen=True)
class GzTopics:
    """gz-transport topics of one model (absolute; config/gz_bridge.yaml maps them to ROS names)."""

    model_name: str = MODEL_NAME

    @property
    def prefix(self) -> str:
        return f'/model/{self.model_name}'

    @property
    def image(self) -> str:
        return f'{self.prefix}/camera/image_raw'

    @property
    def camera_info(self) -> str:     # gz-sensors: the image topic's parent + /camera_info
        return f'{self.prefix}/camera/camera_info'

    @property
    def scan(self) -> str:
        return f'{self.prefix}/scan'

    @property
    def joint_states(self) -> str:
        return f'{self.prefix}/joint_states'

    @property
    def cmd_vel(self) -> str:
        return f'{self.prefix}/cmd_vel'

    @property
    def odometry(self) -> str:
        return f'{self.prefix}/odometry'

    @property
    def tf(self) -> str:
        return f'{self.prefix}/tf'

    def joint_command(self, joint: str) -> str:
        return f'{self.prefix}/joint/{joint}/cmd_pos'


@dataclass(frozen=True)
class GazeboConfig:
    """What the overlay adds. Defaults match vla_sim's sim_node.yaml and model_builder.ModelConfig.

    Sensors
      camera_link, camera_frame: link that carries the camera; frame_id of its images (ROS optical
                        frame, a fixed child of camera_link). The sensor sits at camera_frame's
                        origin and looks along camera_link's +x (Gazebo's camera convention).
      camera_width, camera_height: px. camera_fovy_deg: vertical field of view (Gazebo takes the
                        horizontal one; it is derived from the aspect ratio). camera_rate: Hz.
      camera_near, camera_far: clip planes, m.
      laser_link:       link that carries the lidar; also the scans' frame_id.
      scan_rate (Hz), scan_beams (over a full turn), scan_range_min/max (m), scan_noise_std (m).
    Systems
      joint_state_rate: Hz (honoured by gz-sim releases whose JointStatePublisher has
                        <update_rate>; older ones publish every physics step).
      odom_rate:        Hz. odom_frame / base_frame: the odometry's frames (REP 105).
      weightless:       gravity off for the robot's links (see the module docstring).
      hold_other_joints: a JointPositionController holding 0 on every movable joint that is
                        not commanded (the legs).
    """

    model_name: str = MODEL_NAME
    camera_link: str = 'head_camera_link'
    camera_frame: str = 'head_camera_optical_frame'
    camera_width: int = 320
    camera_height: int = 240
    camera_fovy_deg: float = 70.0
    camera_rate: float = 15.0
    camera_near: float = 0.03
    camera_far: float = 20.0
    laser_link: str = 'laser'
    scan_rate: float = 10.0
    scan_beams: int = 360
    scan_range_min: float = 0.1
    scan_range_max: float = 10.0
    scan_noise_std: float = 0.01
    joint_state_rate: float = 50.0
    odom_rate: float = 50.0
    odom_frame: str = 'odom'
    base_frame: str = 'base_footprint'
    weightless: bool = True
    hold_other_joints: bool = True

    def __post_init__(self) -> None:
        if self.camera_width < 1 or self.camera_height < 1:
            raise GazeboDescriptionError(f'GazeboConfig: camera size must be positive, got '
                                         f'{self.camera_width}x{self.camera_height}')
        if not 1.0 <= self.camera_fovy_deg <= 170.0:
            raise GazeboDescriptionError(f'GazeboConfig.camera_fovy_deg must be in [1, 170], '
                                         f'got {self.camera_fovy_deg}')
        if self.horizontal_fov > 6.283:
            raise GazeboDescriptionError(f'GazeboConfig: horizontal field of view {self.horizontal_fov:.3f} rad '
                                         f'exceeds a full turn; lower camera_fovy_deg or the aspect ratio')
        if not 0.0 < self.camera_near < self.camera_far:
            raise GazeboDescriptionError('GazeboConfig needs 0 < camera_near < camera_far')
        if self.scan_beams < 2:
            raise GazeboDescriptionError(f'GazeboConfig.scan_beams must be >= 2, got {self.scan_beams}')
        if not 0.0 <= self.scan_range_min < self.scan_range_max:
            raise GazeboDescriptionError('GazeboConfig needs 0 <= scan_range_min < scan_range_max')
        for name in ('camera_rate', 'scan_rate', 'joint_state_rate', 'odom_rate'):
            if not getattr(self, name) > 0:
                raise GazeboDescriptionError(f'GazeboConfig.{name} must be > 0 Hz')

    @property
    def horizontal_fov(self) -> float:
        """rad, from the vertical field of view and the aspect ratio (pinhole camera)."""
        half = math.radians(self.camera_fovy_deg) / 2.0
        return 2.0 * math.atan(math.tan(half) * self.camera_width / self.camera_height)

    @property
    def scan_angles(self) -> tuple[float, float]:
        """(min_angle, max_angle): a full turn from -pi, the last beam one step short of +pi (as vla_sim)."""
        return -math.pi, math.pi - 2.0 * math.pi / self.scan_beams

    @property
    def topics(self) -> GzTopics:
        return GzTopics(self.model_name)


def commanded_joints(embodiment: str = MODEL_NAME) -> tuple[str, ...]:
    """Joint names an embodiment (bundled name or YAML path) commands, in its order."""
    from vla_core.embodiment import load_embodiment   # NumPy + PyYAML only
    return tuple(load_embodiment(embodiment).joint_names)


def gazebo_urdf(urdf: str, joints: tuple[str, ...] | list[str], config: GazeboConfig | None = None) -> str:
    """``urdf`` with the `<gazebo>` overlay inserted before `</robot>`; comments and layout are kept.

    ``joints``: the commanded joints (each gets a position controller on ``topics.joint_command``).
    Raises GazeboDescriptionError when a link or joint is missing or the URDF has an overlay already.
    """
    config = config or GazeboConfig()
    robot = _read(urdf)
    if 'gazebo' in robot.extensions or _OVERLAY_MARK in urdf:
        raise GazeboDescriptionError('the URDF already has <gazebo> elements; the overlay goes on the plain '
                                     'URDF (vla_description keeps it Gazebo-free)')
    links = robot.links
    movable = {name: j for name, j in robot.joints.items() if j.movable}
    for what, name in (('camera_link', config.camera_link), ('camera_frame', config.camera_frame),
                       ('laser_link', config.laser_link), ('base_frame', config.base_frame)):
        if name not in links:
            raise GazeboDescriptionError(f"GazeboConfig.{what} '{name}' is not a link of the URDF; "
                                         f"links: {', '.join(sorted(links))}")
    joints = tuple(joints)
    if not joints:
        raise GazeboDescriptionError('no commanded joints: pass the embodiment joint names (commanded_joints())')
    unknown = [j for j in joints if j not in movable]
    if unknown:
        raise GazeboDescriptionError(f'commanded joints {unknown} are not movable joints of the URDF; '
                                     f"movable: {', '.join(sorted(movable))}")
    if len(set(joints)) != len(joints):
        raise GazeboDescriptionError(f'commanded joints repeat: {list(joints)}')

    elements = [_robot_link_extension(name, config) for name in links]
    elements += [_camera(config, _camera_offset(robot, config)), _lidar(config)]
    systems = ET.Element('gazebo')
    systems.extend([_joint_state_publisher(config), _odometry_publisher(config), _velocity_control(config)])
    systems.append(ET.Comment(' commanded joints: targets from ROS joint_commands via joint_command_relay '
                              '+ ros_gz_bridge (config/gz_bridge.yaml) '))
    for j in joints:
        systems.append(_position_controller(j, movable[j], config, config.topics.joint_command(j)))
    held = [j for j in movable if j not in joints] if config.hold_other_joints else []
    if held:
        systems.append(ET.Comment(' held at 0 (not bridged) '))
    for j in held:
        systems.append(_position_controller(j, movable[j], config, None))
    elements.append(systems)

    for el in elements:
        ET.indent(el, space='  ', level=1)
    body = '\n\n  '.join(ET.tostring(el, encoding='unicode') for el in elements)
    overlay = (f'\n  <!-- ===== {_OVERLAY_MARK} (Gazebo Harmonic): sensors, systems, '
               f'{len(joints)} commanded joints ===== -->\n  {body}\n\n')
    end = urdf.rfind('</robot>')
    out = urdf[:end].rstrip() + '\n' + overlay + urdf[end:]
    _read(out)   # still a well-formed URDF
    return out


def laser_pose_in_base(urdf: str, laser_link: str = 'laser', base_link: str = 'base_link') -> list[float]:
    """[x, y, yaw] of ``laser_link`` in ``base_link`` (vla_safety's ``scan_pose``), from the URDF at q = 0."""
    import numpy as np
    robot = parse_urdf(urdf)
    t = np.linalg.inv(robot.link_pose(base_link)) @ robot.link_pose(laser_link)
    return [round(float(t[0, 3]), 6), round(float(t[1, 3]), 6), round(math.atan2(t[1, 0], t[0, 0]), 6)]


# -- pieces ------------------------------------------------------------------------------------------
def _read(text: str) -> Robot:
    """The robot, read by vla_description's URDF reader; its errors as GazeboDescriptionError."""
    try:
        return parse_urdf(text)
    except UrdfError as exc:
        raise GazeboDescriptionError(str(exc)) from None


def _sub(parent: ET.Element, tag: str, text=None, **attrs) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = _fmt(text)
    return el


def _fmt(v) -> str:
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, float):
        return f'{v:.9g}'
    if isinstance(v, (tuple, list)):
        return ' '.join(_fmt(x) for x in v)
    return str(v)


def _robot_link_extension(link: str, c: GazeboConfig) -> ET.Element:
    """Per link: hidden from the lidar (visibility flag), weightless if configured."""
    g = ET.Element('gazebo', reference=link)
    if c.weightless:
        _sub(g, 'turnGravityOff', True)
    vis = _sub(g, 'visual')
    _sub(vis, 'visibility_flags', ROBOT_VISIBILITY_BIT)
    return g


def _camera_offset(robot: Robot, c: GazeboConfig) -> tuple[float, float, float]:
    """Translation of camera_frame in camera_link (the optical frame's fixed joint origin)."""
    for j in robot.joints.values():
        if j.parent == c.camera_link and j.child == c.camera_frame:
            if j.type != 'fixed':
                raise GazeboDescriptionError(f"joint '{j.name}' between {c.camera_link} and "
                                             f'{c.camera_frame} must be fixed')
            return tuple(float(v) for v in j.origin[:3, 3])
    raise GazeboDescriptionError(f"'{c.camera_frame}' must be a fixed child of '{c.camera_link}'")


def _camera(c: GazeboConfig, offset: tuple[float, float, float]) -> ET.Element:
    g = ET.Element('gazebo', reference=c.camera_link)
    s = _sub(g, 'sensor', name='head_camera', type='camera')
    _sub(s, 'pose', (*offset, 0.0, 0.0, 0.0))            # at the optical frame, looking along +x
    _sub(s, 'topic', c.topics.image)
    _sub(s, 'gz_frame_id', c.camera_frame)               # frame_id of image + camera_info
    _sub(s, 'update_rate', float(c.camera_rate))
    _sub(s, 'always_on', True)
    _sub(s, 'visualize', False)
    cam = _sub(s, 'camera', name='head_camera')
    _sub(cam, 'horizontal_fov', c.horizontal_fov)
    img = _sub(cam, 'image')
    _sub(img, 'width', c.camera_width)
    _sub(img, 'height', c.camera_height)
    _sub(img, 'format', 'R8G8B8')                        # -> sensor_msgs/Image rgb8
    clip = _sub(cam, 'clip')
    _sub(clip, 'near', float(c.camera_near))
    _sub(clip, 'far', float(c.camera_far))
    return g


def _lidar(c: GazeboConfig) -> ET.Element:
    g = ET.Element('gazebo', reference=c.laser_link)
    s = _sub(g, 'sensor', name='waist_lidar', type='gpu_lidar')
    _sub(s, 'pose', (0.0, 0.0, 0.0, 0.0, 0.0, 0.0))
    _sub(s, 'topic', c.topics.scan)
    _sub(s, 'gz_frame_id', c.laser_link)
    _sub(s, 'update_rate', float(c.scan_rate))
    _sub(s, 'always_on', True)
    _sub(s, 'visualize', False)
    lidar = _sub(s, 'lidar')
    scan = _sub(lidar, 'scan')
    h = _sub(scan, 'horizontal')
    lo, hi = c.scan_angles
    _sub(h, 'samples', c.scan_beams)
    _sub(h, 'resolution', 1)
    _sub(h, 'min_angle', lo)
    _sub(h, 'max_angle', hi)
    v = _sub(scan, 'vertical')
    _sub(v, 'samples', 1)
    _sub(v, 'resolution', 1)
    _sub(v, 'min_angle', 0.0)
    _sub(v, 'max_angle', 0.0)
    rng = _sub(lidar, 'range')
    _sub(rng, 'min', float(c.scan_range_min))
    _sub(rng, 'max', float(c.scan_range_max))
    _sub(rng, 'resolution', 0.01)
    noise = _sub(lidar, 'noise')
    _sub(noise, 'type', 'gaussian')
    _sub(noise, 'mean', 0.0)
    _sub(noise, 'stddev', float(c.scan_noise_std))
    _sub(lidar, 'visibility_mask', _ALL_VISIBLE & ~ROBOT_VISIBILITY_BIT)
    return g


def _plugin(filename: str, name: str) -> ET.Element:
    return ET.Element('plugin', filename=filename, name=name)


def _joint_state_publisher(c: GazeboConfig) -> ET.Element:
    p = _plugin('gz-sim-joint-state-publisher-system', 'gz::sim::systems::JointStatePublisher')
    _sub(p, 'topic', c.topics.joint_states)
    _sub(p, 'update_rate', float(c.joint_state_rate))
    return p


def _odometry_publisher(c: GazeboConfig) -> ET.Element:
    p = _plugin('gz-sim-odometry-publisher-system', 'gz::sim::systems::OdometryPublisher')
    _sub(p, 'odom_frame', c.odom_frame)
    _sub(p, 'robot_base_frame', c.base_frame)
    _sub(p, 'odom_publish_frequency', float(c.odom_rate))
    _sub(p, 'odom_topic', c.topics.odometry)
    _sub(p, 'tf_topic', c.topics.tf)
    _sub(p, 'dimensions', 2)
    return p


def _velocity_control(c: GazeboConfig) -> ET.Element:
    p = _plugin('gz-sim-velocity-control-system', 'gz::sim::systems::VelocityControl')
    _sub(p, 'topic', c.topics.cmd_vel)     # gz.msgs.Twist in the base frame; held until the next one
    return p


def _position_controller(joint: str, j: Joint, c: GazeboConfig, topic: str | None) -> ET.Element:
    """Position servo by velocity commands (no PID tuning): moves to the target at up to the URDF velocity limit
    (1 rad/s or m/s where the URDF gives none)."""
    vmax = j.velocity if math.isfinite(j.velocity) else 1.0
    p = _plugin('gz-sim-joint-position-controller-system', 'gz::sim::systems::JointPositionController')
    _sub(p, 'joint_name', joint)
    _sub(p, 'topic', topic or c.topics.joint_command(joint))
    _sub(p, 'use_velocity_commands', True)
    _sub(p, 'cmd_max', vmax)
    _sub(p, 'cmd_min', -vmax)
    _sub(p, 'initial_position', 0.0)
    return p
