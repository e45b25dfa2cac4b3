"""Checkpoints: round trip, and every malformed or mismatching checkpoint is a helpful PolicyLoadError."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from vla_policy.checkpoint import CHECKPOINT_FORMAT_VERSION, load_checkpoint, read_checkpoint, save_checkpoint
from vla_policy.errors import PolicyLoadError
from vla_policy.models.configuration_seed_vla import SeedVLAConfig
from vla_policy.models.constants import ACTION, OBS_STATE
from vla_policy.models.modeling_seed_vla import SeedVLAModel
from vla_policy.policies.seed_vla import SeedVLAPolicy
from vla_policy.registry import make_policy


@pytest.fixture(scope='module')
def saved(tmp_path_factory, humanoid, small_config):
    """A small trained-looking seed_vla checkpoint with stats.json, and its policy."""
    names = list(humanoid.joint_names)
    stats = {OBS_STATE: {'names': names, 'mean': [0.1] * len(names), 'std': [0.5] * len(names)},
             ACTION: {'mean': np.zeros(11), 'std': np.ones(11)}}
    policy = SeedVLAPolicy.untrained(humanoid, seed=11, config=small_config, stats=stats)
    policy.trained = True
    path = save_checkpoint(policy, tmp_path_factory.mktemp('ck') / 'seed', metadata={'steps': 0})  # its stats
    return path, policy


@pytest.fixture
def ck(saved, tmp_path):
    """A private copy of the checkpoint, to damage."""
    return shutil.copytree(saved[0], tmp_path / 'copy')


def _edit_config(path, **changes):
    cfg = json.loads((path / 'config.json').read_text())
    for k, v in changes.items():
        if k.startswith('config.'):
            cfg['config'][k[7:]] = v
        elif v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    (path / 'config.json').write_text(json.dumps(cfg))


def test_layout(saved):
    path, _ = saved
    assert sorted(p.name for p in path.iterdir()) == ['config.json', 'embodiment.yaml', 'model.safetensors',
                                                      'stats.json']
    cfg = json.loads((path / 'config.json').read_text())
    assert cfg['format_version'] == CHECKPOINT_FORMAT_VERSION and cfg['policy_type'] == 'seed_vla'
    assert cfg['embodiment'] == 'vla_humanoid' and cfg['trained'] and cfg['metadata'] == {'steps': 0}
    assert SeedVLAConfig.from_dict(cfg['config']).chunk_size == 4


def test_round_trip_identical_outputs(saved, obs_factory, humanoid):
    path, policy = saved
    loaded = load_checkpoint(path)
    assert isinstance(loaded, SeedVLAPolicy) and loaded.trained and str(path) in loaded.description
    via_registry = make_policy(str(path), humanoid)
    for instruction, joints in [('walk forward', {}), ('wave', {'head_pan_joint': 0.7}), ('', {})]:
        obs = obs_factory(instruction, joints=joints)
        a, b, c = policy.infer(obs), loaded.infer(obs), via_registry.infer(obs)
        assert np.array_equal(a.actions, b.actions) and np.array_equal(a.actions, c.actions)
        assert a.confidence == b.confidence == c.confidence
    # the state is normalised with stats.json, not the embodiment's bounds
    assert loaded.processor.state_normalizer.mean[0] == pytest.approx(0.1)


def test_round_trip_default_model_without_stats(tmp_path, diff_drive, obs_factory):
    policy = make_policy('seed_vla', diff_drive, seed=1)
    save_checkpoint(policy, tmp_path / 'dd')
    assert not (tmp_path / 'dd' / 'stats.json').exists()
    loaded = SeedVLAPolicy.from_checkpoint(tmp_path / 'dd')
    assert not loaded.trained and 'UNTRAINED' in loaded.description
    obs = obs_factory('turn right')
    assert np.array_equal(policy.infer(obs).actions, loaded.infer(obs).actions)


def test_save_a_bare_model(tmp_path, humanoid, small_config):
    model = SeedVLAModel.from_seed(SeedVLAConfig.for_embodiment(humanoid, **small_config), 2)
    with pytest.raises(TypeError, match='Embodiment'):
        save_checkpoint(model, tmp_path / 'm')
    save_checkpoint(model, tmp_path / 'm', humanoid)
    assert load_checkpoint(tmp_path / 'm' / 'config.json').trained       # a path to config.json works too


def test_save_refuses(tmp_path, saved, humanoid, diff_drive, small_config):
    path, policy = saved
    with pytest.raises(FileExistsError, match='overwrite=True'):
        save_checkpoint(policy, path)
    with pytest.raises(ValueError, match="embodiment 'diff_drive'"):
        save_checkpoint(policy, tmp_path / 'x', diff_drive)
    bad = SeedVLAModel.from_seed(SeedVLAConfig.for_embodiment(humanoid, **small_config), 0)
    with torch.no_grad():
        bad.confidence_head.proj.bias.fill_(float('nan'))
    with pytest.raises(ValueError, match='non-finite'):
        save_checkpoint(bad, tmp_path / 'y', humanoid)
    with pytest.raises(TypeError, match='save_checkpoint needs'):
        save_checkpoint(object(), tmp_path / 'z', humanoid)


def test_overwrite(tmp_path, saved):
    dest = shutil.copytree(saved[0], tmp_path / 'o')
    save_checkpoint(saved[1], dest, overwrite=True, stats={})
    assert json.loads((dest / 'stats.json').read_text()) == {}


# -- load validation: each failure is a PolicyLoadError that says what to do -----------------------
def _rm(name):
    return lambda p: (p / name).unlink()


def _write(name, text):
    return lambda p: (p / name).write_text(text)


def _tensors(mutate):
    def f(p):
        t = load_file(str(p / 'model.safetensors'))
        mutate(t)
        save_file(t, str(p / 'model.safetensors'))
    return f


def _nan(t):
    t['action_head.proj.weight'][0, 0] = float('nan')


def _drop(t):
    del t['fusion.text_norm.weight']


def _extra(t):
    t['adapter.weight'] = torch.zeros(2)


def _int_dtype(t):
    t['action_head.proj.bias'] = t['action_head.proj.bias'].to(torch.int32)


def _truncate(p):
    data = (p / 'model.safetensors').read_bytes()
    (p / 'model.safetensors').write_bytes(data[:len(data) // 2])


DAMAGE = [
    ('missing config', _rm('config.json'), r'lacks config.json.*save_checkpoint'),
    ('missing weights', _rm('model.safetensors'), 'lacks model.safetensors'),
    ('missing embodiment', _rm('embodiment.yaml'), 'lacks embodiment.yaml'),
    ('config not json', _write('config.json', '{"format_version": 1,'), r'not valid JSON \(line 1'),
    ('config not object', _write('config.json', '[1, 2]'), 'must hold a JSON object'),
    ('no version', lambda p: _edit_config(p, format_version=None), "no valid 'format_version'"),
    ('newer version', lambda p: _edit_config(p, format_version=99), 'format_version 99, newer.*upgrade vla_policy'),
    ('no policy type', lambda p: _edit_config(p, policy_type=None), "no 'policy_type'"),
    ('unknown policy type', lambda p: _edit_config(p, policy_type='diffusion_vla'),
     r"policy_type 'diffusion_vla', which is not a registered policy \(available: .*seed_vla.*pip install"),
    ('module target as type', lambda p: _edit_config(p, policy_type='os:system'), 'not a registered policy'),
    ('type without loader', lambda p: _edit_config(p, policy_type='keyword'), 'cannot load checkpoints'),
    ('config not mapping', lambda p: _edit_config(p, config=[1]), "'config' must be a JSON object"),
    ('invalid config value', lambda p: _edit_config(p, **{'config.chunk_size': -1}),
     r"invalid 'config': SeedVLAConfig.chunk_size must be an integer"),
    ('unknown config field', lambda p: _edit_config(p, **{'config.use_film': True}), r"no field\(s\) \['use_film'\]"),
    ('shape mismatch', lambda p: _edit_config(p, **{'config.chunk_size': 8}),
     r'action_head.proj.weight: file \(44, 32\) vs config \(88, 32\).*edited'),
    ('config/embodiment inconsistent', lambda p: _edit_config(p, **{'config.action_dim': 2, 'config.state_joints': []}),
     r"inconsistent: config.json says action_dim=2 but its embodiment.yaml \('vla_humanoid'\) has 11"),
    ('missing tensor', _tensors(_drop), r'1 tensor\(s\) missing: fusion.text_norm.weight'),
    ('unexpected tensor', _tensors(_extra), r'1 unexpected tensor\(s\): adapter.weight'),
    ('wrong dtype', _tensors(_int_dtype), 'dtypes do not fit the model: action_head.proj.bias'),
    ('non-finite weights', _tensors(_nan), r'NaN or infinite values \(action_head.proj.weight\).*earlier checkpoint'),
    ('truncated weights', _truncate, 'could not be read.*truncated'),
    ('garbage weights', _write('model.safetensors', 'not a safetensors file'), 'could not be read'),
    ('bad embodiment yaml', _write('embodiment.yaml', 'actions: [{target: joint/}]'), 'not a valid embodiment'),
    ('bad stats', _write('stats.json', '{"observation.state": {"names": ["x"], "mean": [0], "std": [1]}}'),
     r"stats.json: 'observation.state' statistics are for joints \['x'\]"),
    ('stats not object', _write('stats.json', '3'), 'stats.json must hold a JSON object'),
]


@pytest.mark.parametrize('damage, match', [d[1:] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_damaged_checkpoint(ck, damage, match):
    damage(ck)
    with pytest.raises(PolicyLoadError, match=match):
        load_checkpoint(ck)


def test_not_a_directory(tmp_path, ck):
    with pytest.raises(PolicyLoadError, match="does not exist"):
        load_checkpoint(tmp_path / 'nothing')
    with pytest.raises(PolicyLoadError, match="is a file, not a checkpoint directory"):
        load_checkpoint(ck / 'embodiment.yaml')
    with pytest.raises(PolicyLoadError, match='does not exist'):
        make_policy(str(tmp_path / 'nothing'), 'vla_humanoid')


def test_embodiment_mismatch_says_which_embodiment(ck, diff_drive):
    with pytest.raises(PolicyLoadError) as exc:
        load_checkpoint(ck, diff_drive)
    msg = str(exc.value)
    assert "trained for embodiment 'vla_humanoid' (11 action dims: base_linear_x" in msg
    assert "'diff_drive', has 2" in msg and "load_embodiment('vla_humanoid')" in msg
    assert 'embodiment.yaml' in msg and 'embodiment parameter' in msg
    with pytest.raises(PolicyLoadError, match="trained for embodiment 'vla_humanoid'"):
        make_policy(str(ck), diff_drive)


def test_same_size_other_embodiment_loads_with_a_warning(ck, tmp_path, humanoid, caplog):
    other = humanoid.to_dict()
    other['name'] = 'other_humanoid'
    other['actions'][0]['target'] = 'twist.linear.z'
    from vla_core.embodiment import Embodiment
    p = load_checkpoint(ck, Embodiment.from_dict(other))
    assert p.embodiment.name == 'other_humanoid' and p.trained_for.name == 'vla_humanoid'
    assert 'other targets' in caplog.text


def test_unknown_load_option(ck):
    with pytest.raises(PolicyLoadError, match=r'does not take option\(s\) seed; it accepts: num_threads'):
        load_checkpoint(ck, seed=3)


def test_read_checkpoint_reads_no_tensors(ck):
    (ck / 'model.safetensors').write_bytes(b'')      # damaged weights do not matter to read_checkpoint
    contents = read_checkpoint(ck)
    assert contents.policy_type == 'seed_vla' and contents.trained_for.name == 'vla_humanoid'
    assert contents.metadata == {'steps': 0}
