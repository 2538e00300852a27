//+------------------------------------------------------------------+
//| Mt5BridgeMonitor.mq5 - shows this chart's latent, reconstruction |
//| error, anomaly percentile and bar time, from one of two sources: |
//| - daemon: what the mt5bridge daemon publishes over ZeroMQ (no    |
//|   DLL, Include/Mt5Bridge), with gaps and staleness. The daemon's |
//|   address must be listed in Tools > Options > Expert Advisors >  |
//|   "Allow WebRequest for listed URL", loopback too: both          |
//|   127.0.0.1 and 127.0.0.1:5556 (see docs/MQL5.md). In the        |
//|   Strategy Tester the subscriber reads latent files instead.     |
//| - ONNX: the model itself, run here (Include/Mt5Bridge/           |
//|   OnnxEncoder.mqh): a model exported with `mt5bridge export` in  |
//|   MQL5\Files (or the common Files folder); no daemon needed.     |
//| Your own logic goes in OnBarLatent below: both sources call it   |
//| with the same Mt5bLatent.                                        |
//+------------------------------------------------------------------+
#property copyright "mt5bridge"
#property version   "1.10"
#property description "Shows mt5bridge latents on the chart: from the daemon over ZeroMQ (no DLL), or from an ONNX model run in the EA."

#include <Mt5Bridge/Subscriber.mqh>
#include <Mt5Bridge/OnnxEncoder.mqh>
#include <Mt5Bridge/Globals.mqh>

enum ENUM_MT5B_SOURCE
  {
   MT5B_SOURCE_DAEMON = 0,   // daemon (ZeroMQ; latent files in the Strategy Tester)
   MT5B_SOURCE_ONNX = 1      // ONNX model run in this EA
  };

input ENUM_MT5B_SOURCE InpSource = MT5B_SOURCE_DAEMON; // Source of the latents
input string InpHost    = "127.0.0.1"; // Daemon host (list it in Tools > Options > Expert Advisors)
input int    InpPort    = 5556;        // Daemon port
input string InpTopics  = "";          // Topic prefixes, comma-separated ("" = this chart's symbol and timeframe)
input string InpSymbol  = "";          // Symbol as the daemon names it ("" = this chart's)
input string InpModel   = "Mt5Bridge\\model.onnx"; // ONNX: the model file, in MQL5\Files
input bool   InpModelCommon = false;   // ONNX: the model file is in the common Files folder instead
input int    InpHistoryBars = 5000;    // ONNX: closed bars of chart history that warm the model up
input int    InpTimerMs = 100;         // Poll period, ms
input int    InpShowZ   = 8;           // Latent values shown on the chart
input bool   InpGlobals = true;        // Write global variables for the Mt5BridgeLatent indicator

string g_symbol = "";     // the daemon's name of this chart's symbol
long   g_drawn_ms = 0;    // when the chart text was last drawn

// Called once per bar, in order, whatever the source. Daemon: once per new bar's message; catch-up bars
// (MT5B_FLAG_CATCHUP) come late and older; re-sends after a reconnect never come here. ONNX: the chart's history
// first (MT5B_FLAG_CATCHUP), then each bar as it closes. Runs inside OnTimer or OnTick: keep it short.
void OnBarLatent(const Mt5bLatent &msg)
  {
   if(InpGlobals)
      Mt5bWriteGlobals(msg);   // every bar, catch-up bars included: the indicator draws each at its place
   if(msg.symbol != g_symbol || msg.timeframe != (uint)_Period)
      return;
   bool this_bar = (msg.bar_time == iTime(_Symbol, _Period, 1));   // the chart's last closed bar
   bool scored = (msg.flags & MT5B_FLAG_NO_ERROR) == 0;
   //=== YOUR LOGIC PLUGS IN HERE =====================================
   // msg.latent[0 .. Z-1]  the latent mean of the bar that opened at msg.bar_time
   // msg.recon_error       reconstruction error (valid when scored)
   // msg.anomaly_pct       percent of training errors <= recon_error (valid when scored)
   // this_bar              false for catch-up bars and when the chart has not closed the bar yet
   // An example, to replace with your own:
   if(this_bar && scored && msg.anomaly_pct > 99.0)
      PrintFormat("Mt5BridgeMonitor: %s %s bar %s is unusual (anomaly %.1f%%)", msg.symbol,
                  Mt5bTimeframeName(msg.timeframe), TimeToString(msg.bar_time), (double)msg.anomaly_pct);
   //=== END OF YOUR LOGIC ============================================
  }

