//+------------------------------------------------------------------+
//| Subscriber.mqh - what an Expert Advisor uses: the mt5bridge      |
//| daemon's latents per symbol and timeframe, with gap counts and   |
//| staleness, polled from OnTimer.                                  |
//|                                                                  |
//|   CMt5BridgeSubscriber bridge;                                   |
//|   bridge.Configure("127.0.0.1", 5556);                           |
//|   bridge.Subscribe(Mt5bLatentTopic(_Symbol, (uint)_Period));     |
//|   bridge.Start();                  // OnInit                     |
//|   bridge.Poll();                   // OnTimer                    |
//|   bridge.Latest(_Symbol, _Period, latent); bridge.IsFresh(...)   |
//|                                                                  |
//| Subclass it and override OnLatent() to see every new bar's       |
//| message in order (catch-up bars included).                       |
//|                                                                  |
//| In the Strategy Tester (no sockets there) the same calls read    |
//| latent files instead (LatentFeed.mqh); UseLatentFiles() chooses. |
//| Python twin, function by function: tests/mql5twin/subscriber.py  |
//+------------------------------------------------------------------+
#ifndef MT5BRIDGE_SUBSCRIBER_MQH
#define MT5BRIDGE_SUBSCRIBER_MQH

#include "Protocol.mqh"
#include "Zmtp.mqh"
#include "LatentFeed.mqh"

// What we know of one symbol and timeframe.
struct Mt5bStreamState
  {
   string            symbol;
   uint              timeframe;
   bool              has_latest;
   Mt5bLatent        latest;            // the newest message (highest stream_sequence)
   long              received_ms;       // ZmtpNow() when it arrived
   ulong             received;          // new messages taken
   ulong             missed;            // bars lost: the sum of the jumps in stream_sequence
   ulong             gap_events;        // how many jumps
   ulong             resends;           // not newer than the latest (last-value cache after a reconnect): ignored
   ulong             restarts;          // the publisher started over without its state: a new baseline
   ulong             last_sequence;     // the newest stream_sequence accounted for, received or counted lost
   bool              rebase;            // a heartbeat showed a restart: take the next message as the baseline
  };

