"""The evaluation runs a policy as the inference node does by default: the same number of chunk
steps between policy calls. The reported success rates are those of the node's default."""
import pytest
import yaml

rclpy = pytest.importorskip('rclpy', reason='rclpy not installed: source scripts/env.sh')


def test_node_calls_the_default_policy_every_eval_chunk():
    from pathlib import Path

    from vla_inference.inference_node import PARAMS
    from vla_inference.inference_worker import call_period
    from vla_learning.evaluate import CHUNK_STEPS, policy_chunk_steps
    from vla_policy.registry import make_policy
    root = Path(__file__).resolve().parents[1]
    declared = {s.name: s.default for s in PARAMS}['max_inference_rate_hz']
    node_yaml = yaml.safe_load((root / 'src' / 'vla_inference' / 'config' / 'inference_node.yaml').read_text())
    assert node_yaml['vla_inference']['ros__parameters']['max_inference_rate_hz'] == declared == 0.0
    policy = make_policy('default', 'vla_humanoid')
    assert CHUNK_STEPS == 0, "evaluate's default: the policy's own n_action_steps"
    steps = policy_chunk_steps(CHUNK_STEPS, policy)
    assert steps == policy.n_action_steps >= 1
    assert call_period(declared, policy) == pytest.approx(steps * policy.config.step_dt)
    learning_yaml = yaml.safe_load((root / 'src' / 'vla_learning' / 'configs' / 'default.yaml').read_text())
    assert learning_yaml['eval']['chunk_steps'] == CHUNK_STEPS


def test_other_policies_run_on_every_frame_and_a_set_rate_wins():
    from vla_inference.inference_worker import call_period
    from vla_policy.registry import make_policy
    keyword = make_policy('keyword', 'vla_humanoid')
    assert keyword.n_action_steps is None and call_period(0.0, keyword) == 0.0
    assert call_period(4.0, keyword) == call_period(4.0, make_policy('default', 'vla_humanoid')) == 0.25
