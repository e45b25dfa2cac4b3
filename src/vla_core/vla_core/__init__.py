"""The core of the VLA suite: plain Python with NumPy and PyYAML only (no PyTorch, no rclpy).

* :mod:`vla_core.policy`     Observation, PolicyOutput and the Policy interface every policy implements;
* :mod:`vla_core.embodiment` the robot's action contract: action vector <-> twist, joint targets, ee twist;
* :mod:`vla_core.scheduler`  action chunks over time: latency compensation, ACT ensembling, interpolation;
* :mod:`vla_core.runner`     PolicyRunner, the one place where chunks become commands (the inference
                             node, lockstep, collection and evaluation all use it).

Policies themselves live in vla_policy, which depends on this package.
"""
