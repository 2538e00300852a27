"""The ground under the in-EA encoder, on both the twin and the compiled MQL5 code: the MQL5 feature rows equal
mt5bridge.features' (bit for bit, logarithms to the last bit) for the three feature sets; the chart's series indexing
(start_pos 0 is the bar still forming); the ONNX built-ins fail as the MQL5 Reference documents; and the twin keeps
the MQL5 code's names (tests/mql5twin/onnx_features.py, onnx_encoder.py)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import numpy as np
import onnx
import pytest

from mt5bridge.features import FEATURE_SETS, get_feature_set
from mql5_onnx_support import H1, VISIBLE, WARMUP, export_models, make_chart, sample_bars
from mql5check import gate, gxx, native
from mql5twin import market, mql5, onnx_runtime
from mql5twin import onnx_features as twin

FEATURE_PROBE = "mql5/Scripts/OnnxFeatureProbe.mq5"  # test-only programs (native.build's `texts`)
FEATURE_PROBE_TEXT = """#include <Mt5Bridge/OnnxFeatures.mqh>
input int InpSet = 3;
void OnStart()
  {
   CMt5bFeatures f;
   if(!f.Create(InpSet))
      return;
   int tries = 0;
   while(!f.Ready() && tries < 100)
      tries++;
   Print("T ", tries);
   int first_shift = Bars(_Symbol, _Period) - 1 - MT5B_FEATURE_WARMUP;
   if(!f.Prime(first_shift))
      return;
   double row[];
   datetime t;
   int retries = 0;
   for(int shift = first_shift; shift >= 1; shift--)
     {
      while(!f.Read(shift, row, t))
         if(++retries > 100)
            return;
      if(shift == 1)
         Print("T ", retries);
      string s = "R " + IntegerToString((long)t);
      for(int k = 0; k < 12; k++)
         s += StringFormat(" %.17g", row[k]);
      Print(s);
     }
  }
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


# --- (a) features


def _feature_rows(impl, request, chart, feature_set: str) -> tuple[tuple[int, int], np.ndarray, np.ndarray]:
    """((calls until ready, failed reads), (N,) bar times, (N, F) rows) the MQL5 feature code reads for every closed
    bar from 500."""
    data, path = chart
    code = {"mt5-v1": 1, "robust-v1": 2, "scale-free-v1": 3}[feature_set]
    if impl == "twin":
        mql5.reset()
        market.load(data, VISIBLE)
        f = twin.CMt5bFeatures()
        assert f.Create(code)
        tries = 0
        while not f.Ready() and tries < 100:
            tries += 1
        first_shift = market.Bars("XAUUSD", H1) - 1 - twin.MT5B_FEATURE_WARMUP
        assert f.Prime(first_shift)
        times, rows = [], []
        retries = 0
        for shift in range(first_shift, 0, -1):
            row, t = [], [0]
            while not f.Read(shift, row, t):
                retries += 1
                assert retries <= 100
            times.append(t[0])
            rows.append(list(row))
        return (tries, retries), np.array(times), np.array(rows)
    program = native.Program(FEATURE_PROBE, env={"MQL5_SYMBOL": "XAUUSD", "MQL5_PERIOD": str(H1),
                                                 "MQL5_INPUT_InpSet": str(code)},
                             texts={FEATURE_PROBE: FEATURE_PROBE_TEXT})
    request.node.processes.append(program)
    program.call("market", str(path), VISIBLE)
    program.call("start")
    tries, retries = (int(line[2:]) for line in program.log if line.startswith("T "))
    lines = [line.split() for line in program.log if line.startswith("R ")]
    return (tries, retries), np.array([int(p[1]) for p in lines]), np.array([[float(v) for v in p[2:]] for p in lines])


LOG_SLOTS = {"mt5-v1": (), "robust-v1": (3,), "scale-free-v1": (3, 9)}  # MathLog's results


