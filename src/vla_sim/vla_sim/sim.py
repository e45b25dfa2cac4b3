"""The embedded simulator: the humanoid in its arena, stepped by the caller.

No ROS and no clocks: time advances only when :meth:`HumanoidSim.step` is called, so the same
object serves the real-time ROS node and the lockstep evaluation loop.

    sim = HumanoidSim()
    world = sim.reset(seed=3)                     # a random layout of coloured objects
    sim.set_base_twist(0.3, 0.0, 0.2)             # base frame, m/s and rad/s (clamped to limits)
    sim.set_joint_targets({'left_shoulder_pitch_joint': -2.8})
    sim.step(0.1)
    image = sim.render(96, 96)                    # head camera, H x W x 3 uint8 RGB
    ranges = sim.scan()                           # waist lidar
    state = sim.state()                           # true state (for success checks and the expert)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping

import mujoco
import numpy as np

from vla_core.policy import PlanarScan
from vla_sim.model_builder import CAMERA_NAME, HIDDEN_Z, ModelConfig, build_model, yaw_quat
from vla_sim.rendering import CameraIntrinsics, CameraRenderer
from vla_sim.scan import LaserScanner, ScanConfig
from vla_sim.world import World, WorldConfig, WorldObject, sample_world

if TYPE_CHECKING:  # pragma: no cover
    from vla_sim.tasks import Task

#: joints the sim accepts targets for (head and arms); the legs are held at REST_POSE
COMMANDED_JOINTS = ('head_pan_joint', 'head_tilt_joint',
                    'left_shoulder_pitch_joint', 'left_shoulder_roll_joint', 'left_elbow_joint',
                    'right_shoulder_pitch_joint', 'right_shoulder_roll_joint', 'right_elbow_joint')
#: pose at reset: arms down, head tilted 0.3 rad down so the floor in front is in view
REST_POSE: Mapping[str, float] = MappingProxyType({'head_tilt_joint': 0.3})


@dataclass(frozen=True)
class SimConfig:
    """Everything that shapes the simulator. ``urdf_path`` None = vla_description's humanoid."""

    model: ModelConfig = field(default_factory=ModelConfig)
    world: WorldConfig = field(default_factory=WorldConfig)
    scan: ScanConfig = field(default_factory=ScanConfig)
    urdf_path: str | None = None
    #: joint targets move toward the commanded ones at the URDF's velocity limits, updated every
    #: this many physics steps (like a trajectory controller in front of the servos)
    slew_substeps: int = 4

    def __post_init__(self) -> None:
        if self.slew_substeps < 1:
            raise ValueError(f'SimConfig.slew_substeps must be >= 1, got {self.slew_substeps}')


@dataclass(frozen=True)
class SimState:
    """The simulator's true state at one instant (world frame unless stated; metres, radians)."""

    time: float
    base_pose: np.ndarray                   # x, y, yaw of base_footprint
    base_twist: np.ndarray                  # vx, vy (base frame, m/s), wz (rad/s)
    joint_positions: Mapping[str, float]
    joint_velocities: Mapping[str, float]
    hands: Mapping[str, np.ndarray]         # 'left' / 'right' -> palm centre
    shoulders: Mapping[str, np.ndarray]
    head_top: np.ndarray
    camera_position: np.ndarray
    camera_rotation: np.ndarray             # columns: optical x (right), y (down), z (forward)
    contacts: frozenset[str]                # objects / walls touching the robot now
    world: World

    def to_base(self, p) -> np.ndarray:
        """A world point -> base_footprint frame (x forward, y left)."""
        x, y, yaw = self.base_pose
        d = np.asarray(p, dtype=float)[:2] - (x, y)
        c, s = math.cos(yaw), math.sin(yaw)
        out = np.array([c * d[0] + s * d[1], -s * d[0] + c * d[1]])
        return np.append(out, np.asarray(p, dtype=float)[2]) if len(p) > 2 else out

    def bearing(self, p) -> float:
        """Angle of world point ``p`` from the robot's heading, in (-pi, pi] (+ = to the left)."""
        b = self.to_base(p)
        return math.atan2(b[1], b[0])


