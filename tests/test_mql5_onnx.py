"""In-EA inference (mql5/Include/Mt5Bridge/OnnxEncoder.mqh): the model exported to ONNX, stepped inside the EA on
features it computes from the chart with MetaTrader's own indicators. On real bars (the bundled XAUUSD sample), each
scenario on both the twin (tests/mql5twin/onnx_encoder.py) and the compiled MQL5 code (the C++ runtime's chart,
indicators and the real onnxruntime, tests/mql5check/mql5_runtime_market.h, mql5_runtime_onnx.h):
- stepping 1,199 closed bars (a warm-up over 699 bars of history, then bars closing one or several at a time) gives
  the graph's outputs to the bit and encode's latents and errors within 1e-5 of their norm, each bar once, in order;
- a limited history starts later, with the volume median primed from the bars before;
- indicators not calculated yet are waited for, never read as numbers;
- a model for another timeframe or an unknown feature set is refused;
- the monitor EA's ONNX source and the EA with the model embedded by #resource.
The features and the built-ins themselves: test_mql5_onnx_builtins.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from mt5bridge.modelfile import Model
from mt5bridge.onnx_check import OnnxStepper, relative_deviation
from mt5bridge.training.encode import encode_series
from mql5_onnx_support import H1, N, VISIBLE, WARMUP, closed_series, export_models, make_chart, sample_bars
from mql5check import native
from mql5twin import market, mql5, onnx_runtime
from mql5twin import onnx_encoder as twin

ENCODER_PROBE = "mql5/Experts/OnnxEncoderProbe.mq5"  # a test-only program (native.build's `texts`)
ENCODER_PROBE_TEXT = """#include <Mt5Bridge/OnnxEncoder.mqh>
input string InpModel = "model.onnx";
input int InpHistoryBars = 100000;
class CProbe : public CMt5bOnnxEncoder
  {
public:
   virtual void OnLatent(const Mt5bLatent &msg)
     {
      string s = StringFormat("L %I64d %u %I64u %.9g %.9g %.17g", (long)msg.bar_time, msg.flags, msg.stream_sequence,
                              (double)msg.recon_error, (double)msg.anomaly_pct, Drift());
      for(int k = 0; k < ArraySize(msg.latent); k++)
         s += StringFormat(" %.9g", (double)msg.latent[k]);
      Print(s);
     }
  };
CProbe g_probe;
int OnInit()
  {
   g_probe.SetHistoryBars(InpHistoryBars);
   return g_probe.LoadFromFile(InpModel, false) ? INIT_SUCCEEDED : INIT_FAILED;
  }
void OnTick() { Print("U ", g_probe.Update()); }
"""



@pytest.fixture(scope="module")
def bars():
    return sample_bars()


@pytest.fixture(scope="module")
def chart(bars, tmp_path_factory):
    return make_chart(bars, tmp_path_factory.mktemp("market"))


@pytest.fixture(scope="module")
def exported(bars, tmp_path_factory):
    """The models in MQL5/Files, and encode's table over every closed bar of the final chart from bar 500."""
    return export_models(bars, tmp_path_factory.mktemp("files"))


# --- one scenario, two implementations


@dataclass
class Latent:
    time: int
    flags: int
    sequence: int
    error: float
    percentile: float
    drift: float
    latent: list = field(default_factory=list)


def _parse_latent(line: str) -> Latent:
    parts = line.split()
    return Latent(int(parts[1]), int(parts[2]), int(parts[3]), float(parts[4]), float(parts[5]), float(parts[6]),
                  [float(v) for v in parts[7:]])


class TwinProbe(twin.CMt5bOnnxEncoder):
    def __init__(self):
        super().__init__()
        self.seen: list[Latent] = []

    def OnLatent(self, msg):
        self.seen.append(Latent(msg.bar_time, msg.flags, msg.stream_sequence, msg.recon_error, msg.anomaly_pct,
                                self.Drift(), list(msg.latent)))


