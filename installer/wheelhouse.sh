#!/usr/bin/env bash
# Collect every wheel the workbench needs on one platform into a folder, for machines with no network:
#   installer/wheelhouse.sh [cpu|cuda] [DEST]        (make wheelhouse [VARIANT=cpu|cuda])
# DEST (default build/wheelhouse-VARIANT) then holds the project's wheel, every dependency's wheel at the lock
# file's versions, requirements.txt/constraints.txt and the install scripts (install-offline.sh, .ps1). Copy the
# folder to the target machine and run ./install-offline.sh there.
# Another platform than this one: PLATFORM=win_amd64 PY_VERSION=3.11 (pip download --platform/--python-version);
# PIP_EXTRA adds pip arguments (e.g. --extra-index-url for PyTorch's CPU wheels).
set -euo pipefail
VARIANT=${1:-${VARIANT:-cpu}}
case "$VARIANT" in cpu|cuda) ;; *) echo "wheelhouse.sh: VARIANT must be cpu or cuda, not '$VARIANT'" >&2; exit 2 ;; esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python3}
DEST=${2:-build/wheelhouse-$VARIANT}
mkdir -p "$DEST"
"$PYTHON" installer/requirements.py "$VARIANT" --no-extras > "$DEST/requirements.txt"
"$PYTHON" installer/requirements.py "$VARIANT" --constraints > "$DEST/constraints.txt"
TARGET=()
if [ -n "${PLATFORM:-}" ]; then
    TARGET=(--platform "$PLATFORM" --python-version "${PY_VERSION:-3.11}" --only-binary=:all:)
fi
echo "== wheels of the dependencies ($VARIANT${PLATFORM:+, $PLATFORM}) into $DEST"
"$PYTHON" -m pip download --quiet --dest "$DEST" -r "$DEST/requirements.txt" -c "$DEST/constraints.txt" \
    "${TARGET[@]}" ${PIP_EXTRA:-}
echo "== the project's wheel"
rm -f "$DEST"/cvops_workbench-*.whl
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$DEST" .
cp installer/install-offline.sh installer/install-offline.ps1 "$DEST/"
echo "$VARIANT" > "$DEST/VARIANT"
echo "wheelhouse: $(ls "$DEST"/*.whl | wc -l) wheels, $(du -sh "$DEST" | cut -f1) in $DEST"
