#!/usr/bin/env bash
# Set up the workspace (scripts/setup.sh) and run the main job: the embedded simulator,
# vla_inference and vla_safety as ROS 2 nodes, a sequence of language commands, and per
# command whether the task succeeded, how long it took and what the safety node did.
# Outputs (GIF, path plot, results) go to out/demo. Extra arguments go to the demo, e.g.
#   bash scripts/demo.sh --seed 7 --policy expert
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$repo/scripts/setup.sh"
# shellcheck disable=SC1091
source "$repo/scripts/env.sh"
cd "$repo"
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
export MUJOCO_GL=${MUJOCO_GL:-egl}
export PYTHONUNBUFFERED=1
exec python -m vla_tools.demo "$@"
