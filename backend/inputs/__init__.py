"""The user's input rasters: opening them with rasterio and the command-line options that say how to read them.

Shared by ``mosaic predict`` and ``mosaic prepare``; the identification itself is the engine's
(:mod:`mosaic.backend.inference.inspector`).
"""
