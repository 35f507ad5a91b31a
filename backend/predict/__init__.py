"""Prediction over rasters on disk (``mosaic predict``): a typed request, the rasterio reader and file writer the
engine (:mod:`mosaic.backend.inference`) runs with, many scenes on Dask with their mosaic, and the benchmark.

Import the module you need: :mod:`.request` (``PredictRequest``), :mod:`.prediction` (``predict(request)``),
:mod:`.scene_runner`; :mod:`.command` is the ``mosaic predict`` command line.
"""
