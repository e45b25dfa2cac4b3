"""vla_core.grounding: an instruction naming a colour or object outside the vocabulary, asking to
handle an object, or with a negation, is refused; the suite's own phrasings and everyday ones are not."""
import numpy as np
import pytest

from vla_core.embodiment import load_embodiment
from vla_core.grounding import Vocabulary, load_vocabulary, unknown_references
from vla_core.policy import Observation, Policy, PolicyOutput
from vla_core.runner import PolicyRunner, RunnerConfig

ARENA = load_vocabulary('vla_arena')


@pytest.mark.parametrize('text, unknown', [
    ('walk to the purple box', ('colour:purple',)),
    ('look at the White sphere', ('colour:white',)),
    ('go to the red car', ('object:car',)),
    ('walk over to the green tables', ('object:table',)),
    ('lift the yellow box', ('handling:lift',)),
    ('bring me the green cylinder', ('handling:bring',)),
    ('pick up the orange ball', ('colour:orange', 'handling:pick')),
    ('go to the mauve box', ('colour:mauve',)),
    # a learned policy does what the rest says ("never turn left" turns left): refused, the robot holds
    ('never turn left', ('negation:never',)),
    ("don't walk to the red box", ('negation:dont',)), ("don't move", ('negation:dont',)),
    ('do not raise your arm', ('negation:not',)),
])
def test_names_outside_the_vocabulary_are_reported(text, unknown):
    assert unknown_references(text, ARENA) == unknown


@pytest.mark.parametrize('text', [
    'walk to the red box', 'approach the crimson crate please', 'move to the yellow cylinder',
    'lift up your left arm for me', 'put both your arms up in the air', 'give me a wave',
    'can you look at the green cylinder for me', 'take me to the blue cylinder', 'turn toward the red ball',
    'hold still', 'point your camera at the blue box', '', 'stop',
])
def test_known_words_and_everyday_phrasing_pass(text):
    assert unknown_references(text, ARENA) == ()


def test_a_vocabulary_file_that_is_not_yaml_is_a_value_error_that_names_it(tmp_path):
    """(vla_inference refuses such a live instruction_vocabulary with this reason instead of dying.)"""
    bad = tmp_path / 'bad.yaml'
    bad.write_text('colours: [1, 2')
    with pytest.raises(ValueError, match='bad.yaml: not a readable vocabulary YAML'):
        load_vocabulary(str(bad))


def test_a_vocabulary_of_other_words(tmp_path):
    f = tmp_path / 'kitchen.yaml'
    f.write_text('name: kitchen\ncolours: {white: [white]}\nobjects: {table: [table, desk]}\n')
    v = load_vocabulary(str(f))
    assert v.name == 'kitchen' and unknown_references('go to the white desk', v) == ()
    assert unknown_references('go to the red box', v) == ('colour:red', 'object:box')
    f.write_text('name: broken\ncolours: [red]\n')
    with pytest.raises(ValueError, match='colours and objects'):
        load_vocabulary(str(f))
    with pytest.raises(ValueError, match="unknown vocabulary 'nope'"):
        load_vocabulary('nope')


class Confident(Policy):
    name = 'confident'
    vocabulary = 'vla_arena'

    def infer(self, obs):
        return PolicyOutput(np.full((1, self.dim), 0.5, np.float32), 0.9)


def _runner(config=None):
    emb = load_embodiment('vla_humanoid')
    p = Confident()
    p.dim = emb.action_dim
    return PolicyRunner(p, emb, config)


def _confidence(runner, text):
    runner.set_instruction(text, 0.0)
    image = np.zeros((8, 8, 3), np.uint8)
    res = runner.call(lambda ctx: Observation(image, ctx.instruction, stamp=0.0))
    assert runner.accept(res) is None
    return runner.tick(0.0).command.confidence


def test_the_runner_refuses_with_confidence_zero_and_follows_known_instructions():
    r = _runner()
    assert r.vocabulary.name == 'vla_arena'
    assert _confidence(r, 'walk to the purple box') == 0.0
    assert _confidence(r, 'walk to the red box') == pytest.approx(0.9)
    assert r.unknown_references('look at the blue lamp') == ('object:lamp',)


def test_no_check_when_the_vocabulary_is_empty_and_a_named_one_replaces_the_policys():
    assert _confidence(_runner(RunnerConfig(vocabulary='')), 'walk to the purple box') == pytest.approx(0.9)
    assert _runner(RunnerConfig(vocabulary='')).vocabulary is None
    with pytest.raises(ValueError, match='unknown vocabulary'):
        _runner(RunnerConfig(vocabulary='nope'))
    assert isinstance(ARENA, Vocabulary) and 'crimson' in ARENA.colour_words
