#!/usr/bin/env bash
# Package a one-folder build as a .deb:
#   build_deb.sh APP_DIR ICONS_HICOLOR VERSION VARIANT OUT_DIR
# /opt/cvops-workbench (the folder), /usr/bin/cvops and /usr/bin/cvops-workbench (links), the menu entry
# (/usr/share/applications, which also offers "Open with CVOps Workbench" on folders) and the icons. The package
# name carries the variant (cvops-workbench-cpu / cvops-workbench-cuda); the two conflict. DEB_COMPRESS picks
# dpkg-deb's compressor (default xz; gzip builds faster). `apt remove` uninstalls.
set -euo pipefail
APP=${1:?APP_DIR}; ICONS=${2:?ICONS}; VERSION=${3:?VERSION}; VARIANT=${4:?VARIANT}; OUT=${5:?OUT_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
PKG=cvops-workbench-$VARIANT
OTHER=cvops-workbench-$([ "$VARIANT" = cpu ] && echo cuda || echo cpu)
# beside the build, so that the folder goes in as hard links rather than a second copy
ROOTFS=$(mktemp -d "$(dirname "$APP")/.deb-root.XXXXXX")
trap 'rm -rf "$ROOTFS"' EXIT
mkdir -p "$ROOTFS/DEBIAN" "$ROOTFS/opt" "$ROOTFS/usr/bin" "$ROOTFS/usr/share/applications" "$ROOTFS/usr/share/icons"
cp -al "$APP" "$ROOTFS/opt/cvops-workbench" 2>/dev/null || cp -a "$APP" "$ROOTFS/opt/cvops-workbench"
ln -s /opt/cvops-workbench/cvops "$ROOTFS/usr/bin/cvops"
ln -s /opt/cvops-workbench/cvops-workbench "$ROOTFS/usr/bin/cvops-workbench"
cp "$HERE/cvops-workbench.desktop" "$ROOTFS/usr/share/applications/"
cp -a "$ICONS" "$ROOTFS/usr/share/icons/hicolor"
SIZE_KB=$(du -sk --apparent-size "$ROOTFS" | cut -f1)
cat > "$ROOTFS/DEBIAN/control" <<CONTROL
Package: $PKG
Version: $VERSION
Architecture: $(dpkg --print-architecture)
Maintainer: CVOps Workbench developers <cvops-workbench@users.noreply.github.com>
Installed-Size: $SIZE_KB
Section: graphics
Priority: optional
Depends: libc6 (>= 2.28), libgl1, libegl1, libfontconfig1, libxkbcommon0, libdbus-1-3
Recommends: libxkbcommon-x11-0, libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, libxcb-shape0
Conflicts: $OTHER
Replaces: $OTHER
Provides: cvops-workbench
Description: Offline-first desktop workbench for computer vision ($VARIANT build)
 Import, label, version, train, export and deploy computer-vision datasets and
 models, with no network. Self-contained: Python, Qt, PyTorch ($VARIANT) and
 ONNX Runtime are inside /opt/cvops-workbench.
CONTROL
for script in postinst postrm; do
    cat > "$ROOTFS/DEBIAN/$script" <<'SCRIPT'
#!/bin/sh
set -e
command -v update-desktop-database >/dev/null && update-desktop-database -q /usr/share/applications || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true
exit 0
SCRIPT
    chmod 755 "$ROOTFS/DEBIAN/$script"
done
mkdir -p "$OUT"
nice -n 10 fakeroot dpkg-deb -Z"${DEB_COMPRESS:-xz}" --build "$ROOTFS" "$OUT/${PKG}_${VERSION}_$(dpkg --print-architecture).deb"
