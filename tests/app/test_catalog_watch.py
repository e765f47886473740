"""Every page follows changes another process commits to the catalog (the CLI, a pipeline): the context's watcher
polls ``PRAGMA data_version`` and the shown page re-reads, a hidden one when it is next shown. The changes here are
made through the core on a second connection, as the CLI makes them."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from helpers import make_image
from monitor_testing import START, device_folder, record
from PySide6.QtCore import QSettings
from training_testing import make_model

from cvops.catalog.db import transaction
from cvops.data.ingest import import_paths
from cvops.data.workspace import Workspace
from cvops.monitoring.pull import pull
from cvops.samples.demo import run_demo
from cvops.versions.create import create_version
from cvops_app.mainwindow import MainWindow

WAIT_MS = 30_000  # generous: a busy machine must not fail the test (it returns as soon as the page follows)


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("watch") / "ws"
    run_demo(root, count=12)
    return root


@pytest.fixture
def window(qtbot, demo_source: Path, tmp_path: Path) -> Iterator[MainWindow]:  # noqa: ANN001
    from training_testing import copy_workspace

    root = copy_workspace(demo_source, tmp_path / "ws")
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    main = MainWindow(settings_path=tmp_path / "settings.yaml")
    qtbot.addWidget(main)
    main.resize(941, 666)
    main.show()
    assert main.load_workspace(root)
    main.ctx.watcher.timer.setInterval(50)  # the default second, shortened for the test
    yield main
    main.jobs.cancel_all()
    main.jobs.wait()
    main.close()


@pytest.fixture
def cli(window: MainWindow) -> Iterator[Workspace]:
    """A second handle on the window's workspace: another connection, as a CLI process has."""
    assert window.ws is not None
    other = Workspace.open(window.ws.root)
    yield other
    other.close()


def test_own_edits_are_not_external_changes_and_the_kinds_are_told(window: MainWindow, cli: Workspace) -> None:
    ws = window.ws
    assert ws is not None
    watcher = window.ctx.watcher
    told: list[set[str]] = []
    watcher.changed.connect(told.append)
    assert not watcher.poll()
    ws.annotations.set_status(list(ws.images.ids())[:2], "approved")  # the app's own connection
    assert not watcher.poll()
    cli.annotations.set_status(list(cli.images.ids())[:2], "rejected")
    assert watcher.poll() and not watcher.poll()
    assert told == [{"images", "annotations", "classes", "status", "tags"}]
    with transaction(cli.db):  # a commit of nothing any page shows (a labeling queue): no reload
        cli.db.execute("INSERT INTO label_queue (image_id, rank, score, strategy, built_at) VALUES (?, 1, 0.5, "
                       "'uncertainty', 0)", [next(iter(cli.images.ids()))])
    assert not watcher.poll() and len(told) == 1


def test_a_version_from_the_cli_shows_on_the_versions_page(qtbot, window: MainWindow,  # noqa: ANN001
                                                          cli: Workspace) -> None:
    window.show_page("versions")
    page = window.pages["versions"]
    assert page.table.rowCount() == 1
    cli.annotations.set_status([next(iter(cli.images.ids()))], "done")
    create_version(cli, "made from the command line")
    qtbot.waitUntil(lambda: page.table.rowCount() == 2, timeout=WAIT_MS)
    assert page.table.item(1, 1).text() == "made from the command line"


def test_the_message_column_takes_the_room_at_the_default_window(window: MainWindow) -> None:
    window.show_page("versions")
    table = window.pages["versions"].table
    widths = [table.columnWidth(c) for c in range(table.columnCount())]
    assert widths[1] == max(widths), widths
    assert widths[1] >= table.sizeHintForColumn(1), "the message is squashed"


def test_hidden_pages_catch_up_when_shown(qtbot, window: MainWindow, cli: Workspace,  # noqa: ANN001
                                         tmp_path: Path) -> None:
    window.show_page("versions")
    versions = window.pages["versions"]
    window.show_page("images")
    images = window.pages["images"]
    before = len(images.current_ids())
    import_paths(cli, [make_image(tmp_path / "new.jpg", (40, 30), seed=3)])
    qtbot.waitUntil(lambda: len(images.current_ids()) == before + 1, timeout=WAIT_MS)  # shown: at once
    cli.annotations.set_status(list(cli.images.ids()), "done")
    create_version(cli, "while hidden")
    qtbot.waitUntil(lambda: versions._stale, timeout=WAIT_MS)
    assert versions.table.rowCount() == 1
    window.show_page("versions")
    assert versions.table.rowCount() == 2


def test_train_and_models_pages_follow_versions_and_models(qtbot, window: MainWindow,  # noqa: ANN001
                                                          cli: Workspace, tmp_path: Path) -> None:
    window.show_page("train")
    train = window.pages["train"]
    count = train.settings.version.count()
    cli.annotations.set_status(list(cli.images.ids()), "done")
    create_version(cli, "for training")
    qtbot.waitUntil(lambda: train.settings.version.count() == count + 1, timeout=WAIT_MS)
    window.show_page("models")
    models = window.pages["models"]
    assert models.table.rowCount() == 0
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"not really weights")
    make_model(cli, weights, name="from-cli")
    qtbot.waitUntil(lambda: models.table.rowCount() == 1, timeout=WAIT_MS)
    assert [m.name for m in models.models] == ["from-cli"]


def test_the_monitor_page_follows_a_pull(qtbot, window: MainWindow, cli: Workspace,  # noqa: ANN001
                                        tmp_path: Path) -> None:
    window.show_page("monitor")
    page = window.pages["monitor"]
    assert page.devices == []
    rng = np.random.default_rng(0)
    device_folder(tmp_path / "target" / "field", "cam-01", [record(rng, START + 60 * i) for i in range(3)])
    pull(cli, tmp_path / "target")
    qtbot.waitUntil(lambda: page.devices == ["cam-01"], timeout=WAIT_MS)


def test_a_commit_before_the_first_look_announces_everything(window: MainWindow, cli: Workspace) -> None:
    watcher = window.ctx.watcher
    assert window.ws is not None
    watcher.set_workspace(window.ws)  # as just opened: no baseline yet (it is read at the first look)
    told: list[set[str]] = []
    watcher.changed.connect(told.append)
    cli.annotations.set_status(list(cli.images.ids())[:1], "rejected")
    assert watcher.poll() and told and {"images", "versions", "models", "runs", "monitor"} <= told[0]
    assert not watcher.poll()
