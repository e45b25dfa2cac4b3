"""vla_benchmark's pipeline part: the inference and safety nodes as processes, a synthetic camera,
and in the same run the latency floor of floor_relay (vla_tools.benchmark; the figures are listed there).
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np

from vla_bringup.launcher import Suite
from vla_common.stats import percentiles
from vla_tools.benchmark_observer import Observer, bench_domain, wait_until


def bench_pipeline(policy_spec: str, duration: float, width=640, height=480, rate=29.7,
                   command: str = 'walk forward') -> dict:
    domain = bench_domain()
    suite = Suite({'policy': policy_spec}, safety={'confidence_threshold': 0.0}, domain_id=domain, quiet=True)
    obs = Observer(domain)
    try:
        suite.start()
        obs.command(command)
        # frames published before the inference node subscribed cannot reach it: start the
        # camera once the node is up (its diagnostics arrive) and discovery has settled
        if not wait_until(lambda: bool(obs.diag), 60):
            raise RuntimeError('the inference node published no diagnostics within 60 s')
        suite.start_process('floor_relay', [sys.executable, '-m', 'vla_tools.floor_relay'])
        time.sleep(1.0)
        n_frames = int(duration * rate)
        cam = suite.start_process('camera', [sys.executable, '-m', 'vla_tools.synthetic_camera', '--ros-args',
                                             '-p', f'width:={width}', '-p', f'height:={height}',
                                             '-p', f'rate_hz:={rate}', '-p', f'max_frames:={n_frames}',
                                             # the inference node and the floor relay: no frame is sent
                                             # before discovery, so every lost frame is a real loss
                                             '-p', 'wait_for_subscribers:=2'])
        if not wait_until(lambda: 'frames_received' in obs.diag and int(obs.diag['frames_received']) > 0, 30):
            raise RuntimeError('the inference node received no frame within 30 s')
        time.sleep(2.0)                    # settle
        obs.recording = True
        cam_output_wait = duration + 10
        cam.wait(cam_output_wait)
        obs.recording = False
        obs.end_with_camera(1.0 / rate)
        time.sleep(2.5)                    # let the last diagnostics arrive
        received = int(obs.diag.get('frames_received', 0))
        t = np.diff(np.asarray(obs.action_times))
        rate_hz = 1.0 / t.mean() if t.size else math.nan
        jitter = np.abs(t - 0.1) if t.size else np.array([math.nan])
        lat = percentiles(obs.latencies)
        floor = percentiles(obs.floor)
        return {'camera': f'{width}x{height} rgb8 @ {rate:g} Hz', 'frames_published': n_frames,
                'frames_received': received, 'frames_received_pct': 100.0 * received / n_frames,
                'control_rate_hz': rate_hz, 'control_rate_error_pct': 100 * abs(rate_hz - 10.0) / 10.0,
                'period_jitter_p99_ms': float(np.percentile(jitter, 99) * 1e3),
                'timer_jitter_p99_ms': float(obs.diag.get('control_jitter_p99_s', 'nan')) * 1e3,
                'e2e_latency_p50_ms': lat['p50'] * 1e3, 'e2e_latency_p99_ms': lat['p99'] * 1e3,
                'e2e_samples': len(obs.latencies),
                'floor_latency_p50_ms': floor['p50'] * 1e3, 'floor_latency_p99_ms': floor['p99'] * 1e3,
                'floor_samples': len(obs.floor),
                'ratio_p50': lat['p50'] / floor['p50'], 'ratio_p99': lat['p99'] / floor['p99'],
                'inference_latency_p50_ms': float(obs.diag.get('inference_latency_p50_s', 'nan')) * 1e3,
                'inference_latency_p99_ms': float(obs.diag.get('inference_latency_p99_s', 'nan')) * 1e3,
                'call_lead_ms': float(obs.diag.get('call_lead_s', 'nan')) * 1e3,
                'ticks': int(obs.diag.get('ticks', 0)),
                'ticks_waited_for_call': int(obs.diag.get('ticks_waited_for_call', 0)),
                'ticks_call_late': int(obs.diag.get('ticks_call_late', 0)),
                'ticks_reused_chunk': int(obs.diag.get('ticks_reused_chunk', 0))}
    finally:
        obs.close()
        suite.stop()
