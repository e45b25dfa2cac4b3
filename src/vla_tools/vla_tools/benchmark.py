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
              (the converter before it moved to OpenCV, re-created here as _before_*), and the
              pixel difference of the resize kernels against the policy's own
Results go to stdout and, as JSON, to --out.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import re
import statistics
import sys
import threading
import time
import timeit
from pathlib import Path

import cv2
import numpy as np
import rclpy
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from PIL import Image
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import JointState, LaserScan
from std_msgs.msg import Header, String

from vla_bringup.launcher import Suite
from vla_bringup.stack import middleware_env, share_dir
from vla_common.image_compressed import decode_compressed
from vla_common.image_conversion import decode_image, encode_image
from vla_common.image_resize import resize_rgb
from vla_common.qos import COMMAND_QOS, RELIABLE_QOS, SENSOR_QOS, wait_for_subscribers
from vla_common.stats import percentiles
from vla_core.embodiment import load_embodiment
from vla_core.policy import Observation
from vla_interfaces.msg import SafetyStatus, VlaAction
from vla_policy.registry import make_policy
from vla_tools.gate_benchmark import benchmark_gate


def _percentiles(values, qs=(50, 99)) -> dict:
    return percentiles(values, qs)


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
    return {'policy': policy.name, 'calls': calls, **{k: v * 1e3 for k, v in _percentiles(times).items()}}


def bench_gate(decisions: int = 2000) -> dict:
    times = benchmark_gate(decisions)
    return {'decisions': decisions, 'scan_points': 720,
            **{k: v * 1e3 for k, v in _percentiles(times, (50, 99, 99.9)).items()}}


# -- image decode + resize ---------------------------------------------------------------------
# The converter before it moved to OpenCV (commit 008830b), re-created here only to measure it:
# its pixel work, without the field checks both versions share (a few microseconds).

def _before_decode_raw(enc) -> np.ndarray:
    """rgb8 / bgr8 as the converter decoded them: a copy, or one NumPy channel copy at a time."""
    h, w = enc.height, enc.width
    pixels = np.frombuffer(enc.data, np.uint8).reshape(h, enc.step)[:, :w * 3].reshape(h, w, 3)
    if enc.encoding == 'rgb8':
        return pixels.copy()
    rgb = np.empty((h, w, 3), np.uint8)
    for dst, src in enumerate((2, 1, 0)):
        rgb[:, :, dst] = pixels[:, :, src]
    return rgb


def _before_decode_jpeg(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data), formats=('JPEG', 'PNG')) as im:
        im.load()
        return np.array(im if im.mode == 'RGB' else im.convert('RGB'), dtype=np.uint8)


def _before_resize(rgb: np.ndarray, size: int) -> np.ndarray:
    """The converter's resize_rgb(method='bilinear'): Pillow's antialiased bilinear."""
    return np.array(Image.fromarray(np.ascontiguousarray(rgb)).resize((size, size), Image.Resampling.BILINEAR))


