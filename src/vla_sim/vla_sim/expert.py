"""The scripted expert: solves every task from the simulator's true state.

**Privileged**: it ignores the camera image and reads object positions, the robot's pose and
the current task from the simulator. Use it to record demonstrations and as an upper-bound
baseline, never as evidence that a vision policy works. It is an ordinary
:class:`vla_core.policy.Policy` (``privileged = True``) whose actions go through the
embodiment's :meth:`~vla_core.embodiment.Embodiment.encode`, so the lockstep runner drives
it exactly like a learned policy.

    sim = HumanoidSim()
    expert = ScriptedExpert(load_embodiment('vla_humanoid'), sim=sim)
    run_episode(expert, 'wave', seed=0, sim=sim)

Also registered with vla_policy's registry as ``scripted_expert`` (entry point); making it
there requires ``sim=``.
"""
from __future__ import annotations

import math

import numpy as np

from vla_core.policy import Observation, Policy, PolicyOutput
from vla_core.embodiment import Embodiment, load_embodiment
from vla_sim.navigation import NavigationField
from vla_sim.sim import COMMANDED_JOINTS, REST_POSE, HumanoidSim, SimState
from vla_sim.tasks import SuccessCheck, Task

#: arms down, head level-ish looking 0.3 rad down
REST = {j: float(REST_POSE.get(j, 0.0)) for j in COMMANDED_JOINTS}
ARM_UP = {'left': {'left_shoulder_pitch_joint': -2.8, 'left_shoulder_roll_joint': 0.15, 'left_elbow_joint': 0.1},
          'right': {'right_shoulder_pitch_joint': -2.8, 'right_shoulder_roll_joint': -0.15, 'right_elbow_joint': 0.1}}


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


#: m between the base's centre and another object's surface that the way to a target keeps: vla_safety's
#: default STOP zone (footprint_radius 0.3 + stop_margin 0.1) and 0.05 to spare, so the expert never
#: asks for a motion the gate holds (test_expert checks it against the gate's defaults)
KEEP_OFF = 0.45

