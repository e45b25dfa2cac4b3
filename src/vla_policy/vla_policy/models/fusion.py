"""Fusion 'concat' (late fusion: pooled vision + pooled language (+ state) -> MLP) and shared helpers.

The other fusions: ``fusion_attention`` ('cross_attention'), ``fusion_film`` ('film'),
``fusion_moe`` ('moe').
"""
from __future__ import annotations

import math

import torch
from torch import nn

from vla_policy.models.interfaces import Fusion


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (B, L, C) over the L positions where mask (B, L) is True; zeros where none is."""
    m = mask.unsqueeze(-1).to(tokens.dtype)
    return (tokens * m).sum(1) / m.sum(1).clamp_min(1.0)


class SpatialPool(nn.Module):
    """Visual tokens (B, N, C) on a square grid -> one vector, per ``config.spatial_pooling``.

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
    feature too (B, 4C + 4). ``grounding_logits`` keeps the last (B, N + 1) scores for the
    grounding loss (:func:`grounding_loss`).
    """

    def __init__(self, kind: str, channels: int, text_dim: int = 0, key_dim: int | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.out_dim = {'mean': channels, 'spatial_softmax': 3 * channels,
                        'grounded_query': 4 * channels + 4}.get(kind, 4 * channels + 3)
        self.grounding_logits: torch.Tensor | None = None
        if kind != 'mean':
            self.log_temperature = nn.Parameter(torch.zeros(channels))
        if kind in ('language_query', 'grounded_query'):
            if text_dim < 1:
                raise ValueError(f"spatial_pooling '{kind}' needs the instruction's features")
            self.query = nn.Linear(text_dim, channels)
            self.key = nn.Linear(key_dim or channels, channels)
            self.scale = channels ** -0.5
        if kind == 'grounded_query':
            self.not_in_view = nn.Linear(text_dim, 1)

    def forward(self, tokens: torch.Tensor, text: torch.Tensor | None = None,
                key_tokens: torch.Tensor | None = None) -> torch.Tensor:
        """``key_tokens`` (B, N, key_dim): what the instruction's map is scored on, if not ``tokens``."""
        mean = tokens.mean(1)
        if self.kind == 'mean':
            return mean
        coords = _grid(tokens)
        attn = torch.softmax(tokens * torch.exp(-self.log_temperature), dim=1)               # (B, N, C)
        keypoints = torch.einsum('bnc,nk->bck', attn, coords).flatten(1)                     # (B, 2C)
        if self.kind == 'spatial_softmax':
            return torch.cat([mean, keypoints], dim=-1)
        if text is None:
            raise ValueError(f"spatial_pooling '{self.kind}' needs the instruction's features")
        keys = self.key(tokens if key_tokens is None else key_tokens)
        scores = torch.einsum('bnc,bc->bn', keys, self.query(text)) * self.scale                 # (B, N)
        peak = scores.amax(1, keepdim=True)
        if self.kind == 'grounded_query':
            logits = torch.cat([scores, self.not_in_view(text)], dim=1)                      # (B, N + 1)
            self.grounding_logits = logits
            where = torch.softmax(logits, dim=1)[:, :-1]
        else:
            where = torch.softmax(scores, dim=1)
        point = where @ coords                                                                # (B, 2)
        attended = torch.einsum('bn,bnc->bc', where, tokens)                                  # (B, C)
        parts = [mean, keypoints, attended, point, peak]
        if self.kind == 'grounded_query':
            parts.append(where.sum(1, keepdim=True))
        return torch.cat(parts, dim=-1)


def grounding_loss(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of a grounded_query map (B, N + 1) against TARGET_IN_IMAGE (B, 3) labels.

    The class of a sample is the grid cell holding the object's centre (x, y in [-1, 1], row-major,
    y down) when in view, the last slot when not. Returns (per-sample loss (B,), labelled (B,) bool);
    rows with a NaN in_view have no label.
    """
    n = logits.shape[1] - 1
    side = math.isqrt(n)
    labelled = ~torch.isnan(target[:, 0])
    in_view = labelled & (target[:, 0] > 0.5) & torch.isfinite(target[:, 1:]).all(1)
    xy = torch.nan_to_num(target[:, 1:], nan=0.0).clamp(-1.0, 1.0)
    cell = ((xy + 1.0) / 2.0 * side).floor().clamp(0, side - 1).long()                       # (B, 2) col, row
    cls = torch.where(in_view, cell[:, 1] * side + cell[:, 0], torch.full_like(cell[:, 0], n))
    return nn.functional.cross_entropy(logits, cls, reduction='none'), labelled


def _grid(tokens: torch.Tensor) -> torch.Tensor:
    """(N, 2) x, y in [-1, 1] of the cells of a square grid of N tokens (row-major, y down)."""
    n = tokens.shape[1]
    side = math.isqrt(n)
    if side * side != n:
        raise ValueError(f'spatial pooling needs a square grid of visual tokens, got {n}')
    axis = torch.linspace(-1.0, 1.0, side, dtype=tokens.dtype, device=tokens.device)
    return torch.stack([axis.repeat(side), axis.repeat_interleave(side)], dim=-1)


class ConcatMLPFusion(Fusion):
    """Late fusion: [pooled visual tokens, LayerNorm(masked mean(text tokens)), state] -> MLP.

    The visual tokens are pooled by :class:`SpatialPool` (``spatial_pooling``); the MLP is
    ``fusion_layers`` x (Linear, ReLU, Dropout) of width ``hidden_dim``.
    """

    def __init__(self, config, vision_dim: int, text_dim: int, state_dim: int) -> None:
        super().__init__()
        self.text_norm = nn.LayerNorm(text_dim)
        self.state_dim = state_dim
        self.pool = SpatialPool(config.spatial_pooling, vision_dim, text_dim)
        self.mlp = mlp(self.pool.out_dim + text_dim + state_dim, config.hidden_dim, config.fusion_layers,
                       config.dropout)
        self.out_dim = config.hidden_dim

    def forward(self, vision, text, text_mask, state):
        text_vec = self.text_norm(masked_mean(text, text_mask))
        parts = [self.pool(vision, text_vec), text_vec]
        if self.state_dim:
            parts.append(check_state(state, self.state_dim))
        return self.mlp(torch.cat(parts, dim=-1))


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
