"""Lockstep evaluation: any vla_policy Policy drives the simulator, one control period at a time.

Each control step (``control_dt``, 0.1 s = 10 Hz) the runner renders the head camera at the
policy's image size, builds an :class:`~vla_policy.core.Observation`, asks the policy, decodes
its normalised action through the embodiment, applies the twist and joint targets, and steps
physics (``ModelConfig.timestep``, 5 ms) to the next control step. Success is judged by the
task's predicate on the simulator's true state; nothing waits on a clock, so episodes run as
fast as the CPU allows.

    sim = HumanoidSim()
    result = run_episode(make_policy('keyword', 'vla_humanoid'), 'raise_left_arm', seed=3, sim=sim)
    result.success, result.time, result.path_length, result.collisions
"""
from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field

import numpy as np

from vla_policy.core import Observation, Policy, PolicyOutput
from vla_policy.embodiment import Embodiment, load_embodiment
from vla_sim.sim import HumanoidSim
from vla_sim.tasks import Task, make_task
from vla_sim.world import World

RENDER_MODES = ('auto', 'always', 'never')


@dataclass(frozen=True)
class LockstepConfig:
    """How an episode is run.

    control_dt:   seconds between policy actions (10 Hz); a whole number of physics steps.
    image_size:   (height, width) of the observation image.
    render:       'always'; 'never' (the policy sees a black image); 'auto' = render unless the
                  policy is privileged (it reads the true state) and nothing is recorded.
    chunk_steps:  actions taken from one PolicyOutput before asking again (1 = re-plan every
                  step; k > 1 executes the first k steps of an action chunk open-loop).
    end_on_done:  end the episode when the policy reports done (success is judged then).
    hold_after_success: seconds the episode goes on after its success (success stays true; the
                  time limit is extended by as much): demonstrations then show what to do once
                  the task is done (keep waving, keep the arm up, stay turned).
    record:       keep images, actions and joint states in the result (for datasets).
    depth:        also render depth into Observation.depth (metres, NaN = nothing) when rendering.
    """

    control_dt: float = 0.1
    image_size: tuple[int, int] = (96, 96)
    render: str = 'auto'
    chunk_steps: int = 1
    end_on_done: bool = False
    hold_after_success: float = 0.0
    record: bool = False
    depth: bool = False

    def __post_init__(self) -> None:
        if self.render not in RENDER_MODES:
            raise ValueError(f"LockstepConfig.render must be one of {RENDER_MODES}, got '{self.render}'")
        if self.control_dt <= 0:
            raise ValueError(f'LockstepConfig.control_dt must be > 0 s, got {self.control_dt}')
        if self.chunk_steps < 1:
            raise ValueError(f'LockstepConfig.chunk_steps must be >= 1, got {self.chunk_steps}')
        if not (self.hold_after_success >= 0.0 and math.isfinite(self.hold_after_success)):
            raise ValueError(f'LockstepConfig.hold_after_success must be seconds >= 0, got {self.hold_after_success}')
        h, w = self.image_size
        if h < 1 or w < 1:
            raise ValueError(f'LockstepConfig.image_size must be (height, width) >= 1, got {self.image_size}')


@dataclass
class Trajectory:
    """What the policy saw and did, one row per control step (recorded with ``record=True``)."""

    instruction: str
    images: list[np.ndarray] = field(default_factory=list)          # H x W x 3 uint8 (empty if not rendered)
    actions: list[np.ndarray] = field(default_factory=list)         # normalised (D,) float32, as applied
    joint_positions: list[np.ndarray] = field(default_factory=list)  # (J,) in ``joint_names`` order
    base_poses: list[np.ndarray] = field(default_factory=list)      # x, y, yaw
    stamps: list[float] = field(default_factory=list)
    joint_names: tuple[str, ...] = ()

    def as_arrays(self) -> dict[str, np.ndarray]:
        out = {'actions': np.asarray(self.actions, dtype=np.float32),
               'joint_positions': np.asarray(self.joint_positions, dtype=np.float32),
               'base_poses': np.asarray(self.base_poses, dtype=np.float32),
               'stamps': np.asarray(self.stamps, dtype=np.float64)}
        if self.images:
            out['images'] = np.stack(self.images)
        return out


@dataclass
class EpisodeResult:
    """Outcome of one episode.

    time:        simulated seconds until success, or until the episode ended.
    path:        (N, 2) base positions, one per control step.
    collisions:  contacts begun between the robot and an object or wall.
    """

    task: str
    instruction: str
    seed: int | None
    success: bool
    time: float
    time_limit: float
    path: np.ndarray
    collisions: int
    steps: int
    policy_calls: int
    policy_done: bool
    invalid_actions: int
    wall_time: float
    trajectory: Trajectory | None = None

    @property
    def path_length(self) -> float:
        return float(np.sum(np.linalg.norm(np.diff(self.path, axis=0), axis=1))) if len(self.path) > 1 else 0.0


