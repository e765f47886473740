"""Nothing is clipped at common screen sizes: the main window at 1280x720 and 1920x1080 (offscreen), on every page
of the session's trained workspace (images, versions, models and runs to show) and on the welcome page, keeps the
size asked for, every visible widget lies inside its parent, labels show their whole text (or wrap) and buttons
their whole text. And the dark theme: a dark window with light text, charts on a dark background."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from PySide6.QtCore import QRect, QSettings, Qt
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QAbstractButton, QAbstractScrollArea, QApplication, QLabel, QScrollBar, QTabBar, QWidget,
)

from cvops_app import theme
from cvops_app.mainwindow import PAGES, MainWindow
from training_testing import copy_workspace

SIZES = [(1280, 720), (1920, 1080)]
SLACK = 1  # pixels of rounding


def settle(window: MainWindow) -> None:
    """Let background loads finish and their results be shown."""
    app = QApplication.instance()
    for _ in range(400):
        app.processEvents()
        if not window.jobs.running and window.jobs.pool.activeThreadCount() == 0 and all(
                getattr(p, "settled", lambda: True)() for p in window.pages.built()):
            break
        window.jobs.pool.waitForDone(20)
    for _ in range(5):
        app.processEvents()


def _scrolled(widget: QWidget) -> bool:
    """Whether ``widget`` sits in the scrolled content of a scroll area (larger than its viewport by design), or is
    part of a scroll area's or tab bar's own machinery."""
    parent = widget.parentWidget()
    while parent is not None:
        grand = parent.parentWidget()
        if isinstance(grand, QAbstractScrollArea) and parent is grand.viewport():
            return True
        parent = grand
    return isinstance(widget, QScrollBar) or isinstance(widget.parentWidget(), (QTabBar, QAbstractScrollArea))


def _name(widget: QWidget) -> str:
    text = widget.text() if isinstance(widget, (QLabel, QAbstractButton)) else ""
    return f"{type(widget).__name__}({widget.objectName() or text[:40]!r})"


def clipping_problems(root: QWidget) -> list[str]:
    """What is cut off among the visible widgets under ``root``: a widget outside its parent, a label narrower than
    its text (without word wrap), a button narrower than its text and icon."""
    problems = []
    for widget in root.findChildren(QWidget):
        parent = widget.parentWidget()
        if not widget.isVisible() or widget.isWindow() or parent is None or _scrolled(widget):
            continue
        inside = parent.rect().adjusted(-SLACK, -SLACK, SLACK, SLACK)
        if not inside.contains(widget.geometry()):
            problems.append(f"{_name(widget)} at {_rect(widget.geometry())} outside {_name(parent)} "
                            f"{_rect(parent.rect())}")
        if isinstance(widget, QLabel) and widget.text() and not widget.wordWrap() and widget.pixmap().isNull():
            need = widget.sizeHint().width()
            if widget.width() + SLACK < need:
                problems.append(f"{_name(widget)} is {widget.width()} px wide, its text needs {need}")
        elif isinstance(widget, QAbstractButton) and widget.text():
            need = widget.minimumSizeHint().width() if widget.minimumSizeHint().isValid() else 0
            need = max(need, widget.sizeHint().width())
            if widget.width() + SLACK < need:
                problems.append(f"{_name(widget)} is {widget.width()} px wide, its text needs {need}")
    return problems


def _rect(rect: QRect) -> str:
    return f"{rect.x()},{rect.y()} {rect.width()}x{rect.height()}"


@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:  # noqa: ANN001
    """A main window with its settings in ``tmp_path`` (no workspace open yet)."""
    monkeypatch.setenv("CVOPS_CONFIG_DIR", str(tmp_path / "config"))
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    main = MainWindow(settings_path=tmp_path / "config" / "settings.yaml")
    qtbot.addWidget(main)
    yield main
    main.theme.apply("system")
    main.jobs.cancel_all()
    main.jobs.wait(60_000)
    main.close()


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_nothing_is_clipped_on_any_page(window: MainWindow, trained_workspace: Path, tmp_path: Path,
                                        size: tuple[int, int]) -> None:
    window.resize(*size)
    window.show()
    settle(window)
    assert (window.width(), window.height()) == size, "the window's minimum size is larger than the screen"
    assert clipping_problems(window) == [], "welcome page"
    assert window.load_workspace(copy_workspace(trained_workspace, tmp_path / "ws"))
    for name in PAGES:
        window.show_page(name)
        settle(window)
        assert (window.width(), window.height()) == size, f"page {name} made the window grow"
        assert clipping_problems(window) == [], f"page {name}"


def test_the_checker_finds_a_clipped_label_and_a_widget_outside_its_parent(qtbot) -> None:  # noqa: ANN001
    host = QWidget()
    qtbot.addWidget(host)
    host.resize(200, 100)
    label = QLabel("a label whose text is far wider than its forty pixels", host)
    label.setGeometry(0, 0, 40, 20)
    QLabel("outside", host).setGeometry(180, 80, 60, 30)
    host.show()
    problems = clipping_problems(host)
    assert len(problems) == 2 and "needs" in problems[0] and "outside QWidget" in problems[1]
    label.setWordWrap(True)
    assert len(clipping_problems(host)) == 1


def test_dark_theme_gives_a_dark_window_light_text_and_dark_charts(window: MainWindow, trained_workspace: Path,
                                                                   tmp_path: Path) -> None:
    window.resize(1280, 720)
    window.show()
    assert window.load_workspace(copy_workspace(trained_workspace, tmp_path / "ws"))
    window.show_page("train")
    settle(window)
    chart = window.pages["train"].charts.charts[0]
    light_background = chart.backgroundBrush().color().lightness()
    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    themes = next(a.menu() for a in view.actions() if a.menu() is not None and a.text() == "&Theme")
    next(a for a in themes.actions() if a.data() == "dark").trigger()  # View ▸ Theme ▸ Dark
    QApplication.processEvents()
    palette = window.palette()
    assert palette.color(QPalette.ColorRole.Window).lightness() < 80
    assert palette.color(QPalette.ColorRole.WindowText).lightness() > 180
    assert light_background > 200 and chart.backgroundBrush().color().lightness() < 80
    assert window.settings.theme == "dark" and "theme: dark" in (tmp_path / "config" / "settings.yaml").read_text()
    image = window.grab().toImage()
    assert image.pixelColor(image.width() // 2, image.height() - 8).lightness() < 80  # the status bar
    nav = window.nav.grab().toImage()  # a style sheet's palette(window) is read again
    assert nav.pixelColor(nav.width() // 2, nav.height() - 8).lightness() < 80
    window.set_theme("light")
    QApplication.processEvents()
    assert window.palette().color(QPalette.ColorRole.Window).lightness() > 180
    assert chart.backgroundBrush().color().lightness() > 200


def test_the_system_theme_follows_the_systems_colour_scheme(qapp, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    system_dark = [False]
    monkeypatch.setattr(theme, "system_is_dark", lambda: system_dark[0])
    follower = theme.Theme("system")
    try:
        assert not theme.is_dark()
        system_dark[0] = True  # the desktop turns dark: Qt emits colorSchemeChanged
        QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
        assert theme.is_dark() and QApplication.style().name() == "fusion"
        follower.apply("light")  # a fixed choice ignores the system from then on
        assert not theme.is_dark()
        QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
        assert not theme.is_dark()
    finally:
        system_dark[0] = False
        follower.apply("system")
        follower.deleteLater()
    assert not theme.is_dark()
