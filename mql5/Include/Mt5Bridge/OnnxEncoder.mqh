//+------------------------------------------------------------------+
//| OnnxEncoder.mqh - the model inside the EA: no daemon, no socket, |
//| so it runs on one chart alone and in the Strategy Tester.        |
//|                                                                  |
//| Export the model with `mt5bridge export --model M.npz --out      |
//| M.onnx` (docs/MQL5.md, "In-EA inference"). Load it from a        |
//| #resource buffer or from MQL5\Files (or Common\Files), call      |
//| Update() from OnTick and OnTimer, and override OnLatent: it gets |
//| the same Mt5bLatent as a daemon subscriber's, once per closed    |
//| bar, in order: first the bars of the chart's history (a warm-up  |
//| that builds the model's memory; MT5B_FLAG_CATCHUP), then each    |
//| new bar as it closes. It steps the graph exactly as the daemon   |
//| steps the model (mt5bridge/inference.py, ModelRunner).           |
//| Python twin, function by function: tests/mql5twin/onnx_encoder.py|
//+------------------------------------------------------------------+
#ifndef MT5BRIDGE_ONNXENCODER_MQH
#define MT5BRIDGE_ONNXENCODER_MQH

#include "Protocol.mqh"
#include "OnnxFeatures.mqh"

#define MT5B_ONNX_FORMAT       1      // the export format this code reads (info[0])
#define MT5B_ONNX_INPUTS       3      // bars [1, D, F], valid [1, D], state [1, S]
#define MT5B_ONNX_OUTPUTS      6      // latent [1, Z], error, percentile, outside [1, 1], state_out [1, S], info [1, 9]
#define MT5B_ONNX_INFO         9      // format, feature set, F, W, D, Z, S, timeframe seconds, has drift bounds
#define MT5B_DRIFT_WINDOW      500    // bars in the drift score (mt5bridge/drift.py)
#define MT5B_DRIFT_THRESHOLD   0.075  // MT5B_FLAG_DRIFT above it, as the daemon's default
#define MT5B_DRIFT_MIN_BARS    100    // bars stepped before the drift flag may be raised (the daemon's)
#define MT5B_WARM_BARS         500    // bars stepped before MT5B_FLAG_WARM (the daemon's default warm-up)

class CMt5bOnnxEncoder
  {
protected:
   long              m_onnx;         // the ONNX session, INVALID_HANDLE before a model loads
   CMt5bFeatures     m_features;
   int               m_d;            // D: target bars, rows of `bars`
   int               m_w;            // W: encoder window bars (inside the graph)
   int               m_z;            // Z: latent size
   int               m_s;            // S: packed recurrent state size
   bool              m_has_drift;    // the model holds training input ranges: `outside` means something
   int               m_history;      // closed bars of chart history to warm up on, at most
   float             m_bars[];       // [1, D, F] raw features of the last D stepped bars, newest first
   float             m_valid[];      // [1, D] 1 where a row holds a stepped bar
   float             m_state[];      // [1, S] [h_0 | c_0 | h_1 | c_1 | ...], zeros at the start
   float             m_latent[];     // [1, Z]
   float             m_error[];      // [1, 1]
   float             m_percentile[]; // [1, 1]
   float             m_outside[];    // [1, 1]
   float             m_state_out[];  // [1, S]
   float             m_info[];       // [1, MT5B_ONNX_INFO]
   double            m_row[];        // (F,) the bar being stepped
   bool              m_started;      // the first bar was stepped: later bars continue from m_last_time
   datetime          m_last_time;    // the open time of the last bar stepped (or skipped)
   long              m_stepped;      // bars stepped since the start
   int               m_recent[];     // outside counts of the last MT5B_DRIFT_WINDOW stepped bars, a ring
   long              m_recent_sum;
   double            m_drift;        // the drift score after the last bar
   bool              m_broken;       // OnnxRun failed: nothing more is stepped
   Mt5bLatent        m_msg;

public:
                     CMt5bOnnxEncoder(void);
   virtual          ~CMt5bOnnxEncoder(void) { Release(); }
   bool              LoadFromBuffer(const uchar &model[]);
   bool              LoadFromFile(const string name, const bool common);
   void              SetHistoryBars(const int bars) { m_history = bars; }
   int               Update(void);
   void              Release(void);
   long              Stepped(void) { return m_stepped; }
   datetime          LastBarTime(void) { return m_last_time; }
   bool              HasDrift(void) { return m_has_drift; }
   double            Drift(void) { return m_drift; }
   int               LatentSize(void) { return m_z; }
   // Called once per stepped bar, in order. Override it: your logic goes here.
   virtual void      OnLatent(const Mt5bLatent &msg) { }

protected:
   bool              Open(const long handle, const string what);
   int               Width(const bool input, const int index, const int rank, const int last);
   bool              Shape(const bool input, const int index, const int d1, const int d2);
   bool              CheckInfo(const string what);
   bool              Run(void);
   void              Reset(void);
   int               StepFrom(const int first_shift);
   bool              Step(const int shift, const bool catchup);
   void              Publish(const datetime time, const bool catchup);
  };