def bench_frame(width: int = 640, height: int = 480) -> np.ndarray:
    """A synthetic camera frame: colour gradients, a few blocks and +-8 noise (JPEG-sized like a scene)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([xx * 200 // width + 30, yy * 180 // height + 40, (xx + yy) * 120 // (width + height) + 60],
                   axis=-1).astype(np.int16)
    for _ in range(12):
        y, x = rng.integers(0, height - 40), rng.integers(0, width - 60)
        img[y:y + rng.integers(20, 120), x:x + rng.integers(30, 160)] = rng.integers(0, 256, 3)
    return np.clip(img + rng.integers(-8, 9, img.shape), 0, 255).astype(np.uint8)


def bench_decode(policy_spec: str, embodiment: str, number: int = 50, repeat: int = 7) -> dict:
    """Per-frame ms (best and median of ``repeat`` runs of ``number``) of decoding a 640x480 frame
    and of making the policy's input from it, before (NumPy/Pillow) and now (OpenCV); every library
    on one thread. Also checks that both decoders give the same pixels and how far the resize
    kernels are from the policy's own."""
    # torch (heavy) is imported where it is used, as are the policy's torch-based processor helpers below
    import torch
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    frame = bench_frame()
    raw = {enc: encode_image(frame, enc) for enc in ('rgb8', 'bgr8')}
    ok, jpeg = cv2.imencode('.jpg', cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    jpeg = jpeg.tobytes()
    decoders = {  # label -> (before, now)
        'rgb8': (lambda: _before_decode_raw(raw['rgb8']), lambda: decode_image(*raw['rgb8']).rgb),
        'bgr8': (lambda: _before_decode_raw(raw['bgr8']), lambda: decode_image(*raw['bgr8']).rgb),
        'jpeg': (lambda: _before_decode_jpeg(jpeg), lambda: decode_compressed('jpeg', jpeg)),
    }

    def ms(fn) -> dict:
        runs = [t / number * 1e3 for t in timeit.repeat(fn, number=number, repeat=repeat)]
        return {'best_ms': min(runs), 'median_ms': statistics.median(runs)}

    out: dict = {'frame': '640x480 synthetic scene', 'jpeg_bytes': len(jpeg), 'jpeg_quality': 90,
                 'threads': 1, 'number': number, 'repeat': repeat, 'decode': {}, 'decode_and_policy_input': {}}
    for label, (before, now) in decoders.items():
        same = np.array_equal(before(), now())
        out['decode'][label] = {'before': ms(before), 'now': ms(now), 'same_pixels': same}
    from vla_policy.models.processor_seed_vla import centre_square, resize_rgb as policy_resize
    processor = getattr(make_policy(policy_spec, load_embodiment(embodiment)), 'processor', None)
    if processor is None:           # not a seed_vla policy: no processor of ours to time
        return out
    size, crop = processor.config.image_size, processor.config.image_resize == 'crop'
    out['policy_input'] = {'size': size, 'crop': crop, 'cost': ms(lambda: processor.image(frame))}
    for label, (before, now) in decoders.items():
        out['decode_and_policy_input'][label] = {'before': ms(lambda: processor.image(before())),
                                                 'now': ms(lambda: processor.image(now()))}
    # the resize kernels against the policy's (PyTorch antialiased bilinear, unchanged)
    src = np.ascontiguousarray(centre_square(frame) if crop else frame)
    ref = policy_resize(src, size)[0].permute(1, 2, 0).numpy().astype(int)
    kernels = {'pillow_bilinear_before': lambda: _before_resize(src, size),
               'cv2_area': lambda: resize_rgb(src, size, size, 'area'),
               'cv2_linear': lambda: resize_rgb(src, size, size, 'bilinear')}
    out['resize'] = {'policy_torch_antialias': ms(lambda: policy_resize(src, size))}
    for label, fn in kernels.items():
        diff = np.abs(fn().astype(int) - ref)
        out['resize'][label] = {**ms(fn), 'max_abs_diff': int(diff.max()), 'mean_abs_diff': float(diff.mean())}
    return out


def print_decode(r: dict) -> None:
    def cell(t: dict) -> str:
        return f"{t['best_ms']:7.3f} {t['median_ms']:7.3f}"
    print(f"   {r['frame']}, JPEG quality {r['jpeg_quality']} ({r['jpeg_bytes'] / 1024:.0f} KiB); ms per frame, "
          f"best / median of {r['repeat']} runs of {r['number']}, {r['threads']} thread")
    print(f"   {'':34s} {'before (NumPy/Pillow)':>21s}   {'now (OpenCV)':>15s}")
    rows = [(f'decode {k}', v) for k, v in r['decode'].items()]
    if 'policy_input' in r:
        p = r['policy_input']
        rows += [(f"decode {k} + policy input {p['size']}px", v) for k, v in r['decode_and_policy_input'].items()]
    for label, v in rows:
        same = '' if 'same_pixels' not in v else ('  same pixels' if v['same_pixels'] else '  PIXELS DIFFER')
        print(f"   {label:34s} {cell(v['before']):>21s}   {cell(v['now']):>15s}{same}")
    if 'policy_input' in r:
        p = r['policy_input']
        crop = 'centre square 480x480' if p['crop'] else '640x480'
        print(f"   policy input alone ({crop} -> {p['size']}x{p['size']}, normalised) {cell(p['cost'])}")
        print(f"   resize {crop} -> {p['size']}x{p['size']}{'':10s} best  median   |difference| from the policy's")
        print(f"     {'policy: PyTorch antialiased bilinear':40s} {cell(r['resize']['policy_torch_antialias'])}"
              '   (reference, unchanged)')
        for label, name in (('pillow_bilinear_before', 'Pillow bilinear (resize_rgb before)'),
                            ('cv2_area', "cv2 INTER_AREA (resize_rgb 'area')"),
                            ('cv2_linear', "cv2 INTER_LINEAR (resize_rgb 'bilinear')")):
            k = r['resize'][label]
            print(f"     {name:40s} {cell(k)}   max {k['max_abs_diff']:3d}  mean {k['mean_abs_diff']:.3f}")


def _rss_mb(pid: int) -> float:
    try:
        text = Path(f'/proc/{pid}/status').read_text()
    except OSError:
        return math.nan
    m = re.search(r'VmRSS:\s+(\d+) kB', text)
    return int(m.group(1)) / 1024 if m else math.nan


class _Observer:
    """In-process node: records vla/action, SafetyStatus and the inference node's diagnostics,
    publishes an obstacle-free scan and joint states so the safety node has fresh sensors."""

    def __init__(self, domain_id: int) -> None:
        self.ctx = Context()
        rclpy.init(context=self.ctx, domain_id=domain_id)
        self.node = n = Node('vla_benchmark', context=self.ctx)
        self.ex = SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(n)
        self.action_times: list[float] = []
        self.latencies: list[float] = []
        self.floor: list[float] = []
        self.diag: dict[str, str] = {}
        self._last_seq = 0
        self.recording = False
        n.create_subscription(VlaAction, 'vla/action', self._on_action, RELIABLE_QOS)
        n.create_subscription(SafetyStatus, 'vla/safety_status', self._on_status, RELIABLE_QOS)
        n.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 10)
        n.create_subscription(Header, 'vla_benchmark/floor', self._on_floor, RELIABLE_QOS)
        self.cmd = n.create_publisher(String, 'vla/command', COMMAND_QOS)
        scan_pub = n.create_publisher(LaserScan, 'scan', SENSOR_QOS)
        joint_pub = n.create_publisher(JointState, 'joint_states', SENSOR_QOS)

        def scan():
            m = LaserScan(angle_min=-math.pi, angle_max=math.pi, angle_increment=2 * math.pi / 720,
                          range_min=0.05, range_max=10.0, ranges=[math.inf] * 720)
            m.header.stamp = n.get_clock().now().to_msg()
            m.header.frame_id = 'laser'
            scan_pub.publish(m)

        def joints():
            m = JointState(name=['head_pan_joint'], position=[0.0])
            m.header.stamp = n.get_clock().now().to_msg()
            joint_pub.publish(m)
        n.create_timer(0.05, scan)
        n.create_timer(0.02, joints)
        self._run = True
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self):
        while self._run:
            self.ex.spin_once(timeout_sec=0.05)

    def _on_action(self, msg):
        if self.recording:
            self.action_times.append(time.monotonic())

    def _on_status(self, msg):
        if self.recording and msg.proposal_sequence and msg.proposal_sequence != self._last_seq:
            self._last_seq = msg.proposal_sequence
            ps = msg.proposal_stamp.sec + msg.proposal_stamp.nanosec * 1e-9
            hs = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            if ps > 0:
                self.latencies.append(hs - ps)

    def _on_floor(self, msg):
        if self.recording:
            now = self.node.get_clock().now().nanoseconds * 1e-9
            self.floor.append(now - (msg.stamp.sec + msg.stamp.nanosec * 1e-9))

    def _on_diag(self, msg):
        for st in msg.status:
            if st.name.startswith('vla_inference'):
                self.diag = {kv.key: kv.value for kv in st.values}

    def command(self, text: str):
        if not wait_for_subscribers(self.cmd, 10.0):
            raise RuntimeError('vla/command has no subscriber (is vla_inference running?)')
        self.cmd.publish(String(data=text))

    def close(self):
        self._run = False
        self._thread.join(2)
        self.ex.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)


