//+------------------------------------------------------------------+
//| Mt5BridgeOnnx.mq5 - an mt5bridge model compiled into the EA: no |
//| daemon, no files, no socket; runs alone on a chart and in the    |
//| Strategy Tester.                                                 |
//|                                                                  |
//| 1. Export the model into this terminal's MQL5\Files\Mt5Bridge:   |
//|    mt5bridge export --model model.npz                            |
//|      --out <data folder>/MQL5/Files/Mt5Bridge/model.onnx         |
//| 2. Compile this file in MetaEditor: the model is embedded in the |
//|    .ex5 (#resource below); recompile after each new export.      |
//| 3. Attach it to a chart of the symbol's timeframe the model was  |
//|    trained on (another timeframe is refused, see the log).       |
//| Your logic goes in CEmbeddedModel::OnLatent.                     |
//+------------------------------------------------------------------+
#property copyright "mt5bridge"
#property version   "1.00"
#property description "Runs an mt5bridge model (ONNX, embedded at compile time) on this chart's closed bars."

#include <Mt5Bridge/OnnxEncoder.mqh>

#resource "\\Files\\Mt5Bridge\\model.onnx" as uchar ExtModel[]

input int InpHistoryBars = 5000;   // Closed bars of chart history that warm the model up

class CEmbeddedModel : public CMt5bOnnxEncoder
  {
public:
   virtual void      OnLatent(const Mt5bLatent &msg);
  };

// Once per closed bar, in order: the chart's history first (MT5B_FLAG_CATCHUP), then each bar as it closes.
void CEmbeddedModel::OnLatent(const Mt5bLatent &msg)
  {
   bool scored = (msg.flags & MT5B_FLAG_NO_ERROR) == 0;
   //=== YOUR LOGIC PLUGS IN HERE =====================================
   // msg.latent[0 .. Z-1], msg.recon_error, msg.anomaly_pct (when scored), Drift() (when HasDrift())
   if((msg.flags & MT5B_FLAG_CATCHUP) == 0 && scored && msg.anomaly_pct > 99.0)
      PrintFormat("Mt5BridgeOnnx: bar %s is unusual (anomaly %.1f%%)", TimeToString(msg.bar_time),
                  (double)msg.anomaly_pct);
   //=== END OF YOUR LOGIC ============================================
  }

CEmbeddedModel g_model;

int OnInit()
  {
   if(InpHistoryBars < 0)
      return INIT_PARAMETERS_INCORRECT;
   g_model.SetHistoryBars(InpHistoryBars);
   if(!g_model.LoadFromBuffer(ExtModel))
      return INIT_FAILED;   // the reason is in the Experts log
   g_model.Update();        // the indicators are usually not calculated yet: OnTick retries
   return INIT_SUCCEEDED;
  }

void OnDeinit(const int reason)
  {
   g_model.Release();
  }

void OnTick()
  {
   g_model.Update();
  }