CMt5bOnnxEncoder::CMt5bOnnxEncoder(void)
  {
   m_onnx = INVALID_HANDLE;
   m_d = 0;
   m_w = 0;
   m_z = 0;
   m_s = 0;
   m_has_drift = false;
   m_history = 5000;
   m_broken = false;
   Reset();
  }

// A model embedded with #resource "\\Files\\Mt5Bridge\\model.onnx" as uchar ExtModel[] (see Mt5BridgeOnnx.mq5).
bool CMt5bOnnxEncoder::LoadFromBuffer(const uchar &model[])
  {
   Release();
   return Open(OnnxCreateFromBuffer(model, 0), "embedded in the program");
  }

// A model file in MQL5\Files, or in the terminals' common Files folder.
bool CMt5bOnnxEncoder::LoadFromFile(const string name, const bool common)
  {
   Release();
   uint flags = 0;
   if(common)
      flags = ONNX_COMMON_FOLDER;
   return Open(OnnxCreate(name, flags), name + (common ? " (common Files folder)" : ""));
  }

void CMt5bOnnxEncoder::Release(void)
  {
   if(m_onnx != INVALID_HANDLE)
      OnnxRelease(m_onnx);
   m_onnx = INVALID_HANDLE;
   m_features.Release();
  }

// Checks the graph's interface (mt5bridge/onnx_export.py), sets its shapes, runs it once for its `info`, and
// creates the indicators of its feature set. False, with the reason printed, for anything else.
bool CMt5bOnnxEncoder::Open(const long handle, const string what)
  {
   if(handle == INVALID_HANDLE)
     {
      PrintFormat("Mt5bOnnx: cannot load the model %s (error %d)", what, GetLastError());
      return false;
     }
   m_onnx = handle;
   if(OnnxGetInputCount(m_onnx) != MT5B_ONNX_INPUTS || OnnxGetOutputCount(m_onnx) != MT5B_ONNX_OUTPUTS)
     {
      Print("Mt5bOnnx: the model ", what, " has ", OnnxGetInputCount(m_onnx), " inputs and ",
            OnnxGetOutputCount(m_onnx), " outputs, not the 3 and 6 of an mt5bridge step graph: ",
            "export it with `mt5bridge export`");
      Release();
      return false;
     }
   m_d = Width(true, 0, 3, MT5B_FEATURES);
   m_s = Width(true, 2, 2, 0);
   m_z = Width(false, 0, 2, 0);
   bool fits = m_d > 0 && m_s > 0 && m_z > 0 && Width(true, 1, 2, 0) == m_d && Width(false, 1, 2, 0) == 1 &&
               Width(false, 2, 2, 0) == 1 && Width(false, 3, 2, 0) == 1 && Width(false, 4, 2, 0) == m_s &&
               Width(false, 5, 2, 0) == MT5B_ONNX_INFO;
   if(!fits)
     {
      Print("Mt5bOnnx: the model ", what, "'s inputs and outputs are not those of an mt5bridge step graph ",
            "(float32 bars [1, D, 12], valid [1, D], state [1, S]; latent [1, Z], error, percentile, ",
            "outside [1, 1], state_out [1, S], info [1, 9])");
      Release();
      return false;
     }
   if(!Shape(true, 0, m_d, MT5B_FEATURES) || !Shape(true, 1, m_d, 0) || !Shape(true, 2, m_s, 0) ||
      !Shape(false, 0, m_z, 0) || !Shape(false, 1, 1, 0) || !Shape(false, 2, 1, 0) || !Shape(false, 3, 1, 0) ||
      !Shape(false, 4, m_s, 0) || !Shape(false, 5, MT5B_ONNX_INFO, 0))
     {
      PrintFormat("Mt5bOnnx: cannot set the shapes of the model %s (error %d)", what, GetLastError());
      Release();
      return false;
     }
   ArrayResize(m_bars, m_d * MT5B_FEATURES);
   ArrayResize(m_valid, m_d);
   ArrayResize(m_state, m_s);
   ArrayResize(m_latent, m_z);
   ArrayResize(m_error, 1);
   ArrayResize(m_percentile, 1);
   ArrayResize(m_outside, 1);
   ArrayResize(m_state_out, m_s);
   ArrayResize(m_info, MT5B_ONNX_INFO);
   Reset();
   if(!Run() || !CheckInfo(what) || !m_features.Create((int)m_info[1]))
     {
      Release();
      return false;
     }
   Reset();
   PrintFormat("Mt5bOnnx: model %s loaded: %s features, D %d, W %d, latent %d, state %d%s", what,
               Mt5bFeatureSetName((int)m_info[1]), m_d, m_w, m_z, m_s, m_has_drift ? ", drift score" : "");
   return true;
  }

