//+------------------------------------------------------------------+
//| Zmtp.mqh - a ZeroMQ SUB peer (ZMTP 3.0/3.1, NULL mechanism) over |
//| MQL5's native sockets: no DLL.                                   |
//|                                                                  |
//| Never blocks for long: Pump() and NextMessage() are polled       |
//| (OnTimer) and do bounded work per call. Two calls can wait:      |
//| SocketConnect, up to the connect timeout (250 ms; on Windows a   |
//| refused connection takes all of it, even on loopback), and       |
//| SocketRead, up to ZMTP_READ_WAIT_MS when SocketIsReadable        |
//| reported a byte that was not there (see ReadAvailable).          |
//|                                                                  |
//| References: RFC 23 (ZMTP 3.0), RFC 37 (ZMTP 3.1).                |
//| Python twin, function by function: tests/mql5twin/zmtp.py        |
//+------------------------------------------------------------------+
#ifndef MT5BRIDGE_ZMTP_MQH
#define MT5BRIDGE_ZMTP_MQH

#define ZMTP_GREETING_BYTES   64
#define ZMTP_FLAG_MORE        0x01
#define ZMTP_FLAG_LONG        0x02
#define ZMTP_FLAG_COMMAND     0x04
#define ZMTP_FLAG_RESERVED    0xF8   // must be zero: anything else is not ZMTP
#define ZMTP_MAX_PARTS        16     // frames per message; ours have 2
#define ZMTP_MAX_EVENTS       32     // connection events kept until NextEvent() takes them
#define ZMTP_MAX_PENDING_OUT  65536  // bytes we failed to send: beyond this the peer is not reading
#define ZMTP_READ_WAIT_MS     1      // SocketRead's wait: never 0, which means 120 s (MQL5 book, SocketRead)

enum ENUM_ZMTP_STATE
  {
   ZMTP_STOPPED = 0,    // before Start() or after Stop()
   ZMTP_WAITING = 1,    // disconnected; next attempt at m_next_attempt_ms
   ZMTP_GREETING = 2,   // TCP connected, our greeting sent, reading the peer's 64 bytes
   ZMTP_HANDSHAKE = 3,  // greetings exchanged, our READY sent, reading the peer's READY
   ZMTP_READY = 4       // subscriptions sent; messages flow
  };

// One message: its frames back to back in data[], part i at start[i] for size[i] bytes.
struct ZmtpMessage
  {
   uchar             data[];
   int               start[];
   int               size[];
   int               parts;
   int               bytes;
  };

long ZmtpNow(void)
  {
   return (long)GetTickCount64();   // monotonic milliseconds
  }

void ZmtpMessageClear(ZmtpMessage &m)
  {
   m.parts = 0;
   m.bytes = 0;
  }

void ZmtpMessageAdd(ZmtpMessage &m, const uchar &src[], const int at, const int count)
  {
   if(ArraySize(m.data) < m.bytes + count)
      ArrayResize(m.data, m.bytes + count, 4096);
   if(count > 0)
      ArrayCopy(m.data, src, m.bytes, at, count);
   ArrayResize(m.start, m.parts + 1, 16);
   ArrayResize(m.size, m.parts + 1, 16);
   m.start[m.parts] = m.bytes;
   m.size[m.parts] = count;
   m.parts++;
   m.bytes += count;
  }

void ZmtpMessageCopy(const ZmtpMessage &src, ZmtpMessage &dst)
  {
   ZmtpMessageClear(dst);
   for(int i = 0; i < src.parts; i++)
      ZmtpMessageAdd(dst, src.data, src.start[i], src.size[i]);
  }

// Part i as UTF-8 text ("" when out of range).
string ZmtpMessageText(const ZmtpMessage &m, const int i)
  {
   if(i < 0 || i >= m.parts || m.size[i] == 0)
      return "";
   return CharArrayToString(m.data, m.start[i], m.size[i], CP_UTF8);
  }

// Part i as bytes, out[] sized to exactly the part.
bool ZmtpMessageBytes(const ZmtpMessage &m, const int i, uchar &out[])
  {
   if(i < 0 || i >= m.parts)
      return false;
   ArrayResize(out, m.size[i]);
   if(m.size[i] > 0)
      ArrayCopy(out, m.data, 0, m.start[i], m.size[i]);
   return true;
  }

