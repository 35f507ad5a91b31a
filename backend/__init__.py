"""Headless backend of MoSAiC for QGIS. Never imports qgis.

Sub-packages: ``data`` (datasets, subsets, own-region builder, augmentations), ``models`` (timm encoders,
fusion, heads), ``training`` (Lightning module, data module, strategies), ``inference`` (numpy + onnxruntime
only, shared with the QGIS plugin).
"""
