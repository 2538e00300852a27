//+------------------------------------------------------------------+
//| LatentFeed.mqh - the subscriber's file mode. The Strategy Tester |
//| runs no socket functions, so there each subscribed stream's      |
//| latents come from its latent file (LatentFile.mqh): the record   |
//| of every bar that closes on the chart, in bar order, as the      |
//| daemon would have published it. A closed bar the file lacks is   |
//| reported, never delivered.                                       |
//|                                                                  |
//| Files live in the terminals' common Files folder, subfolder      |
//| Mt5Bridge: mt5bridge/latent/XAUUSD/H1 reads XAUUSD_H1.mt5b; a    |
//| shorter prefix reads every file there whose stream it covers.    |
//| Python twin, function by function: tests/mql5twin/latentfeed.py  |
//+------------------------------------------------------------------+
#ifndef MT5BRIDGE_LATENTFEED_MQH
#define MT5BRIDGE_LATENTFEED_MQH

#include "LatentFile.mqh"

#define MT5B_FEED_MAX_STREAMS    32    // files open at once (a program may hold 64, ERR_TOO_MANY_FILES)
#define MT5B_FEED_NONE           0     // nothing more this poll
#define MT5B_FEED_LATENT         1     // a closed bar's record
#define MT5B_FEED_GAP            2     // a closed bar the file lacks, the first of a run: the note says which
#define MT5B_FEED_MISSING        3     // a closed bar the file lacks, in a run already reported

struct Mt5bFeedStream
  {
   string            symbol;
   uint              timeframe;
   datetime          handled;           // open time of the newest closed bar handed out (0: none yet)
   ulong             sequence;          // closed bars handed out, found or missing: their stream_sequence
   bool              missing;           // the newest one was missing: a run of missing bars goes on
   bool              warned;            // a problem with the chart's bars was logged (until they come)
   datetime          pending[];         // closed bars to hand out this poll, oldest first
   int               next;              // the next of them
  };

// "mt5bridge/latent/EURUSD/H1" -> EURUSD, 16385; false for anything else (a shorter prefix, the heartbeat).
bool Mt5bParseLatentTopic(const string topic, string &symbol, uint &tf)
  {
   int n = StringLen(MT5B_LATENT_PREFIX);
   if(StringSubstr(topic, 0, n) != MT5B_LATENT_PREFIX)
      return false;
   string parts[];
   int count = StringSplit(StringSubstr(topic, n), '/', parts);
   uint codes[] = {1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 16385, 16386, 16387, 16388, 16390, 16392, 16396, 16408,
                   32769, 49153};
   for(int i = 0; count >= 2 && i < ArraySize(codes); i++)
      if(Mt5bTimeframeName(codes[i]) == parts[count - 1])
        {
         symbol = parts[0];
         for(int k = 1; k < count - 1; k++)
            symbol += "/" + parts[k];   // a symbol with '/' in its name
         tf = codes[i];
         return symbol != "";
        }
   return false;
  }

class CMt5bLatentFeed
  {
private:
   string            m_folder;          // in the common Files folder
   int               m_latent_size;     // the Z a file must have (0: any)
   string            m_topics[];
   CMt5bLatentFile   m_files[MT5B_FEED_MAX_STREAMS];   // m_files[k] is m_streams[k]'s (fixed: never moved)
   Mt5bFeedStream    m_streams[];
   string            m_events[];
   int               m_event_read;
   int               m_refused;         // files refused by the last Open()

   bool              Covers(const string topic);
   bool              Opened(const string name);
   int               FindStream(const string symbol, const uint tf);
   bool              Add(const string name, const string symbol, const uint tf);
   void              Scan(void);
   void              Event(const string text);
   void              Warn(const int k, const string text);
   void              Refuse(const string text);
   string            MissingNote(const int k, const datetime t, const string why);

public:
                     CMt5bLatentFeed(void);
   void              SetFolder(const string folder) { m_folder = folder; }
   void              ExpectLatentSize(const int z) { m_latent_size = z; }
   void              Subscribe(const string prefix);
   int               Open(void);
   void              Close(void);
   void              Collect(void);
   int               Next(Mt5bLatent &m, string &note);
   bool              NextEvent(string &text);
   int               StreamCount(void) { return ArraySize(m_streams); }
   string            Symbol(const int k) { return m_streams[k].symbol; }
   uint              Timeframe(const int k) { return m_streams[k].timeframe; }
   int               Refused(void) { return m_refused; }
   string            Folder(void) { return m_folder; }
  };

