"""vla_benchmark: measure the runtime core on this machine and print the figures.

    vla_benchmark                 # all parts (about 3 minutes)
    vla_benchmark --skip-flood    # without the 60 s 1080p memory flood
    vla_benchmark --decode-only   # only the image decode + resize costs (about 15 s, no ROS)

Parts:
  policy      policy latency p50/p99 of the configured policy on a 640x480 frame (in process)
  gate        safety gate cost per decision p99 with a 720-point scan (in process)
  pipeline    inference + safety nodes as processes, a 640x480 rgb8 camera at 29.7 Hz in another
              process (off 30 Hz so the camera/tick phase sweeps through the run, and the figure
              does not hang on one arbitrary phase): frames received by the inference node /
              published, control-loop rate and p99 period jitter (vla/action arrival times), image
              stamp -> gated command latency p50/p99 (SafetyStatus.header.stamp - proposal_stamp),
              and in the same run the floor: floor_relay republishes the newest frame's stamp on a
              10 Hz tick of its own (arrival - stamp); ours / floor is printed
  flood       memory (RSS) of the inference node during a 100 Hz 1920x1080 image flood
  decode      per-frame cost of decoding a 640x480 frame (rgb8, bgr8, JPEG) and making the
              policy's input from it, with OpenCV (the converter now) and with NumPy/Pillow
              (the converter before it moved to OpenCV, re-created in benchmark_decode as _before_*), and the
              pixel difference of the resize kernels against the policy's own
Results go to stdout and, as JSON, to --out.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from vla_bringup.stack import middleware_env, share_dir
from vla_common.stats import percentiles
from vla_core.embodiment import load_embodiment
from vla_core.policy import Observation
from vla_policy.registry import make_policy
from vla_tools.benchmark_decode import bench_decode, print_decode
from vla_tools.benchmark_flood import bench_flood
from vla_tools.benchmark_pipeline import bench_pipeline
from vla_tools.gate_benchmark import benchmark_gate


def bench_policy(policy_spec: str, embodiment: str, calls: int = 200) -> dict:
    # torch is imported where it is used: heavy, and only to pin its threads (the policy loads it)
    import torch
    torch.set_num_threads(1)
    policy = make_policy(policy_spec, load_embodiment(embodiment))
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8)
    obs = Observation(image=img, instruction='walk to the red box', joint_positions={}, stamp=0.0)
    for _ in range(10):
        policy.infer(obs)
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        policy.infer(obs)
        times.append(time.perf_counter() - t0)
    return {'policy': policy.name, 'calls': calls, **{k: v * 1e3 for k, v in percentiles(times).items()}}


def bench_gate(decisions: int = 2000) -> dict:
    times = benchmark_gate(decisions)
    return {'decisions': decisions, 'scan_points': 720,
            **{k: v * 1e3 for k, v in percentiles(times, (50, 99, 99.9)).items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='vla_benchmark', description=__doc__.split('\n')[0])
    ap.add_argument('--policy', default='', help="policy spec ('' = the inference params file's default)")
    ap.add_argument('--embodiment', default='vla_humanoid')
    ap.add_argument('--duration', type=float, default=30.0, help='pipeline measurement, s')
    ap.add_argument('--camera-rate', type=float, default=29.7,
                    help='synthetic camera rate, Hz (29.7: the camera/tick phase sweeps through a run)')
    ap.add_argument('--skip-decode', action='store_true', help='leave out the decode + resize part')
    ap.add_argument('--flood-duration', type=float, default=60.0)
    ap.add_argument('--skip-flood', action='store_true')
    ap.add_argument('--decode-only', action='store_true',
                    help='only the image decode + resize costs (no ROS processes)')
    ap.add_argument('--out', default='out/benchmark.json')
    a = ap.parse_args(argv)
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    os.environ.update({k: v for k, v in middleware_env().items() if k not in os.environ})
    spec = a.policy or _default_policy()
    results = {}
    if not a.skip_decode or a.decode_only:
        print('== image decode + policy input (640x480)', flush=True)
        results['decode'] = bench_decode(spec, a.embodiment)
        print_decode(results['decode'])
    if a.decode_only:
        return _write(results, a.out)
    print(f'== policy latency ({spec}, 640x480 input, 1 thread)', flush=True)
    results['policy'] = r = bench_policy(spec, a.embodiment)
    print(f"   p50 {r['p50']:.2f} ms   p99 {r['p99']:.2f} ms   over {r['calls']} calls", flush=True)
    print('== safety gate cost per decision (720-point scan)', flush=True)
    results['gate'] = r = bench_gate()
    print(f"   p50 {r['p50']:.3f} ms   p99 {r['p99']:.3f} ms   p99.9 {r['p99.9']:.3f} ms", flush=True)
    print(f'== pipeline ({a.duration:g} s, camera 640x480 rgb8 @ {a.camera_rate:g} Hz)', flush=True)
    results['pipeline'] = r = bench_pipeline(spec, a.duration, rate=a.camera_rate)
    print(f"   frames received {r['frames_received']}/{r['frames_published']} ({r['frames_received_pct']:.1f} %)\n"
          f"   control rate {r['control_rate_hz']:.3f} Hz (error {r['control_rate_error_pct']:.2f} %), "
          f"p99 period jitter {r['period_jitter_p99_ms']:.2f} ms at a subscriber, "
          f"{r['timer_jitter_p99_ms']:.2f} ms of the node's timer (last 60 s)\n"
          f"   image -> gated command latency p50 {r['e2e_latency_p50_ms']:.1f} ms  p99 "
          f"{r['e2e_latency_p99_ms']:.1f} ms ({r['e2e_samples']} samples)\n"
          f"   floor (newest frame's stamp relayed on a 10 Hz tick) p50 {r['floor_latency_p50_ms']:.1f} ms  p99 "
          f"{r['floor_latency_p99_ms']:.1f} ms ({r['floor_samples']} samples)\n"
          f"   ours / floor: p50 {r['ratio_p50']:.2f}x  p99 {r['ratio_p99']:.2f}x\n"
          f"   inference latency in the node p50 {r['inference_latency_p50_ms']:.1f} ms  "
          f"p99 {r['inference_latency_p99_ms']:.1f} ms; a call starts {r['call_lead_ms']:.1f} ms before its tick; "
          f"ticks that waited for their call {r['ticks_waited_for_call']}, still late {r['ticks_call_late']}, "
          f"with no new chunk {r['ticks_reused_chunk']} "
          f"(of {r['ticks']})", flush=True)
    if not a.skip_flood:
        print(f'== memory under a 1920x1080 @ 100 Hz flood ({a.flood_duration:g} s)', flush=True)
        results['flood'] = r = bench_flood(spec, a.flood_duration)
        print(f"   published {r['frames_published']} frames at {r['achieved_publish_rate_hz']:.1f} Hz, "
              f"received {r['frames_received']}\n"
              f"   inference node RSS {r['rss_start_mb']:.0f} MB -> max {r['rss_max_mb']:.0f} MB, "
              f"end {r['rss_end_mb']:.0f} MB (growth {r['rss_growth_mb']:+.1f} MB), "
              f"alive: {r['node_alive_after']}", flush=True)
    return _write(results, a.out)


def _write(results: dict, out: str) -> int:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(results, indent=2))
    print(f'results written to {out}')
    return 0


def _default_policy() -> str:
    data = yaml.safe_load((share_dir('vla_inference') / 'config' / 'inference_node.yaml').read_text())
    return data['vla_inference']['ros__parameters']['policy']


if __name__ == '__main__':
    sys.exit(main())