// UTF-8 bytes of s without the terminating NUL that StringToCharArray adds.
int ZmtpUtf8(const string s, uchar &out[])
  {
   int n = StringToCharArray(s, out, 0, -1, CP_UTF8);
   if(n > 0 && out[n - 1] == 0)
      n--;
   if(n < 0)
      n = 0;
   ArrayResize(out, n);
   return n;
  }

ulong ZmtpReadU64BE(const uchar &b[], const int at)
  {
   ulong v = 0;
   for(int i = 0; i < 8; i++)
      v = (v << 8) | (ulong)b[at + i];
   return v;
  }

uint ZmtpReadU32BE(const uchar &b[], const int at)
  {
   return ((uint)b[at] << 24) | ((uint)b[at + 1] << 16) | ((uint)b[at + 2] << 8) | (uint)b[at + 3];
  }

class CZmtpSubscriber
  {
private:
   //--- settings
   string            m_host;
   uint              m_port;
   string            m_topics[];
   int               m_minor;                // ZMTP minor version we offer: 1 (3.1) or 0 (3.0)
   int               m_connect_timeout_ms;   // SocketConnect's own bound
   int               m_handshake_timeout_ms; // greeting + READY must be done within this
   int               m_probe_after_ms;       // silent this long: send a PING (3.1 peers answer PONG)
   int               m_dead_after_ms;        // silent this long: the peer is gone, reconnect
   int               m_backoff_min_ms;
   int               m_backoff_max_ms;
   int               m_read_budget;          // bytes read per Pump() at most
   int               m_max_frame_bytes;      // a longer frame (or message) is a protocol error
   //--- connection
   int               m_socket;
   ENUM_ZMTP_STATE   m_state;
   long              m_state_since_ms;
   long              m_next_attempt_ms;
   int               m_backoff_ms;           // the next wait, doubled per failure up to the max
   long              m_last_rx_ms;
   long              m_last_ping_ms;
   int               m_peer_minor;           // negotiated minor version, -1 before the greeting
   string            m_last_failure;         // repeated failures are logged once
   //--- buffers: m_in[m_in_pos .. m_in_len) is received and not parsed yet
   uchar             m_in[];
   int               m_in_len;
   int               m_in_pos;
   uchar             m_out[];
   int               m_out_len;
   uchar             m_chunk[];
   uchar             m_tmp[];
   ZmtpMessage       m_partial;              // frames of a message whose last frame has not come yet
   //--- events and counters
   string            m_events[];
   int               m_event_count;
   ulong             m_connects;             // handshakes completed
   ulong             m_attempts;             // connection attempts
   ulong             m_pings_in;
   ulong             m_pongs_out;
   ulong             m_pings_out;
   ulong             m_pongs_in;
   ulong             m_bytes_in;

   void              SetState(const ENUM_ZMTP_STATE state);
   void              Event(const string text);
   bool              Connect(void);
   bool              Fail(const string reason);
   void              Disconnect(const string reason);
   void              ResetBuffers(void);
   int               ReadAvailable(void);
   void              Append(const uchar &chunk[], const int count);
   void              Compact(void);
   bool              ReadGreeting(void);
   bool              ReadReady(void);
   int               ParseFrame(int &flags, int &body_at, int &size);
   bool              FrameBuffered(void);
   string            CommandName(const int at, const int size);
   string            Property(const int at, const int size, const string wanted);
   bool              HandleCommand(const int at, const int size);
   bool              AddPart(const int at, const int size);
   void              CheckDeadlines(const long now);
   void              QueueBytes(const uchar &bytes[], const int at, const int count);
   void              QueueFrame(const int flags, const uchar &body[], const int count);
   void              QueueCommand(const string name, const uchar &data[], const int count);
   void              QueueGreeting(void);
   void              QueueReady(void);
   void              QueueSubscription(const string prefix);
   void              QueuePing(void);
   bool              SendPong(const int at, const int size);
   bool              Flush(void);

public:
                     CZmtpSubscriber(void);
                    ~CZmtpSubscriber(void) { Stop(); }
   void              Configure(const string host, const uint port);
   void              SetTimeouts(const int connect_ms, const int handshake_ms, const int probe_after_ms,
                                 const int dead_after_ms);
   void              SetBackoff(const int min_ms, const int max_ms);
   void              SetLimits(const int read_budget, const int max_frame_bytes);
   void              SetZmtpMinor(const int minor) { m_minor = (minor >= 1) ? 1 : 0; }
   bool              Subscribe(const string prefix);
   bool              Covers(const string topic);
   void              Start(void);
   void              Stop(void);
   int               Pump(void);
   bool              NextMessage(ZmtpMessage &msg);
   bool              NextEvent(string &text);
   ENUM_ZMTP_STATE   State(void) { return m_state; }
   bool              IsReady(void) { return m_state == ZMTP_READY; }
   int               PeerMinor(void) { return m_peer_minor; }
   ulong             Connects(void) { return m_connects; }
   ulong             Attempts(void) { return m_attempts; }
   ulong             PingsIn(void) { return m_pings_in; }
   ulong             PongsOut(void) { return m_pongs_out; }
   ulong             PingsOut(void) { return m_pings_out; }
   ulong             PongsIn(void) { return m_pongs_in; }
   ulong             BytesIn(void) { return m_bytes_in; }
   string            LastFailure(void) { return m_last_failure; }
   string            Endpoint(void) { return m_host + ":" + IntegerToString(m_port); }
   string            StateName(void);
  };