@pytest.fixture(scope="module")
def frozen(bars, tmp_path_factory):
    """The sample with a frozen feed from bar 900 to 940 (every price the last close, no ticks): ATR14 reaches 0,
    so scale-free-v1 divides by its floor, 1e-7 x close, which no live market reaches."""
    frozen = bars.copy()
    for k in ("open", "high", "low", "close"):
        frozen[k][900:941] = bars["close"][899]
    frozen["tick_volume"][900:941] = 0
    return frozen, make_chart(frozen, tmp_path_factory.mktemp("frozen"))


def _check_rows(impl, request, chart, bars, feature_set: str) -> None:
    """Every value equal in float64, except that a logarithm may differ in its last bit: numpy's vectorised log
    (the batch path) and a C library's log (MathLog: glibc here, the MSVC runtime in a terminal) are each within an
    ulp of the true value, not always the same one (3 of the 699 volume ratios of the sample differ)."""
    (tries, retries), times, rows = _feature_rows(impl, request, chart, feature_set)
    expected = get_feature_set(feature_set).compute(bars[:VISIBLE])[WARMUP:VISIBLE - 1]  # the closed bars
    # not calculated at first: BarsCalculated, then CopyBuffer failed; a failed read was retried and changed nothing
    assert tries >= 1 and retries >= 1
    assert times.tolist() == bars["time"][WARMUP:VISIBLE - 1].tolist()
    assert rows.shape == expected.shape and np.isfinite(rows).all()
    differ = np.argwhere(rows != expected)
    exact = [tuple(i) for i in differ if i[1] not in LOG_SLOTS[feature_set]]
    assert not exact, f"{len(exact)} values differ, first (bar, feature): {exact[:5]}, " \
                      f"{rows[exact[0]]!r} vs {expected[exact[0]]!r}"
    ulps = np.abs(rows - expected) / np.spacing(np.abs(expected))
    assert ulps.max() <= 1.0, f"a logarithm is {ulps.max()} ulp off"
    print(f"{impl} {feature_set}: {len(differ)} of {rows.size} values 1 ulp off (logarithms)")


@pytest.mark.parametrize("feature_set", sorted(FEATURE_SETS))
def test_the_mql5_features_are_mt5bridges_bit_for_bit(impl, request, chart, bars, feature_set):
    _check_rows(impl, request, chart, bars, feature_set)


def test_a_frozen_feed_divides_by_the_atr_floor(impl, request, frozen):
    bars, chart = frozen
    atr = get_feature_set("mt5-v1").compute(bars)[:, 9]  # 0 but for the running sum's rounding
    assert (np.abs(atr[914:941]) < 1e-7 * bars["close"][914:941]).all()  # the floor acts there
    _check_rows(impl, request, chart, bars, "scale-free-v1")


