"""Shared by the in-EA inference tests (test_mql5_onnx.py, test_mql5_onnx_builtins.py): the bundled XAUUSD sample
on a chart, a small model exported to ONNX, encode's reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from mt5bridge.config import get_preset
from mt5bridge.data import read_bars, sample_path
from mt5bridge.drift import INPUT_LEVELS, LEVELS_KEY, QUANTILES_KEY as INPUT_QUANTILES_KEY
from mt5bridge.engine.layout import init_params
from mt5bridge.features import get_feature_set
from mt5bridge.inference import QUANTILES_KEY, error_quantiles
from mt5bridge.modelfile import Model
from mt5bridge.normalize import Standardizer
from mt5bridge.onnx_export import export_onnx
from mt5bridge.training.encode import encode_series
from mt5bridge.training.series import Series
from mql5twin import market

H1 = 16385
N = 1700  # bars of the sample on the chart in the end
VISIBLE = 1200  # bars visible at the start: 0..1198 closed, 1199 forming
WARMUP = 500  # the feature sets' warm-up: the first bar stepped is chart bar 500


def sample_bars() -> np.ndarray:
    return read_bars(sample_path()).bars[:N]


def make_chart(bars: np.ndarray, folder: Path) -> tuple[market.MarketData, Path]:
    """What the terminal shows of the bars, and the same written for the compiled code."""
    data = market.market_data(bars)
    return data, market.write_market(folder / "market.bin", data)


def closed_series(bars, feature_set: str, start: int = WARMUP) -> Series:
    """The closed bars an EA steps from chart bar `start` on (the last bar of `bars` is still forming)."""
    features = get_feature_set(feature_set).compute(bars)
    times = np.asarray(bars["time"], np.int64)
    return Series("sample", times[start:-1], features[start:-1], feature_set=feature_set)


def small_model(series: Series, timeframe: str = "H1") -> Model:
    """The tiny preset's network with its initial weights, standardised on the data, with the training-error and
    input quantiles a trained model carries (as tests/test_onnx_export.py builds it)."""
    chosen = get_preset("tiny")
    standardizer = Standardizer.fit(series.features)
    params = {k: v.astype(np.float32) for k, v in init_params(chosen.model).items()}
    z = standardizer.transform(series.features)
    extras = {LEVELS_KEY: np.array(INPUT_LEVELS), INPUT_QUANTILES_KEY: np.quantile(z, INPUT_LEVELS, axis=0)}
    model = Model(chosen.model, params, standardizer, series.feature_set,
                  metadata={"trained_on": {"timeframe": timeframe}}, extras=extras)
    model.extras[QUANTILES_KEY] = error_quantiles(encode_series(model, series).column("recon_error").to_numpy())
    return model


def export_models(bars, files: Path):
    """In `files` (MQL5/Files): model.onnx (H1, scale-free-v1), h4.onnx (another timeframe), set4.onnx (a feature
    set this code does not know). Returns the model, the folder, its closed series and encode's table of it."""
    series = closed_series(bars, "scale-free-v1")
    model = small_model(series)
    export_onnx(model, files / "model.onnx")
    export_onnx(small_model(series, timeframe="H4"), files / "h4.onnx")
    patch_info(files / "model.onnx", files / "set4.onnx", index=1, value=4.0)
    return model, files, series, encode_series(model, series)


def patch_info(source: Path, target: Path, index: int, value: float) -> None:
    """A copy of the graph whose `info` output says something else."""
    proto = onnx.load(str(source))
    init = next(t for t in proto.graph.initializer if t.name == "info_value")
    info = onnx.numpy_helper.to_array(init).copy()
    info[0, index] = value
    init.CopyFrom(onnx.numpy_helper.from_array(info, "info_value"))
    onnx.save(proto, str(target))
