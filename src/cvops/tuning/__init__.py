"""Hyperparameter tuning: Optuna studies over a dataset version, each trial a supervised training run
(``cvops tune``, docs/tuning.md)."""
