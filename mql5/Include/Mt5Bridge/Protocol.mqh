//+------------------------------------------------------------------+
//| Protocol.mqh - mt5bridge wire protocol v1: payload decoder       |
//|                                                                  |
//| The contract is docs/PROTOCOL.md; the reference decoder is       |
//| mt5bridge/wire.py. Every field is little-endian at a fixed       |
//| offset, read here with shifts (no DLL, no CharArrayToStruct, so  |
//| the code does not depend on struct packing).                     |
//| Python twin, function by function: tests/mql5twin/protocol.py    |
//+------------------------------------------------------------------+
#ifndef MT5BRIDGE_PROTOCOL_MQH
#define MT5BRIDGE_PROTOCOL_MQH

#define MT5B_VERSION           1
#define MT5B_KIND_LATENT       1
#define MT5B_KIND_HEARTBEAT    2
#define MT5B_HEADER_BYTES      24
#define MT5B_LATENT_OFFSET     92   // where the latent floats start
#define MT5B_HEARTBEAT_OFFSET  32   // where the stream records start
#define MT5B_STREAM_BYTES      64
#define MT5B_SYMBOL_BYTES      32

// Latent flags
#define MT5B_FLAG_WARM         1    // the stream had its full warm-up
#define MT5B_FLAG_CATCHUP      2    // sent late, catching up bars missed during a disconnect or restart
#define MT5B_FLAG_NO_ERROR     4    // recon_error and anomaly_pct are NaN (target not complete yet)
#define MT5B_FLAG_REPLAY       8    // bars from a file replay, not a terminal
#define MT5B_FLAG_DRIFT        16   // the stream's inputs are unlike the model's training data (drift score over the threshold)
// Heartbeat stream status
#define MT5B_STATUS_CONNECTED  1    // the terminal answered the daemon's last poll
#define MT5B_STATUS_WARM       2
#define MT5B_STATUS_CATCHING_UP 4
#define MT5B_STATUS_ERROR      8    // the last poll failed, the daemon is backing off
#define MT5B_STATUS_DRIFT      16   // the stream's input-drift score is over the daemon's threshold

#define MT5B_TOPIC_PREFIX      "mt5bridge/"
#define MT5B_LATENT_PREFIX     "mt5bridge/latent/"
#define MT5B_HEARTBEAT_TOPIC   "mt5bridge/heartbeat"

enum ENUM_MT5B_DECODE
  {
   MT5B_DECODE_OK = 0,     // decoded: look at the header's kind
   MT5B_DECODE_SKIP = 1,   // a kind this version does not know: skip it
   MT5B_DECODE_ERROR = 2   // malformed: count it and skip it
  };

struct Mt5bHeader
  {
   ushort            version;
   ushort            kind;
   ulong             sequence;          // latent: publisher-wide +1 per latent; heartbeat: the last latent sent
   long              publish_time_ms;   // UTC ms when sent
  };

struct Mt5bLatent
  {
   ulong             sequence;
   long              publish_time_ms;
   string            symbol;
   uint              timeframe;         // ENUM_TIMEFRAMES value, as _Period
   uint              flags;             // MT5B_FLAG_*
   datetime          bar_time;          // the bar's open time, server time: iTime(_Symbol, _Period, 1) after close
   ulong             stream_sequence;   // +1 per bar of this symbol and timeframe
   float             recon_error;       // NaN when MT5B_FLAG_NO_ERROR
   float             anomaly_pct;       // 0-100, NaN when MT5B_FLAG_NO_ERROR
   float             latent[];          // Z values
  };

struct Mt5bStream
  {
   string            symbol;
   uint              timeframe;
   uint              status;            // MT5B_STATUS_*
   datetime          last_bar_time;     // 0: none yet
   ulong             last_stream_sequence;
   long              last_poll_ms;      // UTC ms, 0: none yet
  };

struct Mt5bHeartbeat
  {
   ulong             sequence;
   long              publish_time_ms;
   uint              interval_ms;       // heartbeats come at least this often
   Mt5bStream        streams[];
  };

// A float's bits seen as a float: the little-endian u32 read below becomes an f32 without a DLL.
union Mt5bFloatBits
  {
   uint              bits;
   float             value;
  };

//--- little-endian readers; callers check the length first
ushort Mt5bReadU16(const uchar &b[], const int at)
  {
   return (ushort)((uint)b[at] | ((uint)b[at + 1] << 8));
  }

uint Mt5bReadU32(const uchar &b[], const int at)
  {
   return (uint)b[at] | ((uint)b[at + 1] << 8) | ((uint)b[at + 2] << 16) | ((uint)b[at + 3] << 24);
  }

ulong Mt5bReadU64(const uchar &b[], const int at)
  {
   return (ulong)Mt5bReadU32(b, at) | ((ulong)Mt5bReadU32(b, at + 4) << 32);
  }

long Mt5bReadI64(const uchar &b[], const int at)
  {
   return (long)Mt5bReadU64(b, at);
  }

