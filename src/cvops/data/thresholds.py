"""Thresholds of the data checks, in a module that imports nothing: the CLI's option defaults read them at start-up
without loading the health check (:mod:`cvops.data.health` re-exports them)."""

DUPLICATE_IOU = 0.9  # boxes of one class overlapping this much are one object annotated twice
