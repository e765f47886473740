"""The whole loop through a pipeline, with a real (tiny) training: version → train → evaluate → gate →
promote → export → verify → bundle → deploy to a folder. The export gate's quality floor stops the first run; with
the floor overridden the run resumes at verify; a deploy target that cannot be written fails it, and the next run
resumes at the deploy step; a run with nothing changed re-runs no step."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cvops.data.workspace import Workspace
from cvops.models.registry import get_model
from cvops.pipelines.runner import run_pipeline

PIPELINE = """\
name: loop
steps:
  - version: {split: 80/10/10, seed: 0}
  - train: {preset: fast, epochs: 3, imgsz: 96, batch: 8, device: cpu, seed: 0, from: champion}
  - evaluate: {split: val}
  - gate: {floor: 0.0}
  - promote:
  - export: {precisions: [fp32]}
  - verify: {split: val, latency_runs: 5ALLOW}
  - bundle:
  - deploy: {targets: [TARGET]}
"""


@pytest.mark.slow
def test_the_loop_from_version_to_deploy_resumes_where_it_failed(trained_workspace_copy: Path,
                                                                tmp_path: Path) -> None:
    root = trained_workspace_copy
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the deploy target's parent folder should be")
    path = root / "pipeline.yaml"
    path.write_text(PIPELINE.replace("TARGET", str(blocker / "edge")).replace("ALLOW", ", min_map50_95: 1.0"))
    with Workspace.open(root) as ws:
        models_before = ws.db.execute("SELECT COUNT(*) FROM models").fetchone()[0]
        first = run_pipeline(ws, path)
        # the export gate's quality floor (set out of reach here) stops the run before any bundle
        assert first.state == "failed", first.error
        assert [s.state for s in first.steps] == ["done"] * 6 + ["failed"]
        assert first.error.startswith("step 6 (verify): export gate failed")
        quality = first.steps[6].outputs["results"][0]["quality"]
        assert quality["passed"] is False and quality["overridden"] is False
        trained = first.steps[1].outputs["context"]["model"]
        assert ws.db.execute("SELECT COUNT(*) FROM models").fetchone()[0] == models_before + 1
        assert get_model(ws, "champion").name == trained
        assert first.decision["promote"] is True

        # overriding the floor: verify runs again (its settings are inputs), the deploy target is a file's child
        path.write_text(PIPELINE.replace("TARGET", str(blocker / "edge")).replace(
            "ALLOW", ", min_map50_95: 1.0, allow_below_floor: true"))
        second = run_pipeline(ws, path)
        assert second.state == "failed", second.error
        assert [s.state for s in second.steps] == ["cached"] * 6 + ["done", "done", "failed"]
        assert second.steps[6].outputs["results"][0]["quality"]["overridden"] is True
        assert second.error.startswith("step 8 (deploy): ")

        blocker.unlink()
        blocker.mkdir()
        resumed = run_pipeline(ws, path)
        assert resumed.state == "done", resumed.error
        assert [s.state for s in resumed.steps] == ["cached"] * 8 + ["done"]
        deployed = Path(resumed.steps[8].outputs["targets"][0]["deployed_to"])
        assert json.loads((deployed / "model.json").read_text())["lineage"]["model"] == trained

        started = time.perf_counter()
        again = run_pipeline(ws, path)
        print(json.dumps({"no_change_rerun_s": round(time.perf_counter() - started, 3),
                          "second_run_s": second.seconds}))
        # the champion is the model this pipeline trained: `from: champion` does not fine-tune it again
        assert [s.state for s in again.steps] == ["cached"] * 9
        assert ws.db.execute("SELECT COUNT(*) FROM models").fetchone()[0] == models_before + 1
