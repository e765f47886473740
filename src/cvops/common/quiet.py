"""Keep Ultralytics' settings banner and web links out of what the workbench prints.

Ultralytics logs through the ``ultralytics`` logger to stdout. On its first import with a fresh config folder it
announces "Creating new Ultralytics Settings … file ✅" with where the file is and a ``https://`` help link; a
schema change logs a similar warning. :func:`quiet_ultralytics` installs a filter on that logger (before or after
Ultralytics is imported: the logger object is the same) that drops those settings notes and strips web links from
every other line, so command output carries only the workbench's own messages and nothing that points online.
"""

from __future__ import annotations

import logging
import re

LOGGER_NAME = "ultralytics"
_SETTINGS_NOTE = re.compile(r"Ultralytics Settings|yolo settings|settings updated to the latest schema", re.I)
_LINK = re.compile(r"\s*(?:(?:For help|Learn more|See|Visit|View)[^.:]*?(?:see|at)?\s*)?https?://\S+", re.I)


class UltralyticsQuiet(logging.Filter):
    """Drops Ultralytics' settings notes and removes ``http(s)://`` links from its other records."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a settings note; otherwise the record with its links removed."""
        message = record.getMessage()
        if _SETTINGS_NOTE.search(message):
            return False
        if "://" in message:
            record.msg, record.args = _LINK.sub("", message).rstrip(), None
        return True


def quiet_ultralytics() -> None:
    """Install :class:`UltralyticsQuiet` on the ``ultralytics`` logger (once per process)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(f, UltralyticsQuiet) for f in logger.filters):
        logger.addFilter(UltralyticsQuiet())
