"""Is a screenshot a rendered page, not a blank one? ``python png_check.py SHOT.png [--min-colours N]``.

The smoke test runs it with the built application itself as the interpreter (``cvops png_check.py ...``), so it
needs nothing outside the build. Exit 0 when the PNG holds at least ``--min-colours`` distinct colours, 1 when it
does not (a blank or near-blank window), 2 when the file is missing or not an image.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

MIN_COLOURS = 64  # a page with text, icons and thumbnails has thousands; a blank or one-colour window a handful


def distinct_colours(path: Path) -> int:
    """The number of distinct RGB colours in the image at ``path`` (OSError or ValueError when unreadable)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
    except UnidentifiedImageError as exc:
        raise ValueError(f"{path}: not an image ({exc})") from None
    colours = rgb.getcolors(maxcolors=rgb.width * rgb.height)
    return len(colours or ())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("png", type=Path)
    parser.add_argument("--min-colours", type=int, default=MIN_COLOURS)
    args = parser.parse_args(argv)
    try:
        count = distinct_colours(args.png)
    except (OSError, ValueError) as exc:
        print(f"png_check: {exc}", file=sys.stderr)
        return 2
    if count < args.min_colours:
        print(f"png_check: {args.png} looks blank: {count} distinct colours (< {args.min_colours})", file=sys.stderr)
        return 1
    print(f"png_check: {args.png}: {count} distinct colours")
    return 0


if __name__ == "__main__":
    sys.exit(main())
