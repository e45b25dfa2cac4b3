# Source this (bash) to use the workspace built by scripts/setup.sh:
#   source scripts/env.sh
_vla_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_vla_venv=${VLA_VENV:-$_vla_repo/.venv}
# shellcheck disable=SC1091
. "$_vla_venv/bin/activate"
export AMENT_PREFIX_PATH="$_vla_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$_vla_venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
if [ ! -f "$_vla_repo/install/setup.bash" ]; then
  echo "scripts/env.sh: $_vla_repo/install/setup.bash not found: run 'bash scripts/setup.sh' first" >&2
  return 1 2>/dev/null || exit 1
fi
# colcon's setup scripts read unset variables: relax `set -u` (e.g. from scripts/test.sh) around them.
case $- in *u*) _vla_nounset=1; set +u ;; *) _vla_nounset= ;; esac
# It also names the venv prefix, which has no local_setup files; the warning about that is noise.
# shellcheck disable=SC1091
. "$_vla_repo/install/setup.bash" 2> >(grep -v 'local_setup' >&2)
[ -n "$_vla_nounset" ] && set -u
unset _vla_nounset
# Console scripts stay in install/<pkg>/lib/<pkg>, where `ros2 run <pkg> <exe>` looks for them.
# A wheel venv has no ros2: put those directories on PATH, so `vla_launch`, `vla-serve` ... run.
for _vla_bin in "$_vla_repo"/install/*/; do
  _vla_bin="$_vla_bin"lib/$(basename "$_vla_bin")
  case ":$PATH:" in *":$_vla_bin:"*) ;; *) [ -d "$_vla_bin" ] && PATH="$_vla_bin:$PATH" ;; esac
done
export PATH
unset _vla_bin
export MUJOCO_GL=${MUJOCO_GL:-egl}   # offscreen rendering for the embedded simulator
export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}
# Larger shared-memory segments so full camera frames are not dropped (README, "Transport").
export FASTDDS_DEFAULT_PROFILES_FILE=${FASTDDS_DEFAULT_PROFILES_FILE:-$_vla_repo/src/vla_bringup/config/fastdds_shm.xml}
unset _vla_repo _vla_venv
