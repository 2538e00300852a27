//+------------------------------------------------------------------+
//| OnnxFeatures.mqh - the model's 12 raw features of a closed bar,  |
//| read from the chart: MetaTrader's own iRSI, iCCI, iATR and iMACD |
//| (the formulas mt5bridge.features reproduces bit for bit), the    |
//| bar itself, its server-time calendar, and the median of the last |
//| 500 tick volumes, which this class keeps.                        |
//|                                                                  |
//| Formulas of every feature: docs/FEATURES.md.                     |
//| Python twin, function by function: tests/mql5twin/onnx_encoder.py|
//+------------------------------------------------------------------+
#ifndef MT5BRIDGE_ONNXFEATURES_MQH
#define MT5BRIDGE_ONNXFEATURES_MQH

#define MT5B_FEATURES          12     // F: features per bar
#define MT5B_SET_MT5           1      // mt5-v1: price units, tick_volume / 1000 (the seed EAs' features)
#define MT5B_SET_ROBUST        2      // robust-v1: price units, log volume ratio
#define MT5B_SET_SCALE_FREE    3      // scale-free-v1: bar shapes and MACD in ATRs, log(ATR / close)
#define MT5B_VOLUME_WINDOW     500    // tick volumes in the median of the log volume ratio
#define MT5B_FEATURE_WARMUP    500    // chart bars before the first usable one: the feature sets' warm-up
#define MT5B_ATR_FLOOR         1e-7   // scale-free-v1 divides by max(ATR14, 1e-7 * close)

// The feature set's id as mt5bridge names it (the model file's and `mt5bridge info`'s).
string Mt5bFeatureSetName(const int code)
  {
   if(code == MT5B_SET_MT5)
      return "mt5-v1";
   if(code == MT5B_SET_ROBUST)
      return "robust-v1";
   if(code == MT5B_SET_SCALE_FREE)
      return "scale-free-v1";
   return "unknown feature set " + IntegerToString(code);
  }

class CMt5bFeatures
  {
protected:
   int               m_set;          // MT5B_SET_*
   int               m_rsi;          // indicator handles on this chart's symbol and period
   int               m_cci;
   int               m_atr;
   int               m_macd;
   double            m_ring[];       // the last tick volumes in arrival order, a ring of MT5B_VOLUME_WINDOW
   double            m_sorted[];     // the same volumes, ascending
   int               m_count;        // volumes held
   int               m_head;         // the ring slot of the oldest volume, once full
   MqlRates          m_rates[];
   double            m_value[];

public:
                     CMt5bFeatures(void);
                    ~CMt5bFeatures(void) { Release(); }
   bool              Create(const int feature_set);
   void              Release(void);
   bool              Ready(void);
   bool              Prime(const int shift);
   bool              Read(const int shift, double &row[], datetime &time);

protected:
   bool              Value(const int handle, const int buffer, const int shift, double &value);
   void              PushVolume(const double volume);
   double            MedianVolume(void);
  };

CMt5bFeatures::CMt5bFeatures(void)
  {
   m_set = 0;
   m_rsi = INVALID_HANDLE;
   m_cci = INVALID_HANDLE;
   m_atr = INVALID_HANDLE;
   m_macd = INVALID_HANDLE;
   m_count = 0;
   m_head = 0;
  }

// The four indicators MetaTrader computes over the chart's whole history, as the training features were.
bool CMt5bFeatures::Create(const int feature_set)
  {
   Release();
   if(feature_set != MT5B_SET_MT5 && feature_set != MT5B_SET_ROBUST && feature_set != MT5B_SET_SCALE_FREE)
     {
      Print("Mt5bOnnx: this code computes mt5-v1, robust-v1 and scale-free-v1, not ", Mt5bFeatureSetName(feature_set));
      return false;
     }
   m_set = feature_set;
   m_rsi = iRSI(_Symbol, _Period, 14, PRICE_CLOSE);
   m_cci = iCCI(_Symbol, _Period, 14, PRICE_TYPICAL);
   m_atr = iATR(_Symbol, _Period, 14);
   m_macd = iMACD(_Symbol, _Period, 12, 26, 9, PRICE_CLOSE);
   if(m_rsi == INVALID_HANDLE || m_cci == INVALID_HANDLE || m_atr == INVALID_HANDLE || m_macd == INVALID_HANDLE)
     {
      PrintFormat("Mt5bOnnx: cannot create the RSI, CCI, ATR and MACD indicators (error %d)", GetLastError());
      Release();
      return false;
     }
   ArrayResize(m_ring, MT5B_VOLUME_WINDOW);
   ArrayResize(m_sorted, MT5B_VOLUME_WINDOW);
   m_count = 0;
   m_head = 0;
   return true;
  }

void CMt5bFeatures::Release(void)
  {
   if(m_rsi != INVALID_HANDLE)
      IndicatorRelease(m_rsi);
   if(m_cci != INVALID_HANDLE)
      IndicatorRelease(m_cci);
   if(m_atr != INVALID_HANDLE)
      IndicatorRelease(m_atr);
   if(m_macd != INVALID_HANDLE)
      IndicatorRelease(m_macd);
   m_rsi = INVALID_HANDLE;
   m_cci = INVALID_HANDLE;
   m_atr = INVALID_HANDLE;
   m_macd = INVALID_HANDLE;
  }

