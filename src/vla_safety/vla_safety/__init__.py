"""Safety gate: the only node that talks to the robot's command topics; gates proposals by confidence, collisions, limits and watchdogs.

The pure core (no rclpy) is re-exported here; safety_node.py is the ROS 2 shell around it.

    params        SafetyParams (frozen, validated), parameter_specs()
    gate          step(), GateState, Proposal, SensorSnapshot, SourceReading, Decision,
                  GateStatus, Reason, latch_estop(), reset_estop(), await_instruction()
                  step's stages: proposal_rules, obstacles, base_twist, joint_targets, ee_twist;
                  the value types: gate_types
    collision     Footprint, laser_scan_to_points(), points_in_base(), depth_image_to_points()
    joint_limits  JointLimit, parse_urdf_limits(), limits_from_dict(), combine_limits()

The ROS shell: safety_node (wiring only), node_params (its parameters), messages (message
conversion), guards (callbacks that latch a fault); outputs lays commands out for controllers.
"""
from .collision import (Footprint, depth_image_to_points, laser_scan_to_points, points_in_base,
                        transform_points_2d)
from .gate import (Decision, GateState, GateStatus, Proposal, Reason, SensorSnapshot, SourceReading,
                   await_instruction, latch_estop, limit_axis, reset_estop, source_timeout_reason, step)
from .joint_limits import JointLimit, JointLimitError, combine_limits, limits_from_dict, parse_urdf_limits
from .params import SafetyParams, SafetyParamsError, parameter_specs


__all__ = [
    'Decision', 'Footprint', 'GateState', 'GateStatus', 'JointLimit', 'JointLimitError', 'Proposal',
    'Reason', 'SafetyParams', 'SafetyParamsError', 'SensorSnapshot', 'SourceReading', 'await_instruction',
    'combine_limits', 'depth_image_to_points', 'latch_estop', 'laser_scan_to_points', 'limit_axis',
    'limits_from_dict', 'parameter_specs', 'parse_urdf_limits', 'points_in_base', 'reset_estop',
    'source_timeout_reason', 'step', 'transform_points_2d',
]