def _wait(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def _domain() -> int:
    """A private ROS domain for each run (VLA_BENCH_DOMAIN pins it, e.g. to watch with ros2 topic)."""
    return int(os.environ.get('VLA_BENCH_DOMAIN') or random.randint(100, 200))


def bench_pipeline(policy_spec: str, duration: float, width=640, height=480, rate=29.7,
                   command: str = 'walk forward') -> dict:
    domain = _domain()
    suite = Suite({'policy': policy_spec}, safety={'confidence_threshold': 0.0}, domain_id=domain, quiet=True)
    obs = _Observer(domain)
    try:
        suite.start()
        obs.command(command)
        # frames published before the inference node subscribed cannot reach it: start the
        # camera once the node is up (its diagnostics arrive) and discovery has settled
        if not _wait(lambda: bool(obs.diag), 60):
            raise RuntimeError('the inference node published no diagnostics within 60 s')
        suite.start_process('floor_relay', [sys.executable, '-m', 'vla_tools.floor_relay'])
        time.sleep(1.0)
        n_frames = int(duration * rate)
        cam = suite.start_process('camera', [sys.executable, '-m', 'vla_tools.synthetic_camera', '--ros-args',
                                             '-p', f'width:={width}', '-p', f'height:={height}',
                                             '-p', f'rate_hz:={rate}', '-p', f'max_frames:={n_frames}'])
        if not _wait(lambda: 'frames_received' in obs.diag and int(obs.diag['frames_received']) > 0, 30):
            raise RuntimeError('the inference node received no frame within 30 s')
        time.sleep(2.0)                    # settle
        obs.recording = True
        cam_output_wait = duration + 10
        cam.wait(cam_output_wait)
        obs.recording = False
        time.sleep(2.5)                    # let the last diagnostics arrive
        received = int(obs.diag.get('frames_received', 0))
        t = np.diff(np.asarray(obs.action_times))
        rate_hz = 1.0 / t.mean() if t.size else math.nan
        jitter = np.abs(t - 0.1) if t.size else np.array([math.nan])
        lat = _percentiles(obs.latencies)
        floor = _percentiles(obs.floor)
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
                'ticks_call_late': int(obs.diag.get('ticks_call_late', 0))}
    finally:
        obs.close()
        suite.stop()


def bench_flood(policy_spec: str, duration: float = 60.0) -> dict:
    domain = _domain()
    suite = Suite({'policy': policy_spec}, domain_id=domain, quiet=True)
    obs = _Observer(domain)
    try:
        suite.start('vla_inference')
        obs.command('walk forward')
        pid = suite.procs['vla_inference'].pid
        if not _wait(lambda: bool(obs.diag), 60):
            raise RuntimeError('the inference node published no diagnostics within 60 s')
        time.sleep(1.0)
        rss0 = _rss_mb(pid)
        n = int(duration * 100)
        cam = suite.start_process('camera', [sys.executable, '-m', 'vla_tools.synthetic_camera', '--ros-args',
                                             '-p', 'width:=1920', '-p', 'height:=1080', '-p', 'rate_hz:=100.0',
                                             '-p', f'max_frames:={n}'])
        samples = []
        t0 = time.monotonic()
        while cam.poll() is None and time.monotonic() - t0 < duration + 30:
            samples.append(_rss_mb(pid))
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
          f"ticks that waited for their call {r['ticks_waited_for_call']}, still late {r['ticks_call_late']} "
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
