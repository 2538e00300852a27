"""Twin of mql5/Include/Mt5Bridge/OnnxEncoder.mqh, method by method, same names (tests only).

The built-ins come from market.py (chart, indicators), onnx_runtime.py (ONNX through onnxruntime) and mql5.py
(Print, errors). `(float)` casts of the MQL5 code are float32 roundings here (`_f32`), so both store the same numbers.
"""

from __future__ import annotations

import math

import numpy as np

from . import market
from .market import ArrayInitialize, Bars, PeriodSeconds, iBarShift, iTime
from .mql5 import ArrayResize, GetLastError, MathIsValidNumber, Print, ResetLastError
from .onnx_features import MT5B_FEATURE_WARMUP, MT5B_FEATURES, MT5B_SET_MT5, MT5B_SET_ROBUST, MT5B_SET_SCALE_FREE, \
    CMt5bFeatures, Mt5bFeatureSetName
from .onnx_runtime import (INVALID_HANDLE, ONNX_COMMON_FOLDER, ONNX_DATA_TYPE_FLOAT, ONNX_NO_CONVERSION,
                           ONNX_TYPE_TENSOR, OnnxCreate, OnnxCreateFromBuffer, OnnxGetInputCount, OnnxGetInputTypeInfo,
                           OnnxGetOutputCount, OnnxGetOutputTypeInfo, OnnxRelease, OnnxRun, OnnxSetInputShape,
                           OnnxSetOutputShape, OnnxTypeInfo, float_array)
from .protocol import (MT5B_FLAG_CATCHUP, MT5B_FLAG_DRIFT, MT5B_FLAG_NO_ERROR, MT5B_FLAG_WARM, Mt5bLatent,
                       Mt5bTimeframeName)

MT5B_ONNX_FORMAT = 1
MT5B_ONNX_INPUTS = 3
MT5B_ONNX_OUTPUTS = 6
MT5B_ONNX_INFO = 9
MT5B_DRIFT_WINDOW = 500
MT5B_DRIFT_THRESHOLD = 0.075
MT5B_DRIFT_MIN_BARS = 100
MT5B_WARM_BARS = 500


def _f32(x: float) -> float:
    """(float)x of MQL5."""
    return float(np.float32(x))


