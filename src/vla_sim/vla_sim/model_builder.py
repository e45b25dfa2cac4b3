"""URDF -> MuJoCo: the humanoid from vla_description, on a planar base, in an arena.

The robot comes from the same URDF that robot_state_publisher reads (MuJoCo's URDF importer,
then edited through MjSpec):

* a planar base on ``base_footprint``: slide x, slide y, hinge yaw (world frame), driven by
  three velocity actuators that act in the base frame, so their controls are a Twist's
  (linear.x, linear.y, angular.z);
* one position actuator per movable URDF joint (the commanded head and arm joints, and the
  legs, which are held at their targets), force-limited to the URDF efforts, critically
  damped, with gravity compensation like a real servo's integral term;
* the RGB(-D) camera on ``head_camera_optical_frame`` (MuJoCo cameras look along -z with +y
  up; the optical frame looks along +z with +y down, hence a half turn about x);
* sites for the lidar (``laser``), the hands and the top of the head.

The world: a floor, four walls, and one mocap body per colour x shape pair (world.py),
parked under the floor until a :class:`~vla_sim.world.World` places it.

Geom groups (renderer visibility and ray-cast filters):
    0 floor and walls, 1 objects, 2 robot.
Contacts: the robot collides with objects and walls, not with itself or the floor
(it hovers 5 mm above the floor; nothing balances).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import mujoco
import numpy as np

from vla_description import read_urdf
from vla_description.urdf_info import parse_urdf
from vla_sim.world import ALL_OBJECTS, COLOURS, SHAPES, WorldConfig

GROUP_STATIC, GROUP_OBJECTS, GROUP_ROBOT = 0, 1, 2
CONTACT_ROBOT = 2              # robot geoms' contype; objects and walls carry it in conaffinity
HIDDEN_Z = -2.0                # objects not in the scene wait under the floor

BASE_JOINTS = ('base_x', 'base_y', 'base_yaw')
CAMERA_NAME = 'head_camera'
CAMERA_FRAME = 'head_camera_optical_frame'
LASER_FRAME = 'laser'


@dataclass(frozen=True)
class ModelConfig:
    """Physics and actuation. SI units.

    timestep:            physics step, s (the lockstep control period is a multiple of it).
    camera_fovy_deg:     vertical field of view of the head camera (70 deg -> 86 deg across 4:3).
    base_max_twist:      |vx|, |vy| (m/s), |wz| (rad/s) limits: the embodiment's bounds.
    base_kv:             velocity-actuator gains (N/(m/s), N/(m/s), Nm/(rad/s)); ~25 ms to reach a command.
    base_force_limit:    N, N, Nm (what the base can push with when it hits something).
    kp:                  position gain per joint-name prefix (Nm/rad); the longest matching prefix wins.
    armature:            rotor inertia added to every robot joint (kg m^2): steadies stiff servos.
    gravity_compensation: the servos cancel gravity on the limbs (no steady-state sag).
    offscreen_size:      (width, height) of the largest image the renderer may be asked for.
    """

    timestep: float = 0.005
    camera_fovy_deg: float = 70.0
    base_max_twist: tuple[float, float, float] = (0.5, 0.3, 1.0)
    base_kv: tuple[float, float, float] = (1600.0, 1600.0, 60.0)
    base_force_limit: tuple[float, float, float] = (600.0, 600.0, 120.0)
    kp: dict[str, float] = field(default_factory=lambda: {
        'head_': 30.0, 'left_shoulder': 200.0, 'right_shoulder': 200.0, 'left_elbow': 80.0,
        'right_elbow': 80.0, 'left_': 300.0, 'right_': 300.0})
    armature: float = 0.01
    gravity_compensation: bool = True
    offscreen_size: tuple[int, int] = (640, 480)

    def __post_init__(self) -> None:
        if not (0 < self.timestep <= 0.02):
            raise ValueError(f'ModelConfig.timestep must be in (0, 0.02] s, got {self.timestep}')
        if not (10.0 <= self.camera_fovy_deg <= 150.0):
            raise ValueError(f'ModelConfig.camera_fovy_deg must be in [10, 150], got {self.camera_fovy_deg}')

    def gain(self, joint: str) -> float:
        best = max((p for p in self.kp if joint.startswith(p)), key=len, default=None)
        if best is None:
            raise ValueError(f"no kp for joint '{joint}'; add a prefix of it to ModelConfig.kp")
        return self.kp[best]


def _urdf_for_mujoco(urdf_text: str) -> str:
    """Tell MuJoCo's URDF importer to keep every link as a body (frames we need are fixed links)
    and to drop the visual copies of the collision geometry (they are identical)."""
    ext = '<mujoco><compiler fusestatic="false" discardvisual="true" strippath="false" angle="radian"/></mujoco>'
    i = urdf_text.find('>', urdf_text.find('<robot'))
    if i < 0:
        raise ValueError('not a URDF: no <robot> element')
    return urdf_text[:i + 1] + ext + urdf_text[i + 1:]


def build_spec(urdf_text: str, world: WorldConfig | None = None, config: ModelConfig | None = None) -> mujoco.MjSpec:
    """The complete MjSpec (robot + arena + all objects parked), not yet compiled."""
    world = world or WorldConfig()
    config = config or ModelConfig()
    spec = mujoco.MjSpec.from_string(_urdf_for_mujoco(urdf_text))
    spec.modelname = 'vla_humanoid_arena'
    spec.compiler.discardvisual = False    # the URDF's visual copies are gone; keep the arena's materials
    spec.option.timestep = config.timestep
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.visual.global_.offwidth, spec.visual.global_.offheight = config.offscreen_size
    spec.visual.quality.shadowsize = 0
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.45, 0.45, 0.45]
    # clip planes are fractions of the model extent; fix it so they do not depend on the layout
    spec.stat.extent = 2.0 * world.arena_half_size
    spec.stat.center = [0.0, 0.0, 0.5]
    spec.visual.map.znear = 0.03 / spec.stat.extent   # 3 cm
    spec.visual.map.zfar = 4.0                         # x extent: beyond the arena's diagonal
    _edit_robot(spec, config)
    _add_arena(spec, world)
    _add_objects(spec)
    return spec


def _edit_robot(spec: mujoco.MjSpec, config: ModelConfig) -> None:
    base = spec.body('base_footprint')
    if base is None:
        raise ValueError("the URDF has no 'base_footprint' link (REP 105); the planar base attaches there")
    movable = [j.name for j in spec.joints]   # the URDF's revolute joints, before the base's are added
    for name, axis, jtype in (('base_x', (1, 0, 0), mujoco.mjtJoint.mjJNT_SLIDE),
                              ('base_y', (0, 1, 0), mujoco.mjtJoint.mjJNT_SLIDE),
                              ('base_yaw', (0, 0, 1), mujoco.mjtJoint.mjJNT_HINGE)):
        base.add_joint(name=name, type=jtype, axis=list(axis))
    base.add_site(name='base', pos=[0, 0, 0])
    # robot geoms: group 2, collide with objects/walls only
    for g in spec.geoms:
        g.group, g.contype, g.conaffinity = GROUP_ROBOT, CONTACT_ROBOT, 0
        g.condim, g.friction = 3, [0.6, 0.005, 0.0001]
    for b in spec.bodies:
        if b.name not in ('world', 'base_footprint') and config.gravity_compensation:
            b.gravcomp = 1.0
    # frames the tasks and sensors read
    cam_body = spec.body(CAMERA_FRAME)
    if cam_body is None or spec.body(LASER_FRAME) is None:
        raise ValueError(f"the URDF needs links '{CAMERA_FRAME}' and '{LASER_FRAME}'")
    # MuJoCo camera = optical frame turned half a turn about x (looks along -z, +y up)
    cam_body.add_camera(name=CAMERA_NAME, quat=[0, 1, 0, 0], fovy=config.camera_fovy_deg)
    spec.body(LASER_FRAME).add_site(name='laser', pos=[0, 0, 0])
    for side in ('left', 'right'):
        spec.body(f'{side}_hand_link').add_site(name=f'{side}_hand', pos=[0, 0, 0])
        spec.body(f'{side}_shoulder_link').add_site(name=f'{side}_shoulder', pos=[0, 0, 0])
    head = spec.body('head')
    sphere = next(g for g in head.geoms if g.type == mujoco.mjtGeom.mjGEOM_SPHERE)
    head.add_site(name='head_top', pos=[sphere.pos[0], sphere.pos[1], sphere.pos[2] + sphere.size[0]])
    # base: velocity actuators acting in the base frame (site transmission on base_footprint)
    for name, gear, lim, kv, force in zip(
            ('base_linear_x', 'base_linear_y', 'base_angular_z'),
            ([1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1]),
            config.base_max_twist, config.base_kv, config.base_force_limit):
        a = spec.add_actuator(name=name, target='base', trntype=mujoco.mjtTrn.mjTRN_SITE, gear=gear)
        a.set_to_velocity(kv=kv)
        a.ctrllimited, a.ctrlrange = True, [-lim, lim]
        a.forcelimited, a.forcerange = True, [-force, force]
    # joints: position servos, critically damped, limited to the URDF's range and effort
    for jn in movable:
        j = spec.joint(jn)
        j.armature = config.armature
        effort = float(j.actfrcrange[1]) if j.actfrclimited != mujoco.mjtLimited.mjLIMITED_FALSE else 100.0
        a = spec.add_actuator(name=jn, target=jn, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        a.set_to_position(kp=config.gain(jn), dampratio=1.0)
        a.ctrllimited, a.ctrlrange = True, list(j.range)
        a.forcelimited, a.forcerange = True, [-effort, effort]


def _add_arena(spec: mujoco.MjSpec, world: WorldConfig) -> None:
    h = world.arena_half_size
    tex = spec.add_texture(name='floor_tex', type=mujoco.mjtTexture.mjTEXTURE_2D,
                           builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
                           rgb1=[0.56, 0.56, 0.54], rgb2=[0.44, 0.44, 0.43], width=64, height=64)
    mat = spec.add_material(name='floor_mat', texrepeat=[1, 1], texuniform=True)   # 0.5 m squares
    spec.add_texture(name='sky', type=mujoco.mjtTexture.mjTEXTURE_SKYBOX, builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
                     rgb1=[0.75, 0.82, 0.90], rgb2=[0.35, 0.42, 0.52], width=64, height=64)
    mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = tex.name
    wb = spec.worldbody
    wb.add_geom(name='floor', type=mujoco.mjtGeom.mjGEOM_PLANE, size=[h + 0.5, h + 0.5, 0.1],
                material='floor_mat', group=GROUP_STATIC, contype=1, conaffinity=1)
    wall_h, t = 1.2, 0.1
    for name, pos, size in (('wall_north', (h + t, 0), (t, h + 2 * t)), ('wall_south', (-h - t, 0), (t, h + 2 * t)),
                            ('wall_west', (0, h + t), (h + 2 * t, t)), ('wall_east', (0, -h - t), (h + 2 * t, t))):
        wb.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_BOX, pos=[pos[0], pos[1], wall_h / 2],
                    size=[size[0], size[1], wall_h / 2], rgba=[0.78, 0.76, 0.72, 1], group=GROUP_STATIC,
                    contype=0, conaffinity=CONTACT_ROBOT)
    wb.add_light(name='sun', pos=[0, 0, 6], dir=[0.3, 0.2, -1], diffuse=[0.6, 0.6, 0.6],
                 specular=[0.1, 0.1, 0.1], castshadow=False, type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL)


def _add_objects(spec: mujoco.MjSpec) -> None:
    kinds = {'box': mujoco.mjtGeom.mjGEOM_BOX, 'ball': mujoco.mjtGeom.mjGEOM_SPHERE,
             'cylinder': mujoco.mjtGeom.mjGEOM_CYLINDER}
    for i, name in enumerate(ALL_OBJECTS):
        colour, shape = name.split('_')
        size = list(SHAPES[shape]) + [0.0] * (3 - len(SHAPES[shape]))
        body = spec.worldbody.add_body(name=name, mocap=True, pos=[i * 0.7 - 4.0, 0, HIDDEN_Z])
        body.add_geom(name=name, type=kinds[shape], size=size, rgba=[*COLOURS[colour], 1.0],
                      group=GROUP_OBJECTS, contype=0, conaffinity=CONTACT_ROBOT, friction=[0.6, 0.005, 0.0001])


@dataclass(frozen=True)
class ModelIndex:
    """Ids and addresses of everything the simulator reads or writes, resolved once."""

    joint_names: tuple[str, ...]          # movable URDF joints (model order)
    joint_qpos: np.ndarray                # qpos address per joint
    joint_dof: np.ndarray                 # dof address per joint
    joint_ctrl: np.ndarray                # actuator id per joint
    joint_range: np.ndarray               # (n, 2)
    joint_max_velocity: np.ndarray        # rad/s, the URDF's <limit velocity>
    base_qpos: np.ndarray                 # x, y, yaw
    base_dof: np.ndarray
    base_ctrl: np.ndarray                 # vx, vy, wz actuators
    base_max_twist: np.ndarray
    camera: int
    laser_site: int
    hand_sites: dict[str, int]
    shoulder_sites: dict[str, int]
    head_top_site: int
    object_body: dict[str, int]
    object_mocap: dict[str, int]
    object_geom: dict[str, int]
    robot_geoms: np.ndarray               # bool mask over geoms
    floor_geom: int

    @classmethod
    def of(cls, m: mujoco.MjModel, max_velocity: dict[str, float] | None = None) -> 'ModelIndex':
        def jid(n):
            return mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n)

        def sid(n):
            return mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, n)

        def aid(n):
            return mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, n)

        names = tuple(m.joint(i).name for i in range(m.njnt) if m.joint(i).name not in BASE_JOINTS)
        base_body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, 'base_footprint')
        robot = np.array([m.body_rootid[m.geom_bodyid[g]] == base_body for g in range(m.ngeom)])
        objects = {n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, n) for n in ALL_OBJECTS}
        return cls(
            joint_names=names,
            joint_qpos=np.array([m.jnt_qposadr[jid(n)] for n in names]),
            joint_dof=np.array([m.jnt_dofadr[jid(n)] for n in names]),
            joint_ctrl=np.array([aid(n) for n in names]),
            joint_range=np.array([m.jnt_range[jid(n)] for n in names]),
            joint_max_velocity=np.array([(max_velocity or {}).get(n, np.inf) for n in names]),
            base_qpos=np.array([m.jnt_qposadr[jid(n)] for n in BASE_JOINTS]),
            base_dof=np.array([m.jnt_dofadr[jid(n)] for n in BASE_JOINTS]),
            base_ctrl=np.array([aid(n) for n in ('base_linear_x', 'base_linear_y', 'base_angular_z')]),
            base_max_twist=np.array([m.actuator_ctrlrange[aid(n)][1]
                                     for n in ('base_linear_x', 'base_linear_y', 'base_angular_z')]),
            camera=mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_CAMERA, CAMERA_NAME),
            laser_site=sid('laser'),
            hand_sites={s: sid(f'{s}_hand') for s in ('left', 'right')},
            shoulder_sites={s: sid(f'{s}_shoulder') for s in ('left', 'right')},
            head_top_site=sid('head_top'),
            object_body=objects,
            object_mocap={n: int(m.body_mocapid[b]) for n, b in objects.items()},
            object_geom={n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, n) for n in ALL_OBJECTS},
            robot_geoms=robot,
            floor_geom=mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, 'floor'),
        )


def build_model(urdf_text: str | None = None, world: WorldConfig | None = None,
                config: ModelConfig | None = None) -> tuple[mujoco.MjModel, ModelIndex]:
    """Compile the humanoid (default: vla_description's URDF) in its arena.

    The URDF is read by vla_description's reader first (its UrdfError says what to fix; it gives
    the velocity limits MuJoCo has no place for), then by MuJoCo's importer (the model)."""
    if urdf_text is None:
        urdf_text = read_urdf()
    robot = parse_urdf(urdf_text)
    model = build_spec(urdf_text, world, config).compile()
    return model, ModelIndex.of(model, {j.name: j.velocity for j in robot.joints.values() if j.movable})


def yaw_quat(yaw: float) -> np.ndarray:
    return np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])
