"""The whole loop through a pipeline, with a real (tiny) training: version → train → evaluate → gate →
promote → export → verify → bundle → deploy to a folder; a deploy target that cannot be written fails the run,
the next run resumes at the deploy step; a run with nothing changed re-runs no step."""

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
  - verify: {split: val, latency_runs: 5}
  - bundle:
  - deploy: {targets: [TARGET]}
"""


@pytest.mark.slow
def test_the_loop_trains_promotes_and_deploys_and_resumes_a_failed_deploy(trained_workspace_copy: Path,
                                                                         tmp_path: Path) -> None:
    root = trained_workspace_copy
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the deploy target's parent folder should be")
    path = root / "pipeline.yaml"
    path.write_text(PIPELINE.replace("TARGET", str(blocker / "edge")))
    with Workspace.open(root) as ws:
        models_before = ws.db.execute("SELECT COUNT(*) FROM models").fetchone()[0]
        first = run_pipeline(ws, path)
        assert first.state == "failed", first.error
        assert [s.state for s in first.steps] == ["done"] * 8 + ["failed"]
        assert first.error.startswith("step 8 (deploy): ")
        trained = first.steps[1].outputs["context"]["model"]
        assert ws.db.execute("SELECT COUNT(*) FROM models").fetchone()[0] == models_before + 1
        assert get_model(ws, "champion").name == trained
        assert first.decision["promote"] is True
        assert first.steps[6].outputs["results"][0]["passed"] is True

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
                          "first_run_s": first.seconds}))
        # the champion is the model this pipeline trained: `from: champion` does not fine-tune it again
        assert [s.state for s in again.steps] == ["cached"] * 9
        assert ws.db.execute("SELECT COUNT(*) FROM models").fetchone()[0] == models_before + 1
