"""vla_launch: start the VLA nodes as processes, without `ros2 launch`.

Reads the same node description (stack.py) and parameter files as the launch files, so a
venv with ROS 2 from PyPI wheels (no `launch` package) runs exactly what `ros2 launch
vla_bringup robot.launch.py` runs. Output lines are prefixed with the node name; Ctrl-C stops
every node (SIGINT, then SIGTERM after a grace period). A node that dies is started again after
its respawn delay, as launch_ros's `respawn` does (vla_safety and vla_inference: stack.RESPAWN_DELAY).

    vla_launch policy:=keyword cmd_vel_topic:=/robot/cmd_vel
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

from vla_bringup.stack import SUITE_ARGUMENTS, NodeSpec, middleware_env, ros_args, suite_nodes


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the launching process dies (Linux), so a
    killed launcher or test run leaves no node behind on the ROS graph."""
    try:
        import ctypes
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class ProcessGroup:
    """Child processes with prefixed output; stopping one stops all. Processes started with a
    ``respawn_delay`` are started again that long after they exit (a supervisor thread)."""

    def __init__(self, quiet: bool = False) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self._quiet = quiet
        self._lock = threading.Lock()
        self._respawn: dict[str, tuple[list[str], dict | None, float]] = {}
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        #: called with (name, new process) after a respawn
        self.on_respawn = None

    def start(self, name: str, argv: list[str], env: dict | None = None,
              respawn_delay: float | None = None) -> subprocess.Popen:
        full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=full_env,
                                text=True, bufsize=1, start_new_session=True,
                                preexec_fn=_die_with_parent if sys.platform.startswith('linux') else None)
        with self._lock:
            if self._stopping.is_set():      # a respawn that raced stop(): it must not outlive the group
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return proc
            self.procs = [(n, p) for n, p in self.procs if n != name] + [(name, proc)]
            if respawn_delay is not None:
                self._respawn[name] = (argv, env, respawn_delay)
                if self._supervisor is None:
                    self._supervisor = threading.Thread(target=self._supervise, daemon=True)
                    self._supervisor.start()
        threading.Thread(target=self._pump, args=(name, proc), daemon=True).start()
        return proc

    def start_node(self, spec: NodeSpec, env: dict | None = None) -> subprocess.Popen:
        argv = [sys.executable, '-m', spec.module] + ros_args(spec)
        return self.start(spec.name, argv, env, spec.respawn_delay if spec.respawn else None)

    def _pump(self, name: str, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            if not self._quiet:
                sys.stdout.write(f'[{name}] {line}')
        proc.stdout.close()

    #: a respawned process that dies within QUICK_EXIT_S of its start this many times in a row (a bad
    #: parameter file, a missing dependency) is given up on and reported as failed
    QUICK_EXITS = 5
    QUICK_EXIT_S = 5.0

    def _supervise(self) -> None:
        due: dict[str, float] = {}
        started: dict[str, float] = {}
        quick: dict[str, int] = {}
        while not self._stopping.wait(0.05):
            with self._lock:
                dead = [(n, p) for n, p in self.procs if n in self._respawn and p.poll() is not None]
                alive = {n for n, p in self.procs if p.poll() is None}
            for name in alive:
                due.pop(name, None)          # started again (here or by hand): no stale deadline
                started.setdefault(name, time.monotonic())
            for name, proc in dead:
                delay = self._respawn[name][2]
                if name not in due:
                    lived = time.monotonic() - started.pop(name, time.monotonic())
                    quick[name] = quick.get(name, 0) + 1 if lived < self.QUICK_EXIT_S else 0
                    if quick[name] >= self.QUICK_EXITS:
                        with self._lock:
                            del self._respawn[name]
                        print(f'[vla_launch] {name} exited {quick[name]} times within {self.QUICK_EXIT_S:.0f} s of '
                              f'starting (last code {proc.returncode}); not respawning it', file=sys.stderr, flush=True)
                        continue
                    due[name] = time.monotonic() + delay
                    print(f'[vla_launch] {name} exited with code {proc.returncode}; respawning in {delay:.1f} s',
                          file=sys.stderr, flush=True)
                elif time.monotonic() >= due[name]:
                    with self._lock:
                        if self._stopping.is_set():
                            return
                        argv, env, _ = self._respawn[name]
                    del due[name]
                    new = self.start(name, argv, env, delay)
                    if self.on_respawn is not None:
                        self.on_respawn(name, new)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system, s) of each running process, from /proc (Linux; {} elsewhere)."""
        out = {}
        with self._lock:
            procs = list(self.procs)
        tick = os.sysconf('SC_CLK_TCK') if hasattr(os, 'sysconf') else 100
        for name, p in procs:
            try:
                fields = open(f'/proc/{p.pid}/stat').read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            out[name] = (int(fields[11]) + int(fields[12])) / tick   # utime, stime
        return out

    def failed(self) -> list[tuple[str, int]]:
        """Processes that exited with an error and are not respawned."""
        with self._lock:
            procs = list(self.procs)
        return [(n, p.returncode) for n, p in procs
                if n not in self._respawn and p.poll() is not None and p.returncode != 0]

    def running(self) -> bool:
        with self._lock:
            return bool(self._respawn) or any(p.poll() is None for _, p in self.procs)

    def stop(self, grace: float = 5.0) -> None:
        with self._lock:
            self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(5.0)
        with self._lock:
            procs = list(self.procs)
        for _, p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGINT)
        deadline = time.monotonic() + grace
        for _, p in procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


class Suite:
    """The suite's nodes as child processes on one ROS domain, configured like the launch files.

    ``inference`` / ``safety`` override parameters of those nodes; ``domain_id`` isolates the
    graph (tests, benchmarks). Used by the launcher, the demo, the benchmark and the tests.
    """

    def __init__(self, args: dict | None = None, inference: dict | None = None, safety: dict | None = None,
                 domain_id: int | None = None, quiet: bool = False) -> None:
        self.env = middleware_env()
        if domain_id is not None:
            self.env.update(ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
        overrides = {'vla_inference': inference or {}, 'vla_safety': safety or {}}
        self.specs = {s.name: replace(s, parameters={**s.parameters, **overrides.get(s.name, {})})
                      for s in suite_nodes(args or {})}
        self.group = ProcessGroup(quiet=quiet)
        self.group.on_respawn = self._respawned
        self.procs: dict[str, subprocess.Popen] = {}

    def _respawned(self, name: str, proc: subprocess.Popen) -> None:
        self.procs[name] = proc

    def start(self, name: str | None = None) -> None:
        for n, spec in self.specs.items():
            if name is None or n == name:
                self.procs[n] = self.group.start_node(spec, self.env)

    def start_process(self, name: str, argv: list[str]) -> subprocess.Popen:
        """Another process on the same domain and middleware settings (a simulator, a camera)."""
        self.procs[name] = self.group.start(name, argv, self.env)
        return self.procs[name]

    def kill(self, name: str) -> float:
        """SIGKILL one process (a crash: no goodbye); returns the monotonic time of the kill.
        The suite's nodes are respawned after their respawn delay."""
        p = self.procs[name]
        t = time.monotonic()
        p.kill()
        p.wait()
        return t

    def alive(self, name: str) -> bool:
        return self.procs[name].poll() is None

    def stop(self) -> None:
        self.group.stop()


