"""The annotation canvas: a QGraphicsView with tiled image layers and editable shapes."""