class Terminal:
    """A chart with the encoder probe attached: the twin, or the compiled probe EA, driven alike."""

    def __init__(self, impl, request, chart, visible: int, files: Path, *, model: str = "model.onnx",
                 history: int = 100000, wait: int = 1):
        data, path = chart
        self.impl = impl
        self.latents: list[Latent] = []
        if impl == "twin":
            mql5.reset()
            market.load(data, visible)
            market.INDICATOR_WAIT, onnx_runtime.FILES = wait, files
            self.probe = TwinProbe()
            self.probe.SetHistoryBars(history)
            self._model = model
        else:
            env = {"MQL5_SYMBOL": "XAUUSD", "MQL5_PERIOD": str(H1), "MQL5_FILES": str(files),
                   "MQL5_INDICATOR_WAIT": str(wait), "MQL5_INPUT_InpModel": model,
                   "MQL5_INPUT_InpHistoryBars": str(history)}
            self.program = native.Program(ENCODER_PROBE, env=env, texts={ENCODER_PROBE: ENCODER_PROBE_TEXT})
            request.node.processes.append(self.program)
            self.program.call("market", str(path), visible)

    @property
    def log(self) -> list[str]:
        return mql5.log if self.impl == "twin" else self.program.log

    def init(self) -> int:
        if self.impl == "twin":
            return 0 if self.probe.LoadFromFile(self._model, False) else 1
        return self.program.call("init")

    def tick(self) -> int:
        """OnTick: Update's result; the latents it published are added to self.latents."""
        if self.impl == "twin":
            result = self.probe.Update()
            self.latents += self.probe.seen
            self.probe.seen = []
            return result
        before = len(self.program.log)
        self.program.call("tick")
        lines = self.program.log[before:]
        self.latents += [_parse_latent(line) for line in lines if line.startswith("L ")]
        return int(next(line for line in lines if line.startswith("U "))[2:])

    def advance(self, n: int) -> None:
        if self.impl == "twin":
            market.advance(n)
        else:
            self.program.call("advance", n)


def _check_against_encode(latents: list[Latent], table, model: Model, graph: Path, features: np.ndarray) -> dict:
    """The stepped bars are encode's (table), each once, in order; their outputs are the graph's stepped in Python
    (OnnxStepper over the same raw features: the same float32 inputs, so equal to the bit) and agree with encode
    within 1e-5 of each latent's norm and of each error. Returns the worst deviations from encode."""
    frame = table.to_pandas()
    assert [x.time for x in latents] == frame["time"].tolist()
    assert [x.sequence for x in latents] == list(range(1, len(latents) + 1))
    ours = np.array([x.latent for x in latents])
    error = np.array([x.error for x in latents])
    percentile = np.array([x.percentile for x in latents])
    drift = np.array([x.drift for x in latents])
    d = model.config.target_bars
    scored = np.arange(len(latents)) >= d - 1
    assert np.isnan(error[~scored]).all() and np.isfinite(error[scored]).all()
    assert all((x.flags & 4) != 0 for x in latents[: d - 1]) and all((x.flags & 4) == 0 for x in latents[d - 1:])
    assert [bool(x.flags & 1) for x in latents] == [k >= 499 for k in range(len(latents))]  # WARM after 500

    steps = OnnxStepper(graph).run(features)  # float32 outputs (the MQL5 side prints them with %.9g: exact)
    assert np.array_equal(ours.astype(np.float32), steps.latent)
    assert np.array_equal(error.astype(np.float32), steps.error.astype(np.float32), equal_nan=True)
    assert np.array_equal(percentile.astype(np.float32), steps.percentile.astype(np.float32), equal_nan=True)
    window = np.minimum(np.arange(1, len(latents) + 1), 500)
    recent = np.convolve(steps.outside, np.ones(500))[: len(latents)]  # outside values of the last 500 bars
    assert np.array_equal(drift, recent / (window * 12))

    theirs = frame[[f"z{k}" for k in range(model.config.latent)]].to_numpy()
    reference_error, reference_pct = frame["recon_error"].to_numpy(), frame["anomaly_pct"].to_numpy()
    assert np.isnan(reference_error[~scored]).all()
    deviation = {
        "latent": float(relative_deviation(ours, theirs).max()),
        "error": float(relative_deviation(error[scored], reference_error[scored]).max()),
        "percentile_relative": float(relative_deviation(percentile[scored], reference_pct[scored]).max()),
        "percentile_points": float(np.abs(percentile[scored] - reference_pct[scored]).max()),
        "drift_vs_encode": float(np.abs(drift - frame["input_drift"].to_numpy()).max()),
    }
    assert deviation["latent"] <= 1e-5 and deviation["error"] <= 1e-5, deviation
    # the graph counts outside values against raw-unit bounds (onnx_export.py), so the drift score is encode's exactly
    assert deviation["drift_vs_encode"] == 0.0, deviation
    # a percentile is the float32 error through float32 quantiles (onnx_export.py): measured 2.6e-5 relative (near
    # 0 %), 3e-4 points at most; `export --verify` allows 0.01 points
    assert deviation["percentile_relative"] <= 1e-4 and deviation["percentile_points"] <= 1e-3, deviation
    return deviation


