"""Evaluate a policy in the embedded simulator, in lockstep, per task and split.

    python -m vla_learning.evaluate                                   # the default checkpoint, 20 episodes
    python -m vla_learning.evaluate --policy data/runs/default/checkpoints/best --episodes 50 --out data/eval/x
    python -m vla_learning.evaluate --policy scripted_expert --splits seen   # the privileged upper bound
    python -m vla_learning.evaluate --instructions my_phrasings.tsv  # your own (instruction, task) pairs

The policy is built with ``vla_policy.registry.make_policy`` (what the inference node does) and
driven by ``vla_sim.lockstep.run_episode`` through ``vla_policy.runner.PolicyRunner``, the code
the inference node runs it with: each call sees the head camera rendered at the policy's image
size, the instruction and the joint positions; a call every ``chunk_steps`` control steps (0, the
default: the policy's own ``n_action_steps``, every step for a policy that declares none, as the
node calls it), chunks interpolated as the node does. Every command passes vla_safety's gate
(default parameters, the simulated lidar, the URDF's joint limits) before it moves the robot, so
the success rates are those of the robot as the safety node lets it move (``--no-gate``: as
proposed). Worlds use the simulator's default randomisation and seeds from ``--first-seed``
(10 000 000, disjoint from the collection seeds).

Splits (see :mod:`vla_learning.instructions`): ``seen``, ``paraphrase``, ``unseen_combo``,
``out_of_scope``, and ``custom`` (``--instructions``: one pair per line, ``instruction<TAB>task``
or ``instruction,task``, optionally a third column ``colour_shape`` target; or a JSON/YAML list of
{instruction, task, target}). The target of walk_to / look_at is read from the instruction
(colour and shape words, synonyms included) when not given; the episode seeds are the first ones
whose world holds it.

Refusal: the safety gate blocks proposals whose confidence is below ``--confidence-threshold``
(vla_safety's default 0.5, trigger_count 1). An episode is *refused* when its first proposal is
below the threshold (the robot never starts); *blocked* when any proposal is. The table also
gives the share of control steps the gate spent in SLOWDOWN, LIMITED and STOP.

Writes ``results.json``, ``results.md`` and ``plots/*.png`` under ``--out``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_POLICY = 'src/vla_policy/checkpoints/default'
FIRST_SEED = 10_000_000
SPLITS = ('seen', 'paraphrase', 'unseen_combo', 'out_of_scope')
#: simulated seconds an out-of-scope instruction is watched (as a 'stop' episode)
OUT_OF_SCOPE_TIME = 3.0
#: control steps per policy call; 0 = the runner's default, the policy's own n_action_steps
#: (:func:`vla_policy.runner.call_ticks`), as the inference node calls it
CHUNK_STEPS = 0


def policy_chunk_steps(chunk_steps: int, policy) -> int:
    """Control steps per call: the PolicyRunner's schedule for ``chunk_steps`` (1 where the policy
    is called on every frame: lockstep renders one a step)."""
    from vla_policy.runner import RunnerConfig, call_ticks
    return call_ticks(RunnerConfig(call_every_ticks=int(chunk_steps)), policy) or 1


def policy_image_size(policy) -> int:
    """Side of the square head-camera image a policy is evaluated with: its config's
    ``image_size``, 96 for a policy without one."""
    cfg = getattr(policy, 'config', None)
    return int(getattr(cfg, 'image_size', None) or 96)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k/n."""
    if n == 0:
        return (float('nan'), float('nan'))
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    # exact ends at k = 0 and k = n (float round-off would put them a hair inside)
    return (0.0 if k == 0 else max(0.0, c - h), 1.0 if k == n else min(1.0, c + h))


@dataclass
class Case:
    split: str
    task: str                       # vla_sim task name, or 'out_of_scope'
    instruction: str
    seed: int
    target: str | None = None


