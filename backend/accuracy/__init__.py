"""Map accuracy and area you can report (``mosaic sample``, ``mosaic assess``, Processing ``mosaic:sample`` and
``mosaic:assess``).

Good practice (Olofsson et al. 2014; Stehman 2014; FAO 2016): a stratified random sample of map cells, labelled by a
person, then stratified estimators of accuracy and area with standard errors. Pixel counting alone is biased by the
map's errors.

The package is cut like the inference engine: everything but the two I/O modules imports only the standard library,
numpy and :mod:`mosaic.backend.errors` (matplotlib for the report's chart, imported when drawn), so the plugin runs
the same code inside QGIS without a backend Python. Reading and writing rasters and vectors goes through the
:class:`~.geo_io.GeoIO` protocol: :mod:`.rasterio_io` (rasterio, pyogrio, shapely) for the command line,
``mosaic.plugin.accuracy_io`` (GDAL/OGR) in QGIS.

Modules, one job each: :mod:`.estimates` (the result containers, z = 1.96), :mod:`.olofsson` and :mod:`.stehman`
(the estimators), :mod:`.top_class` (which estimator a sample takes), :mod:`.multilabel` (per-class presence,
precision/recall/F1, AP), :mod:`.design` (sample size and allocation), :mod:`.strata` (strata of map cells),
:mod:`.sampling` (drawing the sample), :mod:`.sample_layer` and :mod:`.form_style` (the GeoPackage to label and its
QGIS form), :mod:`.labelled_sample` (a sample in class codes, and the refusals), :mod:`.csv_tables` (the plain CSV
inputs), :mod:`.reference` (labelling units from a reference raster or vector), :mod:`.agreement` (cross-tabulation
with another map), :mod:`.chart`, :mod:`.report` and :mod:`.outputs` (what ``-o DIR`` receives),
:mod:`.assessment` (the library call behind ``mosaic assess``), :mod:`.request` (typed requests),
:mod:`.sample_command` and :mod:`.assess_command` (argparse).
"""
