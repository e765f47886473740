"""Frozen dataset versions over formats and data: creating and listing them (``create``), comparing two
(``diff``), building a version's or the workspace's data for export and training (``materialize``) and writing
it in a format (``export``)."""