ONNX_FAILURES_TEXT = """#include <Mt5Bridge/OnnxEncoder.mqh>
void Report(const string what, const bool ok) { Print("E ", what, " ", ok, " ", GetLastError()); ResetLastError(); }
void OnStart()
  {
   long h = OnnxCreate("model.onnx", 0);
   float bars[];
   float valid[];
   float state[];
   float a[];
   float b[];
   float c[];
   float d[];
   float e[];
   float info[];
   ArrayResize(bars, 16 * 12);
   ArrayResize(valid, 16);
   ArrayResize(state, 96);
   ArrayResize(a, 8);
   ArrayResize(b, 1);
   ArrayResize(c, 1);
   ArrayResize(d, 1);
   ArrayResize(e, 96);
   ArrayResize(info, 9);
   Report("run_before_shapes", OnnxRun(h, ONNX_NO_CONVERSION, bars, valid, state, a, b, c, d, e, info));
   ulong wrong[] = {1, 15, 12};
   Report("wrong_shape", OnnxSetInputShape(h, 0, wrong));
   ulong bad_index[] = {1, 16};
   Report("bad_index", OnnxSetInputShape(h, 7, bad_index));
   ulong s0[] = {1, 16, 12};
   ulong s1[] = {1, 16};
   ulong s2[] = {1, 96};
   ulong z[] = {1, 8};
   ulong one[] = {1, 1};
   ulong nine[] = {1, 9};
   bool set = OnnxSetInputShape(h, 0, s0) && OnnxSetInputShape(h, 1, s1) && OnnxSetInputShape(h, 2, s2) &&
              OnnxSetOutputShape(h, 0, z) && OnnxSetOutputShape(h, 1, one) && OnnxSetOutputShape(h, 2, one) &&
              OnnxSetOutputShape(h, 3, one) && OnnxSetOutputShape(h, 4, s2) && OnnxSetOutputShape(h, 5, nine);
   Report("shapes", set);
   Report("count", OnnxRun(h, ONNX_NO_CONVERSION, bars, valid, state, a, b, c, d, e));
   ArrayResize(valid, 15);
   Report("size", OnnxRun(h, ONNX_NO_CONVERSION, bars, valid, state, a, b, c, d, e, info));
   ArrayResize(valid, 16);
   ArrayInitialize(valid, 0);
   ArrayInitialize(bars, 0);
   ArrayInitialize(state, 0);
   Report("run", OnnxRun(h, ONNX_NO_CONVERSION, bars, valid, state, a, b, c, d, e, info));
   Print("I ", info[0], " ", info[1], " ", info[4]);
   Report("release", OnnxRelease(h));
   Report("released", OnnxRun(h, ONNX_NO_CONVERSION, bars, valid, state, a, b, c, d, e, info));
   Report("bad_release", OnnxRelease(h));
   Report("ir9", OnnxCreate("ir9.onnx", 0) != INVALID_HANDLE);
   Report("not_onnx", OnnxCreate("market.bin", 0) != INVALID_HANDLE);
  }
"""


def _twin_onnx_failures(files: Path) -> list[str]:
    """ONNX_FAILURES_TEXT, line for line, on the twin."""
    m = onnx_runtime
    mql5.reset()
    m.FILES = files
    out = []

    def report(what, ok):
        out.append(f"E {what} {str(bool(ok)).lower()} {mql5.GetLastError()}")
        mql5.ResetLastError()

    h = m.OnnxCreate("model.onnx", 0)
    arrays = [m.float_array([0.0] * n) for n in (16 * 12, 16, 96, 8, 1, 1, 1, 96, 9)]
    bars, valid, state, a, b, c, d, e, info = arrays
    report("run_before_shapes", m.OnnxRun(h, m.ONNX_NO_CONVERSION, *arrays))
    report("wrong_shape", m.OnnxSetInputShape(h, 0, [1, 15, 12]))
    report("bad_index", m.OnnxSetInputShape(h, 7, [1, 16]))
    ok = all([m.OnnxSetInputShape(h, 0, [1, 16, 12]), m.OnnxSetInputShape(h, 1, [1, 16]),
              m.OnnxSetInputShape(h, 2, [1, 96]), m.OnnxSetOutputShape(h, 0, [1, 8]),
              m.OnnxSetOutputShape(h, 1, [1, 1]), m.OnnxSetOutputShape(h, 2, [1, 1]),
              m.OnnxSetOutputShape(h, 3, [1, 1]), m.OnnxSetOutputShape(h, 4, [1, 96]),
              m.OnnxSetOutputShape(h, 5, [1, 9])])
    report("shapes", ok)
    report("count", m.OnnxRun(h, m.ONNX_NO_CONVERSION, *arrays[:-1]))
    short = m.float_array([0.0] * 15)
    report("size", m.OnnxRun(h, m.ONNX_NO_CONVERSION, bars, short, state, a, b, c, d, e, info))
    report("run", m.OnnxRun(h, m.ONNX_NO_CONVERSION, *arrays))
    out.append(f"I {info[0]:g} {info[1]:g} {info[4]:g}")
    report("release", m.OnnxRelease(h))
    report("released", m.OnnxRun(h, m.ONNX_NO_CONVERSION, *arrays))
    report("bad_release", m.OnnxRelease(h))
    report("ir9", m.OnnxCreate("ir9.onnx", 0) != m.INVALID_HANDLE)
    report("not_onnx", m.OnnxCreate("market.bin", 0) != m.INVALID_HANDLE)
    return out + mql5.log