@dataclass
class Outcome:
    split: str
    task: str
    instruction: str
    seed: int
    success: bool
    time: float
    collisions: int
    confidences: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    gate_counts: dict[str, int] = field(default_factory=dict)

    @property
    def first_conf(self) -> float:
        return self.confidences[0] if self.confidences else float('nan')

    @property
    def mean_conf(self) -> float:
        return float(np.mean(self.confidences)) if self.confidences else float('nan')


class RecordingPolicy:
    """Wraps a Policy: same interface, records each output's confidence and the inference latency."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.privileged = getattr(inner, 'privileged', False)
        if hasattr(inner, 'sim'):
            self.sim = inner.sim
        if hasattr(inner, 'embodiment'):
            self.embodiment = inner.embodiment
        self.confidences: list[float] = []
        self.latencies_ms: list[float] = []

    def reset(self) -> None:
        self.inner.reset()
        self.confidences = []
        self.latencies_ms = []

    def infer(self, obs):
        t0 = time.perf_counter()
        out = self.inner.infer(obs)
        self.latencies_ms.append(1e3 * (time.perf_counter() - t0))
        self.confidences.append(float(out.confidence))
        return out


# -- cases ---------------------------------------------------------------------------------------
def _world(seed: int):
    from vla_sim.world import sample_world
    return sample_world(seed)


def check_selection(splits, tasks=None) -> None:
    """ValueError naming the valid ones if a split (besides 'custom') or a task is unknown."""
    from vla_sim.tasks import TASKS
    unknown = [s for s in splits if s not in SPLITS and s != 'custom']
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}; splits are {', '.join(SPLITS)} "
                         "(and 'custom' for --instructions)")
    unknown = [t for t in (tasks or ()) if t not in TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; tasks are {', '.join(TASKS)}")


def make_cases(splits, tasks, episodes: int, first_seed: int = FIRST_SEED) -> list[Case]:
    """Deterministic cases: ``episodes`` per (split, task; None = every task); object tasks draw
    their targets by split."""
    from vla_sim.tasks import TASKS
    from vla_learning.instructions import OBJECT_TASKS, OOS_EVAL, is_held_out_combo, object_phrase, phrase
    check_selection(splits, tasks)
    tasks = list(tasks or TASKS)
    cases: list[Case] = []
    for split in splits:
        if split == 'out_of_scope':
            for i in range(episodes):
                cases.append(Case(split, 'out_of_scope', OOS_EVAL[i % len(OOS_EVAL)], first_seed + i))
            continue
        for task in tasks:
            if split == 'unseen_combo' and task not in OBJECT_TASKS:
                continue
            rng = np.random.default_rng([first_seed, SPLITS.index(split),
                                         list(TASKS).index(task)])
            seed = first_seed
            made = 0
            while made < episodes:
                seed += 1
                world = _world(seed)
                if task in OBJECT_TASKS:
                    held = split == 'unseen_combo'
                    objs = [o for o in world.objects if is_held_out_combo(o.colour, o.shape) == held]
                    if not objs:
                        continue
                    o = objs[int(rng.integers(len(objs)))]
                    if held:
                        t = str(rng.choice(TASKS[task].templates))
                        instr = t.format(obj=object_phrase(o.colour, o.shape, None))
                    else:
                        instr = phrase(task, rng, 'paraphrase' if split == 'paraphrase' else 'train', o.colour,
                                       o.shape)
                    cases.append(Case(split, task, instr, seed, o.name))
                else:
                    instr = phrase(task, rng, 'paraphrase' if split == 'paraphrase' else 'train')
                    cases.append(Case(split, task, instr, seed))
                made += 1
    return cases


def read_instruction_file(path: str | Path, episodes: int, first_seed: int = FIRST_SEED) -> list[Case]:
    """(instruction, task[, target]) pairs -> cases of split 'custom' (``episodes`` each)."""
    from vla_sim.tasks import TASKS
    from vla_learning.instructions import OBJECT_TASKS, parse_object
    path = Path(path)
    text = path.read_text()
    rows: list[dict] = []
    if path.suffix in ('.json', '.yaml', '.yml'):
        import yaml
        data = yaml.safe_load(text) or []
        rows = [dict(r) for r in data]
    else:
        sep = '\t' if '\t' in text else ','
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            parts = [p.strip() for p in line.rsplit(sep, 2 if line.count(sep) >= 2 else 1)]
            row = {'instruction': parts[0], 'task': parts[1] if len(parts) > 1 else ''}
            if len(parts) > 2:
                row['target'] = parts[2]
            rows.append(row)
    cases: list[Case] = []
    for k, r in enumerate(rows):
        task, instr = str(r.get('task', '')).strip(), str(r.get('instruction', '')).strip()
        if task not in TASKS and task != 'out_of_scope':
            raise ValueError(f"{path}: line {k + 1}: task '{task}' unknown; use one of {', '.join(TASKS)} "
                             "or out_of_scope")
        target = r.get('target')
        if task in OBJECT_TASKS and not target:
            obj = parse_object(instr)
            if obj is None:
                raise ValueError(f"{path}: line {k + 1}: cannot tell the target of '{instr}'; add a third column "
                                 'like red_box')
            target = f'{obj[0]}_{obj[1]}'
        seed, made = first_seed + 1000 * (k + 1), 0
        while made < episodes:
            seed += 1
            if target and target not in _world(seed).names:
                continue
            cases.append(Case('custom', task, instr, seed, target))
            made += 1
    return cases


def select_cases(splits, tasks, episodes: int, first_seed: int = FIRST_SEED,
                 instructions: str | Path | None = None) -> list[Case]:
    """An evaluation's cases: :func:`make_cases` for ``splits`` ('custom' aside; ``tasks`` None =
    all), then the pairs of the ``instructions`` file as split 'custom'."""
    from vla_sim.tasks import TASKS
    cases = make_cases([s for s in splits if s != 'custom'], list(tasks or TASKS), episodes, first_seed)
    if instructions:
        cases += read_instruction_file(instructions, episodes, first_seed)
    return cases


# -- running -------------------------------------------------------------------------------------
def run_cases(policy_spec: str, cases: list[Case], chunk_steps: int, image_size: int | None = None,
              progress: bool = True, backend: str = 'torch', ensemble_coeff: float | None = None,
              gate: bool = True, threshold: float | None = None) -> tuple[list[Outcome], int]:
    """Run every case; (outcomes, the control steps per call: :func:`policy_chunk_steps`).
    ``ensemble_coeff``: the runner blends overlapping chunks (ACT temporal ensembling, the node's
    ``temporal_ensembling: true``). ``gate``: through vla_safety's gate, its confidence_threshold
    ``threshold`` (None: its default)."""
    from tqdm import tqdm
    from vla_policy.runner import RunnerConfig
    from vla_sim.safety import default_safety_params
    import vla_sim  # noqa: F401
    from vla_policy.embodiment import load_embodiment
    from vla_sim.benchmark import build_policy
    from vla_sim.lockstep import LockstepConfig, run_episode
    from vla_sim.sim import HumanoidSim
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
                        render='always' if not policy.privileged else 'auto')
    out = []
    for c in tqdm(cases, disable=not progress, desc='evaluate', unit='ep'):
        r = run_episode(policy, case_task(c, _world(c.seed)), c.seed, sim=sim, embodiment=emb, config=lc)
        out.append(case_outcome(c, r.success, r.time, r.collisions, policy.confidences, policy.latencies_ms,
                                r.gate_counts))
    sim.close()
    return out, chunk_steps


def case_task(case: Case, world):
    """The vla_sim Task a case runs in ``world`` (``_world(case.seed)``): an out-of-scope case as a
    3 s 'stop' episode (never a success: only its refusal counts), an object task with the case's
    target, any other task as ``make_task`` draws it, with the case's instruction."""
    from vla_sim.tasks import TASKS, Task, make_task
    if case.task == 'out_of_scope':
        return Task('stop', case.instruction, OUT_OF_SCOPE_TIME)
    if case.target is not None:
        return Task(case.task, case.instruction, TASKS[case.task].time_limit, target=case.target)
    return replace(make_task(case.task, world, case.seed), instruction=case.instruction)