class CMonitorBridge : public CMt5BridgeSubscriber
  {
public:
   virtual void      OnLatent(const Mt5bLatent &msg) { OnBarLatent(msg); }
   virtual void      OnConnectionEvent(const string text) { Print("Mt5BridgeMonitor: ", text); }
  };

class CMonitorOnnx : public CMt5bOnnxEncoder
  {
public:
   Mt5bLatent        m_last;       // the newest bar's latent, for the chart text
   bool              m_has_last;
                     CMonitorOnnx(void) { m_has_last = false; }
   virtual void      OnLatent(const Mt5bLatent &msg);
  };

void CMonitorOnnx::OnLatent(const Mt5bLatent &msg)
  {
   m_last.bar_time = msg.bar_time;
   m_last.flags = msg.flags;
   m_last.stream_sequence = msg.stream_sequence;
   m_last.recon_error = msg.recon_error;
   m_last.anomaly_pct = msg.anomaly_pct;
   ArrayResize(m_last.latent, ArraySize(msg.latent));
   ArrayCopy(m_last.latent, msg.latent);
   m_has_last = true;
   OnBarLatent(msg);
  }

CMonitorBridge g_bridge;
CMonitorOnnx   g_onnx;

//--- chart text

string LatentText(const Mt5bLatent &m)
  {
   int z = ArraySize(m.latent);
   double norm = 0.0;
   for(int k = 0; k < z; k++)
      norm += (double)m.latent[k] * (double)m.latent[k];
   string s = StringFormat("z[%d]", z);
   for(int j = 0; j < z && j < InpShowZ; j++)
      s += StringFormat(" %+.2f", (double)m.latent[j]);
   if(z > InpShowZ)
      s += " ...";
   return s + StringFormat("   |z| %.2f", MathSqrt(norm));
  }

// The message's bar against the chart's last closed bar: the same bar, or how far apart.
string BarText(const Mt5bLatent &m)
  {
   datetime closed = iTime(_Symbol, _Period, 1);
   string s = "bar " + TimeToString(m.bar_time) + " ";
   if(m.bar_time == closed)
      return s + "= the chart's last closed bar";
   if(m.bar_time > closed)
      return s + "is newer than the chart's last closed bar " + TimeToString(closed);
   int behind = iBarShift(_Symbol, _Period, m.bar_time) - 1;
   return s + StringFormat("is %d bar(s) behind the chart's last closed bar %s", behind, TimeToString(closed));
  }

string FreshText(void)
  {
   string s = g_bridge.IsFresh(g_symbol, _Period) ? "FRESH" : "STALE";
   long silence = g_bridge.SilenceMs();
   s += (silence < 0) ? ", nothing heard yet" : StringFormat(", publisher heard %.1f s ago", silence / 1000.0);
   uint status = 0;
   if(g_bridge.PublisherStatus(g_symbol, _Period, status))
      s += ", daemon: " + Mt5bStatusText(status);
   return s + StringFormat(" (heartbeat every %.1f s)", g_bridge.IntervalMs() / 1000.0);
  }

string Display(void)
  {
   string name = g_symbol + " " + Mt5bTimeframeName((uint)_Period);
   string s = "mt5bridge " + g_bridge.ConnectionText() + "\n";
   Mt5bStreamState st;
   if(!g_bridge.Stream(g_symbol, _Period, st) || !st.has_latest)
      return s + name + ": no latent yet (" + FreshText() + ")";
   s += StringFormat("%s: %s\n", name, FreshText());
   s += StringFormat("stream_sequence %I64u, gaps %I64u (%I64u jumps), re-sends ignored %I64u, restarts %I64u\n",
                     st.latest.stream_sequence, st.missed, st.gap_events, st.resends, st.restarts);
   s += BarText(st.latest) + StringFormat(", received %.1f s ago, flags %s\n",
                                          g_bridge.AgeMs(g_symbol, _Period) / 1000.0, Mt5bFlagsText(st.latest.flags));
   if((st.latest.flags & MT5B_FLAG_NO_ERROR) != 0)
      s += "recon error -, anomaly - (not scored yet)\n";
   else
      s += StringFormat("recon error %.6f, anomaly %.1f %%\n", (double)st.latest.recon_error,
                        (double)st.latest.anomaly_pct);
   return s + LatentText(st.latest);
  }

