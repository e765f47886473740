"""Scale-out on an existing Ray cluster: remote training, and inference and health checks spread over its
workers (``--ray ADDRESS``, docs/scale-out.md). Ray is an optional extra; everything works without it."""
