"""CVOps Workbench headless core.

The core never imports Qt: the GUI (``cvops_app``) and the CLI (``cvops.cli``) are thin layers over it.
"""

from cvops.errors import CvopsError, NewerSchemaError, ValidationError, WorkspaceError
from cvops.jobs import CancelToken, Cancelled
from cvops.workspace import Workspace

__all__ = [
    "CancelToken",
    "Cancelled",
    "CvopsError",
    "NewerSchemaError",
    "ValidationError",
    "Workspace",
    "WorkspaceError",
]
__version__ = "0.1.0"
