"""The loader benchmark on the real sample, kept tiny: it measures, interleaves routes and formats the table."""

from __future__ import annotations

from mosaic.backend.cli import main
from mosaic.backend.data.bench import markdown_table, measure
from mosaic.backend.data.bigearthnet import BigEarthNetV2


def test_measure_reports_positive_rates_per_route(ben_v2):
    routes = {
        "folders": BigEarthNetV2(ben_v2, "test"),
        "lmdb": BigEarthNetV2(ben_v2, "test", lmdb_path=ben_v2 / "BigEarthNet-V2-LMDB"),
    }
    result = measure(routes, patches=12, batch_size=4, workers=0, repeats=2)
    assert set(result) == {"folders", "lmdb"}
    assert all(row["1 process"] > 0 and "per worker" not in row for row in result.values())
    table = markdown_table({"lmdb": {"1 process": 1616.2, "per worker": 507.4}}, 2)
    assert table.splitlines() == [
        "| route | 1 process | per worker (2 workers) |",
        "|---|---|---|",
        "| lmdb | 1,616 | 507 |",
    ]


def test_pack_cli(ben_v2, tmp_path, capsys):
    assert main(["pack", str(ben_v2), str(tmp_path / "db")]) == 0
    assert "packed 24 S1 + S2 patch pairs" in capsys.readouterr().err
    assert len(BigEarthNetV2(ben_v2, "all", lmdb_path=tmp_path / "db")) == 18