class CMt5BridgeSubscriber
  {
protected:
   CZmtpSubscriber   m_zmtp;
   ZmtpMessage       m_msg;
   uchar             m_payload[];
   Mt5bHeader        m_header;
   Mt5bLatent        m_latent;
   Mt5bHeartbeat     m_beat;            // decode target
   Mt5bHeartbeat     m_last_beat;       // the newest heartbeat
   bool              m_has_beat;
   Mt5bStreamState   m_streams[];
   long              m_last_data_ms;    // the newest valid message of any kind (0: none yet)
   uint              m_default_interval_ms; // staleness before the first heartbeat tells the interval
   int               m_max_messages;    // messages handled per Poll() at most
   ulong             m_latents;
   ulong             m_beats;
   ulong             m_skipped;
   ulong             m_malformed;
   string            m_last_malformed;
   CMt5bLatentFeed   m_feed;            // file mode: the latent files
   bool              m_file_mode;

   bool              Handle(ZmtpMessage &msg);
   void              StartFiles(void);   // file mode: SubscriberFiles.mqh
   int               PollFiles(void);
   // ms on the clock that matters: in file mode the tester's simulated server time, else the tick count
   long              NowMs(void) { return m_file_mode ? (long)TimeCurrent() * 1000 : ZmtpNow(); }
   bool              Track(const Mt5bLatent &m);
   void              CheckHeartbeat(const Mt5bHeartbeat &beat);
   void              CountMalformed(const string why);
   int               FindStream(const string symbol, const uint tf);
   int               AddStream(const string symbol, const uint tf);
   int               FindBeatStream(const string symbol, const uint tf);

public:
                     CMt5BridgeSubscriber(void);
   virtual          ~CMt5BridgeSubscriber(void) { Stop(); }
   void              Configure(const string host, const uint port) { m_zmtp.Configure(host, port); }
   void              SetTimeouts(const int connect_ms, const int handshake_ms, const int probe_after_ms,
                                 const int dead_after_ms)
                       { m_zmtp.SetTimeouts(connect_ms, handshake_ms, probe_after_ms, dead_after_ms); }
   void              SetBackoff(const int min_ms, const int max_ms) { m_zmtp.SetBackoff(min_ms, max_ms); }
   void              SetLimits(const int read_budget, const int max_frame_bytes, const int max_messages);
   void              SetDefaultInterval(const uint interval_ms) { m_default_interval_ms = interval_ms; }
   void              SetZmtpMinor(const int minor) { m_zmtp.SetZmtpMinor(minor); }
   bool              Subscribe(const string prefix) { m_feed.Subscribe(prefix); return m_zmtp.Subscribe(prefix); }
   void              UseLatentFiles(const bool on = true, const string folder = MT5B_FILE_FOLDER)
                       { m_file_mode = on; m_feed.SetFolder(folder); }
   void              ExpectLatentSize(const int z) { m_feed.ExpectLatentSize(z); }
   bool              FileMode(void) { return m_file_mode; }
   void              Start(void);
   void              Stop(void) { m_zmtp.Stop(); m_feed.Close(); }
   int               Poll(void);
   //--- for strategy code
   bool              Latest(const string symbol, const ENUM_TIMEFRAMES tf, Mt5bLatent &out);
   bool              IsFresh(const string symbol, const ENUM_TIMEFRAMES tf);
   ulong             Gaps(const string symbol, const ENUM_TIMEFRAMES tf);
   bool              Stream(const string symbol, const ENUM_TIMEFRAMES tf, Mt5bStreamState &out);
   bool              PublisherStatus(const string symbol, const ENUM_TIMEFRAMES tf, uint &status);
   long              AgeMs(const string symbol, const ENUM_TIMEFRAMES tf);
   long              SilenceMs(void);
   bool              PublisherAlive(void);
   uint              IntervalMs(void);
   bool              IsConnected(void) { return m_file_mode ? m_feed.StreamCount() > 0 : m_zmtp.IsReady(); }
   string            ConnectionText(void);
   int               StreamCount(void) { return ArraySize(m_streams); }
   ulong             Malformed(void) { return m_malformed; }
   ulong             Skipped(void) { return m_skipped; }
   ulong             Heartbeats(void) { return m_beats; }
   ulong             Connects(void) { return m_zmtp.Connects(); }
   //--- hooks: override in a subclass
   virtual void      OnLatent(const Mt5bLatent &msg) { }
   virtual void      OnHeartbeat(const Mt5bHeartbeat &beat) { }
   virtual void      OnConnectionEvent(const string text) { Print("mt5bridge: ", text); }
  };

CMt5BridgeSubscriber::CMt5BridgeSubscriber(void)
  {
   m_has_beat = false;
   m_last_data_ms = 0;
   m_default_interval_ms = 5000;
   m_max_messages = 256;
   m_latents = 0;
   m_beats = 0;
   m_skipped = 0;
   m_malformed = 0;
   m_last_malformed = "";
   m_file_mode = MQLInfoInteger(MQL_TESTER) != 0;   // the tester runs no socket functions
   ZmtpMessageClear(m_msg);
  }

void CMt5BridgeSubscriber::SetLimits(const int read_budget, const int max_frame_bytes, const int max_messages)
  {
   m_zmtp.SetLimits(read_budget, max_frame_bytes);
   m_max_messages = max_messages;
  }

// Staleness needs the heartbeats: they are subscribed to unless a prefix already covers them.
void CMt5BridgeSubscriber::Start(void)
  {
   if(m_file_mode)
     {
      StartFiles();
      return;
     }
   if(!m_zmtp.Covers(MT5B_HEARTBEAT_TOPIC))
      m_zmtp.Subscribe(MT5B_HEARTBEAT_TOPIC);
   m_zmtp.Start();
  }