CMt5bLatentFeed::CMt5bLatentFeed(void)
  {
   m_folder = MT5B_FILE_FOLDER;
   m_latent_size = 0;
   m_event_read = 0;
   m_refused = 0;
  }

void CMt5bLatentFeed::Subscribe(const string prefix)
  {
   int n = ArraySize(m_topics);
   for(int i = 0; i < n; i++)
      if(m_topics[i] == prefix)
         return;
   ArrayResize(m_topics, n + 1);
   m_topics[n] = prefix;
  }

// The files of the subscribed streams: a full topic names its file; a prefix that can cover latent topics has the
// folder searched. Returns the streams open; refused files are events (and Refused()).
int CMt5bLatentFeed::Open(void)
  {
   Close();
   m_refused = 0;
   bool scan = false;
   int n = StringLen(MT5B_LATENT_PREFIX);
   for(int t = 0; t < ArraySize(m_topics); t++)
     {
      string symbol = "";
      uint tf = 0;
      if(Mt5bParseLatentTopic(m_topics[t], symbol, tf))
        {
         if(FindStream(symbol, tf) < 0)
            Add(m_folder + "\\" + Mt5bLatentFileName(symbol, tf), symbol, tf);
        }
      else
         if(StringSubstr(MT5B_LATENT_PREFIX, 0, StringLen(m_topics[t])) == m_topics[t]
            || StringSubstr(m_topics[t], 0, n) == MT5B_LATENT_PREFIX)
            scan = true;
     }
   if(scan)
      Scan();
   return ArraySize(m_streams);
  }

void CMt5bLatentFeed::Close(void)
  {
   for(int k = 0; k < MT5B_FEED_MAX_STREAMS; k++)
      m_files[k].Close();
   ArrayResize(m_streams, 0);
  }

bool CMt5bLatentFeed::Covers(const string topic)
  {
   for(int i = 0; i < ArraySize(m_topics); i++)
      if(StringSubstr(topic, 0, StringLen(m_topics[i])) == m_topics[i])
         return true;
   return false;
  }

// Whether a stream already reads `name` (Windows names ignore case).
bool CMt5bLatentFeed::Opened(const string name)
  {
   string wanted = name;
   StringToLower(wanted);
   for(int k = 0; k < ArraySize(m_streams); k++)
     {
      string have = m_files[k].Name();
      StringToLower(have);
      if(have == wanted)
         return true;
     }
   return false;
  }

int CMt5bLatentFeed::FindStream(const string symbol, const uint tf)
  {
   for(int k = 0; k < ArraySize(m_streams); k++)
      if(m_streams[k].timeframe == tf && m_streams[k].symbol == symbol)
         return k;
   return -1;
  }

