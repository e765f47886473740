"""Helpers shared by the YOLO reader and writer tests."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from helpers import make_image
from prerequisites import shared_path

from cvops.formats.model import DatasetItem, ParsedDataset



def shared(*parts: str) -> Path:
    """``../shared/datasets/formats/PARTS``; the test is skipped (failed under CI=true) when it is absent."""
    return shared_path("formats", *parts)


def put(root: Path, files: dict[str, Optional[str]]) -> Path:
    """Files under ``root``: ``None`` makes an image (by extension), a string a text file."""
    for i, (rel, text) in enumerate(files.items()):
        path = root / rel
        if text is None:
            fmt = {".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}
            make_image(path, (64, 48), fmt.get(path.suffix.lower(), "JPEG"), seed=i)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return root


def by_name(ds: ParsedDataset) -> dict[str, DatasetItem]:
    return {item.image_path.name: item for item in ds.items}


def reasons(ds: ParsedDataset) -> list[tuple[str, Optional[int], str]]:
    """(file name, line, reason) of every problem."""
    return [(Path(p.path).name, p.line, p.reason) for p in ds.problems]


NAMES_10 = "names:\n" + "".join(f"  {i}: label_{i}\n" for i in range(10))
