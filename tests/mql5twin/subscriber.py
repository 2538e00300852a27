"""Twin of mql5/Include/Mt5Bridge/Subscriber.mqh, method by method, same names (tests only)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .latentfeed import MT5B_FEED_GAP, MT5B_FEED_LATENT, MT5B_FEED_NONE, CMt5bLatentFeed
from .latentfile import MT5B_FILE_FOLDER
from .mql5 import ArrayResize, ArraySize, Print, StringFormat, uchar_array
from .mql5files import MQL_TESTER, MQLInfoInteger, TimeCurrent, iTime
from .protocol import (MT5B_DECODE_ERROR, MT5B_DECODE_SKIP, MT5B_HEARTBEAT_TOPIC, MT5B_KIND_HEARTBEAT,
                       MT5B_STATUS_CONNECTED, Mt5bCopyHeartbeat, Mt5bCopyLatent, Mt5bDecode, Mt5bHeader,
                       Mt5bHeartbeat, Mt5bLatent, Mt5bTimeframeName)
from .zmtp import CZmtpSubscriber, ZmtpMessage, ZmtpMessageBytes, ZmtpMessageClear, ZmtpMessageText, ZmtpNow


@dataclass
class Mt5bStreamState:
    symbol: str = ""
    timeframe: int = 0
    has_latest: bool = False
    latest: Mt5bLatent = field(default_factory=Mt5bLatent)
    received_ms: int = 0
    received: int = 0
    missed: int = 0
    gap_events: int = 0
    resends: int = 0
    restarts: int = 0
    last_sequence: int = 0
    rebase: bool = False


class CMt5BridgeSubscriber:
    def __init__(self) -> None:
        self.m_zmtp = CZmtpSubscriber()
        self.m_msg = ZmtpMessage()
        self.m_payload = uchar_array()
        self.m_header = Mt5bHeader()
        self.m_latent = Mt5bLatent()
        self.m_beat = Mt5bHeartbeat()
        self.m_last_beat = Mt5bHeartbeat()
        self.m_has_beat = False
        self.m_streams: list[Mt5bStreamState] = []
        self.m_last_data_ms = 0
        self.m_default_interval_ms = 5000
        self.m_max_messages = 256
        self.m_latents = 0
        self.m_beats = 0
        self.m_skipped = 0
        self.m_malformed = 0
        self.m_last_malformed = ""
        self.m_feed = CMt5bLatentFeed()
        self.m_file_mode = MQLInfoInteger(MQL_TESTER) != 0
        ZmtpMessageClear(self.m_msg)

    def Configure(self, host: str, port: int) -> None:
        self.m_zmtp.Configure(host, port)

    def SetTimeouts(self, connect_ms: int, handshake_ms: int, probe_after_ms: int, dead_after_ms: int) -> None:
        self.m_zmtp.SetTimeouts(connect_ms, handshake_ms, probe_after_ms, dead_after_ms)

    def SetBackoff(self, min_ms: int, max_ms: int) -> None:
        self.m_zmtp.SetBackoff(min_ms, max_ms)

    def SetLimits(self, read_budget: int, max_frame_bytes: int, max_messages: int) -> None:
        self.m_zmtp.SetLimits(read_budget, max_frame_bytes)
        self.m_max_messages = max_messages

    def SetDefaultInterval(self, interval_ms: int) -> None:
        self.m_default_interval_ms = interval_ms

    def SetZmtpMinor(self, minor: int) -> None:
        self.m_zmtp.SetZmtpMinor(minor)

    def Subscribe(self, prefix: str) -> bool:
        self.m_feed.Subscribe(prefix)
        return self.m_zmtp.Subscribe(prefix)

    def UseLatentFiles(self, on: bool = True, folder: str = MT5B_FILE_FOLDER) -> None:
        self.m_file_mode = on
        self.m_feed.SetFolder(folder)

    def ExpectLatentSize(self, z: int) -> None:
        self.m_feed.ExpectLatentSize(z)

    def FileMode(self) -> bool:
        return self.m_file_mode

    def NowMs(self) -> int:
        return TimeCurrent() * 1000 if self.m_file_mode else ZmtpNow()

    def Start(self) -> None:
        if self.m_file_mode:
            self.StartFiles()
            return
        if not self.m_zmtp.Covers(MT5B_HEARTBEAT_TOPIC):
            self.m_zmtp.Subscribe(MT5B_HEARTBEAT_TOPIC)
        self.m_zmtp.Start()

    def Stop(self) -> None:
        self.m_zmtp.Stop()
        self.m_feed.Close()

    def Poll(self) -> int:
        if self.m_file_mode:
            return self.PollFiles()
        self.m_zmtp.Pump()
        fresh = 0
        for _ in range(self.m_max_messages):
            if not self.m_zmtp.NextMessage(self.m_msg):
                break
            if self.Handle(self.m_msg):
                fresh += 1
        text = self.m_zmtp.NextEvent()
        while text is not None:
            self.OnConnectionEvent(text)
            text = self.m_zmtp.NextEvent()
        return fresh

    # --- file mode (SubscriberFiles.mqh)

    def StartFiles(self) -> None:
        if self.m_feed.StreamCount() > 0:
            return
        self.m_feed.Open()
        self.m_malformed += self.m_feed.Refused()
        text = self.m_feed.NextEvent()
        while text is not None:
            self.OnConnectionEvent(text)
            text = self.m_feed.NextEvent()
        for k in range(self.m_feed.StreamCount()):
            i = self.FindStream(self.m_feed.Symbol(k), self.m_feed.Timeframe(k))
            if i < 0:
                self.AddStream(self.m_feed.Symbol(k), self.m_feed.Timeframe(k))
            else:
                self.m_streams[i].restarts += 1

    def PollFiles(self) -> int:
        fresh = 0
        note = [""]
        self.m_feed.Collect()
        kind = self.m_feed.Next(self.m_latent, note)
        while kind != MT5B_FEED_NONE:
            i = self.FindStream(self.m_latent.symbol, self.m_latent.timeframe)
            st = self.m_streams[i]
            st.last_sequence = self.m_latent.stream_sequence
            st.missed += 0 if kind == MT5B_FEED_LATENT else 1
            st.gap_events += 1 if kind == MT5B_FEED_GAP else 0
            if note[0] != "":
                self.OnConnectionEvent(note[0])
            if kind == MT5B_FEED_LATENT and st.has_latest and self.m_latent.bar_time <= st.latest.bar_time:
                st.resends += 1
            elif kind == MT5B_FEED_LATENT:
                self.m_latents += 1
                self.m_latent.sequence = self.m_latents
                self.m_latent.publish_time_ms = self.NowMs()
                self.m_last_data_ms = self.m_latent.publish_time_ms
                st.received_ms = self.m_latent.publish_time_ms
                Mt5bCopyLatent(self.m_latent, st.latest)
                st.has_latest = True
                st.received += 1
                self.OnLatent(self.m_latent)
                fresh += 1
            kind = self.m_feed.Next(self.m_latent, note)
        text = self.m_feed.NextEvent()
        while text is not None:
            self.OnConnectionEvent(text)
            text = self.m_feed.NextEvent()
        return fresh

    def Handle(self, msg: ZmtpMessage) -> bool:
        if msg.parts != 2:
            self.CountMalformed(StringFormat("message of %d parts, expected 2 (topic, payload)", msg.parts))
            return False
        ZmtpMessageBytes(msg, 1, self.m_payload)
        why = [""]
        r = Mt5bDecode(self.m_payload, self.m_header, self.m_latent, self.m_beat, why)
        if r == MT5B_DECODE_ERROR:
            self.CountMalformed(ZmtpMessageText(msg, 0) + ": " + why[0])
            return False
        self.m_last_data_ms = self.NowMs()
        if r == MT5B_DECODE_SKIP:
            self.m_skipped += 1
            return False
        if self.m_header.kind == MT5B_KIND_HEARTBEAT:
            Mt5bCopyHeartbeat(self.m_beat, self.m_last_beat)
            self.m_has_beat = True
            self.m_beats += 1
            self.CheckHeartbeat(self.m_last_beat)
            self.OnHeartbeat(self.m_last_beat)
            return False
        self.m_latents += 1
        if not self.Track(self.m_latent):
            return False
        self.OnLatent(self.m_latent)
        return True

    def Track(self, m: Mt5bLatent) -> bool:
        i = self.FindStream(m.symbol, m.timeframe)
        if i < 0:
            i = self.AddStream(m.symbol, m.timeframe)
        if self.m_streams[i].has_latest:
            last = self.m_streams[i].last_sequence
            restarted = self.m_streams[i].rebase or (m.stream_sequence <= self.m_streams[i].latest.stream_sequence
                                                     and m.bar_time > self.m_streams[i].latest.bar_time)
            if restarted:
                self.m_streams[i].restarts += 1
                self.OnConnectionEvent(StringFormat("%s %s: the publisher started over (stream_sequence %I64u after %I64u)",
                                                    m.symbol, Mt5bTimeframeName(m.timeframe), m.stream_sequence, last))
            elif m.stream_sequence <= last:
                self.m_streams[i].resends += 1
                return False
            elif m.stream_sequence > last + 1:
                self.m_streams[i].missed += m.stream_sequence - last - 1
                self.m_streams[i].gap_events += 1
        Mt5bCopyLatent(m, self.m_streams[i].latest)
        self.m_streams[i].has_latest = True
        self.m_streams[i].last_sequence = m.stream_sequence
        self.m_streams[i].rebase = False
        self.m_streams[i].received_ms = self.NowMs()
        self.m_streams[i].received += 1
        return True

    def CheckHeartbeat(self, beat: Mt5bHeartbeat) -> None:
        for k in range(ArraySize(beat.streams)):
            i = self.FindStream(beat.streams[k].symbol, beat.streams[k].timeframe)
            if i < 0 or not self.m_streams[i].has_latest or \
                    beat.publish_time_ms <= self.m_streams[i].latest.publish_time_ms:
                continue
            told = beat.streams[k].last_stream_sequence
            if told < self.m_streams[i].latest.stream_sequence:
                self.m_streams[i].rebase = True
            elif told > self.m_streams[i].last_sequence:
                self.m_streams[i].missed += told - self.m_streams[i].last_sequence
                self.m_streams[i].gap_events += 1
                self.m_streams[i].last_sequence = told

    def CountMalformed(self, why: str) -> None:
        self.m_malformed += 1
        if why != self.m_last_malformed:
            self.OnConnectionEvent("malformed message skipped: " + why)
        self.m_last_malformed = why

    def FindStream(self, symbol: str, tf: int) -> int:
        for i in range(ArraySize(self.m_streams)):
            if self.m_streams[i].timeframe == tf and self.m_streams[i].symbol == symbol:
                return i
        return -1

    def AddStream(self, symbol: str, tf: int) -> int:
        i = ArraySize(self.m_streams)
        ArrayResize(self.m_streams, i + 1, fill=Mt5bStreamState)
        self.m_streams[i].symbol = symbol
        self.m_streams[i].timeframe = tf
        self.m_streams[i].has_latest = False
        self.m_streams[i].received_ms = 0
        self.m_streams[i].received = 0
        self.m_streams[i].missed = 0
        self.m_streams[i].gap_events = 0
        self.m_streams[i].resends = 0
        self.m_streams[i].restarts = 0
        self.m_streams[i].last_sequence = 0
        self.m_streams[i].rebase = False
        return i

    def FindBeatStream(self, symbol: str, tf: int) -> int:
        if not self.m_has_beat:
            return -1
        for i in range(ArraySize(self.m_last_beat.streams)):
            if self.m_last_beat.streams[i].timeframe == tf and self.m_last_beat.streams[i].symbol == symbol:
                return i
        return -1

    # --- for strategy code

    def Latest(self, symbol: str, tf: int, out: Mt5bLatent) -> bool:
        i = self.FindStream(symbol, tf)
        if i < 0 or not self.m_streams[i].has_latest:
            return False
        Mt5bCopyLatent(self.m_streams[i].latest, out)
        return True

    def IsFresh(self, symbol: str, tf: int) -> bool:
        i = self.FindStream(symbol, tf)
        if self.m_file_mode:
            return i >= 0 and self.m_streams[i].has_latest and \
                self.m_streams[i].latest.bar_time == iTime(symbol, tf, 1)
        if not self.m_zmtp.IsReady() or not self.PublisherAlive():
            return False
        if i < 0 or not self.m_streams[i].has_latest:
            return False
        if not self.m_has_beat:
            return True
        status = self.PublisherStatus(symbol, tf)
        if status is None:
            return False
        return (status & MT5B_STATUS_CONNECTED) != 0

    def Gaps(self, symbol: str, tf: int) -> int:
        i = self.FindStream(symbol, tf)
        return 0 if i < 0 else self.m_streams[i].missed

    def Stream(self, symbol: str, tf: int, out: Mt5bStreamState) -> bool:
        i = self.FindStream(symbol, tf)
        if i < 0:
            return False
        src = self.m_streams[i]
        out.symbol = src.symbol
        out.timeframe = src.timeframe
        out.has_latest = src.has_latest
        Mt5bCopyLatent(src.latest, out.latest)
        out.received_ms = src.received_ms
        out.received = src.received
        out.missed = src.missed
        out.gap_events = src.gap_events
        out.resends = src.resends
        out.restarts = src.restarts
        out.last_sequence = src.last_sequence
        out.rebase = src.rebase
        return True

    def PublisherStatus(self, symbol: str, tf: int) -> int | None:
        """MQL5: bool PublisherStatus(symbol, tf, uint &status); here the status, or None for false."""
        k = self.FindBeatStream(symbol, tf)
        if k < 0:
            return None
        return self.m_last_beat.streams[k].status

    def AgeMs(self, symbol: str, tf: int) -> int:
        i = self.FindStream(symbol, tf)
        if i < 0 or not self.m_streams[i].has_latest:
            return -1
        return self.NowMs() - self.m_streams[i].received_ms

    def SilenceMs(self) -> int:
        if self.m_last_data_ms == 0:
            return -1
        return self.NowMs() - self.m_last_data_ms

    def IntervalMs(self) -> int:
        if self.m_has_beat and self.m_last_beat.interval_ms > 0:
            return self.m_last_beat.interval_ms
        return self.m_default_interval_ms

    def PublisherAlive(self) -> bool:
        if self.m_file_mode:
            return self.m_feed.StreamCount() > 0
        silence = self.SilenceMs()
        return 0 <= silence <= 3 * self.IntervalMs()

    def IsConnected(self) -> bool:
        return self.m_feed.StreamCount() > 0 if self.m_file_mode else self.m_zmtp.IsReady()

    def ConnectionText(self) -> str:
        if self.m_file_mode:
            return StringFormat("latent files (common Files folder, %s): %d stream(s) | malformed %I64u",
                                self.m_feed.Folder(), self.m_feed.StreamCount(), self.m_malformed)
        s = StringFormat("%s %s", self.m_zmtp.Endpoint(), self.m_zmtp.StateName())
        if self.m_zmtp.IsReady():
            s += StringFormat(" (ZMTP 3.%d)", self.m_zmtp.PeerMinor())
        elif self.m_zmtp.LastFailure() != "":
            s += " - " + self.m_zmtp.LastFailure()
        return s + StringFormat(" | connects %I64u, malformed %I64u", self.m_zmtp.Connects(), self.m_malformed)

    def StreamCount(self) -> int:
        return ArraySize(self.m_streams)

    def Malformed(self) -> int:
        return self.m_malformed

    def Skipped(self) -> int:
        return self.m_skipped

    def Heartbeats(self) -> int:
        return self.m_beats

    def Connects(self) -> int:
        return self.m_zmtp.Connects()

    # --- hooks

    def OnLatent(self, msg: Mt5bLatent) -> None:
        pass

    def OnHeartbeat(self, beat: Mt5bHeartbeat) -> None:
        pass

    def OnConnectionEvent(self, text: str) -> None:
        Print("mt5bridge: ", text)
