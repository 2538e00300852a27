//+------------------------------------------------------------------+
//| Globals.mqh - the EA's latents as terminal global variables, for |
//| indicators (which cannot open sockets).                          |
//|                                                                  |
//| Mt5Bridge.<SYMBOL>.<TF>.bar / .seq / .err / .pct: the newest     |
//| latent; .fresh: the EA's staleness verdict; .n and .h<k>.*: the  |
//| history, every bar received (catch-up bars included), in a ring  |
//| of MT5B_HISTORY_SLOTS slots, so an indicator draws each bar at   |
//| its own place and none is lost between two of its refreshes.     |
//|                                                                  |
//| Writer: Mt5BridgeMonitor.mq5 (Mt5bWriteGlobals in OnLatent).     |
//| Reader: Mt5BridgeLatent.mq5 (Mt5bHistoryCount, Mt5bHistoryRead). |
//+------------------------------------------------------------------+
#ifndef MT5BRIDGE_GLOBALS_MQH
#define MT5BRIDGE_GLOBALS_MQH

#include "Protocol.mqh"

// Bars kept for indicators. Each slot is 3 global variables; a name stays within the terminal's 63 characters
// (MQL5 book, "Client terminal global variables") for symbols up to 31 characters, the protocol's limit.
#define MT5B_HISTORY_SLOTS     1024

// Terminal global variable of one stream's field: Mt5Bridge.<symbol>.<timeframe>.<field>
string Mt5bGlobalName(const string symbol, const uint tf, const string field)
  {
   return "Mt5Bridge." + symbol + "." + Mt5bTimeframeName(tf) + "." + field;
  }

// Slot field of history entry k (0, 1, 2, ... in the order received): h<k mod slots>.<field>
string Mt5bHistoryName(const string symbol, const uint tf, const long k, const string field)
  {
   return Mt5bGlobalName(symbol, tf, "h" + IntegerToString(k % MT5B_HISTORY_SLOTS) + "." + field);
  }

// Entries written so far (the next entry's number); 0 before the first.
long Mt5bHistoryCount(const string symbol, const uint tf)
  {
   string name = Mt5bGlobalName(symbol, tf, "n");
   return GlobalVariableCheck(name) ? (long)GlobalVariableGet(name) : 0;
  }

// One received latent: the newest values, then its history slot, then the count, so a reader that sees the
// count sees the slot complete. The percentile is EMPTY_VALUE when the bar is not scored (nothing is drawn).
void Mt5bWriteGlobals(const Mt5bLatent &msg)
  {
   bool has_error = (msg.flags & MT5B_FLAG_NO_ERROR) == 0;
   double pct = has_error ? (double)msg.anomaly_pct : EMPTY_VALUE;
   GlobalVariableSet(Mt5bGlobalName(msg.symbol, msg.timeframe, "bar"), (double)msg.bar_time);
   GlobalVariableSet(Mt5bGlobalName(msg.symbol, msg.timeframe, "seq"), (double)msg.stream_sequence);
   GlobalVariableSet(Mt5bGlobalName(msg.symbol, msg.timeframe, "err"), has_error ? (double)msg.recon_error : EMPTY_VALUE);
   GlobalVariableSet(Mt5bGlobalName(msg.symbol, msg.timeframe, "pct"), pct);
   long k = Mt5bHistoryCount(msg.symbol, msg.timeframe);
   GlobalVariableSet(Mt5bHistoryName(msg.symbol, msg.timeframe, k, "bar"), (double)msg.bar_time);
   GlobalVariableSet(Mt5bHistoryName(msg.symbol, msg.timeframe, k, "pct"), pct);
   GlobalVariableSet(Mt5bHistoryName(msg.symbol, msg.timeframe, k, "k"), (double)k);
   GlobalVariableSet(Mt5bGlobalName(msg.symbol, msg.timeframe, "n"), (double)(k + 1));
  }

// History entry k: 1 read (bar, pct set), 0 not written yet, -1 overwritten by a newer entry (the reader fell
// more than MT5B_HISTORY_SLOTS behind).
int Mt5bHistoryRead(const string symbol, const uint tf, const long k, datetime &bar, double &pct)
  {
   string name = Mt5bHistoryName(symbol, tf, k, "k");
   if(!GlobalVariableCheck(name))
      return 0;
   long stored = (long)GlobalVariableGet(name);
   if(stored > k)
      return -1;
   if(stored < k)
      return 0;
   bar = (datetime)GlobalVariableGet(Mt5bHistoryName(symbol, tf, k, "bar"));
   pct = GlobalVariableGet(Mt5bHistoryName(symbol, tf, k, "pct"));
   return 1;
  }

#endif // MT5BRIDGE_GLOBALS_MQH
