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
    """

    def __init__(self, kind: str, channels: int) -> None:
        super().__init__()
        self.kind = kind
        self.out_dim = channels if kind == 'mean' else 3 * channels
        if kind == 'spatial_softmax':
            self.log_temperature = nn.Parameter(torch.zeros(channels))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        mean = tokens.mean(1)
        if self.kind == 'mean':
            return mean
        n = tokens.shape[1]
        side = math.isqrt(n)
        if side * side != n:
            raise ValueError(f"spatial_pooling 'spatial_softmax' needs a square grid of visual tokens, got {n}")
        axis = torch.linspace(-1.0, 1.0, side, dtype=tokens.dtype, device=tokens.device)
        coords = torch.stack([axis.repeat(side), axis.repeat_interleave(side)], dim=-1)     # (N, 2): x, y
        attn = torch.softmax(tokens * torch.exp(-self.log_temperature), dim=1)               # (B, N, C)
        keypoints = torch.einsum('bnc,nk->bck', attn, coords).flatten(1)                     # (B, 2C)
        return torch.cat([mean, keypoints], dim=-1)


class ConcatMLPFusion(Fusion):
    """Late fusion: [pooled visual tokens, LayerNorm(masked mean(text tokens)), state] -> MLP.

    The visual tokens are pooled by :class:`SpatialPool` (``spatial_pooling``); the MLP is
    ``fusion_layers`` x (Linear, ReLU, Dropout) of width ``hidden_dim``.
    """

    def __init__(self, config, vision_dim: int, text_dim: int, state_dim: int) -> None:
        super().__init__()
        self.text_norm = nn.LayerNorm(text_dim)
        self.state_dim = state_dim
        self.pool = SpatialPool(config.spatial_pooling, vision_dim)
        self.mlp = mlp(self.pool.out_dim + text_dim + state_dim, config.hidden_dim, config.fusion_layers,
                       config.dropout)
        self.out_dim = config.hidden_dim

    def forward(self, vision, text, text_mask, state):
        parts = [self.pool(vision), self.text_norm(masked_mean(text, text_mask))]
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
