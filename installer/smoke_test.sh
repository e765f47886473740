#!/usr/bin/env bash
# Smoke test of a built application: run it from a clean environment (env -i: no venv, a PATH of system folders
# only, a fresh HOME) with the network cut off where `unshare -n` can do that.
#   installer/smoke_test.sh APP_DIR     (APP_DIR holds the cvops and cvops-workbench executables)
# Steps: cvops --version, cvops demo, a short cvops train (2 epochs at 96 px on 32 images), export to ONNX, verify,
# bundle and deploy (whose self-test runs the bundle), and cvops-workbench WORKSPACE --screenshot offscreen, whose
# PNG must not be blank (installer/png_check.py).
# SMOKE_KEEP=1 keeps the scratch folder; SMOKE_NO_UNSHARE=1 runs with the network as it is.
set -euo pipefail
APP_DIR=$(cd "${1:?usage: smoke_test.sh APP_DIR}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
EXE=""
case "$(uname -s)" in MINGW*|MSYS*|CYGWIN*) EXE=".exe" ;; esac
CVOPS="$APP_DIR/cvops$EXE"
WORKBENCH="$APP_DIR/cvops-workbench$EXE"
for exe in "$CVOPS" "$WORKBENCH"; do
    [ -x "$exe" ] || { echo "smoke: $exe is missing or not executable" >&2; exit 2; }
done
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/cvops-smoke.XXXXXX")
[ "${SMOKE_KEEP:-0}" = 1 ] || trap 'rm -rf "$SCRATCH"' EXIT
mkdir -p "$SCRATCH/home" "$SCRATCH/tmp"
cp "$HERE/png_check.py" "$SCRATCH/png_check.py"

# The network: cut off in a new network namespace where this user may make one (root, or user namespaces).
NET=()
if [ "${SMOKE_NO_UNSHARE:-0}" != 1 ] && command -v unshare >/dev/null && unshare -n true 2>/dev/null; then
    NET=(unshare -n)
elif [ "${SMOKE_NO_UNSHARE:-0}" != 1 ] && command -v unshare >/dev/null && unshare -rn true 2>/dev/null; then
    NET=(unshare -rn)
fi
echo "smoke: network ${NET[*]:-not cut off (no unshare here)}"

clean() {  # run a command with nothing inherited: a fresh HOME, system PATH only (Windows: its own home too)
    env -i HOME="$SCRATCH/home" USERPROFILE="$SCRATCH/home" APPDATA="$SCRATCH/home" LOCALAPPDATA="$SCRATCH/home" \
        TMPDIR="$SCRATCH/tmp" TEMP="$SCRATCH/tmp" PATH=/usr/bin:/bin LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen \
        ${SYSTEMROOT:+SYSTEMROOT="$SYSTEMROOT"} ${NET[@]+"${NET[@]}"} "$@"
}
step() { echo; echo "== smoke: $*"; local t0=$SECONDS; clean "$@"; echo "   ($((SECONDS - t0)) s)"; }

WS="$SCRATCH/ws"
step "$CVOPS" --version | tee "$SCRATCH/version.txt"
grep -q "cvops, version" "$SCRATCH/version.txt" || { echo "smoke: unexpected --version output" >&2; exit 1; }
step "$CVOPS" demo "$WS" --count 32
step "$CVOPS" -w "$WS" version create -m smoke --split 75/25 --resplit
step "$CVOPS" -w "$WS" train --version v2 --preset fast --epochs 2 --imgsz 96
step "$CVOPS" -w "$WS" models promote latest
# export, verify, bundle and deploy: the bundle copies the edge runner's source out of the build, and deploy runs its
# self-test with the built executable as the interpreter (run.py --selftest)
step "$CVOPS" -w "$WS" export champion --format onnx
EXPORT_ID=$(clean "$CVOPS" -w "$WS" export --list --json \
    | clean "$CVOPS" -c "import json, sys; print(json.load(sys.stdin)[-1]['id'])")
step "$CVOPS" -w "$WS" verify "$EXPORT_ID" --allow-below-floor  # 2 epochs: parity and latency, not quality
step "$CVOPS" -w "$WS" bundle "$EXPORT_ID" "$SCRATCH/edge-bundle"
step "$CVOPS" -w "$WS" deploy "$SCRATCH/edge-bundle" --to "$SCRATCH/deployed"
step "$WORKBENCH" "$WS" --screenshot "$SCRATCH/shot.png" --size 1280x720
step "$CVOPS" "$SCRATCH/png_check.py" "$SCRATCH/shot.png"
echo; echo "smoke: all steps passed (${APP_DIR})"
