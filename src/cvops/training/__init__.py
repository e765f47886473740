"""Training: runs of Ultralytics YOLO in a child process supervised by the core.

:func:`train` starts a run on a dataset version and follows it to the end; :func:`start_run` and :func:`supervise`
do the two halves separately; :func:`cancel_run` and :func:`resume` stop and continue a run;
:func:`training_warnings` says what to know before a run starts and :func:`run_progress` how far a running one is. Presets live in
:mod:`cvops.training.presets`; the child's entry point is :mod:`cvops.training.child`.
"""

from typing import TYPE_CHECKING

from cvops.common.lazy import lazy_exports

if TYPE_CHECKING:  # what type checkers see; at run time the names load on first use
    from cvops.training.presets import PRESETS, Preset, get_preset
    from cvops.training.runner import (
        RunResult, cancel_run, resume, run_progress, run_result, start_run, supervise, train, training_warnings,
    )

# Imported on first use, so that importing a light submodule (``cvops.training.presets``, which the CLI's --preset
# choices read at start-up) does not load the runner and the catalog.
_EXPORTS = {
    "PRESETS": "cvops.training.presets", "Preset": "cvops.training.presets", "get_preset": "cvops.training.presets",
    **{name: "cvops.training.runner" for name in ("RunResult", "cancel_run", "resume", "run_progress", "run_result",
                                                   "start_run", "supervise", "train", "training_warnings")},
}
__all__ = ["PRESETS", "Preset", "RunResult", "cancel_run", "get_preset", "resume", "run_progress", "run_result",
           "start_run", "supervise", "train", "training_warnings"]

__getattr__ = lazy_exports(globals(), _EXPORTS)
