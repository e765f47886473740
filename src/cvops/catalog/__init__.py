"""The bottom of the core: the SQLite catalog (connection, schema and migrations, transactions: ``db``), the
content-addressed image store (``store``), the operation log behind undo and the audit trail (``oplog``), the
workspace lock (``locks``), maintenance (``gc``, ``fsck``: ``maintenance``) and user settings (``settings``)."""