def test_the_onnx_builtins_fail_as_documented(impl, request, chart, exported, tmp_path):
    """MQL5 Reference, Runtime Errors: 5808 ERR_ONNX_WRONG_DIMENSION (a shape not set, or not the model's), 5805
    ERR_ONNX_INVALID_PARAMETER (no such input), 5804 ERR_ONNX_INVALID_PARAMETERS_COUNT, 5807
    ERR_ONNX_INVALID_PARAMETER_SIZE (an array of another element count), 4024 ERR_INVALID_HANDLE (a released
    session: undocumented for ONNX), 5800 ERR_ONNX_INTERNAL (a model ONNX Runtime 1.14 cannot read)."""
    model, files, _, _ = exported
    (tmp_path / "model.onnx").write_bytes((files / "model.onnx").read_bytes())
    (tmp_path / "market.bin").write_bytes(chart[1].read_bytes())
    proto = onnx.load(str(files / "model.onnx"))
    proto.ir_version = 9
    onnx.save(proto, str(tmp_path / "ir9.onnx"))
    assert model.config.target_bars == 16 and 2 * sum(model.config.lstm) == 96 and model.config.latent == 8
    if impl == "twin":
        lines = _twin_onnx_failures(tmp_path)
    else:
        program = native.Program("mql5/Scripts/OnnxFailures.mq5", env={"MQL5_FILES": str(tmp_path)},
                                 texts={"mql5/Scripts/OnnxFailures.mq5": ONNX_FAILURES_TEXT})
        request.node.processes.append(program)
        program.call("start")
        lines = program.log
    reports = dict(re.match(r"E (\w+) (\w+ \d+)", line).groups() for line in lines if line.startswith("E "))
    assert reports == {"run_before_shapes": "false 5808", "wrong_shape": "false 5808", "bad_index": "false 5805",
                       "shapes": "true 0", "count": "false 5804", "size": "false 5807", "run": "true 0",
                       "release": "true 0", "released": "false 4024", "bad_release": "false 4024",
                       "ir9": "false 5800", "not_onnx": "false 5800"}, lines
    assert "I 1 3 16" in lines
    assert any(line.startswith("ONNX: Unsupported model IR version 9") for line in lines), lines


# --- the chart's series indexing


SERIES_TEXT = """void OnStart()
  {
   MqlRates r[];
   double v[];
   int h = iATR(_Symbol, _Period, 14);
   int calculated = BarsCalculated(h);
   int copied = CopyBuffer(h, 0, 0, 3, v);
   Print("B ", calculated, " ", copied, " ", GetLastError());
   copied = CopyRates(_Symbol, _Period, 0, 3, r);
   Print("C ", copied, " ", r[0].time, " ", r[2].time, " ", r[2].high, " ", r[2].tick_volume, " ", r[1].high);
   copied = CopyBuffer(h, 0, 0, 3, v);
   Print("D ", copied, " ", v[0], " ", v[1], " ", v[2]);
   copied = CopyRates(_Symbol, _Period, Bars(_Symbol, _Period) - 2, 5, r);
   Print("E ", copied, " ", r[0].time);
   copied = CopyRates(_Symbol, _Period, Bars(_Symbol, _Period), 1, r);
   Print("F ", copied, " ", GetLastError());
   copied = CopyBuffer(h, 1, 1, 1, v);
   int error = GetLastError();
   bool released = IndicatorRelease(h);
   Print("G ", copied, " ", error, " ", released, " ", IndicatorRelease(h));
   MqlDateTime t;
   TimeToStruct(r[0].time, t);
   Print("H ", t.year, " ", t.mon, " ", t.day, " ", t.hour, " ", t.day_of_week);
  }
"""


