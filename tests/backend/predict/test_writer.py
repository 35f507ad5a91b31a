"""``GeoTiffSink``: rows flushed by the engine are each written once into the work file, whose values reach the COG."""

from __future__ import annotations

import numpy as np
import rasterio

from mosaic.backend.inference import OutputBlock, load_model
from mosaic.backend.inference.outputs import output_catalogue
from mosaic.backend.predict.reader import GDAL_ENV
from mosaic.backend.predict.writer import GeoTiffSink, work_profile

WIDTH, HEIGHT, ROWS = 300, 64, 4  #: two 256-px block columns, flushed 4 output rows at a time (stride 30)


def test_row_blocks_are_written_once_and_the_work_file_stays_smaller_than_the_raw_values(tmp_path, onnx_model_path):
    meta = load_model(onnx_model_path).metadata
    product = next(r for r in output_catalogue(meta).rasters if r.key == "probabilities")
    transform = rasterio.Affine(300.0, 0.0, 300000.0, 0.0, -300.0, 5300000.0)
    rng = np.random.default_rng(0)
    p = rng.random((meta.n_classes, HEIGHT, WIDTH), dtype=np.float32)
    with rasterio.Env(**GDAL_ENV):  # as in ``mosaic predict``, where the reader holds GDAL's settings
        sink = GeoTiffSink(
            tmp_path / "probabilities.tif", product, work_profile(WIDTH, HEIGHT, "EPSG:32633", transform), {}
        )
        for row in range(0, HEIGHT, ROWS):
            sink.write_block(OutputBlock(row, 0, p[:, row : row + ROWS], np.ones((ROWS, WIDTH), np.uint8)))
        sink.close()
    raw = p.nbytes
    # with no block cache (GDAL_CACHEMAX of 64 bytes) a tiled work file rewrote each block at every flush: ~8 × raw
    assert sink.blocks.stat().st_size < raw
    sink.finish()
    with rasterio.open(tmp_path / "probabilities.tif") as ds:
        np.testing.assert_array_equal(ds.read(), p)
