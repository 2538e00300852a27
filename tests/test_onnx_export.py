"""`mt5bridge export`: the ONNX step graph passes onnx's checker, keeps to what MetaTrader 5's ONNX Runtime (1.14)
reads, and, stepped bar after bar in onnxruntime as an EA steps it, reproduces `encode` over 1,000 real bars for
both presets (latents and errors within 1e-5 of their norm; float32 measures ~1e-6)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
import pytest

from daemon_support import train_tiny
from mt5bridge.config import get_preset
from mt5bridge.data import sample_path
from mt5bridge.drift import INPUT_LEVELS, LEVELS_KEY, QUANTILES_KEY as INPUT_QUANTILES_KEY, outside_counts, \
    training_range
from mt5bridge.engine.layout import init_params
from mt5bridge.inference import QUANTILES_KEY, error_quantiles
from mt5bridge.modelfile import Model, load_model
from mt5bridge.normalize import Standardizer
from mt5bridge import onnx_export
from mt5bridge.onnx_check import TOLERANCE, OnnxStepper, compare
from mt5bridge.onnx_export import INFO_FIELDS, build_graph, export_onnx
from mt5bridge.training.encode import encode_series
from mt5bridge.training.series import load_series
from cli_support import run_main

BARS = 1000
# What the graph may use. ONNX Runtime 1.14 (MetaTrader 5's, per its ONNX docs) runs every ai.onnx operator up to
# opset 18 on the CPU (onnxruntime docs/OperatorKernels.md at v1.14.0); each of these exists at opset 13 in a version
# from opset <= 13 (checked below against onnx's own schemas).
ALLOWED_OPS = {"Sub", "Div", "Mul", "Add", "Unsqueeze", "Reshape", "Slice", "LSTM", "Concat", "Gemm", "Tanh",
               "ReduceMean", "ReduceSum", "Clip", "GreaterOrEqual", "Cast", "Identity", "Less", "Greater", "Or"}


def _model(preset: str, series, *, quantiles: bool = True) -> Model:
    """The preset's network with its initial weights (float32, as trained models are), standardised on the data,
    with the training-error and input quantiles a trained model carries."""
    chosen = get_preset(preset)
    standardizer = Standardizer.fit(series.features)
    params = {k: v.astype(np.float32) for k, v in init_params(chosen.model).items()}
    extras = {}
    if quantiles:
        z = standardizer.transform(series.features)
        extras = {LEVELS_KEY: np.array(INPUT_LEVELS), INPUT_QUANTILES_KEY: np.quantile(z, INPUT_LEVELS, axis=0)}
    model = Model(chosen.model, params, standardizer, chosen.train.feature_set,
                  metadata={"preset": preset, "trained_on": {"timeframe": "H1"}}, extras=extras)
    if quantiles:
        errors = encode_series(model, series).column("recon_error").to_numpy()
        model.extras[QUANTILES_KEY] = error_quantiles(errors)
    return model


@pytest.fixture(scope="module")
def series():
    return load_series(sample_path(), get_preset("default").train.feature_set).slice(0, BARS)


@pytest.fixture(scope="module", params=["default", "article"])
def stepped(request, series, tmp_path_factory):
    model = _model(request.param, series)
    path = tmp_path_factory.mktemp("onnx") / f"{request.param}.onnx"
    export_onnx(model, path)
    return model, path, OnnxStepper(path).run(series.features), encode_series(model, series)


def test_stepping_the_graph_reproduces_encode_for_both_presets(stepped):
    model, _, steps, table = stepped
    report = compare(steps, table)
    assert report.bars == BARS
    assert report.latent <= TOLERANCE and report.error <= TOLERANCE, report.text
    assert report.percentile <= 0.01, report.text
    errors = table.column("recon_error").to_numpy()
    d = model.config.target_bars
    assert np.isnan(steps.error[: d - 1]).all() and np.isfinite(steps.error[d - 1:]).all()
    assert np.isnan(errors[: d - 1]).all()  # the same bars are unscored on both sides


def test_the_percentile_is_the_models_interpolated_distribution(stepped):
    """The graph's percentile of its own error is np.interp over the (float32) quantiles: the interpolation itself,
    apart from the float32 error's deviation."""
    model, _, steps, _ = stepped
    q = model.extras[QUANTILES_KEY].astype(np.float32).astype(np.float64)
    scored = np.isfinite(steps.error)
    expected = np.interp(steps.error[scored], q, np.linspace(0, 100, len(q)))
    np.testing.assert_allclose(steps.percentile[scored], expected, atol=2e-3)
    assert 0.0 < steps.percentile[scored].mean() < 100.0


def test_outside_counts_are_the_drift_meters(stepped, series):
    """Bar for bar the drift meter's float64 counts, also for discrete features whose training bound is a value that
    occurs (day_of_week = 5 sits exactly on its 99.9 % quantile: inside, not outside)."""
    model, _, steps, _ = stepped
    z = model.standardizer.transform(series.features)  # (N, F)
    expected = outside_counts(z, training_range(model.extras))
    on_bound = np.isin(z, np.concatenate(training_range(model.extras)))
    assert expected.sum() > 0 and on_bound.any()
    assert np.array_equal(steps.outside, expected)