// One bounded step, for OnTimer: socket I/O, then at most m_max_messages messages (the rest wait for the
// next call). Returns how many new latent messages arrived.
int CMt5BridgeSubscriber::Poll(void)
  {
   if(m_file_mode)
      return PollFiles();
   m_zmtp.Pump();
   int fresh = 0;
   for(int i = 0; i < m_max_messages; i++)
     {
      if(!m_zmtp.NextMessage(m_msg))
         break;
      if(Handle(m_msg))
         fresh++;
     }
   string text = "";
   while(m_zmtp.NextEvent(text))
      OnConnectionEvent(text);
   return fresh;
  }

// [topic, payload] -> decoded, tracked, handed to the hooks. True for a new latent message.
bool CMt5BridgeSubscriber::Handle(ZmtpMessage &msg)
  {
   if(msg.parts != 2)
     {
      CountMalformed(StringFormat("message of %d parts, expected 2 (topic, payload)", msg.parts));
      return false;
     }
   ZmtpMessageBytes(msg, 1, m_payload);
   string why = "";
   ENUM_MT5B_DECODE r = Mt5bDecode(m_payload, m_header, m_latent, m_beat, why);
   if(r == MT5B_DECODE_ERROR)
     {
      CountMalformed(ZmtpMessageText(msg, 0) + ": " + why);
      return false;
     }
   m_last_data_ms = NowMs();   // any well-formed message shows the publisher is alive
   if(r == MT5B_DECODE_SKIP)
     {
      m_skipped++;
      return false;
     }
   if(m_header.kind == MT5B_KIND_HEARTBEAT)
     {
      Mt5bCopyHeartbeat(m_beat, m_last_beat);
      m_has_beat = true;
      m_beats++;
      CheckHeartbeat(m_last_beat);
      OnHeartbeat(m_last_beat);
      return false;
     }
   m_latents++;
   if(!Track(m_latent))
      return false;
   OnLatent(m_latent);
   return true;
  }

// Sequence bookkeeping (docs/PROTOCOL.md): a jump is a gap; not newer is a re-send (the last-value cache after a
// reconnect), ignored. A publisher that lost its state counts again from 1: shown by a heartbeat (rebase) or by
// a sequence that goes back with a newer bar; the message becomes the new baseline, neither a gap nor a re-send.
bool CMt5BridgeSubscriber::Track(const Mt5bLatent &m)
  {
   int i = FindStream(m.symbol, m.timeframe);
   if(i < 0)
      i = AddStream(m.symbol, m.timeframe);
   if(m_streams[i].has_latest)
     {
      ulong last = m_streams[i].last_sequence;
      bool restarted = m_streams[i].rebase || (m.stream_sequence <= m_streams[i].latest.stream_sequence
                                               && m.bar_time > m_streams[i].latest.bar_time);
      if(restarted)
        {
         m_streams[i].restarts++;
         OnConnectionEvent(StringFormat("%s %s: the publisher started over (stream_sequence %I64u after %I64u)",
                                        m.symbol, Mt5bTimeframeName(m.timeframe), m.stream_sequence, last));
        }
      else
         if(m.stream_sequence <= last)
           {
            m_streams[i].resends++;
            return false;
           }
         else
            if(m.stream_sequence > last + 1)
              {
               m_streams[i].missed += m.stream_sequence - last - 1;
               m_streams[i].gap_events++;
              }
     }
   Mt5bCopyLatent(m, m_streams[i].latest);
   m_streams[i].has_latest = true;
   m_streams[i].last_sequence = m.stream_sequence;
   m_streams[i].rebase = false;
   m_streams[i].received_ms = NowMs();
   m_streams[i].received++;
   return true;
  }

