"""Collect demonstrations in the embedded simulator, in lockstep, with domain randomisation.

    python -m vla_learning.collect --out data/demos --episodes 2000 --workers 2
    python -m vla_learning.collect --config src/vla_learning/configs/default.yaml   # its 'collect:' block

Each episode: a seeded world (object layout, start pose, object shades with ``colour_jitter``),
random lighting (sun and headlight intensity, sun direction), a task with an instruction drawn
from the training phrasings (:mod:`vla_learning.instructions`; (colour, shape) pairs of
``HELD_OUT_COMBOS`` are never targets), run by :class:`~vla_learning.teacher.ObservableTeacher`
through ``vla_sim.lockstep.run_episode``, so every command passes vla_safety's gate (default
parameters, the simulated lidar) as on the robot: the label of a step is the command the gate let
through (what the robot can actually do near obstacles, with its speed and acceleration limits).
On a share of the episodes the executed command is perturbed (DART: the robot visits states off
the teacher's path, the label stays the teacher's clean action); in look_at's, the head's targets also get decaying kicks (``dart_head_kick``). On
``look_at_facing_fraction`` of the look_at episodes the robot starts turned toward the target. On
``start_pose_fraction`` of the episodes (not 'stop') the robot starts with an
arm or both raised and the head turned, as a previous command may leave it. On
``walk_to_obstructed_fraction`` of the walk_to episodes another object stands in the straight way
to the target (``vla_sim.world.way_obstructed``), and the teacher goes around it; on
``walk_to_from_object_fraction`` the robot starts where a walk to another object ended, facing it
(commands in a row). With ``range_sectors`` each frame also records the waist lidar as the nearest
range per sector (``observation.range_sectors``). With ``rollout_policy`` (DAgger: train's ``dagger:``
round) a learned policy drives instead, through the gate as in the ROS loop, for
U(``rollout_handover``) x the task's time limit, and the teacher drives after that (with that much
more time): the frames are the states the policy itself reaches (a walk held facing the wrong
object, a wave that fades), each labelled with the teacher's clean action there; a rollout the
teacher does not finish is written up to the handover. Camera noise (gain,
offset, Gaussian) is applied to the recorded frames. Every frame of walk_to / look_at carries a
grounding label (``annotation.target_in_view``: whether and where the named object is in the
image, from the simulator's state), a training signal for where to look; every frame also
carries the same label for each object in the scene (``annotation.objects_in_view``), for the
per-attribute grounding loss. Only successful demonstrations are written.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vla_learning.config import CollectConfig, ConfigError, from_dict, read_yaml
from vla_learning.dataset import DatasetWriter, Episode
from vla_learning.dataset_format import RANGES_RECORDED_MAX
from vla_learning.instructions import is_held_out_combo, phrase
from vla_learning.teacher import ObservableTeacher, target_in_image
from vla_core.policy import PolicyOutput
from vla_core.embodiment import load_embodiment
from vla_sim.expert import ARM_UP
from vla_sim.lockstep import LockstepConfig, run_episode
from vla_sim.policy_spec import build_policy
from vla_sim.sim import COMMANDED_JOINTS, HumanoidSim, SimConfig
from vla_sim.tasks import TASKS, Task, make_task
from vla_sim.world import ALL_OBJECTS, WorldConfig, sample_world, start_beside, way_obstructed

def _episode_plan(cfg: CollectConfig) -> list[tuple[int, str]]:
    weights = cfg.task_weights
    unknown = sorted(set(weights) - set(TASKS))
    if unknown:
        raise ValueError(f"collect.task_weights: unknown task(s) {unknown}; tasks are {', '.join(TASKS)}")
    names = list(weights)
    w = np.array([weights[n] for n in names], dtype=float)
    counts = np.floor(cfg.episodes * w / w.sum()).astype(int)
    counts[np.argsort(-w)[:cfg.episodes - counts.sum()]] += 1
    # interleave tasks so every contiguous range of episodes (the val split) has all of them
    order = []
    pending = {n: int(c) for n, c in zip(names, counts)}
    while any(pending.values()):
        for n in names:
            if pending[n]:
                order.append(n)
                pending[n] -= 1
    return list(enumerate(order))


# -- worker side ---------------------------------------------------------------------------------
_W: dict[str, Any] = {}


def _init_worker(cfg: CollectConfig) -> None:
    import torch            # lazy: only the workers need it, for their thread count
    torch.set_num_threads(1)
    sim = HumanoidSim(SimConfig(world=WorldConfig(colour_jitter=cfg.colour_jitter)))
    emb = load_embodiment('vla_humanoid')
    driver = build_policy(cfg.rollout_policy, sim, emb) if cfg.rollout_policy else None
    _W.update(cfg=cfg, sim=sim, emb=emb, teacher=ObservableTeacher(emb, sim=sim, gaze_gain=cfg.turn_gaze_gain),
              driver=driver,
              light0=(sim.model.light_diffuse.copy(), sim.model.light_dir.copy(),
                      np.array(sim.model.vis.headlight.ambient), np.array(sim.model.vis.headlight.diffuse)))


class _Perturbed:
    """Runs the teacher and logs its clean actions (the labels); executes them with noise (DART), or
    executes a learned ``driver``'s proposals for its first ``driver_calls`` calls (rollouts)."""

    HEAD_KICK_RATE = 0.1
    HEAD_JOINTS = ('joint/head_pan_joint', 'joint/head_tilt_joint')

    def __init__(self, teacher, rng: np.random.Generator, std: float, image_size: int,
                 head_kick: float = 0.0, head_kick_decay: float = 0.7, driver=None, driver_calls: int = 0) -> None:
        self.teacher, self.rng, self.std, self.head_kick = teacher, rng, std, head_kick
        self.head_kick_decay = head_kick_decay
        self.name, self.privileged, self.sim = 'dart', True, teacher.sim
        self.embodiment = teacher.embodiment
        self.driver, self.driver_calls, self.calls = driver, driver_calls, 0
        # the loop hands the driver what it reads (the teacher reads the simulator)
        self.reads_odometry = bool(getattr(driver, 'reads_odometry', False))
        self.reads_scan = bool(getattr(driver, 'reads_scan', False))
        targets = [d.target for d in self.embodiment.dims]
        self._head_idx = [targets.index(t) for t in self.HEAD_JOINTS]
        self.clean: list[np.ndarray] = []
        self.targets: list[tuple[float, float, float]] = []   # grounding label per step (teacher.target_in_image)
        self.objects: list[list[tuple[float, float, float]]] = []   # the same for every object of ALL_OBJECTS
        self._camera = self.sim.camera_intrinsics(image_size, image_size)
        self._hold = np.zeros(3, dtype=np.float32)
        self._head = np.zeros(2, dtype=np.float32)
        self.report_done = True

    def reset(self) -> None:
        self.teacher.reset()
        if self.driver is not None:
            self.driver.reset()
        self.calls = 0
        self.clean.clear()
        self.targets.clear()
        self.objects.clear()

    def infer(self, obs):
        out = self.teacher.infer(obs)
        a = out.actions[0]
        self.clean.append(a.copy())
        task = self.sim.task
        state = self.sim.state()
        present = set(state.world.names)
        objects = [target_in_image(state, o, self._camera) if o in present else (math.nan,) * 3
                   for o in ALL_OBJECTS]
        self.objects.append(objects)
        self.targets.append(objects[ALL_OBJECTS.index(task.target)] if task.target else (math.nan,) * 3)
        self.calls += 1
        if self.driver is not None and self.calls <= self.driver_calls:
            out = self.driver.infer(obs)          # its confidence reaches the gate, as in the ROS loop
            return PolicyOutput(out.actions, confidence=out.confidence, step_dt=out.step_dt, done=False)
        noisy = a.copy()
        if self.std > 0:
            # slowly varying noise on the base twist (vx, vy, wz), so it actually moves the robot
            self._hold = 0.7 * self._hold + 0.3 * self.rng.normal(0.0, self.std, 3).astype(np.float32)
            noisy[:3] = np.clip(noisy[:3] + self._hold, -1, 1)
        if self.head_kick > 0:
            self._head *= self.head_kick_decay
            if self.rng.random() < self.HEAD_KICK_RATE:
                self._head += self.rng.uniform(-self.head_kick, self.head_kick, 2).astype(np.float32)
            noisy[self._head_idx] = np.clip(noisy[self._head_idx] + self._head, -1, 1)
        # while the episode holds after its success the teacher must go on (the wave, the raised
        # arm): its done would end the instruction and leave the held frames without labels
        return PolicyOutput(noisy[None, :], confidence=1.0, step_dt=out.step_dt, done=out.done and self.report_done)


