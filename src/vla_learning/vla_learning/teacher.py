"""The demonstration teacher: vla_sim's scripted expert, adapted so a camera policy can imitate it.

The :class:`~vla_sim.expert.ScriptedExpert` is privileged: it knows where every object is and how
far the robot has turned. A policy that sees one camera frame, the instruction and the joint
positions (no memory) cannot copy behaviour that depends on hidden information (the "imitation
gap"). The teacher keeps the expert's actions wherever the student could in principle infer them,
and changes them only where it could not:

* ``walk_to`` / ``look_at``: while the target is outside the camera's view, the expert would turn
  toward it (it knows where it is); the teacher turns LEFT in place at ``search_wz`` with the head
  at rest, until the target enters the view. Then the expert takes over, until the target is more
  than ``SEARCH_AGAIN_ANGLE`` off the camera's axis (a way around an object may take it out of the
  view for a while; without the hysteresis the search and the expert's turn undo each other).
* ``turn_left`` / ``turn_right``: the angle already turned is invisible in one frame. The teacher
  keeps the expert's base command and turns the head against the body's rotation
  (``head_pan = -gaze_gain * turned``): the robot keeps looking toward where it started, as
  people do, and the head pan (a joint state the policy reads) carries the progress.
* ``stop``: the expert holds every joint where it is measured (target = state). Copied by a
  regressor, that is a neutrally stable loop: each small error moves the joint, which moves the
  next target, and the arms drift. The teacher zeroes the base like the expert and sends the
  joints to the rest pose (a fixed target), which is where they are at the start of the task.
* ``wave``: the expert swings the arm on a clock. The teacher makes the swing a relaxation
  oscillator of the joint state: the elbow flexes when the shoulder roll reaches one end of the
  swing and straightens at the other, and the roll's direction follows the elbow.

Every other task is the expert's behaviour unchanged. The teacher is privileged (it reads the
simulator) and is for collecting demonstrations only.
"""
from __future__ import annotations

import math

import numpy as np

from vla_core.policy import Observation, Policy, PolicyOutput
from vla_core.embodiment import Embodiment, load_embodiment
from vla_sim.expert import REST, ScriptedExpert
from vla_sim.rendering import CameraIntrinsics
from vla_sim.sim import HumanoidSim, SimState

#: half of the camera's field of view (70 deg) minus a margin, rad: "the target is in the image"
VISIBLE_HALF_ANGLE = 0.5
#: once seen, the target is searched for again only when it is this far off the camera's axis, rad
SEARCH_AGAIN_ANGLE = 1.2


def _in_camera_frame(s: SimState, target: str) -> np.ndarray:
    """The object's centre in the head camera's optical frame (x right, y down, z forward), m."""
    return s.camera_rotation.T @ (s.world.get(target).position - s.camera_position)


def target_in_view(s: SimState, target: str, half_angle: float = VISIBLE_HALF_ANGLE) -> bool:
    """Whether the object's centre projects into the head camera's image (horizontal angle only)."""
    v = _in_camera_frame(s, target)
    return bool(v[2] > 0.05 and abs(math.atan2(v[0], v[2])) <= half_angle)


def target_in_image(s: SimState, target: str, camera: CameraIntrinsics) -> tuple[float, float, float]:
    """(in_view 0/1, x, y): where the object's centre projects in the image of ``camera``
    (``HumanoidSim.camera_intrinsics``), x right and y down in [-1, 1] (the edges); (0, NaN, NaN)
    when it is behind the camera or outside the image. The grounding label of a frame (occlusion
    ignored)."""
    v = _in_camera_frame(s, target)
    if v[2] <= 0.05:
        return 0.0, math.nan, math.nan
    x = camera.fx * v[0] / v[2] / (camera.width / 2)
    y = camera.fy * v[1] / v[2] / (camera.height / 2)
    if abs(x) > 1.0 or abs(y) > 1.0:
        return 0.0, math.nan, math.nan
    return 1.0, float(x), float(y)


class ObservableTeacher(Policy):
    """Scripted expert + the adaptations above. ``infer`` also records the clean action it chose."""

    name = 'observable_teacher'
    privileged = True

    def __init__(self, embodiment: Embodiment | None = None, sim: HumanoidSim | None = None,
                 control_dt: float = 0.1, search_wz: float = 0.8, gaze_gain: float = 0.5) -> None:
        if sim is None:
            raise ValueError('ObservableTeacher reads the simulator: pass sim=HumanoidSim()')
        self.embodiment = embodiment or load_embodiment('vla_humanoid')
        self.sim = sim
        self.expert = ScriptedExpert(self.embodiment, sim=sim, control_dt=control_dt)
        self.control_dt = control_dt
        self.search_wz = search_wz
        self.gaze_gain = gaze_gain
        self._seen = False             # the target entered the view since the instruction began

    def reset(self) -> None:
        self.expert.reset()
        self._seen = False

    def infer(self, obs: Observation) -> PolicyOutput:
        out = self.expert.infer(obs)          # keeps the expert's own bookkeeping (turned angle, check)
        task = self.sim.task
        s = self.sim.state()
        name = task.name
        action = out.actions[0]
        if name in ('walk_to', 'look_at'):
            near = name == 'walk_to' and s.world.get(task.target).surface_distance(s.base_pose[:2]) <= 0.6
            self._seen = (target_in_view(s, task.target)
                          or (self._seen and target_in_view(s, task.target, SEARCH_AGAIN_ANGLE)))
            if not near and not self._seen:
                action = self._encode((0.0, 0.0, self.search_wz), dict(REST))
        elif name in ('turn_left', 'turn_right'):
            x = self.embodiment.decode(action)
            joints = dict(zip(x.joint_names, x.joint_positions))
            joints['head_pan_joint'] = float(np.clip(-self.gaze_gain * self.expert._turned, -1.15, 1.15))
            action = self._encode((x.twist[0], x.twist[1], x.twist[5]), joints)
        elif name == 'wave':
            action = self._encode((0.0, 0.0, 0.0), wave_targets(s.joint_positions))
        elif name == 'stop':
            action = self._encode((0.0, 0.0, 0.0), dict(REST))
        return PolicyOutput(action[None, :].astype(np.float32), confidence=1.0, step_dt=self.control_dt,
                            done=out.done)

    def _encode(self, twist3, joints) -> np.ndarray:
        return self.embodiment.encode((twist3[0], twist3[1], 0.0, 0.0, 0.0, twist3[2]), joints)


def wave_targets(q) -> dict[str, float]:
    """Memoryless wave: right arm overhead, roll swings between -0.85 and -0.15 rad, the elbow
    (0.1 / 0.9 rad) is the swing's direction, switched at either end of the swing."""
    joints = dict(REST)
    pitch, roll, elbow = (q['right_shoulder_pitch_joint'], q['right_shoulder_roll_joint'],
                          q['right_elbow_joint'])
    joints['right_shoulder_pitch_joint'] = -2.7
    if pitch > -2.3:                       # still raising the arm
        joints.update(right_shoulder_roll_joint=-0.5, right_elbow_joint=0.1)
        return joints
    if roll < -0.75:
        e_target = 0.9
    elif roll > -0.25:
        e_target = 0.1
    else:
        e_target = float(np.clip(elbow, 0.1, 0.9))
    joints['right_elbow_joint'] = e_target
    joints['right_shoulder_roll_joint'] = -0.85 if elbow < 0.5 else -0.15
    return joints
