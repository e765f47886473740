#!/usr/bin/env bash
# Package the macOS build (PyInstaller's BUNDLE: "CVOps Workbench.app") as a .dmg with an Applications link:
#   installer/macos/build_dmg.sh APP_BUNDLE OUT.dmg
# Run on macOS (hdiutil); the CI workflow (.github/workflows/installers.yml) does. Uninstall: drag the app to the
# Trash. The `cvops` command line is inside: "CVOps Workbench.app/Contents/MacOS/cvops".
set -euo pipefail
APP=${1:?APP_BUNDLE}; DMG=${2:?OUT.dmg}
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
rm -f "$DMG"
hdiutil create -volname "CVOps Workbench" -srcfolder "$STAGE" -ov -format UDZO "$DMG"
