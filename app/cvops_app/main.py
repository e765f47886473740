"""``cvops-workbench [WORKSPACE] [--screenshot OUT.png] [--page PAGE]
[--size 1600x1000] [--theme system|light|dark]``."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

# the main window's pages (mainwindow.PAGES, not imported here: the GUI loads after the arguments are read)
PAGE_NAMES = ("images", "annotate", "versions", "train", "tune", "models", "automation", "monitor")
SETTLED_POLLS = 5  # the screenshot waits for this many idle polls in a row (20 ms apart)
NO_DISPLAY = ("cvops-workbench: no display found (DISPLAY / WAYLAND_DISPLAY are unset).\n"
              "Run it on a desktop, or try the headless demo: `make demo`, then `cvops -w demo-workspace stats`.\n"
              "To render the window without a display: cvops-workbench WORKSPACE --screenshot out.png")


def _parse(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cvops-workbench", description="CVOps Workbench desktop application.")
    parser.add_argument("workspace", nargs="?", type=Path, help="workspace folder to open")
    parser.add_argument("--screenshot", type=Path, help="render the window offscreen to this PNG and exit")
    parser.add_argument("--page", choices=PAGE_NAMES, default="images",
                        help="page for --screenshot (without a workspace: the welcome page)")
    parser.add_argument("--size", default="1600x1000", help="window size for --screenshot, WIDTHxHEIGHT")
    parser.add_argument("--theme", choices=("system", "light", "dark"),
                        help="look for this run (default: the settings' theme, View ▸ Theme)")
    args = parser.parse_args(argv)
    try:
        args.width, args.height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must be WIDTHxHEIGHT, not {args.size!r}")
    return args


def has_display() -> bool:
    """True when Qt can open windows here (a display, or an explicit platform such as offscreen)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
                or sys.platform in ("win32", "darwin"))


def screenshot(window: "object", app: "object", out: Path, page: str, timeout_s: float = 20.0) -> None:
    """Show ``page``, let background work (thumbnails, image loading) settle, and save the window as PNG. Without
    a workspace the window shows the welcome page, whatever ``page`` says."""
    if window.ws is not None:
        window.show_page(page)
    deadline = time.monotonic() + timeout_s
    if page == "annotate" and window.ws is not None:
        gallery = window.pages["images"]
        while not gallery.settled() and time.monotonic() < deadline:  # the gallery loads its ids in the background
            app.processEvents()
            time.sleep(0.02)
        ids = gallery.current_ids()
        if len(ids):
            window.open_annotator(ids[0], ids)
    quiet = 0  # polls in a row with nothing to wait for: a result just applied may still ask for more when painted
    while time.monotonic() < deadline and quiet < SETTLED_POLLS:
        app.processEvents()
        idle = not window.jobs.running and window.jobs.pool.activeThreadCount() == 0 and all(
            getattr(p, "settled", lambda: True)() for p in window.pages.built())
        quiet = quiet + 1 if idle else 0
        time.sleep(0.02)
    for _ in range(5):
        app.processEvents()
    out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out))


def startup_workspace(given: Optional[Path], recent: Sequence[str]) -> Optional[Path]:
    """The workspace to open at start: the one given, else the last one used while it still is a workspace (when it
    is gone, the welcome page shows it greyed in its recent list rather than a message box)."""
    if given is not None:
        return given
    if recent and (Path(recent[0]) / "cvops.db").is_file():
        return Path(recent[0])
    return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Start the workbench; returns the process exit code."""
    args = _parse(argv)
    if args.screenshot:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    elif not has_display():
        print(NO_DISPLAY, file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    from cvops_app.mainwindow import MainWindow
    from cvops_app.theme import app_icon

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("CVOps Workbench")
    app.setDesktopFileName("cvops-workbench")  # Wayland finds the icon and menu entry by the .desktop file's name
    app.setWindowIcon(app_icon())
    window = MainWindow()
    if args.theme:
        window.theme.apply(args.theme)
    target = startup_workspace(args.workspace, [] if args.screenshot else window.settings.recent_workspaces)
    if target is not None and not window.load_workspace(target) and args.screenshot:
        return 2
    if args.screenshot:
        window.resize(args.width, args.height)
        window.show()
        screenshot(window, app, args.screenshot, args.page)
        window.close()
        print(f"saved {args.screenshot}")
        return 0
    window.show()
    gc.freeze()  # start-up objects never need collecting: no full-collection pauses while scrolling
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