CZmtpSubscriber::CZmtpSubscriber(void)
  {
   m_host = "127.0.0.1";
   m_port = 5556;
   m_minor = 1;
   m_connect_timeout_ms = 250;   // the EA's thread waits this long per attempt while the daemon is down
   m_handshake_timeout_ms = 3000;
   m_probe_after_ms = 3000;
   m_dead_after_ms = 10000;
   m_backoff_min_ms = 250;
   m_backoff_max_ms = 5000;
   m_read_budget = 65536;
   m_max_frame_bytes = 1048576;
   m_socket = INVALID_HANDLE;
   m_state = ZMTP_STOPPED;
   m_state_since_ms = 0;
   m_next_attempt_ms = 0;
   m_backoff_ms = m_backoff_min_ms;
   m_last_rx_ms = 0;
   m_last_ping_ms = 0;
   m_peer_minor = -1;
   m_last_failure = "";
   m_in_len = 0;
   m_in_pos = 0;
   m_out_len = 0;
   m_event_count = 0;
   m_connects = 0;
   m_attempts = 0;
   m_pings_in = 0;
   m_pongs_out = 0;
   m_pings_out = 0;
   m_pongs_in = 0;
   m_bytes_in = 0;
   ZmtpMessageClear(m_partial);
  }

void CZmtpSubscriber::Configure(const string host, const uint port)
  {
   m_host = host;
   m_port = port;
  }

void CZmtpSubscriber::SetTimeouts(const int connect_ms, const int handshake_ms, const int probe_after_ms,
                                  const int dead_after_ms)
  {
   m_connect_timeout_ms = connect_ms;
   m_handshake_timeout_ms = handshake_ms;
   m_probe_after_ms = probe_after_ms;
   m_dead_after_ms = dead_after_ms;
  }

void CZmtpSubscriber::SetBackoff(const int min_ms, const int max_ms)
  {
   m_backoff_min_ms = min_ms;
   m_backoff_max_ms = max_ms;
   m_backoff_ms = min_ms;
  }

void CZmtpSubscriber::SetLimits(const int read_budget, const int max_frame_bytes)
  {
   m_read_budget = read_budget;
   m_max_frame_bytes = max_frame_bytes;
  }

// Adds a topic prefix ("" subscribes to everything); sent now if connected, and again on every reconnect.
bool CZmtpSubscriber::Subscribe(const string prefix)
  {
   int n = ArraySize(m_topics);
   for(int i = 0; i < n; i++)
      if(m_topics[i] == prefix)
         return true;
   ArrayResize(m_topics, n + 1);
   m_topics[n] = prefix;
   if(m_state == ZMTP_READY)
     {
      QueueSubscription(prefix);
      return Flush();
     }
   return true;
  }

// Whether a message on `topic` passes one of our prefixes.
bool CZmtpSubscriber::Covers(const string topic)
  {
   for(int i = 0; i < ArraySize(m_topics); i++)
      if(StringLen(m_topics[i]) == 0 || StringSubstr(topic, 0, StringLen(m_topics[i])) == m_topics[i])
         return true;
   return false;
  }

void CZmtpSubscriber::Start(void)
  {
   if(m_state != ZMTP_STOPPED)
      return;
   m_backoff_ms = m_backoff_min_ms;
   m_next_attempt_ms = ZmtpNow();
   SetState(ZMTP_WAITING);
  }

