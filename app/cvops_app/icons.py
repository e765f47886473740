"""Icons for actions and pages, drawn from the Material Design Icons font that qtawesome bundles (``mdi6``).

The names in :data:`ICONS` are the app's actions (``icon("undo")``); their values are qtawesome names. To keep start-up
light, the font and its name → code point map are read straight from qtawesome's package folder on the first icon
(about 4 ms, most of it Qt reading the font; the map is searched for the names painted, not parsed whole), without
importing qtawesome and QtPy (about 0.4 s). Each glyph is painted when Qt asks for a pixmap, at
the device pixel ratio asked for (sharp on high-DPI screens) and in the colours of the palette of that moment, so
icons follow the light or dark theme without being made again.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
from pathlib import Path
from typing import Optional, Union

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import (
    QAction, QColor, QFont, QFontDatabase, QGuiApplication, QIcon, QIconEngine, QPainter, QPalette, QPixmap,
)
from PySide6.QtWidgets import QAbstractButton, QMenu, QToolButton

FONT = "materialdesignicons6-webfont-6.9.96.ttf"
CHARMAP = "materialdesignicons6-webfont-charmap-6.9.96.json"
GLYPH_SCALE = 0.95  # the glyph's height in the icon's square (MDI glyphs have their own padding)

# action or page -> qtawesome name
ICONS = {
    # pages (the navigation)
    "images": "mdi6.image-multiple-outline",
    "annotate": "mdi6.vector-square",
    "versions": "mdi6.source-branch",
    "train": "mdi6.school-outline",
    "tune": "mdi6.tune-variant",
    "models": "mdi6.cube-outline",
    "automation": "mdi6.robot-outline",
    "monitor": "mdi6.monitor-dashboard",
    # actions
    "new": "mdi6.folder-plus-outline",
    "open": "mdi6.folder-open-outline",
    "demo": "mdi6.play-box-outline",
    "import": "mdi6.database-import-outline",
    "import-images": "mdi6.image-plus",
    "export": "mdi6.export",
    "export-model": "mdi6.package-variant-closed",
    "undo": "mdi6.undo",
    "redo": "mdi6.redo",
    "delete": "mdi6.trash-can-outline",
    "restore": "mdi6.delete-restore",
    "filter": "mdi6.filter-variant",
    "clear-filter": "mdi6.filter-remove-outline",
    "search": "mdi6.magnify",
    "zoom-in": "mdi6.magnify-plus-outline",
    "zoom-out": "mdi6.magnify-minus-outline",
    "zoom-fit": "mdi6.fit-to-screen-outline",
    "previous": "mdi6.chevron-left",
    "next": "mdi6.chevron-right",
    "start": "mdi6.play",
    "stop": "mdi6.stop",
    "refresh": "mdi6.refresh",
    "add": "mdi6.plus",
    "remove": "mdi6.minus",
    "edit": "mdi6.pencil-outline",
    "classes": "mdi6.shape-outline",
    "tag": "mdi6.tag-outline",
    "prelabel": "mdi6.auto-fix",
    "compare": "mdi6.compare-horizontal",
    "evaluate": "mdi6.chart-box-outline",
    "champion": "mdi6.trophy-outline",
    "deploy": "mdi6.rocket-launch-outline",
    "settings": "mdi6.cog-outline",
    "theme": "mdi6.theme-light-dark",
    "help": "mdi6.help-circle-outline",
    "keyboard": "mdi6.keyboard-outline",
    "folder": "mdi6.folder-outline",
    "check": "mdi6.check",
    "status": "mdi6.list-status",
    "select": "mdi6.cursor-default-outline",
    "box": "mdi6.vector-rectangle",
    "polygon": "mdi6.vector-polygon",
    "actual-size": "mdi6.magnify-expand",
    "labels": "mdi6.label-outline",
    "queue": "mdi6.playlist-play",
    "cancel": "mdi6.close-circle-outline",
    "resume": "mdi6.play-pause",
    "send": "mdi6.send-outline",
    "browse": "mdi6.folder-search-outline",
    "copy": "mdi6.content-copy",
    "rename": "mdi6.form-textbox",
    "color": "mdi6.palette-outline",
    "up": "mdi6.arrow-up",
    "down": "mdi6.arrow-down",
    "merge": "mdi6.call-merge",
    "file": "mdi6.file-outline",
}


def _fonts_folder() -> Optional[Path]:
    spec = importlib.util.find_spec("qtawesome")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "fonts"


@functools.lru_cache(maxsize=1)
def _font() -> tuple[str, str]:
    """The icon font's family (registered with Qt once) and the text of its name → code point map (JSON); empty
    when qtawesome's font is missing: icons are then blank, the app works on."""
    folder = _fonts_folder()
    if folder is None or not (folder / FONT).is_file():
        return "", ""
    font_id = QFontDatabase.addApplicationFont(str(folder / FONT))
    families = QFontDatabase.applicationFontFamilies(font_id) if font_id >= 0 else []
    return (families[0] if families else ""), (folder / CHARMAP).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=None)
