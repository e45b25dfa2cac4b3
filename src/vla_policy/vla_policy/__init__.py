"""VLA policies: the policy interface, embodiments, a registry, and PyTorch policies. Plain Python, importable without ROS."""