float Mt5bReadF32(const uchar &b[], const int at)
  {
   Mt5bFloatBits u;
   u.bits = Mt5bReadU32(b, at);
   return u.value;
  }

// A NUL-padded UTF-8 field of `size` bytes.
string Mt5bReadText(const uchar &b[], const int at, const int size)
  {
   int n = 0;
   while(n < size && b[at + n] != 0)
      n++;
   if(n == 0)
      return "";   // CharArrayToString with count 0 is not "nothing" everywhere
   return CharArrayToString(b, at, n, CP_UTF8);
  }

//--- decoders
ENUM_MT5B_DECODE Mt5bDecodeHeader(const uchar &p[], Mt5bHeader &h, string &why)
  {
   int n = ArraySize(p);
   if(n < MT5B_HEADER_BYTES)
     {
      why = StringFormat("payload of %d bytes is shorter than the %d-byte header", n, MT5B_HEADER_BYTES);
      return MT5B_DECODE_ERROR;
     }
   if(p[0] != 'M' || p[1] != '5' || p[2] != 'B' || p[3] != 'R')
     {
      why = "bad magic";
      return MT5B_DECODE_ERROR;
     }
   h.version = Mt5bReadU16(p, 4);
   h.kind = Mt5bReadU16(p, 6);
   h.sequence = Mt5bReadU64(p, 8);
   h.publish_time_ms = Mt5bReadI64(p, 16);
   if(h.version != MT5B_VERSION)
     {
      why = StringFormat("protocol version %d, this decoder reads version %d", h.version, MT5B_VERSION);
      return MT5B_DECODE_ERROR;
     }
   return MT5B_DECODE_OK;
  }

ENUM_MT5B_DECODE Mt5bDecodeLatent(const uchar &p[], const Mt5bHeader &h, Mt5bLatent &m, string &why)
  {
   int n = ArraySize(p);
   if(n < MT5B_LATENT_OFFSET)
     {
      why = StringFormat("latent payload of %d bytes is shorter than %d", n, MT5B_LATENT_OFFSET);
      return MT5B_DECODE_ERROR;
     }
   int size = Mt5bReadU16(p, 88);
   if(n != MT5B_LATENT_OFFSET + 4 * size)
     {
      why = StringFormat("latent payload of %d bytes does not hold %d floats", n, size);
      return MT5B_DECODE_ERROR;
     }
   m.sequence = h.sequence;
   m.publish_time_ms = h.publish_time_ms;
   m.symbol = Mt5bReadText(p, 24, MT5B_SYMBOL_BYTES);
   m.timeframe = Mt5bReadU32(p, 56);
   m.flags = Mt5bReadU32(p, 60);
   m.bar_time = (datetime)Mt5bReadI64(p, 64);
   m.stream_sequence = Mt5bReadU64(p, 72);
   m.recon_error = Mt5bReadF32(p, 80);
   m.anomaly_pct = Mt5bReadF32(p, 84);
   ArrayResize(m.latent, size);
   for(int k = 0; k < size; k++)
      m.latent[k] = Mt5bReadF32(p, MT5B_LATENT_OFFSET + 4 * k);
   return MT5B_DECODE_OK;
  }

void Mt5bReadStream(const uchar &p[], const int at, Mt5bStream &s)
  {
   s.symbol = Mt5bReadText(p, at, MT5B_SYMBOL_BYTES);
   s.timeframe = Mt5bReadU32(p, at + 32);
   s.status = Mt5bReadU32(p, at + 36);
   s.last_bar_time = (datetime)Mt5bReadI64(p, at + 40);
   s.last_stream_sequence = Mt5bReadU64(p, at + 48);
   s.last_poll_ms = Mt5bReadI64(p, at + 56);
  }

ENUM_MT5B_DECODE Mt5bDecodeHeartbeat(const uchar &p[], const Mt5bHeader &h, Mt5bHeartbeat &m, string &why)
  {
   int n = ArraySize(p);
   if(n < MT5B_HEARTBEAT_OFFSET)
     {
      why = "heartbeat payload too short";
      return MT5B_DECODE_ERROR;
     }
   int count = Mt5bReadU16(p, 28);
   if(n != MT5B_HEARTBEAT_OFFSET + count * MT5B_STREAM_BYTES)
     {
      why = StringFormat("heartbeat payload of %d bytes does not hold %d streams", n, count);
      return MT5B_DECODE_ERROR;
     }
   m.sequence = h.sequence;
   m.publish_time_ms = h.publish_time_ms;
   m.interval_ms = Mt5bReadU32(p, 24);
   ArrayResize(m.streams, count);
   for(int i = 0; i < count; i++)
      Mt5bReadStream(p, MT5B_HEARTBEAT_OFFSET + i * MT5B_STREAM_BYTES, m.streams[i]);
   return MT5B_DECODE_OK;
  }

