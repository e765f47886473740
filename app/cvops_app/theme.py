"""The application's look: its icon, and a light or dark palette that follows the system or the user's choice.

``settings.theme`` (View ▸ Theme) is ``system``, ``light`` or ``dark``. ``system`` follows
``QStyleHints.colorScheme()`` and its ``colorSchemeChanged`` signal (Qt 6.5+: Windows, macOS, GNOME and KDE report
it). Dark is the Fusion style with :func:`dark_palette`; light is the platform's own style and palette, or Fusion's
light palette where the platform itself is dark. Widgets that paint with fixed colours (charts, the gallery's tiles)
read the palette and restyle on ``QEvent.PaletteChange``; icons (:mod:`cvops_app.icons`) are painted in the palette's
colours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication, QMenu, QStyleFactory

from cvops.catalog.settings import THEMES

RESOURCES = Path(__file__).resolve().parent / "resources"
APP_ICON = RESOURCES / "cvops-workbench.svg"
THEME_TITLES = {"system": "Follow the &system", "light": "&Light", "dark": "&Dark"}
_APPLIED = "cvopsTheme"  # application property: the look applied last ("native", "light" or "dark")
_MODE = "cvopsThemeMode"  # application property: the mode applied last (one of THEMES)


def app_icon() -> QIcon:
    """The application's icon (a vector drawing: sharp at every size and pixel ratio)."""
    return QIcon(str(APP_ICON))


def dark_palette() -> QPalette:
    """A dark palette for the Fusion style: light text on dark greys, a blue highlight, dimmed disabled text."""
    palette = QPalette()
    role = QPalette.ColorRole
    colors = {
        role.Window: "#2b2b2b", role.WindowText: "#e6e6e6", role.Base: "#1f1f1f", role.AlternateBase: "#292929",
        role.ToolTipBase: "#3a3a3a", role.ToolTipText: "#f0f0f0", role.PlaceholderText: "#8c8c8c",
        role.Text: "#e6e6e6", role.Button: "#353535", role.ButtonText: "#e6e6e6", role.BrightText: "#ff6b6b",
        role.Light: "#4a4a4a", role.Midlight: "#404040", role.Mid: "#303030", role.Dark: "#1a1a1a",
        role.Shadow: "#000000", role.Highlight: "#2f6fd0", role.HighlightedText: "#ffffff", role.Link: "#6aa7ff",
        role.LinkVisited: "#b08cff",
    }
    for r, value in colors.items():
        palette.setColor(r, QColor(value))
    disabled = QPalette.ColorGroup.Disabled
    for r in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(disabled, r, QColor("#7a7a7a"))
    palette.setColor(disabled, role.Highlight, QColor("#454545"))
    palette.setColor(disabled, role.HighlightedText, QColor("#9a9a9a"))
    return palette


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether ``palette`` (default: the application's) has light text on a dark window."""
    palette = palette or QGuiApplication.palette()
    role = QPalette.ColorRole
    return palette.color(role.Window).lightness() < palette.color(role.WindowText).lightness()


def system_is_dark() -> bool:
    """Whether the system asks for a dark look (``QStyleHints.colorScheme()``)."""
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


class Theme(QObject):
    """Applies ``settings.theme`` to the application and, for ``system``, follows the system's changes. The mode
    and the look applied are the application's (properties of the ``QApplication``): every ``Theme`` object (one
    per main window) agrees on them."""

    def __init__(self, mode: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        app = QApplication.instance()
        if app.property(_APPLIED) is None:  # the platform's own look, before any theme was applied
            app.setProperty(_APPLIED, "native")
            app.setProperty("cvopsNativeStyle", app.style().name())
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._system_changed)
        self.apply(mode if mode in THEMES else "system")

    @property
    def mode(self) -> str:
        """The mode applied last: ``system``, ``light`` or ``dark``."""
        return QApplication.instance().property(_MODE) or "system"

    def _system_changed(self, _scheme: Qt.ColorScheme) -> None:
        if self.mode == "system":
            self.apply("system")

    def apply(self, mode: str) -> None:
        """Switch to ``mode`` (``system``, ``light`` or ``dark``); nothing happens when that look is already on."""
        app = QApplication.instance()
        app.setProperty(_MODE, mode)
        dark = mode == "dark" or (mode == "system" and system_is_dark())
        look = "dark" if dark else ("light" if system_is_dark() else "native")
        if app.property(_APPLIED) == look:
            return
        app.setProperty(_APPLIED, look)
        if look == "native":
            app.setStyle(app.property("cvopsNativeStyle"))
            app.setPalette(QPalette())  # back to the platform's palette
        else:
            fusion = QStyleFactory.create("Fusion")
            app.setStyle(fusion)
            app.setPalette(dark_palette() if dark else fusion.standardPalette())
        for widget in app.allWidgets():  # style sheets read palette(...) once: read it again
            if widget.styleSheet():
                widget.setStyleSheet(widget.styleSheet())


def theme_menu(parent: QMenu, current: str, choose: Callable[[str], None]) -> QMenu:
    """A "Theme" submenu of ``parent`` with the choices of :data:`THEMES` (``current`` checked); picking one calls
    ``choose(mode)``."""
    menu = parent.addMenu("&Theme")
    group = QActionGroup(menu)
    for mode in THEMES:
        action = QAction(THEME_TITLES[mode], menu, checkable=True, checked=mode == current)
        action.setData(mode)
        action.triggered.connect(lambda _checked=False, m=mode: choose(m))
        group.addAction(action)
        menu.addAction(action)
    return menu
