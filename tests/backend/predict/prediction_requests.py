"""The :class:`PredictRequest` tests run: ``mosaic predict``'s defaults, 4 tiles per call and 2 threads."""

from __future__ import annotations

import dataclasses

from mosaic.backend.inference.inspector import InputOptions
from mosaic.backend.predict.request import PredictRequest

INPUT_OPTIONS = {f.name for f in dataclasses.fields(InputOptions)}


def predict_request(s2, s1, model, out, **options) -> PredictRequest:
    """``mosaic predict --s2 S2... --s1 S1... --model MODEL --out OUT --batch-size 4 --threads 2`` with
    ``options``: request fields, or :class:`InputOptions` fields (``s2_offset="1000"``)."""
    inputs = InputOptions(**{k: options.pop(k) for k in list(options) if k in INPUT_OPTIONS})
    settings = {"batch_size": 4, "threads": 2} | options
    return PredictRequest([str(p) for p in s2], [str(p) for p in s1], str(model), str(out), inputs=inputs, **settings)
