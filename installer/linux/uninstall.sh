#!/bin/sh
# Remove what install.sh put under PREFIX (default ~/.local); workspaces and settings are left alone.
set -eu
PREFIX=${1:-${HOME:?HOME is not set}/.local}
rm -rf "$PREFIX/lib/cvops-workbench"
for exe in cvops cvops-workbench; do
    [ -L "$PREFIX/bin/$exe" ] && rm -f "$PREFIX/bin/$exe"
done
rm -f "$PREFIX/share/applications/cvops-workbench.desktop"
rm -f "$PREFIX"/share/icons/hicolor/*/apps/cvops-workbench.png
command -v update-desktop-database >/dev/null && update-desktop-database -q "$PREFIX/share/applications" || true
echo "removed CVOps Workbench from $PREFIX"
