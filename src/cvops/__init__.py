"""CVOps Workbench headless core.

The core never imports Qt: the GUI (``cvops_app``) and the CLI (``cvops.cli``) are thin layers over it.
"""

import os

# Before anything imports onnxruntime (exports, verification, pre-labeling): it records telemetry events under
# ~/.cache/Microsoft/DeveloperTools/.onnxruntime on import unless this is set. The workbench keeps nothing there.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from cvops.errors import CvopsError, NewerSchemaError, ValidationError, WorkspaceError  # noqa: E402
from cvops.jobs import CancelToken, Cancelled  # noqa: E402
from cvops.workspace import Workspace  # noqa: E402

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
