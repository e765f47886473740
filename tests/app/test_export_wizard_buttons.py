"""The export wizard's default button: Enter means Next on every step (Finish on the summary), whichever button has
the focus — Close, a step's Cancel or Browse… never become the default (before, on the verify and deploy steps they
did, and Enter closed the wizard). Runs on a registered model without exporting anything."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QPushButton
from wizard_testing import model_context

from cvops_app.dialogs.export_wizard import BUNDLE, DEPLOY, OPTIONS, SUMMARY, VERIFY, ExportWizard


@pytest.fixture
def wizard(qtbot, tmp_path: Path) -> Iterator[ExportWizard]:  # noqa: ANN001
    host, ctx = model_context(qtbot, tmp_path)
    dialog = ExportWizard(ctx, None, host)
    dialog.start_export = lambda: None  # Next on the verify step would export: not here
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    yield dialog
    dialog.reject()
    ctx.close_workspace()


def focusable_buttons(wizard: ExportWizard) -> list[QPushButton]:
    step = wizard.stack.currentWidget()
    return [b for b in wizard.findChildren(QPushButton) if b.isVisible() and b.isEnabled() and b is not
            wizard.next_button and (b.parent() is wizard or step.isAncestorOf(b))]


@pytest.mark.parametrize("step", [OPTIONS, VERIFY, BUNDLE, DEPLOY])
def test_enter_means_next_whatever_has_the_focus(qtbot, wizard: ExportWizard, step: int) -> None:  # noqa: ANN001
    wizard.go(step)
    buttons = focusable_buttons(wizard)
    assert wizard.close_button in buttons
    nexts: list[bool] = []
    wizard.next_button.clicked.connect(lambda: nexts.append(True))
    for button in buttons + [wizard.close_button]:  # the Close last: Enter on it
        button.setFocus()
        qtbot.waitUntil(button.hasFocus)
        assert wizard.next_button.isDefault() and not button.isDefault(), button.text()
    QTest.keyClick(wizard.close_button, Qt.Key.Key_Return)
    assert nexts and not wizard.closed, "Enter on the focused Close closed the wizard"


def test_finish_is_the_default_on_the_summary(wizard: ExportWizard) -> None:
    wizard.go(SUMMARY)
    assert wizard.close_button.text() == "Finish" and wizard.close_button.isDefault()
    wizard.go(VERIFY)
    assert wizard.next_button.isDefault()
