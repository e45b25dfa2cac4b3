"""Latency of a policy's ``infer`` on this machine: used by ``python -m vla_tools.policy_benchmark``
and by :func:`vla_policy.export_onnx.compare` (PyTorch against onnxruntime)."""
from __future__ import annotations

import time

import numpy as np

from vla_core.policy import Observation


def measure(policy, calls: int = 200, width: int = 640, height: int = 480, warmup: int = 10,
            seed: int = 0) -> dict[str, float]:
    """Time ``policy.infer`` on random images and instructions; returns milliseconds."""
    rng = np.random.default_rng(seed)
    instructions = ['walk forward', 'turn left', 'raise your right arm', 'look up', 'stop', '']
    joints = {jn: 0.0 for jn in getattr(getattr(policy, 'embodiment', None), 'joint_names', ())}
    obs = [Observation(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), instructions[i % len(instructions)],
                       joints, stamp=0.1 * i) for i in range(8)]
    for i in range(warmup):
        policy.infer(obs[i % len(obs)])
    times = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter()
        policy.infer(obs[i % len(obs)])
        times[i] = time.perf_counter() - t0
    ms = times * 1e3
    return {'calls': calls, 'p50_ms': float(np.percentile(ms, 50)), 'p90_ms': float(np.percentile(ms, 90)),
            'p99_ms': float(np.percentile(ms, 99)), 'max_ms': float(ms.max()), 'mean_ms': float(ms.mean())}