// The last dimension of a float tensor of shape [1, n] (rank 2) or [1, n, last] (rank 3); -1 for anything else.
int CMt5bOnnxEncoder::Width(const bool input, const int index, const int rank, const int last)
  {
   OnnxTypeInfo info;
   bool ok = input ? OnnxGetInputTypeInfo(m_onnx, index, info) : OnnxGetOutputTypeInfo(m_onnx, index, info);
   if(!ok || info.type != ONNX_TYPE_TENSOR || info.tensor.data_type != ONNX_DATA_TYPE_FLOAT ||
      ArraySize(info.tensor.dimensions) != rank || info.tensor.dimensions[0] != 1)
      return -1;
   if(rank == 3 && info.tensor.dimensions[2] != last)
      return -1;
   return (int)info.tensor.dimensions[1];
  }

bool CMt5bOnnxEncoder::Shape(const bool input, const int index, const int d1, const int d2)
  {
   ulong shape[];
   ArrayResize(shape, d2 > 0 ? 3 : 2);
   shape[0] = 1;
   shape[1] = (ulong)d1;
   if(d2 > 0)
      shape[2] = (ulong)d2;
   return input ? OnnxSetInputShape(m_onnx, index, shape) : OnnxSetOutputShape(m_onnx, index, shape);
  }