// A heartbeat published after our newest latent of a stream tells two things no latent would (PROTOCOL.md):
// its last_stream_sequence ahead of ours is a gap (those messages were sent before it, on the same ordered
// connection, and lost); behind ours, the publisher lost its state. An older heartbeat (the cache re-sends the
// last one on reconnect, possibly from before our newest latent) says nothing about it and is passed over.
void CMt5BridgeSubscriber::CheckHeartbeat(const Mt5bHeartbeat &beat)
  {
   for(int k = 0; k < ArraySize(beat.streams); k++)
     {
      int i = FindStream(beat.streams[k].symbol, beat.streams[k].timeframe);
      if(i < 0 || !m_streams[i].has_latest || beat.publish_time_ms <= m_streams[i].latest.publish_time_ms)
         continue;
      ulong told = beat.streams[k].last_stream_sequence;
      if(told < m_streams[i].latest.stream_sequence)
         m_streams[i].rebase = true;
      else
         if(told > m_streams[i].last_sequence)
           {
            m_streams[i].missed += told - m_streams[i].last_sequence;
            m_streams[i].gap_events++;
            m_streams[i].last_sequence = told;
           }
     }
  }

void CMt5BridgeSubscriber::CountMalformed(const string why)
  {
   m_malformed++;
   if(why != m_last_malformed)   // one line per kind of damage, not one per message
      OnConnectionEvent("malformed message skipped: " + why);
   m_last_malformed = why;
  }

int CMt5BridgeSubscriber::FindStream(const string symbol, const uint tf)
  {
   for(int i = 0; i < ArraySize(m_streams); i++)
      if(m_streams[i].timeframe == tf && m_streams[i].symbol == symbol)
         return i;
   return -1;
  }

int CMt5BridgeSubscriber::AddStream(const string symbol, const uint tf)
  {
   int i = ArraySize(m_streams);
   ArrayResize(m_streams, i + 1);
   m_streams[i].symbol = symbol;
   m_streams[i].timeframe = tf;
   m_streams[i].has_latest = false;
   m_streams[i].received_ms = 0;
   m_streams[i].received = 0;
   m_streams[i].missed = 0;
   m_streams[i].gap_events = 0;
   m_streams[i].resends = 0;
   m_streams[i].restarts = 0;
   m_streams[i].last_sequence = 0;
   m_streams[i].rebase = false;
   return i;
  }

int CMt5BridgeSubscriber::FindBeatStream(const string symbol, const uint tf)
  {
   if(!m_has_beat)
      return -1;
   for(int i = 0; i < ArraySize(m_last_beat.streams); i++)
      if(m_last_beat.streams[i].timeframe == tf && m_last_beat.streams[i].symbol == symbol)
         return i;
   return -1;
  }

//--- for strategy code

// The newest latent of symbol/tf; false when none has arrived.
bool CMt5BridgeSubscriber::Latest(const string symbol, const ENUM_TIMEFRAMES tf, Mt5bLatent &out)
  {
   int i = FindStream(symbol, (uint)tf);
   if(i < 0 || !m_streams[i].has_latest)
      return false;
   Mt5bCopyLatent(m_streams[i].latest, out);
   return true;
  }

// Connected, the publisher heard within 3 heartbeat intervals, a latent received, and the newest
// heartbeat (if any came) says the daemon's source for this stream is CONNECTED. File mode: the latest
// latent is the chart's last closed bar's.
bool CMt5BridgeSubscriber::IsFresh(const string symbol, const ENUM_TIMEFRAMES tf)
  {
   int i = FindStream(symbol, (uint)tf);
   if(m_file_mode)
      return i >= 0 && m_streams[i].has_latest && m_streams[i].latest.bar_time == iTime(symbol, tf, 1);
   if(!m_zmtp.IsReady() || !PublisherAlive())
      return false;
   if(i < 0 || !m_streams[i].has_latest)
      return false;
   if(!m_has_beat)
      return true;
   uint status = 0;
   if(!PublisherStatus(symbol, tf, status))
      return false;   // the daemon does not serve this stream (any more)
   return (status & MT5B_STATUS_CONNECTED) != 0;
  }

