"""Embedded MuJoCo simulator of the suite's humanoid: a library first, a ROS node second.

Library (no ROS):
    HumanoidSim            the robot (from vla_description's URDF) in an arena of coloured objects
    run_episode            lockstep evaluation of any vla_policy Policy on a task
    TASKS / make_task      instructions with success predicates on the true state
    ScriptedExpert         privileged expert (reads the true state) for demonstrations and baselines
ROS node: ``ros2 run vla_sim sim_node`` (vla_sim.sim_node), a stand-in for Gazebo + ros_gz_bridge.

Rendering is offscreen through EGL unless MUJOCO_GL is already set: MuJoCo picks its GL
backend when it is first imported, so the default is set here, before that import.
"""
import os

os.environ.setdefault('MUJOCO_GL', 'egl')

__all__ = ['HumanoidSim', 'LockstepConfig', 'ScriptedExpert', 'SimConfig', 'TASKS', 'make_task', 'run_episode']


# lazy: these modules import mujoco (heavy). Importing vla_sim stays cheap, and it must run before
# mujoco is imported (sim_node and benchmark import it first for MUJOCO_GL above).
def __getattr__(name):
    if name in ('HumanoidSim', 'SimConfig'):
        from vla_sim import sim
        return getattr(sim, name)
    if name in ('run_episode', 'LockstepConfig'):
        from vla_sim import lockstep
        return getattr(lockstep, name)
    if name in ('TASKS', 'make_task'):
        from vla_sim import tasks
        return getattr(tasks, name)
    if name == 'ScriptedExpert':
        from vla_sim.expert import ScriptedExpert
        return ScriptedExpert
    raise AttributeError(f"module 'vla_sim' has no attribute '{name}'")