def test_the_graph_keeps_to_mt5s_onnx_runtime(stepped):
    model, path, _, _ = stepped
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version == 8 and [(o.domain, o.version) for o in proto.opset_import] == [("", 13)]
    ops = {n.op_type for n in proto.graph.node}
    assert ops <= ALLOWED_OPS, ops - ALLOWED_OPS
    for op in ops:
        assert onnx.defs.get_schema(op, 13).since_version <= 13
    for tensor in list(proto.graph.input) + list(proto.graph.output):
        assert tensor.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        assert all(d.dim_value > 0 for d in tensor.type.tensor_type.shape.dim)  # fixed shapes, no symbols
    assert all(t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.INT64) for t in proto.graph.initializer)
    cfg = model.config
    assert [i.name for i in proto.graph.input] == ["bars", "valid", "state"]
    assert [o.name for o in proto.graph.output] == ["latent", "error", "percentile", "outside", "state_out", "info"]
    info = dict(zip(INFO_FIELDS, OnnxStepper(path).info.values()))
    assert info == {"format_version": 1, "feature_set_code": 3, "features": 12, "window": cfg.window,
                    "target_bars": cfg.target_bars, "latent": cfg.latent, "state": 2 * sum(cfg.lstm),
                    "timeframe_seconds": 3600, "has_drift_bounds": 1}


def test_gates_in_our_order_would_be_caught(series, tmp_path, monkeypatch):
    """The parity check bites: ONNX's LSTM reads gates as i, o, f, c; handing it ours (i, f, g, o) unchanged breaks
    the latents far beyond the tolerance."""
    model = _model("tiny", series.slice(0, 300))
    monkeypatch.setattr(onnx_export, "_GATES_ONNX_ORDER", (0, 1, 2, 3))
    export_onnx(model, tmp_path / "wrong.onnx")
    report = compare(OnnxStepper(tmp_path / "wrong.onnx").run(series.slice(0, 300).features),
                     encode_series(model, series.slice(0, 300)))
    assert report.latent > 1e-2


def test_a_model_without_distributions_exports_nan_percentiles(series, tmp_path):
    model = _model("tiny", series.slice(0, 100), quantiles=False)
    export_onnx(model, tmp_path / "plain.onnx")
    stepper = OnnxStepper(tmp_path / "plain.onnx")
    steps = stepper.run(series.slice(0, 100).features)
    assert np.isnan(steps.percentile).all() and (steps.outside == 0).all()
    assert stepper.info["has_drift_bounds"] == 0


def test_a_float64_model_exports_as_float32(series, tmp_path):
    model = _model("tiny", series.slice(0, 200))
    model = replace(model, params={k: v.astype(np.float64) for k, v in model.params.items()})
    proto = build_graph(model)
    assert all(t.data_type != onnx.TensorProto.DOUBLE for t in proto.graph.initializer)
    export_onnx(model, tmp_path / "f64.onnx")
    report = compare(OnnxStepper(tmp_path / "f64.onnx").run(series.slice(0, 200).features),
                     encode_series(model, series.slice(0, 200)))
    assert report.passed, report.text


def test_export_command_verifies_and_never_overwrites(tmp_path, capsys):
    model_path = train_tiny(tmp_path / "tiny.npz")
    out = tmp_path / "tiny.onnx"
    code, stdout, stderr = run_main(["export", "--model", str(model_path), "--out", str(out), "--verify",
                                     str(sample_path()), "--bars", "300"], capsys)
    assert code == 0, stderr
    assert "opset 13" in stdout and "matches encode" in stdout and out.exists()
    before = out.read_bytes()
    code, _, stderr = run_main(["export", "--model", str(model_path), "--out", str(out)], capsys)
    assert code == 2 and "--force" in stderr and out.read_bytes() == before
    code, _, stderr = run_main(["export", "--model", str(model_path), "--out", str(model_path)], capsys)
    assert code == 2 and load_model(model_path) is not None
    code, _, _ = run_main(["export", "--model", str(model_path), "--out", str(out), "--force"], capsys)
    assert code == 0


def test_verify_fails_on_a_graph_of_another_model(tmp_path, capsys):
    """--verify compares with the --model's own encode: a graph exported from other weights does not pass."""
    first, second = train_tiny(tmp_path / "a.npz", seed=0), train_tiny(tmp_path / "b.npz", seed=1)
    export_onnx(load_model(second), tmp_path / "b.onnx")
    from mt5bridge.onnx_check import verify_against_encode

    report = verify_against_encode(load_model(first), tmp_path / "b.onnx", sample_path(), 200)
    assert not report.passed and "DOES NOT match" in report.text
