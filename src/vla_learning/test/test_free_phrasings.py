"""The held-out free phrasings (configs/free_phrasings.tsv, free_phrasings_b.tsv, free_phrasings_c.tsv): valid, covering
every task, and held out: no training or paraphrase template, with any colour and shape word,
makes one of them."""
import itertools
from pathlib import Path

import pytest

pytest.importorskip('mujoco', reason='the simulator templates need mujoco')

from vla_learning.eval_cases import read_instruction_file  # noqa: E402
from vla_learning.instructions import (COLOUR_WORDS, OOS_EVAL, OOS_TRAIN, PARAPHRASE_TEMPLATES,  # noqa: E402
                                       SHAPE_WORDS, TRAIN_TEMPLATES, train_templates)
from vla_sim.tasks import TASKS  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'
FILE = CONFIGS / 'free_phrasings.tsv'
HELD_OUT = [FILE, CONFIGS / 'free_phrasings_b.tsv', CONFIGS / 'free_phrasings_c.tsv']


def _normal(text):
    return ' '.join(text.lower().replace(',', ' ').replace('!', ' ').replace('?', ' ').split())


def _templated():
    """Every sentence a training or paraphrase template makes, with every colour and shape word."""
    objs = [f'{c} {s}' for c, s in itertools.product(itertools.chain(*COLOUR_WORDS.values()),
                                                     itertools.chain(*SHAPE_WORDS.values()))]
    out = set()
    for task in TASKS:
        for t in train_templates(task) + PARAPHRASE_TEMPLATES.get(task, ()) + TRAIN_TEMPLATES.get(task, ()):
            out |= {_normal(t.format(obj=o)) for o in objs} if '{obj}' in t else {_normal(t)}
    return out | {_normal(t) for t in OOS_TRAIN + OOS_EVAL}


@pytest.mark.parametrize('path', HELD_OUT, ids=lambda p: p.name)
def test_every_line_is_a_valid_case_and_every_task_is_asked(path):
    cases = read_instruction_file(path, episodes=1)
    assert {c.task for c in cases} == set(TASKS) | {'out_of_scope'}
    assert sum(c.task == 'out_of_scope' for c in cases) >= 10


@pytest.mark.parametrize('path', HELD_OUT, ids=lambda p: p.name)
def test_no_template_makes_any_of_them(path):
    templated = _templated()
    made = [c.instruction for c in read_instruction_file(path, episodes=1) if _normal(c.instruction) in templated]
    assert not made, f'these are template sentences, not held-out phrasings: {made}'


def test_unknown_colours_objects_and_actions_are_to_be_refused():
    known = set(itertools.chain(*COLOUR_WORDS.values(), *SHAPE_WORDS.values()))
    refused = [c.instruction for c in read_instruction_file(FILE, episodes=1) if c.task == 'out_of_scope']
    unknown_words = {w for r in refused for w in _normal(r).split()} - known
    for word in ('purple', 'orange', 'pink', 'white', 'car', 'table', 'lamp'):
        assert word in unknown_words
