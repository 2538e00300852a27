"""`mt5bridge export`: one step of a trained model as an ONNX graph, for MQL5's OnnxRun (and any ONNX runtime).

The graph does for one stream and one closed bar what `ModelRunner.step` does (mt5bridge/inference.py), so an EA
stepping it bar after bar gets `encode`'s latents (docs/MQL5.md, "In-EA inference"):

    inputs   bars   [1, D, F]  raw features of the last D closed bars, newest first (row 0: the bar just closed)
             valid  [1, D]     1 where a row holds a bar, 0 before the stream's first stepped bar (ModelRunner's
                               zero padding in standardised units)
             state  [1, S]     every LSTM layer's h and c, packed [h_0 | c_0 | h_1 | c_1 | ...]; zeros at the start
    outputs  latent     [1, Z]  latent mean
             error      [1, 1]  mean squared error over the D*F standardised target (meaningful once D bars were
                                stepped; `encode` gives NaN before that)
             percentile [1, 1]  percent of training errors <= error (NaN when the model holds no distribution)
             outside    [1, 1]  how many of row 0's F standardised values lie outside the training 0.1-99.9 % range
                                (the drift score is their sum over the last 500 bars / (bars * F))
             state_out  [1, S]  the state after this bar
             info       [1, 9]  INFO_FIELDS: what the caller checks before trusting the graph

Standardisation is inside the graph. Float32 throughout (MQL5's `float`), fixed shapes, batch 1. The recurrent
layers are ONNX `LSTM` nodes (gates reordered from our i, f, g, o to ONNX's i, o, f, c), the decoder `Gemm` nodes.
Opset 13 and IR version 8: MetaTrader 5 runs ONNX Runtime 1.14 (its ONNX docs), which reads IR <= 8; every
operator used is in ORT 1.14's CPU kernel list at that opset (tests/test_onnx_export.py keeps the list).

This module is the only importer of `onnx`; the graph is built with `onnx.helper` and checked with
`onnx.checker` (full check, with shape inference) before it is written.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .drift import training_range
from .errors import ModelFileError
from .fileio import atomic_path
from .inference import QUANTILES_KEY
from .modelfile import Model

OPSET = 13
IR_VERSION = 8
FORMAT_VERSION = 1
FEATURE_SET_CODES = {"mt5-v1": 1, "robust-v1": 2, "scale-free-v1": 3}
INFO_FIELDS = ("format_version", "feature_set_code", "features", "window", "target_bars", "latent", "state",
               "timeframe_seconds", "has_drift_bounds")
INPUTS = ("bars", "valid", "state")
OUTPUTS = ("latent", "error", "percentile", "outside", "state_out", "info")
_GATES_ONNX_ORDER = (0, 3, 1, 2)  # ONNX LSTM gate blocks i, o, f, c taken from ours (i, f, g, o)


def state_size(model: Model) -> int:
    """S: the packed recurrent state's length, 2 * sum of the LSTM hidden sizes."""
    return 2 * sum(model.config.lstm)


