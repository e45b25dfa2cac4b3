"""Seed VLA model: config validation, tokenizer, components, forward shapes and ranges, loss."""
from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pytest
import torch

from vla_policy.models.components import FUSIONS, VISION_ENCODERS
from vla_policy.models.configuration_seed_vla import SeedVLAConfig
from vla_policy.models.constants import ACTION, CONFIDENCE, OBS_IMAGE, OBS_LANGUAGE_TOKENS, OBS_STATE
from vla_policy.models.modeling_seed_vla import SeedVLAModel
from vla_policy.models.tokenizer import EMPTY_TOKEN, HashWordTokenizer


# -- config ------------------------------------------------------------------------------------
def test_default_config_round_trip():
    cfg = SeedVLAConfig()
    assert SeedVLAConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.state_dim == 0 and cfg.vision.image_size == 96 and cfg.policy_type == 'seed_vla'
    d = cfg.to_dict()
    assert isinstance(d['vision']['channels'], list) and 'policy_type' not in d


def test_for_embodiment(humanoid, diff_drive):
    cfg = SeedVLAConfig.for_embodiment(humanoid, chunk_size=4)
    assert cfg.action_dim == 11 and cfg.state_joints == humanoid.joint_names and cfg.chunk_size == 4
    assert SeedVLAConfig.for_embodiment(humanoid, use_state=False).state_dim == 0
    assert SeedVLAConfig.for_embodiment(diff_drive).state_dim == 0
    # replace() validates again
    with pytest.raises(ValueError, match='chunk_size'):
        dataclasses.replace(cfg, chunk_size=0)


@pytest.mark.parametrize('overrides, match', [
    ({'vision': dict(image_size=8)}, r'image_size must be an integer in \[32, 512\].*e.g. 96'),
    ({'vision': dict(image_size=32, channels=[8] * 6)},
     r'too small for the stride-2 stages of small_cnn \(needs >= 64\)'),
    ({'vision': dict(image_mean=(0.5, 0.5))}, r'three numbers \(R, G, B\)'),
    ({'vision': dict(image_std=(0.2, 0.0, 0.2))}, r'image_std must be > 0'),
    ({'state_joints': ['a', 'a']}, "lists \\['a'\\] more than once"),
    ({'state_joints': ['']}, 'non-empty strings'),
    ({'vision': dict(encoder='small_cn')}, "not a known vision_encoder. Did you mean 'small_cnn'.*register"),
    ({'fusion': dict(type='flim')},
     "not a known fusion. Did you mean 'film'.*Choose one of: concat, cross_attention, film"),
    ({'language': dict(encoder='minilm')}, 'not a known language_encoder'),
    ({'head': dict(type='diffusion')}, 'not a known action_head'),
    ({'language': dict(tokenizer='bpe')}, 'not a known tokenizer'),
    ({'vision': dict(channels=(8, 2000))}, 'channels must be 1..6 ints'),
    ({'language': dict(vocab_size=1)}, 'vocab_size'),
    ({'language': dict(ngrams=4)}, 'ngrams'),
    ({'fusion': dict(dropout=1.0)}, r'dropout must be in \[0, 1\)'),
    ({'action_dim': 0}, 'for_embodiment'),
    ({'chunk_size': True}, 'chunk_size must be an integer'),
    ({'step_dt': 0.0}, r'step_dt must be seconds in \(0, 10\]'),
    ({'step_dt': float('nan')}, 'step_dt'),
    ({'confidence_loss_weight': -1}, 'confidence_loss_weight'),
    ({'fusion': {'hidden_size': 3}}, r"no field\(s\) \['hidden_size'\]; known fields: .*hidden_dim"),
])
def test_config_errors_say_how_to_fix(overrides, match):
    with pytest.raises(ValueError, match=match):
        SeedVLAConfig.from_dict(overrides)


def test_component_registries_accept_new_parts():
    assert 'small_cnn' in VISION_ENCODERS and FUSIONS.names() == ['concat', 'cross_attention', 'film']
    FUSIONS.register('concat_alias', 'vla_policy.models.fusion:ConcatMLPFusion')
    try:
        cfg = SeedVLAConfig(vision=dict(image_size=32, channels=(8,)), language=dict(vocab_size=64, dim=8),
                            fusion=dict(type='concat_alias', hidden_dim=16), action_dim=2)
        out = SeedVLAModel(cfg)({OBS_IMAGE: torch.zeros(1, 3, 32, 32),
                                 OBS_LANGUAGE_TOKENS: torch.zeros(1, cfg.language.max_tokens, dtype=torch.long)})
        assert out[ACTION].shape == (1, 8, 2)
    finally:
        FUSIONS._targets.pop('concat_alias')


