"""Fusion 'concat' (late fusion: pooled vision + pooled language (+ state) -> MLP) and shared helpers.

The other fusions: ``fusion_attention`` ('cross_attention'), ``fusion_film`` ('film'),
``fusion_moe`` ('moe').
"""
from __future__ import annotations

import torch
from torch import nn

from vla_policy.models.interfaces import Fusion


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (B, L, C) over the L positions where mask (B, L) is True; zeros where none is."""
    m = mask.unsqueeze(-1).to(tokens.dtype)
    return (tokens * m).sum(1) / m.sum(1).clamp_min(1.0)


class ConcatMLPFusion(Fusion):
    """Late fusion: [mean(visual tokens), LayerNorm(masked mean(text tokens)), state] -> MLP.

    The MLP is ``fusion_layers`` x (Linear, ReLU, Dropout) of width ``hidden_dim``.
    """

    def __init__(self, config, vision_dim: int, text_dim: int, state_dim: int) -> None:
        super().__init__()
        self.text_norm = nn.LayerNorm(text_dim)
        self.state_dim = state_dim
        self.mlp = mlp(vision_dim + text_dim + state_dim, config.hidden_dim, config.fusion_layers, config.dropout)
        self.out_dim = config.hidden_dim

    def forward(self, vision, text, text_mask, state):
        parts = [vision.mean(1), self.text_norm(masked_mean(text, text_mask))]
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
