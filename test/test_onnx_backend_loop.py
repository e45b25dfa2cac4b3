"""The inference node runs the shipped default policy under onnxruntime when asked (policy_backend: onnx)."""
import math

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('onnxruntime', reason='onnxruntime not installed (scripts/requirements-python.txt)')

from ros_harness import QUIET, Probe, fresh_domain_id  # noqa: E402

from vla_bringup.launcher import Suite  # noqa: E402


def test_default_policy_on_the_onnx_backend_proposes_actions():
    from vla_policy.checkpoint import default_checkpoint_dir
    path = default_checkpoint_dir()
    assert path is not None and (path / 'model.onnx').exists(), 'the shipped default checkpoint has no model.onnx'
    domain = fresh_domain_id()
    suite = Suite({'policy': 'default', 'policy_backend': 'onnx'}, domain_id=domain, quiet=QUIET)
    probe = Probe(domain, image_size=(64, 64))
    suite.start()
    try:
        probe.command('raise your left arm')
        ok = probe.wait_for(lambda: any(m.policy_name == 'onnx' and m.instruction == 'raise your left arm'
                                        for _, m in list(probe.actions)), 60)
        assert ok, 'no action from the onnx backend'
        msg = [m for _, m in list(probe.actions) if m.policy_name == 'onnx'][-1]
        assert 0.0 <= msg.confidence <= 1.0 and msg.chunk_length >= 1
        assert msg.joint_targets.name and all(math.isfinite(x) for x in msg.joint_targets.position)
    finally:
        probe.close()
        suite.stop()