// Whether every indicator has calculated every bar of the chart. Right after a handle is created (often during
// OnInit) and after new bars, the terminal computes in the background: not ready yet, try on the next tick or timer;
// never read a not-yet-calculated value as a number.
bool CMt5bFeatures::Ready(void)
  {
   if(m_rsi == INVALID_HANDLE)
      return false;
   int bars = Bars(_Symbol, _Period);
   return bars > 0 && BarsCalculated(m_rsi) >= bars && BarsCalculated(m_cci) >= bars &&
          BarsCalculated(m_atr) >= bars && BarsCalculated(m_macd) >= bars;
  }

// Fills the volume median's window with the MT5B_VOLUME_WINDOW - 1 closed bars before the bar at `shift`, so the
// first bar read there has the median of the last 500 volumes, itself included, as in training.
bool CMt5bFeatures::Prime(const int shift)
  {
   m_count = 0;
   m_head = 0;
   int want = MT5B_VOLUME_WINDOW - 1;
   if(CopyRates(_Symbol, _Period, shift + 1, want, m_rates) != want)
      return false;
   for(int i = 0; i < want; i++)
      PushVolume((double)m_rates[i].tick_volume);   // oldest first: CopyRates puts the oldest at index 0
   return true;
  }

// The 12 raw features of the closed bar at series position `shift` (>= 1: position 0 is the bar still forming) and
// its open time. Nothing changes unless every value was read, so a failed read can simply be retried.
bool CMt5bFeatures::Read(const int shift, double &row[], datetime &time)
  {
   double rsi = 0, cci = 0, atr = 0, main = 0, signal = 0;
   if(shift < 1 || CopyRates(_Symbol, _Period, shift, 1, m_rates) != 1)
      return false;
   if(!Value(m_rsi, 0, shift, rsi) || !Value(m_cci, 0, shift, cci) || !Value(m_atr, 0, shift, atr) ||
      !Value(m_macd, MAIN_LINE, shift, main) || !Value(m_macd, SIGNAL_LINE, shift, signal))
      return false;
   MqlRates bar = m_rates[0];
   time = bar.time;
   double volume = (double)bar.tick_volume;
   PushVolume(volume);
   MqlDateTime when;
   TimeToStruct(bar.time, when);   // server time, as the training bars' times
   ArrayResize(row, MT5B_FEATURES);
   row[0] = bar.close - bar.open;
   row[1] = bar.high - bar.open;
   row[2] = bar.low - bar.open;
   if(m_set == MT5B_SET_MT5)
      row[3] = volume / 1000.0;
   else
      row[3] = MathLog((volume + 1.0) / (MedianVolume() + 1.0));
   row[4] = when.hour;
   row[5] = when.day_of_week;   // 0 = Sunday
   row[6] = when.mon;
   row[7] = rsi;
   row[8] = cci;
   row[9] = atr;
   row[10] = main;
   row[11] = signal;
   if(m_set == MT5B_SET_SCALE_FREE)
     {
      double unit = MathMax(atr, MT5B_ATR_FLOOR * bar.close);   // a frozen market (ATR 0) stays finite
      row[0] = row[0] / unit;
      row[1] = row[1] / unit;
      row[2] = row[2] / unit;
      row[10] = row[10] / unit;
      row[11] = row[11] / unit;
      row[9] = MathLog(unit / bar.close);
     }
   return true;
  }

bool CMt5bFeatures::Value(const int handle, const int buffer, const int shift, double &value)
  {
   if(CopyBuffer(handle, buffer, shift, 1, m_value) != 1)
      return false;
   value = m_value[0];
   return true;
  }

// The newest volume in; the oldest out once the window is full. The sorted copy stays sorted by insertion.
void CMt5bFeatures::PushVolume(const double volume)
  {
   if(m_count == MT5B_VOLUME_WINDOW)
     {
      double oldest = m_ring[m_head];
      int at = 0;
      while(m_sorted[at] < oldest)
         at++;
      for(int i = at; i < m_count - 1; i++)
         m_sorted[i] = m_sorted[i + 1];
      m_ring[m_head] = volume;
      m_head = (m_head + 1) % MT5B_VOLUME_WINDOW;
      m_count--;
     }
   else
      m_ring[m_count] = volume;
   int pos = m_count;
   while(pos > 0 && m_sorted[pos - 1] > volume)
     {
      m_sorted[pos] = m_sorted[pos - 1];
      pos--;
     }
   m_sorted[pos] = volume;
   m_count++;
  }

// The median of the last MT5B_VOLUME_WINDOW volumes: the mean of the two middle ones, as pandas' rolling median.
double CMt5bFeatures::MedianVolume(void)
  {
   int mid = MT5B_VOLUME_WINDOW / 2;
   if(MT5B_VOLUME_WINDOW % 2 == 1)
      return m_sorted[mid];
   return (m_sorted[mid - 1] + m_sorted[mid]) / 2.0;
  }

#endif // MT5BRIDGE_ONNXFEATURES_MQH
