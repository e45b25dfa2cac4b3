"""The main job: the whole loop in ROS 2 on the embedded simulator, headless.

    python -m vla_tools.demo [--seed 3] [--out out/demo] [--policy auto|expert|<spec>]

The simulator node (vla_sim) runs in this process; vla_inference and vla_safety run as their
own processes, started like `vla_launch` starts them. The demo sends a sequence of language
commands on vla/command. For each one it prints whether the task succeeded (judged from the
simulator's true state), how long it took, and what the safety node did. It then writes to
--out a GIF of the head camera beside a third-person view, a top-down plot of the path among
the objects, and results.json / results.md.

Policy: the best one available. Until the learned default checkpoint meets its evaluation
targets, that is the scripted expert (--policy default runs the learned one; any policy spec of
vla_inference works). The expert is privileged: it reads the simulator's true state, so it is
served from this process over the openpi protocol (vla_policy.remote) and the inference node
reaches it as ws://127.0.0.1:<port>. The demo says which policy it uses.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import rclpy
from PIL import Image
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import String
from std_srvs.srv import Trigger

from vla_bringup.launcher import Suite
from vla_bringup.stack import middleware_env
from vla_common.qos import COMMAND_QOS, RELIABLE_QOS, wait_for_subscribers
from vla_core.embodiment import load_embodiment
from vla_core.policy import Policy
from vla_inference.instruction import clean_instruction
from vla_interfaces.msg import SafetyStatus, VlaAction
from vla_policy.remote.server import PolicyServer
from vla_sim.expert import ScriptedExpert
from vla_sim.sim_node import SimNode
from vla_sim.tasks import make_task

import mujoco  # last: importing vla_sim sets MUJOCO_GL (egl unless set), which MuJoCo reads when it loads

#: the demo's command sequence: (task kind, seed offset for the target/phrasing)
DEFAULT_TASKS = ('walk_to', 'turn_left', 'raise_left_arm', 'wave', 'look_at', 'raise_both_arms', 'walk_to', 'stop')
STATE_NAMES = ('PASS', 'LIMITED', 'SLOWDOWN', 'STOP', 'ESTOP')


@dataclass
class TaskResult:
    task: str
    instruction: str
    success: bool
    time: float                   # simulated seconds until success (or the time limit)
    time_limit: float
    safety_states: dict = field(default_factory=dict)   # state name -> share of decisions
    safety_reasons: list = field(default_factory=list)  # reasons seen while the task ran
    collisions: list = field(default_factory=list)
    min_obstacle_distance: float = math.inf
    #: one per action chunk the inference node published for this instruction (vla/action),
    #: as lockstep evaluation records one per policy call: the chunk's confidence, and the
    #: policy's inference time for it (ms)
    confidences: list = field(default_factory=list)
    latencies_ms: list = field(default_factory=list)
    safety_counts: dict = field(default_factory=dict)    # state name -> vla_safety decisions


@dataclass(frozen=True)
class _Job:
    instruction: str
    time_limit: float


class _LockedPolicy:
    """Serialises a privileged policy's reads of the true state with the physics thread."""

    def __init__(self, inner, lock) -> None:
        class Locked(Policy):
            name = inner.name
            privileged = True

            def reset(self_inner):
                inner.reset()

            def infer(self_inner, obs):
                with lock:
                    return inner.infer(obs)
        self.policy = Locked()


