"""Benchmark the simulator: task success of a policy in lockstep, and raw speed.

    python -m vla_tools.sim_benchmark                          # scripted expert, 50 episodes per task
    python -m vla_tools.sim_benchmark --policy keyword --render always --episodes 20
    python -m vla_tools.sim_benchmark --skip-tasks             # speed only
    python -m vla_tools.sim_benchmark --json results.json

Prints, per task, the success rate over seeded episodes (seeds 0..N-1; the same seeds give the
same worlds and instructions on every machine), then physics steps/s, rendered frames/s at the
ROS camera size and at the policy size, and lockstep episodes per minute. Exits 1 when a task's
success rate is below ``--min-success`` (default 0.98).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from vla_core.embodiment import load_embodiment
from vla_sim.lockstep import LockstepConfig, run_episode
from vla_sim.policy_spec import build_policy
from vla_sim.sim import HumanoidSim
from vla_sim.tasks import TASKS

import mujoco  # last: importing vla_sim sets MUJOCO_GL (egl unless set), which MuJoCo reads when it loads


def measure_physics(sim, seconds: float = 1.0) -> float:
    """Physics steps per second with the base and an arm moving (no rendering)."""
    sim.reset(0)
    sim.set_base_twist(0.3, 0.0, 0.5)
    sim.set_joint_targets({'left_shoulder_pitch_joint': -2.0})
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        sim.step(n_steps=200)
        n += 200
    return n / (time.perf_counter() - t0)


def measure_render(sim, width: int, height: int, seconds: float = 1.0, depth: bool = False) -> float:
    """Frames per second of the head camera, moving the robot between frames."""
    sim.reset(1)
    sim.set_base_twist(0.0, 0.0, 1.0)
    render = sim.render_depth if depth else sim.render
    render(width, height)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        sim.step(n_steps=4)
        render(width, height)
        n += 1
    return n / (time.perf_counter() - t0)


def measure_scan(sim, seconds: float = 0.5) -> float:
    sim.reset(2)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        sim.scan()
        n += 1
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog='python -m vla_tools.sim_benchmark', description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--policy', default='scripted_expert',
                    help="'scripted_expert' (privileged), a vla_policy registry name, a checkpoint dir, "
                         "or module:Class")
    ap.add_argument('--embodiment', default='vla_humanoid')
    ap.add_argument('--episodes', type=int, default=50, help='episodes per task (seeds 0..N-1)')
    ap.add_argument('--first-seed', type=int, default=0)
    ap.add_argument('--tasks', default='all', help=f"comma-separated, from: {', '.join(TASKS)}")
    ap.add_argument('--render', default='auto', choices=('auto', 'always', 'never'),
                    help='auto: render unless the policy is privileged')
    ap.add_argument('--image-size', default='96x96', help='policy image HxW')
    ap.add_argument('--camera-size', default='320x240', help='ROS camera WxH for the render benchmark')
    ap.add_argument('--min-success', type=float, default=0.98)
    ap.add_argument('--skip-tasks', action='store_true', help='only measure speed')
    ap.add_argument('--skip-perf', action='store_true', help='only measure task success')
    ap.add_argument('--json', help='also write the figures to this file')
    args = ap.parse_args(argv)

    names = list(TASKS) if args.tasks == 'all' else [t.strip() for t in args.tasks.split(',') if t.strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown:
        ap.error(f"unknown task(s) {unknown}; choose from {', '.join(TASKS)}")
    ih, iw = (int(v) for v in args.image_size.lower().split('x'))
    cw, ch = (int(v) for v in args.camera_size.lower().split('x'))

    sim = HumanoidSim()
    embodiment = load_embodiment(args.embodiment)
    policy = build_policy(args.policy, sim, embodiment)
    label = args.policy + (' (PRIVILEGED: reads the simulator true state, not the camera)' if policy.privileged else '')
    print(f'vla_sim benchmark  mujoco {mujoco.__version__}  MUJOCO_GL={os.environ.get("MUJOCO_GL")}  '
          f'cpus={os.cpu_count()}')
    print(f'policy: {label}')
    report: dict = {'policy': args.policy, 'privileged': bool(policy.privileged), 'tasks': {}, 'perf': {}}
    failed = []

    if not args.skip_tasks:
        config = LockstepConfig(image_size=(ih, iw), render=args.render)
        rendered = args.render == 'always' or (args.render == 'auto' and not policy.privileged)
        print(f'lockstep: {args.episodes} episodes per task, seeds {args.first_seed}..'
              f'{args.first_seed + args.episodes - 1}, control 10 Hz, physics {1 / sim.timestep:.0f} Hz, '
              f'images {ih}x{iw} {"rendered" if rendered else "not rendered (privileged policy)"}')
        print(f"{'task':17s} {'success':>14s} {'time s':>7s} {'path m':>7s} {'coll':>5s}  example instruction")
        total_eps, total_wall = 0, 0.0
        for name in names:
            results = []
            t0 = time.perf_counter()
            for seed in range(args.first_seed, args.first_seed + args.episodes):
                results.append(run_episode(policy, name, seed, sim=sim, embodiment=embodiment, config=config))
            wall = time.perf_counter() - t0
            total_eps += len(results)
            total_wall += wall
            ok = sum(r.success for r in results)
            rate = ok / len(results)
            won = [r for r in results if r.success]
            mean_t = float(np.mean([r.time for r in won])) if won else float('nan')
            mean_p = float(np.mean([r.path_length for r in results]))
            coll = sum(r.collisions for r in results)
            flag = '' if rate >= args.min_success else '  <-- below target'
            print(f'{name:17s} {ok:3d}/{len(results):<3d} {100 * rate:5.1f}% {mean_t:7.2f} {mean_p:7.2f} {coll:5d}  '
                  f'"{results[0].instruction}"{flag}')
            report['tasks'][name] = {'success_rate': rate, 'episodes': len(results), 'mean_time_s': mean_t,
                                     'mean_path_m': mean_p, 'collisions': coll,
                                     'failed_seeds': [r.seed for r in results if not r.success],
                                     'episodes_per_min': 60.0 * len(results) / wall}
            if rate < args.min_success:
                failed.append(name)
        epm = 60.0 * total_eps / total_wall
        report['perf']['lockstep_episodes_per_min'] = epm
        print(f'lockstep: {total_eps} episodes in {total_wall:.1f} s = {epm:.0f} episodes/min '
              f'({"with" if rendered else "without"} rendering)')
        if not rendered and not args.skip_perf:
            # the same episodes with the camera rendered, as a vision policy would need
            cfg = LockstepConfig(image_size=(ih, iw), render='always')
            n, t0 = 0, time.perf_counter()
            for name in names:
                for seed in range(args.first_seed, args.first_seed + 3):
                    run_episode(policy, name, seed, sim=sim, embodiment=embodiment, config=cfg)
                    n += 1
            epm_r = 60.0 * n / (time.perf_counter() - t0)
            report['perf']['lockstep_episodes_per_min_rendered'] = epm_r
            print(f'lockstep: {epm_r:.0f} episodes/min rendering {ih}x{iw} every control step '
                  f'({n} episodes, 3 per task)')

    if not args.skip_perf:
        steps = measure_physics(sim)
        fps_cam = measure_render(sim, cw, ch)
        fps_pol = measure_render(sim, iw, ih)
        fps_depth = measure_render(sim, cw, ch, depth=True)
        scans = measure_scan(sim)
        report['perf'].update({'physics_steps_per_s': steps, 'real_time_factor': steps * sim.timestep,
                               f'render_fps_{cw}x{ch}': fps_cam, f'render_fps_{iw}x{ih}': fps_pol,
                               f'depth_fps_{cw}x{ch}': fps_depth, 'scans_per_s': scans})
        print(f'physics: {steps:,.0f} steps/s ({steps * sim.timestep:.0f}x real time at '
              f'{sim.timestep * 1e3:.0f} ms steps)')
        print(f'render:  {fps_cam:.0f} frames/s at {cw}x{ch} RGB, {fps_pol:.0f} frames/s at {iw}x{ih}, '
              f'{fps_depth:.0f} frames/s at {cw}x{ch} depth')
        print(f'lidar:   {scans:,.0f} scans/s ({sim.lidar.config.n_beams} beams)')
    sim.close()

    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
    if failed:
        print(f"FAIL: below {100 * args.min_success:.0f}% success: {', '.join(failed)}")
        return 1
    if not args.skip_tasks:
        print(f'PASS: every task >= {100 * args.min_success:.0f}% success')
    return 0


if __name__ == '__main__':
    sys.exit(main())
