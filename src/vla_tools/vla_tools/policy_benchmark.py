"""Latency of a policy's ``infer`` on this machine (not a test).

    python -m vla_tools.policy_benchmark                       # seed_vla, 640x480, 200 calls
    python -m vla_tools.policy_benchmark --policy keyword --calls 500
    python -m vla_tools.policy_benchmark --policy /path/to/checkpoint --threads 2

Prints p50 / p90 / p99 / max in milliseconds, after warm-up calls that are not counted.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys

from vla_core.embodiment import load_embodiment
from vla_policy.latency import measure
from vla_policy.registry import make_policy


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--policy', default='seed_vla', help='registry name, module:Class or checkpoint directory')
    ap.add_argument('--embodiment', default='vla_humanoid')
    ap.add_argument('--calls', type=int, default=200)
    ap.add_argument('--width', type=int, default=640)
    ap.add_argument('--height', type=int, default=480)
    ap.add_argument('--threads', type=int, default=None, help='torch threads (seed_vla; default: its default, 1)')
    args = ap.parse_args(argv)

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
