//+------------------------------------------------------------------+
//| SubscriberFiles.mqh - CMt5BridgeSubscriber's file mode (the      |
//| Strategy Tester runs no socket functions): the same calls, fed   |
//| by the latent files of LatentFeed.mqh. Subscriber.mqh includes   |
//| it at its end; include Subscriber.mqh, not this file.            |
//| Python twin: tests/mql5twin/subscriber.py (StartFiles, PollFiles)|
//+------------------------------------------------------------------+
#ifndef MT5BRIDGE_SUBSCRIBERFILES_MQH
#define MT5BRIDGE_SUBSCRIBERFILES_MQH

#include "Subscriber.mqh"   // the class (its guard makes this a no-op when Subscriber.mqh includes us)

// Opens the subscribed streams' files; a refused one is logged and counted in Malformed(). The streams exist
// from here on (Stream() answers before the first bar). Started already: nothing to do. Started again after
// Stop(), the files number their bars from 1 again: counted in `restarts`, as a daemon restarted without its state.
void CMt5BridgeSubscriber::StartFiles(void)
  {
   if(m_feed.StreamCount() > 0)
      return;
   string text = "";
   m_feed.Open();
   m_malformed += m_feed.Refused();
   while(m_feed.NextEvent(text))
      OnConnectionEvent(text);
   for(int k = 0; k < m_feed.StreamCount(); k++)
     {
      int i = FindStream(m_feed.Symbol(k), m_feed.Timeframe(k));
      if(i < 0)
         AddStream(m_feed.Symbol(k), m_feed.Timeframe(k));
      else
         m_streams[i].restarts++;
     }
  }

// File mode: every bar closed on the chart since the last poll, all streams in bar order; a bar its file lacks
// counts as missed (one line per run of them), as a jump in stream_sequence does live.
int CMt5BridgeSubscriber::PollFiles(void)
  {
   int fresh = 0;
   string note = "";
   m_feed.Collect();
   for(int kind = m_feed.Next(m_latent, note); kind != MT5B_FEED_NONE; kind = m_feed.Next(m_latent, note))
     {
      int i = FindStream(m_latent.symbol, m_latent.timeframe);
      m_streams[i].last_sequence = m_latent.stream_sequence;
      m_streams[i].missed += (kind == MT5B_FEED_LATENT) ? 0 : 1;
      m_streams[i].gap_events += (kind == MT5B_FEED_GAP) ? 1 : 0;
      if(note != "")
         OnConnectionEvent(note);
      if(kind != MT5B_FEED_LATENT)
         continue;
      if(m_streams[i].has_latest && m_latent.bar_time <= m_streams[i].latest.bar_time)
        {
         m_streams[i].resends++;   // started again after Stop(): the newest bar comes again, as live after a reconnect
         continue;
        }
      m_latent.sequence = ++m_latents;
      m_latent.publish_time_ms = NowMs();
      m_last_data_ms = m_latent.publish_time_ms;
      m_streams[i].received_ms = m_latent.publish_time_ms;
      Mt5bCopyLatent(m_latent, m_streams[i].latest);
      m_streams[i].has_latest = true;
      m_streams[i].received++;
      OnLatent(m_latent);
      fresh++;
     }
   while(m_feed.NextEvent(note))
      OnConnectionEvent(note);
   return fresh;
  }

#endif // MT5BRIDGE_SUBSCRIBERFILES_MQH
