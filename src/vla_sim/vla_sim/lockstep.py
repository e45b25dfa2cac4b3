"""Lockstep evaluation: any vla_policy Policy drives the simulator, one control period at a time.

The policy runs through :class:`vla_core.runner.PolicyRunner`, the one implementation of "chunks
become commands" the inference node uses too: its call schedule (the policy's own
n_action_steps by default), latency compensation, ensembling, interpolation, smoothing and the
embodiment's decode. Each control step (``control_dt``, 0.1 s = 10 Hz) the runner is asked for
the command of that instant; when a call is due the head camera is rendered at the policy's image
size and the policy sees it, stamped with the simulated time. The command then goes through
vla_safety's gate (:class:`vla_sim.safety.SimGate`: default parameters, the simulated lidar, the
URDF's joint limits) as the safety node would pass it, and what the gate lets through drives the
robot; physics steps (``ModelConfig.timestep``, 5 ms) to the next control step. Success is
judged by the task's predicate on the simulator's true state; nothing waits on a clock, so
episodes run as fast as the CPU allows.

    sim = HumanoidSim()
    result = run_episode(make_policy('keyword', 'vla_humanoid'), 'raise_left_arm', seed=3, sim=sim)
    result.success, result.time, result.path_length, result.collisions, result.gate_counts
"""
from __future__ import annotations

import math
import time as _time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from vla_core.policy import Observation, Policy, nearest_by_sector
from vla_core.embodiment import ZERO_TWIST, Embodiment, load_embodiment
from vla_core.runner import PolicyRunner, RunnerConfig
from vla_safety.gate import Proposal
from vla_safety.params import SafetyParams
from vla_sim.safety import SimGate
from vla_sim.sim import HumanoidSim
from vla_sim.tasks import Task, make_task
from vla_sim.world import World

RENDER_MODES = ('auto', 'always', 'never')


@dataclass(frozen=True)
class LockstepConfig:
    """How an episode is run.

    runner:       how chunks become commands (vla_core.runner.RunnerConfig; the inference
                  node's defaults): its control_rate_hz sets control_dt, its call_every_ticks the
                  calls (0 = the policy's own n_action_steps).
    gate:         pass every command through vla_safety's gate (False: apply it as proposed).
    safety:       the gate's parameters; None = vla_safety's defaults + the URDF's joint limits.
    image_size:   (height, width) of the observation image.
    render:       'always'; 'never' (the policy sees a black image); 'auto' = render unless the
                  policy is privileged (it reads the true state) and nothing is recorded.
    end_on_done:  end the episode when the policy reports done (success is judged then).
    hold_after_success: seconds the episode goes on after its success (success stays true; the
                  time limit is extended by as much): demonstrations then show what to do once
                  the task is done (keep waving, keep the arm up, stay turned).
    record:       keep images, actions and joint states in the result (for datasets).
    depth:        also render depth into Observation.depth (metres, NaN = nothing) when rendering.
    state_delay:  seconds by which the policy's joint states and odometry (Observation.base_pose)
                  lag the image, as in a loop whose state topics arrive late (whole control steps).
    range_sectors: with ``record``, also keep each step's waist-lidar scan as the nearest range in
                  this many sectors (vla_core.policy.nearest_by_sector, up to ``range_max``); 0 = not.
    """

    runner: RunnerConfig = field(default_factory=RunnerConfig)
    gate: bool = True
    safety: SafetyParams | None = None
    image_size: tuple[int, int] = (96, 96)
    render: str = 'auto'
    end_on_done: bool = False
    hold_after_success: float = 0.0
    record: bool = False
    depth: bool = False
    state_delay: float = 0.0
    range_sectors: int = 0
    range_max: float = 1.5

    def __post_init__(self) -> None:
        if not (self.state_delay >= 0.0 and math.isfinite(self.state_delay)):
            raise ValueError(f'LockstepConfig.state_delay must be seconds >= 0, got {self.state_delay}')
        if self.render not in RENDER_MODES:
            raise ValueError(f"LockstepConfig.render must be one of {RENDER_MODES}, got '{self.render}'")
        if not isinstance(self.runner, RunnerConfig):
            raise ValueError(f'LockstepConfig.runner must be a vla_core.runner.RunnerConfig, got {self.runner!r}')
        if not (self.hold_after_success >= 0.0 and math.isfinite(self.hold_after_success)):
            raise ValueError(f'LockstepConfig.hold_after_success must be seconds >= 0, got {self.hold_after_success}')
        h, w = self.image_size
        if h < 1 or w < 1:
            raise ValueError(f'LockstepConfig.image_size must be (height, width) >= 1, got {self.image_size}')

    @property
    def control_dt(self) -> float:
        """Seconds between control ticks (the runner's control period)."""
        return self.runner.control_period


