//+------------------------------------------------------------------+
//| Mt5BridgeMonitor.mq5 - shows what the mt5bridge daemon publishes |
//| for this chart: latent, reconstruction error, anomaly            |
//| percentile, bar time against the chart, gaps and staleness.      |
//|                                                                  |
//| ZeroMQ without a DLL (Include/Mt5Bridge). The daemon's address   |
//| must be listed in Tools > Options > Expert Advisors >            |
//| "Allow WebRequest for listed URL", loopback too: both 127.0.0.1  |
//| and 127.0.0.1:5556 (see docs/MQL5.md).                           |
//| Your own logic goes in CMonitorBridge::OnLatent below.           |
//+------------------------------------------------------------------+
#property copyright "mt5bridge"
#property version   "1.00"
#property description "Reads the mt5bridge daemon's latents over ZeroMQ (no DLL) and shows them on the chart."

#include <Mt5Bridge/Subscriber.mqh>
#include <Mt5Bridge/Globals.mqh>

input string InpHost    = "127.0.0.1"; // Daemon host (list it in Tools > Options > Expert Advisors)
input int    InpPort    = 5556;        // Daemon port
input string InpTopics  = "";          // Topic prefixes, comma-separated ("" = this chart's symbol and timeframe)
input string InpSymbol  = "";          // Symbol as the daemon names it ("" = this chart's)
input int    InpTimerMs = 100;         // Poll period, ms
input int    InpShowZ   = 8;           // Latent values shown on the chart
input bool   InpGlobals = true;        // Write global variables for the Mt5BridgeLatent indicator

string g_symbol = "";     // the daemon's name of this chart's symbol
long   g_drawn_ms = 0;    // when the chart text was last drawn

class CMonitorBridge : public CMt5BridgeSubscriber
  {
public:
   virtual void      OnLatent(const Mt5bLatent &msg);
   virtual void      OnConnectionEvent(const string text) { Print("Mt5BridgeMonitor: ", text); }
  };

// Called once per new bar's message, in order; catch-up bars (MT5B_FLAG_CATCHUP) come late and older.
// Re-sends after a reconnect never come here. Runs inside OnTimer: keep it short.
void CMonitorBridge::OnLatent(const Mt5bLatent &msg)
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

CMonitorBridge g_bridge;

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

//--- events

int OnInit()
  {
   if(InpPort <= 0 || InpPort > 65535 || InpTimerMs <= 0)
      return INIT_PARAMETERS_INCORRECT;
   g_symbol = (InpSymbol == "") ? _Symbol : InpSymbol;
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
   if(!EventSetMillisecondTimer(InpTimerMs))
      return INIT_FAILED;
   Print("Mt5BridgeMonitor: reading ", InpHost, ":", InpPort, " for ", g_symbol, " ",
         Mt5bTimeframeName((uint)_Period));
   return INIT_SUCCEEDED;
  }

void OnDeinit(const int reason)
  {
   EventKillTimer();
   g_bridge.Stop();
   Comment("");
  }

void OnTimer()
  {
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
   // nothing: the bridge is polled from OnTimer, so it runs on quiet markets and weekends too
  }
