"""Trained models over versions: the registry and lineage (``registry``), evaluation and its stored results
(``evaluation``, ``evaluation_store``), the pretrained-weights library (``weights``) and the offline setup every
Ultralytics call runs under (``offline``)."""