def case_outcome(case: Case, success: bool, time_s: float, collisions: int, confidences, latencies_ms,
                 gate_counts=None) -> Outcome:
    """An Outcome as the report reads it: ``confidences`` one per policy call (the first one
    decides a refusal), out-of-scope cases never a success; ``gate_counts``: the gate's decisions
    by state, where they are counted."""
    return Outcome(case.split, case.task, case.instruction, case.seed,
                   bool(success) and case.task != 'out_of_scope', float(time_s), int(collisions),
                   [float(c) for c in confidences], [float(v) for v in latencies_ms], dict(gate_counts or {}))


# -- report --------------------------------------------------------------------------------------
def summarise(outcomes: list[Outcome], threshold: float) -> dict[str, Any]:
    from vla_learning.train import auroc
    rows = []
    keys = sorted({(o.split, o.task) for o in outcomes}, key=lambda k: (_split_order(k[0]), k[1]))
    for split, task in keys:
        os_ = [o for o in outcomes if o.split == split and o.task == task]
        rows.append(_row(split, task, os_, threshold))
    splits = {}
    for split in sorted({o.split for o in outcomes}, key=_split_order):
        os_ = [o for o in outcomes if o.split == split]
        splits[split] = _row(split, 'ALL', os_, threshold)
    inscope = [o for o in outcomes if o.task != 'out_of_scope' and o.confidences]
    fail = np.array([not o.success for o in inscope])
    lat = np.concatenate([o.latencies_ms for o in outcomes if o.latencies_ms]) if outcomes else np.zeros(0)
    oos = [o for o in outcomes if o.task == 'out_of_scope']
    seen = [o for o in outcomes if o.split == 'seen']
    nan = float('nan')
    summary = {
        'threshold': threshold,
        'episodes': len(outcomes),
        'auroc_failure_mean_conf': auroc(-np.array([o.mean_conf for o in inscope]), fail) if inscope else nan,
        'auroc_failure_first_conf': auroc(-np.array([o.first_conf for o in inscope]), fail) if inscope else nan,
        'failures_in_scope': int(fail.sum()),
        'refusal_rate_out_of_scope': _rate([o.first_conf < threshold for o in oos]),
        'refusal_ci_out_of_scope': wilson(sum(o.first_conf < threshold for o in oos), len(oos)),
        'false_refusal_rate_seen': _rate([o.first_conf < threshold for o in seen]),
        'false_refusal_ci_seen': wilson(sum(o.first_conf < threshold for o in seen), len(seen)),
        'latency_ms_p50': float(np.percentile(lat, 50)) if len(lat) else float('nan'),
        'latency_ms_p99': float(np.percentile(lat, 99)) if len(lat) else float('nan'),
    }
    return {'summary': summary, 'splits': splits, 'rows': rows}


