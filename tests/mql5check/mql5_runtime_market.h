// The market side of the MQL5 runtime (included at the end of mql5_runtime.h): the chart's bars, MetaTrader's own
// indicators and calendar time, for the in-EA encoder (Include/Mt5Bridge/OnnxEncoder.mqh); the ONNX functions and
// #resource are in mql5_runtime_onnx.h, included at the end. The Python twins are tests/mql5twin/market.py and
// onnx_runtime.py; all reproduce the terminal's documented behaviour, unkind parts included, each with its source;
// where the docs are silent, the harsher reading:
// - the chart: full bars loaded by the driver (program_main.cpp `market`), revealed one or more at a time
//   (`advance`); the newest visible bar is still forming: its OHLC and volume are partial (open = high = low =
//   close, one tick) and so are the indicators' values there, as a terminal shows them mid-bar;
// - CopyRates / CopyBuffer count from the present to the past, start_pos 0 being the forming bar, and copy "so that
//   the oldest element will be located at the start of the physical memory allocated for the array" whatever its
//   series flag (MQL5 Reference, CopyRates, CopyBuffer); a request reaching past the oldest bar returns what exists
//   (the Reference: "the function returns the amount that will be ready"), one wholly outside it returns -1;
// - iRSI / iCCI / iATR / iMACD give the values of mt5bridge.features.indicators, computed by the driver over the
//   whole chart from its first bar, as the terminal computes an indicator over its whole history; 0.0 before an
//   indicator's first value (what RSI.mq5, ATR.mq5, CCI.mq5 and MACD.mq5 write there). Right after a handle is
//   created the terminal computes in the background: BarsCalculated returns -1 and CopyBuffer fails with
//   ERR_INDICATOR_DATA_NOT_FOUND, each for its first MQL5_INDICATOR_WAIT calls (default 1), counted apart, so code
//   that trusts one after the other succeeded is caught (the MQL5 book, "BarsCalculated": -1 on an error, 0 while
//   nothing is calculated; -1 here, the harsher of the two for code that compares with Bars). Only the periods and
//   prices the features use are computed; any other gives INVALID_HANDLE.
// Environment: MQL5_INDICATOR_WAIT (and mql5_runtime_onnx.h's).
#pragma once

// Runtime errors (MQL5 Reference, "Runtime Errors")
const int ERR_HISTORY_NOT_FOUND = 4401;
const int ERR_INDICATOR_CANNOT_CREATE = 4802;
const int ERR_INDICATOR_DATA_NOT_FOUND = 4806;
const int ERR_INDICATOR_WRONG_HANDLE = 4807;
const int ERR_INDICATOR_WRONG_INDEX = 4812;
namespace mql5rt {
const int kErrSmallArray = 5052;     // ERR_SMALL_ARRAY
}  // namespace mql5rt

//--- Math Functions
inline double MathLog(double val) { return std::log(val); }

//--- Date and Time: MqlDateTime (MQL5 Reference, "Date Type Structure"); day_of_week 0 = Sunday
struct MqlDateTime {
  int year, mon, day, hour, min, sec, day_of_week, day_of_year;
};
inline bool TimeToStruct(datetime dt, MqlDateTime &dt_struct) {
  std::time_t t = (std::time_t)dt;
  std::tm tm{};
  if (dt < 0 || gmtime_r(&t, &tm) == nullptr) return false;
  dt_struct = MqlDateTime{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                          tm.tm_wday, tm.tm_yday};
  return true;
}

//--- Timeseries: the chart's full bars (MqlRates, MQL5 Reference "Price Data Structure")
struct MqlRates {
  datetime time;
  double open, high, low, close;
  long tick_volume;
  int spread;
  long real_volume;
};