// One payload: OK fills `latent` or `beat` according to h.kind; SKIP: unknown kind; ERROR: `why` says what.
ENUM_MT5B_DECODE Mt5bDecode(const uchar &p[], Mt5bHeader &h, Mt5bLatent &latent, Mt5bHeartbeat &beat,
                            string &why)
  {
   ENUM_MT5B_DECODE r = Mt5bDecodeHeader(p, h, why);
   if(r != MT5B_DECODE_OK)
      return r;
   if(h.kind == MT5B_KIND_LATENT)
      return Mt5bDecodeLatent(p, h, latent, why);
   if(h.kind == MT5B_KIND_HEARTBEAT)
      return Mt5bDecodeHeartbeat(p, h, beat, why);
   why = StringFormat("unknown kind %d", h.kind);
   return MT5B_DECODE_SKIP;
  }

//--- copies (explicit: they do not rely on struct assignment of dynamic arrays)
void Mt5bCopyLatent(const Mt5bLatent &src, Mt5bLatent &dst)
  {
   dst.sequence = src.sequence;
   dst.publish_time_ms = src.publish_time_ms;
   dst.symbol = src.symbol;
   dst.timeframe = src.timeframe;
   dst.flags = src.flags;
   dst.bar_time = src.bar_time;
   dst.stream_sequence = src.stream_sequence;
   dst.recon_error = src.recon_error;
   dst.anomaly_pct = src.anomaly_pct;
   int size = ArraySize(src.latent);
   ArrayResize(dst.latent, size);
   for(int k = 0; k < size; k++)
      dst.latent[k] = src.latent[k];
  }

void Mt5bCopyStream(const Mt5bStream &src, Mt5bStream &dst)
  {
   dst.symbol = src.symbol;
   dst.timeframe = src.timeframe;
   dst.status = src.status;
   dst.last_bar_time = src.last_bar_time;
   dst.last_stream_sequence = src.last_stream_sequence;
   dst.last_poll_ms = src.last_poll_ms;
  }

void Mt5bCopyHeartbeat(const Mt5bHeartbeat &src, Mt5bHeartbeat &dst)
  {
   dst.sequence = src.sequence;
   dst.publish_time_ms = src.publish_time_ms;
   dst.interval_ms = src.interval_ms;
   int count = ArraySize(src.streams);
   ArrayResize(dst.streams, count);
   for(int i = 0; i < count; i++)
      Mt5bCopyStream(src.streams[i], dst.streams[i]);
  }

//--- topics and names
// The daemon's timeframe names (M1 ... MN1) by ENUM_TIMEFRAMES value; "" for a value it does not know.
string Mt5bTimeframeName(const uint tf)
  {
   switch(tf)
     {
      case 1: return "M1";
      case 2: return "M2";
      case 3: return "M3";
      case 4: return "M4";
      case 5: return "M5";
      case 6: return "M6";
      case 10: return "M10";
      case 12: return "M12";
      case 15: return "M15";
      case 20: return "M20";
      case 30: return "M30";
      case 16385: return "H1";
      case 16386: return "H2";
      case 16387: return "H3";
      case 16388: return "H4";
      case 16390: return "H6";
      case 16392: return "H8";
      case 16396: return "H12";
      case 16408: return "D1";
      case 32769: return "W1";
      case 49153: return "MN1";
     }
   return "";
  }

// mt5bridge/latent/<SYMBOL>/<TIMEFRAME>, e.g. Mt5bLatentTopic(_Symbol, (uint)_Period).
string Mt5bLatentTopic(const string symbol, const uint tf)
  {
   return MT5B_LATENT_PREFIX + symbol + "/" + Mt5bTimeframeName(tf);
  }

string Mt5bFlagsText(const uint flags)
  {
   string s = "";
   if((flags & MT5B_FLAG_WARM) != 0)
      s += " WARM";
   if((flags & MT5B_FLAG_CATCHUP) != 0)
      s += " CATCHUP";
   if((flags & MT5B_FLAG_NO_ERROR) != 0)
      s += " NO_ERROR";
   if((flags & MT5B_FLAG_REPLAY) != 0)
      s += " REPLAY";
   if((flags & MT5B_FLAG_DRIFT) != 0)
      s += " DRIFT";
   return s == "" ? "-" : StringSubstr(s, 1);
  }

string Mt5bStatusText(const uint status)
  {
   string s = "";
   if((status & MT5B_STATUS_CONNECTED) != 0)
      s += " CONNECTED";
   if((status & MT5B_STATUS_WARM) != 0)
      s += " WARM";
   if((status & MT5B_STATUS_CATCHING_UP) != 0)
      s += " CATCHING_UP";
   if((status & MT5B_STATUS_ERROR) != 0)
      s += " ERROR";
   if((status & MT5B_STATUS_DRIFT) != 0)
      s += " DRIFT";
   return s == "" ? "-" : StringSubstr(s, 1);
  }

#endif // MT5BRIDGE_PROTOCOL_MQH
