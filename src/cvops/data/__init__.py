"""A workspace's live data over the catalog: the :class:`~cvops.data.workspace.Workspace` handle, images and their
queries, classes, annotations, ingest (files and video), thumbnails, pixels for display, dataset health and splits."""
