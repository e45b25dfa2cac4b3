"""SeedVLAPolicy: preprocessing, finite outputs for any input, determinism, options."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vla_core.policy import Observation
from vla_policy.errors import PolicyLoadError
from vla_policy.models.configuration_seed_vla import SeedVLAConfig
from vla_policy.models.modeling_seed_vla import SeedVLAModel
from vla_policy.models.processor_seed_vla import SeedVLAProcessor, resize_rgb
from vla_policy.policies.seed_vla import SeedVLAPolicy
from vla_policy.registry import make_policy

ODD_INSTRUCTIONS = ['', ' ', 'walk forward', 'x' * 10_000, 'raise your left arm ' * 600, 'Gehe vorwärts!',
                    '前に進んで', '🤖👋', 'x\ud800y', '\x00\n\t']


@pytest.fixture(scope='module')
def policy(humanoid):
    return SeedVLAPolicy.untrained(humanoid, seed=0)


def test_untrained_policy_is_named_clearly(policy):
    assert policy.name == 'seed_vla' and not policy.trained
    assert 'UNTRAINED' in policy.description and 'seed=0' in policy.description


@pytest.mark.parametrize('instruction', ODD_INSTRUCTIONS)
def test_finite_outputs_for_odd_instructions(policy, obs_factory, instruction):
    out = policy.infer(obs_factory(instruction))
    assert out.actions.shape == (8, 11) and out.actions.dtype == np.float32 and out.is_finite
    assert np.abs(out.actions).max() <= 1.0 and 0.0 < out.confidence < 1.0 and out.step_dt == 0.1
    assert not out.done


@pytest.mark.parametrize('shape', [(1, 1, 3), (480, 640, 3), (96, 96, 3), (3, 1000, 3), (1000, 7, 3)])
def test_any_image_size(policy, shape, rng):
    out = policy.infer(Observation(rng.integers(0, 256, shape, dtype=np.uint8), 'turn left'))
    assert out.actions.shape == (8, 11) and out.is_finite


def test_read_only_and_strided_images(policy, rng):
    img = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    ro = np.frombuffer(img.tobytes(), dtype=np.uint8).reshape(img.shape)        # like a ROS message buffer
    assert not ro.flags.writeable
    a = policy.infer(Observation(ro, 'look up')).actions
    b = policy.infer(Observation(img, 'look up')).actions
    assert np.array_equal(a, b)
    bgr = img[..., ::-1]                                                      # negative strides
    assert policy.infer(Observation(bgr, 'look up')).is_finite


def test_state_input(policy, humanoid, obs_factory):
    base = policy.infer(obs_factory('wave', joints={})).actions
    centred = {d.target[6:]: (d.low + d.high) / 2 for d in humanoid.dims if d.target.startswith('joint/')}
    assert np.allclose(policy.infer(obs_factory('wave', joints=centred)).actions, base, atol=1e-6)
    moved = policy.infer(obs_factory('wave', joints={'head_pan_joint': 1.0})).actions
    assert not np.allclose(moved, base)
    weird = {'head_pan_joint': float('nan'), 'left_elbow_joint': 1e9, 'unknown_joint': 3.0}
    assert policy.infer(obs_factory('wave', joints=weird)).is_finite


def test_same_seed_same_outputs_other_seed_other_outputs(humanoid, obs_factory, small_config):
    obs = obs_factory('walk forward')
    a = SeedVLAPolicy.untrained(humanoid, seed=3, config=small_config).infer(obs)
    b = make_policy('seed_vla', humanoid, seed=3, config=small_config).infer(obs)
    c = SeedVLAPolicy.untrained(humanoid, seed=4, config=small_config).infer(obs)
    assert np.array_equal(a.actions, b.actions) and a.confidence == b.confidence
    assert not np.array_equal(a.actions, c.actions)
    assert a.actions.shape == (4, 11)


def test_instruction_changes_the_output(policy, obs_factory):
    assert not np.allclose(policy.infer(obs_factory('turn left')).actions,
                           policy.infer(obs_factory('turn right')).actions)


def test_policy_keeps_no_reference_to_the_image(policy, obs_factory):
    obs = obs_factory('go')
    before = policy.infer(obs).actions
    obs.image[:] = 0
    assert not np.allclose(policy.infer(obs).actions, before)   # it read the new pixels, nothing cached


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300), h=st.integers(1, 120), w=st.integers(1, 120), seed=st.integers(0, 2**32 - 1),
       pan=st.floats(allow_nan=True, allow_infinity=True))
def test_property_finite_outputs(policy, text, h, w, seed, pan):
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = policy.infer(Observation(img, text, {'head_pan_joint': pan}))
    assert out.is_finite and np.abs(out.actions).max() <= 1.0 and 0.0 <= out.confidence <= 1.0


def test_processor_normalises_pixels(humanoid):
    cfg = SeedVLAConfig.for_embodiment(humanoid, use_state=False)
    proc = SeedVLAProcessor(cfg)
    grey = np.full((480, 640, 3), 128, np.uint8)
    x = proc.image(grey)
    assert x.shape == (1, 3, 96, 96) and x.dtype == torch.float32
    expected = (128 / 255 - np.array(cfg.vision.image_mean)) / np.array(cfg.vision.image_std)
    assert np.allclose(x[0, :, 0, 0].numpy(), expected, atol=1e-5)
    assert np.allclose(x.numpy().std(axis=(2, 3)), 0, atol=1e-6)               # constant stays constant
    assert resize_rgb(np.zeros((96, 96, 3), np.uint8), 96).shape == (1, 3, 96, 96)
    gradient = np.repeat(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], 480, 0).repeat(3, 2)
    row = resize_rgb(gradient, 96)[0, 0, 0].numpy().astype(int)
    assert (np.diff(row) >= 0).all() and row[0] < 10 and row[-1] > 245            # left-right order kept


def test_processor_needs_state_normaliser(humanoid):
    with pytest.raises(ValueError, match='StateNormalizer'):
        SeedVLAProcessor(SeedVLAConfig.for_embodiment(humanoid))


def test_bad_options_are_policy_load_errors(humanoid, diff_drive):
    with pytest.raises(PolicyLoadError, match='seed must be an integer >= 0'):
        make_policy('seed_vla', humanoid, seed=-1)
    with pytest.raises(PolicyLoadError, match='num_threads'):
        make_policy('seed_vla', humanoid, num_threads=0)
    with pytest.raises(PolicyLoadError, match='chunk_size must be an integer'):
        make_policy('seed_vla', humanoid, config={'chunk_size': 0})
    with pytest.raises(PolicyLoadError, match="not joints of embodiment 'diff_drive'"):
        make_policy('seed_vla', diff_drive, config={'state_joints': ['head_pan_joint']})
    model = SeedVLAModel(SeedVLAConfig.for_embodiment(humanoid, vision=dict(image_size=32, channels=(8,))))
    with pytest.raises(ValueError, match="outputs 11 action dims but embodiment 'diff_drive' has 2"):
        SeedVLAPolicy(diff_drive, model=model, trained_for=humanoid)


def test_wrapping_a_trained_model(humanoid, obs_factory, small_config):
    model = SeedVLAModel.from_seed(SeedVLAConfig.for_embodiment(humanoid, **small_config), 5)
    p = SeedVLAPolicy(humanoid, model=model)
    assert p.trained and 'trained' in p.description and p.infer(obs_factory()).actions.shape == (4, 11)


def test_diff_drive_without_state(diff_drive, obs_factory):
    p = make_policy('seed_vla', diff_drive)
    assert p.config.state_dim == 0
    assert p.infer(obs_factory('turn left')).actions.shape == (8, 2)
