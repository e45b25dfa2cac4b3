"""Safety gate: the only node that talks to the robot's command topics; gates proposals by confidence, collisions, limits and watchdogs."""
