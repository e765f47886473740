"""Wording shared by the operation log, the CLI and the GUI: counts that read as a person writes them."""

from __future__ import annotations

from typing import Optional


def counted(count: int, noun: str, plural: Optional[str] = None) -> str:
    """``count`` and the noun, singular or plural, the count with thousands separators: ``1 image``,
    ``10,000 images``, ``2 boxes`` (with ``plural="boxes"``)."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def status_words(status: str) -> str:
    """A review status as words: ``needs_review`` → ``needs review``."""
    return status.replace("_", " ")