class Demo:
    """Sim node (in process) + the suite's nodes (processes) + a monitor that judges tasks."""

    def __init__(self, seed: int = 3, policy: str = 'auto', real_time_factor: float = 1.0,
                 record: bool = True, domain_id: int | None = None, quiet: bool = True,
                 safety: dict | None = None, camera_size=(320, 240), world=None) -> None:
        self.seed = seed
        self.domain_id = domain_id if domain_id is not None else random.randint(100, 200)
        self.record = record
        self.quiet = quiet
        self._policy_choice = policy
        self._rtf = real_time_factor
        self._safety_overrides = safety or {}
        self._camera_size = camera_size
        self._world = world
        self.frames: list = []
        self._snapshot = None            # the MjData copy GIF frames are rendered from
        self.path: list[tuple[float, float, float]] = []
        self._statuses: list = []
        self._proposals: list = []    # (sequence, instruction, chunk stamp, confidence, inference_time) of vla/action
        self._status_lock = threading.Lock()
        self.policy_label = ''

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        os.environ.update({k: v for k, v in middleware_env().items() if k not in os.environ})
        os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
        self.ctx = Context()
        rclpy.init(context=self.ctx, domain_id=self.domain_id)
        w, h = self._camera_size
        self.sim_node = SimNode(context=self.ctx, parameter_overrides=[
            Parameter('seed', value=self.seed), Parameter('real_time_factor', value=float(self._rtf)),
            Parameter('camera_width', value=w), Parameter('camera_height', value=h)])
        self.sim = self.sim_node.sim
        if self._world is not None:
            self.sim_node.reset_world(self._world)
        self.monitor = Node('vla_demo', context=self.ctx)
        self._cmd_pub = self.monitor.create_publisher(String, 'vla/command', COMMAND_QOS)
        self.monitor.create_subscription(SafetyStatus, 'vla/safety_status', self._on_status, RELIABLE_QOS)
        self.monitor.create_subscription(VlaAction, 'vla/action', self._on_action, RELIABLE_QOS)
        self._stop_client = self.monitor.create_client(Trigger, 'vla/stop')
        self.executor = MultiThreadedExecutor(num_threads=2, context=self.ctx)
        self.executor.add_node(self.sim_node)
        self.executor.add_node(self.monitor)
        self._spin = threading.Thread(target=self.executor.spin, daemon=True)
        self._spin.start()

        spec = self._resolve_policy()
        self.suite = Suite({'policy': spec, 'use_sim_time': 'true'}, safety=self._safety_overrides,
                           domain_id=self.domain_id, quiet=self.quiet)
        self.suite.start()
        if self.record:
            self._third = _ThirdPersonCamera(self.sim_node)
        self._wait_ready()

    def _resolve_policy(self) -> str:
        choice = self._policy_choice
        why = 'chosen with --policy expert'
        if choice == 'auto':
            # The learned default drives the demo once it meets its evaluation targets (README,
            # "Learning"); until then the privileged expert shows the loop, and the learned one
            # runs with --policy default.
            choice, why = 'expert', 'the learned default checkpoint does not meet its targets yet; --policy default runs it'
        if choice != 'expert':
            self.policy_label = f'{choice} (learned: camera + instruction)'
            return choice
        emb = load_embodiment('vla_humanoid')
        expert = _LockedPolicy(ScriptedExpert(emb, sim=self.sim), self.sim_node.state_lock).policy
        self.server = PolicyServer(expert, host='127.0.0.1', port=0, embodiment=emb)
        self.server.start()
        self.policy_label = (f"scripted_expert (PRIVILEGED: reads the simulator's true state; {why}), "
                             f'served at {self.server.url}')
        return self.server.url

    def _wait_ready(self, timeout: float = 120.0) -> None:
        """Until vla_safety publishes a status and vla_inference (its policy loaded, camera frames
        coming) a proposal."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._status_lock:
                if self._statuses and self._proposals:
                    return
            failed = self.suite.group.failed()
            if failed:
                raise RuntimeError(f'node(s) exited: {failed}; rerun with --verbose')
            time.sleep(0.1)
        with self._status_lock:
            silent = [n for n, heard in (('vla_safety (vla/safety_status)', self._statuses),
                                         ('vla_inference (vla/action)', self._proposals)) if not heard]
        raise RuntimeError(f"no message within {timeout:.0f} s from {', '.join(silent)}; rerun with --verbose")

    def close(self) -> None:
        self.command('')
        time.sleep(0.2)
        self.suite.stop()
        server = getattr(self, 'server', None)
        if server is not None:
            server.stop()
        self.executor.shutdown()
        if self.record:
            self._third.close()
        self.sim_node.destroy_node()
        self.monitor.destroy_node()
        rclpy.try_shutdown(context=self.ctx)

    # -- ROS side -------------------------------------------------------------------------------------
    def _on_status(self, msg) -> None:
        with self._status_lock:
            self._statuses.append((msg.state, tuple(msg.reasons), msg.nearest_obstacle_distance))

    def _on_action(self, msg) -> None:
        stamp = msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec
        with self._status_lock:
            self._proposals.append((msg.sequence, msg.instruction, stamp, float(msg.confidence),
                                    float(msg.inference_time)))

    def request_stop(self, timeout: float = 10.0) -> None:
        """vla/stop: the inference node drops its instruction (the robot is told to stand still)."""
        if not self._stop_client.wait_for_service(timeout_sec=timeout):
            raise RuntimeError('vla/stop is not offered (is vla_inference running?)')
        done = threading.Event()
        future = self._stop_client.call_async(Trigger.Request())
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout) or not future.result().success:
            raise RuntimeError(f'vla/stop did not answer within {timeout:.0f} s')

    def reset_world(self, world, settle: float = 0.3) -> None:
        """Put the robot at rest in ``world`` (ROS time runs on), then let ``settle`` simulated
        seconds pass so the nodes' newest camera frame and scan show the new world."""
        self.sim_node.reset_world(world)
        self._sleep_sim(settle)

    def command(self, text: str) -> None:
        if not wait_for_subscribers(self._cmd_pub, 10.0):
            raise RuntimeError('vla/command has no subscriber (is vla_inference running?)')
        self._cmd_pub.publish(String(data=text))

    # -- tasks ----------------------------------------------------------------------------------------
    def make_tasks(self, kinds=DEFAULT_TASKS) -> list:
        return [make_task(k, self.sim.world, seed=self.seed * 100 + i) for i, k in enumerate(kinds)]

    def run_task(self, task, progress=None, lead_in: str | None = None) -> TaskResult:
        """Send ``task.instruction`` and watch the true state until success or the time limit.
        ``lead_in``: a command sent first for a moment (the 'stop' task starts while walking);
        without one the task starts as lockstep starts it (the base moving at ``initial_twist``)."""
        lock = self.sim_node.state_lock
        if lead_in:
            with lock:
                self.sim.set_task(None)
            self.command(lead_in)
            self._sleep_sim(2.0)
        check = task.new_check()
        with lock:
            self.sim.set_task(task)
            if not lead_in and any(task.initial_twist):
                self.sim.set_base_velocity_state(*task.initial_twist)
            check.reset(self.sim.state())
        return self.watch(task.instruction, task.time_limit, check.update, task.name, progress)

    def watch(self, instruction: str, time_limit: float, done=None, name: str = 'command',
              progress=None) -> TaskResult:
        """Send ``instruction``; record path, contacts and safety decisions for ``time_limit``
        simulated seconds, or until ``done(state)`` is true."""
        lock = self.sim_node.state_lock
        with self._status_lock:
            first_status = len(self._statuses)
            # messages of one writer arrive in order: a proposal after this one was made after
            # the node got the instruction below or later (an earlier one of the same text is older)
            seq0 = self._proposals[-1][0] if self._proposals else -1
        with lock:
            t0 = self.sim.time
        sent = clean_instruction(instruction)     # as the inference node echoes it
        self.command(instruction)
        success, collisions, elapsed = False, set(), 0.0
        next_frame = 0.0
        job = _Job(instruction, time_limit)
        while elapsed < time_limit:
            time.sleep(0.02)
            with lock:
                st = self.sim.state()
                finished = done(st) if done is not None else False
            elapsed = st.time - t0
            collisions |= set(st.contacts)
            self.path.append((st.time, float(st.base_pose[0]), float(st.base_pose[1])))
            if self.record and st.time >= next_frame:
                next_frame = st.time + 0.2
                self._capture()
            if progress:
                progress(job, elapsed, self._latest_status())
            if finished:
                success = True
                break
        with self._status_lock:
            seen = self._statuses[first_status:]
            chunks = {}                  # (chunk stamp, inference time) -> confidence, latency: one per chunk
            for seq, text, stamp, conf, latency in self._proposals:
                if seq > seq0 and text == sent:
                    chunks.setdefault((stamp, latency), (conf, 1e3 * latency))
        states = {}
        for s, _, _ in seen:
            states[STATE_NAMES[s]] = states.get(STATE_NAMES[s], 0) + 1
        reasons = sorted({r for _, rs, _ in seen for r in rs})
        dmin = min((d for _, _, d in seen), default=math.inf)
        return TaskResult(name, instruction, success, round(elapsed, 2), time_limit,
                          {k: round(v / max(len(seen), 1), 3) for k, v in states.items()}, reasons,
                          sorted(collisions), float(dmin), [c for c, _ in chunks.values()],
                          [v for _, v in chunks.values()], states)

    def settle(self, seconds: float = 1.0) -> None:
        self.command('')
        self._sleep_sim(seconds)

    def _sleep_sim(self, seconds: float) -> None:
        with self.sim_node.state_lock:
            t_end = self.sim.time + seconds
        while True:
            time.sleep(0.05)
            with self.sim_node.state_lock:
                if self.sim.time >= t_end:
                    return

    def _latest_status(self):
        with self._status_lock:
            return self._statuses[-1] if self._statuses else None

    def _capture(self) -> None:
        """One GIF frame. The state is copied under the lock (well under a millisecond) and
        rendered from the copy, so the simulator's physics never waits for the GIF."""
        sim = self.sim
        with self.sim_node.state_lock:
            if self._snapshot is None:
                self._snapshot = mujoco.MjData(sim.model)
            mujoco.mj_copyData(self._snapshot, sim.model, sim.data)
            pose = sim.base_pose()
        head = self.sim_node._gl.submit(sim.camera.render, self._snapshot, 240, 180).result()
        third = self._third.render(self._snapshot, pose, 320, 180)
        self.frames.append(np.concatenate([head, third], axis=1))

    # -- outputs --------------------------------------------------------------------------------------
    def write_outputs(self, out: Path, results: list[TaskResult]) -> dict[str, Path]:
        out.mkdir(parents=True, exist_ok=True)
        files = {}
        summary = {'policy': self.policy_label, 'seed': self.seed,
                   'real_time_factor': round(getattr(self, 'real_time_factor', float('nan')), 3),
                   'cpu_share': getattr(self, 'cpu_share', {}),
                   'succeeded': sum(r.success for r in results), 'tasks': len(results),
                   'results': [asdict(r) for r in results]}
        (out / 'results.json').write_text(json.dumps(summary, indent=2))
        files['results'] = out / 'results.json'
        (out / 'results.md').write_text(results_markdown(summary))
        if self.record and self.frames:
            imgs = [Image.fromarray(f) for f in self.frames]
            imgs[0].save(out / 'demo.gif', save_all=True, append_images=imgs[1:], duration=200, loop=0)
            files['gif'] = out / 'demo.gif'
        files['plot'] = plot_path(self.path, self.sim.world, out / 'path.png')
        return files