namespace mql5rt {
enum IndicatorKind { IND_RSI, IND_CCI, IND_ATR, IND_MACD_MAIN, IND_MACD_SIGNAL, IND_VALUES };
// One bar as the driver writes it (tests/mql5twin/market.py, write_market): 23 little-endian 8-byte fields.
struct MarketBar {
  MqlRates closed;                 // the bar once closed
  double value[IND_VALUES];        // the indicators at the closed bar (NaN before their first value)
  MqlRates forming;                // the bar while it forms (as shown when it is the newest)
  double forming_value[IND_VALUES];
};
inline std::vector<MarketBar> market;  // every bar of the history, oldest first; `chart` holds the visible ones' times

inline void LoadMarket(const std::string &path, size_t visible) {
  std::FILE *f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) Critical("market: cannot open " + path);
  char magic[8];
  long long count = 0;
  if (std::fread(magic, 1, 8, f) != 8 || std::memcmp(magic, "MQL5MKT1", 8) != 0 || std::fread(&count, 8, 1, f) != 1)
    Critical("market: " + path + " is not a market file");
  market.clear();
  for (long long k = 0; k < count; k++) {
    double raw[23];
    if (std::fread(raw, 8, 23, f) != 23) Critical("market: " + path + " is truncated at bar " + std::to_string(k));
    auto as_long = [&](int i) { long v; std::memcpy(&v, &raw[i], 8); return v; };
    auto rates = [&](int at, bool full) {
      return MqlRates{as_long(0), raw[at], raw[at + 1], raw[at + 2], raw[at + 3], as_long(at + 4),
                      full ? (int)as_long(6) : 0, full ? as_long(7) : 0};
    };
    MarketBar b;
    b.closed = rates(1, true);
    b.forming = rates(13, false);
    for (int i = 0; i < IND_VALUES; i++) { b.value[i] = raw[8 + i]; b.forming_value[i] = raw[18 + i]; }
    market.push_back(b);
  }
  std::fclose(f);
  if (visible > market.size()) Critical("market: " + std::to_string(visible) + " bars asked, the file has " +
                                        std::to_string(market.size()));
  chart.clear();
  for (size_t k = 0; k < visible; k++) chart.push_back(market[k].closed.time);
}
// n more bars of the history appear: the previously forming bar closes, the last new one forms.
inline void Reveal(size_t n) {
  if (chart.size() + n > market.size()) Critical("market: the history has no more bars to reveal");
  for (size_t k = 0; k < n; k++) chart.push_back(market[chart.size()].closed.time);
}
inline bool ChartIs(const string &symbol, ENUM_TIMEFRAMES timeframe) {
  return symbol == _Symbol && (timeframe == PERIOD_CURRENT || timeframe == _Period);
}
// The chart position (oldest first) of series position `shift`, and how many of `count` exist from there.
inline bool SeriesRange(int start_pos, int count, size_t &first, int &copied) {
  long n = (long)chart.size();
  if (market.empty() || start_pos < 0 || count <= 0 || start_pos >= n) return false;
  if (market.size() < chart.size() || market[chart.size() - 1].closed.time != chart.back())
    Critical("market: the chart's bars were changed (`chart`, `bars`) after `market`: use `advance`");
  copied = (int)std::min<long>(count, n - start_pos);
  first = (size_t)(n - start_pos - copied);
  return true;
}
// A static array takes exactly what fits, a dynamic one is resized (MQL5 Reference, CopyRates); a static one too
// small fails here (the Reference says the terminal "tries to reallocate": the harsher reading).
template <typename T> bool Receive(MqlArray<T> &array, int copied) {
  if (array.fixed && (int)array.v.size() < copied) { last_error = kErrSmallArray; return false; }
  if (!array.fixed) array.v.resize((size_t)copied);
  return true;
}
}  // namespace mql5rt

// The forming bar is the newest visible one (series position 0).
inline int CopyRates(const string &symbol_name, ENUM_TIMEFRAMES timeframe, int start_pos, int count,
                     MqlArray<MqlRates> &rates_array) {
  size_t first;
  int copied;
  if (!mql5rt::ChartIs(symbol_name, timeframe) || !mql5rt::SeriesRange(start_pos, count, first, copied)) {
    mql5rt::last_error = ERR_HISTORY_NOT_FOUND;
    return -1;
  }
  if (!mql5rt::Receive(rates_array, copied)) return -1;
  size_t forming = mql5rt::chart.size() - 1;
  for (int k = 0; k < copied; k++) {
    const mql5rt::MarketBar &b = mql5rt::market[first + k];
    rates_array.v[(size_t)k] = (first + k == forming) ? b.forming : b.closed;
  }
  return copied;
}

//--- Technical Indicators: handles on the chart's own symbol and period
enum ENUM_APPLIED_PRICE { PRICE_CLOSE = 1, PRICE_OPEN, PRICE_HIGH, PRICE_LOW, PRICE_MEDIAN, PRICE_TYPICAL, PRICE_WEIGHTED };
const int MAIN_LINE = 0;
const int SIGNAL_LINE = 1;

