"""Training presets: a small, documented table of sensible starting points.

=========  ==============  =====  ======  ========  =====  ==========================================================
preset     model           imgsz  epochs  patience  batch  augmentation
=========  ==============  =====  ======  ========  =====  ==========================================================
fast       yolo11n.yaml    320    30      10        16     Ultralytics defaults (mosaic, HSV jitter, left-right flip);
                                                           mosaic switched off for the last 10 epochs
balanced   yolo11s.yaml    640    100     30        16     defaults as above
accurate   yolo11m.yaml    640    200     50        8      defaults plus mixup 0.1 and a longer mosaic-free tail (15)
=========  ==============  =====  ======  ========  =====  ==========================================================

Models are built from their architecture YAML (random initialisation), since the workbench never downloads
pretrained weights; pass ``weights=`` to :func:`cvops.training.runner.start_run` to start from a local ``.pt`` file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from cvops.errors import ValidationError


@dataclass(frozen=True)
class Preset:
    """One row of the preset table; ``augment`` holds extra Ultralytics train arguments."""

    name: str
    model: str
    imgsz: int
    epochs: int
    patience: int
    batch: int
    notes: str
    augment: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


PRESETS: Mapping[str, Preset] = MappingProxyType({
    "fast": Preset("fast", "yolo11n.yaml", 320, 30, 10, 16,
                   "smallest model at low resolution: a quick first check that the data trains",
                   MappingProxyType({"close_mosaic": 10})),
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
