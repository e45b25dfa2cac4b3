"""vla_safety's gate between a policy's commands and the simulator, as the safety node runs it.

Every lockstep tick the proposal (the PolicyRunner's command) goes through
``vla_safety.gate.step`` with the simulator's waist lidar as the required ``scan`` source (points
in base_link through ``laser_scan_to_points`` and the URDF's laser pose), the measured joints,
and vla_safety's default parameters with the URDF's joint limits: the parameters the safety node
starts with. What the gate lets through is what the robot does.

    gate = SimGate()                     # SafetyParams() + the URDF's joint limits
    gate.reset()                         # each episode: GateState()
    decision = gate.step(sim, proposal, now)
"""
from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

from vla_description import read_urdf
from vla_description.urdf_info import parse_urdf
from vla_safety.collision import laser_scan_to_points
from vla_safety.gate import Decision, GateState, GateStatus, Proposal, SensorSnapshot, SourceReading, step
from vla_safety.joint_limits import parse_urdf_limits
from vla_safety.params import SafetyParams

SCAN_SOURCE = 'scan'


@lru_cache(maxsize=4)
def _urdf(urdf_path: str | None) -> str:
    if urdf_path:
        return Path(urdf_path).read_text()
    return read_urdf()


def default_safety_params(urdf_path: str | None = None) -> SafetyParams:
    """vla_safety's defaults with the robot's joint limits (what the safety node runs with)."""
    return SafetyParams(joint_limits=parse_urdf_limits(_urdf(urdf_path)))


@lru_cache(maxsize=4)
def laser_pose(urdf_path: str | None = None, base_link: str = 'base_link', laser: str = 'laser') -> tuple:
    """(x, y, yaw) of the laser frame in base_link, from the URDF (the safety node's scan_pose)."""
    robot = parse_urdf(_urdf(urdf_path))
    T = np.linalg.inv(robot.link_pose(base_link)) @ robot.link_pose(laser)
    return (float(T[0, 3]), float(T[1, 3]), float(math.atan2(T[1, 0], T[0, 0])))


class SimGate:
    """The gate's memory for one episode plus the figures of what it did (``counts``: ticks per
    GateStatus name)."""

    def __init__(self, params: SafetyParams | None = None, urdf_path: str | None = None) -> None:
        self.params = params if params is not None else default_safety_params(urdf_path)
        self._pose = laser_pose(urdf_path)
        self.state = GateState()
        self.counts: Counter[str] = Counter()

    def reset(self) -> None:
        self.state = GateState()
        self.counts = Counter()

    def sensors(self, sim, now: float) -> SensorSnapshot:
        c = sim.config.scan
        pts = laser_scan_to_points(sim.scan(), c.angle_min, c.angle_increment, c.range_min, c.range_max, self._pose)
        return SensorSnapshot(sources={SCAN_SOURCE: SourceReading(pts, now)}, required={SCAN_SOURCE})

    def step(self, sim, proposal: Proposal | None, now: float) -> Decision:
        decision, self.state = step(self.state, proposal, self.sensors(sim, now), sim.joint_positions(),
                                    self.params, now)
        self.counts[GateStatus(decision.state).name] += 1
        return decision