def _randomise_lighting(sim, rng: np.random.Generator) -> dict:
    diffuse0, dir0, amb0, dif0 = _W['light0']
    k_sun, k_head = rng.uniform(*_W['cfg'].light_range, size=2)
    m = sim.model
    m.light_diffuse[:] = np.clip(diffuse0 * k_sun, 0, 1)
    d = dir0 + rng.normal(0, 0.25, dir0.shape)
    d[:, 2] = -np.abs(d[:, 2]) - 0.5
    m.light_dir[:] = d / np.linalg.norm(d, axis=1, keepdims=True)
    m.vis.headlight.ambient[:] = np.clip(amb0 * k_head, 0, 1)
    m.vis.headlight.diffuse[:] = np.clip(dif0 * k_head, 0, 1)
    return {'sun': float(k_sun), 'head': float(k_head)}


def _camera_noise(images: np.ndarray, rng: np.random.Generator, cfg: CollectConfig) -> np.ndarray:
    gain = rng.uniform(1 - cfg.camera_gain, 1 + cfg.camera_gain)
    offset = rng.uniform(-40 * cfg.camera_gain, 40 * cfg.camera_gain)
    std = rng.uniform(0, cfg.camera_noise_std)
    x = images.astype(np.float32) * gain + offset + rng.normal(0, std, images.shape).astype(np.float32)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def make_object_task(name: str, world, rng: np.random.Generator, *, exclude_held_out: bool, split: str = 'train',
                     obstructed: bool = False):
    """A walk_to / look_at Task on an eligible object of ``world`` (None if there is none); with
    ``obstructed`` only an object whose straight way from the start another object blocks."""
    objs = [o for o in world.objects if is_held_out_combo(o.colour, o.shape) != exclude_held_out] \
        if exclude_held_out else list(world.objects)
    if obstructed:
        objs = [o for o in objs if way_obstructed(world, o)]
    if not objs:
        return None
    o = objs[int(rng.integers(len(objs)))]
    return Task(name, phrase(name, rng, split, o.colour, o.shape), TASKS[name].time_limit, target=o.name)


