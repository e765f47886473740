"""The review statuses of an image, in workflow order, in a module that imports nothing: the CLI's ``--status``
choices read them at start-up without loading the catalog (:mod:`cvops.catalog.db` re-exports them)."""

STATUSES = ("new", "in_progress", "done", "needs_review", "approved", "rejected")
