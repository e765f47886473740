"""Exceptions raised by the core. Every message names the object and the problem.

Each class has a stable machine-readable ``code`` and the CLI ``exit_code`` it maps to; ``cvops ... --json`` prints
an error as ``{"error": {"code": ..., "message": ..., **details}}`` (see :func:`cvops.cli.fail`).
"""

from __future__ import annotations

import errno
from typing import Any


class CvopsError(Exception):
    """Base class of all errors the core raises on purpose."""

    code = "error"
    exit_code = 2

    def details(self) -> dict[str, Any]:
        """Extra JSON-ready fields of the error object (none by default)."""
        return {}


class WorkspaceError(CvopsError):
    """The workspace folder or its catalog cannot be used."""

    code = "workspace"


class NoWorkspaceError(WorkspaceError):
    """The folder is not a CVOps workspace (no catalog)."""

    code = "no_workspace"


class NewerSchemaError(WorkspaceError):
    """The catalog was written by a newer version of CVOps Workbench."""

    code = "newer_schema"


class ValidationError(CvopsError):
    """Input (geometry, class name, status, ...) was rejected; the message says why."""

    code = "validation"


class NotFoundError(CvopsError):
    """An image, class, annotation or other object does not exist."""

    code = "not_found"


_OS_REASONS = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
               errno.ENOENT: "no such file or folder", errno.EISDIR: "is a folder, not a file",
               errno.ENOTDIR: "a path component is not a folder", errno.ELOOP: "too many levels of symbolic links",
               errno.ENOSPC: "no space left on the device", errno.EROFS: "read-only file system",
               errno.ENAMETOOLONG: "file name too long", errno.EIO: "input/output error"}


def os_reason(exc: OSError) -> str:
    """What an :class:`OSError` means, in words (``permission denied``, ``not a regular file``, ...), without the
    path (callers name the file)."""
    if exc.errno in _OS_REASONS:
        return _OS_REASONS[exc.errno]
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]