def test_series_indexing_counts_from_the_forming_bar(impl, request, chart, bars):
    """start_pos 0 is the bar still forming (partial: its open only), the oldest element comes first, a request
    past the oldest bar returns what exists, one outside the chart -1."""
    data, path = chart
    if impl == "twin":
        m = market
        mql5.reset()
        m.load(data, 600)
        h = m.iATR("XAUUSD", H1, 14)
        v, r = [], []
        lines = [f"B {m.BarsCalculated(h)} {m.CopyBuffer(h, 0, 0, 3, v)} {mql5.GetLastError()}"]
        n = m.CopyRates("XAUUSD", H1, 0, 3, r)
        lines.append(f"C {n} {r[0].time} {r[2].time} {r[2].high:.16g} {r[2].tick_volume} {r[1].high:.16g}")
        n = m.CopyBuffer(h, 0, 0, 3, v)
        lines.append(f"D {n} {v[0]:.16g} {v[1]:.16g} {v[2]:.16g}")
        lines.append(f"E {m.CopyRates('XAUUSD', H1, 598, 5, r)} {r[0].time}")
        lines.append(f"F {m.CopyRates('XAUUSD', H1, 600, 1, r)} {mql5.GetLastError()}")
        g = [m.CopyBuffer(h, 1, 1, 1, v), mql5.GetLastError(), m.IndicatorRelease(h), m.IndicatorRelease(h)]
        lines.append("G " + " ".join(str(x).lower() for x in g))
        t = m.MqlDateTime()
        m.TimeToStruct(r[0].time, t)
        lines.append(f"H {t.year} {t.mon} {t.day} {t.hour} {t.day_of_week}")
    else:
        program = native.Program("mql5/Scripts/Series.mq5", env={"MQL5_SYMBOL": "XAUUSD", "MQL5_PERIOD": str(H1)},
                                 texts={"mql5/Scripts/Series.mq5": SERIES_TEXT})
        request.node.processes.append(program)
        program.call("market", str(path), 600)
        program.call("start")
        lines = program.log
    t = bars["time"]
    atr = data.values[:, 2]
    got = {line[0]: line[2:] for line in lines}
    assert got["B"] == "-1 -1 4806"  # the first call of each finds nothing calculated (and says why)
    assert got["C"] == f"3 {t[597]} {t[599]} {bars['open'][599]:.16g} 1 {bars['high'][598]:.16g}"
    assert got["D"] == f"3 {atr[597]:.16g} {atr[598]:.16g} {data.forming_values[599, 2]:.16g}"
    assert data.forming_values[599, 2] != atr[599]
    assert got["E"] == f"2 {t[0]}" and got["F"] == "-1 4401"
    assert got["G"] == "-1 4812 true false"
    when = bars["time"][0].astype("datetime64[s]").item()
    assert got["H"] == f"{when.year} {when.month} {when.day} {when.hour} {(when.weekday() + 1) % 7}"


# --- the twin keeps the MQL5 code's names


@pytest.mark.parametrize("mqh, module", [("OnnxFeatures.mqh", "onnx_features"), ("OnnxEncoder.mqh", "onnx_encoder")])
def test_twin_has_the_same_functions_methods_members_and_constants(mqh, module):
    from test_mql5_gate import _mql_names

    path = f"mql5/Include/Mt5Bridge/{mqh}"
    code = importlib.import_module(f"mql5twin.{module}")
    functions, classes, members = _mql_names(path)
    assert classes, "nothing found: the test would prove nothing"
    assert all(callable(getattr(code, f, None)) for f in functions), functions
    for cls, methods in classes.items():
        theirs = {m for m, v in vars(getattr(code, cls)).items() if not m.startswith("_") and callable(v)}
        assert theirs == methods, f"{cls}: MQL5 only {sorted(methods - theirs)}, twin only {sorted(theirs - methods)}"
        assert set(vars(getattr(code, cls)())) == members[cls]
    text = (gate.ROOT / path).read_text()
    for name, value in re.findall(r"^#define\s+(MT5B_\w+)\s+(\S+)", text, re.M):
        if not name.endswith("_MQH"):
            assert getattr(code, name) == float(value), name