def make_report(outcomes: list[Outcome], threshold: float, policy: str, episodes: int, chunk_steps: int,
                first_seed: int, wall_s: float, **meta) -> dict[str, Any]:
    """:func:`summarise` plus what :func:`to_markdown` states about the run (``meta``: backend,
    ensemble_coeff, state_delay_steps, ... as they apply)."""
    report = summarise(outcomes, threshold)
    report.update(policy=policy, episodes_per_case=episodes, chunk_steps=chunk_steps, first_seed=first_seed,
                  wall_s=wall_s, simulated_s=float(sum(o.time for o in outcomes)), **meta)
    return report


def _split_order(s: str) -> int:
    return SPLITS.index(s) if s in SPLITS else len(SPLITS)


def _rate(flags) -> float:
    flags = list(flags)
    return float(np.mean(flags)) if flags else float('nan')


def _row(split: str, task: str, os_: list[Outcome], threshold: float) -> dict[str, Any]:
    n = len(os_)
    k = sum(o.success for o in os_)
    lo, hi = wilson(k, n)
    won = [o.time for o in os_ if o.success]
    return {'split': split, 'task': task, 'episodes': n, 'successes': k,
            'success_rate': k / n if n else float('nan'), 'ci95': [lo, hi],
            'mean_time_to_success_s': float(np.mean(won)) if won else float('nan'),
            'collisions': int(sum(o.collisions for o in os_)),
            'mean_confidence': float(np.nanmean([o.mean_conf for o in os_])) if n else float('nan'),
            'refused': _rate([o.first_conf < threshold for o in os_]),
            'blocked_any': _rate([any(c < threshold for c in o.confidences) for o in os_]),
            'gate_share': _gate_share(os_)}


