#!/usr/bin/env bash
# Collect every wheel the workbench needs on one platform into a folder, for machines with no network:
#   installer/wheelhouse.sh [cpu|cuda] [DEST]        (make wheelhouse [VARIANT=cpu|cuda])
# DEST (default build/wheelhouse-VARIANT) then holds the project's wheel, every dependency's wheel at the lock
# file's versions, requirements.txt/constraints.txt and the install scripts (install-offline.sh, .ps1). Copy the
# folder to the target machine and run ./install-offline.sh there.
# Another platform than this one: PLATFORM=win_amd64 PY_VERSION=3.11 (pip download --platform/--python-version);
# TORCH_CPU_INDEX: where the CPU variant's +cpu torch/torchvision come from (default PyTorch's CPU index); PIP_EXTRA
# adds pip arguments. Collect on the target's operating system (the +cpu pins differ on macOS), or with PLATFORM.
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
EXTRA=${PIP_EXTRA:-}
if [ "$VARIANT" = cpu ] && [ -n "${TORCH_CPU_INDEX-https://download.pytorch.org/whl/cpu}" ]; then
    EXTRA="$EXTRA --extra-index-url ${TORCH_CPU_INDEX-https://download.pytorch.org/whl/cpu}"  # the +cpu torch
fi
echo "== wheels of the dependencies ($VARIANT${PLATFORM:+, $PLATFORM}) into $DEST"
"$PYTHON" -m pip download --quiet --dest "$DEST" -r "$DEST/requirements.txt" -c "$DEST/constraints.txt" \
    ${TARGET[@]+"${TARGET[@]}"} $EXTRA
echo "== the project's wheel"
rm -f "$DEST"/cvops_workbench-*.whl
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$DEST" .
cp installer/install-offline.sh installer/install-offline.ps1 "$DEST/"
echo "$VARIANT" > "$DEST/VARIANT"
echo "wheelhouse: $(ls "$DEST"/*.whl | wc -l) wheels, $(du -sh "$DEST" | cut -f1) in $DEST"