class HumanoidSim:
    """MuJoCo humanoid on a planar base, with a head camera and a waist lidar."""

    def __init__(self, config: SimConfig | None = None, urdf_text: str | None = None) -> None:
        self.config = config or SimConfig()
        if urdf_text is None and self.config.urdf_path:
            with open(self.config.urdf_path) as f:
                urdf_text = f.read()
        self.model, self.index = build_model(urdf_text, self.config.world, self.config.model)
        self.data = mujoco.MjData(self.model)
        self.camera = CameraRenderer(self.model, CAMERA_NAME)
        self.lidar = LaserScanner(self.model, self.index.laser_site, self.config.scan)
        self.physics_steps = 0
        self.world: World | None = None
        self.task: 'Task | None' = None
        self._noise = np.random.default_rng(0)
        self._name_to_i = {n: i for i, n in enumerate(self.index.joint_names)}
        self._geom_names = [self.model.geom(g).name for g in range(self.model.ngeom)]
        self._default_rgba = self.model.geom_rgba.copy()
        self.reset(world=World(None, (0.0, 0.0, 0.0), ()))

    # -- episode ------------------------------------------------------------------------------
    @property
    def time(self) -> float:
        return float(self.data.time)

    @property
    def timestep(self) -> float:
        return float(self.model.opt.timestep)

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.index.joint_names

    def reset(self, seed: int | None = None, *, world: World | None = None,
              joint_positions: Mapping[str, float] | None = None) -> World:
        """Start over in ``world`` (default: :func:`sample_world(seed)`); returns the world.

        The robot stands at the world's start pose in :data:`REST_POSE` (updated by
        ``joint_positions``), at rest, with the base command zero; time restarts at 0.
        """
        if world is None:
            world = sample_world(seed, self.config.world)
        m, d, ix = self.model, self.data, self.index
        mujoco.mj_resetData(m, d)
        d.qpos[ix.base_qpos] = world.robot_start
        pose = dict(REST_POSE)
        pose.update(joint_positions or {})
        for name, q in pose.items():
            i = self._joint(name)
            lo, hi = ix.joint_range[i]
            d.qpos[ix.joint_qpos[i]] = min(max(q, lo), hi)
        d.ctrl[ix.joint_ctrl] = d.qpos[ix.joint_qpos]
        self._targets = d.qpos[ix.joint_qpos].copy()
        present = {o.name: o for o in world.objects}
        m.geom_rgba[:] = self._default_rgba
        for k, (name, mocap) in enumerate(ix.object_mocap.items()):
            o = present.get(name)
            if o is None:  # parked under the floor
                d.mocap_pos[mocap] = (k * 0.7 - 4.0, 0.0, HIDDEN_Z)
                d.mocap_quat[mocap] = (1, 0, 0, 0)
            else:
                d.mocap_pos[mocap] = o.position
                d.mocap_quat[mocap] = yaw_quat(o.yaw)
                m.geom_rgba[ix.object_geom[name]] = o.rgba
        mujoco.mj_forward(m, d)
        self.world = world
        self.task = None
        self._noise = np.random.default_rng(None if world.seed is None else world.seed + 7919)
        return world

    def place_object(self, obj: WorldObject) -> World:
        """Put ``obj`` into the scene now, or move it there if it is already in; returns the world.

        For obstacles that appear or move during a run (a mocap body: it goes where it is put,
        and the lidar, the cameras and the contacts see it from this instant). Time does not
        advance; ``self.world`` lists the object at its new place.
        """
        m, d, ix = self.model, self.data, self.index
        mocap = ix.object_mocap.get(obj.name)
        if mocap is None:
            raise KeyError(f"no object '{obj.name}' in the model; objects: {', '.join(ix.object_mocap)}")
        d.mocap_pos[mocap] = obj.position
        d.mocap_quat[mocap] = yaw_quat(obj.yaw)
        m.geom_rgba[ix.object_geom[obj.name]] = obj.rgba
        mujoco.mj_forward(m, d)
        others = tuple(o for o in self.world.objects if o.name != obj.name)
        self.world = replace(self.world, objects=others + (obj,))
        return self.world

    def remove_object(self, name: str) -> World:
        """Take the object ``name`` out of the scene now (parked under the floor); returns the world."""
        m, d, ix = self.model, self.data, self.index
        mocap = ix.object_mocap.get(name)
        if mocap is None:
            raise KeyError(f"no object '{name}' in the model; objects: {', '.join(ix.object_mocap)}")
        k = list(ix.object_mocap).index(name)
        d.mocap_pos[mocap] = (k * 0.7 - 4.0, 0.0, HIDDEN_Z)
        d.mocap_quat[mocap] = (1, 0, 0, 0)
        mujoco.mj_forward(m, d)
        self.world = replace(self.world, objects=tuple(o for o in self.world.objects if o.name != name))
        return self.world

    def set_task(self, task: 'Task | None') -> None:
        """The task being attempted (read by privileged policies such as the scripted expert)."""
        self.task = task

    def set_base_velocity_state(self, vx: float, vy: float, wz: float) -> None:
        """Make the base already move with this twist (and keep commanding it), e.g. to start a 'stop' task."""
        x, y, yaw = self.data.qpos[self.index.base_qpos]
        c, s = math.cos(yaw), math.sin(yaw)
        self.data.qvel[self.index.base_dof] = (c * vx - s * vy, s * vx + c * vy, wz)
        self.set_base_twist(vx, vy, wz)
        mujoco.mj_forward(self.model, self.data)

    # -- commands -----------------------------------------------------------------------------
    def set_base_twist(self, vx: float, vy: float, wz: float) -> tuple[float, float, float]:
        """Command the base velocity (base frame); returns the command after clamping to the limits.
        Non-finite values command zero."""
        lim = self.index.base_max_twist
        cmd = np.array([vx, vy, wz], dtype=float)
        cmd[~np.isfinite(cmd)] = 0.0
        cmd = np.clip(cmd, -lim, lim)
        self.data.ctrl[self.index.base_ctrl] = cmd
        return float(cmd[0]), float(cmd[1]), float(cmd[2])

    def set_joint_targets(self, targets: Mapping[str, float]) -> tuple[str, ...]:
        """Position targets for commanded joints, clamped to their limits. Returns the names that
        were ignored (unknown, held legs, or non-finite values)."""
        ignored = []
        ix = self.index
        for name, q in targets.items():
            i = self._name_to_i.get(name)
            if i is None or name not in COMMANDED_JOINTS or not math.isfinite(q):
                ignored.append(name)
                continue
            lo, hi = ix.joint_range[i]
            self._targets[i] = min(max(float(q), lo), hi)
        return tuple(ignored)

    def joint_targets(self) -> dict[str, float]:
        """The commanded targets (the servos' setpoints move toward them at the velocity limits)."""
        return {n: float(v) for n, v in zip(self.index.joint_names, self._targets)}

    # -- time -----------------------------------------------------------------------------------
    def step(self, duration: float | None = None, *, n_steps: int | None = None) -> None:
        """Advance physics by ``duration`` seconds (rounded to whole steps) or ``n_steps`` steps."""
        if n_steps is None:
            n_steps = max(1, int(round((duration or self.timestep) / self.timestep)))
        m, d, ix = self.model, self.data, self.index
        k = self.config.slew_substeps
        max_delta = ix.joint_max_velocity * self.timestep * k
        done = 0
        while done < n_steps:
            n = min(k, n_steps - done)
            setpoint = d.ctrl[ix.joint_ctrl]
            d.ctrl[ix.joint_ctrl] = setpoint + np.clip(self._targets - setpoint, -max_delta, max_delta)
            mujoco.mj_step(m, d, nstep=n)
            done += n
        self.physics_steps += n_steps

    # -- sensing ---------------------------------------------------------------------------------
    def joint_positions(self) -> dict[str, float]:
        q = self.data.qpos[self.index.joint_qpos]
        return {n: float(v) for n, v in zip(self.index.joint_names, q)}

    def joint_velocities(self) -> dict[str, float]:
        v = self.data.qvel[self.index.joint_dof]
        return {n: float(x) for n, x in zip(self.index.joint_names, v)}

    def joint_efforts(self) -> dict[str, float]:
        f = self.data.actuator_force[self.index.joint_ctrl]
        return {n: float(x) for n, x in zip(self.index.joint_names, f)}

    def base_pose(self) -> np.ndarray:
        """x, y, yaw of base_footprint in the world (odom) frame."""
        return self.data.qpos[self.index.base_qpos].copy()

    def base_twist(self) -> np.ndarray:
        """vx, vy (base frame) and wz."""
        yaw = self.data.qpos[self.index.base_qpos[2]]
        vxw, vyw, wz = self.data.qvel[self.index.base_dof]
        c, s = math.cos(yaw), math.sin(yaw)
        return np.array([c * vxw + s * vyw, -s * vxw + c * vyw, wz])

    def render(self, width: int = 320, height: int = 240) -> np.ndarray:
        """Head camera image, H x W x 3 uint8 RGB."""
        return self.camera.render(self.data, width, height)

    def render_depth(self, width: int = 320, height: int = 240) -> np.ndarray:
        """Head camera depth, H x W float32 metres (NaN = no return)."""
        return self.camera.render_depth(self.data, width, height)

    def camera_intrinsics(self, width: int = 320, height: int = 240) -> CameraIntrinsics:
        return CameraIntrinsics.from_fovy(float(self.model.cam_fovy[self.index.camera]), width, height)

    def scan(self, noisy: bool = True) -> np.ndarray:
        """Lidar ranges (float32, +inf = no return), beams as in ``self.lidar.config``."""
        return self.lidar.scan(self.data, self._noise if noisy else None)

    def planar_scan(self, noisy: bool = True) -> PlanarScan:
        """:meth:`scan` as a vla_core PlanarScan (the laser frame faces forward), as policies read it."""
        c = self.lidar.config
        return PlanarScan(self.scan(noisy), c.angle_min, c.angle_increment)

    def camera_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Position and rotation (columns: optical x right, y down, z forward) of the camera."""
        c = self.index.camera
        R_mj = self.data.cam_xmat[c].reshape(3, 3)
        return self.data.cam_xpos[c].copy(), R_mj * np.array([1.0, -1.0, -1.0])

    def contacts(self) -> frozenset[str]:
        """Names of the geoms (objects, walls) in contact with the robot."""
        d = self.data
        if d.ncon == 0:
            return frozenset()
        g = d.contact.geom[:d.ncon]
        robot = self.index.robot_geoms
        names = set()
        for a, b in g:
            if robot[a] != robot[b]:
                names.add(self._geom_names[b if robot[a] else a])
        return frozenset(names)

    def state(self) -> SimState:
        d, ix = self.data, self.index
        cam_pos, cam_rot = self.camera_pose()
        return SimState(
            time=float(d.time),
            base_pose=self.base_pose(),
            base_twist=self.base_twist(),
            joint_positions=self.joint_positions(),
            joint_velocities=self.joint_velocities(),
            hands={s: d.site_xpos[i].copy() for s, i in ix.hand_sites.items()},
            shoulders={s: d.site_xpos[i].copy() for s, i in ix.shoulder_sites.items()},
            head_top=d.site_xpos[ix.head_top_site].copy(),
            camera_position=cam_pos,
            camera_rotation=cam_rot,
            contacts=self.contacts(),
            world=self.world,
        )

    def close(self) -> None:
        self.camera.close()

    def _joint(self, name: str) -> int:
        try:
            return self._name_to_i[name]
        except KeyError:
            raise KeyError(f"no joint '{name}'; joints: {', '.join(self.index.joint_names)}") from None
