"""LeRobot backend: observation packing and config reading (no lerobot, no weights needed), and
the loader's errors when lerobot or the weights are missing."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vla_policy.backends.lerobot_policy import (LeRobotPolicy, image_keys_from_config, image_sizes_from_config,
                                                import_lerobot, pack_lerobot_batch, read_policy_config,
                                                state_dim_from_config)
from vla_core.policy import Observation
from vla_core.embodiment import load_embodiment
from vla_policy.errors import PolicyLoadError

torch = pytest.importorskip('torch')

#: the shape of a config.json saved by LeRobot (ACT on a bimanual robot)
ACT_CONFIG = {
    'type': 'act', 'chunk_size': 100, 'n_action_steps': 100,
    'input_features': {'observation.images.top': {'type': 'VISUAL', 'shape': [3, 480, 640]},
                       'observation.images.wrist': {'type': 'VISUAL', 'shape': [3, 480, 640]},
                       'observation.state': {'type': 'STATE', 'shape': [14]}},
    'output_features': {'action': {'type': 'ACTION', 'shape': [14]}},
}


def obs() -> Observation:
    img = np.zeros((4, 6, 3), np.uint8)
    img[..., 0] = 255
    img[1, 2] = (0, 51, 102)
    return Observation(img, 'Fold the towel', {'head_pan_joint': 0.5, 'left_elbow_joint': 1.25})


def test_pack_batch_layout_and_values():
    b = pack_lerobot_batch(obs(), ['observation.images.top', 'observation.images.wrist'],
                           ['left_elbow_joint', 'missing_joint', 'head_pan_joint'], state_dim=5)
    img = b['observation.images.top']
    assert img.shape == (1, 3, 4, 6) and img.dtype == torch.float32
    assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0
    assert img[0, 0, 0, 0] == 1.0 and img[0, :, 1, 2].tolist() == pytest.approx([0.0, 0.2, 0.4])
    assert torch.equal(b['observation.images.wrist'], img) and b['observation.images.wrist'] is not img
    assert b['observation.state'].tolist() == [[1.25, 0.0, 0.5, 0.0, 0.0]]
    assert b['task'] == ['Fold the towel']


def test_pack_batch_resizes_and_checks_the_state_size():
    b = pack_lerobot_batch(obs(), ['observation.image'], [], image_size=(8, 12))
    assert b['observation.image'].shape == (1, 3, 8, 12) and b['observation.state'].shape == (1, 0)
    with pytest.raises(ValueError, match='smaller than the 2 state joints'):
        pack_lerobot_batch(obs(), ['observation.image'], ['a', 'b'], state_dim=1)


def test_image_size_comes_from_the_config(tmp_path):
    assert image_sizes_from_config(ACT_CONFIG) == {'observation.images.top': (480, 640),
                                                   'observation.images.wrist': (480, 640)}
    assert image_sizes_from_config({'input_features': {'observation.image': {'type': 'VISUAL'}}}) == {}
    b = pack_lerobot_batch(obs(), ['observation.images.top', 'observation.images.wrist'], [],
                           image_size={'observation.images.top': (8, 12)})
    assert b['observation.images.top'].shape == (1, 3, 8, 12) and b['observation.images.wrist'].shape == (1, 3, 4, 6)
    (tmp_path / 'config.json').write_text(json.dumps(ACT_CONFIG))
    (tmp_path / 'model.safetensors').write_bytes(b'\0' * 8)
    with pytest.raises(PolicyLoadError, match=r'image_size \(64, 64\) differs from the \(480, 640\)'):
        LeRobotPolicy(load_embodiment('vla_humanoid'), pretrained_path=tmp_path, image_size=(64, 64))


def test_config_reading(tmp_path):
    assert image_keys_from_config(ACT_CONFIG) == ('observation.images.top', 'observation.images.wrist')
    assert state_dim_from_config(ACT_CONFIG) == 14 and state_dim_from_config({}) is None
    with pytest.raises(PolicyLoadError, match='not found. Weights are never downloaded'):
        read_policy_config(tmp_path / 'act_aloha')
    with pytest.raises(PolicyLoadError, match='no config.json'):
        read_policy_config(tmp_path)
    (tmp_path / 'config.json').write_text('{"chunk_size": 100}')
    with pytest.raises(PolicyLoadError, match='names no policy "type"'):
        read_policy_config(tmp_path)
    (tmp_path / 'config.json').write_text(json.dumps(ACT_CONFIG))
    with pytest.raises(PolicyLoadError, match='no model.safetensors'):
        read_policy_config(tmp_path)
    (tmp_path / 'model.safetensors').write_bytes(b'\0' * 8)
    assert read_policy_config(tmp_path)['type'] == 'act'


def test_missing_lerobot_is_a_clear_error(tmp_path):
    try:
        import lerobot  # noqa: F401
        pytest.skip('lerobot is installed here')
    except ImportError:
        pass
    with pytest.raises(PolicyLoadError, match='requirements-lerobot.txt'):
        import_lerobot()
    (tmp_path / 'config.json').write_text(json.dumps(ACT_CONFIG))
    (tmp_path / 'model.safetensors').write_bytes(b'\0' * 8)
    emb = load_embodiment('vla_humanoid')
    with pytest.raises(PolicyLoadError, match='requirements-lerobot.txt'):
        LeRobotPolicy(emb, pretrained_path=tmp_path, actions={'indices': list(range(11))})
    with pytest.raises(PolicyLoadError, match='needs pretrained_path'):
        LeRobotPolicy(emb)
