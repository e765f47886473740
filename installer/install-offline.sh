#!/usr/bin/env bash
# Install CVOps Workbench from a wheelhouse (make wheelhouse) with no network: pip reads only the folder's wheels
# (--no-index --find-links) and no pip configuration (PIP_CONFIG_FILE=/dev/null), so no index is ever asked.
#   ./install-offline.sh [WHEELHOUSE] [PREFIX]
# WHEELHOUSE defaults to this script's folder; PREFIX to ~/.local: the environment goes to
# PREFIX/share/cvops-workbench/venv and the commands cvops and cvops-workbench are linked into PREFIX/bin.
# PYTHON picks the interpreter (the wheelhouse was collected for one Python version: see its wheels' tags).
set -euo pipefail
WH=$(cd "${1:-$(dirname "$0")}" && pwd)
PREFIX=${2:-${HOME:?HOME is not set}/.local}
PYTHON=${PYTHON:-python3}
VENV=$PREFIX/share/cvops-workbench/venv
for f in requirements.txt constraints.txt; do
    [ -f "$WH/$f" ] || { echo "install-offline: $WH/$f is missing: is $WH a wheelhouse (make wheelhouse)?" >&2; exit 2; }
done
PROJECT=$(ls "$WH"/cvops_workbench-*.whl 2>/dev/null | sort | tail -n 1)
[ -n "$PROJECT" ] || { echo "install-offline: no cvops_workbench-*.whl in $WH" >&2; exit 2; }
export PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
"$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --no-index --find-links "$WH")
"${PIP[@]}" -r "$WH/requirements.txt" -c "$WH/constraints.txt"
# The project last and without its dependencies: the CPU wheelhouse holds onnxruntime where the project's metadata
# names onnxruntime-gpu.
"${PIP[@]}" --no-deps "$PROJECT"
mkdir -p "$PREFIX/bin"
for exe in cvops cvops-workbench; do
    ln -sfn "$VENV/bin/$exe" "$PREFIX/bin/$exe"
done
"$VENV/bin/cvops" --version
echo "installed into $VENV (commands linked into $PREFIX/bin)"