class _ThirdPersonCamera:
    """A camera following the robot from behind and above (rendered on the sim's GL thread)."""

    def __init__(self, sim_node) -> None:
        self._node = sim_node
        self._renderers = {}

    def _render(self, data, pose, width, height):
        sim = self._node.sim
        r = self._renderers.get((width, height))
        if r is None:
            r = self._renderers[(width, height)] = mujoco.Renderer(sim.model, height, width)
        cam = mujoco.MjvCamera()
        cam.type = mujoco.mjtCamera.mjCAMERA_FREE
        x, y, yaw = pose
        cam.lookat[:] = (x, y, 0.6)
        cam.distance = 3.6
        cam.azimuth = math.degrees(yaw) + 180.0 - 30.0
        cam.elevation = -28.0
        r.update_scene(data, camera=cam)
        return r.render().copy()

    def render(self, data, pose, width, height):
        """The view of ``data`` (an MjData of the sim's model) around the robot at ``pose``."""
        return self._node._gl.submit(self._render, data, pose, width, height).result()

    def close(self) -> None:
        for r in self._renderers.values():
            try:
                self._node._gl.submit(r.close).result()
            except RuntimeError:
                pass


def results_markdown(summary: dict) -> str:
    lines = [f"Policy: {summary['policy']}  ", f"World seed: {summary['seed']}  ",
             f"Succeeded: {summary['succeeded']}/{summary['tasks']}", '',
             '| task | instruction | success | time (s) | safety decisions | reasons seen |',
             '|---|---|---|---|---|---|']
    for r in summary['results']:
        states = ', '.join(f'{k} {v:.0%}' for k, v in r['safety_states'].items())
        lines.append(f"| {r['task']} | {r['instruction']} | {'yes' if r['success'] else 'NO'} | "
                     f"{r['time']:.1f} / {r['time_limit']:.0f} | {states} | {', '.join(r['safety_reasons'])} |")
    return '\n'.join(lines) + '\n'


