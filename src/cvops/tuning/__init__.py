"""Hyperparameter tuning: Optuna studies over a dataset version, each trial a supervised training run
(``cvops tune``, docs/tuning.md).

Public API (the CLI and the GUI's Tune page use these names):

* :func:`run_study` (:mod:`cvops.tuning.study`): run or resume a study; returns :func:`show_study`'s dict.
* :func:`list_studies`, :func:`show_study`, :func:`register_best`, :func:`best_train_options`
  (:mod:`cvops.tuning.report`).
* :func:`default_space`, :func:`load_space`, :class:`SearchSpace`, :data:`DEFAULT_SPACE_YAML`
  (:mod:`cvops.tuning.space`): the search space file, validated before anything runs.
* :class:`TrialExecutor`, :class:`LocalExecutor`, :class:`TrialOutcome` (:mod:`cvops.tuning.trial`): the seam
  for running trials elsewhere.

The executor protocol (for a Ray executor, :mod:`cvops.scaleout`): ``executor.run(ws, options, on_epoch, *,
on_start=None, progress=None, cancel=None) -> TrialOutcome``. ``options`` are the keyword arguments of
:func:`cvops.training.runner.start_run` (``version_ref``, ``preset``, ``epochs``, ``imgsz``, ``batch``, ``model``,
``device``, ``seed``, ``hyperparameters`` (Ultralytics train arguments), ``tuning`` (``{"study", "trial"}``, the
lineage)) plus ``metric`` (the key the runs record, e.g. ``metrics/mAP50-95(B)``) and ``direction`` (``maximize`` or
``minimize``), which are not ``start_run``'s. The executor calls ``on_start(run_id)`` once the run is in the local
catalog, ``on_epoch(epoch, value)`` after every epoch (epoch from 1; value None when not recorded), stops the run
soon after ``on_epoch`` returns True, stops it when ``cancel`` is triggered, reports ``progress(fraction,
message)`` within the trial, and returns a :class:`TrialOutcome`: ``state`` ``finished`` (with ``value``: the final
validation's metric, else the best epoch's, :func:`cvops.tuning.trial.trial_value`), ``pruned``, ``cancelled`` or
``failed`` (with ``error``), the ``run_id``, ``epochs`` reached and every epoch's value. A finished trial's run must
not register a model (the study registers its best one: ``supervise(..., register=False)``).
"""

from typing import TYPE_CHECKING

from cvops.common.lazy import lazy_exports

if TYPE_CHECKING:
    from cvops.tuning.report import best_train_options, list_studies, register_best, show_study
    from cvops.tuning.space import DEFAULT_SPACE_YAML, SearchSpace, SpaceInvalid, default_space, load_space
    from cvops.tuning.study import PRUNERS, run_study
    from cvops.tuning.trial import LocalExecutor, TrialExecutor, TrialOutcome

_EXPORTS = {
    **{name: "cvops.tuning.report" for name in ("best_train_options", "list_studies", "register_best",
                                                "show_study")},
    **{name: "cvops.tuning.space" for name in ("DEFAULT_SPACE_YAML", "SearchSpace", "SpaceInvalid",
                                               "default_space", "load_space")},
    **{name: "cvops.tuning.study" for name in ("PRUNERS", "run_study")},
    **{name: "cvops.tuning.trial" for name in ("LocalExecutor", "TrialExecutor", "TrialOutcome")},
}
__all__ = ["DEFAULT_SPACE_YAML", "LocalExecutor", "PRUNERS", "SearchSpace", "SpaceInvalid", "TrialExecutor",
           "TrialOutcome", "best_train_options", "default_space", "list_studies", "load_space", "register_best",
           "run_study", "show_study"]

__getattr__ = lazy_exports(globals(), _EXPORTS)
