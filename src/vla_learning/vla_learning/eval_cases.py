"""Evaluation cases: which (split, task, instruction, seed, target) an evaluation runs, and the
vla_sim Task each one is.

Splits (see :mod:`vla_learning.instructions`): ``seen``, ``paraphrase``, ``unseen_combo``,
``obstructed`` (walk_to only: seen instructions whose straight way to the target passes another
object closer than ``vla_sim.world.OBSTRUCTION_GAP``, 0.45 m, which vla_safety's stop zone blocks:
the robot must go around it), ``beside_object`` (walk_to only: seen instructions, the robot starting
where a walk to another object ended, 0.42-0.55 m from its surface and facing it:
``vla_sim.world.start_beside``, as when commands follow one another), ``out_of_scope``, and ``custom`` (an instruction file: one pair per line, ``instruction<TAB>task``
or ``instruction,task``, optionally a third column ``colour_shape`` target; or a JSON/YAML list of
{instruction, task, target}). The target of walk_to / look_at is read from the instruction
(colour and shape words, synonyms included) when not given; the episode seeds are the first ones
whose world holds it. Cases are deterministic: the same arguments give the same cases.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml

from vla_learning.config import FIRST_SEED, SPLITS
from vla_learning.instructions import OBJECT_TASKS, OOS_EVAL, is_held_out_combo, object_phrase, parse_object, phrase
from vla_sim.tasks import TASKS, Task, make_task
from vla_sim.world import sample_world, start_beside, way_obstructed

#: simulated seconds an out-of-scope instruction is watched (as a 'stop' episode)
OUT_OF_SCOPE_TIME = 3.0
#: the tasks of the splits that hold only some (the ones that move the base to an object)
SPLIT_TASKS = {'obstructed': ('walk_to',), 'beside_object': ('walk_to',)}


@dataclass
class Case:
    """One evaluation episode to run: its split, task, instruction, world seed and target object."""

    split: str
    task: str                       # vla_sim task name, or 'out_of_scope'
    instruction: str
    seed: int
    target: str | None = None
    start: tuple[float, float, float] | None = None    # the robot's start (x, y, yaw) when not the world's own


def case_world(seed: int, start: tuple[float, float, float] | None = None):
    """The world of a case's seed (the simulator's default randomisation), the robot at ``start`` if given."""
    world = sample_world(seed)
    return world if start is None else replace(world, robot_start=tuple(float(v) for v in start))


def check_selection(splits, tasks=None) -> None:
    """ValueError naming the valid ones if a split (besides 'custom') or a task is unknown."""
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
    check_selection(splits, tasks)
    tasks = list(tasks or TASKS)
    cases: list[Case] = []
    for split in splits:
        if split == 'out_of_scope':
            for i in range(episodes):
                cases.append(Case(split, 'out_of_scope', OOS_EVAL[i % len(OOS_EVAL)], first_seed + i))
            continue
        for task in tasks:
            if (split == 'unseen_combo' and task not in OBJECT_TASKS) or task not in SPLIT_TASKS.get(split, (task,)):
                continue
            rng = np.random.default_rng([first_seed, SPLITS.index(split),
                                         list(TASKS).index(task)])
            seed = first_seed
            made = 0
            while made < episodes:
                seed += 1
                world = case_world(seed)
                if task in OBJECT_TASKS:
                    held = split == 'unseen_combo'
                    objs = [o for o in world.objects if is_held_out_combo(o.colour, o.shape) == held]
                    if split == 'obstructed':
                        objs = [o for o in objs if way_obstructed(world, o)]
                    if not objs:
                        continue
                    o = objs[int(rng.integers(len(objs)))]
                    start = None
                    if split == 'beside_object':
                        moved = start_beside(world, o.name, rng)
                        if moved is None:
                            continue
                        start = moved.robot_start
                    if held:
                        t = str(rng.choice(TASKS[task].templates))
                        instr = t.format(obj=object_phrase(o.colour, o.shape, None))
                    else:
                        instr = phrase(task, rng, 'paraphrase' if split == 'paraphrase' else 'train', o.colour,
                                       o.shape)
                    cases.append(Case(split, task, instr, seed, o.name, start))
                else:
                    instr = phrase(task, rng, 'paraphrase' if split == 'paraphrase' else 'train')
                    cases.append(Case(split, task, instr, seed))
                made += 1
    return cases


def read_instruction_file(path: str | Path, episodes: int, first_seed: int = FIRST_SEED) -> list[Case]:
    """(instruction, task[, target]) pairs -> cases of split 'custom' (``episodes`` each)."""
    path = Path(path)
    text = path.read_text()
    rows: list[dict] = []
    if path.suffix in ('.json', '.yaml', '.yml'):
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
            if target and target not in case_world(seed).names:
                continue
            cases.append(Case('custom', task, instr, seed, target))
            made += 1
    return cases


def select_cases(splits, tasks, episodes: int, first_seed: int = FIRST_SEED,
                 instructions: str | Path | None = None) -> list[Case]:
    """An evaluation's cases: :func:`make_cases` for ``splits`` ('custom' aside; ``tasks`` None =
    all), then the pairs of the ``instructions`` file as split 'custom'."""
    cases = make_cases([s for s in splits if s != 'custom'], list(tasks or TASKS), episodes, first_seed)
    if instructions:
        cases += read_instruction_file(instructions, episodes, first_seed)
    return cases


def case_task(case: Case, world):
    """The vla_sim Task a case runs in ``world`` (``case_world(case.seed, case.start)``): an out-of-scope case as a
    3 s 'stop' episode (never a success: only its refusal counts), an object task with the case's
    target, any other task as ``make_task`` draws it, with the case's instruction."""
    if case.task == 'out_of_scope':
        return Task('stop', case.instruction, OUT_OF_SCOPE_TIME)
    if case.target is not None:
        return Task(case.task, case.instruction, TASKS[case.task].time_limit, target=case.target)
    return replace(make_task(case.task, world, case.seed), instruction=case.instruction)