# --- (b), (c) stepping the model


def test_stepping_the_model_over_history_then_live_bars_gives_encodes_outputs(impl, request, chart, exported):
    model, files, series, table = exported
    term = Terminal(impl, request, chart, VISIBLE, files)
    assert term.init() == 0, term.log
    waiting = 0
    while (warmed := term.tick()) < 0:  # right after OnInit the indicators are not calculated
        waiting += 1
        assert term.latents == [] and waiting < 20
    assert waiting >= 1 and warmed == VISIBLE - 1 - WARMUP  # every closed bar from 500 to the newest, in one call
    assert all(x.flags & 2 for x in term.latents[:-1]) and not term.latents[-1].flags & 2  # history: CATCHUP
    assert term.tick() == 0  # nothing new: nothing stepped twice
    chunks = [1, 1, 2, 0, 5, 1, 3, 17, 1, 40, 2, 1]  # bars that close between two calls, 0: a tick inside a bar
    chunks += [1] * 20 + [N - VISIBLE - sum(chunks) - 20]
    for n in chunks:
        term.advance(n)
        before = len(term.latents)
        assert term.tick() == n
        assert [bool(x.flags & 2) for x in term.latents[before:]] == [True] * (n - 1) + [False] * min(n, 1)
    assert len(term.latents) == N - 1 - WARMUP >= 1000
    worst = _check_against_encode(term.latents, table, model, files / "model.onnx", series.features)
    print(f"{impl}: {len(term.latents)} bars, worst deviation {worst}")


def test_history_bars_limit_the_warm_up_and_prime_the_volume_median(impl, request, chart, exported, bars):
    """InpHistoryBars = 300: the stream starts 300 bars before the newest closed one, with the volume median of
    the 500 bars up to it: encode from that bar on (features computed from the chart's first bar)."""
    model, files, _, _ = exported
    term = Terminal(impl, request, chart, VISIBLE, files, history=300)
    assert term.init() == 0
    while term.tick() < 0:
        pass
    start = VISIBLE - 1 - 300
    term.advance(100)
    assert term.tick() == 100
    series = closed_series(bars[:VISIBLE + 100], "scale-free-v1", start)
    assert len(term.latents) == 400
    _check_against_encode(term.latents, encode_series(model, series), model, files / "model.onnx", series.features)


def test_indicators_not_calculated_are_waited_for(impl, request, chart, exported):
    """The terminal computes new indicators in the background: for several calls BarsCalculated is -1 and
    CopyBuffer fails (ERR_INDICATOR_DATA_NOT_FOUND). Nothing is stepped meanwhile, then the same bars as always."""
    model, files, series, table = exported
    term = Terminal(impl, request, chart, VISIBLE, files, wait=6)
    assert term.init() == 0
    waiting = 0
    while (result := term.tick()) < 0:
        waiting += 1
        assert term.latents == [] and waiting < 50
    assert waiting >= 6 and result == VISIBLE - 1 - WARMUP
    _check_against_encode(term.latents, table.slice(0, result), model, files / "model.onnx",
                          series.features[:result])


