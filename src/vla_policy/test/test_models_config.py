"""SeedVLAConfig component switches: defaults stay the seed model's, unset fields follow the components."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from vla_policy.models import constants
from vla_policy.models.components import (ACTION_HEADS, FUSIONS, LANGUAGE_ENCODERS, TOKENIZERS, VISION_ENCODERS,
                                          ComponentRegistry)
from vla_policy.models.configuration_flat import convert_flat_config
from vla_policy.models.configuration_loss import SeedVLALossConfig
from vla_policy.models.configuration_seed_vla import IMAGENET_MEAN, IMAGENET_STD, SeedVLAConfig

#: config.json 'config' of a checkpoint written before the component fields existed (the old flat layout)
OLD_CHECKPOINT_CONFIG = {
    'image_size': 96, 'image_mean': list(IMAGENET_MEAN), 'image_std': list(IMAGENET_STD), 'state_joints': [],
    'vision_encoder': 'small_cnn', 'vision_channels': [32, 64, 128, 128], 'tokenizer': 'hash_words',
    'language_encoder': 'hash_bag', 'vocab_size': 4096, 'max_tokens': 32, 'text_ngrams': 2, 'text_dim': 128,
    'fusion': 'concat', 'hidden_dim': 256, 'fusion_layers': 2, 'dropout': 0.1, 'action_head': 'tanh_chunk',
    'action_dim': 11, 'chunk_size': 8, 'step_dt': 0.1, 'confidence_loss_weight': 0.1,
}


def test_defaults_are_the_seed_model():
    cfg = SeedVLAConfig()
    assert (cfg.vision.image_size, cfg.vision.image_mean, cfg.vision.image_std, cfg.language.tokenizer) == (
        96, IMAGENET_MEAN, IMAGENET_STD, 'hash_words')
    assert (cfg.vision.encoder, cfg.language.encoder, cfg.fusion.type, cfg.head.type) == (
        'small_cnn', 'hash_bag', 'concat', 'tanh_chunk')
    model, loss = convert_flat_config(OLD_CHECKPOINT_CONFIG)
    assert SeedVLAConfig.from_dict(model) == cfg and SeedVLALossConfig.from_dict(loss) == SeedVLALossConfig()
    assert SeedVLAConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"no field\(s\) \[.*'image_size'.*convert_flat_config"):
        SeedVLAConfig.from_dict(OLD_CHECKPOINT_CONFIG)


def test_flat_converter_refuses_removed_knobs_and_drops_unread_fields():
    assert convert_flat_config({'map_query': 'sentence', 'chunk_basis': 0, 'num_experts': 4})[0]['fusion'] == {}
    for key, value in (('map_query', 'words'), ('in_view_jitter_mean', -1.5), ('chunk_basis', 4),
                       ('vision_finetune', True), ('confidence_target', 'label'), ('point_features', 'gated')):
        with pytest.raises(ValueError, match=key):
            SeedVLAConfig.from_dict(convert_flat_config({'spatial_pooling': 'grounded_point', key: value})[0])
    with pytest.raises(ValueError, match="fusion 'moe' is no longer supported"):
        convert_flat_config({'fusion': 'moe'})
    model, _ = convert_flat_config({'fusion': 'cross_attention', 'num_heads': 8, 'spatial_pooling': 'grounded_point',
                                    'in_view_jitter': 3.0, 'action_head': 'rt1_tokens', 'head_dim': 64})
    cfg = SeedVLAConfig.from_dict(model)
    assert cfg.fusion.num_heads == cfg.head.num_heads == 8 and cfg.fusion.pooling == 'mean'
    assert 'in_view_jitter' not in cfg.to_dict()['fusion'] and cfg.to_dict()['head'] == {
        'type': 'rt1_tokens', 'bins': 256, 'dim': 64, 'layers': 2, 'num_heads': 8}
    with pytest.raises(ValueError, match=r"fusion.num_heads=8 is not read with type='concat'"):
        SeedVLAConfig(fusion={'num_heads': 8})


def test_unset_fields_follow_the_components():
    cfg = SeedVLAConfig.from_dict({'vision': dict(encoder='efficientnet_lite0'), 'language': dict(encoder='minilm_l6')})
    assert cfg.vision.image_size == 224 and cfg.vision.image_mean == pytest.approx((127 / 255,) * 3)
    assert cfg.vision.image_std == pytest.approx((128 / 255,) * 3) and cfg.language.tokenizer == 'minilm_l6'
    # explicit values win; the saved dict holds resolved values, so it reloads identically
    cfg = SeedVLAConfig(vision=dict(encoder='efficientnet_lite0', image_size=128, image_mean=IMAGENET_MEAN))
    assert cfg.vision.image_size == 128 and cfg.vision.image_mean == IMAGENET_MEAN
    assert cfg.vision.image_std == pytest.approx((128 / 255,) * 3)
    assert SeedVLAConfig.from_dict(cfg.to_dict()) == cfg
    # updated() / replace() keep resolved values unless they are reset to None
    base = SeedVLAConfig()
    assert base.updated(vision=dict(encoder='efficientnet_lite0')).vision.image_size == 96
    assert dataclasses.replace(base.vision, encoder='efficientnet_lite0').image_size == 96
    assert base.updated(vision=dict(encoder='efficientnet_lite0', image_size=None)).vision.image_size == 224


@pytest.mark.parametrize('overrides, match', [
    ({'language': dict(encoder='minilm_l6', tokenizer='hash_words')},
     r"writes 'observation.language.tokens' but encoder='minilm_l6' reads "
     r"'observation.language.embedding'; use tokenizer='minilm_l6' \(or leave tokenizer unset"),
    ({'language': dict(tokenizer='minilm_l6')}, "use tokenizer='hash_words'"),
    ({'fusion': dict(type='cross_attention', hidden_dim=30, num_heads=4)}, 'num_heads=4 must divide hidden_dim=30'),
    ({'head': dict(type='rt1_tokens', dim=20, num_heads=3)}, 'num_heads=3 must divide dim=20'),
    ({'head': dict(type='rt1_tokens', bins=1)}, 'bins'),
    ({'head': dict(type='flow_matching', steps=0)}, r'steps must be an integer in \[1, 100\]'),
    ({'head': dict(type='flow_matching', sampling_seed=-1)}, 'sampling_seed'),
    ({'language': dict(encoder='minilm_l6', cache_size=0)}, 'cache_size'),
    ({'fusion': dict(type='flim')}, "not a known fusion. Did you mean 'film'.*cross_attention, film,"),
    ({'head': dict(type='flow_match')}, "Did you mean 'flow_matching'"),
    ({'vision': dict(encoder='efficientnet')}, "Did you mean 'efficientnet_lite0'"),
    ({'vision': dict(strides=(2, 1))}, r'one stride \(1 or 2\) per channels stage \(4\)'),
    ({'vision': dict(channels=(8, 8), strides=(2, 3))}, r'strides must be \(\) or one stride'),
    ({'vision': dict(image_size=32, channels=(8,) * 6, strides=(2,) * 6)}, 'needs >= 64'),
    ({'action_normalization': 'minmax'}, 'action_normalization must be one of bounds, dataset'),
    ({'vision': dict(image_resize='pad')}, 'image_resize must be one of stretch, crop'),
    ({'fusion': dict(pooling='max')}, 'pooling must be one of mean, spatial_softmax'),
    ({'fusion': 'film'}, 'fusion must be a FusionConfig or a dict of its fields'),
    ({'head': {'kind': 'tanh_chunk'}}, r"SeedVLAConfig.head has no field\(s\) \['kind'\]"),
])
def test_errors_say_how_to_fix(overrides, match):
    with pytest.raises(ValueError, match=match):
        SeedVLAConfig.from_dict(overrides)


@pytest.mark.parametrize('overrides, match', [
    ({'agreement_threshold': 0}, r'agreement_threshold must be a number \(RMS distance.*\) > 0'),
    ({'grounding_weight': -1.0}, r'grounding_weight must be a number >= 0'),
    ({'confidence_loss_weight': 0.5}, r"no field\(s\) \['confidence_loss_weight'\]"),
    ({'action_weights': [1.0, 0.0]}, r'action_weights must be numbers > 0, one per action dimension'),
])
def test_loss_config_errors(overrides, match):
    with pytest.raises(ValueError, match=match):
        SeedVLALossConfig.from_dict(overrides)


def test_registries_list_every_component():
    assert VISION_ENCODERS.names() == ['efficientnet_lite0', 'small_cnn']
    assert LANGUAGE_ENCODERS.names() == ['hash_bag', 'minilm_l6']
    assert TOKENIZERS.names() == ['hash_words', 'minilm_l6']
    assert FUSIONS.names() == ['concat', 'cross_attention', 'film']
    assert ACTION_HEADS.names() == ['flow_matching', 'rt1_tokens', 'tanh_chunk']
    # the batch keys the registries declare are the shared constants
    for reg in (LANGUAGE_ENCODERS, TOKENIZERS):
        for name in reg.names():
            assert reg.batch_key(name) in (constants.OBS_LANGUAGE_TOKENS, constants.OBS_LANGUAGE_EMBEDDING)


def test_every_registered_target_imports():
    for reg in (VISION_ENCODERS, LANGUAGE_ENCODERS, TOKENIZERS, FUSIONS, ACTION_HEADS):
        for name in reg.names():
            assert isinstance(reg.get(name), type)


def test_third_party_component_defaults():
    reg = ComponentRegistry('vision_encoder', {})
    reg.register('big_vit', 'my_pkg.vit:ViT', defaults={'image_size': 384})
    assert reg.defaults('big_vit') == {'image_size': 384} and reg.batch_key('big_vit') is None
    VISION_ENCODERS.register('test_vit', 'vla_policy.models.vision:SmallCNNEncoder', defaults={'image_size': 64})
    try:
        assert SeedVLAConfig(vision=dict(encoder='test_vit')).vision.image_size == 64
    finally:
        VISION_ENCODERS._targets.pop('test_vit')
        VISION_ENCODERS._info.pop('test_vit')


def test_config_needs_no_torch():
    code = ('import sys; from vla_policy.models.configuration_seed_vla import SeedVLAConfig; '
            "SeedVLAConfig(vision={'encoder': 'efficientnet_lite0'}, language={'encoder': 'minilm_l6'}, "
            "fusion={'type': 'film'}, head={'type': 'flow_matching'}); assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, '-c', code], check=True)
