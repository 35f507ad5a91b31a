"""``mosaic bench predict --writer``: the real writer on a tile's output grid, each raster's cost measured."""

from __future__ import annotations

from mosaic.backend.inference import load_model
from mosaic.backend.predict.writer_bench import write_costs, write_costs_table


def test_write_costs_of_every_raster_and_a_work_file_smaller_than_the_raw_values(onnx_model_path):
    meta = load_model(onnx_model_path).metadata
    costs = write_costs(meta, stride=30, cells=300)
    assert [c["raster"] for c in costs] == ["probabilities.tif", "labels.tif", "confidence.tif"]
    raw_mib = {"probabilities.tif": 300 * 300 * meta.n_classes * 4 / 2**20, "confidence.tif": 300 * 300 * 4 / 2**20}
    for c in costs:
        assert c["write s"] > 0 and c["cog s"] > 0
        assert c["work MiB"] < raw_mib.get(c["raster"], 300 * 300 * 3 * 4 / 2**20)
    table = write_costs_table({(30, 300): costs})
    assert table.splitlines()[2].startswith("| 30 | 300 × 300 | probabilities.tif |")
    assert len(table.splitlines()) == 5
