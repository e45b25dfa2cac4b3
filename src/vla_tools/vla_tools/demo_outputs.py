"""What the demo records and writes: per-task results, the GIF's third-person view, results.md
and the top-down path plot (vla_tools.demo runs the tasks)."""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

import vla_sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
import mujoco

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
    #: with a hold after the success: whether the task's state was still kept at its end
    #: (Task.new_keep_check), and the confidences of the chunks made after the success
    kept: bool | None = None
    hold_confidences: list = field(default_factory=list)


@dataclass(frozen=True)
class Job:
    instruction: str
    time_limit: float




def write_outputs(out: Path, summary: dict, frames: list, path: list, world) -> dict[str, Path]:
    """results.json and results.md of ``summary``, demo.gif of ``frames`` (if any), path.png."""
    out.mkdir(parents=True, exist_ok=True)
    files = {'results': out / 'results.json'}
    files['results'].write_text(json.dumps(summary, indent=2))
    (out / 'results.md').write_text(results_markdown(summary))
    if frames:
        imgs = [Image.fromarray(f) for f in frames]
        imgs[0].save(out / 'demo.gif', save_all=True, append_images=imgs[1:], duration=200, loop=0)
        files['gif'] = out / 'demo.gif'
    files['plot'] = plot_path(path, world, out / 'path.png')
    return files


class ThirdPersonCamera:
    """A camera following the robot from behind and above (rendered on the sim's GL thread)."""

    def __init__(self, sim_node) -> None:
        self._node = sim_node
        self._renderers = {}

    def draw(self, data, pose, width, height):
        """The view of ``data`` (an MjData of the sim's model) around the robot at ``pose``; call it
        on the simulator's render thread (the EGL context is current there)."""
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


def progress_printer():
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