// Bars lost on symbol/tf (a jump of k in stream_sequence counts k - 1).
ulong CMt5BridgeSubscriber::Gaps(const string symbol, const ENUM_TIMEFRAMES tf)
  {
   int i = FindStream(symbol, (uint)tf);
   return (i < 0) ? (ulong)0 : m_streams[i].missed;
  }

bool CMt5BridgeSubscriber::Stream(const string symbol, const ENUM_TIMEFRAMES tf, Mt5bStreamState &out)
  {
   int i = FindStream(symbol, (uint)tf);
   if(i < 0)
      return false;
   out.symbol = m_streams[i].symbol;
   out.timeframe = m_streams[i].timeframe;
   out.has_latest = m_streams[i].has_latest;
   Mt5bCopyLatent(m_streams[i].latest, out.latest);
   out.received_ms = m_streams[i].received_ms;
   out.received = m_streams[i].received;
   out.missed = m_streams[i].missed;
   out.gap_events = m_streams[i].gap_events;
   out.resends = m_streams[i].resends;
   out.restarts = m_streams[i].restarts;
   out.last_sequence = m_streams[i].last_sequence;
   out.rebase = m_streams[i].rebase;
   return true;
  }

// The newest heartbeat's MT5B_STATUS_* bits for symbol/tf; false when no heartbeat lists it.
bool CMt5BridgeSubscriber::PublisherStatus(const string symbol, const ENUM_TIMEFRAMES tf, uint &status)
  {
   int k = FindBeatStream(symbol, (uint)tf);
   if(k < 0)
      return false;
   status = m_last_beat.streams[k].status;
   return true;
  }

// Milliseconds since the newest latent of symbol/tf arrived; -1 when none has.
long CMt5BridgeSubscriber::AgeMs(const string symbol, const ENUM_TIMEFRAMES tf)
  {
   int i = FindStream(symbol, (uint)tf);
   if(i < 0 || !m_streams[i].has_latest)
      return -1;
   return NowMs() - m_streams[i].received_ms;
  }

// Milliseconds since any valid message; -1 when none has come.
long CMt5BridgeSubscriber::SilenceMs(void)
  {
   if(m_last_data_ms == 0)
      return -1;
   return NowMs() - m_last_data_ms;
  }

uint CMt5BridgeSubscriber::IntervalMs(void)
  {
   if(m_has_beat && m_last_beat.interval_ms > 0)
      return m_last_beat.interval_ms;
   return m_default_interval_ms;
  }

// No message (latent or heartbeat) for 3 intervals: the publisher is gone (docs/PROTOCOL.md). File mode: a file
// is open.
bool CMt5BridgeSubscriber::PublisherAlive(void)
  {
   if(m_file_mode)
      return m_feed.StreamCount() > 0;
   long silence = SilenceMs();
   return silence >= 0 && silence <= 3 * (long)IntervalMs();
  }

string CMt5BridgeSubscriber::ConnectionText(void)
  {
   if(m_file_mode)
      return StringFormat("latent files (common Files folder, %s): %d stream(s) | malformed %I64u", m_feed.Folder(),
                          m_feed.StreamCount(), m_malformed);
   string s = StringFormat("%s %s", m_zmtp.Endpoint(), m_zmtp.StateName());
   if(m_zmtp.IsReady())
      s += StringFormat(" (ZMTP 3.%d)", m_zmtp.PeerMinor());
   else
      if(m_zmtp.LastFailure() != "")
         s += " - " + m_zmtp.LastFailure();
   return s + StringFormat(" | connects %I64u, malformed %I64u", m_zmtp.Connects(), m_malformed);
  }

#include "SubscriberFiles.mqh"

#endif // MT5BRIDGE_SUBSCRIBER_MQH
