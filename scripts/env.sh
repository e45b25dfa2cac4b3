# Source this (bash) to use the workspace built by scripts/setup.sh:
#   source scripts/env.sh
_vla_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_vla_venv=${VLA_VENV:-$_vla_repo/.venv}
# shellcheck disable=SC1091
. "$_vla_venv/bin/activate"
export AMENT_PREFIX_PATH="$_vla_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$_vla_venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
# colcon's setup refers to the venv prefix, which has no local_setup files: silence that.
# shellcheck disable=SC1091
. "$_vla_repo/install/setup.bash" 2>/dev/null
export MUJOCO_GL=${MUJOCO_GL:-egl}   # offscreen rendering for the embedded simulator
export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}
# Larger shared-memory segments so full camera frames are not dropped (README, "Transport").
export FASTDDS_DEFAULT_PROFILES_FILE=${FASTDDS_DEFAULT_PROFILES_FILE:-$_vla_repo/src/vla_bringup/config/fastdds_shm.xml}
unset _vla_repo _vla_venv