@dataclass
class Trajectory:
    """What the policy saw and did, one row per control step (recorded with ``record=True``)."""

    instruction: str
    images: list[np.ndarray] = field(default_factory=list)          # H x W x 3 uint8 (empty if not rendered)
    actions: list[np.ndarray] = field(default_factory=list)         # normalised (D,) float32, as applied (gated)
    proposed: list[np.ndarray] = field(default_factory=list)        # normalised (D,) float32, the runner's (NaN: none)
    joint_positions: list[np.ndarray] = field(default_factory=list)  # (J,) in ``joint_names`` order
    base_poses: list[np.ndarray] = field(default_factory=list)      # x, y, yaw
    range_sectors: list[np.ndarray] = field(default_factory=list)   # nearest range per sector, m (range_sectors)
    stamps: list[float] = field(default_factory=list)
    joint_names: tuple[str, ...] = ()

    def as_arrays(self) -> dict[str, np.ndarray]:
        out = {'actions': np.asarray(self.actions, dtype=np.float32),
               'proposed': np.asarray(self.proposed, dtype=np.float32),
               'joint_positions': np.asarray(self.joint_positions, dtype=np.float32),
               'base_poses': np.asarray(self.base_poses, dtype=np.float32),
               'range_sectors': np.asarray(self.range_sectors, dtype=np.float32),
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
    invalid_actions: policy calls whose output was not used (non-finite); the robot stops on them.
    gate_counts: control steps per vla_safety GateStatus name (PASS, LIMITED, SLOWDOWN, STOP, ...).
    confidences: the confidence of each policy call's chunk as the runner proposed it (0 for an
                 instruction it refused: vla_core.grounding), in call order, until the success.
    kept:        with ``hold_after_success``: whether the task's state was still kept at the end
                 (``Task.new_keep_check``, reset at the success); None without a hold or a success.
    hold_confidences: the confidences of the calls after the success.
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
    gate_counts: dict[str, int] = field(default_factory=dict)
    confidences: tuple[float, ...] = ()
    kept: bool | None = None
    hold_confidences: tuple[float, ...] = ()

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
    runner = PolicyRunner(policy, embodiment, config.runner)
    runner.set_instruction(task.instruction, state.time)
    gate = _gate(config) if config.gate else None

    h, w = config.image_size
    render = config.render == 'always' or (config.render == 'auto' and (not policy.privileged or config.record))
    blank = np.zeros((h, w, 3), dtype=np.uint8)
    traj = Trajectory(task.instruction, joint_names=sim.joint_names) if config.record else None
    nan_action = np.full(embodiment.action_dim, np.nan, dtype=np.float32)
    path = [state.base_pose[:2].copy()]
    reads_scan = bool(getattr(policy, 'reads_scan', False))
    lag = int(round(config.state_delay / config.control_dt))
    measured: deque = deque(maxlen=lag + 1)      # (joints, base pose) of the last lag + 1 steps
    touching: frozenset[str] = frozenset()
    collisions = steps = calls = invalid = 0
    confidences: list[float] = []
    proposal: Proposal | None = None
    done = False
    success_time: float | None = None           # set once the check passes; the episode is a success
    keep, kept = None, None                     # after it: is the task's state kept (hold_after_success)
    hold_confidences: list[float] = []
    t0 = _time.perf_counter()
    while True:
        if success_time is None and check.update(state):
            success_time = state.time
            if config.hold_after_success > 0:
                keep = task.new_keep_check()
                keep.reset(state)
        elif keep is not None:
            kept = keep.update(state)
        if success_time is not None:
            if state.time >= success_time + config.hold_after_success - 1e-9:
                break
        elif state.time >= task.time_limit - 1e-9 or (done and config.end_on_done):
            break
        now = state.time
        image = None
        measured.append((state.joint_positions, tuple(float(v) for v in state.base_pose)))
        scan = sim.planar_scan() if traj is not None and config.range_sectors else None   # recorded every step
        if runner.call_due(now):
            if reads_scan and scan is None:
                scan = sim.planar_scan()             # only when the policy is called
            joints, pose = measured[0]               # state_delay late (the oldest kept)
            image = sim.render(w, h) if render else blank
            depth = sim.render_depth(w, h) if render and config.depth else None
            result = runner.call(lambda ctx: Observation(image=image, instruction=ctx.instruction,
                                                         joint_positions=joints, stamp=now, depth=depth,
                                                         base_pose=pose, scan=scan if reads_scan else None))
            calls += 1
            if result.error_kind == 'policy':
                raise RuntimeError(f"policy '{policy.name}' failed: {result.error}")
            problem = runner.accept(result)
            if result.error_kind == 'non_finite':
                invalid += 1          # no chunk from it: the robot stops (gate: proposal timeout)
            elif problem:
                raise ValueError(problem)
            done = done or bool(result.output is not None and result.output.done)
            if result.output is not None and not result.error_kind:
                (confidences if success_time is None else hold_confidences).append(float(result.output.confidence))
        tick = runner.tick(now)
        cmd = tick.command
        if cmd is not None or not tick.instruction:    # a command, or idle (stand still)
            ec = cmd.command if cmd is not None else None
            proposal = Proposal(now, ec.twist if ec else ZERO_TWIST, ec.joint_names if ec else (),
                                ec.joint_positions if ec else (), cmd.confidence if cmd else 1.0, steps + 1,
                                tick.instruction, tick.instruction_time)
        if gate is not None:   # no new proposal: the gate times the last one out and stops the robot
            decision = gate.step(sim, proposal, now)
            twist, names, positions = decision.twist, decision.joint_names, decision.joint_positions
        elif cmd is not None:
            twist, names, positions = cmd.command.twist, cmd.command.joint_names, cmd.command.joint_positions
        else:                  # ungated and nothing usable: stop the base, joints keep their targets
            twist, names, positions = ZERO_TWIST, (), ()
        applied = sim.set_base_twist(twist[0], twist[1], twist[5])
        sim.set_joint_targets(dict(zip(names, positions)))
        if traj is not None:
            if render:
                traj.images.append(image if image is not None else sim.render(w, h))
            traj.actions.append(embodiment.encode((applied[0], applied[1], 0.0, 0.0, 0.0, applied[2]),
                                                  sim.joint_targets()))
            traj.proposed.append(cmd.action if cmd is not None else nan_action)
            traj.joint_positions.append(np.array([state.joint_positions[j] for j in sim.joint_names]))
            traj.base_poses.append(state.base_pose.copy())
            if config.range_sectors:
                traj.range_sectors.append(nearest_by_sector(scan, config.range_sectors, config.range_max))
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
                         wall_time=_time.perf_counter() - t0, trajectory=traj,
                         gate_counts=dict(gate.counts) if gate is not None else {},
                         confidences=tuple(confidences), kept=kept, hold_confidences=tuple(hold_confidences))


_DEFAULT_GATE: list[SimGate] = []


def _gate(config: LockstepConfig) -> SimGate:
    """A reset SimGate for ``config.safety`` (the default one is built once: the URDF is parsed once)."""
    if config.safety is not None:
        return SimGate(config.safety)
    if not _DEFAULT_GATE:
        _DEFAULT_GATE.append(SimGate())
    gate = _DEFAULT_GATE[0]
    gate.reset()
    return gate