class ScriptedExpert(Policy):
    """Privileged scripted controller for every task in :data:`vla_sim.tasks.TASKS`.

    embodiment:  the action space to encode into (default: vla_humanoid).
    sim:         the simulator whose true state and current task (``sim.task``) it reads.
    control_dt:  the step_dt it reports (the lockstep control period).
    """

    name = 'scripted_expert'
    privileged = True

    def __init__(self, embodiment: Embodiment | None = None, sim: HumanoidSim | None = None,
                 control_dt: float = 0.1) -> None:
        if sim is None:
            raise ValueError('ScriptedExpert is privileged: it needs the simulator it controls, '
                             'ScriptedExpert(embodiment, sim=HumanoidSim()); it cannot run on a real robot')
        self.embodiment = embodiment or load_embodiment('vla_humanoid')
        self.sim = sim
        self.control_dt = control_dt
        missing = [j for j in COMMANDED_JOINTS if j not in self.embodiment.joint_names]
        if missing:
            raise ValueError(f"embodiment '{self.embodiment.name}' lacks joints {missing}; use vla_humanoid")
        self.reset()

    def reset(self) -> None:
        self._task: Task | None = None
        self._check: SuccessCheck | None = None
        self._start: SimState | None = None
        self._nav: NavigationField | None = None
        self._turned = 0.0
        self._last_yaw = 0.0
        self._succeeded = False

    # -- Policy ---------------------------------------------------------------------------------
    def infer(self, obs: Observation) -> PolicyOutput:
        task = self.sim.task
        if task is None:
            raise RuntimeError('ScriptedExpert: the simulator has no task; call sim.set_task(task) '
                               '(run_episode does) before asking the expert')
        s = self.sim.state()
        if task is not self._task:
            self.reset()
            self._task, self._start = task, s
            self._check = task.new_check()
            self._check.reset(s)
            self._last_yaw = float(s.base_pose[2])
        self._turned += _wrap(float(s.base_pose[2]) - self._last_yaw)
        self._last_yaw = float(s.base_pose[2])
        twist, joints = getattr(self, f'_{task.name}')(task, s)
        done = self._check.update(s)
        self._succeeded = self._succeeded or done
        action = self.embodiment.encode((twist[0], twist[1], 0.0, 0.0, 0.0, twist[2]), joints)
        return PolicyOutput(action[None, :], confidence=1.0, step_dt=self.control_dt, done=done)

    # -- task behaviours: (vx, vy, wz), joint targets -----------------------------------------------
    def _walk_to(self, task: Task, s: SimState):
        target = s.world.get(task.target)
        if self._nav is None:
            self._nav = NavigationField(s.world, task.target, obstacle_radius=KEEP_OFF)
        xy, yaw = s.base_pose[:2], float(s.base_pose[2])
        sd = target.surface_distance(xy)
        if sd <= 0.5:  # arrived: face it
            return (0.0, 0.0, float(np.clip(2.5 * s.bearing(target.position), -1, 1))), dict(REST)
        goal = self._nav.lookahead(xy)
        if np.linalg.norm(goal - xy) < 0.05:
            goal = target.position[:2]
        err = _wrap(math.atan2(goal[1] - xy[1], goal[0] - xy[0]) - yaw)
        speed = 0.5 * float(np.clip(1.0 - abs(err) / 0.7, 0.0, 1.0))
        speed = min(speed, 0.15 + 0.8 * max(sd - 0.45, 0.0))
        return (speed, 0.0, float(np.clip(2.5 * err, -1, 1))), dict(REST)

    def _turn(self, sign: float):
        # to 90 deg; once the turn has succeeded the base stands still where it ended (the task's keep
        # check, and what the lockstep runner does after a done): the rollouts of a policy that stopped
        # a few degrees short, or creeps on, are labelled 'stand still', not 'turn on to 90 deg'
        if self._succeeded:
            return (0.0, 0.0, 0.0), dict(REST)
        err = sign * math.pi / 2 - self._turned
        wz = 0.0 if abs(err) < 0.01 else float(np.clip(3.0 * err, -1, 1))
        return (0.0, 0.0, wz), dict(REST)

    def _turn_left(self, task: Task, s: SimState):
        return self._turn(1.0)

    def _turn_right(self, task: Task, s: SimState):
        return self._turn(-1.0)

    def _raise(self, sides):
        joints = dict(REST)
        for side in sides:
            joints.update(ARM_UP[side])
        return (0.0, 0.0, 0.0), joints

    def _raise_left_arm(self, task: Task, s: SimState):
        return self._raise(('left',))

    def _raise_right_arm(self, task: Task, s: SimState):
        return self._raise(('right',))

    def _raise_both_arms(self, task: Task, s: SimState):
        return self._raise(('left', 'right'))

    def _wave(self, task: Task, s: SimState):
        """Right arm up, then the whole arm swings sideways overhead (shoulder roll) twice a second."""
        joints = dict(REST)
        t = s.time - self._start.time
        roll = -0.5 if t < 0.6 else (-0.15 if int((t - 0.6) / 0.5) % 2 == 0 else -0.85)
        joints.update({'right_shoulder_pitch_joint': -2.7, 'right_shoulder_roll_joint': roll,
                       'right_elbow_joint': 0.2})
        return (0.0, 0.0, 0.0), joints

    def _look_at(self, task: Task, s: SimState):
        target = s.world.get(task.target).position
        joints = dict(REST)
        pan, tilt = s.joint_positions['head_pan_joint'], s.joint_positions['head_tilt_joint']
        v = s.camera_rotation.T @ (target - s.camera_position)         # optical frame
        joints['head_pan_joint'] = float(np.clip(pan - math.atan2(v[0], v[2]), -1.15, 1.15))
        joints['head_tilt_joint'] = float(np.clip(tilt + math.atan2(v[1], math.hypot(v[0], v[2])), -0.55, 0.75))
        b = s.bearing(target)
        wz = float(np.clip(2.0 * (b - math.copysign(0.7, b)), -1, 1)) if abs(b) > 0.9 else 0.0
        # too close to see without tilting past the limit: step back
        dist = float(np.linalg.norm(s.to_base(target)[:2]))
        drop = s.camera_position[2] - target[2]
        vx = -0.2 if math.atan2(drop, dist) > 0.72 else 0.0
        return (vx, 0.0, wz), joints

    def _stop(self, task: Task, s: SimState):
        return (0.0, 0.0, 0.0), {j: s.joint_positions[j] for j in COMMANDED_JOINTS}
