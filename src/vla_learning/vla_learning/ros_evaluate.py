"""Evaluate a policy in the closed ROS loop, beside lockstep evaluation of the same cases.

    python -m vla_learning.ros_evaluate --policy default --episodes 3 --out data/eval/ros
    vla_ros_evaluate --episodes 1 --policy keyword         # CI's short version: one episode per task and split
    vla_ros_evaluate --instructions my_phrasings.tsv       # your own (instruction, task) pairs

The cases are those of ``python -m vla_learning.evaluate`` with the same options (splits, tasks,
episodes, seeds from --first-seed, an --instructions file). Each runs through the loop a robot
runs, the demo's (:class:`vla_tools.demo.Demo`): the simulator node in this process (it
publishes /clock), vla_inference and vla_safety as processes on sim time, over DDS. Per case:
vla/stop; the world of the case's seed (robot at its start pose, at rest; ROS time runs on);
the instruction on vla/command once the inference node's subscription is matched; the task's
own success predicate on the simulator's true state until it holds or the task's time limit
passes (out-of-scope instructions: watched for 3 s, never a success). Confidences are those
vla_inference published on vla/action, one per action chunk (lockstep records one per policy
call), so refusals (first confidence below --confidence-threshold, which vla_safety also gets)
and AUROC mean what they mean in lockstep. A policy that reports ``done`` on its very first call
(the keyword policy on 'stop') makes the node stand still without publishing that proposal: such
an episode has no confidence (not refused, left out of AUROC).

The gated lockstep evaluation of the same cases (vla_safety's gate at the same threshold, as
``python -m vla_learning.evaluate`` runs it) runs first, in this command (its report under
``lockstep/``). ``results.md`` is the closed-loop report in evaluate's format, then the two side
by side per split with the difference in points; ``results.json`` holds both reports and the
comparison. What differs from lockstep by design: the gate is the vla_safety process (its
obstacle zones read the node's lidar scans), the head camera is
rendered by the node at the policy's image size (square, as lockstep renders) and reaches the
policy up to a frame (1/15 s) late, joint states up to 20 ms late, and each action at the next
10 Hz tick; the success predicate is fed the true state every ~20 ms of wall time instead of
every 0.1 s control step; collisions count objects touched (lockstep: contacts begun).

The simulator runs at --real-time-factor (1.0: the nodes' timers and the policy's pace are
those of a real robot), so a run takes about the simulated time of its episodes: ~80 s per
episode of every task when all fail, less when they succeed.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

from vla_learning.eval_report import _fmt
from vla_learning.eval_cases import case_world
from vla_learning.evaluate import (CHUNK_STEPS, Case, Outcome, add_case_arguments, case_outcome, case_task,
                                   loop_meta, make_report, parse_case_arguments, policy_image_size, run_cases,
                                   select_cases, to_markdown, write_report)

#: policy specs of the privileged scripted expert (the demo serves it to the inference node)
EXPERT_SPECS = ('scripted_expert', 'expert')
#: the issue's bar: each split's closed-loop success within this many points of lockstep
AGREEMENT_POINTS = 5.0


def camera_side(policy: str) -> int:
    """Side of the square head-camera image the node renders: what lockstep renders for this
    policy (the privileged expert reads no image)."""
    if policy in EXPERT_SPECS:
        return 96
    from vla_core.embodiment import load_embodiment
    from vla_policy.registry import make_policy
    return policy_image_size(make_policy(policy, load_embodiment('vla_humanoid')))


def run_cases_ros(policy: str, cases: list[Case], *, threshold: float = 0.5, real_time_factor: float = 1.0,
                  camera: int | None = None, domain_id: int | None = None, quiet: bool = True,
                  progress: bool = True, state_delay: float = 0.0,
                  hold: float = 0.0) -> tuple[list[Outcome], str]:
    """Run every case through the closed ROS loop; (outcomes, the demo's description of the policy).
    ``camera``: side of the square head-camera image (default :func:`camera_side`). ``state_delay``:
    the simulator node publishes joint_states and odom that many seconds late. ``hold``: each
    success is followed that many seconds more and judged kept or not."""
    from tqdm import tqdm
    from vla_tools.demo import Demo
    if not cases:
        raise ValueError('no cases to run: choose splits and tasks, or give --instructions')
    spec = 'expert' if policy in EXPERT_SPECS else policy
    if Path(spec).is_dir():
        spec = str(Path(spec).resolve())        # the node processes resolve it themselves
    side = camera or camera_side(policy)
    demo = Demo(seed=cases[0].seed, policy=spec, real_time_factor=real_time_factor, record=False,
                domain_id=domain_id, quiet=quiet, safety={'confidence_threshold': float(threshold)},
                camera_size=(side, side), state_delay=state_delay)
    out: list[Outcome] = []
    demo.start()
    try:
        for c in tqdm(cases, disable=not progress, desc='ros evaluate', unit='ep'):
            world = case_world(c.seed, c.start)
            demo.request_stop()
            demo.reset_world(world)
            r = demo.run_task(case_task(c, world), hold=hold)
            out.append(case_outcome(c, r.success, r.time, len(r.collisions), r.confidences, r.latencies_ms,
                                    r.safety_counts, r.kept, r.hold_confidences))
    finally:
        demo.close()
    return out, demo.policy_label


def compare(ros: dict[str, Any], lockstep: dict[str, Any], ros_outcomes: list[Outcome],
            lockstep_outcomes: list[Outcome]) -> dict[str, Any]:
    """Per split: success (refusal for out-of-scope) in both loops and the difference in points
    (ROS minus lockstep); the summary figures of both; the episodes judged differently."""
    splits = {}
    for split, r in ros['splits'].items():
        lk = lockstep['splits'][split]
        key = 'refused' if split == 'out_of_scope' else 'success_rate'
        # rounded: 18/20 against 17/20 is 5 points, not 5.000000000000004 (0.9 - 0.85 in floats)
        diff = round(100.0 * (r[key] - lk[key]), 9)
        splits[split] = {'measure': key, 'ros': r[key], 'lockstep': lk[key], 'difference_points': diff,
                         'ros_successes': r['successes'], 'lockstep_successes': lk['successes'],
                         'episodes': r['episodes'], 'within_bar': abs(diff) <= AGREEMENT_POINTS,
                         'ros_refused': r['refused'], 'lockstep_refused': lk['refused']}
    thr = ros['summary']['threshold']
    differ = [{'split': a.split, 'task': a.task, 'seed': a.seed, 'instruction': a.instruction,
               'ros_success': a.success, 'lockstep_success': b.success,
               'ros_refused': a.first_conf < thr, 'lockstep_refused': b.first_conf < thr}
              for a, b in zip(ros_outcomes, lockstep_outcomes)
              if a.success != b.success or (a.first_conf < thr) != (b.first_conf < thr)]
    keys = ('refusal_rate_out_of_scope', 'false_refusal_rate_seen', 'auroc_failure_mean_conf',
            'auroc_failure_first_conf', 'latency_ms_p50', 'latency_ms_p99')
    return {'bar_points': AGREEMENT_POINTS, 'splits': splits,
            'summary': {k: {'ros': ros['summary'][k], 'lockstep': lockstep['summary'][k]} for k in keys},
            'episodes': len(ros_outcomes), 'judged_differently': differ}


def comparison_markdown(cmp: dict[str, Any]) -> str:
    lines = ['## Beside lockstep (the same cases and seeds)', '',
             '| split | measure | ROS | lockstep | difference (points) | within ' f"{cmp['bar_points']:.0f} |",
             '|---|---|---|---|---|---|']
    for split, r in cmp['splits'].items():
        n = r['episodes']
        if r['measure'] == 'refused':
            ros, lk = _fmt(r['ros']), _fmt(r['lockstep'])
        else:
            ros = f"{r['ros_successes']}/{n} ({_fmt(r['ros'])})"
            lk = f"{r['lockstep_successes']}/{n} ({_fmt(r['lockstep'])})"
        lines.append(f"| {split} | {'refused' if r['measure'] == 'refused' else 'success'} | {ros} | {lk} | "
                     f"{r['difference_points']:+.0f} | {'yes' if r['within_bar'] else 'no'} |")
    s = cmp['summary']
    pct = ('refusal_rate_out_of_scope', 'false_refusal_rate_seen')
    names = {'refusal_rate_out_of_scope': 'out-of-scope refused', 'false_refusal_rate_seen': 'false refusals on seen',
             'auroc_failure_mean_conf': 'AUROC (mean confidence)',
             'auroc_failure_first_conf': 'AUROC (first confidence)',
             'latency_ms_p50': 'policy latency p50 (ms)', 'latency_ms_p99': 'policy latency p99 (ms)'}
    lines += ['', '| | ROS | lockstep |', '|---|---|---|']
    for k, v in s.items():
        lines.append(f"| {names[k]} | {_fmt(v['ros'], k in pct)} | {_fmt(v['lockstep'], k in pct)} |")
    d = cmp['judged_differently']
    lines += ['', f"Episodes judged differently (success or refusal): {len(d)} of {cmp['episodes']}"
              + (':' if d else '.')]
    for e in d[:30]:
        lines.append(f"- {e['split']} {e['task']} seed {e['seed']} '{e['instruction']}': ROS "
                     f"{_verdict(e['ros_success'], e['ros_refused'])}, lockstep "
                     f"{_verdict(e['lockstep_success'], e['lockstep_refused'])}")
    if len(d) > 30:
        lines.append(f'- ... {len(d) - 30} more in results.json')
    return '\n'.join(lines) + '\n'


def _verdict(success: bool, refused: bool) -> str:
    return ('success' if success else 'failure') + (' (refused)' if refused else '')


def ros_evaluate(policy: str = 'default', splits=None, tasks=None, episodes: int = 5, threshold: float = 0.5,
                 out: str | Path | None = None, instructions: str | None = None, first_seed: int | None = None,
                 real_time_factor: float = 1.0, domain_id: int | None = None, quiet: bool = True,
                 progress: bool = True, state_delay: float = 0.0, hold: float = 0.0) -> dict[str, Any]:
    """Lockstep, then the closed ROS loop, on the same cases; the closed-loop report with
    ``lockstep`` (that report) and ``comparison`` (:func:`compare`) added. Writes both under ``out``.
    ``state_delay``: joint states and odometry reach the policy that many seconds late in both;
    ``hold``: each success is followed that many seconds more in both, and judged kept or not."""
    from vla_learning.evaluate import FIRST_SEED, SPLITS
    first_seed = FIRST_SEED if first_seed is None else first_seed
    cases = select_cases(SPLITS if splits is None else splits, tasks, episodes, first_seed, instructions)
    if not cases:
        raise ValueError('no cases to run: choose splits and tasks, or give --instructions')
    t0 = time.perf_counter()
    lock_outcomes, chunk_steps = run_cases(policy, cases, CHUNK_STEPS, progress=progress, gate=True,
                                           threshold=threshold, state_delay=state_delay, hold=hold)
    late = loop_meta(state_delay, hold)
    lockstep = make_report(lock_outcomes, threshold, policy, episodes, chunk_steps, first_seed,
                           time.perf_counter() - t0, loop='lockstep', gate=True, **late)
    t0 = time.perf_counter()
    ros_outcomes, label = run_cases_ros(policy, cases, threshold=threshold, real_time_factor=real_time_factor,
                                        domain_id=domain_id, quiet=quiet, progress=progress, state_delay=state_delay,
                                        hold=hold)
    report = make_report(ros_outcomes, threshold, policy, episodes, chunk_steps, first_seed,
                         time.perf_counter() - t0, loop='ros', gate=True, policy_served=label,
                         real_time_factor=real_time_factor, **late)
    cmp = compare(report, lockstep, ros_outcomes, lock_outcomes)
    if out:
        out = Path(out)
        write_report(out / 'lockstep', lockstep, lock_outcomes, 'Evaluation in lockstep')
        write_report(out, dict(report, comparison=cmp, lockstep=lockstep), ros_outcomes,
                     'Evaluation in the closed ROS loop', '\n' + comparison_markdown(cmp))
    return dict(report, lockstep=lockstep, comparison=cmp)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog='python -m vla_learning.ros_evaluate', description=__doc__.split('\n\n')[0])
    add_case_arguments(ap, policy='default', episodes=5, out='data/eval/ros')
    ap.add_argument('--real-time-factor', type=float, default=1.0,
                    help="simulated seconds per wall-clock second (1.0: a real robot's pace)")
    ap.add_argument('--state-delay', type=float, default=0.0,
                    help='seconds by which joint states and odometry arrive late (the simulator node publishes '
                         'them so; lockstep reads them as late)')
    ap.add_argument('--domain-id', type=int, help='ROS_DOMAIN_ID of the run (default: a random one in 100-200)')
    ap.add_argument('--threads', type=int, default=1, help='torch threads of the lockstep run')
    ap.add_argument('--verbose', action='store_true', help="show the nodes' logs")
    args = ap.parse_args(argv)
    splits, tasks = parse_case_arguments(ap, args)
    if not math.isfinite(args.real_time_factor) or args.real_time_factor <= 0:
        ap.error(f'--real-time-factor must be > 0, got {args.real_time_factor}')
    if not 0.0 <= args.state_delay <= 2.0:
        ap.error(f'--state-delay must be in [0, 2] s, got {args.state_delay}')
    if not splits and not args.instructions:
        ap.error('no cases to run: choose --splits, or give --instructions')
    import torch
    torch.set_num_threads(args.threads)
    report = ros_evaluate(args.policy, splits, tasks, args.episodes, args.confidence_threshold, args.out,
                          args.instructions, args.first_seed, args.real_time_factor, args.domain_id,
                          quiet=not args.verbose, state_delay=args.state_delay, hold=args.hold)
    print(to_markdown(report, f'Closed-loop ROS evaluation of {args.policy}'))
    print(comparison_markdown(report['comparison']))
    print(f"wall time: lockstep {report['lockstep']['wall_s']:.0f} s, closed ROS loop {report['wall_s']:.0f} s "
          f"({report['simulated_s']:.0f} s simulated)")
    print(f'wrote {args.out}/results.md, results.json, plots/ and {args.out}/lockstep/')
    return 0


if __name__ == '__main__':
    sys.exit(main())
