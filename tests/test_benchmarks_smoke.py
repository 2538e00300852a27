"""benchmarks/scaling.py end to end on a 2-point grid (tiny network, the bundled sample): it writes its JSON, table
and plot. No timing is asserted; its FLOP model is checked against a count by hand."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import scaling  # noqa: E402

from mt5bridge.config import get_preset  # noqa: E402
from mt5bridge.data import sample_path  # noqa: E402

TORCH = "cpu" if importlib.util.find_spec("torch") else "none"


@pytest.fixture(autouse=True)
def small_ceilings(monkeypatch):
    # The ceilings' code runs; their sizes shrink from seconds of work to milliseconds.
    monkeypatch.setattr(scaling, "CEILING_SIZES", {"gpu": (64, 4096), "cpu": (64, 4096)})


def sweep(tmp_path, device: str, torch_device: str, *points: str, repeats: int = 1) -> dict:
    scaling.main(["--device", device, "--torch-device", torch_device, "--preset", "tiny", "--data", str(sample_path()),
                  "--axes", *sorted({p[0] for p in points}), "--points", *points, "--chunks", "3", "--warmup", "1",
                  "--repeats", str(repeats), "--torch-threads", "1", "--out-dir", str(tmp_path)])
    # one torch thread: two spin-wait on each other for seconds per tiny op when the machine is busy
    return json.loads((tmp_path / f"scaling-{device.replace(':', '-')}.json").read_text())


def test_two_points_write_json_table_and_plot(tmp_path, capsys):
    result = sweep(tmp_path, "numpy", TORCH, "B=4,8", repeats=2)
    assert [(p["axis"], p["streams"], p["tbptt"]) for p in result["points"]] == [("B", 4, 40), ("B", 8, 40)]
    sides = ("ours", "torch") if TORCH != "none" else ("ours",)
    for point in result["points"]:
        bars_per_stream = result["meta"]["bars"] // point["streams"]  # every bar trains; each stream gets its share
        assert point["chunks_per_epoch"] == pytest.approx(bars_per_stream / 40, abs=2)
        for side in sides:
            measured = point[side]
            assert measured["chunk_s"] == min(measured["repeats_chunk_s"]) and len(measured["repeats_chunk_s"]) == 2
            assert measured["epoch_s"] == pytest.approx(measured["chunk_s"] * point["chunks_per_epoch"])
            assert measured["bound"] == max(measured["fractions"], key=measured["fractions"].get)
        assert (point["torch"]["launches"] > 0 and point["ratio"] > 0) if TORCH != "none" else "torch" not in point
    table = (tmp_path / "scaling-numpy.md").read_text().splitlines()
    assert table[0] == scaling.HEADER.splitlines()[0] and len(table) == 4
    assert table[2].startswith("| B | 4 | 32/16 | 40 | ") and table[3].startswith("| B | 8 | 32/16 | 40 | ")
    assert table[3] in capsys.readouterr().out  # printed for pasting
    assert (tmp_path / "scaling-numpy.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    json_path = tmp_path / "scaling-numpy.json"
    scaling.main(["--replot", str(json_path), str(json_path), "--out-dir", str(tmp_path / "both")])
    assert (tmp_path / "both" / "scaling-combined.png").read_bytes().startswith(b"\x89PNG")


def test_opencl_side_counts_its_buffers_and_launches(tmp_path, cl_device):
    result = sweep(tmp_path, cl_device.index, "none", "H=16")
    point = result["points"][0]
    assert point["lstm"] == [16, 16] and point["latent"] == 8  # H axis: every layer H, Z = H/2
    ours = point["ours"]
    assert ours["buffers_mib"] > 0 and ours["launches"] > 0 and 0 < ours["busy_fraction"] <= 1.5
    assert set(ours["fractions"]) == {"compute", "memory", "launch"}


def test_flop_model_matches_a_count_by_hand():
    # article preset, B=32, K=40 (1,280 rows). Multiply-adds per row, forward: LSTM 120*2000 + 500*2000,
    # 500*1000 + 250*1000, 250*200 + 50*200 (2,050,000); dense 25*40 + 40*80 + 80*160 + 160*480 (93,800).
    # Backward: twice that, less the first layer's input gradient (120*2000). 2 FLOPs per multiply-add.
    forward = 2_050_000 + 93_800
    flops, _ = scaling.work(get_preset("article").model, 32, 40)
    assert flops == 2 * (3 * forward - 120 * 2000) * 1280
    assert flops == pytest.approx(15.85e9, rel=1e-3)


def test_bad_points_are_refused_by_name():
    with pytest.raises(SystemExit, match="B=8,x"):
        scaling.parse_points(["B=8,x"])
    with pytest.raises(SystemExit, match="Q=8"):
        scaling.parse_points(["Q=8"])
    with pytest.raises(SystemExit, match="H=63"):
        scaling.network(get_preset("default").model, 63)
