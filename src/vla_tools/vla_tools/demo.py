"""The main job: the whole loop in ROS 2 on the embedded simulator, headless.

    python -m vla_tools.demo [--seed 3] [--out out/demo] [--policy default|expert|<spec>]

The simulator node (vla_sim) runs in this process; vla_inference and vla_safety run as their
own processes, started like `vla_launch` starts them. The demo sends a sequence of language
commands on vla/command. For each one it prints whether the task succeeded (judged from the
simulator's true state), how long it took, and what the safety node did. It then writes to
--out a GIF of the head camera beside a third-person view, a top-down plot of the path among
the objects, and results.json / results.md.

Policy: the learned default checkpoint (camera, instruction, joint states, odometry and lidar, as on a
real robot); any policy spec of vla_inference works. --policy expert runs the scripted expert
instead: it is privileged (it reads the simulator's true state), so it is served from this
process over the openpi protocol (vla_policy.remote) and the inference node reaches it as
ws://127.0.0.1:<port>. The demo says which policy it uses.
"""
from __future__ import annotations

import argparse
import math
import os
import random
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
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
from vla_tools.demo_outputs import (DEFAULT_TASKS, STATE_NAMES, Job, TaskResult, ThirdPersonCamera,
                                    progress_printer, write_outputs)

import mujoco  # last: importing vla_sim sets MUJOCO_GL (egl unless set), which MuJoCo reads when it loads

