"""Deployment over models: ONNX export and its graph passes (``export``, ``graph_passes``), the verification gate
(``verify``), the self-contained edge runner shipped in bundles (``edge_runner``), bundles (``bundle``) and
deploying them to a folder or over SSH (``deploy``)."""
