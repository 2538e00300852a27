//+------------------------------------------------------------------+
//| LatentFile.mqh - reads an mt5bridge latent file: one symbol and  |
//| timeframe's latents, a fixed-size record per bar, for the        |
//| Strategy Tester, which runs no socket functions.                 |
//|                                                                  |
//| The layout is docs/LATENTFILE.md; the writer and reference       |
//| reader are mt5bridge/latentfile.py (`mt5bridge encode --format   |
//| mt5`). Fields are read with Protocol.mqh's shift-based helpers.  |
//| Python twin, function by function: tests/mql5twin/latentfile.py  |
//+------------------------------------------------------------------+
#ifndef MT5BRIDGE_LATENTFILE_MQH
#define MT5BRIDGE_LATENTFILE_MQH

#include "Protocol.mqh"

#define MT5B_FILE_VERSION        1
#define MT5B_FILE_HEADER_BYTES   152
#define MT5B_FILE_RECORD_FIXED   20     // bar_time, flags, recon_error, anomaly_pct; then Z floats
#define MT5B_FILE_SUFFIX         ".mt5b"
#define MT5B_FILE_FOLDER         "Mt5Bridge"   // under the terminals' common Files folder
#define MT5B_FILE_CHUNK          1024   // records per read while Open checks their order

struct Mt5bFileHeader
  {
   ushort            version;
   uint              record_bytes;
   int               latent_size;       // Z
   uint              timeframe;         // ENUM_TIMEFRAMES value, as the wire carries it
   uint              warmup_bars;       // WARM from this many bars fed on (the daemon's warmup_bars)
   double            drift_threshold;   // DRIFT over this input-drift score
   ulong             count;
   datetime          first_bar_time;
   datetime          last_bar_time;
   string            symbol;
   string            model_sha256;      // hex, as `mt5bridge info` shows it
   string            feature_set;
  };

// A double's bits seen as a double (the header's drift threshold is an f64).
union Mt5bDoubleBits
  {
   ulong             bits;
   double            value;
  };

double Mt5bReadF64(const uchar &b[], const int at)
  {
   Mt5bDoubleBits u;
   u.bits = Mt5bReadU64(b, at);
   return u.value;
  }

// XAUUSD_H1.mt5b: the file `mt5bridge encode --format mt5` writes for a stream; the characters a Windows file
// name cannot hold become '_' (they are ASCII, so a UTF-8 symbol's other bytes are left alone).
string Mt5bLatentFileName(const string symbol, const uint tf)
  {
   uchar b[];
   int n = StringToCharArray(symbol, b, 0, -1, CP_UTF8) - 1;   // without the terminating NUL
   for(int i = 0; i < n; i++)
      if(b[i] == '\\' || b[i] == '/' || b[i] == ':' || b[i] == '*' || b[i] == '?' || b[i] == '"' || b[i] == '<'
         || b[i] == '>' || b[i] == '|')
         b[i] = '_';
   string safe = (n > 0) ? CharArrayToString(b, 0, n, CP_UTF8) : "";
   return safe + "_" + Mt5bTimeframeName(tf) + MT5B_FILE_SUFFIX;
  }