# --- (d) refusals and the built-ins' failures


@pytest.mark.parametrize("name, expected", [
    ("h4.onnx", "trained on 14400-second bars, this chart's are 3600 seconds (H1)"),
    ("set4.onnx", "it reads unknown feature set 4, which this code does not compute"),
    ("missing.onnx", "cannot load the model missing.onnx (error 5019)"),
])
def test_a_model_for_another_timeframe_or_feature_set_is_refused(impl, request, chart, exported, name, expected):
    _, files, _, _ = exported
    term = Terminal(impl, request, chart, VISIBLE, files, model=name)
    assert term.init() == 1
    assert any(expected in line for line in term.log), term.log
    assert term.tick() == -1 and term.latents == []


# --- the EAs


@pytest.fixture
def programs():
    """Compiled programs started by a test, closed after it."""
    if not native.available():
        pytest.skip("g++ is not installed")
    started: list[native.Program] = []
    yield lambda program, env: started.append(native.Program(program, env=env)) or started[-1]
    for p in started:
        p.close()


def test_the_monitor_ea_runs_the_model_with_the_onnx_source(programs, chart, exported, tmp_path):
    model, files, _, table = exported
    (tmp_path / "Mt5Bridge").mkdir()
    (tmp_path / "Mt5Bridge" / "model.onnx").write_bytes((files / "model.onnx").read_bytes())
    env = {"MQL5_SYMBOL": "XAUUSD", "MQL5_PERIOD": str(H1), "MQL5_FILES": str(tmp_path), "MQL5_INPUT_InpSource": "1",
           "MQL5_INPUT_InpHistoryBars": "100000"}
    ea = programs("mql5/Experts/Mt5BridgeMonitor.mq5", env)
    ea.call("market", str(chart[1]), VISIBLE)
    assert ea.call("init") == 0, ea.log
    gv = lambda name: ea.call("gv", f"Mt5Bridge.XAUUSD.H1.{name}")  # noqa: E731
    for _ in range(20):  # until the indicators are calculated: then the history's bars
        ea.call("tick")
    assert gv("n") == VISIBLE - 1 - WARMUP
    ea.call("advance", 3)
    ea.call("tick")
    ea.call("clock", 1000)
    assert ea.call("timer") is True
    last = table.to_pandas().iloc[VISIBLE + 2 - WARMUP - 1]
    assert gv("bar") == last["time"] and gv("n") == VISIBLE + 2 - WARMUP and gv("fresh") == 1.0
    assert math.isclose(gv("pct"), last["anomaly_pct"], rel_tol=1e-5)
    assert "mt5bridge ONNX Mt5Bridge\\model.onnx: 702 bars stepped" in ea.call("comment")


def test_the_embedded_model_ea_loads_its_resource(programs, chart, exported, tmp_path):
    """Mt5BridgeOnnx.mq5 embeds MQL5/Files/Mt5Bridge/model.onnx at compile time (#resource): here at the start."""
    _, files, _, _ = exported
    root = tmp_path / "MQL5"
    (root / "Files" / "Mt5Bridge").mkdir(parents=True)
    (root / "Files" / "Mt5Bridge" / "model.onnx").write_bytes((files / "model.onnx").read_bytes())
    env = {"MQL5_SYMBOL": "XAUUSD", "MQL5_PERIOD": str(H1), "MQL5_ROOT": str(root)}
    ea = programs("mql5/Experts/Mt5BridgeOnnx.mq5", env)
    ea.call("market", str(chart[1]), VISIBLE)
    assert ea.call("init") == 0
    assert any("model embedded in the program loaded: scale-free-v1 features" in line for line in ea.log), ea.log
    missing = programs("mql5/Experts/Mt5BridgeOnnx.mq5", {**env, "MQL5_ROOT": str(tmp_path / "none")})
    with pytest.raises(native.Crash, match="#resource"):
        missing.call("init")