def random_start_pose(rng: np.random.Generator) -> tuple[tuple[str, float], ...]:
    """A posture a previous command could have left: one arm, both or none raised, the head turned."""
    arms = (('left',), ('right',), ('left', 'right'), ())[int(rng.integers(4))]
    joints = {j: q for side in arms for j, q in ARM_UP[side].items()}
    joints['head_pan_joint'] = float(rng.uniform(-0.8, 0.8))
    joints['head_tilt_joint'] = float(rng.uniform(0.0, 0.6))
    return tuple(joints.items())


#: look_at_facing_fraction's start: the target at most this far (rad) from the robot's heading
FACING_BEARING = 0.5


def facing(world, target: str, bearing: float):
    """``world`` with the robot's start yaw turned so that ``target`` lies at ``bearing`` (rad, + = left)."""
    x, y, _ = world.robot_start
    tx, ty = world.get(target).position[:2]
    yaw = math.atan2(ty - y, tx - x) - bearing
    return dataclasses.replace(world, robot_start=(x, y, math.atan2(math.sin(yaw), math.cos(yaw))))


def collect_one(job: tuple[int, str]) -> dict | None:
    """Run one episode; returns the recorded arrays (or a failure record)."""
    i, name = job
    cfg: CollectConfig = _W['cfg']
    sim, emb = _W['sim'], _W['emb']
    rng = np.random.default_rng([cfg.seed, i, 7])
    seed = cfg.seed * 1_000_003 + i
    obstructed = (name == 'walk_to' and cfg.walk_to_obstructed_fraction > 0
                  and rng.random() < cfg.walk_to_obstructed_fraction)
    for attempt in range(100):       # about 1 world in 6 has an obstructed target
        world = sample_world(seed, sim.config.world)
        if name in ('walk_to', 'look_at'):
            task = make_object_task(name, world, rng, exclude_held_out=True, obstructed=obstructed)
        else:
            task = make_task(name, world, seed)
            task = dataclasses.replace(task, instruction=phrase(name, rng, 'train'))
        if task is not None:
            break
        seed += 100_000_007
    if name == 'walk_to' and cfg.walk_to_from_object_fraction > 0 \
            and rng.random() < cfg.walk_to_from_object_fraction:
        world = start_beside(world, task.target, rng) or world
    if name == 'look_at' and cfg.look_at_facing_fraction > 0 and rng.random() < cfg.look_at_facing_fraction:
        world = facing(world, task.target, float(rng.uniform(-FACING_BEARING, FACING_BEARING)))
    if name != 'stop' and rng.random() < cfg.start_pose_fraction:
        task = dataclasses.replace(task, initial_joints=random_start_pose(rng))
    light = _randomise_lighting(sim, rng)
    driver = _W['driver']
    dart = driver is None and name != 'stop' and rng.random() < cfg.dart_fraction
    driven_s = float(rng.uniform(*cfg.rollout_handover)) * task.time_limit if driver is not None else 0.0
    if driven_s:                  # the teacher gets its own time limit after the handover
        task = dataclasses.replace(task, time_limit=task.time_limit + driven_s)
    lc = LockstepConfig(image_size=(cfg.image_size, cfg.image_size), record=True, render='always',
                        range_sectors=cfg.range_sectors, range_max=RANGES_RECORDED_MAX,
                        hold_after_success=(float(rng.uniform(0.0, cfg.hold_after_success_s))
                                            if cfg.hold_after_success_s > 0 else 0.0))
    policy = _Perturbed(_W['teacher'], rng, cfg.dart_std if dart else 0.0, cfg.image_size,
                        head_kick=cfg.dart_head_kick if dart and name == 'look_at' else 0.0,
                        head_kick_decay=cfg.dart_head_kick_decay, driver=driver,
                        driver_calls=int(round(driven_s / lc.control_dt)))
    policy.report_done = lc.hold_after_success == 0
    r = run_episode(policy, task, seed, sim=sim, embodiment=emb, config=lc, world=world)
    base = {'i': i, 'task_name': name, 'success': bool(r.success), 'steps': r.steps, 'time': r.time}
    keep = r.steps
    if not r.success:
        if not policy.driver_calls:
            return base
        keep = min(policy.driver_calls, r.steps)    # a rollout the teacher did not finish: the driver's part
    tr = r.trajectory
    arr = {k: v[:keep] for k, v in tr.as_arrays().items()}
    # the gated command as applied; DART episodes and rollouts keep the teacher's clean action (the correction)
    labels = np.asarray(policy.clean[:keep], dtype=np.float32) if dart or driver is not None else arr['actions']
    joint_idx = [tr.joint_names.index(j) for j in emb.joint_names]
    source = (f'sim:rollout:{driver.name}:observable_teacher_labels:gated' if driver is not None
              else f'sim:observable_teacher{":dart" if dart else ""}:gated')
    base.update(images=_camera_noise(arr['images'], rng, cfg), state=arr['joint_positions'][:, joint_idx],
                actions=emb.unnormalize(labels).astype(np.float32), timestamps=arr['stamps'],
                instruction=task.instruction, base_pose=arr['base_poses'],
                range_sectors=arr['range_sectors'] if cfg.range_sectors else None,
                info={'task_name': name, 'target': task.target or '', 'seed': seed, 'success': bool(r.success),
                      'source': source, 'split_group': 'seen'},
                light=light, target_in_image=np.asarray(policy.targets[:keep], dtype=np.float32),
                objects_in_image=np.asarray(policy.objects[:keep], dtype=np.float32))
    return base