// Opens `name` as the next stream. For a full topic (symbol given) the file must hold that symbol and timeframe;
// found by a search (symbol ""), its stream must be covered by a subscribed prefix, or it is left alone.
bool CMt5bLatentFeed::Add(const string name, const string symbol, const uint tf)
  {
   int k = ArraySize(m_streams);
   if(k >= MT5B_FEED_MAX_STREAMS)
     {
      Refuse(StringFormat("%s: not read, %d streams are open already", name, k));
      return false;
     }
   if(!m_files[k].Open(name))
     {
      Refuse(m_files[k].Why());
      return false;
     }
   string held = m_files[k].Symbol() + " " + Mt5bTimeframeName(m_files[k].Timeframe());
   string problem = "";
   if(symbol == "" && !Covers(Mt5bLatentTopic(m_files[k].Symbol(), m_files[k].Timeframe())))
     {
      m_files[k].Close();   // another stream's file: not subscribed, nothing to say
      return false;
     }
   if(symbol != "" && (m_files[k].Symbol() != symbol || m_files[k].Timeframe() != tf))
      problem = "holds " + held + ", not " + symbol + " " + Mt5bTimeframeName(tf);
   else
      if(FindStream(m_files[k].Symbol(), m_files[k].Timeframe()) >= 0)
         problem = "holds " + held + ", which another file gives already";
      else
         if(m_latent_size > 0 && m_files[k].LatentSize() != m_latent_size)
            problem = StringFormat("has latent size %d, the EA expects %d", m_files[k].LatentSize(), m_latent_size);
   if(problem != "")
     {
      m_files[k].Close();
      Refuse(name + ": " + problem + "; not read");
      return false;
     }
   ArrayResize(m_streams, k + 1);
   m_streams[k].symbol = m_files[k].Symbol();
   m_streams[k].timeframe = m_files[k].Timeframe();
   m_streams[k].handled = 0;
   m_streams[k].sequence = 0;
   m_streams[k].missing = false;
   m_streams[k].warned = false;
   ArrayResize(m_streams[k].pending, 0);
   m_streams[k].next = 0;
   Event(StringFormat("%s from %s: %I64u bars %s .. %s, latent size %d, model %s", held, name, m_files[k].Count(),
                      TimeToString(m_files[k].FirstBarTime()), TimeToString(m_files[k].LastBarTime()),
                      m_files[k].LatentSize(), StringSubstr(m_files[k].ModelSha256(), 0, 12)));
   return true;
  }

// Every *.mt5b of the folder, in name order (FileFindNext promises none), opened unless a stream reads it already.
void CMt5bLatentFeed::Scan(void)
  {
   string names[];
   string found = "";
   long search = FileFindFirst(m_folder + "\\*" + MT5B_FILE_SUFFIX, found, FILE_COMMON);
   if(search == INVALID_HANDLE)
      return;
   int suffix = StringLen(MT5B_FILE_SUFFIX);
   do
     {
      string lower = found;
      StringToLower(lower);
      int n = StringLen(lower);
      // a folder's name ends with '\'; Windows also matches a pattern against a file's short 8.3 name
      if(n <= suffix || StringSubstr(lower, n - suffix) != MT5B_FILE_SUFFIX)
         continue;
      int at = ArraySize(names);
      ArrayResize(names, at + 1);
      while(at > 0 && names[at - 1] > found)
        {
         names[at] = names[at - 1];
         at--;
        }
      names[at] = found;
     }
   while(FileFindNext(search, found));
   FileFindClose(search);
   for(int i = 0; i < ArraySize(names); i++)
      if(!Opened(m_folder + "\\" + names[i]))
         Add(m_folder + "\\" + names[i], "", 0);
  }

// Each stream's bars that closed on the chart since the last call (the newest closed bar only on the first):
// iTime(symbol, tf, 1) and, after the first, every bar between (CopyTime).
void CMt5bLatentFeed::Collect(void)
  {
   for(int k = 0; k < ArraySize(m_streams); k++)
     {
      ArrayResize(m_streams[k].pending, 0);
      m_streams[k].next = 0;
      ENUM_TIMEFRAMES tf = (ENUM_TIMEFRAMES)m_streams[k].timeframe;
      ResetLastError();
      datetime newest = iTime(m_streams[k].symbol, tf, 1);
      if(newest == 0 && m_streams[k].handled == 0)
        {
         string hint = "the file's symbol must be the terminal's name for it (mt5bridge encode --symbol)";
         Warn(k, StringFormat("no closed bar on this terminal yet (error %d); %s", GetLastError(), hint));
         continue;
        }
      if(newest <= m_streams[k].handled)
         continue;
      if(m_streams[k].handled == 0)
        {
         ArrayResize(m_streams[k].pending, 1);   // as the daemon's cache gives a late joiner the newest bar
         m_streams[k].pending[0] = newest;
        }
      else
         if(CopyTime(m_streams[k].symbol, tf, m_streams[k].handled + 1, newest, m_streams[k].pending) <= 0)
           {
            Warn(k, StringFormat("cannot copy the bar times after %s (error %d); tried again at every poll",
                                 TimeToString(m_streams[k].handled), GetLastError()));
            ArrayResize(m_streams[k].pending, 0);
            continue;
           }
      m_streams[k].warned = false;
     }
  }

