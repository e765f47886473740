"""Exceptions raised by the core. Every message names the object and the problem."""

from __future__ import annotations


class CvopsError(Exception):
    """Base class of all errors the core raises on purpose."""


class WorkspaceError(CvopsError):
    """The workspace folder or its catalog cannot be used."""


class NewerSchemaError(WorkspaceError):
    """The catalog was written by a newer version of CVOps Workbench."""


class ValidationError(CvopsError):
    """Input (geometry, class name, status, ...) was rejected; the message says why."""


class NotFoundError(CvopsError):
    """An image, class, annotation or other object does not exist."""