def _gate_share(os_: list[Outcome]) -> dict[str, float]:
    """Share of control steps per gate state (empty without the gate)."""
    total: dict[str, int] = {}
    for o in os_:
        for k, v in o.gate_counts.items():
            total[k] = total.get(k, 0) + v
    n = sum(total.values())
    return {k: v / n for k, v in sorted(total.items())} if n else {}


def _fmt(x: float, pct: bool = True) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return 'n/a'
    return f'{100 * x:.0f}%' if pct else f'{x:.2f}'


GATED = "through vla_safety's gate (default parameters)"
UNGATED = 'UNGATED (commands applied as proposed)'


def _fmt_gate(share: dict[str, float]) -> str:
    if not share:
        return '-'
    return ' / '.join(_fmt(share.get(k, 0.0)) for k in ('SLOWDOWN', 'LIMITED', 'STOP'))


def to_markdown(report: dict[str, Any], title: str) -> str:
    s = report['summary']
    lines = [f'# {title}', '',
             f"policy `{report['policy']}`{' (onnxruntime)' if report.get('backend') == 'onnx' else ''}, "
             f"{report['episodes_per_case']} episodes per task and split, chunk_steps "
             f"{report['chunk_steps']}"
             f"{'' if report.get('ensemble_coeff') is None else ', ACT ensembling ' + str(report['ensemble_coeff'])}"
             f", {GATED if report.get('gate', True) else UNGATED}"
             f", confidence threshold {s['threshold']}, seeds from {report['first_seed']}, "
             f"wall {report['wall_s']:.0f} s", '',
             '| split | task | success | 95% CI | mean time to success (s) | collisions | mean conf | refused '
             '| blocked | gate SLOWDOWN / LIMITED / STOP |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for r in report['rows'] + [dict(v, task='**all**') for v in report['splits'].values()]:
        oos = r['split'] == 'out_of_scope'
        succ = '-' if oos else f"{r['successes']}/{r['episodes']} ({_fmt(r['success_rate'])})"
        ci = '-' if oos else f"{_fmt(r['ci95'][0])}-{_fmt(r['ci95'][1])}"
        lines.append(f"| {r['split']} | {r['task']} | {succ} | {ci} | {_fmt(r['mean_time_to_success_s'], False)} | "
                     f"{r['collisions']} | {_fmt(r['mean_confidence'], False)} | {_fmt(r['refused'])} | "
                     f"{_fmt(r['blocked_any'])} | {_fmt_gate(r.get('gate_share') or {})} |")
    lo, hi = s['refusal_ci_out_of_scope']
    flo, fhi = s['false_refusal_ci_seen']
    lines += ['',
              f"- out-of-scope refused: {_fmt(s['refusal_rate_out_of_scope'])} (95% CI {_fmt(lo)}-{_fmt(hi)})",
              f"- false refusals on seen: {_fmt(s['false_refusal_rate_seen'])} (95% CI {_fmt(flo)}-{_fmt(fhi)})",
              f"- AUROC of confidence for predicting failure (in-scope episodes, {s['failures_in_scope']} failures): "
              f"mean confidence {_fmt(s['auroc_failure_mean_conf'], False)}, first confidence "
              f"{_fmt(s['auroc_failure_first_conf'], False)}",
              f"- policy latency per inference: p50 {s['latency_ms_p50']:.1f} ms, p99 {s['latency_ms_p99']:.1f} ms",
              '']
    return '\n'.join(lines)


def plot(report: dict[str, Any], outcomes: list[Outcome], out_dir: Path) -> list[Path]:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    rows = [r for r in report['rows'] if r['split'] != 'out_of_scope']
    tasks = sorted({r['task'] for r in rows})
    splits = [s for s in SPLITS if any(r['split'] == s for r in rows)] + sorted(
        {r['split'] for r in rows} - set(SPLITS))
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(tasks)), 4))
    w = 0.8 / max(len(splits), 1)
    for j, sp in enumerate(splits):
        xs, ys, err = [], [], [[], []]
        for i, t in enumerate(tasks):
            r = next((r for r in rows if r['split'] == sp and r['task'] == t), None)
            if r is None:
                continue
            xs.append(i + j * w)
            ys.append(r['success_rate'])
            err[0].append(max(0.0, r['success_rate'] - r['ci95'][0]))
            err[1].append(max(0.0, r['ci95'][1] - r['success_rate']))
        ax.bar(xs, ys, w, yerr=err, capsize=2, label=sp)
    ax.set_xticks([i + 0.4 - w / 2 for i in range(len(tasks))])
    ax.set_xticklabels(tasks, rotation=30, ha='right')
    ax.set_ylim(0, 1.05)
    ax.set_ylabel('success rate (95% CI)')
    ax.legend(fontsize=8)
    paths.append(_save(fig, out_dir / 'success.png'))
    fig, ax = plt.subplots(figsize=(6, 4))
    groups = {'in-scope success': [o.mean_conf for o in outcomes if o.task != 'out_of_scope' and o.success],
              'in-scope failure': [o.mean_conf for o in outcomes if o.task != 'out_of_scope' and not o.success],
              'out of scope (first)': [o.first_conf for o in outcomes if o.task == 'out_of_scope']}
    for label, v in groups.items():
        if v:
            ax.hist(v, bins=20, range=(0, 1), alpha=0.6, label=f'{label} ({len(v)})')
    ax.axvline(report['summary']['threshold'], color='k', ls='--')
    ax.set_xlabel('confidence')
    ax.set_ylabel('episodes')
    ax.legend(fontsize=8)
    paths.append(_save(fig, out_dir / 'confidence.png'))
    return paths


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def evaluate(policy: str, splits=SPLITS, tasks=None, episodes: int = 20, chunk_steps: int = CHUNK_STEPS,
             threshold: float = 0.5, out: str | Path | None = None, instructions: str | None = None,
             first_seed: int = FIRST_SEED, image_size: int | None = None, progress: bool = True,
             backend: str = 'torch', ensemble_coeff: float | None = None, gate: bool = True) -> dict:
    cases = select_cases(splits, tasks, episodes, first_seed, instructions)
    t0 = time.perf_counter()
    outcomes, chunk_steps = run_cases(policy, cases, chunk_steps, image_size, progress, backend, ensemble_coeff,
                                      gate, threshold)
    report = make_report(outcomes, threshold, policy, episodes, chunk_steps, first_seed, time.perf_counter() - t0,
                         backend=backend, ensemble_coeff=ensemble_coeff, gate=gate)
    if out:
        write_report(Path(out), report, outcomes, 'Evaluation')
    return report