def code_point(name: str) -> Optional[int]:
    """The code point of glyph ``name`` (``"undo"``), or None when the font has no such glyph. Found in the map's
    text as qtawesome writes it (``"undo": "0xf054c"``: a string search, well under 0.1 ms), the whole map parsed
    only for a name not found so (7,000 names: about 3 ms)."""
    charmap = _font()[1]
    start = charmap.find(f'"{name}": "0x')
    if start >= 0:
        start += len(name) + 5
        end = charmap.find('"', start)
        with contextlib.suppress(ValueError):
            return int(charmap[start:end], 16)
    return glyphs()[1].get(name)


@functools.lru_cache(maxsize=1)
def glyphs() -> tuple[str, dict[str, int]]:
    """The icon font's family and its whole map of names to code points (empty when the font is missing)."""
    import json  # not at start-up: the painted icons look their names up with code_point

    family, charmap = _font()
    return family, {name: int(code, 16) for name, code in (json.loads(charmap) if charmap else {}).items()}


@functools.lru_cache(maxsize=64)
def _glyph_font(family: str, pixels: int) -> QFont:
    font = QFont(family)
    font.setPixelSize(pixels)
    return font


def glyph_color(mode: QIcon.Mode) -> QColor:
    """The colour an icon is painted in for ``mode``: the application palette's button text (dimmed when disabled,
    the highlighted text when selected)."""
    palette = QGuiApplication.palette()
    if mode == QIcon.Mode.Disabled:
        return palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText)
    if mode == QIcon.Mode.Selected:
        return palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.HighlightedText)
    return palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.ButtonText)


class GlyphEngine(QIconEngine):
    """Paints one glyph of the icon font, in the palette's colour, at any size and pixel ratio."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:  # noqa: D102
        family = _font()[0]
        code = code_point(self.name.split(".", 1)[-1])
        if code is None or not family:
            return
        font = _glyph_font(family, max(1, round(min(rect.width(), rect.height()) * GLYPH_SCALE)))
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        painter.setFont(font)
        painter.setPen(glyph_color(mode))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, chr(code))
        painter.restore()

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:  # noqa: D102
        return self.scaledPixmap(size, mode, state, 1.0)

    def scaledPixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State,  # noqa: N802 (Qt)
                     scale: float) -> QPixmap:
        """The glyph at ``size`` (device-independent pixels) times ``scale`` (the device pixel ratio)."""
        pixmap = QPixmap(size * scale)
        pixmap.setDevicePixelRatio(scale)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        self.paint(painter, QRect(QPoint(0, 0), size), mode, state)
        painter.end()
        return pixmap

    def clone(self) -> QIconEngine:  # noqa: D102
        return GlyphEngine(self.name)

    def key(self) -> str:  # noqa: D102
        return "cvops-glyph"

    def isNull(self) -> bool:  # noqa: N802, D102 (Qt)
        return False


def icon(action: str) -> QIcon:
    """The icon of an action or page in :data:`ICONS` (or a qtawesome name such as ``"mdi6.tag"``)."""
    return QIcon(GlyphEngine(ICONS.get(action, action)))


def set_icon(target: Union[QAbstractButton, QAction, QMenu], action: str, text: bool = True) -> None:
    """Give a button, action or menu the icon of ``action``; a tool button keeps its text beside the icon unless
    ``text`` is False (then the text is its tooltip's business)."""
    target.setIcon(icon(action))
    if isinstance(target, QToolButton):
        target.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon if text
                                  else Qt.ToolButtonStyle.ToolButtonIconOnly)