// The header's 152 bytes and the file's size -> h; false with `why` naming the field.
bool Mt5bDecodeFileHeader(const uchar &b[], const long file_size, Mt5bFileHeader &h, string &why)
  {
   if(ArraySize(b) < MT5B_FILE_HEADER_BYTES || file_size < MT5B_FILE_HEADER_BYTES)
     {
      why = StringFormat("%I64d bytes, shorter than the %d-byte header", file_size, MT5B_FILE_HEADER_BYTES);
      return false;
     }
   if(b[0] != 'M' || b[1] != '5' || b[2] != 'B' || b[3] != 'L')
     {
      why = "bad magic: not an mt5bridge latent file";
      return false;
     }
   h.version = Mt5bReadU16(b, 4);
   if(h.version != MT5B_FILE_VERSION)
     {
      why = StringFormat("format version %d, this reader reads version %d", h.version, MT5B_FILE_VERSION);
      return false;
     }
   if(Mt5bReadU16(b, 6) != MT5B_FILE_HEADER_BYTES)
     {
      why = StringFormat("header_bytes %d, expected %d", Mt5bReadU16(b, 6), MT5B_FILE_HEADER_BYTES);
      return false;
     }
   h.record_bytes = Mt5bReadU32(b, 8);
   h.latent_size = Mt5bReadU16(b, 12);
   if(h.latent_size == 0 || h.record_bytes != (uint)(MT5B_FILE_RECORD_FIXED + 4 * h.latent_size))
     {
      why = StringFormat("record_bytes %u do not hold latent_size %d floats", h.record_bytes, h.latent_size);
      return false;
     }
   h.timeframe = Mt5bReadU32(b, 16);
   h.warmup_bars = Mt5bReadU32(b, 20);
   h.drift_threshold = Mt5bReadF64(b, 24);
   h.count = Mt5bReadU64(b, 32);
   h.first_bar_time = (datetime)Mt5bReadI64(b, 40);
   h.last_bar_time = (datetime)Mt5bReadI64(b, 48);
   if(h.count == 0)
     {
      why = "record_count 0: no records";
      return false;
     }
   // compared as the quotient, so a huge count cannot overflow the product
   long records = file_size - MT5B_FILE_HEADER_BYTES;
   if(records % (long)h.record_bytes != 0 || (ulong)(records / (long)h.record_bytes) != h.count)
     {
      why = StringFormat("%I64d bytes, but record_count %I64u needs %I64u (truncated or grown)", file_size,
                         h.count, MT5B_FILE_HEADER_BYTES + h.count * h.record_bytes);
      return false;
     }
   if(Mt5bTimeframeName(h.timeframe) == "")
     {
      why = StringFormat("timeframe %u is not an ENUM_TIMEFRAMES value", h.timeframe);
      return false;
     }
   h.symbol = Mt5bReadText(b, 56, MT5B_SYMBOL_BYTES);
   h.model_sha256 = "";
   for(int i = 0; i < 32; i++)
      h.model_sha256 += StringFormat("%02x", b[88 + i]);
   h.feature_set = Mt5bReadText(b, 120, MT5B_SYMBOL_BYTES);
   return true;
  }

// The record at b[at]: what the daemon would have published for its bar (sequence numbers and publish time are
// the caller's).
void Mt5bDecodeFileRecord(const uchar &b[], const int at, const Mt5bFileHeader &h, Mt5bLatent &m)
  {
   m.symbol = h.symbol;
   m.timeframe = h.timeframe;
   m.bar_time = (datetime)Mt5bReadI64(b, at);
   m.flags = Mt5bReadU32(b, at + 8);
   m.recon_error = Mt5bReadF32(b, at + 12);
   m.anomaly_pct = Mt5bReadF32(b, at + 16);
   ArrayResize(m.latent, h.latent_size);
   for(int k = 0; k < h.latent_size; k++)
      m.latent[k] = Mt5bReadF32(b, at + MT5B_FILE_RECORD_FIXED + 4 * k);
  }

// One latent file, open for reading from the common Files folder, and a binary search by bar time.
class CMt5bLatentFile
  {
private:
   int               m_handle;
   string            m_name;
   Mt5bFileHeader    m_header;
   uchar             m_buf[];
   long              m_cursor;          // the record found last (-1: none): the next bar is usually the one after
   string            m_why;

   bool              Read(const long index, const int records);
   bool              TimeAt(const long index, datetime &t);
   bool              CheckOrder(void);
   bool              Fail(const string why);

public:
                     CMt5bLatentFile(void);
                    ~CMt5bLatentFile(void) { Close(); }
   bool              Open(const string name);
   void              Close(void);
   int               Find(const datetime bar_time, Mt5bLatent &out);
   bool              IsOpen(void) { return m_handle != INVALID_HANDLE; }
   string            Name(void) { return m_name; }
   string            Why(void) { return m_why; }
   string            Symbol(void) { return m_header.symbol; }
   uint              Timeframe(void) { return m_header.timeframe; }
   int               LatentSize(void) { return m_header.latent_size; }
   ulong             Count(void) { return m_header.count; }
   datetime          FirstBarTime(void) { return m_header.first_bar_time; }
   datetime          LastBarTime(void) { return m_header.last_bar_time; }
   string            ModelSha256(void) { return m_header.model_sha256; }
  };

CMt5bLatentFile::CMt5bLatentFile(void)
  {
   m_handle = INVALID_HANDLE;
   m_name = "";
   m_cursor = -1;
   m_why = "";
  }

