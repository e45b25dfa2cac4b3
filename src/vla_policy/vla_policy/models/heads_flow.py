"""Action head 'flow_matching': a conditional flow that turns noise into an action chunk (pi0 style).

Training (conditional flow matching / rectified flow, as in pi0): for an expert chunk x1, noise
x0 ~ N(0, I) and a time t ~ U(0, 1), ``x_t = (1 - t) x0 + t x1``. The network is conditioned on
the fused feature and t and predicts the clean chunk, ``x1_hat = tanh(net(x_t, t, features))``
(x-prediction); the flow's velocity is ``v = (x1_hat - x_t) / (1 - t)``. This is the same
marginal velocity field as regressing ``x1 - x0`` directly (the optimum of both is
E[x1 | x_t]); the loss ``|x1_hat - x1|^2`` is velocity matching weighted by (1 - t)^2. The
parametrisation keeps every sample inside [-1, 1] (tanh) and lets an untrained head propose
near-zero actions, like 'tanh_chunk'.

Inference: start from a noise chunk and take ``head.steps`` Euler steps ``x += v dt`` from
t = 0 to 1; the last step lands exactly on the last x1_hat. The starting noise is a fixed chunk
drawn once from ``head.sampling_seed`` (a non-persistent buffer: not in the checkpoint, rebuilt
identically), which makes ``forward`` a deterministic function of the observation:
reproducible runs, and an ONNX graph that matches PyTorch. :meth:`FlowMatchingHead.sample`
takes other noise for diverse samples.

The network is an MLP over [x_t (T*D), features, sin/cos(t)] with ``head.layers`` hidden layers
of ``head.dim`` (SiLU). The Euler loop has a fixed length, so it unrolls into the ONNX graph
(10 steps of a small MLP: well under a millisecond on one core).
"""
from __future__ import annotations

import torch
from torch import nn

from vla_policy.models.interfaces import ActionHead, dim_mean, masked_step_mean
from vla_policy.models.layers import timestep_embedding

#: width of the sin/cos time features
TIME_DIM = 32


class FlowMatchingHead(ActionHead):
    """Flow-matching action chunks with a few Euler steps at inference (see the module docstring)."""

    def __init__(self, config, in_dim: int) -> None:
        super().__init__()
        hc = config.head
        self.chunk_size, self.action_dim, self.steps = config.chunk_size, config.action_dim, hc.steps
        flat = config.chunk_size * config.action_dim
        layers: list[nn.Module] = []
        d = flat + in_dim + TIME_DIM
        for _ in range(hc.layers):
            layers += [nn.Linear(d, hc.dim), nn.SiLU()]
            d = hc.dim
        out = nn.Linear(d, flat)
        nn.init.normal_(out.weight, std=0.01)          # small predictions at initialisation: gentle actions
        nn.init.zeros_(out.bias)
        self.net = nn.Sequential(*layers, out)
        g = torch.Generator().manual_seed(hc.sampling_seed)
        self.register_buffer('noise', torch.randn(1, config.chunk_size, config.action_dim, generator=g),
                             persistent=False)

    def predict_clean(self, x: torch.Tensor, t: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """x1_hat (B, T, D) in [-1, 1] from chunks x (B, T, D) at times t (B,)."""
        h = torch.cat([x.flatten(1), features, timestep_embedding(t, TIME_DIM)], dim=-1)
        return torch.tanh(self.net(h)).view_as(x)

    def velocity(self, x: torch.Tensor, t: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """The flow's velocity (B, T, D) at chunks x and times t (B,) < 1."""
        return (self.predict_clean(x, t, features) - x) / (1.0 - t).view(-1, 1, 1)

    def sample(self, features: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Integrate from ``noise`` (B, T, D) or (1, T, D) (default: the fixed seeded chunk) to actions."""
        start = self.noise if noise is None else noise.to(features.dtype)
        x = start.expand(features.shape[0], -1, -1)
        zero = features[:, 0] * 0.0                     # (B,) zeros that follow the batch size (ONNX-safe)
        dt = 1.0 / self.steps
        for i in range(self.steps):
            x = x + dt * self.velocity(x, zero + i * dt, features)
        return x

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.sample(features)

    def loss(self, features: torch.Tensor, target: torch.Tensor,
             valid: torch.Tensor | None = None, dim_weights: torch.Tensor | None = None) -> torch.Tensor:
        b = target.shape[0]
        if valid is not None:     # padded steps repeat the last real one, so their values cannot leak in via x_t
            steps = torch.arange(target.shape[1], device=target.device).expand(b, -1)
            last = torch.where(valid, steps, torch.zeros_like(steps)).cummax(1).values
            target = target.gather(1, last.unsqueeze(-1).expand_as(target))
        x0 = torch.randn_like(target)
        t = torch.rand(b, dtype=target.dtype, device=target.device)
        tt = t.view(b, 1, 1)
        x_t = (1.0 - tt) * x0 + tt * target
        err = dim_mean((self.predict_clean(x_t, t, features) - target).square(), dim_weights)      # (B, T)
        return masked_step_mean(err, valid)
