"""The evaluation runs a policy as the inference node does by default: the same number of chunk
steps between policy calls. The reported success rates are those of the node's default."""
import pytest
import yaml

rclpy = pytest.importorskip('rclpy', reason='rclpy not installed: source scripts/env.sh')


def test_eval_chunk_steps_match_the_node_default_inference_rate():
    from pathlib import Path

    from vla_inference.inference_node import PARAMS
    from vla_learning.evaluate import CHUNK_STEPS
    import json

    from vla_policy.checkpoint import default_checkpoint_dir
    declared = {s.name: s.default for s in PARAMS}
    path = Path(__file__).resolve().parents[1] / 'src' / 'vla_inference' / 'config' / 'inference_node.yaml'
    in_yaml = yaml.safe_load(path.read_text())['vla_inference']['ros__parameters']['max_inference_rate_hz']
    assert in_yaml == declared['max_inference_rate_hz'] > 0
    step_dt = json.loads((default_checkpoint_dir() / 'config.json').read_text())['config']['step_dt']
    assert round(1.0 / (in_yaml * step_dt)) == CHUNK_STEPS
    learning = Path(__file__).resolve().parents[1] / 'src' / 'vla_learning' / 'configs' / 'default.yaml'
    assert yaml.safe_load(learning.read_text())['eval']['chunk_steps'] == CHUNK_STEPS
