"""vla_benchmark's flood part: the inference node's memory (RSS) during a 100 Hz 1920x1080 image flood
(vla_tools.benchmark).
"""
from __future__ import annotations

import math
import re
import sys
import time
from pathlib import Path

import numpy as np

from vla_bringup.launcher import Suite
from vla_tools.benchmark_observer import Observer, bench_domain, wait_until


def rss_mb(pid: int) -> float:
    try:
        text = Path(f'/proc/{pid}/status').read_text()
    except OSError:
        return math.nan
    m = re.search(r'VmRSS:\s+(\d+) kB', text)
    return int(m.group(1)) / 1024 if m else math.nan


def bench_flood(policy_spec: str, duration: float = 60.0) -> dict:
    domain = bench_domain()
    suite = Suite({'policy': policy_spec}, domain_id=domain, quiet=True)
    obs = Observer(domain)
    try:
        suite.start('vla_inference')
        obs.command('walk forward')
        pid = suite.procs['vla_inference'].pid
        if not wait_until(lambda: bool(obs.diag), 60):
            raise RuntimeError('the inference node published no diagnostics within 60 s')
        time.sleep(1.0)
        rss0 = rss_mb(pid)
        n = int(duration * 100)
        cam = suite.start_process('camera', [sys.executable, '-m', 'vla_tools.synthetic_camera', '--ros-args',
                                             '-p', 'width:=1920', '-p', 'height:=1080', '-p', 'rate_hz:=100.0',
                                             '-p', f'max_frames:={n}'])
        samples = []
        t0 = time.monotonic()
        while cam.poll() is None and time.monotonic() - t0 < duration + 30:
            samples.append(rss_mb(pid))
            time.sleep(1.0)
        elapsed = time.monotonic() - t0
        time.sleep(2.5)
        alive = suite.alive('vla_inference')
        received = int(obs.diag.get('frames_received', 0))
        return {'flood': '1920x1080 rgb8 @ 100 Hz requested', 'seconds': elapsed,
                'frames_published': n, 'achieved_publish_rate_hz': n / elapsed,
                'frames_received': received, 'rss_start_mb': rss0, 'rss_max_mb': float(np.nanmax(samples)),
                'rss_end_mb': samples[-1] if samples else math.nan,
                'rss_growth_mb': (samples[-1] - rss0) if samples else math.nan,
                # growth once warmed up (first 10 s: buffers, caches): a leak keeps growing here
                'rss_growth_after_10s_mb': (samples[-1] - samples[min(10, len(samples) - 1)]) if samples else math.nan,
                'rss_series_mb': [round(x, 1) for x in samples],
                'node_alive_after': alive}
    finally:
        obs.close()
        suite.stop()
