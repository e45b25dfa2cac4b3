"""Fusion 'concat' (late fusion: pooled vision + pooled language (+ state) -> MLP) and shared helpers.

The other fusions: ``fusion_attention`` ('cross_attention'), ``fusion_film`` ('film').
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from vla_policy.models.interfaces import Fusion


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (B, L, C) over the L positions where mask (B, L) is True; zeros where none is."""
    m = mask.unsqueeze(-1).to(tokens.dtype)
    return (tokens * m).sum(1) / m.sum(1).clamp_min(1.0)


class Grounding(NamedTuple):
    """What a grounded pooling's map gives the training losses (returned, never kept on the module)."""

    #: (B, N + 1) scores of the grid cells and of the "not in view" slot (:func:`grounding_loss`)
    logits: torch.Tensor
    #: (B, N, C) the keys the map was scored on, for other queries (:meth:`SpatialPool.query_logits`)
    keys: torch.Tensor
    #: (B, 2) 'grounded_point': the map's point renormalised over the grid (:func:`point_loss`); else None
    point: torch.Tensor | None
    #: (B, N) ``obstacle_cells``: the objectness logit of each grid cell (:func:`objectness_loss`); else None
    objectness: torch.Tensor | None = None


class SpatialPool(nn.Module):
    """Visual tokens (B, N, C) on a square grid -> one vector, per the fusion config's ``pooling``.

    'mean': the average token (B, C). 'spatial_softmax': the average token and, per channel, the
    expected (x, y) grid coordinates in [-1, 1] under a softmax over the N positions with a learned
    per-channel temperature (B, 3C): where each feature fires, not only whether it does.
    'language_query': 'spatial_softmax' plus one attention map queried by the instruction: score_n =
    key(token_n) . query(text), softmax over the grid; its expected (x, y), the attended token and
    the peak score (B, 4C + 3). The query is linear in the mean of the word vectors, so the score
    is a sum of per-word scores and the map a product of per-word maps: "red" and "ball" each
    light up their tokens and only the red ball lights up under both, a pair never named together
    in training included.
    'grounded_query': 'language_query' whose map has one more slot, "the named object is not in
    view", scored from the instruction alone; the pooled values only cover the grid, so the
    attended token and (x, y) shrink toward 0 as that slot wins, and its weight 1 - sum(map) is a
    feature too (B, 4C + 4).
    'grounded_point': the 'grounded_query' map alone: its expected (x, y), peak score and in-view
    weight (B, 4), no other visual feature; with ``point_features`` 'normalised' the point
    renormalised over the grid and the in-view weight (B, 3), whose logit is shifted by
    +- ``in_view_jitter`` while training. Each cell also offers an offset of the object's centre
    within the cell (from the key tokens, at most half a cell), so the point is finer than the grid.
    Whatever the policy does with the image goes through where the instruction's map points, so a
    pair never named together in training is acted on like any other once the map finds it.
    ``obstacle_cells`` > 0 ('grounded_point'): also an objectness map that no word queries, one
    logit per cell from its key token (trained on every object's cell: :func:`objectness_loss`),
    max-pooled to obstacle_cells x obstacle_cells sigmoid values (B, obstacle_cells ** 2) after the
    point: where things stand in the view, the ones in the way included.

    ``forward`` returns (features, :class:`Grounding` or None): the grounded poolings' map for the
    grounding losses (:func:`grounding_loss`, :func:`point_loss`), and :meth:`query_logits` scores
    another query (an attribute word, "red") on the same keys (:func:`attribute_grounding_loss`).
    """

    def __init__(self, kind: str, channels: int, text_dim: int = 0, key_dim: int | None = None,
                 point_features: str = 'scaled', in_view_jitter: float = 0.0, obstacle_cells: int = 0) -> None:
        super().__init__()
        self.kind = kind
        self.point_features = point_features
        self.in_view_jitter = in_view_jitter
        self.obstacle_cells = obstacle_cells if kind == 'grounded_point' else 0
        self.out_dim = {'mean': channels, 'spatial_softmax': 3 * channels, 'grounded_query': 4 * channels + 4,
                        'grounded_point': 4 if point_features == 'scaled' else 3}.get(kind, 4 * channels + 3)
        self.out_dim += self.obstacle_cells ** 2
        self.grounded = kind in ('grounded_query', 'grounded_point')
        if kind not in ('mean', 'grounded_point'):
            self.log_temperature = nn.Parameter(torch.zeros(channels))
        if kind in ('language_query', 'grounded_query', 'grounded_point'):
            if text_dim < 1:
                raise ValueError(f"spatial_pooling '{kind}' needs the instruction's features")
            self.query = nn.Linear(text_dim, channels)
            self.key = nn.Linear(key_dim or channels, channels)
            self.scale = channels ** -0.5
        if self.grounded:
            self.not_in_view = nn.Linear(text_dim, 1)
        if kind == 'grounded_point':
            self.offset = nn.Linear(key_dim or channels, 2)
        if self.obstacle_cells:
            self.objectness = nn.Linear(key_dim or channels, 1)

    @classmethod
    def from_config(cls, fusion_config, channels: int, text_dim: int, key_dim: int | None = None) -> 'SpatialPool':
        """The pooling a FusionConfig describes (its pooling, point_features, in_view_jitter, obstacle_cells)."""
        fc = fusion_config
        return cls(fc.pooling, channels, text_dim, key_dim=key_dim, point_features=fc.point_features,
                   in_view_jitter=fc.in_view_jitter, obstacle_cells=fc.obstacle_cells)

    def forward(self, tokens: torch.Tensor, text: torch.Tensor | None = None,
                key_tokens: torch.Tensor | None = None) -> tuple[torch.Tensor, Grounding | None]:
        """``key_tokens`` (B, N, key_dim): what the instruction's map is scored on, if not ``tokens``."""
        mean = tokens.mean(1)
        if self.kind == 'mean':
            return mean, None
        coords = _grid(tokens)
        if self.kind != 'grounded_point':
            attn = torch.softmax(tokens * torch.exp(-self.log_temperature), dim=1)           # (B, N, C)
            keypoints = torch.einsum('bnc,nk->bck', attn, coords).flatten(1)                 # (B, 2C)
            if self.kind == 'spatial_softmax':
                return torch.cat([mean, keypoints], dim=-1), None
        if text is None:
            raise ValueError(f"spatial_pooling '{self.kind}' needs the instruction's features")
        key_tokens = tokens if key_tokens is None else key_tokens
        keys = self.key(key_tokens)
        # (the order of the operations is the trained checkpoints': it fixes the gradients' summation order)
        scores = self._scores(keys, text)                                                    # (B, N)
        not_in_view = self.not_in_view(text) if self.grounded else None
        peak = scores.amax(1, keepdim=True)
        if not self.grounded:
            return self._pooled(tokens, torch.softmax(scores, dim=1), coords, [mean, keypoints], peak), None
        logits = torch.cat([scores, not_in_view], dim=1)                                     # (B, N + 1)
        if self.kind == 'grounded_point':
            features, point = self._point_features(scores, logits[:, -1], peak, coords, key_tokens)
            if not self.obstacle_cells:
                return features, Grounding(logits, keys, point)
            objectness = self.objectness(key_tokens).squeeze(-1)                             # (B, N)
            return (torch.cat([features, self._obstacle_features(objectness)], dim=-1),
                    Grounding(logits, keys, point, objectness))
        where = torch.softmax(logits, dim=1)[:, :-1]
        return self._pooled(tokens, where, coords, [mean, keypoints], peak, True), Grounding(logits, keys, None)

    @staticmethod
    def _pooled(tokens, where, coords, parts, peak, in_view: bool = False) -> torch.Tensor:
        """[mean, keypoints, attended token, the map's (x, y), peak (, in-view weight: the map's sum)]."""
        point = where @ coords                                                                # (B, 2)
        attended = torch.einsum('bn,bnc->bc', where, tokens)                                  # (B, C)
        parts = parts + [attended, point, peak]
        if in_view:
            parts.append(where.sum(1, keepdim=True))
        return torch.cat(parts, dim=-1)

    def _point_features(self, scores, not_in_view, peak, coords, key_tokens) -> tuple[torch.Tensor, torch.Tensor]:
        """'grounded_point': (features, the map's point over the grid, refined by the cells' offsets)
        from the point and its in-view weight sigmoid(logsumexp(scores) - not_in_view), the share of
        the map on the grid; read per ``point_features``."""
        side = math.isqrt(scores.shape[1])
        cells = coords + torch.tanh(self.offset(key_tokens)) / side                          # (B, N, 2)
        point = torch.einsum('bn,bnk->bk', torch.softmax(scores, dim=1), cells)
        in_view_logit = torch.logsumexp(scores, 1) - not_in_view
        if self.point_features == 'scaled':
            mass = torch.sigmoid(in_view_logit).unsqueeze(1)
            return torch.cat([point * mass, peak, mass], dim=-1), point
        if self.training and self.in_view_jitter > 0:
            in_view_logit = in_view_logit + (torch.rand_like(in_view_logit) * 2 - 1) * self.in_view_jitter
        in_view = torch.sigmoid(in_view_logit).unsqueeze(1)
        return torch.cat([point, in_view], dim=-1), point

    def _obstacle_features(self, objectness: torch.Tensor) -> torch.Tensor:
        """(B, N) objectness logits on the side x side grid -> (B, obstacle_cells ** 2) sigmoids: the
        grid max-pooled to obstacle_cells x obstacle_cells, or its cells repeated when it is coarser."""
        side, cells = math.isqrt(objectness.shape[1]), self.obstacle_cells
        grid = torch.sigmoid(objectness).reshape(-1, 1, side, side)
        if side % cells == 0:
            grid = nn.functional.max_pool2d(grid, side // cells) if side != cells else grid
        elif cells % side == 0:
            grid = grid.repeat_interleave(cells // side, dim=2).repeat_interleave(cells // side, dim=3)
        else:
            raise ValueError(f'fusion.obstacle_cells={cells} and the grid of visual tokens ({side} x {side} at '
                             f'this image size and these strides) must divide one another; e.g. {side}')
        return grid.flatten(1)

    def _scores(self, keys: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return torch.einsum('bnc,bc->bn', keys, self.query(text)) * self.scale

    def query_logits(self, text: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """'grounded_query' / 'grounded_point': the (B, N + 1) map logits of another instruction vector
        (B, text_dim) on ``keys`` (a :class:`Grounding`'s, the same images)."""
        return torch.cat([self._scores(keys, text), self.not_in_view(text)], dim=1)


def _in_view(labels: torch.Tensor) -> torch.Tensor:
    """Rows of (..., 3) in_view, x, y labels whose object is in the image (NaN in_view: no label)."""
    return (labels[..., 0] > 0.5) & torch.isfinite(labels[..., 1:]).all(-1)


def _cells(xy: torch.Tensor, side: int) -> torch.Tensor:
    """Row-major index of the grid cell (side x side) holding each point x, y in [-1, 1] (..., 2)."""
    cell = ((xy.clamp(-1.0, 1.0) + 1.0) / 2.0 * side).floor().clamp(0, side - 1).long()
    return cell[..., 1] * side + cell[..., 0]


def grounding_loss(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of a grounded_query map (B, N + 1) against TARGET_IN_IMAGE (B, 3) labels.

    The class of a sample is the grid cell holding the object's centre (x, y in [-1, 1], row-major,
    y down) when in view, the last slot when not. Returns (per-sample loss (B,), labelled (B,) bool);
    rows with a NaN in_view have no label.
    """
    n = logits.shape[1] - 1
    side = math.isqrt(n)
    labelled = ~torch.isnan(target[:, 0])
    in_view = _in_view(target)
    cell = _cells(torch.nan_to_num(target[:, 1:], nan=0.0), side)
    cls = torch.where(in_view, cell, torch.full_like(cell, n))
    return nn.functional.cross_entropy(logits, cls, reduction='none'), labelled


def point_loss(point: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth L1 (in image units, [-1, 1]) between a grounded_point map's point (B, 2) and the named
    object's centre in TARGET_IN_IMAGE (B, 3); (per-sample loss (B,), rows with the object in view)."""
    xy = torch.nan_to_num(target[:, 1:], nan=0.0)
    return nn.functional.smooth_l1_loss(point, xy, beta=0.1, reduction='none').sum(1), _in_view(target)


def attribute_grounding_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of a grounded_query map (B, N + 1) of an attribute query ("red", "ball")
    against ATTRIBUTE_IN_IMAGE (B, K, 3) labels: the target spreads evenly over the cells of the K
    objects with in_view 1 (those that have the attribute and are in the image), or is the "not in
    view" slot when there is none. Returns (per-sample loss (B,), labelled (B,) bool); rows whose
    in_view are all NaN have no label.
    """
    b, n = logits.shape[0], logits.shape[1] - 1
    labelled = ~torch.isnan(labels[..., 0]).all(1)
    hit = _in_view(labels)                                                                    # (B, K)
    cell = _cells(torch.nan_to_num(labels[..., 1:], nan=0.0), math.isqrt(n))                  # (B, K)
    target = torch.zeros(b, n + 1, dtype=logits.dtype, device=logits.device)
    target.scatter_add_(1, torch.where(hit, cell, torch.full_like(cell, n)), hit.to(logits.dtype))
    target[:, n] += (~hit.any(1)).to(logits.dtype)
    target = target / target.sum(1, keepdim=True)
    return -(target * torch.log_softmax(logits, dim=1)).sum(1), labelled


def objectness_loss(logits: torch.Tensor, objects: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary cross-entropy of an objectness map (B, N) against OBJECTS_IN_IMAGE (B, K, 3) labels: a
    cell's target is 1 when it holds the centre of an object in view (any of the K), 0 otherwise.
    Returns (per-sample mean over the cells (B,), labelled (B,) bool); rows whose in_view are all NaN
    have no label."""
    b, n = logits.shape
    labelled = ~torch.isnan(objects[..., 0]).all(1)
    hit = _in_view(objects)                                                                   # (B, K)
    cell = _cells(torch.nan_to_num(objects[..., 1:], nan=0.0), math.isqrt(n))                # (B, K)
    target = torch.zeros(b, n + 1, dtype=logits.dtype, device=logits.device)
    target.scatter_(1, torch.where(hit, cell, torch.full_like(cell, n)), 1.0)
    bce = nn.functional.binary_cross_entropy_with_logits(logits, target[:, :n], reduction='none')
    return bce.mean(1), labelled


def _grid(tokens: torch.Tensor) -> torch.Tensor:
    """(N, 2) x, y in [-1, 1] of the cells of a square grid of N tokens (row-major, y down)."""
    n = tokens.shape[1]
    side = math.isqrt(n)
    if side * side != n:
        raise ValueError(f'spatial pooling needs a square grid of visual tokens, got {n}')
    axis = torch.linspace(-1.0, 1.0, side, dtype=tokens.dtype, device=tokens.device)
    return torch.stack([axis.repeat(side), axis.repeat_interleave(side)], dim=-1)


class TextNormFusion(Fusion):
    """A fusion whose instruction is one LayerNorm-ed vector, the masked mean of its text tokens
    (``self.text_norm``): what the pool's map is queried with, and what the attribute loss queries."""

    text_norm: nn.LayerNorm

    def instruction_vector(self, text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """Text tokens + mask -> the (B, text_dim) instruction vector."""
        return self.text_norm(masked_mean(text, text_mask))


class ConcatMLPFusion(TextNormFusion):
    """Late fusion: [pooled visual tokens, LayerNorm(masked mean(text tokens)), state] -> MLP.

    The visual tokens are pooled by :class:`SpatialPool` (``pooling``); the MLP is ``layers`` x
    (Linear, ReLU, Dropout) of width ``hidden_dim`` (the model config's ``fusion`` block).
    """

    def __init__(self, config, vision_dim: int, text_dim: int, state_dim: int) -> None:
        super().__init__()
        fc = config.fusion
        self.text_norm = nn.LayerNorm(text_dim)
        self.state_dim = state_dim
        self.pool = SpatialPool.from_config(fc, vision_dim, text_dim)
        self.mlp = mlp(self.pool.out_dim + text_dim + state_dim, fc.hidden_dim, fc.layers, fc.dropout)
        self.out_dim = fc.hidden_dim

    def forward(self, vision, text, text_mask, state):
        text_vec = self.instruction_vector(text, text_mask)
        pooled, grounding = self.pool(vision, text_vec)
        parts = [pooled, text_vec]
        if self.state_dim:
            parts.append(check_state(state, self.state_dim))
        return self.mlp(torch.cat(parts, dim=-1)), grounding


def check_state(state: torch.Tensor | None, state_dim: int) -> torch.Tensor:
    """The state (B, state_dim), or a ValueError that says what was expected."""
    if state is None or state.shape[-1] != state_dim:
        got = None if state is None else tuple(state.shape)
        raise ValueError(f'fusion expects a state of {state_dim} values per sample, got {got}')
    return state


def mlp(d_in: int, width: int, layers: int, dropout: float) -> nn.Sequential:
    """``layers`` x (Linear, ReLU, Dropout) of ``width``."""
    out: list[nn.Module] = []
    for _ in range(layers):
        out += [nn.Linear(d_in, width), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        d_in = width
    return nn.Sequential(*out)