def write_report(out: Path, report: dict[str, Any], outcomes: list[Outcome], title: str,
                 extra_markdown: str = '') -> None:
    """``out``/results.json (the report and every episode), results.md (``title``, then
    ``extra_markdown``) and plots/*.png."""
    out.mkdir(parents=True, exist_ok=True)
    (out / 'results.json').write_text(json.dumps(_clean(dict(report, episodes=[asdict(o) for o in outcomes])),
                                                 indent=1))
    (out / 'results.md').write_text(to_markdown(report, title) + extra_markdown)
    plot(report, outcomes, out / 'plots')


def _clean(x):
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def add_case_arguments(ap: argparse.ArgumentParser, policy: str = DEFAULT_POLICY, episodes: int = 20,
                       out: str = 'data/eval/latest') -> None:
    """The options that choose a policy and the cases, and where the report goes (this command's
    and ``vla_learning.ros_evaluate``'s); read back with :func:`parse_case_arguments`."""
    ap.add_argument('--policy', default=policy,
                    help='checkpoint directory, registry name (keyword, scripted_expert, ...) or module:Class')
    ap.add_argument('--episodes', type=int, default=episodes, help='episodes per task and split')
    ap.add_argument('--splits', default=','.join(SPLITS), help=f"comma-separated from {', '.join(SPLITS)} ('' = none)")
    ap.add_argument('--tasks', default='', help='comma-separated task names (default: all)')
    ap.add_argument('--instructions', help='file of (instruction, task[, target]) pairs, evaluated as split custom')
    ap.add_argument('--confidence-threshold', type=float, default=0.5,
                    help="the gate's confidence_threshold; an episode is refused when its first confidence is below "
                         "it (vla_safety's default 0.5)")
    ap.add_argument('--first-seed', type=int, default=FIRST_SEED)
    ap.add_argument('--out', default=out, help='directory for results.md, results.json, plots/')