#: vla_safety's reasons while it has no proposal to gate
_WAITING = {'no_proposal_yet', 'proposal_timeout'}


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

    def __init__(self, seed: int = 3, policy: str = 'default', real_time_factor: float = 1.0,
                 record: bool = True, domain_id: int | None = None, quiet: bool = True,
                 safety: dict | None = None, camera_size=(320, 240), world=None, state_delay: float = 0.0) -> None:
        self.seed = seed
        self.domain_id = domain_id if domain_id is not None else random.randint(100, 200)
        self.record = record
        self.quiet = quiet
        self._policy_choice = policy
        self._rtf = real_time_factor
        self._safety_overrides = safety or {}
        self._camera_size = camera_size
        self._world = world
        self._state_delay = float(state_delay)     # the sim node's: joint_states and odom arrive this late
        self._states: list = []          # what each GIF frame shows (see _capture)
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
            Parameter('camera_width', value=w), Parameter('camera_height', value=h),
            Parameter('state_delay', value=self._state_delay)])
        self.sim = self.sim_node.sim
        if self._world is not None:
            self.sim_node.reset_world(self._world)
        self.monitor = Node('vla_demo', context=self.ctx)
        self._cmd_pub = self.monitor.create_publisher(String, 'vla/command', COMMAND_QOS)
        self.monitor.create_subscription(SafetyStatus, 'vla/safety_status', self._on_status, RELIABLE_QOS)
        self.monitor.create_subscription(VlaAction, 'vla/action', self._on_action, RELIABLE_QOS)
        self._stop_client = self.monitor.create_client(Trigger, 'vla/stop')
        # one thread, as sim_node's main() spins it (its docstring says why)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.sim_node)
        self.executor.add_node(self.monitor)
        self._spin = threading.Thread(target=self.executor.spin, daemon=True)
        self._spin.start()

        spec = self._resolve_policy()
        self.suite = Suite({'policy': spec, 'use_sim_time': 'true'}, safety=self._safety_overrides,
                           domain_id=self.domain_id, quiet=self.quiet)
        self.suite.start()
        if self.record:
            self._third = ThirdPersonCamera(self.sim_node)
        self._wait_ready()

    def _resolve_policy(self) -> str:
        choice = 'default' if self._policy_choice == 'auto' else self._policy_choice   # 'auto': the old name
        if choice != 'expert':
            self.policy_label = ('default: the learned checkpoint (camera, instruction, joint states, odometry, '
                                 'lidar; not privileged)' if choice == 'default' else choice)
            return choice
        emb = load_embodiment('vla_humanoid')
        expert = _LockedPolicy(ScriptedExpert(emb, sim=self.sim), self.sim_node.state_lock).policy
        self.server = PolicyServer(expert, host='127.0.0.1', port=0, embodiment=emb)
        self.server.start()
        self.policy_label = (f"scripted_expert (PRIVILEGED: reads the simulator's true state; chosen with "
                             f'--policy expert), served at {self.server.url}')
        return self.server.url

    def _wait_ready(self, timeout: float = 120.0) -> None:
        """Until vla_inference (its policy loaded, camera frames coming) publishes proposals and
        vla_safety gates them: its newest status no longer waits for a proposal. (A status alone
        is not enough: a vla_safety that has not yet discovered vla_inference stops the robot for
        proposal_timeout, and a task started then begins with a false stop.)"""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._status_lock:
                if self._statuses and self._proposals and not _WAITING & set(self._statuses[-1][1]):
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

    def run_task(self, task, progress=None, lead_in: str | None = None, hold: float = 0.0) -> TaskResult:
        """Send ``task.instruction`` and watch the true state until success or the time limit.
        ``lead_in``: a command sent first for a moment (the 'stop' task starts while walking);
        without one the task starts as lockstep starts it (the base moving at ``initial_twist``).
        ``hold``: after a success, watch that many seconds more whether the task's state is kept
        (``TaskResult.kept``), as lockstep's ``hold_after_success`` does."""
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
        return self.watch(task.instruction, task.time_limit, check.update, task.name, progress,
                          hold=hold, keep=task.new_keep_check() if hold > 0 else None)

    def watch(self, instruction: str, time_limit: float, done=None, name: str = 'command',
              progress=None, hold: float = 0.0, keep=None) -> TaskResult:
        """Send ``instruction``; record path, contacts and safety decisions for ``time_limit``
        simulated seconds, or until ``done(state)`` is true; then, with ``keep`` (a check reset
        at that state), ``hold`` seconds more, and whether ``keep`` is true at their end."""
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
        collisions: set = set()
        self._next_frame = 0.0                   # a GIF frame at once, then every 0.2 s
        job = Job(instruction, time_limit)
        st, success = self._follow(done, t0 + time_limit, collisions, job, progress, t0)
        elapsed = st.time - t0
        kept = None
        with lock:
            t_success = self.sim_node.ros_time()      # the clock of the proposals' stamps
        if success and keep is not None:
            with lock:
                keep.reset(self.sim.state())
            _, kept = self._follow(keep.update, st.time + hold, collisions, stop_on_true=False)
        with self._status_lock:
            seen = self._statuses[first_status:]
            chunks = {}                  # (chunk stamp, inference time) -> confidence, latency: one per chunk
            held = {}                    # the same for the chunks made after the success
            for seq, text, stamp, conf, latency in self._proposals:
                if seq > seq0 and text == sent:
                    (held if kept is not None and stamp > t_success else chunks).setdefault(
                        (stamp, latency), (conf, 1e3 * latency))
        states = {}
        for s, _, _ in seen:
            states[STATE_NAMES[s]] = states.get(STATE_NAMES[s], 0) + 1
        reasons = sorted({r for _, rs, _ in seen for r in rs})
        dmin = min((d for _, _, d in seen), default=math.inf)
        return TaskResult(name, instruction, success, round(elapsed, 2), time_limit,
                          {k: round(v / max(len(seen), 1), 3) for k, v in states.items()}, reasons,
                          sorted(collisions), float(dmin), [c for c, _ in chunks.values()],
                          [v for _, v in chunks.values()], states, kept, [c for c, _ in held.values()])

    def _follow(self, judge, t_end: float, collisions: set, job=None, progress=None, t0: float = 0.0,
                stop_on_true: bool = True):
        """Every ~20 ms of wall time: the true state, ``judge(state)``, the contacts (into
        ``collisions``), the path, a GIF frame every 0.2 s; until the simulated time reaches
        ``t_end`` or (``stop_on_true``) the judge says true. Returns (last state, last judgement)."""
        lock = self.sim_node.state_lock
        while True:
            time.sleep(0.02)
            with lock:
                st = self.sim.state()
                value = bool(judge(st)) if judge is not None else False
            collisions |= set(st.contacts)
            self.path.append((st.time, float(st.base_pose[0]), float(st.base_pose[1])))
            if self.record and st.time >= self._next_frame:
                self._next_frame = st.time + 0.2
                self._capture()
            if progress:
                progress(job, st.time - t0, self._latest_status())
            if (stop_on_true and value) or st.time >= t_end:
                return st, value

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
        """Keep the state of one GIF frame (the pose of everything: joints, base and objects),
        copied under the lock in microseconds. Frames are rendered after the tasks
        (:meth:`render_frames`): rendering them during the run took about a third of a core from
        the process that steps the physics."""
        sim = self.sim
        with self.sim_node.state_lock:
            d = sim.data
            self._states.append((sim.model, d.qpos.copy(), d.mocap_pos.copy(), d.mocap_quat.copy(),
                                 tuple(sim.base_pose())))

    def render_frames(self) -> list:
        """The GIF's frames (head camera beside a third-person view) of the kept states."""
        sim = self.sim
        data = mujoco.MjData(sim.model)
        kept = [s for s in self._states if s[0] is sim.model]        # a state of another world's model: dropped

        def draw(state):
            _, qpos, mocap_pos, mocap_quat, pose = state
            data.qpos[:], data.mocap_pos[:], data.mocap_quat[:] = qpos, mocap_pos, mocap_quat
            mujoco.mj_forward(sim.model, data)
            head = sim.camera.render(data, 240, 180)
            return np.concatenate([head, self._third.draw(data, pose, 320, 180)], axis=1)
        return [self.sim_node._gl.submit(draw, st).result() for st in kept]

    def write_outputs(self, out: Path, results: list[TaskResult]) -> dict[str, Path]:
        """results.json, results.md, the GIF and the path plot under ``out``."""
        summary = {'policy': self.policy_label, 'seed': self.seed,
                   'real_time_factor': round(getattr(self, 'real_time_factor', float('nan')), 3),
                   'cpu_share': getattr(self, 'cpu_share', {}),
                   'succeeded': sum(r.success for r in results), 'tasks': len(results),
                   'results': [asdict(r) for r in results]}
        return write_outputs(out, summary, self.render_frames() if self.record else [], self.path, self.sim.world)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='vla_demo', description=__doc__.split('\n')[0])
    ap.add_argument('--seed', type=int, default=3, help='world layout and task targets')
    ap.add_argument('--policy', default='default',
                    help="default (the learned checkpoint) | expert (the privileged scripted expert) | any policy "
                         'spec of vla_inference')
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
    show = progress_printer()
    with demo.sim_node.state_lock:
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
          f'{getattr(demo, "real_time_factor", float("nan")):.3f}x real time (target 1.0), '
          f'{demo.sim_node.pacer.slips} slips (physics more than 0.25 s behind the wall clock)')
    if getattr(demo, 'cpu_share', None):
        print('  CPU while the tasks ran (1.0 = one core): '
              + ', '.join(f'{k} {v:.2f}' for k, v in demo.cpu_share.items()))
    for k, f in files.items():
        print(f'  {k}: {f}')
    return 0 if ok == len(results) else 1


if __name__ == '__main__':
    sys.exit(main())