// The graph's `info` against this code and this chart: a model of another format, feature set or timeframe is
// refused (its memory counts bars: 40 bars of M15 are not 40 hours).
bool CMt5bOnnxEncoder::CheckInfo(const string what)
  {
   int format = (int)m_info[0], set = (int)m_info[1], seconds = (int)m_info[7];
   m_w = (int)m_info[3];
   m_has_drift = m_info[8] == 1;
   string why = "";
   if(format != MT5B_ONNX_FORMAT)
      why = StringFormat("export format %d (this code reads %d): update mql5/Include/Mt5Bridge", format,
                         MT5B_ONNX_FORMAT);
   else if(set != MT5B_SET_MT5 && set != MT5B_SET_ROBUST && set != MT5B_SET_SCALE_FREE)
      why = "it reads " + Mt5bFeatureSetName(set) + ", which this code does not compute";
   else if((int)m_info[2] != MT5B_FEATURES || (int)m_info[4] != m_d || (int)m_info[5] != m_z ||
           (int)m_info[6] != m_s || m_w < 1 || m_w > m_d)
      why = "its info output does not match its own shapes (a damaged export)";
   else if(seconds != 0 && seconds != PeriodSeconds())
      why = StringFormat("it was trained on %d-second bars, this chart's are %d seconds (%s): ", seconds,
                         PeriodSeconds(), Mt5bTimeframeName((uint)_Period)) + "use a model of this timeframe";
   if(why != "")
     {
      Print("Mt5bOnnx: the model ", what, " is refused: ", why);
      return false;
     }
   if(seconds == 0)
      Print("Mt5bOnnx: the model ", what, " does not record its timeframe: make sure it was trained on ",
            Mt5bTimeframeName((uint)_Period), " bars");
   return true;
  }

bool CMt5bOnnxEncoder::Run(void)
  {
   ResetLastError();
   if(OnnxRun(m_onnx, ONNX_NO_CONVERSION, m_bars, m_valid, m_state, m_latent, m_error, m_percentile, m_outside,
              m_state_out, m_info))
      return true;
   PrintFormat("Mt5bOnnx: OnnxRun failed (error %d): no more bars are stepped", GetLastError());
   m_broken = true;
   return false;
  }

// A stream's start: no bar stepped, zero state, no memory of drift.
void CMt5bOnnxEncoder::Reset(void)
  {
   ArrayInitialize(m_bars, 0);
   ArrayInitialize(m_valid, 0);
   ArrayInitialize(m_state, 0);
   ArrayResize(m_recent, MT5B_DRIFT_WINDOW);
   ArrayInitialize(m_recent, 0);
   m_recent_sum = 0;
   m_stepped = 0;
   m_drift = 0;
   m_started = false;
   m_last_time = 0;
  }

// Steps what closed since the last call: at the first call where the indicators are ready, every closed bar of the
// history from the later of the feature warm-up (chart bar MT5B_FEATURE_WARMUP from the oldest) and the last
// m_history bars; afterwards each bar once, in order, however many closed in between. Returns the bars stepped
// (0: nothing new), or -1 when nothing could be stepped now (no model, or the data is not ready: the indicators
// are still being calculated; call again on the next tick or timer event, it continues where it stopped).
int CMt5bOnnxEncoder::Update(void)
  {
   if(m_onnx == INVALID_HANDLE || m_broken || !m_features.Ready())
      return -1;
   int bars = Bars(_Symbol, _Period);
   if(!m_started)
     {
      int first = bars - 1 - m_history;   // chart index, 0 = the oldest bar
      if(first < MT5B_FEATURE_WARMUP)
         first = MT5B_FEATURE_WARMUP;
      int first_shift = bars - 1 - first;
      if(first_shift < 1)
         return 0;   // fewer than MT5B_FEATURE_WARMUP + 2 bars on the chart: wait for more
      if(!m_features.Prime(first_shift))
         return -1;
      return StepFrom(first_shift);
     }
   if(iTime(_Symbol, _Period, 1) == m_last_time)
      return 0;
   int last = iBarShift(_Symbol, _Period, m_last_time, true);
   if(last < 1)
     {
      Print("Mt5bOnnx: the chart no longer holds the last bar stepped (", TimeToString(m_last_time),
            "): history was reloaded; starting again from the chart's history");
      Reset();
      return 0;
     }
   return StepFrom(last - 1);
  }

