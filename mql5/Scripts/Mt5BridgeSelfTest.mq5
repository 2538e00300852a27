//+------------------------------------------------------------------+
//| Mt5BridgeSelfTest.mq5 - decodes the golden wire vectors with     |
//| Protocol.mqh and prints PASS/FAIL per vector.                    |
//|                                                                  |
//| The vectors (*.bin) must be in the terminal's                    |
//| MQL5/Files/Mt5Bridge/ (copied there with the rest of mql5/).     |
//| The expected values below are generated from vectors.json        |
//| (tests/mql5check/selftest.py); a test keeps them equal.          |
//+------------------------------------------------------------------+
#property copyright "mt5bridge"
#property version   "1.00"
#property description "Decodes the mt5bridge golden vectors in MQL5/Files/Mt5Bridge and prints PASS/FAIL."

#include <Mt5Bridge/Protocol.mqh>

struct Expected
  {
   string            name;
   int               bytes;
   ENUM_MT5B_DECODE  result;
   int               kind;
   Mt5bLatent        latent;
   Mt5bHeartbeat     beat;
  };

// A quiet NaN (the value of recon_error and anomaly_pct under MT5B_FLAG_NO_ERROR).
float Nan(void)
  {
   Mt5bFloatBits u;
   u.bits = 0x7FC00000;
   return u.value;
  }

int AddExpected(Expected &e[], const string name, const int bytes, const ENUM_MT5B_DECODE result, const int kind)
  {
   int i = ArraySize(e);
   ArrayResize(e, i + 1);
   e[i].name = name;
   e[i].bytes = bytes;
   e[i].result = result;
   e[i].kind = kind;
   return i;
  }

void SetLatent(Mt5bLatent &m, const double &values[])
  {
   int z = ArraySize(values);
   ArrayResize(m.latent, z);
   for(int k = 0; k < z; k++)
      m.latent[k] = (float)values[k];
  }

void AddStream(Mt5bHeartbeat &beat, const string symbol, const uint timeframe, const uint status,
               const long last_bar_time, const ulong last_stream_sequence, const long last_poll_ms)
  {
   int i = ArraySize(beat.streams);
   ArrayResize(beat.streams, i + 1);
   beat.streams[i].symbol = symbol;
   beat.streams[i].timeframe = timeframe;
   beat.streams[i].status = status;
   beat.streams[i].last_bar_time = (datetime)last_bar_time;
   beat.streams[i].last_stream_sequence = last_stream_sequence;
   beat.streams[i].last_poll_ms = last_poll_ms;
  }

