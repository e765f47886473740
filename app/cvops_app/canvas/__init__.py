"""The annotation canvas of the Annotate page.

``view`` (CanvasView: zoom, pan, fit, mouse dispatch) shows ``image_layer`` (overview, then full-resolution tiles)
under ``shapes`` (all shapes painted by one layer item, with level of detail) and ``items`` (the selected shapes as
editable items with handles); ``tools`` are the select / box / polygon mouse modes; ``panels`` are the side panels.
"""
