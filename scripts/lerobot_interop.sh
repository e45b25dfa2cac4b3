#!/usr/bin/env bash
# LeRobot interop checks against the real lerobot (scripts/lerobot_interop.py says what is checked).
# Not run in CI: lerobot 0.4 pins torch < 2.11, so it gets its own venv, built here when absent
# (several GB: a CUDA build of torch; the checks run on the CPU).
#
#   scripts/lerobot_interop.sh                 venv in $LEROBOT_VENV (default: ../lerobot-venv, outside the repo)
#   LEROBOT_VENV=/opt/lerobot-venv scripts/lerobot_interop.sh
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${LEROBOT_VENV:-$(dirname "$repo")/lerobot-venv}"
python="${PYTHON:-python3.11}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import lerobot' 2>/dev/null; then
    echo "building the lerobot venv in $venv (several GB) ..."
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet -r "$repo/scripts/requirements-lerobot.txt"
fi
# offline: nothing is fetched from the Hugging Face hub (no pretrained weights are used)
HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" \
    exec "$venv/bin/python" "$repo/scripts/lerobot_interop.py" "$@"
