"""CVOps Workbench desktop GUI (PySide6): thin Qt views, dialogs and workers over the ``cvops`` core API."""