class CMt5bOnnxEncoder:
    def __init__(self) -> None:
        self.m_onnx = INVALID_HANDLE
        self.m_features = CMt5bFeatures()
        self.m_d = self.m_w = self.m_z = self.m_s = 0
        self.m_has_drift = False
        self.m_history = 5000
        self.m_bars, self.m_valid, self.m_state = float_array(), float_array(), float_array()
        self.m_latent, self.m_error, self.m_percentile = float_array(), float_array(), float_array()
        self.m_outside, self.m_state_out, self.m_info = float_array(), float_array(), float_array()
        self.m_row: list[float] = []
        self.m_started = False
        self.m_last_time = 0
        self.m_stepped = 0
        self.m_recent: list[int] = []
        self.m_recent_sum = 0
        self.m_drift = 0.0
        self.m_broken = False
        self.m_msg = Mt5bLatent()
        self.Reset()

    def LoadFromBuffer(self, model) -> bool:
        self.Release()
        return self.Open(OnnxCreateFromBuffer(model, 0), "embedded in the program")

    def LoadFromFile(self, name: str, common: bool) -> bool:
        self.Release()
        flags = 0
        if common:
            flags = ONNX_COMMON_FOLDER
        return self.Open(OnnxCreate(name, flags), name + (" (common Files folder)" if common else ""))

    def SetHistoryBars(self, bars: int) -> None:
        self.m_history = bars

    def Release(self) -> None:
        if self.m_onnx != INVALID_HANDLE:
            OnnxRelease(self.m_onnx)
        self.m_onnx = INVALID_HANDLE
        self.m_features.Release()

    def Stepped(self) -> int:
        return self.m_stepped

    def LastBarTime(self) -> int:
        return self.m_last_time

    def HasDrift(self) -> bool:
        return self.m_has_drift

    def Drift(self) -> float:
        return self.m_drift

    def LatentSize(self) -> int:
        return self.m_z

    def OnLatent(self, msg: Mt5bLatent) -> None:
        pass

    def Open(self, handle: int, what: str) -> bool:
        if handle == INVALID_HANDLE:
            Print(f"Mt5bOnnx: cannot load the model {what} (error {GetLastError()})")
            return False
        self.m_onnx = handle
        if OnnxGetInputCount(self.m_onnx) != MT5B_ONNX_INPUTS or OnnxGetOutputCount(self.m_onnx) != MT5B_ONNX_OUTPUTS:
            Print("Mt5bOnnx: the model ", what, " has ", OnnxGetInputCount(self.m_onnx), " inputs and ",
                  OnnxGetOutputCount(self.m_onnx), " outputs, not the 3 and 6 of an mt5bridge step graph: ",
                  "export it with `mt5bridge export`")
            self.Release()
            return False
        self.m_d = self.Width(True, 0, 3, MT5B_FEATURES)
        self.m_s = self.Width(True, 2, 2, 0)
        self.m_z = self.Width(False, 0, 2, 0)
        fits = self.m_d > 0 and self.m_s > 0 and self.m_z > 0 and self.Width(True, 1, 2, 0) == self.m_d and \
            [self.Width(False, k, 2, 0) for k in range(1, 6)] == [1, 1, 1, self.m_s, MT5B_ONNX_INFO]
        if not fits:
            Print("Mt5bOnnx: the model ", what, "'s inputs and outputs are not those of an mt5bridge step graph ",
                  "(float32 bars [1, D, 12], valid [1, D], state [1, S]; latent [1, Z], error, percentile, ",
                  "outside [1, 1], state_out [1, S], info [1, 9])")
            self.Release()
            return False
        shapes = [(True, 0, self.m_d, MT5B_FEATURES), (True, 1, self.m_d, 0), (True, 2, self.m_s, 0),
                  (False, 0, self.m_z, 0), (False, 1, 1, 0), (False, 2, 1, 0), (False, 3, 1, 0),
                  (False, 4, self.m_s, 0), (False, 5, MT5B_ONNX_INFO, 0)]
        if not all(self.Shape(*s) for s in shapes):
            Print(f"Mt5bOnnx: cannot set the shapes of the model {what} (error {GetLastError()})")
            self.Release()
            return False
        for array, size in ((self.m_bars, self.m_d * MT5B_FEATURES), (self.m_valid, self.m_d), (self.m_state, self.m_s),
                            (self.m_latent, self.m_z), (self.m_error, 1), (self.m_percentile, 1),
                            (self.m_outside, 1), (self.m_state_out, self.m_s), (self.m_info, MT5B_ONNX_INFO)):
            ArrayResize(array, size)
        self.Reset()
        if not self.Run() or not self.CheckInfo(what) or not self.m_features.Create(int(self.m_info[1])):
            self.Release()
            return False
        self.Reset()
        Print(f"Mt5bOnnx: model {what} loaded: {Mt5bFeatureSetName(int(self.m_info[1]))} features, D {self.m_d}, "
              f"W {self.m_w}, latent {self.m_z}, state {self.m_s}{', drift score' if self.m_has_drift else ''}")
        return True

    def Width(self, input: bool, index: int, rank: int, last: int) -> int:
        info = OnnxTypeInfo()
        ok = OnnxGetInputTypeInfo(self.m_onnx, index, info) if input else \
            OnnxGetOutputTypeInfo(self.m_onnx, index, info)
        dims = info.tensor.dimensions
        if not ok or info.type != ONNX_TYPE_TENSOR or info.tensor.data_type != ONNX_DATA_TYPE_FLOAT or \
                len(dims) != rank or dims[0] != 1:
            return -1
        if rank == 3 and dims[2] != last:
            return -1
        return int(dims[1])

    def Shape(self, input: bool, index: int, d1: int, d2: int) -> bool:
        shape = [1, d1] + ([d2] if d2 > 0 else [])
        return OnnxSetInputShape(self.m_onnx, index, shape) if input else \
            OnnxSetOutputShape(self.m_onnx, index, shape)

    def CheckInfo(self, what: str) -> bool:
        fmt, feature_set, seconds = int(self.m_info[0]), int(self.m_info[1]), int(self.m_info[7])
        self.m_w = int(self.m_info[3])
        self.m_has_drift = self.m_info[8] == 1
        why = ""
        if fmt != MT5B_ONNX_FORMAT:
            why = f"export format {fmt} (this code reads {MT5B_ONNX_FORMAT}): update mql5/Include/Mt5Bridge"
        elif feature_set not in (MT5B_SET_MT5, MT5B_SET_ROBUST, MT5B_SET_SCALE_FREE):
            why = "it reads " + Mt5bFeatureSetName(feature_set) + ", which this code does not compute"
        elif [int(v) for v in (self.m_info[2], self.m_info[4], self.m_info[5], self.m_info[6])] != \
                [MT5B_FEATURES, self.m_d, self.m_z, self.m_s] or self.m_w < 1 or self.m_w > self.m_d:
            why = "its info output does not match its own shapes (a damaged export)"
        elif seconds != 0 and seconds != PeriodSeconds():
            why = (f"it was trained on {seconds}-second bars, this chart's are {PeriodSeconds()} seconds "
                   f"({Mt5bTimeframeName(market.PERIOD)}): use a model of this timeframe")
        if why != "":
            Print("Mt5bOnnx: the model ", what, " is refused: ", why)
            return False
        if seconds == 0:
            Print("Mt5bOnnx: the model ", what, " does not record its timeframe: make sure it was trained on ",
                  Mt5bTimeframeName(market.PERIOD), " bars")
        return True

    def Run(self) -> bool:
        ResetLastError()
        if OnnxRun(self.m_onnx, ONNX_NO_CONVERSION, self.m_bars, self.m_valid, self.m_state, self.m_latent,
                   self.m_error, self.m_percentile, self.m_outside, self.m_state_out, self.m_info):
            return True
        Print(f"Mt5bOnnx: OnnxRun failed (error {GetLastError()}): no more bars are stepped")
        self.m_broken = True
        return False

    def Reset(self) -> None:
        ArrayInitialize(self.m_bars, 0.0)
        ArrayInitialize(self.m_valid, 0.0)
        ArrayInitialize(self.m_state, 0.0)
        ArrayResize(self.m_recent, MT5B_DRIFT_WINDOW)
        ArrayInitialize(self.m_recent, 0)
        self.m_recent_sum = 0
        self.m_stepped = 0
        self.m_drift = 0.0
        self.m_started = False
        self.m_last_time = 0

    def Update(self) -> int:
        if self.m_onnx == INVALID_HANDLE or self.m_broken or not self.m_features.Ready():
            return -1
        bars = Bars(market.SYMBOL, market.PERIOD)
        if not self.m_started:
            first = bars - 1 - self.m_history
            if first < MT5B_FEATURE_WARMUP:
                first = MT5B_FEATURE_WARMUP
            first_shift = bars - 1 - first
            if first_shift < 1:
                return 0
            if not self.m_features.Prime(first_shift):
                return -1
            return self.StepFrom(first_shift)
        if iTime(market.SYMBOL, market.PERIOD, 1) == self.m_last_time:
            return 0
        last = iBarShift(market.SYMBOL, market.PERIOD, self.m_last_time, True)
        if last < 1:
            Print("Mt5bOnnx: the chart no longer holds the last bar stepped: history was reloaded; starting again "
                  "from the chart's history")
            self.Reset()
            return 0
        return self.StepFrom(last - 1)

    def StepFrom(self, first_shift: int) -> int:
        stepped = 0
        shift = first_shift
        while shift >= 1 and not self.m_broken:
            if not self.Step(shift, shift > 1):
                return stepped if stepped > 0 else -1
            stepped += 1
            shift -= 1
        return stepped

    def Step(self, shift: int, catchup: bool) -> bool:
        time = [0]
        if not self.m_features.Read(shift, self.m_row, time):
            return False
        time = time[0]
        if self.m_started and time <= self.m_last_time:
            Print(f"Mt5bOnnx: bar {time} is not after the last bar stepped ({self.m_last_time}): not stepped")
            return False
        self.m_started = True
        self.m_last_time = time
        for k in range(MT5B_FEATURES):
            if not MathIsValidNumber(self.m_row[k]):
                Print(f"Mt5bOnnx: bar {time} skipped: feature {k} ({Mt5bFeatureSetName(int(self.m_info[1]))} set) "
                      "is not a finite number")
                return True
        for i in range(self.m_d * MT5B_FEATURES - 1, MT5B_FEATURES - 1, -1):
            self.m_bars[i] = self.m_bars[i - MT5B_FEATURES]
        for f in range(MT5B_FEATURES):
            self.m_bars[f] = _f32(self.m_row[f])
        for j in range(self.m_d - 1, 0, -1):
            self.m_valid[j] = self.m_valid[j - 1]
        self.m_valid[0] = 1.0
        if not self.Run():
            return False
        self.m_state[:] = self.m_state_out
        slot = self.m_stepped % MT5B_DRIFT_WINDOW
        outside = int(self.m_outside[0])
        self.m_recent_sum += outside - self.m_recent[slot]
        self.m_recent[slot] = outside
        self.m_stepped += 1
        window = self.m_stepped if self.m_stepped < MT5B_DRIFT_WINDOW else MT5B_DRIFT_WINDOW
        self.m_drift = self.m_recent_sum / (window * MT5B_FEATURES)
        self.Publish(time, catchup)
        return True

    def Publish(self, time: int, catchup: bool) -> None:
        scored = self.m_stepped >= self.m_d
        m = self.m_msg
        m.sequence = self.m_stepped
        m.publish_time_ms = 0
        m.symbol = market.SYMBOL
        m.timeframe = market.PERIOD
        m.flags = 0
        if self.m_stepped >= MT5B_WARM_BARS:
            m.flags |= MT5B_FLAG_WARM
        if catchup:
            m.flags |= MT5B_FLAG_CATCHUP
        if not scored:
            m.flags |= MT5B_FLAG_NO_ERROR
        if self.m_has_drift and self.m_stepped >= MT5B_DRIFT_MIN_BARS and self.m_drift > MT5B_DRIFT_THRESHOLD:
            m.flags |= MT5B_FLAG_DRIFT
        m.bar_time = time
        m.stream_sequence = self.m_stepped
        m.recon_error = self.m_error[0] if scored else math.nan
        m.anomaly_pct = self.m_percentile[0] if scored else math.nan
        m.latent = list(self.m_latent)
        self.OnLatent(m)