def test_resource_directives_become_a_runtime_load_on_the_same_line():
    source = '#resource "\\\\Files\\\\Mt5Bridge\\\\model.onnx" as uchar ExtModel[]\nint x;\n'
    assert gxx.rewrite(source).splitlines() == [
        'MqlArray<uchar> ExtModel = mql5rt::Resource("\\\\Files\\\\Mt5Bridge\\\\model.onnx", __FILE__);',
        "int x;"]
    assert gate.syntax_problems("x.mq5", gate.parse(source)) == []


def test_the_mql5_constants_are_the_packages():
    """The numbers the MQL5 side copies from mt5bridge (the drift rule, the warm-up, the export's format, the latent
    file's layout) stay equal to their one definition in Python: a change there must reach the EA."""
    from mt5bridge import latentfile, onnx_export
    from mt5bridge.daemon.config import DaemonConfig
    from mt5bridge.drift import DRIFT_MIN_BARS, DRIFT_THRESHOLD, DRIFT_WINDOW
    from mt5bridge.features.sets import ATR_FLOOR, ROBUST_VOLUME_WINDOW

    defines = {}
    for mqh in ("OnnxEncoder.mqh", "OnnxFeatures.mqh", "LatentFile.mqh"):
        text = (gate.ROOT / "mql5" / "Include" / "Mt5Bridge" / mqh).read_text()
        defines.update(re.findall(r"^#define\s+(MT5B_\w+)\s+(\S+)", text, re.M))
    number = {name: float(value) for name, value in defines.items() if not value.startswith('"')}
    assert number["MT5B_DRIFT_THRESHOLD"] == DRIFT_THRESHOLD
    assert number["MT5B_DRIFT_MIN_BARS"] == DRIFT_MIN_BARS
    assert number["MT5B_DRIFT_WINDOW"] == DRIFT_WINDOW
    assert number["MT5B_WARM_BARS"] == DaemonConfig().warmup_bars
    assert number["MT5B_ONNX_FORMAT"] == onnx_export.FORMAT_VERSION
    assert number["MT5B_ONNX_INFO"] == len(onnx_export.INFO_FIELDS)
    assert (number["MT5B_ONNX_INPUTS"], number["MT5B_ONNX_OUTPUTS"]) == (len(onnx_export.INPUTS),
                                                                          len(onnx_export.OUTPUTS))
    assert [number["MT5B_SET_MT5"], number["MT5B_SET_ROBUST"], number["MT5B_SET_SCALE_FREE"]] == \
        [onnx_export.FEATURE_SET_CODES[k] for k in ("mt5-v1", "robust-v1", "scale-free-v1")]
    assert number["MT5B_ATR_FLOOR"] == ATR_FLOOR
    assert number["MT5B_VOLUME_WINDOW"] == ROBUST_VOLUME_WINDOW
    assert number["MT5B_FEATURE_WARMUP"] == max(fs.warmup for fs in FEATURE_SETS.values())
    assert number["MT5B_FEATURES"] == len(next(iter(FEATURE_SETS.values())).names)
    assert number["MT5B_FILE_VERSION"] == latentfile.VERSION
    assert number["MT5B_FILE_HEADER_BYTES"] == latentfile.HEADER.size
    assert number["MT5B_FILE_RECORD_FIXED"] == latentfile.RECORD_FIXED_BYTES
    assert defines["MT5B_FILE_SUFFIX"].strip('"') == latentfile.SUFFIX
