"""Hypothesis profiles for the fuzz tests: ``ci`` (default) is derandomised, so every run tries the same inputs.

Select another with ``HYPOTHESIS_PROFILE=dev`` (random inputs, more examples) for a longer local hunt. And the int8
copy of the test network, as ``mosaic export --precision int8`` writes it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, max_examples=150, deadline=None, database=None, print_blob=True)
settings.register_profile("dev", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def int8_copy_path(onnx_model_path, ben_v2, tmp_path_factory):
    """``model_int8.onnx``: the int8 copy of ``onnx_model_path`` made by ``mosaic export --precision int8``'s own code
    (calibrated on 4 real validation patches, metrics on the test patches), in a folder beside a copy of the fp32
    file (``model.onnx``); returns the int8 path."""
    import shutil

    from mosaic.backend.data.bigearthnet import BigEarthNetV2
    from mosaic.backend.export.from_checkpoint import reduce_precision

    folder = tmp_path_factory.mktemp("precision")
    fp32 = Path(shutil.copyfile(onnx_model_path, folder / "model.onnx"))
    val, test = (BigEarthNetV2(ben_v2, split=s) for s in ("validation", "test"))
    return reduce_precision(fp32, folder / "model_int8.onnx", "int8", val, test, calibration_batches=1, batch_size=4)
