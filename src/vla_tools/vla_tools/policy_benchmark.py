"""Latency of a policy's ``infer`` on this machine (not a test).

    python -m vla_policy.benchmark                       # seed_vla, 640x480, 200 calls
    python -m vla_policy.benchmark --policy keyword --calls 500
    python -m vla_policy.benchmark --policy /path/to/checkpoint --threads 2

Prints p50 / p90 / p99 / max in milliseconds, after warm-up calls that are not counted.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np


def measure(policy, calls: int = 200, width: int = 640, height: int = 480, warmup: int = 10,
            seed: int = 0) -> dict[str, float]:
    """Time ``policy.infer`` on random images and instructions; returns milliseconds."""
    from vla_policy.core import Observation

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


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--policy', default='seed_vla', help='registry name, module:Class or checkpoint directory')
    ap.add_argument('--embodiment', default='vla_humanoid')
    ap.add_argument('--calls', type=int, default=200)
    ap.add_argument('--width', type=int, default=640)
    ap.add_argument('--height', type=int, default=480)
    ap.add_argument('--threads', type=int, default=None, help='torch threads (seed_vla; default: its default, 1)')
    args = ap.parse_args(argv)

    from vla_policy.embodiment import load_embodiment
    from vla_policy.registry import make_policy

    options = {} if args.threads is None else {'num_threads': args.threads}
    policy = make_policy(args.policy, load_embodiment(args.embodiment), **options)
    result = measure(policy, args.calls, args.width, args.height)
    result.update(policy=args.policy, image=f'{args.width}x{args.height}', machine=platform.machine(),
                  processor=platform.processor() or platform.machine())
    if 'torch' in sys.modules:
        result['torch_threads'] = sys.modules['torch'].get_num_threads()
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