//--- BEGIN EXPECTED (generated from tests/data/wire/vectors.json by tests/mql5check/selftest.py)
void LoadExpected(Expected &e[])
  {
   int i = 0;
   i = AddExpected(e, "bad_magic", 192, MT5B_DECODE_ERROR, 0);
   i = AddExpected(e, "bad_version", 192, MT5B_DECODE_ERROR, 0);
   i = AddExpected(e, "heartbeat_drift", 160, MT5B_DECODE_OK, MT5B_KIND_HEARTBEAT);
   e[i].beat.sequence = 77;
   e[i].beat.publish_time_ms = 1760000001000;
   e[i].beat.interval_ms = 5000;
   AddStream(e[i].beat, "USDJPY", 16385, 19, 1759996800, 12, 1760000000900);
   AddStream(e[i].beat, "EURUSD", 16385, 259, 1759996800, 4400, 1760000000900);
   i = AddExpected(e, "heartbeat_no_streams", 32, MT5B_DECODE_OK, MT5B_KIND_HEARTBEAT);
   e[i].beat.sequence = 0;
   e[i].beat.publish_time_ms = 1700000000000;
   e[i].beat.interval_ms = 250;
   i = AddExpected(e, "heartbeat_two_streams", 160, MT5B_DECODE_OK, MT5B_KIND_HEARTBEAT);
   e[i].beat.sequence = 1234567;
   e[i].beat.publish_time_ms = 1700000005000;
   e[i].beat.interval_ms = 5000;
   AddStream(e[i].beat, "EURUSD", 16385, 3, 1699999200, 4321, 1700000004900);
   AddStream(e[i].beat, "XAUUSD", 16388, 12, 1699990000, 77, 0);
   i = AddExpected(e, "latent_drift_usdjpy", 112, MT5B_DECODE_OK, MT5B_KIND_LATENT);
   e[i].latent.sequence = 77;
   e[i].latent.publish_time_ms = 1760000000500;
   e[i].latent.symbol = "USDJPY";
   e[i].latent.timeframe = 16385;
   e[i].latent.flags = 17;
   e[i].latent.bar_time = (datetime)1759996800;
   e[i].latent.stream_sequence = 12;
   e[i].latent.recon_error = (float)3.75;
   e[i].latent.anomaly_pct = (float)100.0;
   double z_latent_drift_usdjpy[] =
     {
      -0.5, -0.25, 0.0, 0.25,
      0.5
     };
   SetLatent(e[i].latent, z_latent_drift_usdjpy);
   i = AddExpected(e, "latent_eurusd_h1", 192, MT5B_DECODE_OK, MT5B_KIND_LATENT);
   e[i].latent.sequence = 1234567;
   e[i].latent.publish_time_ms = 1700000000123;
   e[i].latent.symbol = "EURUSD";
   e[i].latent.timeframe = 16385;
   e[i].latent.flags = 1;
   e[i].latent.bar_time = (datetime)1699999200;
   e[i].latent.stream_sequence = 4321;
   e[i].latent.recon_error = (float)0.4375;
   e[i].latent.anomaly_pct = (float)87.5;
   double z_latent_eurusd_h1[] =
     {
      0.0, 0.24042028188705444, 0.38969889283180237, 0.08064000308513641,
      -0.540573239326477, -0.8219351172447205, -0.279415488243103, 0.7508418560028076,
      1.2720320224761963, 0.5887407064437866, -0.8548903465270996, -1.7142689228057861,
      -0.9964925646781921, 0.8403340578079224, 2.122730016708374, 1.4863722324371338,
      -0.6991937756538391, -2.4721648693084717, -2.038393974304199, 0.42822059988975525,
      2.7388358116149902, 2.6294891834259033, -0.029082873836159706, -2.901327133178711,
      -3.234208345413208
     };
   SetLatent(e[i].latent, z_latent_eurusd_h1);
   i = AddExpected(e, "latent_no_error_replay", 124, MT5B_DECODE_OK, MT5B_KIND_LATENT);
   e[i].latent.sequence = 1;
   e[i].latent.publish_time_ms = 1600000000000;
   e[i].latent.symbol = "XAUUSD";
   e[i].latent.timeframe = 16385;
   e[i].latent.flags = 12;
   e[i].latent.bar_time = (datetime)1599998400;
   e[i].latent.stream_sequence = 1;
   e[i].latent.recon_error = (float)Nan();
   e[i].latent.anomaly_pct = (float)Nan();
   double z_latent_no_error_replay[] =
     {
      0.0, 0.125, 0.25, 0.375,
      0.5, 0.625, 0.75, 0.875
     };
   SetLatent(e[i].latent, z_latent_no_error_replay);
   i = AddExpected(e, "latent_z64_catchup_long_symbol", 348, MT5B_DECODE_OK, MT5B_KIND_LATENT);
   e[i].latent.sequence = 1099511627781;
   e[i].latent.publish_time_ms = 1750000000999;
   e[i].latent.symbol = "GER40.cash_ecn-pro.2025";
   e[i].latent.timeframe = 5;
   e[i].latent.flags = 3;
   e[i].latent.bar_time = (datetime)1749999700;
   e[i].latent.stream_sequence = 8589934592;
   e[i].latent.recon_error = (float)9.999999974752427e-07;
   e[i].latent.anomaly_pct = (float)0.0;
   double z_latent_z64_catchup_long_symbol[] =
     {
      -2.0, -1.9375, -1.875, -1.8125,
      -1.75, -1.6875, -1.625, -1.5625,
      -1.5, -1.4375, -1.375, -1.3125,
      -1.25, -1.1875, -1.125, -1.0625,
      -1.0, -0.9375, -0.875, -0.8125,
      -0.75, -0.6875, -0.625, -0.5625,
      -0.5, -0.4375, -0.375, -0.3125,
      -0.25, -0.1875, -0.125, -0.0625,
      0.0, 0.0625, 0.125, 0.1875,
      0.25, 0.3125, 0.375, 0.4375,
      0.5, 0.5625, 0.625, 0.6875,
      0.75, 0.8125, 0.875, 0.9375,
      1.0, 1.0625, 1.125, 1.1875,
      1.25, 1.3125, 1.375, 1.4375,
      1.5, 1.5625, 1.625, 1.6875,
      1.75, 1.8125, 1.875, 1.9375
     };
   SetLatent(e[i].latent, z_latent_z64_catchup_long_symbol);
   i = AddExpected(e, "truncated_latent", 189, MT5B_DECODE_ERROR, 0);
   i = AddExpected(e, "unknown_kind", 58, MT5B_DECODE_SKIP, 0);
  }
//--- END EXPECTED

//--- comparisons: the first difference is named in `why`

bool SameFloat(const float a, const float b)
  {
   if(!MathIsValidNumber(a) || !MathIsValidNumber(b))
      return !MathIsValidNumber(a) && !MathIsValidNumber(b);
   return a == b;
  }

bool Differs(const string field, string &why)
  {
   why = field + " differs";
   return false;
  }

