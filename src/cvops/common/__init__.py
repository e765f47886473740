"""Foundations every layer may use, with no dependency on the catalog: the error types, progress and cancellation
for long work (``jobs``), file names that survive any encoding (``fsnames``) and image file probing and reading
(``imageio``)."""
