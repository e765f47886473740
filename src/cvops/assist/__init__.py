"""Model-assisted labeling over deploy: pre-labeling runs a registered model's ONNX export on images and stores
its detections as suggestions an annotator accepts or rejects (``prelabel``)."""
