"""The continuous-training loop on the demo shapes: its pipeline file and its field benchmark, as the end-to-end test
(``tests/e2e/test_pipeline_loop.py``), the screenshots and the walkthrough in docs/pipelines.md use them.

The loop: labelled batches dropped in ``incoming/`` are imported, checked and frozen as a version; a challenger is
fine-tuned from the champion (a few epochs at 128 px: sized for a CPU), scored with the champion on the ``field``
benchmark (images of the harder variant), and promoted, exported, verified, bundled and deployed to ``edge/`` only
when the gate passes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cvops.data.workspace import Workspace

LOOP_PIPELINE = """\
name: ct-loop
steps:
  - ingest: {folders: [incoming], format: auto}
  - check: {max_errors: 0}
  - version: {split: 85/15, seed: 0, message: continuous training}
  - train: {preset: fast, epochs: EPOCHS, imgsz: IMGSZ, device: DEVICE, seed: 0FROM}
  - evaluate: {benchmark: field}
  - gate: {floor: 0.02, min_gain: 0.02, max_class_drop: 0.1}
  - promote:
  - export: {precisions: [fp32]}
  - verify: {split: val, latency_runs: 5, min_map50_95: 0.01}
  - bundle:
  - deploy: {targets: [edge]}
"""
GATE_STEP = 5  # the gate's index in LOOP_PIPELINE


def write_loop_pipeline(path: Path, epochs: int = 6, imgsz: int = 128, from_champion: bool = True,
                        device: str = "cpu") -> Path:
    """Write the loop's pipeline file with these training settings (``from_champion`` False: from scratch)."""
    path = Path(path)
    path.write_text(LOOP_PIPELINE.replace("EPOCHS", str(epochs)).replace("IMGSZ", str(imgsz))
                    .replace("DEVICE", device).replace("FROM", ", from: champion" if from_champion else ""),
                    encoding="utf-8")
    return path


def next_batch(incoming: Path) -> Path:
    """The next free ``batch-NNN`` folder in ``incoming``."""
    taken = {p.name for p in Path(incoming).glob("batch-*")}
    return Path(incoming) / next(f"batch-{i:03d}" for i in range(1, len(taken) + 2) if f"batch-{i:03d}" not in taken)


def write_batch(folder: Path, count: int = 100, seed: int = 200) -> Path:
    """A labelled batch of ``count`` images of the harder variant, as a YOLO dataset in ``folder``."""
    from cvops.samples import shapes

    shapes.write_yolo(Path(folder), count=count, seed=seed, variant="hard")
    return Path(folder)


def add_field_benchmark(ws: "Workspace", count: int = 60, seed: int = 100, name: str = "field") -> Any:
    """Import ``count`` labelled field images (status approved), freeze them as a version (split 10/10/80) and pin
    its test split as the benchmark ``name``; returns the benchmark."""
    from cvops.benchmarks.sets import create_benchmark
    from cvops.formats.importer import import_dataset
    from cvops.versions.create import create_version

    with tempfile.TemporaryDirectory(prefix="cvops-field-") as tmp:
        import_dataset(ws, write_batch(Path(tmp) / name, count=count, seed=seed), status="approved")
    version = create_version(ws, "field images", ratios="10/10/80", statuses=["approved"])
    return create_benchmark(ws, name, version.name, split="test")