bool SameLatent(const Mt5bLatent &a, const Mt5bLatent &b, string &why)
  {
   if(a.sequence != b.sequence)
      return Differs("sequence", why);
   if(a.publish_time_ms != b.publish_time_ms)
      return Differs("publish_time_ms", why);
   if(a.symbol != b.symbol)
      return Differs("symbol", why);
   if(a.timeframe != b.timeframe)
      return Differs("timeframe", why);
   if(a.flags != b.flags)
      return Differs("flags", why);
   if(a.bar_time != b.bar_time)
      return Differs("bar_time", why);
   if(a.stream_sequence != b.stream_sequence)
      return Differs("stream_sequence", why);
   if(!SameFloat(a.recon_error, b.recon_error))
      return Differs("recon_error", why);
   if(!SameFloat(a.anomaly_pct, b.anomaly_pct))
      return Differs("anomaly_pct", why);
   if(ArraySize(a.latent) != ArraySize(b.latent))
      return Differs("latent_size", why);
   for(int k = 0; k < ArraySize(a.latent); k++)
      if(!SameFloat(a.latent[k], b.latent[k]))
         return Differs(StringFormat("latent[%d]", k), why);
   return true;
  }

bool SameHeartbeat(const Mt5bHeartbeat &a, const Mt5bHeartbeat &b, string &why)
  {
   if(a.sequence != b.sequence)
      return Differs("sequence", why);
   if(a.publish_time_ms != b.publish_time_ms)
      return Differs("publish_time_ms", why);
   if(a.interval_ms != b.interval_ms)
      return Differs("interval_ms", why);
   if(ArraySize(a.streams) != ArraySize(b.streams))
      return Differs("stream_count", why);
   for(int i = 0; i < ArraySize(a.streams); i++)
     {
      string at = StringFormat("streams[%d].", i);
      if(a.streams[i].symbol != b.streams[i].symbol)
         return Differs(at + "symbol", why);
      if(a.streams[i].timeframe != b.streams[i].timeframe)
         return Differs(at + "timeframe", why);
      if(a.streams[i].status != b.streams[i].status)
         return Differs(at + "status", why);
      if(a.streams[i].last_bar_time != b.streams[i].last_bar_time)
         return Differs(at + "last_bar_time", why);
      if(a.streams[i].last_stream_sequence != b.streams[i].last_stream_sequence)
         return Differs(at + "last_stream_sequence", why);
      if(a.streams[i].last_poll_ms != b.streams[i].last_poll_ms)
         return Differs(at + "last_poll_ms", why);
     }
   return true;
  }

bool ReadVector(const string name, uchar &bytes[])
  {
   int h = FileOpen("Mt5Bridge\\" + name + ".bin", FILE_READ | FILE_BIN);
   if(h == INVALID_HANDLE)
      return false;
   ulong size = FileSize(h);
   uint got = FileReadArray(h, bytes, 0, (int)size);
   FileClose(h);
   return got == size;
  }

string ResultName(const ENUM_MT5B_DECODE r)
  {
   if(r == MT5B_DECODE_OK)
      return "ok";
   if(r == MT5B_DECODE_SKIP)
      return "skip";
   return "error";
  }

bool RunVector(const Expected &e, string &why)
  {
   uchar bytes[];
   if(!ReadVector(e.name, bytes))
     {
      why = StringFormat("cannot read MQL5/Files/Mt5Bridge/%s.bin (error %d)", e.name, GetLastError());
      return false;
     }
   if(ArraySize(bytes) != e.bytes)
     {
      why = StringFormat("%d bytes, expected %d", ArraySize(bytes), e.bytes);
      return false;
     }
   Mt5bHeader h;
   Mt5bLatent latent;
   Mt5bHeartbeat beat;
   string reason = "";
   ENUM_MT5B_DECODE r = Mt5bDecode(bytes, h, latent, beat, reason);
   if(r != e.result)
     {
      why = StringFormat("result %s (%s), expected %s", ResultName(r), reason, ResultName(e.result));
      return false;
     }
   if(r != MT5B_DECODE_OK)
      return true;
   if(h.kind != e.kind)
     {
      why = StringFormat("kind %d, expected %d", h.kind, e.kind);
      return false;
     }
   if(h.kind == MT5B_KIND_LATENT)
      return SameLatent(latent, e.latent, why);
   return SameHeartbeat(beat, e.beat, why);
  }

void OnStart()
  {
   Expected e[];
   LoadExpected(e);
   int passed = 0;
   for(int i = 0; i < ArraySize(e); i++)
     {
      string why = "";
      bool ok = RunVector(e[i], why);
      if(ok)
         passed++;
      PrintFormat("%s %s%s", ok ? "PASS" : "FAIL", e[i].name, ok ? "" : ": " + why);
     }
   PrintFormat("Mt5BridgeSelfTest: %d of %d vectors passed%s", passed, ArraySize(e),
               passed == ArraySize(e) ? "" : " - FAILED");
  }