// The ONNX source's chart text: the model's newest bar, its scores and the input-drift score.
string OnnxDisplay(const int stepped_now)
  {
   string name = _Symbol + " " + Mt5bTimeframeName((uint)_Period);
   string s = "mt5bridge ONNX " + InpModel + StringFormat(": %I64d bars stepped", g_onnx.Stepped());
   if(g_onnx.HasDrift())
      s += StringFormat(", input drift %.1f %%", 100.0 * g_onnx.Drift());
   s += "\n";
   if(!g_onnx.m_has_last)
      return s + name + (stepped_now < 0 ? ": waiting for the indicators" : ": waiting for enough history");
   s += BarText(g_onnx.m_last) + ", flags " + Mt5bFlagsText(g_onnx.m_last.flags) + "\n";
   if((g_onnx.m_last.flags & MT5B_FLAG_NO_ERROR) != 0)
      s += "recon error -, anomaly - (not scored yet)\n";
   else
      s += StringFormat("recon error %.6f, anomaly %.1f %%\n", (double)g_onnx.m_last.recon_error,
                        (double)g_onnx.m_last.anomaly_pct);
   return s + LatentText(g_onnx.m_last);
  }

//--- events

// Daemon source: this chart's stream (or InpTopics) and the heartbeat; connects on the first Poll().
void StartDaemon(void)
  {
   g_bridge.Configure(InpHost, (uint)InpPort);
   string topics[];
   int n = StringSplit(InpTopics, ',', topics);
   int subscribed = 0;
   for(int i = 0; i < n; i++)
     {
      StringTrimLeft(topics[i]);
      StringTrimRight(topics[i]);
      if(topics[i] == "")
         continue;
      g_bridge.Subscribe(topics[i]);
      subscribed++;
     }
   if(subscribed == 0)
      g_bridge.Subscribe(Mt5bLatentTopic(g_symbol, (uint)_Period));
   g_bridge.Start();
  }

int OnInit()
  {
   if(InpPort <= 0 || InpPort > 65535 || InpTimerMs <= 0 || InpHistoryBars < 0)
      return INIT_PARAMETERS_INCORRECT;
   bool onnx = (InpSource == MT5B_SOURCE_ONNX);
   g_symbol = (onnx || InpSymbol == "") ? _Symbol : InpSymbol;
   if(onnx)
     {
      g_onnx.SetHistoryBars(InpHistoryBars);
      if(!g_onnx.LoadFromFile(InpModel, InpModelCommon))
         return INIT_FAILED;   // the reason is in the Experts log
     }
   else
      StartDaemon();
   if(!EventSetMillisecondTimer(InpTimerMs))
      return INIT_FAILED;
   if(onnx)
      g_onnx.Update();   // usually not ready right after the indicators were created: OnTick and OnTimer retry
   else
      Print("Mt5BridgeMonitor: reading ", InpHost, ":", InpPort, " for ", g_symbol, " ",
            Mt5bTimeframeName((uint)_Period));
   return INIT_SUCCEEDED;
  }

void OnDeinit(const int reason)
  {
   EventKillTimer();
   g_bridge.Stop();
   g_onnx.Release();
   Comment("");
  }

// ONNX: steps what closed since the last call, and redraws on news and twice a second.
void OnnxTimer(void)
  {
   int stepped = g_onnx.Update();
   long now = (long)GetTickCount64();
   if(stepped <= 0 && now - g_drawn_ms < 500)
      return;
   g_drawn_ms = now;
   if(InpGlobals)
      GlobalVariableSet(Mt5bGlobalName(g_symbol, (uint)_Period, "fresh"),
                        g_onnx.LastBarTime() == iTime(_Symbol, _Period, 1) ? 1.0 : 0.0);
   Comment(OnnxDisplay(stepped));
  }

void OnTimer()
  {
   if(InpSource == MT5B_SOURCE_ONNX)
     {
      OnnxTimer();
      return;
     }
   int fresh = g_bridge.Poll();
   long now = (long)GetTickCount64();
   if(fresh == 0 && now - g_drawn_ms < 500)
      return;   // redraw on news, and twice a second for the ages
   g_drawn_ms = now;
   if(InpGlobals)
      GlobalVariableSet(Mt5bGlobalName(g_symbol, (uint)_Period, "fresh"),
                        g_bridge.IsFresh(g_symbol, _Period) ? 1.0 : 0.0);
   Comment(Display());
  }

void OnTick()
  {
   // daemon: nothing, the bridge is polled from OnTimer, so it runs on quiet markets and weekends too;
   // ONNX: a bar closes with the first tick of the next one: step it then rather than at the next timer event
   if(InpSource == MT5B_SOURCE_ONNX)
      g_onnx.Update();
  }