void CZmtpSubscriber::Stop(void)
  {
   if(m_socket != INVALID_HANDLE)
      SocketClose(m_socket);
   m_socket = INVALID_HANDLE;
   ResetBuffers();
   if(m_state != ZMTP_STOPPED)
      Event("stopped");
   SetState(ZMTP_STOPPED);
  }

string CZmtpSubscriber::StateName(void)
  {
   switch(m_state)
     {
      case ZMTP_STOPPED: return "STOPPED";
      case ZMTP_WAITING: return "WAITING";
      case ZMTP_GREETING: return "GREETING";
      case ZMTP_HANDSHAKE: return "HANDSHAKE";
      case ZMTP_READY: return "READY";
     }
   return "?";
  }

void CZmtpSubscriber::SetState(const ENUM_ZMTP_STATE state)
  {
   m_state = state;
   m_state_since_ms = ZmtpNow();
  }

// Keeps a line for the owner to log (NextEvent); the oldest is dropped when nobody takes them.
void CZmtpSubscriber::Event(const string text)
  {
   if(m_event_count == ZMTP_MAX_EVENTS)
     {
      for(int i = 1; i < m_event_count; i++)
         m_events[i - 1] = m_events[i];
      m_event_count--;
     }
   if(ArraySize(m_events) < ZMTP_MAX_EVENTS)
      ArrayResize(m_events, ZMTP_MAX_EVENTS);
   m_events[m_event_count] = text;
   m_event_count++;
  }

bool CZmtpSubscriber::NextEvent(string &text)
  {
   if(m_event_count == 0)
      return false;
   text = m_events[0];
   for(int i = 1; i < m_event_count; i++)
      m_events[i - 1] = m_events[i];
   m_event_count--;
   return true;
  }

//--- connection life

// One bounded step: connect when due, send what is pending, read at most m_read_budget bytes, advance the
// handshake, check deadlines. Returns the bytes read. Messages are taken with NextMessage().
int CZmtpSubscriber::Pump(void)
  {
   if(m_state == ZMTP_STOPPED)
      return 0;
   if(m_state == ZMTP_WAITING)
     {
      if(ZmtpNow() < m_next_attempt_ms)
         return 0;
      if(!Connect())
         return 0;
     }
   if(!Flush())
      return 0;
   int got = ReadAvailable();
   if(got < 0)
      return 0;
   if(m_state == ZMTP_GREETING && !ReadGreeting())
      return got;
   if(m_state == ZMTP_HANDSHAKE && !ReadReady())
      return got;
   CheckDeadlines(ZmtpNow());
   return got;
  }

bool CZmtpSubscriber::Connect(void)
  {
   m_attempts++;
   ResetLastError();
   m_socket = SocketCreate();
   if(m_socket == INVALID_HANDLE)
      return Fail(StringFormat("SocketCreate failed (error %d)", GetLastError()));
   if(!SocketConnect(m_socket, m_host, m_port, m_connect_timeout_ms))
     {
      int error = GetLastError();
      string hint = "";
      if(error == 4014)
        {
         hint = ": sockets are not allowed here (an indicator?) or the address is not in ";
         hint += "Tools > Options > Expert Advisors > Allow WebRequest for listed URL";
         hint += StringFormat(" (loopback too: list both %s and %s)", m_host, Endpoint());
        }
      return Fail(StringFormat("cannot connect to %s (error %d)%s", Endpoint(), error, hint));
     }
   SocketTimeouts(m_socket, 200, 200);   // bounds a SocketSend to a peer that stopped reading
   ResetBuffers();
   m_peer_minor = -1;
   m_last_rx_ms = ZmtpNow();
   m_last_ping_ms = 0;
   SetState(ZMTP_GREETING);
   QueueGreeting();
   return Flush();
  }

// Disconnects and returns false, so a caller can `return Fail("why")`.
bool CZmtpSubscriber::Fail(const string reason)
  {
   Disconnect(reason);
   return false;
  }

void CZmtpSubscriber::Disconnect(const string reason)
  {
   if(m_socket != INVALID_HANDLE)
      SocketClose(m_socket);
   m_socket = INVALID_HANDLE;
   bool was_ready = (m_state == ZMTP_READY);
   if(was_ready || reason != m_last_failure)
      Event(StringFormat("%s; next attempt in %d ms", reason, m_backoff_ms));
   m_last_failure = reason;
   m_next_attempt_ms = ZmtpNow() + m_backoff_ms;
   m_backoff_ms = (m_backoff_ms * 2 > m_backoff_max_ms) ? m_backoff_max_ms : m_backoff_ms * 2;
   ResetBuffers();
   SetState(ZMTP_WAITING);
  }