def pack_state(layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """[(h (H,), c (H,)) per layer] -> (S,) in the graph's order [h_0 | c_0 | h_1 | c_1 | ...]."""
    return np.concatenate([np.concatenate([np.ravel(h), np.ravel(c)]) for h, c in layers])


def info_vector(model: Model) -> np.ndarray:
    """(9,) float32: the graph's `info` output (INFO_FIELDS)."""
    from .data.timeframes import timeframe
    from .training.provenance import trained_timeframe

    cfg = model.config
    if model.feature_set not in FEATURE_SET_CODES:
        raise ModelFileError(f"feature set {model.feature_set!r} has no ONNX export code")
    name = trained_timeframe(model)
    seconds = timeframe(name).seconds if name else 0
    values = (FORMAT_VERSION, FEATURE_SET_CODES[model.feature_set], cfg.features, cfg.window, cfg.target_bars,
              cfg.latent, state_size(model), seconds, 1 if training_range(model.extras) is not None else 0)
    return np.array(values, np.float32)


def build_graph(model: Model, *, model_sha256: str = ""):
    """The step graph of `model` as an onnx.ModelProto (checked)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    cfg = model.config
    d, f, w, z, s = cfg.target_bars, cfg.features, cfg.window, cfg.latent, state_size(model)
    nodes: list = []
    inits: list = []

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    f32 = np.float32
    i64 = np.int64
    # Standardise, then zero the padding rows: (bars - mean) / std * valid, as ModelRunner pads with standardised 0.
    centred = node("Sub", ["bars", const("mean", model.standardizer.mean.astype(f32))], "centred")
    scaled = node("Div", [centred, const("std", model.standardizer.std.astype(f32))], "scaled")  # [1, D, F]
    mask = node("Unsqueeze", ["valid", const("axis2", np.array([2], i64))], "mask")  # [1, D, 1]
    standard = node("Mul", [scaled, mask], "standard")  # [1, D, F], newest first
    target = node("Reshape", [standard, const("shape_target", np.array([1, d * f], i64))], "target")  # [1, D*F]
    window = node("Slice", [target, const("zero", np.array([0], i64)), const("inputs_end", np.array([w * f], i64)),
                            const("axis1", np.array([1], i64))], "window")  # [1, W*F]: the first W lags
    x = node("Reshape", [window, const("shape_seq", np.array([1, 1, w * f], i64))], "x0")  # [seq 1, batch 1, I]

    state_parts: list[str] = []
    offset = 0
    for layer, hidden in enumerate(cfg.lstm):
        shape_in = const(f"shape_state{layer}", np.array([1, 1, hidden], i64))
        h0, c0 = (node("Reshape", [node("Slice", ["state", const(f"{k}{layer}_lo", np.array([at], i64)),
                                                   const(f"{k}{layer}_hi", np.array([at + hidden], i64)), "axis1"],
                                        f"{k}{layer}_flat"), shape_in], f"{k}{layer}_in")
                  for k, at in (("h", offset), ("c", offset + hidden)))
        offset += 2 * hidden
        w_ih, w_hh = model.params[f"lstm{layer}.w_ih"], model.params[f"lstm{layer}.w_hh"]  # (4H, I), (4H, H)
        bias = model.params[f"lstm{layer}.b"]  # (4H,)
        reorder = np.concatenate([np.arange(g * hidden, (g + 1) * hidden) for g in _GATES_ONNX_ORDER])
        onnx_bias = np.concatenate([bias[reorder], np.zeros(4 * hidden)])  # [Wb | Rb]; ours has one bias
        lstm_out = [f"y{layer}", f"h{layer}_out", f"c{layer}_out"]
        nodes.append(helper.make_node(
            "LSTM",
            [x, const(f"lstm{layer}_W", w_ih[reorder][None].astype(f32)),
             const(f"lstm{layer}_R", w_hh[reorder][None].astype(f32)),
             const(f"lstm{layer}_B", onnx_bias[None].astype(f32)), "", h0, c0],
            lstm_out, name=f"lstm{layer}", hidden_size=hidden))
        x = lstm_out[1]  # Y_h [num_directions 1, batch 1, H] reads as the next layer's [seq 1, batch 1, H]
        shape_flat = const(f"shape_flat{layer}", np.array([1, hidden], i64))
        state_parts += [node("Reshape", [lstm_out[1], shape_flat], f"h{layer}_next"),
                        node("Reshape", [lstm_out[2], shape_flat], f"c{layer}_next")]
    node("Concat", state_parts, "state_out", axis=1)  # [1, S]

    top = node("Reshape", [x, const("shape_top", np.array([1, 2 * z], i64))], "top")  # [1, 2Z] = [mean | logvar]
    node("Slice", [top, "zero", const("latent_end", np.array([z], i64)), "axis1"], "latent")  # [1, Z]
    v = "latent"
    layers = [(f"dec{i}", cfg.decoder_activation) for i in range(len(cfg.decoder))] + \
        [("out", cfg.output_activation)]
    for name, act in layers:
        v = node("Gemm", [v, const(f"{name}_w", model.params[f"{name}.w"].astype(f32)),
                          const(f"{name}_b", model.params[f"{name}.b"].astype(f32))], f"{name}_z", transB=1)
        if act == "tanh":
            v = node("Tanh", [v], f"{name}_a")
    diff = node("Sub", [v, target], "diff")  # [1, D*F]
    node("ReduceMean", [node("Mul", [diff, diff], "sq")], "error", axes=[1], keepdims=1)  # [1, 1]

    _percentile_nodes(model, node, const)
    _outside_nodes(model, node, const, f)
    node("Identity", [const("info_value", info_vector(model)[None])], "info")

    def io(name: str, shape: list[int]):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    graph = helper.make_graph(
        nodes, "mt5bridge_step",
        [io("bars", [1, d, f]), io("valid", [1, d]), io("state", [1, s])],
        [io("latent", [1, z]), io("error", [1, 1]), io("percentile", [1, 1]), io("outside", [1, 1]),
         io("state_out", [1, s]), io("info", [1, len(INFO_FIELDS)])],
        initializer=inits)
    proto = helper.make_model(graph, producer_name="mt5bridge", opset_imports=[helper.make_opsetid("", OPSET)])
    proto.ir_version = IR_VERSION
    meta = {"mt5bridge.format": f"step-v{FORMAT_VERSION}", "mt5bridge.feature_set": model.feature_set,
            "mt5bridge.model_sha256": model_sha256, "mt5bridge.preset": str(model.metadata.get("preset") or ""),
            "mt5bridge.info": ",".join(INFO_FIELDS)}
    helper.set_model_props(proto, meta)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _percentile_nodes(model: Model, node, const) -> None:
    """percentile = np.interp(error, q, 0..100) for the model's Q error quantiles, as sums over the Q-1 segments:
    a segment of width > 0 adds clip((error - lo) / width, 0, 1), a zero-width one adds 1 once error >= lo."""
    q = np.asarray(model.extras.get(QUANTILES_KEY, np.zeros(0)), np.float32)  # (Q,) ascending, in float32
    if len(q) < 2:
        node("Identity", [const("no_percentile", np.full((1, 1), np.nan, np.float32))], "percentile")
        return
    lo, width = q[:-1], q[1:] - q[:-1]  # float32 widths: quantiles equal in float32 make zero-width segments
    wide = width > 0
    parts = node("Clip", [node("Div", [node("Sub", ["error", const("q_lo", lo[wide])], "above"),
                                       const("q_width", width[wide])], "along"),
                          const("clip0", np.float32(0.0)), const("clip1", np.float32(1.0))], "segments")
    steps = node("ReduceSum", [parts, "axis1"], "segment_sum", keepdims=1)  # [1, 1]
    if not wide.all():
        passed = node("Cast", [node("GreaterOrEqual", ["error", const("q_steps", lo[~wide])], "passed_b")],
                      "passed", to=1)  # 1 = FLOAT
        steps = node("Add", [steps, node("ReduceSum", [passed, "axis1"], "passed_sum", keepdims=1)], "all_steps")
    node("Mul", [steps, const("percent_per_step", np.float32(100.0 / (len(q) - 1)))], "percentile")


def _outside_nodes(model: Model, node, const, features: int) -> None:
    """outside = how many of the newest bar's values lie outside the training range, compared in RAW units against
    float32(mean + bound * std): a value sitting exactly on a bound (a discrete feature such as day_of_week = 5,
    whose 99.9 % quantile is a value that occurs) stays inside, as in drift.py's float64 comparison; standardising in
    float32 first would round such a value across its bound."""
    bounds = training_range(model.extras)
    if bounds is None:
        node("Identity", [const("no_outside", np.zeros((1, 1), np.float32))], "outside")
        return
    mean, std = model.standardizer.mean, model.standardizer.std
    low, high = ((mean + np.asarray(b, np.float64) * std).astype(np.float32) for b in bounds)  # (F,) raw units
    newest = node("Reshape", [node("Slice", ["bars", "zero", const("row_end", np.array([1], np.int64)),
                                            "axis1"], "row0_3d"), const("shape_row", np.array([1, features],
                                                                                               np.int64))],
                  "row0")  # [1, F]: the bar just closed, raw
    nodes_out = node("Or", [node("Less", [newest, const("low", low)], "below"),
                            node("Greater", [newest, const("high", high)], "over")], "outside_mask")
    node("ReduceSum", [node("Cast", [nodes_out], "outside_f", to=1), "axis1"], "outside", keepdims=1)


def export_onnx(model: Model, path: str | Path, *, model_sha256: str = "") -> dict:
    """Write the step graph to `path` atomically; returns a summary (sizes, opset, SHA-256 of the ONNX file)."""
    proto = build_graph(model, model_sha256=model_sha256)
    data = proto.SerializeToString()
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    info = dict(zip(INFO_FIELDS, (int(v) for v in info_vector(model))))
    return {"path": str(path), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "opset": OPSET,
            "ir_version": IR_VERSION, "inputs": list(INPUTS), "outputs": list(OUTPUTS), **info}
