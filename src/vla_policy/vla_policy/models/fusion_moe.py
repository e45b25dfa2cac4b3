"""Fusion 'moe': a gating network mixes K expert MLPs (the seeds' RT-2 sketch).

The input of every expert and of the gate is the late-fusion vector of 'concat'
(mean of visual tokens, LayerNorm(masked mean of text tokens), state). The gate (one Linear ->
softmax over K) reads the same vector, so the instruction and the scene both pick the mix; with
training, experts tend to specialise by skill (walking, arm motions, looking around).

    x = [mean(vision), LN(mean(text)), state]                     (B, D)
    g = softmax(Linear(x))                                        (B, K)
    y = sum_k g_k * MLP_k(x), each MLP fusion_layers x (Linear, ReLU, Dropout) of hidden_dim

The mixture is dense (every expert runs; K = num_experts = 4 by default costs 4 small MLPs,
well under a millisecond); experts are evaluated together as batched matmuls (einsum), one
op per layer for all experts, which is also what the ONNX graph holds. The last gate values are
kept in ``last_gate`` (detached) for logging expert use.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from vla_policy.models.fusion import check_state, masked_mean
from vla_policy.models.interfaces import Fusion


class ExpertLinear(nn.Module):
    """K independent Linear layers applied to K inputs: (B, K, d_in) -> (B, K, d_out)."""

    def __init__(self, k: int, d_in: int, d_out: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(d_in)             # nn.Linear's default initialisation, per expert
        self.weight = nn.Parameter(torch.empty(k, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(k, d_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum('bki,kio->bko', x, self.weight) + self.bias


class MoEFusion(Fusion):
    """Softmax gate over ``num_experts`` expert MLPs (see the module docstring)."""

    def __init__(self, config, vision_dim: int, text_dim: int, state_dim: int) -> None:
        super().__init__()
        k, d = config.num_experts, config.hidden_dim
        self.num_experts = k
        self.state_dim = state_dim
        self.text_norm = nn.LayerNorm(text_dim)
        d_in = vision_dim + text_dim + state_dim
        self.gate = nn.Linear(d_in, k)
        nn.init.zeros_(self.gate.weight)           # uniform mix at initialisation
        nn.init.zeros_(self.gate.bias)
        self.experts = nn.ModuleList(ExpertLinear(k, d_in if i == 0 else d, d) for i in range(config.fusion_layers))
        self.drop = nn.Dropout(config.dropout)
        self.out_dim = d
        self.last_gate: torch.Tensor | None = None

    def forward(self, vision, text, text_mask, state):
        parts = [vision.mean(1), self.text_norm(masked_mean(text, text_mask))]
        if self.state_dim:
            parts.append(check_state(state, self.state_dim))
        x = torch.cat(parts, dim=-1)                                   # (B, D)
        gate = torch.softmax(self.gate(x), dim=-1)                     # (B, K)
        h = x.unsqueeze(1).expand(-1, self.num_experts, -1)            # (B, K, D)
        for layer in self.experts:
            h = self.drop(torch.relu(layer(h)))
        self.last_gate = gate.detach()
        return (gate.unsqueeze(-1) * h).sum(1)