void CZmtpSubscriber::ResetBuffers(void)
  {
   m_in_len = 0;
   m_in_pos = 0;
   m_out_len = 0;
   ZmtpMessageClear(m_partial);
  }

//--- input

int CZmtpSubscriber::ReadAvailable(void)
  {
   if(!SocketIsConnected(m_socket))
     {
      Fail("connection closed by the peer");
      return -1;
     }
   // what is buffered is parsed before more is read: the buffer stays within a frame and a read budget, and
   // a slow reader leaves the bytes in TCP, so the publisher's high-water mark drops and we see gaps
   if(m_state == ZMTP_READY && FrameBuffered())
      return 0;
   // SocketIsReadable reports 1 byte when nothing is buffered ("speculatively returns 1 ... as a rule, the
   // first time", MQL5 book, "Checking socket status"), so the read below may find nothing: that is not an error
   ResetLastError();
   uint readable = SocketIsReadable(m_socket);
   if(readable == 0 && GetLastError() == ERR_NETSOCKET_IO_ERROR)
     {
      Fail("connection lost (error 5273)");
      return -1;
     }
   int want = (readable > (uint)m_read_budget) ? m_read_budget : (int)readable;
   if(want <= 0)
      return 0;
   // SocketRead "increases" a dynamic array "by the number of bytes read" (MQL5 Reference): from empty, the bytes
   // are at 0 whether it appends or overwrites
   ArrayResize(m_chunk, 0, m_read_budget);
   ResetLastError();
   int got = SocketRead(m_socket, m_chunk, want, ZMTP_READ_WAIT_MS);
   if(got <= 0)
     {
      // -1 with an error (ERR_NETSOCKET_IO_ERROR) and the connection gone: broken, a closed peer included (MQL5
      // Reference, SocketRead: an error breaks the connection). -1 with no error code, the documented timeout: the
      // readable byte was speculative. An error code on a connection still standing is read as a timeout too (no
      // code is documented for one): a peer really gone is then found by the silence deadline
      int error = GetLastError();
      if(error != 0 && !SocketIsConnected(m_socket))
        {
         Fail(StringFormat("connection closed by the peer or lost (read error %d)", error));
         return -1;
        }
      return 0;
     }
   Append(m_chunk, got);
   m_bytes_in += got;
   m_last_rx_ms = ZmtpNow();
   return got;
  }

void CZmtpSubscriber::Append(const uchar &chunk[], const int count)
  {
   Compact();
   if(ArraySize(m_in) < m_in_len + count)
      ArrayResize(m_in, m_in_len + count, 65536);
   ArrayCopy(m_in, chunk, m_in_len, 0, count);
   m_in_len += count;
  }

// Moves the unparsed bytes to the front (through m_tmp: no overlapping ArrayCopy).
void CZmtpSubscriber::Compact(void)
  {
   if(m_in_pos == 0)
      return;
   int rest = m_in_len - m_in_pos;
   if(rest > 0)
     {
      ArrayResize(m_tmp, rest);
      ArrayCopy(m_tmp, m_in, 0, m_in_pos, rest);
      ArrayCopy(m_in, m_tmp, 0, 0, rest);
     }
   m_in_len = rest;
   m_in_pos = 0;
  }

// The peer's greeting: signature FF <8 bytes> 7F, version major.minor, mechanism "NULL", as-server, filler.
// The signature is checked as soon as its bytes arrive, so a peer that is not ZMTP is dropped at once.
bool CZmtpSubscriber::ReadGreeting(void)
  {
   int avail = m_in_len - m_in_pos;
   int g = m_in_pos;
   if(avail >= 1 && m_in[g] != 0xFF)
      return Fail("not a ZMTP peer (bad signature)");
   if(avail >= 10 && (m_in[g + 9] & 0x01) == 0)
      return Fail("not a ZMTP peer (bad signature)");
   if(avail >= 11 && m_in[g + 10] < 3)
      return Fail(StringFormat("peer speaks ZMTP %d; 3.0 or later is needed", m_in[g + 10]));
   if(avail < ZMTP_GREETING_BYTES)
      return true;   // wait for the rest
   int n = 0;
   while(n < 20 && m_in[g + 12 + n] != 0)
      n++;
   string mechanism = (n > 0) ? CharArrayToString(m_in, g + 12, n, CP_UTF8) : "";
   if(mechanism != "NULL")
      return Fail("peer wants security mechanism '" + mechanism + "'; only NULL is supported");
   // both sides speak the lower version; a major above 3 still talks 3.x to us (RFC 23)
   int peer_minor = (m_in[g + 10] > 3) ? 255 : m_in[g + 11];
   m_peer_minor = (peer_minor < m_minor) ? peer_minor : m_minor;
   m_in_pos += ZMTP_GREETING_BYTES;
   // READY goes after the peer's greeting: libzmq drops a peer whose handshake and first messages
   // arrive in one piece before it has answered (seen with libzmq 4.3.5)
   SetState(ZMTP_HANDSHAKE);
   QueueReady();
   return Flush();
  }