# -- main ------------------------------------------------------------------------------------------
def collect(out: str | Path, cfg: CollectConfig, progress: bool = True) -> dict:
    """Collect ``cfg.episodes`` episodes into a new dataset at ``out``; returns a summary."""
    out = Path(out)
    if (out / 'meta' / 'info.json').exists():
        raise FileExistsError(f'{out} already holds a dataset; choose another --out or delete it')
    emb = load_embodiment('vla_humanoid')
    assert tuple(emb.joint_names) == tuple(COMMANDED_JOINTS) or set(emb.joint_names) == set(COMMANDED_JOINTS)
    writer = DatasetWriter(out, fps=10.0, image_shape=(cfg.image_size, cfg.image_size, 3),
                           state_names=list(emb.joint_names), action_names=[d.name for d in emb.dims],
                           target_annotations=True, object_names=ALL_OBJECTS, base_pose=True,
                           range_sectors=cfg.range_sectors)
    plan = _episode_plan(cfg)
    t0 = time.perf_counter()
    fails: dict[str, int] = {}
    frames = 0
    if cfg.workers > 1:
        # workers forked from a parent that trained with torch's threads hang (OpenMP): those of a rollout
        # collection (train's DAgger round) start from a fresh server process
        ctx = mp.get_context('forkserver' if cfg.rollout_policy else 'fork')
        pool = ctx.Pool(cfg.workers, initializer=_init_worker, initargs=(cfg,))
        results = pool.imap(collect_one, plan, chunksize=4)
    else:
        pool = None
        _init_worker(cfg)
        results = map(collect_one, plan)
    try:
        for res in tqdm(results, total=len(plan), disable=not progress, desc='collect', unit='ep'):
            if not res['success']:
                fails[res['task_name']] = fails.get(res['task_name'], 0) + 1
            if 'images' not in res:
                continue
            writer.add_episode(Episode(res['images'], res['state'], res['actions'], res['timestamps'],
                                       res['instruction'], res['info'], res['target_in_image'],
                                       res['objects_in_image'], base_pose=res['base_pose'],
                                       range_sectors=res['range_sectors']))
            frames += len(res['images'])
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    wall = time.perf_counter() - t0
    summary = {'episodes_attempted': len(plan), 'episodes_written': writer.num_episodes, 'frames': frames,
               'teacher_failures': fails, 'wall_s': round(wall, 1),
               'collect_config': {k: (list(v) if isinstance(v, tuple) else v)
                                  for k, v in dataclasses.asdict(cfg).items()}}
    writer.close(val_fraction=cfg.val_fraction, extra_info={'collection': summary})
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog='python -m vla_learning.collect', description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', help='dataset directory to create (default: the config\'s dataset path)')
    ap.add_argument('--config', help="training config YAML; its 'collect:' block and 'dataset' path are used")
    ap.add_argument('--episodes', type=int)
    ap.add_argument('--workers', type=int)
    ap.add_argument('--seed', type=int)
    ap.add_argument('--image-size', type=int)
    args = ap.parse_args(argv)
    block, out = {}, args.out
    if args.config:
        conf = read_yaml(args.config)
        block = dict(conf.get('collect') or {})
        out = out or conf.get('dataset')
    for k in ('episodes', 'workers', 'seed', 'image_size'):
        if getattr(args, k) is not None:
            block[k] = getattr(args, k)
    if not out:
        ap.error('give --out DIR (or --config with a dataset path)')
    try:
        cfg = from_dict(CollectConfig, block, 'collect')
    except ConfigError as exc:
        ap.error(str(exc))
    os.nice(0)
    summary = collect(out, cfg)
    print(f"wrote {summary['episodes_written']} episodes, {summary['frames']} frames to {out} in "
          f"{summary['wall_s']} s (teacher failures: {summary['teacher_failures'] or 'none'})")
    return 0


if __name__ == '__main__':
    sys.exit(main())
