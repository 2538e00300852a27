"""Twin of mql5/Include/Mt5Bridge/LatentFeed.mqh, function by function, same names (tests only)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .latentfile import MT5B_FILE_FOLDER, MT5B_FILE_SUFFIX, CMt5bLatentFile, Mt5bLatentFileName
from .mql5 import (INVALID_HANDLE, ArrayResize, ArraySize, GetLastError, ResetLastError, StringFormat, StringLen,
                   StringSubstr, StringToLower)
from .mql5files import (FILE_COMMON, CopyTime, FileFindClose, FileFindFirst, FileFindNext, StringSplit,
                        TimeToString, iTime)
from .protocol import MT5B_LATENT_PREFIX, Mt5bLatent, Mt5bLatentTopic, Mt5bTimeframeName

MT5B_FEED_MAX_STREAMS = 32
MT5B_FEED_NONE = 0
MT5B_FEED_LATENT = 1
MT5B_FEED_GAP = 2
MT5B_FEED_MISSING = 3


@dataclass
class Mt5bFeedStream:
    symbol: str = ""
    timeframe: int = 0
    handled: int = 0
    sequence: int = 0
    missing: bool = False
    warned: bool = False
    pending: list = field(default_factory=list)
    next: int = 0


def Mt5bParseLatentTopic(topic: str) -> tuple[str, int] | None:
    """MQL5: bool Mt5bParseLatentTopic(topic, string &symbol, uint &tf); here (symbol, tf), or None for false."""
    n = StringLen(MT5B_LATENT_PREFIX)
    if StringSubstr(topic, 0, n) != MT5B_LATENT_PREFIX:
        return None
    parts: list = []
    count = StringSplit(StringSubstr(topic, n), "/", parts)
    codes = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 16385, 16386, 16387, 16388, 16390, 16392, 16396, 16408, 32769,
             49153]
    i = 0
    while count >= 2 and i < ArraySize(codes):
        if Mt5bTimeframeName(codes[i]) == parts[count - 1]:
            symbol = parts[0]
            for k in range(1, count - 1):
                symbol += "/" + parts[k]
            return (symbol, codes[i]) if symbol != "" else None
        i += 1
    return None


class CMt5bLatentFeed:
    def __init__(self) -> None:
        self.m_folder = MT5B_FILE_FOLDER
        self.m_latent_size = 0
        self.m_topics: list[str] = []
        self.m_files = [CMt5bLatentFile() for _ in range(MT5B_FEED_MAX_STREAMS)]
        self.m_streams: list[Mt5bFeedStream] = []
        self.m_events: list[str] = []
        self.m_event_read = 0
        self.m_refused = 0

    def SetFolder(self, folder: str) -> None:
        self.m_folder = folder

    def ExpectLatentSize(self, z: int) -> None:
        self.m_latent_size = z

    def Subscribe(self, prefix: str) -> None:
        if prefix in self.m_topics:
            return
        self.m_topics.append(prefix)

    def Open(self) -> int:
        self.Close()
        self.m_refused = 0
        scan = False
        n = StringLen(MT5B_LATENT_PREFIX)
        for t in range(ArraySize(self.m_topics)):
            parsed = Mt5bParseLatentTopic(self.m_topics[t])
            if parsed is not None:
                symbol, tf = parsed
                if self.FindStream(symbol, tf) < 0:
                    self.Add(self.m_folder + "\\" + Mt5bLatentFileName(symbol, tf), symbol, tf)
            elif StringSubstr(MT5B_LATENT_PREFIX, 0, StringLen(self.m_topics[t])) == self.m_topics[t] or \
                    StringSubstr(self.m_topics[t], 0, n) == MT5B_LATENT_PREFIX:
                scan = True
        if scan:
            self.Scan()
        return ArraySize(self.m_streams)

    def Close(self) -> None:
        for k in range(MT5B_FEED_MAX_STREAMS):
            self.m_files[k].Close()
        ArrayResize(self.m_streams, 0)

    def Covers(self, topic: str) -> bool:
        for i in range(ArraySize(self.m_topics)):
            if StringSubstr(topic, 0, StringLen(self.m_topics[i])) == self.m_topics[i]:
                return True
        return False

    def Opened(self, name: str) -> bool:
        wanted = StringToLower(name)
        for k in range(ArraySize(self.m_streams)):
            if StringToLower(self.m_files[k].Name()) == wanted:
                return True
        return False

    def FindStream(self, symbol: str, tf: int) -> int:
        for k in range(ArraySize(self.m_streams)):
            if self.m_streams[k].timeframe == tf and self.m_streams[k].symbol == symbol:
                return k
        return -1

    def Add(self, name: str, symbol: str, tf: int) -> bool:
        k = ArraySize(self.m_streams)
        if k >= MT5B_FEED_MAX_STREAMS:
            self.Refuse(StringFormat("%s: not read, %d streams are open already", name, k))
            return False
        f = self.m_files[k]
        if not f.Open(name):
            self.Refuse(f.Why())
            return False
        held = f.Symbol() + " " + Mt5bTimeframeName(f.Timeframe())
        problem = ""
        if symbol == "" and not self.Covers(Mt5bLatentTopic(f.Symbol(), f.Timeframe())):
            f.Close()
            return False
        if symbol != "" and (f.Symbol() != symbol or f.Timeframe() != tf):
            problem = "holds " + held + ", not " + symbol + " " + Mt5bTimeframeName(tf)
        elif self.FindStream(f.Symbol(), f.Timeframe()) >= 0:
            problem = "holds " + held + ", which another file gives already"
        elif self.m_latent_size > 0 and f.LatentSize() != self.m_latent_size:
            problem = StringFormat("has latent size %d, the EA expects %d", f.LatentSize(), self.m_latent_size)
        if problem != "":
            f.Close()
            self.Refuse(name + ": " + problem + "; not read")
            return False
        ArrayResize(self.m_streams, k + 1, fill=Mt5bFeedStream)
        s = self.m_streams[k]
        s.symbol = f.Symbol()
        s.timeframe = f.Timeframe()
        s.handled = 0
        s.sequence = 0
        s.missing = False
        s.warned = False
        ArrayResize(s.pending, 0)
        s.next = 0
        self.Event(StringFormat("%s from %s: %I64u bars %s .. %s, latent size %d, model %s", held, name, f.Count(),
                                TimeToString(f.FirstBarTime()), TimeToString(f.LastBarTime()), f.LatentSize(),
                                StringSubstr(f.ModelSha256(), 0, 12)))
        return True

    def Scan(self) -> None:
        names: list[str] = []
        found = [""]
        search = FileFindFirst(self.m_folder + "\\*" + MT5B_FILE_SUFFIX, found, FILE_COMMON)
        if search == INVALID_HANDLE:
            return
        suffix = StringLen(MT5B_FILE_SUFFIX)
        while True:  # do { ... } while(FileFindNext(search, found))
            lower = StringToLower(found[0])
            n = StringLen(lower)
            if n > suffix and StringSubstr(lower, n - suffix) == MT5B_FILE_SUFFIX:
                at = ArraySize(names)
                ArrayResize(names, at + 1, fill=str)
                while at > 0 and names[at - 1] > found[0]:
                    names[at] = names[at - 1]
                    at -= 1
                names[at] = found[0]
            if not FileFindNext(search, found):
                break
        FileFindClose(search)
        for i in range(ArraySize(names)):
            if not self.Opened(self.m_folder + "\\" + names[i]):
                self.Add(self.m_folder + "\\" + names[i], "", 0)

    def Collect(self) -> None:
        for k in range(ArraySize(self.m_streams)):
            s = self.m_streams[k]
            ArrayResize(s.pending, 0)
            s.next = 0
            tf = s.timeframe
            ResetLastError()
            newest = iTime(s.symbol, tf, 1)
            if newest == 0 and s.handled == 0:
                hint = "the file's symbol must be the terminal's name for it (mt5bridge encode --symbol)"
                self.Warn(k, StringFormat("no closed bar on this terminal yet (error %d); %s", GetLastError(), hint))
                continue
            if newest <= s.handled:
                continue
            if s.handled == 0:
                ArrayResize(s.pending, 1)
                s.pending[0] = newest
            elif CopyTime(s.symbol, tf, s.handled + 1, newest, s.pending) <= 0:
                self.Warn(k, StringFormat("cannot copy the bar times after %s (error %d); tried again at every poll",
                                          TimeToString(s.handled), GetLastError()))
                ArrayResize(s.pending, 0)
                continue
            s.warned = False

    def Warn(self, k: int, text: str) -> None:
        if not self.m_streams[k].warned:
            self.Event(self.m_streams[k].symbol + " " + Mt5bTimeframeName(self.m_streams[k].timeframe) + ": " + text)
        self.m_streams[k].warned = True

    def Next(self, m: Mt5bLatent, note: list) -> int:
        """`note` is a one-element list: the twin's stand-in for MQL5's `string &note`."""
        note[0] = ""
        k = -1
        for i in range(ArraySize(self.m_streams)):
            s = self.m_streams[i]
            if s.next < ArraySize(s.pending) and \
                    (k < 0 or s.pending[s.next] < self.m_streams[k].pending[self.m_streams[k].next]):
                k = i
        if k < 0:
            return MT5B_FEED_NONE
        s = self.m_streams[k]
        t = s.pending[s.next]
        s.next += 1
        s.handled = t
        s.sequence += 1
        found = self.m_files[k].Find(t, m)
        m.stream_sequence = s.sequence
        if found == 1:
            s.missing = False
            return MT5B_FEED_LATENT
        m.symbol = s.symbol
        m.timeframe = s.timeframe
        m.bar_time = t
        m.flags = 0
        ArrayResize(m.latent, 0)
        if s.missing:
            return MT5B_FEED_MISSING
        s.missing = True
        note[0] = self.MissingNote(k, t, self.m_files[k].Why() if found < 0 else "")
        return MT5B_FEED_GAP

    def MissingNote(self, k: int, t: int, why: str) -> str:
        f = self.m_files[k]
        where = ""
        if why != "":
            where = " (" + why + ")"
        elif t < f.FirstBarTime():
            where = " (it starts at " + TimeToString(f.FirstBarTime()) + ")"
        elif t > f.LastBarTime():
            where = " (it ends at " + TimeToString(f.LastBarTime()) + ": encode newer history)"
        what = "not delivered, counted in Gaps(), and so are the missing bars after it until one is found"
        return StringFormat("%s %s: closed bar %s is missing from %s%s; %s", self.m_streams[k].symbol,
                            Mt5bTimeframeName(self.m_streams[k].timeframe), TimeToString(t), f.Name(), where, what)

    def NextEvent(self) -> str | None:
        """MQL5: bool NextEvent(string &text); here the text, or None for false."""
        if self.m_event_read >= ArraySize(self.m_events):
            ArrayResize(self.m_events, 0)
            self.m_event_read = 0
            return None
        text = self.m_events[self.m_event_read]
        self.m_event_read += 1
        return text

    def Event(self, text: str) -> None:
        self.m_events.append(text)

    def Refuse(self, text: str) -> None:
        self.m_refused += 1
        self.Event(text)

    def StreamCount(self) -> int:
        return ArraySize(self.m_streams)

    def Symbol(self, k: int) -> str:
        return self.m_streams[k].symbol

    def Timeframe(self, k: int) -> int:
        return self.m_streams[k].timeframe

    def Refused(self) -> int:
        return self.m_refused

    def Folder(self) -> str:
        return self.m_folder