// The peer's READY command: it must be a PUB or an XPUB. Then our subscriptions go out.
bool CZmtpSubscriber::ReadReady(void)
  {
   int flags = 0, body_at = 0, size = 0;
   int r = ParseFrame(flags, body_at, size);
   if(r <= 0)
      return r == 0;
   if((flags & ZMTP_FLAG_COMMAND) == 0)
      return Fail("expected READY, got a message frame");
   string name = CommandName(body_at, size);
   if(name == "ERROR")
      return Fail("peer refused the handshake");
   if(name != "READY")
      return Fail("expected READY, got command '" + name + "'");
   string type = Property(body_at, size, "socket-type");
   if(type != "PUB" && type != "XPUB")
      return Fail("peer socket type '" + type + "' cannot feed a SUB");
   m_in_pos = body_at + size;
   SetState(ZMTP_READY);
   m_connects++;
   m_backoff_ms = m_backoff_min_ms;
   m_last_failure = "";
   Event(StringFormat("connected to %s (%s, ZMTP 3.%d)", Endpoint(), type, m_peer_minor));
   for(int i = 0; i < ArraySize(m_topics); i++)
      QueueSubscription(m_topics[i]);
   return Flush();
  }

// The frame at m_in_pos: 1 when it is complete (flags, body_at, size set), 0 when more bytes are needed,
// -1 when it is not valid ZMTP (the connection is dropped).
int CZmtpSubscriber::ParseFrame(int &flags, int &body_at, int &size)
  {
   int avail = m_in_len - m_in_pos;
   if(avail < 1)
      return 0;
   flags = m_in[m_in_pos];
   if((flags & ZMTP_FLAG_RESERVED) != 0)
     {
      Fail(StringFormat("bad frame flags 0x%02X", flags));
      return -1;
     }
   if((flags & ZMTP_FLAG_COMMAND) != 0 && (flags & ZMTP_FLAG_MORE) != 0)
     {
      Fail("command frame with the MORE flag");
      return -1;
     }
   int header = ((flags & ZMTP_FLAG_LONG) != 0) ? 9 : 2;
   if(avail < header)
      return 0;
   ulong n = (header == 9) ? ZmtpReadU64BE(m_in, m_in_pos + 1) : (ulong)m_in[m_in_pos + 1];
   if(n > (ulong)m_max_frame_bytes)
     {
      Fail(StringFormat("frame of %I64u bytes is over the %d-byte limit", n, m_max_frame_bytes));
      return -1;
     }
   if(avail < header + (int)n)
      return 0;
   size = (int)n;
   body_at = m_in_pos + header;
   return 1;
  }

// Whether a whole frame (header and body) is buffered; its validity is ParseFrame's business.
bool CZmtpSubscriber::FrameBuffered(void)
  {
   int avail = m_in_len - m_in_pos;
   if(avail < 1)
      return false;
   int header = ((m_in[m_in_pos] & ZMTP_FLAG_LONG) != 0) ? 9 : 2;
   if(avail < header)
      return false;
   ulong n = (header == 9) ? ZmtpReadU64BE(m_in, m_in_pos + 1) : (ulong)m_in[m_in_pos + 1];
   return n <= (ulong)(avail - header);
  }

// A command body starts with its name: one length byte, then the name. "" when malformed.
string CZmtpSubscriber::CommandName(const int at, const int size)
  {
   if(size < 1)
      return "";
   int n = m_in[at];
   if(n == 0 || 1 + n > size)
      return "";
   return CharArrayToString(m_in, at + 1, n, CP_UTF8);
  }

