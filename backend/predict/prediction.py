"""One scene's tiled inference, written to files: the library call behind ``mosaic predict``.

Outputs in the request's ``out``: ``probabilities.tif`` (Float32, one band per class, band description = class
name), ``labels.tif`` (UInt32: band 1 top class index, band 2 multi-label bitmask, bit ``c`` = class ``c`` at or
above its threshold, band 3 the head that decided the cell), ``confidence.tif`` (max probability), ``tiles.gpkg``
(one polygon per tile run), and a QGIS ``.qml`` style next to each raster (``labels_source.qml`` for band 3). With a
cloud mask, tiles S2 cannot see go to the model's S1-only head (see docs/predict.md); with ``s2`` or ``s1`` alone every
tile goes to that modality's own head (:mod:`~mosaic.backend.inference.modalities`). Output cells are ``stride``
pixels of the S2 10 m grid; the grid's origin is the processed extent's. Everything is written in a temporary
folder and moved into place at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from ..inference.clouds import require_cloud_use
from ..inference.modalities import RunInputs, run_head
from .request import PredictRequest


def predict(request: PredictRequest):
    """Run ``request``; returns ``(RunSummary, list of written paths)``."""
    from tqdm import tqdm

    from ..inference import load_model, run_inference
    from ..inference.run_info import model_run_info
    from .reader import RasterioReader
    from .writer import PredictionOutputs

    if request.stride is not None and request.stride < 1:
        raise InputError(f"--stride must be a positive number of pixels, not {request.stride}.")
    model = load_model(request.model, threads=request.threads, providers=request.provider)
    meta = model.metadata
    stride = request.stride or meta.patch_size_px
    inputs = RunInputs(bool(request.s2), bool(request.s1))
    run_head(meta, inputs, Path(request.model).name)  # a one-modality run needs that modality's head
    if request.cloud_mask is not None:
        require_cloud_use(meta.heads, inputs, Path(request.model).name)
    with RasterioReader(
        request.s2, request.s1, meta, aoi=request.aoi, options=request.inputs, cloud_mask=request.cloud_mask
    ) as reader:
        for note in reader.plan.notes:
            print(f"mosaic predict: {note}", file=sys.stderr)
        outputs = PredictionOutputs(
            request.out,
            reader,
            meta,
            stride,
            overwrite=request.overwrite,
            model_path=request.model,
            tags=reader.plan.tags(),
        )
        bar = tqdm(total=None, unit="tile", file=sys.stderr, disable=not request.show_progress, desc="mosaic predict")

        def progress(p) -> None:
            bar.total = p.total
            bar.update(p.done - bar.n)

        try:
            summary = run_inference(
                model,
                reader,
                outputs.sinks,
                stride=stride,
                batch_size=request.batch_size,
                max_nodata_fraction=request.max_nodata,
                progress=progress,
                prefetch=request.prefetch,
                cloud=reader.cloud,
                cloud_fraction=request.cloud_fraction,
                modalities=reader.modalities,
            )
            bar.close()
            paths = outputs.commit()
        except BaseException:
            bar.close()
            outputs.abort()
            raise
    for note in model_run_info(model).notes():  # after the run: a refusal stays one line
        print(f"mosaic predict: {note}", file=sys.stderr)
    return summary, paths
