"""Launch files, middleware profiles and the launcher that wires the VLA suite to a robot or a simulator."""