# -- tokenizer -----------------------------------------------------------------------------------
def test_tokenizer_is_deterministic_and_bounded():
    tok = HashWordTokenizer(vocab_size=4096, max_tokens=8, ngrams=2)
    a = tok.encode('Walk FORWARD, please!')
    assert a.dtype == np.int64 and a.shape == (8,)
    assert np.array_equal(a, HashWordTokenizer(4096, 8, 2).encode('walk forward please'))
    assert tok.token_strings('Walk forward') == ['walk', 'forward', 'walk forward']
    assert (a[:5] > 0).all() and (a[5:] == 0).all() and a.max() < 4096
    # ids are CRC-32 buckets: stable across processes and Python versions (hash() is not)
    assert tok.encode('stop')[0] == 1 + zlib.crc32(b'stop') % 4095
    assert not np.array_equal(tok.encode('turn left'), tok.encode('turn right'))


def test_tokenizer_odd_inputs():
    tok = HashWordTokenizer(vocab_size=512, max_tokens=16, ngrams=2)
    assert tok.token_strings('') == [EMPTY_TOKEN] and tok.encode('')[0] > 0
    assert tok.token_strings('  ,,, !! ') == [EMPTY_TOKEN]
    long = tok.encode('go ' * 5000)
    assert long.shape == (16,) and (long > 0).all()
    for text in ['Gehe vorwärts', '前に進んで', 'ｗａｌｋ ｆｏｒｗａｒｄ', '🤖 wave 👋', 'x\ud800y', 'a' * 10000]:
        ids = tok.encode(text)
        assert ids.shape == (16,) and ids.min() >= 0 and ids.max() < 512 and ids[0] > 0
    assert np.array_equal(tok.encode('ｗａｌｋ ｆｏｒｗａｒｄ'), tok.encode('walk forward'))   # NFKC
    assert np.array_equal(tok.encode("Don't"), tok.encode('dont'))


# -- model ---------------------------------------------------------------------------------------
def _batch(cfg, b=3, state=True):
    g = torch.Generator().manual_seed(0)
    batch = {OBS_IMAGE: torch.randn(b, 3, cfg.vision.image_size, cfg.vision.image_size, generator=g),
             OBS_LANGUAGE_TOKENS: torch.randint(0, cfg.language.vocab_size, (b, cfg.language.max_tokens), generator=g)}
    if state and cfg.state_dim:
        batch[OBS_STATE] = torch.randn(b, cfg.state_dim, generator=g)
    return batch


@pytest.mark.parametrize('overrides', [
    {},                                                                  # the default seed model
    {'chunk_size': 1, 'state_joints': ()},
    {'vision': dict(image_size=64, channels=(16, 32, 32)), 'fusion': dict(layers=1), 'language': dict(ngrams=1)},
])
def test_forward_shapes_and_ranges(humanoid, overrides):
    cfg = SeedVLAConfig.for_embodiment(humanoid, **overrides)
    model = SeedVLAModel.from_seed(cfg, 0).eval()
    with torch.inference_mode():
        out = model(_batch(cfg))
    assert out[ACTION].shape == (3, cfg.chunk_size, 11) and out[CONFIDENCE].shape == (3,)
    assert out[ACTION].abs().max() <= 1.0 and torch.isfinite(out[ACTION]).all()
    assert ((out[CONFIDENCE] > 0) & (out[CONFIDENCE] < 1)).all()


def test_default_model_is_small(humanoid):
    model = SeedVLAModel(SeedVLAConfig.for_embodiment(humanoid))
    assert 300_000 < model.num_parameters() < 2_000_000


def test_untrained_model_is_unconfident(humanoid):
    cfg = SeedVLAConfig.for_embodiment(humanoid)
    with torch.inference_mode():
        conf = SeedVLAModel.from_seed(cfg, 0).eval()(_batch(cfg))[CONFIDENCE]
    assert (conf < 0.2).all()


def test_missing_state_is_a_clear_error(humanoid):
    cfg = SeedVLAConfig.for_embodiment(humanoid)
    with pytest.raises(ValueError, match='expects a state of 8 values'):
        SeedVLAModel(cfg)(_batch(cfg, state=False))


def test_from_seed_is_deterministic_and_leaves_global_rng_alone(humanoid):
    cfg = SeedVLAConfig.for_embodiment(humanoid, vision=dict(image_size=32, channels=(8, 16)))
    torch.manual_seed(99)
    before = torch.rand(1)
    torch.manual_seed(99)
    a, b, c = SeedVLAModel.from_seed(cfg, 7), SeedVLAModel.from_seed(cfg, 7), SeedVLAModel.from_seed(cfg, 8)
    assert torch.equal(torch.rand(1), before)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_compute_loss_trains(humanoid):
    cfg = SeedVLAConfig.for_embodiment(humanoid, vision=dict(image_size=32, channels=(8, 16)),
                                       fusion=dict(dropout=0.0))
    model = SeedVLAModel.from_seed(cfg, 0).train()
    batch = _batch(cfg, b=4)
    batch[ACTION] = torch.rand(4, cfg.chunk_size, 11) * 2 - 1
    batch[CONFIDENCE] = torch.tensor([1.0, 0.0, 1.0, 1.0])
    first = None
    for _ in range(40):   # plain gradient descent (torch.optim is slow to import)
        loss, logs = model.compute_loss(batch)
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.5 * p.grad
        first = first if first is not None else logs['loss']
    assert set(logs) == {'action_loss', 'confidence_loss', 'loss'}
    assert logs['loss'] < 0.8 * first
