"""CVOps Workbench headless core.

The core never imports Qt: the GUI (``cvops_app``) and the CLI (``cvops.cli``) are thin layers over it.
"""

import os

# Before anything imports onnxruntime (exports, verification, pre-labeling): it records telemetry events under
# ~/.cache/Microsoft/DeveloperTools/.onnxruntime on import unless this is set. The workbench keeps nothing there.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from cvops.common.lazy import lazy_exports

# The public API, imported on first use so that `import cvops` (and so `cvops --help`) stays cheap.
_EXPORTS = {
    "CancelToken": "cvops.common.jobs",
    "Cancelled": "cvops.common.jobs",
    "CvopsError": "cvops.common.errors",
    "NewerSchemaError": "cvops.common.errors",
    "ValidationError": "cvops.common.errors",
    "WorkspaceError": "cvops.common.errors",
    "Workspace": "cvops.data.workspace",
}
__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"

__getattr__ = lazy_exports(globals(), _EXPORTS)