// A property of a READY body (name-size, name, 4-byte big-endian value-size, value), matched without case.
string CZmtpSubscriber::Property(const int at, const int size, const string wanted)
  {
   int end = at + size;
   int p = at + 1 + m_in[at];   // after the command name
   while(p < end)
     {
      int name_size = m_in[p];
      if(p + 1 + name_size + 4 > end)
         return "";
      string name = (name_size > 0) ? CharArrayToString(m_in, p + 1, name_size, CP_UTF8) : "";
      p += 1 + name_size;
      uint value_size = ZmtpReadU32BE(m_in, p);
      p += 4;
      if(value_size > (uint)(end - p))
         return "";
      StringToLower(name);
      if(name == wanted)
         return (value_size > 0) ? CharArrayToString(m_in, p, (int)value_size, CP_UTF8) : "";
      p += (int)value_size;
     }
   return "";
  }

// PING gets a PONG with the same context; ERROR ends the connection; other commands are ignored (RFC 37).
bool CZmtpSubscriber::HandleCommand(const int at, const int size)
  {
   string name = CommandName(at, size);
   if(name == "PING")
     {
      m_pings_in++;
      return SendPong(at, size);
     }
   if(name == "PONG")
     {
      m_pongs_in++;
      return true;
     }
   if(name == "ERROR")
      return Fail("peer sent ERROR");
   if(name == "")
      return Fail("malformed command");
   return true;
  }

// The next complete message, or false when none is buffered yet (commands met on the way are handled).
bool CZmtpSubscriber::NextMessage(ZmtpMessage &msg)
  {
   while(m_state == ZMTP_READY)
     {
      int flags = 0, body_at = 0, size = 0;
      if(ParseFrame(flags, body_at, size) <= 0)
         return false;
      m_in_pos = body_at + size;
      if((flags & ZMTP_FLAG_COMMAND) != 0)
        {
         HandleCommand(body_at, size);
         continue;
        }
      if(!AddPart(body_at, size))
         return false;
      if((flags & ZMTP_FLAG_MORE) == 0)
        {
         ZmtpMessageCopy(m_partial, msg);
         ZmtpMessageClear(m_partial);
         return true;
        }
     }
   return false;
  }

bool CZmtpSubscriber::AddPart(const int at, const int size)
  {
   if(m_partial.parts >= ZMTP_MAX_PARTS || m_partial.bytes + size > m_max_frame_bytes)
      return Fail("message over the part or size limit");
   ZmtpMessageAdd(m_partial, m_in, at, size);
   return true;
  }

// Handshake timeout; on a quiet READY connection a PING (3.1) and, when even that stays unanswered,
// a reconnect. A dead peer is found even where SocketIsConnected does not notice the close.
void CZmtpSubscriber::CheckDeadlines(const long now)
  {
   if(m_state == ZMTP_GREETING || m_state == ZMTP_HANDSHAKE)
     {
      if(now - m_state_since_ms > m_handshake_timeout_ms)
         Fail(StringFormat("handshake not done within %d ms", m_handshake_timeout_ms));
      return;
     }
   if(m_state != ZMTP_READY)
      return;
   long idle = now - m_last_rx_ms;
   if(idle > m_dead_after_ms)
     {
      Fail(StringFormat("peer silent for %I64d ms", idle));
      return;
     }
   if(m_peer_minor >= 1 && idle > m_probe_after_ms && now - m_last_ping_ms > m_probe_after_ms)
     {
      m_last_ping_ms = now;
      QueuePing();
      Flush();
     }
  }

//--- output: everything goes through m_out, so a partial SocketSend is finished on the next Pump()

void CZmtpSubscriber::QueueBytes(const uchar &bytes[], const int at, const int count)
  {
   if(ArraySize(m_out) < m_out_len + count)
      ArrayResize(m_out, m_out_len + count, 1024);
   if(count > 0)
      ArrayCopy(m_out, bytes, m_out_len, at, count);
   m_out_len += count;
  }

// flags byte, size (1 byte, or 8 bytes big-endian with the LONG flag), body.
void CZmtpSubscriber::QueueFrame(const int flags, const uchar &body[], const int count)
  {
   uchar header[9];
   int header_size = 2;
   header[0] = (uchar)flags;
   if(count > 255)
     {
      header[0] = (uchar)(flags | ZMTP_FLAG_LONG);
      header_size = 9;
      for(int i = 0; i < 8; i++)
         header[1 + i] = (uchar)(((ulong)count >> (8 * (7 - i))) & 0xFF);
     }
   else
      header[1] = (uchar)count;
   QueueBytes(header, 0, header_size);
   QueueBytes(body, 0, count);
  }

