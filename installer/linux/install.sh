#!/bin/sh
# Install CVOps Workbench from this unpacked tarball for the current user, with no root and no network:
#   ./install.sh [PREFIX]        (PREFIX defaults to ~/.local)
# PREFIX/lib/cvops-workbench     the application folder
# PREFIX/bin/cvops, cvops-workbench   links to its executables (put PREFIX/bin on PATH)
# PREFIX/share/applications/cvops-workbench.desktop and PREFIX/share/icons/hicolor/*/apps/cvops-workbench.png
# ./uninstall.sh [PREFIX] removes exactly these.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=${1:-${HOME:?HOME is not set}/.local}
[ -x "$HERE/cvops-workbench/cvops" ] || { echo "install.sh: run it from the unpacked tarball" >&2; exit 2; }
mkdir -p "$PREFIX/lib" "$PREFIX/bin" "$PREFIX/share/applications"
rm -rf "$PREFIX/lib/cvops-workbench.new"
cp -a "$HERE/cvops-workbench" "$PREFIX/lib/cvops-workbench.new"
rm -rf "$PREFIX/lib/cvops-workbench"
mv "$PREFIX/lib/cvops-workbench.new" "$PREFIX/lib/cvops-workbench"
for exe in cvops cvops-workbench; do
    ln -sfn "$PREFIX/lib/cvops-workbench/$exe" "$PREFIX/bin/$exe"
done
sed "s|^Exec=cvops-workbench|Exec=$PREFIX/bin/cvops-workbench|" "$HERE/share/applications/cvops-workbench.desktop" \
    > "$PREFIX/share/applications/cvops-workbench.desktop"
for icon in "$HERE"/share/icons/*/apps/cvops-workbench.png; do
    size=$(basename "$(dirname "$(dirname "$icon")")")
    mkdir -p "$PREFIX/share/icons/hicolor/$size/apps"
    cp "$icon" "$PREFIX/share/icons/hicolor/$size/apps/cvops-workbench.png"
done
command -v update-desktop-database >/dev/null && update-desktop-database -q "$PREFIX/share/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$PREFIX/share/icons/hicolor" || true
echo "installed CVOps Workbench into $PREFIX (menu entry: CVOps Workbench; commands: $PREFIX/bin/cvops, cvops-workbench)"
case ":$PATH:" in *":$PREFIX/bin:"*) ;; *) echo "note: $PREFIX/bin is not on PATH" ;; esac
