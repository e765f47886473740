#!/usr/bin/env bash
# Build the self-contained Linux application: a PyInstaller one-folder build, a .tar.gz (install.sh/uninstall.sh
# into ~/.local) and a .deb, then smoke-test the build. `make installer [VARIANT=cpu|cuda]` runs this.
#   installer/build.sh [cpu|cuda]
# Everything lands under build/installer/ (git-ignored):
#   build/installer-venv-VARIANT/       the build environment (never the project's .venv)
#   build/installer/VARIANT/dist/cvops-workbench/   the one-folder build (both executables)
#   build/installer/out/                the .tar.gz, the .deb and sizes-VARIANT.json
# Variables: PYTHON (python3.11+ with a shared libpython), ICON_SVG (the application icon), TORCH_CPU_INDEX (where
# the CPU variant's +cpu torch/torchvision come from; default PyTorch's CPU index, empty: only pip's own indexes),
# PIP_EXTRA (more pip arguments), DEB_COMPRESS (xz or gzip), SMOKE=0 to skip the smoke test.
set -euo pipefail
VARIANT=${1:-${VARIANT:-cpu}}
case "$VARIANT" in cpu|cuda) ;; *) echo "build.sh: VARIANT must be cpu or cuda, not '$VARIANT'" >&2; exit 2 ;; esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python3}
VENV=build/installer-venv-$VARIANT
WORK=build/installer/$VARIANT
OUT=build/installer/out
ICONS=build/installer/icons
APP=$WORK/dist/cvops-workbench
NICE=(nice -n 10)
VERSION=$("$PYTHON" -c "import re; print(re.search(r'^version = \"(.+)\"', open('pyproject.toml').read(), re.M).group(1))")
ARCH=$(uname -m)
NAME=cvops-workbench-$VERSION-linux-$ARCH-$VARIANT

# 1. The build environment: the variant's requirements under the lock file's pins (installer/requirements.py)
STAMP=$VENV/.installed
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ] || [ constraints.txt -nt "$STAMP" ]; then
    echo "== build environment $VENV"
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$PYTHON" installer/requirements.py "$VARIANT" > "$VENV/requirements.txt"
    "$PYTHON" installer/requirements.py "$VARIANT" --constraints > "$VENV/constraints.txt"
    EXTRA=${PIP_EXTRA:-}
    if [ "$VARIANT" = cpu ] && [ -n "${TORCH_CPU_INDEX-https://download.pytorch.org/whl/cpu}" ]; then
        # the +cpu torch and torchvision wheels (installer/README.md: why not PyPI's torchvision)
        EXTRA="$EXTRA --extra-index-url ${TORCH_CPU_INDEX-https://download.pytorch.org/whl/cpu}"
    fi
    if ! "${NICE[@]}" "$VENV/bin/python" -m pip install --quiet -r "$VENV/requirements.txt" \
            -c "$VENV/constraints.txt" $EXTRA; then
        echo "build.sh: installing the $VARIANT build environment failed (pip's message above). The CPU variant" \
             "needs PyTorch's CPU wheels: TORCH_CPU_INDEX=URL names their index, PIP_EXTRA adds pip arguments." >&2
        exit 1
    fi
    touch "$STAMP"
fi

# 2. The icon, drawn from the application's SVG (PNG sizes, .ico, .icns)
ICON_SVG=${ICON_SVG:-app/cvops_app/resources/cvops-workbench.svg}
if [ ! -f "$ICON_SVG" ]; then
    echo "build.sh: $ICON_SVG is missing: set ICON_SVG=path/to/icon.svg" >&2
    exit 2
fi
"$VENV/bin/python" installer/make_icons.py "$ICON_SVG" "$ICONS" > /dev/null

# 3. The one-folder build
echo "== pyinstaller ($VARIANT)"
rm -rf "$WORK/dist"
CVOPS_VARIANT=$VARIANT CVOPS_ICON_DIR=$ROOT/$ICONS "${NICE[@]}" "$VENV/bin/pyinstaller" --noconfirm --log-level WARN \
    --distpath "$WORK/dist" --workpath "$WORK/work" installer/cvops.spec
"$VENV/bin/python" installer/prune.py "$APP" --variant "$VARIANT"
echo "$VARIANT" > "$APP/_internal/cvops-variant.txt"

# 4. The tarball: the folder, install.sh/uninstall.sh, the menu entry and the icons
echo "== tarball"
mkdir -p "$OUT"
STAGE=$WORK/tarball/$NAME
rm -rf "$WORK/tarball" && mkdir -p "$STAGE/share/applications"
cp -al "$APP" "$STAGE/cvops-workbench" 2>/dev/null || cp -a "$APP" "$STAGE/cvops-workbench"  # hard links: no copy
cp -a "$ICONS/hicolor" "$STAGE/share/icons"
cp installer/linux/cvops-workbench.desktop "$STAGE/share/applications/"
cp installer/linux/install.sh installer/linux/uninstall.sh "$STAGE/"
"${NICE[@]}" tar -C "$WORK/tarball" -czf "$OUT/$NAME.tar.gz" "$NAME"
rm -rf "$WORK/tarball"

# 5. The .deb: /opt/cvops-workbench, /usr/bin links, the menu entry and icons under /usr/share
echo "== deb"
installer/linux/build_deb.sh "$APP" "$ICONS/hicolor" "$VERSION" "$VARIANT" "$OUT"

# 6. Sizes, then the smoke test on the build
"$VENV/bin/python" installer/sizes.py "$APP" "$OUT" "$VARIANT" | tee "$OUT/sizes-$VARIANT.json"
if [ "${SMOKE:-1}" = 1 ]; then
    installer/smoke_test.sh "$APP"
fi
