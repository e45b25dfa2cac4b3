"""vla_safety_benchmark: accept vla_safety the way nav2 accepts its collision monitor.

    python -m vla_tools.safety_benchmark [--scenarios walk_into_box,lidar_dropout] [--out out/safety]

Closed loop through the real nodes, on sim time: the embedded simulator runs in this process
(vla_tools.demo.Demo), vla_inference and vla_safety run as processes. The policy is 'keyword'
("walk forward" -> a constant forward twist, confidence 1, blind to obstacles), so what is
measured is the safety chain, not a learned policy. Each scenario starts the nodes afresh in its
own world, sends "walk forward", and at fixed simulated times moves obstacles or injects a fault.

What is required, and when, is judged from the simulator's true state and the times the faults
were injected (:func:`judge`); the figures come from vla_tools.stop_metrics:

- a stop is required while an obstacle's surface is in the gate's STOP zone (footprint radius
  + stop_margin, the defaults of vla_safety's SafetyParams), and after a fault once the delay
  the stack is configured to allow has passed (the lidar: source_timeout; the camera:
  vla_inference's stale_image_timeout + command_timeout; inference killed: command_timeout;
  safety killed: the base's cmd_vel_timeout; an e-stop: at once), until the fault clears (the
  sensor is back) or, when a person has to act (e-stop reset, a node restarted), until the
  benchmark sends a fresh command;
- a parameter change (max_linear_x lowered while walking) requires the speed to fall under
  the new limit ("time to stop" is then the time to comply);
- motion is expected while commanded, with no fault pending and no obstacle within the gate's
  reach (max of slowdown_margin and stop_margin + max_linear_x * time_to_collision, in any
  direction); in between, slowing down or stopping is the gate's choice and is not scored.

Writes results.json (figures, PASS/MISS, the events' times) and results.md to --out.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault('MUJOCO_GL', 'egl')

from geometry_msgs.msg import Twist  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from std_msgs.msg import Bool  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from vla_common.qos import RELIABLE_QOS  # noqa: E402
from vla_interfaces.msg import SafetyStatus, VlaAction  # noqa: E402
from vla_safety.params import SafetyParams  # noqa: E402
from vla_sim.world import World  # noqa: E402
from vla_tools.demo import Demo  # noqa: E402
from vla_tools.demo_outputs import STATE_NAMES  # noqa: E402
from vla_tools.safety_report import (aggregate, kill_lines, load_average, met, plain_json,  # noqa: E402
                                     repeat_table, table)
from vla_tools.safety_scenarios import (COMMAND, START, Cmd, Event, Geometry, Raw, Scenario,  # noqa: E402
                                        ScenarioResult, clearance_of, command_level_at, false_stop_reasons,
                                        judge, scenarios, windows, with_window_starts)
from vla_tools.stop_metrics import STOPPED_BELOW, Command, Figures, Sample, Targets, score  # noqa: E402


# -- running a scenario ----------------------------------------------------------------------------------
class Runner:
    """Runs scenarios one at a time, each with fresh nodes (vla_tools.demo.Demo) on one domain."""

    def __init__(self, seed: int = 0, domain_id: int | None = None, quiet: bool = True,
                 respawn_wait: float = 4.0) -> None:
        self.seed = seed
        self.domain_id = domain_id
        self.quiet = quiet
        self.respawn_wait = respawn_wait

    def run(self, sc: Scenario) -> ScenarioResult:
        world = World(self.seed, START, sc.objects)
        demo = Demo(seed=self.seed, policy='keyword', record=False, domain_id=self.domain_id, quiet=self.quiet,
                    camera_size=(160, 120), world=world)
        demo.start()
        try:
            return self._run(demo, sc, SafetyParams().footprint_radius)
        finally:
            demo.close()

    def _run(self, demo, sc: Scenario, footprint_radius: float) -> ScenarioResult:
        node, lock, sim = demo.monitor, demo.sim_node.state_lock, demo.sim
        estop_pub = node.create_publisher(Bool, 'vla/estop', RELIABLE_QOS)
        cmds: list[Cmd] = []

        def on_cmd_vel(msg, info):
            # what vla_safety published, dated by its DDS source timestamp: the time the message
            # travelled (and waited for this executor) is taken off the simulated time of receipt
            t_recv, now = sim.time, time.time()   # a float read; the physics thread only ever advances it
            src = info['source_timestamp'] * 1e-9
            travelled = max(now - src, 0.0) if src > 0 else 0.0
            cmds.append(Cmd(t_recv - travelled, t_recv, src if src > 0 else now,
                            math.hypot(msg.linear.x, msg.linear.y), now))
        node.create_subscription(Twist, 'cmd_vel', on_cmd_vel, RELIABLE_QOS)
        proposals: list[tuple] = []   # (simulated s published, instruction, policy call s, linear.x)
        statuses: list[tuple] = []    # (simulated s published, reasons) of vla/safety_status

        def published(info) -> float:       # dated like the commands
            t_recv, src = sim.time, info['source_timestamp'] * 1e-9
            return t_recv - (max(time.time() - src, 0.0) if src > 0 else 0.0)

        def on_action(msg, info):
            proposals.append((published(info), msg.instruction, float(msg.inference_time), msg.twist.linear.x))

        def on_status(msg, info):
            statuses.append((published(info), tuple(msg.reasons)))
        node.create_subscription(VlaAction, 'vla/action', on_action, RELIABLE_QOS)
        node.create_subscription(SafetyStatus, 'vla/safety_status', on_status, RELIABLE_QOS)
        reset = node.create_client(Trigger, 'vla/reset_estop')
        set_params = node.create_client(SetParameters, '/vla_safety/set_parameters')
        raws: list[Raw] = []
        notes: list[str] = []
        stop = threading.Event()

        def sim_time():
            with lock:
                return sim.time

        def sample_forever(t0_box):
            moved = None             # name of the object the mover placed
            while not stop.is_set():
                with lock:
                    if sc.mover is not None and t0_box:
                        obj = sc.mover(sim.time - t0_box[0])
                        if obj is not None:
                            sim.place_object(obj)
                            moved = obj.name
                        elif moved is not None:
                            sim.remove_object(moved)
                            moved = None
                    st = sim.state()
                status = demo._latest_status()
                vx, vy, _ = st.base_twist
                raws.append(Raw(st.time, math.hypot(vx, vy), clearance_of(st, footprint_radius), st.contacts,
                                status[0] if status else None))
                time.sleep(0.01)

        def send(text):
            demo.command(text)           # waits until vla_inference's subscription is matched

        def call(client, request, what):
            if not client.wait_for_service(timeout_sec=10.0):
                raise RuntimeError(f'{what}: service {client.srv_name} not available')
            fut = client.call_async(request)
            self._wait(fut.done, 10, f'{what}: no answer')
            return fut.result()

        def await_node(name, t_kill_wall, statuses_at_kill, subs_at_kill):
            # the Suite respawns it (about 1 s later); if it does not, the benchmark restarts it, as a person would
            deadline = t_kill_wall + self.respawn_wait
            while not demo.suite.alive(name) and time.monotonic() < deadline:
                time.sleep(0.02)
            respawned[name] = time.monotonic() - t_kill_wall    # its process started (within 20 ms)
            if not demo.suite.alive(name):
                demo.suite.start(name)
                notes.append(f'{name} was not respawned within {self.respawn_wait:.0f} s; the benchmark restarted it')
            if name == 'vla_safety':
                self._wait(lambda: len(demo._statuses) > statuses_at_kill + 2, 60, 'vla_safety published nothing')
            else:
                def fresh():   # a dead subscriber may stay matched for a while: wait for the new one
                    now = {bytes(i.endpoint_gid) for i in node.get_subscriptions_info_by_topic('vla/command')}
                    return bool(now - subs_at_kill) and demo._cmd_pub.get_subscription_count() > 0
                self._wait(fresh, 60, 'vla_inference did not come back')

                def gated():     # and vla_safety gates its proposals again (discovery can lag a second)
                    st = demo._latest_status()
                    return st is not None and not {'proposal_timeout', 'no_proposal_yet'} & set(st[1])
                self._wait(gated, 60, "vla_safety did not receive the restarted vla_inference's proposals")
                notes.append(f'{name} back (vla_safety gating its proposals) '
                             f'{time.monotonic() - t_kill_wall:.2f} s (wall) after the SIGKILL')

        t0_box: list[float] = []
        sampler = threading.Thread(target=sample_forever, args=(t0_box,), daemon=True)
        sampler.start()
        send(COMMAND)
        t0 = sim_time()
        t0_box.append(t0)
        log: list[tuple[float, Event]] = [(t0, Event(0.0, 'command', COMMAND))]
        kill_info, kill_wall, respawned = {}, {}, {}
        for ev in sc.events:
            while sim_time() < t0 + ev.at:
                time.sleep(0.005)
            t = sim_time()
            a = ev.action
            if a == 'place':
                with lock:
                    obj = ev.arg(sim.state()) if callable(ev.arg) else ev.arg
                    t = sim.time
                    sim.place_object(obj)
            elif a == 'remove':
                with lock:
                    t = sim.time
                    sim.remove_object(ev.arg)
            elif a in ('mute', 'unmute'):
                demo.sim_node.mute(ev.arg, a == 'mute')
            elif a == 'kill':
                subs = {bytes(i.endpoint_gid) for i in node.get_subscriptions_info_by_topic('vla/command')}
                kill_info[ev.arg] = (time.monotonic(), len(demo._statuses), subs)
                kill_wall[ev.arg] = time.time()
                demo.suite.kill(ev.arg)
            elif a == 'await_node':
                await_node(ev.arg, *kill_info[ev.arg])
                t = sim_time()
            elif a == 'pause':
                while sim_time() < t + ev.arg:
                    time.sleep(0.005)
            elif a == 'estop':
                estop_pub.publish(Bool(data=True))
            elif a == 'reset_estop':
                r = call(reset, Trigger.Request(), 'e-stop reset')
                notes.append(f'reset_estop: {r.message}')
            elif a == 'set_param':
                name, value = ev.arg
                req = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
                try:
                    r = call(set_params, req, f'set {name}')
                    if not r.results[0].successful:
                        raise RuntimeError(f'vla_safety refused {name}={value}: {r.results[0].reason}')
                except RuntimeError as exc:     # measured on: what the robot did is the result
                    notes.append(f'{exc}; vla_safety alive: {demo.suite.alive("vla_safety")}')
            elif a == 'command':
                send(ev.arg)
                t = sim_time()
            else:
                raise ValueError(f"unknown event action '{a}'")
            log.append((t, ev))
        end = max(t0 + sc.duration, log[-1][0] + 3.0)
        while sim_time() < end:
            time.sleep(0.02)
        stop.set()
        sampler.join(2.0)
        for t, ev in log[1:]:
            if ev.action == 'command':     # where a resume's time goes: the proposer, then the gate
                first = next((p for p in sorted(proposals) if p[0] >= t and p[1] == ev.arg), None)
                moving = next((c for c in sorted(cmds, key=lambda c: c.t) if c.t >= t and c.speed >= STOPPED_BELOW),
                              None)
                t_move = math.inf if moving is None else moving.t
                held = sorted({r for ts, rs in statuses if t <= ts < t_move for r in rs})
                notes.append(f'fresh command at {t - t0:.2f} s: ' + (
                    'no proposal followed it' if first is None else
                    f'the first proposal following it published after {first[0] - t:.2f} s (its policy call '
                    f'{1e3 * first[2]:.0f} ms, linear.x {first[3]:.2f})') + ('' if moving is None else
                                                   f', the first moving command after {moving.t - t:.2f} s')
                    + f"; vla_safety's reasons until then: {', '.join(held) or 'none'}")
        return self._score(sc, raws, log, t0, notes, sorted(cmds, key=lambda c: c.t), kill_wall, respawned,
                           sorted(statuses))

    @staticmethod
    def _wait(predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise RuntimeError(f'{what} within {timeout:.0f} s')
            time.sleep(0.02)

    @staticmethod
    def _score(sc: Scenario, raws: list[Raw], log, t0: float, notes: list[str], cmds: list[Cmd] = (),
               kill_wall: dict | None = None, respawned: dict | None = None, statuses=()) -> ScenarioResult:
        geo = Geometry.of_gate()
        wins = windows(log)
        raws = with_window_starts(raws, wins)
        samples = []
        for r in raws:
            limit, move = judge(r.t, r.clearance, t0, wins, geo)
            samples.append(Sample(r.t, r.speed, limit, move, r.clearance, r.contacts, r.gate_state,
                                  command_level_at(r.t, wins)))
        f = score(samples, commands=[Command(c.t, c.speed) for c in cmds])
        false = false_stop_reasons(samples, statuses, Targets().time_to_resume)
        if false:
            notes.append("false stops (motion expected, the base still): vla_safety's status then said "
                         + ', '.join(f'{r} ({v:.0%} of that time)' for r, v in false.items()))
        if cmds:
            lags = sorted(c.t_received - c.t for c in cmds)
            notes.append(f'cmd_vel: {len(cmds)} commands; publication to the benchmark taking it: median '
                         f'{1e3 * lags[len(lags) // 2]:.1f} ms, max {1e3 * lags[-1]:.1f} ms')
        kills = {}
        for t_kill, ev in log:
            if ev.action == 'kill':
                still = next((r.t for r in raws if r.t >= t_kill and r.speed < STOPPED_BELOW), None)
                k = kills[ev.arg] = {'still_s': None if still is None else round(still - t_kill, 3)}
                notes.append(f'base still {still - t_kill:.2f} s (sim) after {ev.arg} was killed' if still is not None
                             else f'base never still after {ev.arg} was killed')
                if respawned and ev.arg in respawned:
                    k['respawned_s'] = round(respawned[ev.arg], 3)
                if ev.arg == 'vla_safety' and kill_wall and ev.arg in kill_wall:
                    tk = kill_wall[ev.arg]
                    again = next((c for c in cmds if c.wall > tk), None)    # published after the kill
                    k['zeros_again_s'] = None if again is None else round(again.wall_received - tk, 3)
                    k['zeros_published_s'] = None if again is None else round(again.wall - tk, 3)
                    k['zero'] = None if again is None else again.speed < STOPPED_BELOW
                    notes.append('no command on cmd_vel after vla_safety was killed' if again is None else
                                 f"after vla_safety's SIGKILL (wall s): its process started again at "
                                 f"{k.get('respawned_s', math.nan):.2f}, its first command was published at "
                                 f"{k['zeros_published_s']:.2f} and taken from cmd_vel at {k['zeros_again_s']:.2f} "
                                 f"({'a stop' if k['zero'] else 'NOT a stop'}, {again.speed:.2f} m/s)")
        states: dict[str, int] = {}
        for s in samples:
            if s.t >= t0 and s.gate_state is not None:
                states[STATE_NAMES[s.gate_state]] = states.get(STATE_NAMES[s.gate_state], 0) + 1
        n = max(sum(states.values()), 1)
        return ScenarioResult(sc.name, sc.description, _figures_dict(f), f.passes(Targets()),
                              [(round(t - t0, 3), ev.action, str(ev.arg) if not callable(ev.arg) else '')
                               for t, ev in log], {k: round(v / n, 3) for k, v in states.items()}, notes, kills)


def _figures_dict(f: Figures) -> dict:
    """The figures as JSON values: infinity (never stopped / resumed) becomes 'inf'."""
    return plain_json(asdict(f))


def main(argv=None) -> int:
    all_sc = scenarios()
    ap = argparse.ArgumentParser(prog='vla_safety_benchmark', description=__doc__.split('\n')[0])
    ap.add_argument('--scenarios', default=','.join(all_sc), help=f"comma-separated, of: {', '.join(all_sc)}")
    ap.add_argument('--repeat', type=int, default=1,
                    help='run each scenario this many times (all scenarios once, then again) and print the '
                         'median and worst of each measure and how many runs met its target')
    ap.add_argument('--out', default='out/safety_benchmark')
    ap.add_argument('--seed', type=int, default=0, help="the world's seed (lidar noise)")
    ap.add_argument('--domain-id', type=int, default=None,
                    help='ROS domain of the nodes (default: $ROS_DOMAIN_ID, else a random one)')
    ap.add_argument('--verbose', action='store_true', help="show the nodes' logs")
    a = ap.parse_args(argv)
    names = [n for n in a.scenarios.split(',') if n]
    unknown = [n for n in names if n not in all_sc]
    if unknown:
        ap.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(all_sc)}")
    if a.repeat < 1:
        ap.error('--repeat must be at least 1')
    domain = a.domain_id if a.domain_id is not None else (int(os.environ['ROS_DOMAIN_ID'])
                                                         if os.environ.get('ROS_DOMAIN_ID') else None)
    runner = Runner(seed=a.seed, domain_id=domain, quiet=not a.verbose)
    results: list[ScenarioResult] = []
    by_scenario: dict[str, list[ScenarioResult]] = {n: [] for n in names}
    wall0 = time.monotonic()
    load0 = load_average()
    for k in range(a.repeat):
        for n in names:
            t = time.monotonic()
            run = f' (run {k + 1}/{a.repeat})' if a.repeat > 1 else ''
            print(f'{n}{run}: {all_sc[n].description} ...', flush=True)
            r = runner.run(all_sc[n])
            results.append(r)
            by_scenario[n].append(r)
            print(f'  done in {time.monotonic() - t:.0f} s; gate states {r.gate_states}'
                  + ''.join(f'\n  note: {x}' for x in r.notes), flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    kills = kill_lines(results)
    summary = {'targets': asdict(Targets()), 'stopped_below_m_s': STOPPED_BELOW, 'command': COMMAND,
               'policy': 'keyword', 'seed': a.seed, 'repeat': a.repeat, 'wall_s': round(time.monotonic() - wall0, 1),
               'load_average': {'start': load0, 'end': load_average()},
               'spread': {n: {k: None if sp is None else asdict(sp) for k, sp in aggregate(rs).items()}
                          for n, rs in by_scenario.items()},
               'kills': kills, 'scenarios': [asdict(r) for r in results]}
    (out / 'results.json').write_text(json.dumps(plain_json(summary), indent=2))
    text = table(results) if a.repeat == 1 else repeat_table(by_scenario)
    md = table(results, markdown=True) if a.repeat == 1 else repeat_table(by_scenario, markdown=True)
    (out / 'results.md').write_text(md + ''.join(f'\n{x}\n' for x in kills))
    print()
    if a.repeat > 1:
        print('each cell: median / worst run (runs meeting the target / runs with a value); worst = the '
              'highest, the lowest for stopped share and clearance')
    print(text)
    for x in kills:
        print(x)
    print(f'\n{len(results)} runs in {summary["wall_s"]:.0f} s wall time; load average (1 min) {load0} at the start, '
          f'{summary["load_average"]["end"]} at the end; results in {out}/results.json, results.md')
    misses = [r.name for r in results if any(v is False for v in r.passes.values())
              or met('min_clearance', r.figures, {}) is False]
    return 1 if misses else 0


if __name__ == '__main__':
    sys.exit(main())