void CZmtpSubscriber::QueueCommand(const string name, const uchar &data[], const int count)
  {
   uchar body[];
   uchar name_bytes[];
   int n = ZmtpUtf8(name, name_bytes);
   ArrayResize(body, 1 + n + count);
   body[0] = (uchar)n;
   ArrayCopy(body, name_bytes, 1, 0, n);
   if(count > 0)
      ArrayCopy(body, data, 1 + n, 0, count);
   QueueFrame(ZMTP_FLAG_COMMAND, body, 1 + n + count);
  }

void CZmtpSubscriber::QueueGreeting(void)
  {
   uchar g[ZMTP_GREETING_BYTES];
   for(int i = 0; i < ZMTP_GREETING_BYTES; i++)
      g[i] = 0;   // padding, mechanism's tail, as-server = 0 and filler
   g[0] = 0xFF;
   g[9] = 0x7F;
   g[10] = 3;
   g[11] = (uchar)m_minor;
   g[12] = 'N';
   g[13] = 'U';
   g[14] = 'L';
   g[15] = 'L';
   QueueBytes(g, 0, ZMTP_GREETING_BYTES);
  }

// READY with one property: Socket-Type = SUB.
void CZmtpSubscriber::QueueReady(void)
  {
   uchar name[];
   uchar value[];
   int name_size = ZmtpUtf8("Socket-Type", name);
   int value_size = ZmtpUtf8("SUB", value);
   uchar data[];
   ArrayResize(data, 1 + name_size + 4 + value_size);
   data[0] = (uchar)name_size;
   ArrayCopy(data, name, 1, 0, name_size);
   int p = 1 + name_size;
   data[p] = 0;
   data[p + 1] = 0;
   data[p + 2] = 0;
   data[p + 3] = (uchar)value_size;
   ArrayCopy(data, value, p + 4, 0, value_size);
   QueueCommand("READY", data, ArraySize(data));
  }

// ZMTP 3.1: a SUBSCRIBE command; 3.0: a message whose first byte is 1, then the prefix.
void CZmtpSubscriber::QueueSubscription(const string prefix)
  {
   uchar topic[];
   int n = ZmtpUtf8(prefix, topic);
   if(m_peer_minor >= 1)
     {
      QueueCommand("SUBSCRIBE", topic, n);
      return;
     }
   uchar body[];
   ArrayResize(body, 1 + n);
   body[0] = 1;
   if(n > 0)
      ArrayCopy(body, topic, 1, 0, n);
   QueueFrame(0, body, 1 + n);
  }

// PING with TTL 0 (no TTL asked of the peer) and an empty context.
void CZmtpSubscriber::QueuePing(void)
  {
   uchar ttl[2];
   ttl[0] = 0;
   ttl[1] = 0;
   QueueCommand("PING", ttl, 2);
   m_pings_out++;
  }

// PING body: name, 2-byte TTL, context (0..16 bytes) that the PONG must carry back.
bool CZmtpSubscriber::SendPong(const int at, const int size)
  {
   int context_at = at + 1 + 4 + 2;
   int context_size = at + size - context_at;   // negative for a short PING: no context
   if(context_size < 0)
      context_size = 0;
   if(context_size > 16)
      context_size = 16;
   uchar context[];
   ArrayResize(context, context_size);
   if(context_size > 0)
      ArrayCopy(context, m_in, 0, context_at, context_size);
   QueueCommand("PONG", context, context_size);
   m_pongs_out++;
   return Flush();
  }

// Sends what is pending; keeps what the socket did not take.
bool CZmtpSubscriber::Flush(void)
  {
   if(m_out_len == 0 || m_socket == INVALID_HANDLE)
      return true;
   int sent = SocketSend(m_socket, m_out, m_out_len);
   if(sent < 0)
      return Fail(StringFormat("send failed (error %d)", GetLastError()));
   int rest = m_out_len - sent;
   if(rest > 0 && sent > 0)
     {
      ArrayResize(m_tmp, rest);
      ArrayCopy(m_tmp, m_out, 0, sent, rest);
      ArrayCopy(m_out, m_tmp, 0, 0, rest);
     }
   m_out_len = rest;
   if(m_out_len > ZMTP_MAX_PENDING_OUT)
      return Fail("the peer does not read what we send");
   return true;
  }

#endif // MT5BRIDGE_ZMTP_MQH
