//+------------------------------------------------------------------+
//| Mt5BridgeLatent.mq5 - the daemon's anomaly percentile per bar,   |
//| in a subwindow.                                                  |
//|                                                                  |
//| Indicators cannot open sockets (MQL5 refuses them, error 4014),  |
//| so this one reads the terminal global variables that the         |
//| Mt5BridgeMonitor EA writes (input InpGlobals) on any chart of    |
//| the same terminal. It shows the bars it saw while running: there |
//| is no history to load.                                           |
//+------------------------------------------------------------------+
#property copyright "mt5bridge"
#property version   "1.00"
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

#include <Mt5Bridge/Protocol.mqh>

input string InpSymbol = "";   // Symbol as the daemon names it ("" = this chart's)

double g_pct[];

string VariableName(const string field)
  {
   string symbol = (InpSymbol == "") ? _Symbol : InpSymbol;
   return "Mt5Bridge." + symbol + "." + Mt5bTimeframeName((uint)_Period) + "." + field;
  }

int OnInit()
  {
   SetIndexBuffer(0, g_pct, INDICATOR_DATA);
   PlotIndexSetDouble(0, PLOT_EMPTY_VALUE, EMPTY_VALUE);
   IndicatorSetString(INDICATOR_SHORTNAME, "mt5bridge anomaly % " + VariableName(""));
   return INIT_SUCCEEDED;
  }

int OnCalculate(const int rates_total, const int prev_calculated, const datetime &time[], const double &open[],
                const double &high[], const double &low[], const double &close[], const long &tick_volume[],
                const long &volume[], const int &spread[])
  {
   for(int i = prev_calculated; i < rates_total; i++)   // new bars start empty
      g_pct[i] = EMPTY_VALUE;
   if(!GlobalVariableCheck(VariableName("bar")) || !GlobalVariableCheck(VariableName("pct")))
      return rates_total;
   datetime bar = (datetime)GlobalVariableGet(VariableName("bar"));
   double pct = GlobalVariableGet(VariableName("pct"));
   // buffers are not series here: the newest bar is at rates_total - 1; the published bar is a recent one
   for(int i = rates_total - 1; i >= 0 && i >= rates_total - 500; i--)
      if(time[i] == bar)
        {
         g_pct[i] = pct;
         break;
        }
   return rates_total;
  }
