"""How the evaluation executes a policy's chunks: open-loop steps, or the node's ACT ensembling."""
import numpy as np
import pytest

from vla_policy.core import Observation, Policy, PolicyOutput


class ChunkCounter(Policy):
    """A real policy whose chunk says which call made it: step k of call c is 10 * c + k."""
    name = 'chunk_counter'

    def __init__(self, nan_on_call=None):
        self.calls = 0
        self.nan_on_call = nan_on_call

    def reset(self):
        self.calls = 0

    def infer(self, obs):
        c = self.calls
        self.calls += 1
        a = (10.0 * c + np.arange(10, dtype=np.float32))[:, None]
        if c == self.nan_on_call:
            a[:] = np.nan
        return PolicyOutput(a, confidence=0.9 - 0.1 * c, step_dt=0.1)


def _run(policy, steps):
    img = np.zeros((4, 4, 3), np.uint8)
    return [policy.infer(Observation(img, 'go', {}, stamp=0.1 * i)) for i in range(steps)]


@pytest.mark.parametrize('chunk_steps, expected_last', [
    (1, (2 + 11 + 20) / 3),   # step 2: chunk 0's step 2, chunk 1's step 1, chunk 2's step 0
    (2, (3 + 11) / 2),        # step 3: calls at steps 0 and 2
])
def test_ensembled_policy_blends_every_chunk_that_predicts_the_step(chunk_steps, expected_last):
    from vla_learning.evaluate import EnsembledPolicy
    inner = ChunkCounter()
    p = EnsembledPolicy(inner, chunk_steps, ensemble_coeff=0.0)
    outs = _run(p, 3 if chunk_steps == 1 else 4)
    assert inner.calls == (3 if chunk_steps == 1 else 2)
    assert all(o.actions.shape == (1, 1) for o in outs)
    assert outs[-1].actions[0, 0] == pytest.approx(expected_last)
    assert outs[-1].confidence == pytest.approx(min(0.9 - 0.1 * c for c in range(inner.calls)))
    p.reset()
    assert _run(p, 1)[0].actions[0, 0] == 0.0 and inner.calls == 1


def test_ensembled_policy_stops_on_a_non_finite_chunk():
    from vla_learning.evaluate import EnsembledPolicy
    p = EnsembledPolicy(ChunkCounter(nan_on_call=0), chunk_steps=2, ensemble_coeff=0.01)
    first, second = _run(p, 2)
    assert not first.is_finite and not second.is_finite   # nothing usable: the runner stops the base


def test_evaluate_runs_a_policy_with_ensembling(tmp_path):
    from vla_learning.evaluate import evaluate, to_markdown
    report = evaluate('keyword', splits=['seen'], tasks=['raise_left_arm'], episodes=1, chunk_steps=1,
                      out=tmp_path, progress=False, ensemble_coeff=0.01)
    assert report['ensemble_coeff'] == 0.01 and report['splits']['seen']['successes'] == 1
    assert 'ACT ensembling 0.01' in to_markdown(report, 'x')


class StateEcho(Policy):
    """A real policy whose 3-step chunk carries the joint state it was given."""
    name = 'state_echo'

    def __init__(self):
        self.seen = []

    def infer(self, obs):
        self.seen.append(obs.joint_positions['j'])
        return PolicyOutput(np.full((3, 1), obs.joint_positions['j'], np.float32), confidence=1.0)


def test_delayed_state_policy_reads_the_joint_state_late_and_keeps_the_call_pattern():
    from vla_learning.evaluate import DelayedStatePolicy
    inner = StateEcho()
    p = DelayedStatePolicy(inner, chunk_steps=2, delay_steps=2)
    img = np.zeros((4, 4, 3), np.uint8)
    outs = [p.infer(Observation(img, 'go', {'j': float(i)}, stamp=0.1 * i)) for i in range(6)]
    assert inner.seen == [0.0, 0.0, 2.0]          # calls at steps 0, 2, 4 read the state of 0, 0, 2
    assert [float(o.actions[0, 0]) for o in outs] == [0.0, 0.0, 0.0, 0.0, 2.0, 2.0]
    p = DelayedStatePolicy(StateEcho(), chunk_steps=5, delay_steps=0)   # a 3-step chunk runs out first
    outs = [p.infer(Observation(img, 'go', {'j': float(i)}, stamp=0.1 * i)) for i in range(4)]
    assert [float(o.actions[0, 0]) for o in outs] == [0.0, 0.0, 0.0, 3.0]


def test_evaluate_with_state_delay(tmp_path):
    from vla_learning.evaluate import evaluate, to_markdown
    report = evaluate('keyword', splits=['seen'], tasks=['raise_left_arm'], episodes=1, chunk_steps=5,
                      progress=False, state_delay_steps=2)
    assert report['state_delay_steps'] == 2 and 'joint state 2 steps late' in to_markdown(report, 'x')
    with pytest.raises(ValueError, match='cannot be combined'):
        evaluate('keyword', splits=['seen'], tasks=['raise_left_arm'], episodes=1, progress=False,
                 state_delay_steps=1, ensemble_coeff=0.0)


def test_default_chunk_steps_are_the_policys_own():
    """chunk_steps 0 (the default) executes the policy's n_action_steps per call, as the node
    calls it; every step for a policy that declares none; a number given wins."""
    from types import SimpleNamespace

    from vla_learning.evaluate import CHUNK_STEPS, evaluate, policy_chunk_steps
    assert CHUNK_STEPS == 0
    assert policy_chunk_steps(0, SimpleNamespace(n_action_steps=5)) == 5
    assert policy_chunk_steps(0, SimpleNamespace(n_action_steps=None)) == 1
    assert policy_chunk_steps(0, SimpleNamespace()) == 1
    assert policy_chunk_steps(3, SimpleNamespace(n_action_steps=5)) == 3
    report = evaluate('keyword', splits=['seen'], tasks=['raise_left_arm'], episodes=1, progress=False)
    assert report['chunk_steps'] == 1
