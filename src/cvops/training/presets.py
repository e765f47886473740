"""Training presets: a small, documented table of sensible starting points.

=========  ==============  =====  ======  ========  =====  ==========================================================
preset     model           imgsz  epochs  patience  batch  augmentation and schedule
=========  ==============  =====  ======  ========  =====  ==========================================================
fast       yolo11n.yaml    320    30      10        4      HSV jitter, left-right flip, scale and translation; no mosaic;
                                                           AdamW lr 0.002, no warm-up, an optimizer step every batch
                                                           (nominal batch 4)
balanced   yolo11s.yaml    640    100     30        16     Ultralytics defaults; mosaic off for the last 10 epochs
accurate   yolo11m.yaml    640    200     50        8      Ultralytics defaults plus mixup 0.1; mosaic off for the last 15
=========  ==============  =====  ======  ========  =====  ==========================================================

The fast preset is tuned for small datasets and few epochs: Ultralytics' defaults accumulate gradients up to a nominal
batch of 64 and warm up for at least 100 steps, so a 100-image dataset gets under two optimizer steps an epoch and
spends a 15-epoch run warming up, and mosaic at low resolution shrinks objects the model then has to unlearn.
Measured on the demo shapes (104 training images, 160 px, 15 epochs, CPU), mAP50: Ultralytics' defaults 0.001;
batch 8 with a step per batch and no warm-up 0.64; the same without mosaic 0.71; batch 4 0.74; batch 4 without
mosaic (this preset) 0.89 on one CPU, 0.73 on another. The demo recipe (256 images split 75/25, 20 epochs) gives
0.97-0.995 (mean 0.987) over seeds and CPU kernels (docs/training.md).

Models are built from their architecture YAML (random initialisation), since the workbench never downloads
pretrained weights; pass ``weights=`` to :func:`cvops.training.runner.start_run` to start from a local ``.pt`` file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from cvops.common.errors import ValidationError


@dataclass(frozen=True)
class Preset:
    """One row of the preset table; ``augment`` holds extra Ultralytics train arguments (augmentation, schedule)."""

    name: str
    model: str
    imgsz: int
    epochs: int
    patience: int
    batch: int
    notes: str
    augment: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


PRESETS: Mapping[str, Preset] = MappingProxyType({
    "fast": Preset("fast", "yolo11n.yaml", 320, 30, 10, 4,
                   "smallest model at low resolution: a quick first check that the data trains",
                   MappingProxyType({"mosaic": 0.0, "close_mosaic": 0, "optimizer": "AdamW", "lr0": 0.002,
                                     "warmup_epochs": 0, "nbs": 4})),
    "balanced": Preset("balanced", "yolo11s.yaml", 640, 100, 30, 16,
                       "small model at full resolution: the usual choice",
                       MappingProxyType({"close_mosaic": 10})),
    "accurate": Preset("accurate", "yolo11m.yaml", 640, 200, 50, 8,
                       "medium model, long schedule, mixup: best accuracy, slowest",
                       MappingProxyType({"close_mosaic": 15, "mixup": 0.1})),
})


def get_preset(name: str) -> Preset:
    """The preset called ``name``; raises :class:`ValidationError` for an unknown one."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValidationError(f"unknown training preset {name!r} (choose from {', '.join(PRESETS)})") from None
