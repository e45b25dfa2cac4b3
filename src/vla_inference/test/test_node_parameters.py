"""The node's parameter file documents exactly the parameters the node declares."""
import pytest
import yaml

rclpy = pytest.importorskip('rclpy', reason='rclpy not installed: source scripts/env.sh')


def test_yaml_lists_every_declared_parameter():
    from pathlib import Path

    from vla_inference.inference_node import PARAMS
    path = Path(__file__).resolve().parents[1] / 'config' / 'inference_node.yaml'
    values = yaml.safe_load(path.read_text())['vla_inference']['ros__parameters']
    declared = {s.name for s in PARAMS}
    assert set(values) == declared, (f'missing from YAML: {sorted(declared - set(values))}; '
                                     f'unknown in YAML: {sorted(set(values) - declared)}')
    for s in PARAMS:
        assert s.check(values[s.name]) is None, s.check(values[s.name])