// One line per spell of trouble with a stream's chart, not one per poll.
void CMt5bLatentFeed::Warn(const int k, const string text)
  {
   if(!m_streams[k].warned)
      Event(m_streams[k].symbol + " " + Mt5bTimeframeName(m_streams[k].timeframe) + ": " + text);
   m_streams[k].warned = true;
  }

// The oldest collected closed bar of any stream (ties: the stream opened first): MT5B_FEED_LATENT with its record
// in m, MT5B_FEED_GAP or MT5B_FEED_MISSING with m's symbol, timeframe, bar_time and stream_sequence only, or
// MT5B_FEED_NONE. `note` is set for a gap: the line to log, once per run of missing bars.
int CMt5bLatentFeed::Next(Mt5bLatent &m, string &note)
  {
   note = "";
   int k = -1;
   for(int i = 0; i < ArraySize(m_streams); i++)
      if(m_streams[i].next < ArraySize(m_streams[i].pending)
         && (k < 0 || m_streams[i].pending[m_streams[i].next] < m_streams[k].pending[m_streams[k].next]))
         k = i;
   if(k < 0)
      return MT5B_FEED_NONE;
   datetime t = m_streams[k].pending[m_streams[k].next];
   m_streams[k].next++;
   m_streams[k].handled = t;
   m_streams[k].sequence++;
   int found = m_files[k].Find(t, m);
   m.stream_sequence = m_streams[k].sequence;
   if(found == 1)
     {
      m_streams[k].missing = false;
      return MT5B_FEED_LATENT;
     }
   m.symbol = m_streams[k].symbol;
   m.timeframe = m_streams[k].timeframe;
   m.bar_time = t;
   m.flags = 0;
   ArrayResize(m.latent, 0);
   if(m_streams[k].missing)
      return MT5B_FEED_MISSING;
   m_streams[k].missing = true;
   note = MissingNote(k, t, (found < 0) ? m_files[k].Why() : "");
   return MT5B_FEED_GAP;
  }

string CMt5bLatentFeed::MissingNote(const int k, const datetime t, const string why)
  {
   string where = "";
   if(why != "")
      where = " (" + why + ")";
   else
      if(t < m_files[k].FirstBarTime())
         where = " (it starts at " + TimeToString(m_files[k].FirstBarTime()) + ")";
      else
         if(t > m_files[k].LastBarTime())
            where = " (it ends at " + TimeToString(m_files[k].LastBarTime()) + ": encode newer history)";
   string what = "not delivered, counted in Gaps(), and so are the missing bars after it until one is found";
   return StringFormat("%s %s: closed bar %s is missing from %s%s; %s", m_streams[k].symbol,
                       Mt5bTimeframeName(m_streams[k].timeframe), TimeToString(t), m_files[k].Name(), where, what);
  }

bool CMt5bLatentFeed::NextEvent(string &text)
  {
   if(m_event_read >= ArraySize(m_events))
     {
      ArrayResize(m_events, 0);
      m_event_read = 0;
      return false;
     }
   text = m_events[m_event_read];
   m_event_read++;
   return true;
  }

void CMt5bLatentFeed::Event(const string text)
  {
   int n = ArraySize(m_events);
   ArrayResize(m_events, n + 1);
   m_events[n] = text;
  }

void CMt5bLatentFeed::Refuse(const string text)
  {
   m_refused++;
   Event(text);
  }

#endif // MT5BRIDGE_LATENTFEED_MQH