// Opens `name` in the common Files folder (shared for reading: the tester's agents may read it at once) and
// checks all of it: header, size, records in strictly increasing bar time. False with Why() naming the file.
bool CMt5bLatentFile::Open(const string name)
  {
   Close();
   m_name = name;
   m_cursor = -1;
   ResetLastError();
   m_handle = FileOpen(name, FILE_READ | FILE_BIN | FILE_SHARE_READ | FILE_COMMON);
   if(m_handle == INVALID_HANDLE)
      return Fail(StringFormat("cannot open it (error %d): is it in the common Files folder?", GetLastError()));
   long size = (long)FileSize(m_handle);
   if(size < MT5B_FILE_HEADER_BYTES)
      return Fail(StringFormat("%I64d bytes, shorter than the %d-byte header", size, MT5B_FILE_HEADER_BYTES));
   if(!FileSeek(m_handle, 0, SEEK_SET) || ArrayResize(m_buf, MT5B_FILE_HEADER_BYTES) < 0
      || FileReadArray(m_handle, m_buf, 0, MT5B_FILE_HEADER_BYTES) != MT5B_FILE_HEADER_BYTES)
      return Fail(StringFormat("cannot read the header (error %d)", GetLastError()));
   string why = "";
   if(!Mt5bDecodeFileHeader(m_buf, size, m_header, why))
      return Fail(why);
   return CheckOrder();
  }

void CMt5bLatentFile::Close(void)
  {
   if(m_handle != INVALID_HANDLE)
      FileClose(m_handle);
   m_handle = INVALID_HANDLE;
  }

bool CMt5bLatentFile::Fail(const string why)
  {
   m_why = m_name + ": " + why;
   Close();
   return false;
  }

// `records` records from `index` into m_buf; false on a short read (the file changed under us).
bool CMt5bLatentFile::Read(const long index, const int records)
  {
   int bytes = records * (int)m_header.record_bytes;
   if(!FileSeek(m_handle, MT5B_FILE_HEADER_BYTES + index * (long)m_header.record_bytes, SEEK_SET)
      || ArrayResize(m_buf, bytes) < 0 || FileReadArray(m_handle, m_buf, 0, bytes) != (uint)bytes)
     {
      m_why = StringFormat("%s: cannot read record %I64d (error %d)", m_name, index, GetLastError());
      return false;
     }
   return true;
  }

// The bar time of record `index`; the whole record is then in m_buf.
bool CMt5bLatentFile::TimeAt(const long index, datetime &t)
  {
   if(!Read(index, 1))
      return false;
   t = (datetime)Mt5bReadI64(m_buf, 0);
   return true;
  }

// Every bar time strictly after the one before, the first and last as the header says: the binary search
// relies on it, so a damaged file is refused at Open rather than answering wrong later.
bool CMt5bLatentFile::CheckOrder(void)
  {
   datetime previous = 0;
   for(long index = 0; index < (long)m_header.count; index += MT5B_FILE_CHUNK)
     {
      long left = (long)m_header.count - index;
      int records = (left < MT5B_FILE_CHUNK) ? (int)left : MT5B_FILE_CHUNK;
      if(!Read(index, records))
        {
         Close();
         return false;
        }
      for(int i = 0; i < records; i++)
        {
         datetime t = (datetime)Mt5bReadI64(m_buf, i * (int)m_header.record_bytes);
         if(index + i == 0 && t != m_header.first_bar_time)
            return Fail(StringFormat("record 0: bar_time %I64d, the header's first_bar_time is %I64d", (long)t,
                                     (long)m_header.first_bar_time));
         if(index + i > 0 && t <= previous)
            return Fail(StringFormat("record %I64d: bar_time %I64d is not after the record before it (%I64d)",
                                     index + i, (long)t, (long)previous));
         previous = t;
        }
     }
   if(previous != m_header.last_bar_time)
      return Fail(StringFormat("the last record's bar_time %I64d is not the header's last_bar_time %I64d",
                               (long)previous, (long)m_header.last_bar_time));
   return true;
  }

// The record of the bar opening at bar_time: 1 found (out filled), 0 the file has no such bar, -1 a read failed
// (Why() says which). A binary search whose first probe is the record after the one found last: a backtest asks
// bar after bar, so one read usually finds it.
int CMt5bLatentFile::Find(const datetime bar_time, Mt5bLatent &out)
  {
   if(m_handle == INVALID_HANDLE)
     {
      m_why = m_name + ": not open";
      return -1;
     }
   if(bar_time < m_header.first_bar_time || bar_time > m_header.last_bar_time)
      return 0;
   long lo = 0;
   long hi = (long)m_header.count - 1;
   long mid = (m_cursor + 1 <= hi) ? m_cursor + 1 : hi / 2;
   while(lo <= hi)
     {
      datetime t = 0;
      if(!TimeAt(mid, t))
         return -1;
      if(t == bar_time)
        {
         Mt5bDecodeFileRecord(m_buf, 0, m_header, out);   // TimeAt read the whole record
         m_cursor = mid;
         return 1;
        }
      if(t < bar_time)
         lo = mid + 1;
      else
         hi = mid - 1;
      mid = lo + (hi - lo) / 2;
     }
   return 0;
  }

#endif // MT5BRIDGE_LATENTFILE_MQH
