#!/usr/bin/env bash
# Set up the workspace (scripts/setup.sh: venv, ROS 2 wheels, PyTorch, colcon build) and run
# every test: the packages' unit tests and the ROS 2 integration tests under test/.
# Extra arguments go to pytest, e.g.  bash scripts/test.sh -k safety -x
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$repo/scripts/setup.sh"
# shellcheck disable=SC1091
source "$repo/scripts/env.sh"
cd "$repo"
# Integration tests talk over DDS: keep them off any other ROS graph on this network.
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 100 ))}
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
export MUJOCO_GL=${MUJOCO_GL:-egl}
export PYTHONUNBUFFERED=1
exec python -m pytest -p no:cacheprovider src test "$@"