def parse_case_arguments(ap: argparse.ArgumentParser, args) -> tuple[list[str], list[str] | None]:
    """(splits, tasks or None = all) from :func:`add_case_arguments`' options; unknown ones are a usage error."""
    splits = [s for s in args.splits.split(',') if s]
    tasks = [t for t in args.tasks.split(',') if t] or None
    try:
        check_selection(splits, tasks)
    except ValueError as exc:
        ap.error(str(exc))
    return splits, tasks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog='python -m vla_learning.evaluate', description=__doc__.split('\n\n')[0])
    add_case_arguments(ap)
    ap.add_argument('--chunk-steps', type=int, default=CHUNK_STEPS,
                    help="control steps per policy call; 0 = the policy's own n_action_steps (every step if it "
                         "declares none), as the inference node runs it by default")
    ap.add_argument('--ensemble-coeff', type=float,
                    help="blend overlapping chunks as the node does with temporal_ensembling: true and this "
                         "ensemble_coeff (a call every --chunk-steps steps; e.g. --chunk-steps 1 --ensemble-coeff 0.01)")
    ap.add_argument('--no-gate', action='store_true',
                    help="apply the policy's commands as proposed, without vla_safety's gate (not what the robot does)")
    ap.add_argument('--image-size', type=int, help="default: the policy config's image_size")
    ap.add_argument('--threads', type=int, default=1, help='torch threads')
    ap.add_argument('--backend', choices=('torch', 'onnx'), default='torch',
                    help="run a seed_vla checkpoint with PyTorch or its model.onnx under onnxruntime")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    splits, tasks = parse_case_arguments(ap, args)
    report = evaluate(args.policy, splits, tasks, args.episodes, args.chunk_steps, args.confidence_threshold,
                      args.out, args.instructions, args.first_seed, args.image_size, backend=args.backend,
                      ensemble_coeff=args.ensemble_coeff, gate=not args.no_gate)
    print(to_markdown(report, f'Evaluation of {args.policy}'))
    print(f'wrote {args.out}/results.md, results.json, plots/')
    return 0


if __name__ == '__main__':
    sys.exit(main())