def run_episode(policy: Policy, task: str | Task, seed: int | None = None, *, sim: HumanoidSim | None = None,
                embodiment: Embodiment | None = None, config: LockstepConfig | None = None,
                world: World | None = None) -> EpisodeResult:
    """Run ``policy`` on ``task`` in the world of ``seed`` until success or the time limit.

    task:        a task name (the target and phrasing are drawn from ``seed``) or a Task whose
                 target exists in that world.
    sim:         reuse a simulator (fast); default: the policy's ``sim`` (privileged policies), else a new one.
    embodiment:  decodes the policy's actions; default: the policy's ``embodiment``, else vla_humanoid.
    world:       the scene (e.g. ``sample_world(seed)`` with another start pose); default: ``sample_world(seed)``.
    """
    config = config or LockstepConfig()
    sim = sim or getattr(policy, 'sim', None) or HumanoidSim()
    if getattr(policy, 'sim', sim) is not sim:
        raise ValueError('the policy reads a different simulator than the one the episode runs in; pass sim=policy.sim')
    embodiment = embodiment or getattr(policy, 'embodiment', None) or load_embodiment('vla_humanoid')
    n_sub = int(round(config.control_dt / sim.timestep))
    if n_sub < 1 or abs(n_sub * sim.timestep - config.control_dt) > 1e-9:
        raise ValueError(f'control_dt {config.control_dt} s is not a whole number of physics steps ({sim.timestep} s)')

    start_joints = dict(task.initial_joints) if isinstance(task, Task) and task.initial_joints else None
    world = sim.reset(seed, world=world, joint_positions=start_joints)
    if isinstance(task, str):
        task = make_task(task, world, seed)
    elif task.target is not None and task.target not in world.names:
        raise ValueError(f"task target '{task.target}' is not in the world of seed {seed} ({', '.join(world.names)})")
    sim.set_task(task)
    if any(task.initial_twist):
        sim.set_base_velocity_state(*task.initial_twist)
    check = task.new_check()
    state = sim.state()
    check.reset(state)
    policy.reset()

    h, w = config.image_size
    render = config.render == 'always' or (config.render == 'auto' and (not policy.privileged or config.record))
    blank = np.zeros((h, w, 3), dtype=np.uint8)
    traj = Trajectory(task.instruction, joint_names=sim.joint_names) if config.record else None
    path = [state.base_pose[:2].copy()]
    touching: frozenset[str] = frozenset()
    collisions = steps = calls = invalid = 0
    output: PolicyOutput | None = None
    chunk_k = 0
    done = False
    success_time: float | None = None           # set once the check passes; the episode is a success
    t0 = _time.perf_counter()
    while True:
        if success_time is None and check.update(state):
            success_time = state.time
        if success_time is not None:
            if state.time >= success_time + config.hold_after_success - 1e-9:
                break
        elif state.time >= task.time_limit - 1e-9 or (done and config.end_on_done):
            break
        image = None
        if output is None or chunk_k >= config.chunk_steps or _chunk_index(output, chunk_k, config) is None:
            image = sim.render(w, h) if render else blank
            depth = sim.render_depth(w, h) if render and config.depth else None
            obs = Observation(image=image, instruction=task.instruction, joint_positions=state.joint_positions,
                              stamp=state.time, depth=depth)
            output = policy.infer(obs)
            calls += 1
            chunk_k = 0
            done = done or bool(output.done)
            if output.actions.shape[1] != embodiment.action_dim:
                raise ValueError(f"policy '{policy.name}' returned {output.actions.shape[1]}-dim actions; "
                                 f"embodiment '{embodiment.name}' has {embodiment.action_dim}")
        a = output.actions[_chunk_index(output, chunk_k, config)]
        chunk_k += 1
        if np.all(np.isfinite(a)):
            act = embodiment.decode(a)
            sim.set_base_twist(act.twist[0], act.twist[1], act.twist[5])
            sim.set_joint_targets(dict(zip(act.joint_names, act.joint_positions)))
        else:  # invalid output is a stop: zero twist, joints keep their targets
            invalid += 1
            sim.set_base_twist(0.0, 0.0, 0.0)
        if traj is not None:
            if render:
                traj.images.append(image if image is not None else sim.render(w, h))
            traj.actions.append(np.asarray(a, dtype=np.float32))
            traj.joint_positions.append(np.array([state.joint_positions[j] for j in sim.joint_names]))
            traj.base_poses.append(state.base_pose.copy())
            traj.stamps.append(state.time)
        sim.step(n_steps=n_sub)
        steps += 1
        state = sim.state()
        collisions += len(state.contacts - touching)
        touching = state.contacts
        path.append(state.base_pose[:2].copy())
    return EpisodeResult(task=task.name, instruction=task.instruction, seed=seed, success=success_time is not None,
                         time=state.time if success_time is None else success_time,
                         time_limit=task.time_limit, path=np.array(path), collisions=collisions, steps=steps,
                         policy_calls=calls, policy_done=done, invalid_actions=invalid,
                         wall_time=_time.perf_counter() - t0, trajectory=traj)


def _chunk_index(output: PolicyOutput, k: int, config: LockstepConfig) -> int | None:
    """Row of the chunk to apply k control steps after it was produced (None: chunk used up)."""
    i = int(round(k * config.control_dt / output.step_dt))
    return i if i < output.actions.shape[0] else None
