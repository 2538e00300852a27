"""Twin of mql5/Include/Mt5Bridge/OnnxFeatures.mqh, method by method, same names (tests only): the 12 raw features
of a closed bar from the chart (market.py: bars, MetaTrader's indicators, calendar time).
"""

from __future__ import annotations

from . import market
from .market import (INVALID_HANDLE, MAIN_LINE, PRICE_CLOSE, PRICE_TYPICAL, SIGNAL_LINE, Bars, BarsCalculated,
                     CopyBuffer, CopyRates, IndicatorRelease, MathLog, MathMax, MqlDateTime, TimeToStruct, iATR, iCCI,
                     iMACD, iRSI)
from .mql5 import ArrayResize, GetLastError, Print

MT5B_FEATURES = 12
MT5B_SET_MT5 = 1
MT5B_SET_ROBUST = 2
MT5B_SET_SCALE_FREE = 3
MT5B_VOLUME_WINDOW = 500
MT5B_FEATURE_WARMUP = 500
MT5B_ATR_FLOOR = 1e-7


def Mt5bFeatureSetName(code: int) -> str:
    return {MT5B_SET_MT5: "mt5-v1", MT5B_SET_ROBUST: "robust-v1", MT5B_SET_SCALE_FREE: "scale-free-v1"}.get(
        code, f"unknown feature set {code}")


class CMt5bFeatures:
    def __init__(self) -> None:
        self.m_set = 0
        self.m_rsi = INVALID_HANDLE
        self.m_cci = INVALID_HANDLE
        self.m_atr = INVALID_HANDLE
        self.m_macd = INVALID_HANDLE
        self.m_ring: list[float] = []
        self.m_sorted: list[float] = []
        self.m_count = 0
        self.m_head = 0
        self.m_rates: list = []
        self.m_value: list[float] = []

    def Create(self, feature_set: int) -> bool:
        self.Release()
        if feature_set not in (MT5B_SET_MT5, MT5B_SET_ROBUST, MT5B_SET_SCALE_FREE):
            Print("Mt5bOnnx: this code computes mt5-v1, robust-v1 and scale-free-v1, not ",
                  Mt5bFeatureSetName(feature_set))
            return False
        self.m_set = feature_set
        symbol, period = market.SYMBOL, market.PERIOD
        self.m_rsi = iRSI(symbol, period, 14, PRICE_CLOSE)
        self.m_cci = iCCI(symbol, period, 14, PRICE_TYPICAL)
        self.m_atr = iATR(symbol, period, 14)
        self.m_macd = iMACD(symbol, period, 12, 26, 9, PRICE_CLOSE)
        if INVALID_HANDLE in (self.m_rsi, self.m_cci, self.m_atr, self.m_macd):
            Print(f"Mt5bOnnx: cannot create the RSI, CCI, ATR and MACD indicators (error {GetLastError()})")
            self.Release()
            return False
        ArrayResize(self.m_ring, MT5B_VOLUME_WINDOW)
        ArrayResize(self.m_sorted, MT5B_VOLUME_WINDOW)
        self.m_count = 0
        self.m_head = 0
        return True

    def Release(self) -> None:
        for handle in (self.m_rsi, self.m_cci, self.m_atr, self.m_macd):
            if handle != INVALID_HANDLE:
                IndicatorRelease(handle)
        self.m_rsi = self.m_cci = self.m_atr = self.m_macd = INVALID_HANDLE

    def Ready(self) -> bool:
        if self.m_rsi == INVALID_HANDLE:
            return False
        bars = Bars(market.SYMBOL, market.PERIOD)
        return bars > 0 and all(BarsCalculated(h) >= bars for h in (self.m_rsi, self.m_cci, self.m_atr, self.m_macd))

    def Prime(self, shift: int) -> bool:
        self.m_count = 0
        self.m_head = 0
        want = MT5B_VOLUME_WINDOW - 1
        if CopyRates(market.SYMBOL, market.PERIOD, shift + 1, want, self.m_rates) != want:
            return False
        for i in range(want):
            self.PushVolume(float(self.m_rates[i].tick_volume))
        return True

    def Read(self, shift: int, row: list, time: list) -> bool:
        """row: the (F,) features, filled in place; time: a one-element list for the bar's open time."""
        if shift < 1 or CopyRates(market.SYMBOL, market.PERIOD, shift, 1, self.m_rates) != 1:
            return False
        values = []
        for handle, buffer in ((self.m_rsi, 0), (self.m_cci, 0), (self.m_atr, 0), (self.m_macd, MAIN_LINE),
                               (self.m_macd, SIGNAL_LINE)):
            value = [0.0]
            if not self.Value(handle, buffer, shift, value):
                return False
            values.append(value[0])
        rsi, cci, atr, main, signal = values
        bar = self.m_rates[0]
        time[:] = [bar.time]
        volume = float(bar.tick_volume)
        self.PushVolume(volume)
        when = MqlDateTime()
        TimeToStruct(bar.time, when)
        ArrayResize(row, MT5B_FEATURES)
        row[0] = bar.close - bar.open
        row[1] = bar.high - bar.open
        row[2] = bar.low - bar.open
        if self.m_set == MT5B_SET_MT5:
            row[3] = volume / 1000.0
        else:
            row[3] = MathLog((volume + 1.0) / (self.MedianVolume() + 1.0))
        row[4], row[5], row[6] = float(when.hour), float(when.day_of_week), float(when.mon)
        row[7], row[8], row[9], row[10], row[11] = rsi, cci, atr, main, signal
        if self.m_set == MT5B_SET_SCALE_FREE:
            unit = MathMax(atr, MT5B_ATR_FLOOR * bar.close)
            for k in (0, 1, 2, 10, 11):
                row[k] = row[k] / unit
            row[9] = MathLog(unit / bar.close)
        return True

    def Value(self, handle: int, buffer: int, shift: int, value: list) -> bool:
        if CopyBuffer(handle, buffer, shift, 1, self.m_value) != 1:
            return False
        value[0] = self.m_value[0]
        return True

    def PushVolume(self, volume: float) -> None:
        if self.m_count == MT5B_VOLUME_WINDOW:
            oldest = self.m_ring[self.m_head]
            at = 0
            while self.m_sorted[at] < oldest:
                at += 1
            for i in range(at, self.m_count - 1):
                self.m_sorted[i] = self.m_sorted[i + 1]
            self.m_ring[self.m_head] = volume
            self.m_head = (self.m_head + 1) % MT5B_VOLUME_WINDOW
            self.m_count -= 1
        else:
            self.m_ring[self.m_count] = volume
        pos = self.m_count
        while pos > 0 and self.m_sorted[pos - 1] > volume:
            self.m_sorted[pos] = self.m_sorted[pos - 1]
            pos -= 1
        self.m_sorted[pos] = volume
        self.m_count += 1

    def MedianVolume(self) -> float:
        mid = MT5B_VOLUME_WINDOW // 2
        if MT5B_VOLUME_WINDOW % 2 == 1:
            return self.m_sorted[mid]
        return (self.m_sorted[mid - 1] + self.m_sorted[mid]) / 2.0