def parse_launch_args(argv: list[str]) -> dict[str, str]:
    """`name:=value` pairs, as `ros2 launch` takes them."""
    out = {}
    for item in argv:
        name, sep, value = item.partition(':=')
        if not sep or name not in SUITE_ARGUMENTS:
            raise SystemExit(f"vla_launch: '{item}' is not name:=value with one of: {', '.join(SUITE_ARGUMENTS)}")
        out[name] = value
    return out


def main(argv: list[str] | None = None) -> int:
    epilog = '\n'.join(f'  {k}:=  (default {d!r}) {h}' for k, (d, h) in SUITE_ARGUMENTS.items())
    parser = argparse.ArgumentParser(prog='vla_launch', description=__doc__.split('\n')[0],
                                     epilog='launch arguments:\n' + epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('launch_args', nargs='*', help='name:=value launch arguments')
    ns = parser.parse_args(argv)
    try:
        suite = Suite(parse_launch_args(ns.launch_args))
    except ValueError as exc:   # a launch argument's value (e.g. controller_joints:=a,,b)
        raise SystemExit(f'vla_launch: {exc}') from None
    suite.start()
    group = suite.group
    try:
        while not group.failed() and group.running():
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        group.stop()
    failed = group.failed()
    for name, rc in failed:
        print(f'[vla_launch] {name} exited with code {rc}', file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
