"""Pipelines: the CVOps loop as a declarative file of steps (ingest, check, version, train, evaluate, gate,
promote, export, verify, bundle, deploy) run by the core, each step cached on the content hash of its inputs and
recorded in the catalog (``spec``: the file and its validation; ``gate``: the champion/challenger decision;
``runner``: running, caching, resuming and the run history)."""