def plot_path(path, world, file: Path) -> Path:
    # matplotlib is imported here: it is heavy, and only the end of a run draws a plot
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 6))
    markers = {'box': 's', 'ball': 'o', 'cylinder': '^'}
    for o in world.objects:
        ax.scatter([o.xy[0]], [o.xy[1]], marker=markers.get(o.shape, 'o'), s=160, color=o.rgba[:3],
                   edgecolors='k', zorder=3)
        ax.annotate(o.label, o.xy, textcoords='offset points', xytext=(6, 6), fontsize=8)
    if path:
        xs = [p[1] for p in path]
        ys = [p[2] for p in path]
        ax.plot(xs, ys, '-', color='0.2', lw=1.5, label='robot path')
        ax.scatter([xs[0]], [ys[0]], marker='*', s=200, color='gold', edgecolors='k', zorder=4, label='start')
    ax.set_aspect('equal')
    ax.set_xlabel('x (m)')
    ax.set_ylabel('y (m)')
    ax.grid(alpha=0.3)
    ax.legend(loc='best', fontsize=8)
    ax.set_title('Top-down view of the path')
    fig.tight_layout()
    fig.savefig(file, dpi=110)
    plt.close(fig)
    return file


def _progress_printer():
    tty = sys.stdout.isatty()
    last = {'t': 0.0}

    def show(task, elapsed, status):
        now = time.monotonic()
        if not tty and now - last['t'] < 2.0:
            return
        last['t'] = now
        st = STATE_NAMES[status[0]] if status else '...'
        line = f"  running '{task.instruction}': {elapsed:5.1f}/{task.time_limit:.0f} s, safety {st}"
        if tty:
            sys.stdout.write('\r' + line.ljust(90))
        else:
            sys.stdout.write(line + '\n')
        sys.stdout.flush()
    return show


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='vla_demo', description=__doc__.split('\n')[0])
    ap.add_argument('--seed', type=int, default=3, help='world layout and task targets')
    ap.add_argument('--policy', default='auto',
                    help="auto (the expert until the learned default meets its targets) | expert | default "
                         '(the learned checkpoint) | any policy spec of vla_inference')
    ap.add_argument('--tasks', default=','.join(DEFAULT_TASKS), help='comma-separated task kinds')
    ap.add_argument('--out', default='out/demo')
    ap.add_argument('--no-record', action='store_true', help='no GIF (faster)')
    ap.add_argument('--verbose', action='store_true', help="show the nodes' logs")
    a = ap.parse_args(argv)
    demo = Demo(seed=a.seed, policy=a.policy, record=not a.no_record, quiet=not a.verbose)
    print('starting the simulator, vla_inference and vla_safety ...', flush=True)
    t_start = time.monotonic()
    demo.start()
    print(f'policy: {demo.policy_label}', flush=True)
    print(f"world: {', '.join(o.label for o in demo.sim.world.objects)}", flush=True)
    results = []
    show = _progress_printer()
    with demo.sim_node.state_lock:
        if demo.record:
            demo._capture()      # the GIF's renderers are made now (an EGL context takes a second), not mid-task
        sim_t0, wall_t0 = demo.sim.time, time.monotonic()
    cpu_t0 = {'demo (sim_node, monitor, GIF)': time.process_time(), **demo.suite.group.cpu_seconds()}
    try:
        for task in demo.make_tasks(a.tasks.split(',')):
            lead_in = 'walk forward' if task.name == 'stop' else None
            if lead_in and 'expert' in demo.policy_label:
                lead_in = None   # the expert knows tasks, not free motions: 'stop' starts moving, as in lockstep
            r = demo.run_task(task, progress=show, lead_in=lead_in)
            if sys.stdout.isatty():
                sys.stdout.write('\r' + ' ' * 90 + '\r')
            safety = ', '.join(f'{k} {v:.0%}' for k, v in r.safety_states.items()) or 'no decisions'
            print(f"{'OK  ' if r.success else 'FAIL'} {r.instruction!r:40} {r.time:5.1f} s   safety: {safety}"
                  + (f"   reasons: {', '.join(r.safety_reasons)}" if r.safety_reasons else ''), flush=True)
            results.append(r)
            demo.settle(1.0)
        with demo.sim_node.state_lock:
            rtf = (demo.sim.time - sim_t0) / max(time.monotonic() - wall_t0, 1e-9)
        demo.real_time_factor = rtf
        cpu_t1 = {'demo (sim_node, monitor, GIF)': time.process_time(), **demo.suite.group.cpu_seconds()}
        span = max(time.monotonic() - wall_t0, 1e-9)
        demo.cpu_share = {k: round((cpu_t1[k] - cpu_t0[k]) / span, 3) for k in cpu_t0 if k in cpu_t1}
    finally:
        files = demo.write_outputs(Path(a.out), results) if results else {}
        demo.close()
    ok = sum(r.success for r in results)
    wall = time.monotonic() - t_start
    print(f'{ok}/{len(results)} tasks succeeded in {wall:.0f} s wall time; the simulation ran at '
          f'{getattr(demo, "real_time_factor", float("nan")):.2f}x real time (target 1.0), '
          f'{demo.sim_node.pacer.slips} slips (physics more than 0.25 s behind the wall clock)')
    if getattr(demo, 'cpu_share', None):
        print('  CPU while the tasks ran (1.0 = one core): '
              + ', '.join(f'{k} {v:.2f}' for k, v in demo.cpu_share.items()))
    for k, f in files.items():
        print(f'  {k}: {f}')
    return 0 if ok == len(results) else 1


if __name__ == '__main__':
    sys.exit(main())
