"""The Pre-label dialog's model choice: each model shows its mAP50-95 (its latest evaluation's, else the training's);
the champion is preselected, and with no champion the best scoring model, not the newest."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

import pytest
from training_testing import make_model

from cvops.catalog.db import transaction
from cvops.catalog.settings import Settings
from cvops.data.workspace import Workspace
from cvops.models.registry import promote
from cvops.samples.demo import run_demo
from cvops.versions.create import get_version
from cvops_app.context import AppContext
from cvops_app.dialogs.prelabel import PrelabelDialog


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """A demo workspace with three models on v1: m1 (mAP50-95 0.41 at training), m2 (0.000), m3 (newest, none)."""
    run_demo(tmp_path / "ws", count=8)
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"weights")
    workspace = Workspace.open(tmp_path / "ws")
    for name, score in (("m1", 0.41), ("m2", 0.0), ("m3", None)):
        mid = make_model(workspace, weights, name=name)
        metrics = {} if score is None else {"metrics/mAP50-95(B)": score, "metrics/mAP50(B)": score + 0.1}
        workspace.db.execute("UPDATE models SET metrics = ? WHERE id = ?", [json.dumps(metrics), mid])
    yield workspace
    workspace.close()


def dialog(qtbot, ws: Workspace) -> PrelabelDialog:  # noqa: ANN001
    ctx = AppContext(Settings())
    ctx.set_workspace(ws)
    d = PrelabelDialog(ctx)
    qtbot.addWidget(d)
    return d


def labels(d: PrelabelDialog) -> list[str]:
    return [d.model.itemText(i) for i in range(d.model.count())]


def test_without_a_champion_the_best_model_is_preselected_with_its_score(qtbot, ws: Workspace) -> None:  # noqa: ANN001
    d = dialog(qtbot, ws)
    assert d.model.currentData() == "m1"
    assert labels(d) == ["m1 — mAP50-95 0.410 (training)", "m2 — mAP50-95 0.000 (training)", "m3 — not evaluated"]


def test_an_evaluation_outranks_the_training_score_and_the_champion_comes_first(qtbot,  # noqa: ANN001
                                                                              ws: Workspace) -> None:
    v1 = get_version(ws, "v1")
    m2 = ws.db.execute("SELECT id FROM models WHERE name = 'm2'").fetchone()[0]
    with transaction(ws.db):
        ws.db.execute(
            "INSERT INTO evaluations (model_id, version_id, version_hash, split, created_at, conf, iou, images, "
            "duration_s, metrics, per_class, confusion, pr_curve, unknown_classes, params) "
            "VALUES (?, ?, ?, 'test', ?, 0.001, 0.7, 1, 0.1, ?, '[]', '{}', '{}', '[]', '{}')",
            [m2, v1.id, v1.content_hash, time.time(), json.dumps({"map50_95": 0.62, "map50": 0.8})])
    d = dialog(qtbot, ws)
    assert d.model.currentData() == "m2" and labels(d)[0] == "m2 — mAP50-95 0.620 (v1 test)"
    promote(ws, "m3")
    d = dialog(qtbot, ws)
    assert d.model.currentData() == "m3" and labels(d)[0] == "m3 (champion) — not evaluated"
