"""Draw the application icon at build time: PNGs (16-512 px), a Windows ``.ico`` and a macOS ``.icns``.

``python installer/make_icons.py SVG OUT_DIR`` renders the SVG with Qt's SVG renderer and writes
``OUT_DIR/cvops-workbench.{png,ico,icns}`` and ``OUT_DIR/hicolor/SIZExSIZE/apps/cvops-workbench.png`` (the
freedesktop icon theme layout the .deb and the tarball install).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
NAME = "cvops-workbench"


def render(svg: Path, size: int) -> "object":
    """The SVG drawn on a transparent ``size`` x ``size`` square, as a Pillow image."""
    from PIL import Image
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer
    import io

    _ = QGuiApplication.instance() or QGuiApplication(["make_icons"])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG image")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    return Image.open(io.BytesIO(bytes(data))).convert("RGBA")


def make_icons(svg: Path, out: Path) -> list[Path]:
    """Write every icon file for ``svg`` under ``out``; returns the paths written."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    out.mkdir(parents=True, exist_ok=True)
    images = {size: render(svg, size) for size in SIZES}
    written = []
    for size, image in images.items():
        path = out / "hicolor" / f"{size}x{size}" / "apps" / f"{NAME}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
        written.append(path)
    images[256].save(out / f"{NAME}.png")
    images[256].save(out / f"{NAME}.ico", sizes=[(s, s) for s in SIZES if s <= 256])
    images[512].save(out / f"{NAME}.icns")
    written += [out / f"{NAME}.png", out / f"{NAME}.ico", out / f"{NAME}.icns"]
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("svg", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if not args.svg.is_file():
        print(f"{args.svg}: no such SVG file", file=sys.stderr)
        return 2
    for path in make_icons(args.svg, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