// Steps the closed bars from series position first_shift down to 1 (the last closed bar); stops at the first bar
// whose data is not ready, to continue from there on the next call. The bars stepped, -1 if that was the first.
int CMt5bOnnxEncoder::StepFrom(const int first_shift)
  {
   int stepped = 0;
   for(int shift = first_shift; shift >= 1 && !m_broken; shift--)
     {
      if(!Step(shift, shift > 1))
         return stepped > 0 ? stepped : -1;
      stepped++;
     }
   return stepped;
  }

// One closed bar through the graph, as ModelRunner.step: the raw-feature window shifts by one row, the state is
// carried. A bar whose features are not finite is skipped with a message, as the daemon skips it.
bool CMt5bOnnxEncoder::Step(const int shift, const bool catchup)
  {
   datetime time = 0;
   if(!m_features.Read(shift, m_row, time))
      return false;
   if(m_started && time <= m_last_time)
     {
      PrintFormat("Mt5bOnnx: bar %s is not after the last bar stepped (%s): not stepped", TimeToString(time),
                  TimeToString(m_last_time));
      return false;
     }
   m_started = true;
   m_last_time = time;
   for(int k = 0; k < MT5B_FEATURES; k++)
      if(!MathIsValidNumber(m_row[k]))
        {
         PrintFormat("Mt5bOnnx: bar %s skipped: feature %d (%s set) is not a finite number", TimeToString(time), k,
                     Mt5bFeatureSetName((int)m_info[1]));
         return true;
        }
   for(int i = m_d * MT5B_FEATURES - 1; i >= MT5B_FEATURES; i--)
      m_bars[i] = m_bars[i - MT5B_FEATURES];
   for(int f = 0; f < MT5B_FEATURES; f++)
      m_bars[f] = (float)m_row[f];
   for(int j = m_d - 1; j >= 1; j--)
      m_valid[j] = m_valid[j - 1];
   m_valid[0] = 1;
   if(!Run())
      return false;
   ArrayCopy(m_state, m_state_out);
   int slot = (int)(m_stepped % MT5B_DRIFT_WINDOW);
   int outside = (int)m_outside[0];
   m_recent_sum += outside - m_recent[slot];
   m_recent[slot] = outside;
   m_stepped++;
   long window = (m_stepped < MT5B_DRIFT_WINDOW) ? m_stepped : MT5B_DRIFT_WINDOW;
   m_drift = (double)m_recent_sum / (double)(window * MT5B_FEATURES);
   Publish(time, catchup);
   return true;
  }

// The bar's outputs as the daemon publishes them: before D bars were stepped the target is incomplete, so the
// error and percentile are NaN with MT5B_FLAG_NO_ERROR.
void CMt5bOnnxEncoder::Publish(const datetime time, const bool catchup)
  {
   Mt5bFloatBits nan;
   nan.bits = 0x7FC00000;
   bool scored = m_stepped >= m_d;
   m_msg.sequence = (ulong)m_stepped;
   m_msg.publish_time_ms = 0;   // computed here, not sent
   m_msg.symbol = _Symbol;
   m_msg.timeframe = (uint)_Period;
   m_msg.flags = 0;
   if(m_stepped >= MT5B_WARM_BARS)
      m_msg.flags |= MT5B_FLAG_WARM;
   if(catchup)
      m_msg.flags |= MT5B_FLAG_CATCHUP;
   if(!scored)
      m_msg.flags |= MT5B_FLAG_NO_ERROR;
   if(m_has_drift && m_stepped >= MT5B_DRIFT_MIN_BARS && m_drift > MT5B_DRIFT_THRESHOLD)
      m_msg.flags |= MT5B_FLAG_DRIFT;
   m_msg.bar_time = time;
   m_msg.stream_sequence = (ulong)m_stepped;
   m_msg.recon_error = scored ? m_error[0] : nan.value;
   m_msg.anomaly_pct = scored ? m_percentile[0] : nan.value;
   ArrayResize(m_msg.latent, m_z);
   ArrayCopy(m_msg.latent, m_latent);
   OnLatent(m_msg);
  }

#endif // MT5BRIDGE_ONNXENCODER_MQH
