"""Fusion 'film': the instruction scales and shifts every channel of the visual features (FiLM).

FiLM (Perez et al. 2018), as RT-1 uses it to condition its image tokens on the instruction:
each layer maps the visual tokens through a shared 1x1 projection, then applies a
language-conditioned affine modulation per channel, ``h * (1 + gamma(text)) + beta(text)``,
then ReLU. Here it acts on the encoder's output feature map (not inside the backbone), so the
same frozen pretrained encoder serves every instruction and the modulation is all that learns.
gamma and beta start at zero: at initialisation FiLM is the identity.

    text vector = LayerNorm(masked mean of text tokens)                       (B, text_dim)
    h = vision tokens (B, N, C)
    layers x [h = ReLU(FiLM(Linear(h), text vector))]                          (B, N, d)
    [pool(h), text vector, state] -> Linear, ReLU -> (B, d)

with d = hidden_dim and pool the ``pooling`` of the fusion config: the mean over tokens, or the
mean plus a keypoint per channel ('spatial_softmax': where the instruction-modulated features
fire, e.g. where "the red ball" is in the image). With ``grounding_keys: encoder`` the instruction's
map is scored on the encoder's tokens (before FiLM), so it stays a sum of per-word maps.
"""
from __future__ import annotations

import torch
from torch import nn

from vla_policy.models.fusion import SpatialPool, TextNormFusion, check_state


class FiLMLayer(nn.Module):
    """Token-wise Linear, then per-channel gamma/beta from a conditioning vector, then ReLU."""

    def __init__(self, d_in: int, d_out: int, cond_dim: int, dropout: float) -> None:
        super().__init__()
        self.proj = nn.Linear(d_in, d_out)
        self.film = nn.Linear(cond_dim, 2 * d_out)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        self.drop = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.film(cond).unsqueeze(1).chunk(2, dim=-1)          # (B, 1, d) each
        return self.drop(torch.relu(self.proj(tokens) * (1.0 + gamma) + beta))


class FiLMFusion(TextNormFusion):
    """Language-conditioned feature-wise affine modulation of the visual tokens (see the module docstring)."""

    def __init__(self, config, vision_dim: int, text_dim: int, state_dim: int) -> None:
        super().__init__()
        fc = config.fusion
        d = fc.hidden_dim
        self.state_dim = state_dim
        self.text_norm = nn.LayerNorm(text_dim)
        self.layers = nn.ModuleList(FiLMLayer(vision_dim if i == 0 else d, d, text_dim, fc.dropout)
                                    for i in range(fc.layers))
        self.encoder_keys = fc.grounding_keys == 'encoder'
        self.pool = SpatialPool.from_config(fc, d, text_dim, key_dim=vision_dim if self.encoder_keys else None)
        self.out = nn.Sequential(nn.Linear(self.pool.out_dim + text_dim + state_dim, d), nn.ReLU(inplace=True),
                                 nn.Dropout(fc.dropout))
        self.out_dim = d

    def forward(self, vision, text, text_mask, state):
        cond = self.instruction_vector(text, text_mask)
        h = vision
        for layer in self.layers:
            h = layer(h, cond)
        pooled, grounding = self.pool(h, cond, key_tokens=vision if self.encoder_keys else None)
        parts = [pooled, cond]
        if self.state_dim:
            parts.append(check_state(state, self.state_dim))
        return self.out(torch.cat(parts, dim=-1)), grounding
