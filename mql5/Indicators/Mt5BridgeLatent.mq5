//+------------------------------------------------------------------+
//| Mt5BridgeLatent.mq5 - the daemon's anomaly percentile per bar,   |
//| in a subwindow.                                                  |
//|                                                                  |
//| Indicators cannot open sockets (MQL5 refuses them, error 4014),  |
//| so this one reads the terminal global variables that the         |
//| Mt5BridgeMonitor EA writes (input InpGlobals) on any chart of    |
//| the same terminal: every bar the EA received, catch-up bars      |
//| included, each drawn at its own bar (by its open time), the last |
//| MT5B_HISTORY_SLOTS of them when it starts. A timer refreshes it, |
//| so values show on a quiet market too, without ticks.             |
//+------------------------------------------------------------------+
#property copyright "mt5bridge"
#property version   "1.10"
#property description "mt5bridge anomaly percentile, from the Mt5BridgeMonitor EA's global variables."
#property indicator_separate_window
#property indicator_buffers 1
#property indicator_plots   1
#property indicator_type1   DRAW_HISTOGRAM
#property indicator_color1  clrOrangeRed
#property indicator_width1  2
#property indicator_label1  "anomaly %"
#property indicator_minimum 0
#property indicator_maximum 100
#property indicator_level1  95

#include <Mt5Bridge/Globals.mqh>

input string InpSymbol    = "";     // Symbol as the daemon names it ("" = this chart's)
input int    InpRefreshMs = 1000;   // How often new values are drawn without a tick, ms

double   g_pct[];
int      g_rates = 0;     // rates_total of the last OnCalculate: the size of g_pct
datetime g_newest = 0;    // the open time of the newest bar at the last OnCalculate
long     g_next = 0;      // the next history entry to draw

string StreamSymbol(void)
  {
   return (InpSymbol == "") ? _Symbol : InpSymbol;
  }

// Draws history entries from g_next on, each at the bar it belongs to. Returns whether a value was drawn.
bool DrawHistory(void)
  {
   if(g_rates == 0)
      return false;
   string symbol = StreamSymbol();
   uint tf = (uint)_Period;
   long count = Mt5bHistoryCount(symbol, tf);
   if(g_next < count - MT5B_HISTORY_SLOTS)
      g_next = count - MT5B_HISTORY_SLOTS;   // older entries are overwritten: start from the oldest kept
   // bars the chart got since the last OnCalculate: the buffer does not hold them yet
   int offset = iBarShift(_Symbol, _Period, g_newest, true);
   if(offset < 0)
      return false;   // the chart's history changed: the next OnCalculate starts over
   bool drawn = false;
   while(g_next < count)
     {
      datetime bar = 0;
      double pct = EMPTY_VALUE;
      int r = Mt5bHistoryRead(symbol, tf, g_next, bar, pct);
      if(r == 0)
         break;   // not written yet
      if(r > 0)
        {
         if(bar > g_newest)
            break;   // a bar the buffer does not hold yet: drawn after the next OnCalculate
         int shift = iBarShift(_Symbol, _Period, bar, true);
         int index = g_rates - 1 - (shift - offset);   // the buffer is not a series: the newest bar is last
         if(shift >= 0 && index >= 0 && index < g_rates)
           {
            g_pct[index] = pct;
            drawn = true;
           }
        }
      g_next++;   // drawn, overwritten, or a bar the chart does not have (before its history, in a gap)
     }
   return drawn;
  }

int OnInit()
  {
   SetIndexBuffer(0, g_pct, INDICATOR_DATA);
   PlotIndexSetDouble(0, PLOT_EMPTY_VALUE, EMPTY_VALUE);
   IndicatorSetString(INDICATOR_SHORTNAME, "mt5bridge anomaly % " + Mt5bGlobalName(StreamSymbol(), (uint)_Period, ""));
   if(InpRefreshMs <= 0 || !EventSetMillisecondTimer(InpRefreshMs))
      return INIT_FAILED;
   return INIT_SUCCEEDED;
  }

void OnDeinit(const int reason)
  {
   EventKillTimer();
  }

int OnCalculate(const int rates_total, const int prev_calculated, const datetime &time[], const double &open[],
                const double &high[], const double &low[], const double &close[], const long &tick_volume[],
                const long &volume[], const int &spread[])
  {
   if(rates_total == 0)
      return 0;
   int first = prev_calculated;
   if(prev_calculated == 0)
      g_next = 0;   // the whole buffer is new (first call, or the history was reloaded): draw everything again
   for(int i = first; i < rates_total; i++)   // new bars start empty
      g_pct[i] = EMPTY_VALUE;
   g_rates = rates_total;
   g_newest = time[rates_total - 1];
   DrawHistory();
   return rates_total;
  }

// Without ticks there is no OnCalculate: bars the EA received meanwhile are drawn here.
void OnTimer()
  {
   if(DrawHistory())
      ChartRedraw();
  }
