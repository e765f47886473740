"""Benchmark sets: frozen images and annotations that no later dataset version trains or validates on, the
evaluation of models on them and their leaderboard (:mod:`cvops.benchmarks.sets`)."""