namespace mql5rt {
struct Indicator {
  IndicatorKind first;  // buffer 0's values; MACD's buffer 1 is IND_MACD_SIGNAL
  int buffers;
  int wait_count;       // BarsCalculated calls left that find nothing calculated yet
  int wait_copy;        // CopyBuffer calls left likewise
};
inline std::map<int, Indicator> indicators;
inline int next_indicator = 10;
inline int CreateIndicator(const string &symbol, ENUM_TIMEFRAMES period, bool supported, IndicatorKind kind,
                           int buffers) {
  if (!ChartIs(symbol, period) || !supported) {
    last_error = ERR_INDICATOR_CANNOT_CREATE;  // not computed by this runtime (another symbol, period, price)
    return INVALID_HANDLE;
  }
  int handle = next_indicator++;
  int wait = std::atoi(Env("MQL5_INDICATOR_WAIT", "1").c_str());
  indicators[handle] = Indicator{kind, buffers, wait, wait};
  return handle;
}
// The handle's indicator if it is calculated for this function; otherwise null with the error set (one of its
// waiting calls used up).
inline Indicator *Calculated(int handle, bool copy) {
  auto it = indicators.find(handle);
  if (it == indicators.end()) { last_error = ERR_INDICATOR_WRONG_HANDLE; return nullptr; }
  int &wait = copy ? it->second.wait_copy : it->second.wait_count;
  if (wait > 0) {
    wait--;
    last_error = ERR_INDICATOR_DATA_NOT_FOUND;
    return nullptr;
  }
  return &it->second;
}
}  // namespace mql5rt

inline int iRSI(const string &symbol, ENUM_TIMEFRAMES period, int ma_period, ENUM_APPLIED_PRICE applied_price) {
  return mql5rt::CreateIndicator(symbol, period, ma_period == 14 && applied_price == PRICE_CLOSE, mql5rt::IND_RSI, 1);
}
inline int iCCI(const string &symbol, ENUM_TIMEFRAMES period, int ma_period, ENUM_APPLIED_PRICE applied_price) {
  return mql5rt::CreateIndicator(symbol, period, ma_period == 14 && applied_price == PRICE_TYPICAL, mql5rt::IND_CCI,
                                 1);
}
inline int iATR(const string &symbol, ENUM_TIMEFRAMES period, int ma_period) {
  return mql5rt::CreateIndicator(symbol, period, ma_period == 14, mql5rt::IND_ATR, 1);
}
inline int iMACD(const string &symbol, ENUM_TIMEFRAMES period, int fast_ema_period, int slow_ema_period,
                 int signal_period, ENUM_APPLIED_PRICE applied_price) {
  bool ours = fast_ema_period == 12 && slow_ema_period == 26 && signal_period == 9 && applied_price == PRICE_CLOSE;
  return mql5rt::CreateIndicator(symbol, period, ours, mql5rt::IND_MACD_MAIN, 2);
}
inline int BarsCalculated(int indicator_handle) {
  return mql5rt::Calculated(indicator_handle, false) == nullptr ? -1 : (int)mql5rt::chart.size();
}
inline int CopyBuffer(int indicator_handle, int buffer_num, int start_pos, int count, MqlArray<double> &buffer) {
  mql5rt::Indicator *ind = mql5rt::Calculated(indicator_handle, true);
  if (ind == nullptr) return -1;
  if (buffer_num < 0 || buffer_num >= ind->buffers) {
    mql5rt::last_error = ERR_INDICATOR_WRONG_INDEX;
    return -1;
  }
  size_t first;
  int copied;
  if (!mql5rt::SeriesRange(start_pos, count, first, copied)) {
    mql5rt::last_error = ERR_INDICATOR_DATA_NOT_FOUND;
    return -1;
  }
  if (!mql5rt::Receive(buffer, copied)) return -1;
  int kind = (int)ind->first + buffer_num;
  size_t forming = mql5rt::chart.size() - 1;
  for (int k = 0; k < copied; k++) {
    const mql5rt::MarketBar &b = mql5rt::market[first + k];
    double v = (first + k == forming) ? b.forming_value[kind] : b.value[kind];
    buffer.v[(size_t)k] = std::isnan(v) ? 0.0 : v;
  }
  return copied;
}
inline bool IndicatorRelease(int indicator_handle) {
  if (mql5rt::indicators.erase(indicator_handle) == 0) {
    mql5rt::last_error = ERR_INDICATOR_WRONG_HANDLE;
    return false;
  }
  return true;
}


#include "mql5_runtime_onnx.h"  // the ONNX functions and #resource
