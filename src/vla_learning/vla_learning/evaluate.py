"""Evaluate a policy in the embedded simulator, in lockstep, per task and split.

    python -m vla_learning.evaluate                                   # the default checkpoint, 20 episodes
    python -m vla_learning.evaluate --policy data/runs/default/checkpoints/best --episodes 50 --out data/eval/x
    python -m vla_learning.evaluate --policy scripted_expert --splits seen   # the privileged upper bound
    python -m vla_learning.evaluate --instructions my_phrasings.tsv  # your own (instruction, task) pairs

The policy is built with ``vla_policy.registry.make_policy`` (what the inference node does) and
driven by ``vla_sim.lockstep.run_episode`` through ``vla_core.runner.PolicyRunner``, the code
the inference node runs it with: each call sees the head camera rendered at the policy's image
size, the instruction and the joint positions; a call every ``chunk_steps`` control steps (0, the
default: the policy's own ``n_action_steps``, every step for a policy that declares none, as the
node calls it), chunks interpolated as the node does. Every command passes vla_safety's gate
(default parameters, the simulated lidar, the URDF's joint limits) before it moves the robot, so
the success rates are those of the robot as the safety node lets it move (``--no-gate``: as
proposed). Worlds use the simulator's default randomisation and seeds from ``--first-seed``
(10 000 000, disjoint from the collection seeds).

Splits and cases: :mod:`vla_learning.eval_cases` (``custom``: ``--instructions``, one
``instruction<TAB>task[<TAB>colour_shape]`` per line, or CSV, or a JSON/YAML list). The report:
:mod:`vla_learning.eval_report`. Defaults (episodes, splits, chunk_steps, threshold, seeds):
:class:`vla_learning.config.EvalConfig`.

Refusal: the safety gate blocks proposals whose confidence is below ``--confidence-threshold``
(vla_safety's default 0.5, trigger_count 1). An episode is *refused* when its first proposal is
below the threshold (the robot never starts); *blocked* when any proposal is. The table also
gives the share of control steps the gate spent in SLOWDOWN, LIMITED and STOP.

Writes ``results.json``, ``results.md`` and ``plots/*.png`` under ``--out``.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from vla_learning.config import CHUNK_STEPS, FIRST_SEED, SPLITS, EvalConfig
from vla_learning.eval_cases import (OUT_OF_SCOPE_TIME, Case, case_task, case_world, check_selection, make_cases,
                                     read_instruction_file, select_cases)
from vla_learning.eval_report import (GATED, UNGATED, Outcome, case_outcome, make_report, summarise, to_markdown,
                                      wilson, write_report)
from vla_core.embodiment import load_embodiment
from vla_core.runner import RunnerConfig, call_ticks
from vla_sim.lockstep import LockstepConfig, run_episode
from vla_sim.policy_spec import build_policy
from vla_sim.safety import default_safety_params
from vla_sim.sim import HumanoidSim

#: what this module offers (the cases and the report are re-exported from their modules)
__all__ = ['CHUNK_STEPS', 'DEFAULT_POLICY', 'FIRST_SEED', 'GATED', 'OUT_OF_SCOPE_TIME', 'SPLITS', 'UNGATED', 'Case',
           'Outcome', 'RecordingPolicy', 'add_case_arguments', 'case_outcome', 'case_task', 'check_selection',
           'evaluate', 'main', 'make_cases', 'make_report', 'parse_case_arguments', 'policy_chunk_steps',
           'policy_image_size', 'read_instruction_file', 'run_cases', 'select_cases', 'summarise', 'to_markdown',
           'wilson', 'write_report']

DEFAULT_POLICY = 'src/vla_policy/checkpoints/default'
DEFAULTS = EvalConfig()


def policy_chunk_steps(chunk_steps: int, policy) -> int:
    """Control steps per call: the PolicyRunner's schedule for ``chunk_steps`` (1 where the policy
    is called on every frame: lockstep renders one a step)."""
    return call_ticks(RunnerConfig(call_every_ticks=int(chunk_steps)), policy) or 1


def policy_image_size(policy) -> int:
    """Side of the square head-camera image a policy is evaluated with: its config's
    ``image_size``, 96 for a policy without one."""
    cfg = getattr(policy, 'config', None)
    return int(getattr(cfg, 'image_size', None) or 96)


class RecordingPolicy:
    """Wraps a Policy: same interface (its vocabulary too), records each call's inference latency.
    (The confidences an episode is judged by are the runner's: EpisodeResult.confidences.)"""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.privileged = getattr(inner, 'privileged', False)
        self.vocabulary = getattr(inner, 'vocabulary', None)
        self.reads_odometry = getattr(inner, 'reads_odometry', False)     # the loop hands it what it reads
        self.reads_scan = getattr(inner, 'reads_scan', False)
        if hasattr(inner, 'sim'):
            self.sim = inner.sim
        if hasattr(inner, 'embodiment'):
            self.embodiment = inner.embodiment
        if hasattr(inner, 'processor'):     # the runner reads a new instruction's unknown words through it,
            self.processor = inner.processor    # before the (timed) call, as in the node
        self.latencies_ms: list[float] = []

    def reset(self) -> None:
        self.inner.reset()
        self.latencies_ms = []

    def infer(self, obs):
        t0 = time.perf_counter()
        out = self.inner.infer(obs)
        self.latencies_ms.append(1e3 * (time.perf_counter() - t0))
        return out


def run_cases(policy_spec: str, cases: list[Case], chunk_steps: int, image_size: int | None = None,
              progress: bool = True, backend: str = 'auto', ensemble_coeff: float | None = None,
              gate: bool = True, threshold: float | None = None,
              state_delay: float = 0.0, hold: float = 0.0) -> tuple[list[Outcome], int]:
    """Run every case; (outcomes, the control steps per call: :func:`policy_chunk_steps`).
    ``state_delay``: joint states and odometry reach the policy that many seconds late. ``hold``:
    each success is followed that many seconds more, and judged kept or not (Outcome.kept).
    ``ensemble_coeff``: the runner blends overlapping chunks (ACT temporal ensembling, the node's
    ``temporal_ensembling: true``). ``gate``: through vla_safety's gate, its confidence_threshold
    ``threshold`` (None: its default)."""
    sim = HumanoidSim()
    emb = load_embodiment('vla_humanoid')
    options = {} if backend == 'torch' else {'backend': backend}
    policy = RecordingPolicy(build_policy(policy_spec, sim, emb, **options))
    if image_size is None:
        image_size = policy_image_size(policy.inner)
    rc = RunnerConfig(call_every_ticks=int(chunk_steps), temporal_ensembling=ensemble_coeff is not None,
                      ensemble_coeff=ensemble_coeff if ensemble_coeff is not None else RunnerConfig().ensemble_coeff)
    chunk_steps = policy_chunk_steps(chunk_steps, policy.inner)
    safety = None
    if gate and threshold is not None:
        safety = replace(default_safety_params(), confidence_threshold=threshold)
    lc = LockstepConfig(runner=rc, gate=gate, safety=safety, image_size=(image_size, image_size),
                        render='always' if not policy.privileged else 'auto', state_delay=state_delay,
                        hold_after_success=hold)
    out = []
    for c in tqdm(cases, disable=not progress, desc='evaluate', unit='ep'):
        world = case_world(c.seed, c.start)
        r = run_episode(policy, case_task(c, world), c.seed, sim=sim, embodiment=emb, config=lc, world=world)
        out.append(case_outcome(c, r.success, r.time, r.collisions, list(r.confidences), policy.latencies_ms,
                                r.gate_counts, r.kept, r.hold_confidences))
    sim.close()
    return out, chunk_steps


def evaluate(policy: str, splits=DEFAULTS.splits, tasks=DEFAULTS.tasks, episodes: int = DEFAULTS.episodes,
             chunk_steps: int = DEFAULTS.chunk_steps, threshold: float = DEFAULTS.confidence_threshold,
             out: str | Path | None = None, instructions: str | None = None, first_seed: int = DEFAULTS.first_seed,
             image_size: int | None = None, progress: bool = True, backend: str = 'auto',
             ensemble_coeff: float | None = None, gate: bool = True, state_delay: float = 0.0,
             hold: float = 0.0) -> dict:
    """Run the cases (:func:`select_cases`) and return the report; with ``out``, write it there."""
    cases = select_cases(splits, tasks, episodes, first_seed, instructions)
    t0 = time.perf_counter()
    outcomes, chunk_steps = run_cases(policy, cases, chunk_steps, image_size, progress, backend, ensemble_coeff,
                                      gate, threshold, state_delay, hold)
    meta = loop_meta(state_delay, hold)
    report = make_report(outcomes, threshold, policy, episodes, chunk_steps, first_seed, time.perf_counter() - t0,
                         backend=backend, ensemble_coeff=ensemble_coeff, gate=gate, **meta)
    if out:
        write_report(Path(out), report, outcomes, 'Evaluation')
    return report


def loop_meta(state_delay: float, hold: float) -> dict[str, float]:
    """What the report states about the loop: the state's lateness and the hold, where set."""
    return {**({'state_delay_s': state_delay} if state_delay else {}), **({'hold_s': hold} if hold else {})}


def add_case_arguments(ap: argparse.ArgumentParser, policy: str = DEFAULT_POLICY, episodes: int = DEFAULTS.episodes,
                       out: str = 'data/eval/latest') -> None:
    """The options that choose a policy and the cases, and where the report goes (this command's
    and ``vla_learning.ros_evaluate``'s); read back with :func:`parse_case_arguments`."""
    ap.add_argument('--policy', default=policy,
                    help='checkpoint directory, registry name (keyword, scripted_expert, ...) or module:Class')
    ap.add_argument('--episodes', type=int, default=episodes, help='episodes per task and split')
    ap.add_argument('--splits', default=','.join(DEFAULTS.splits),
                    help=f"comma-separated from {', '.join(SPLITS)} ('' = none)")
    ap.add_argument('--tasks', default='', help='comma-separated task names (default: all)')
    ap.add_argument('--instructions', help='file of (instruction, task[, target]) pairs, evaluated as split custom')
    ap.add_argument('--confidence-threshold', type=float, default=DEFAULTS.confidence_threshold,
                    help="the gate's confidence_threshold; an episode is refused when its first confidence is below "
                         "it (vla_safety's default 0.5)")
    ap.add_argument('--first-seed', type=int, default=DEFAULTS.first_seed)
    ap.add_argument('--hold', type=float, default=0.0,
                    help='seconds to go on after each success, judging whether the task keeps its state until the '
                         "next command (the wave goes on, the arm stays up, ...): the report's 'kept' table")
    ap.add_argument('--out', default=out, help='directory for results.md, results.json, plots/')


def parse_case_arguments(ap: argparse.ArgumentParser, args) -> tuple[list[str], list[str] | None]:
    """(splits, tasks or None = all) from :func:`add_case_arguments`' options; unknown ones are a usage error."""
    splits = [s for s in args.splits.split(',') if s]
    tasks = [t for t in args.tasks.split(',') if t] or None
    if not 0.0 <= args.hold <= 60.0:
        ap.error(f'--hold must be in [0, 60] s, got {args.hold}')
    try:
        check_selection(splits, tasks)
    except ValueError as exc:
        ap.error(str(exc))
    return splits, tasks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog='python -m vla_learning.evaluate', description=__doc__.split('\n\n')[0])
    add_case_arguments(ap)
    ap.add_argument('--chunk-steps', type=int, default=DEFAULTS.chunk_steps,
                    help="control steps per policy call; 0 = the policy's own n_action_steps (every step if it "
                         "declares none), as the inference node runs it by default")
    ap.add_argument('--ensemble-coeff', type=float,
                    help="blend overlapping chunks as the node does with temporal_ensembling: true and this "
                         "ensemble_coeff (a call every --chunk-steps steps; e.g. --chunk-steps 1 --ensemble-coeff 0.01)")
    ap.add_argument('--no-gate', action='store_true',
                    help="apply the policy's commands as proposed, without vla_safety's gate (not what the robot does)")
    ap.add_argument('--state-delay', type=float, default=0.0,
                    help='seconds by which joint states and odometry reach the policy late (whole control steps), '
                         'as in a loop whose state topics lag the camera')
    ap.add_argument('--image-size', type=int, help="default: the policy config's image_size")
    ap.add_argument('--threads', type=int, default=1, help='torch threads')
    ap.add_argument('--backend', choices=('auto', 'torch', 'onnx'), default='auto',
                    help="run a seed_vla checkpoint with PyTorch or its model.onnx under onnxruntime; auto (as "
                         "vla_inference's policy_backend): onnxruntime when the export is current, else PyTorch")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    splits, tasks = parse_case_arguments(ap, args)
    report = evaluate(args.policy, splits, tasks, args.episodes, args.chunk_steps, args.confidence_threshold,
                      args.out, args.instructions, args.first_seed, args.image_size, backend=args.backend,
                      ensemble_coeff=args.ensemble_coeff, gate=not args.no_gate, state_delay=args.state_delay,
                      hold=args.hold)
    print(to_markdown(report, f'Evaluation of {args.policy}'))
    print(f'wrote {args.out}/results.md, results.json, plots/')
    return 0


if __name__ == '__main__':
    sys.exit(main())
