#!/usr/bin/env bash
# What CPU-only training costs (the README's install section quotes it): prints one JSON object per measurement.
#   installer/measure_cpu_training.sh [CVOPS] [PHOTOS_DIR]
# CVOPS: the cvops command to measure (default: cvops on PATH, e.g. a built application's).
# 1. "demo": as `make demo` trains: cvops demo (256 synthetic 320-px images), a 75/25 version, --preset fast
#    --epochs 20 --imgsz 160; seconds per epoch from the run's epoch events.
# 2. "photos": the fast preset (yolo11n, 320 px) on PHOTOS_DIR, a labelled dataset of photographs (default: the
#    200-photo raccoon Pascal VOC set in ../shared/datasets), 80/20; PHOTO_EPOCHS epochs (default 3) are timed and
#    the preset's 30 epochs extrapolated from them (its patience can stop earlier).
set -euo pipefail
CVOPS=${1:-cvops}
PHOTOS=${2:-$(cd "$(dirname "$0")/.." && pwd)/../shared/datasets/raccoon}
PHOTO_EPOCHS=${PHOTO_EPOCHS:-3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

per_epoch() {  # WS RUN_ID LABEL EXTRA_JSON: the run's seconds per epoch from events.jsonl
    python3 - "$1/runs/run-$(printf %04d "$2")/events.jsonl" "$3" "$4" <<'PY'
import json, sys
events = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
started = next(e["at"] for e in events if e["event"] == "started")
epochs = [e["at"] for e in events if e["event"] == "epoch"]
finished = max(e["at"] for e in events)
report = {"measure": sys.argv[2], "epochs": len(epochs),
          "first_epoch_s": round(epochs[0] - started, 1),
          "s_per_epoch": round((epochs[-1] - started) / len(epochs), 1),
          "run_s": round(finished - started, 1), **json.loads(sys.argv[3])}
if "preset_epochs" in report:
    report["preset_minutes_estimate"] = round(report["s_per_epoch"] * report["preset_epochs"] / 60, 1)
print(json.dumps(report))
PY
}

"$CVOPS" demo "$TMP/demo" --count 256 > /dev/null
"$CVOPS" -w "$TMP/demo" version create -m "every demo image" --split 75/25 --resplit > /dev/null
"$CVOPS" -w "$TMP/demo" train --version v2 --preset fast --epochs 20 --imgsz 160 > /dev/null
per_epoch "$TMP/demo" 1 demo '{"images": 256, "imgsz": 160}'

if [ -d "$PHOTOS" ]; then
    "$CVOPS" init "$TMP/photos" > /dev/null
    "$CVOPS" -w "$TMP/photos" import-dataset "$PHOTOS" > /dev/null || true  # exit 1 when an image was skipped
    "$CVOPS" -w "$TMP/photos" version create -m photos --split 80/20 > /dev/null
    "$CVOPS" -w "$TMP/photos" train --version v1 --preset fast --epochs "$PHOTO_EPOCHS" > /dev/null
    per_epoch "$TMP/photos" 1 photos "{\"photos\": \"$(basename "$PHOTOS")\", \"imgsz\": 320, \"preset_epochs\": 30}"
fi
