"""The latent files in MQL5: LatentFile.mqh reads back every record `mt5bridge encode --format mt5` wrote, bit for
bit, and refuses damaged files; CMt5BridgeSubscriber in the Strategy Tester (MQLInfoInteger(MQL_TESTER)) delivers,
through OnLatent and in order, the record of every bar that closes on the chart, reports the bars its file lacks,
refuses files of the wrong stream. Each scenario runs on the twin (tests/mql5twin/latentfile.py, latentfeed.py,
subscriber.py) and on the MQL5 code compiled against the C++ runtime (skipped without g++)."""

from __future__ import annotations

import shutil
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mt5bridge.data import sample_path
from mt5bridge.latentfile import latent_file_name, read_latent_file, write_latent_file
from mql5check import native
from mql5twin import latentfeed, latentfile, mql5, mql5files
from mql5twin.protocol import Mt5bLatent
from mql5twin.subscriber import CMt5BridgeSubscriber, Mt5bStreamState
from tests.test_latentfile import damaged_files, encode_cli, train_tiny

H1, H4 = 16385, 16388
TOPIC = "mt5bridge/latent/XAUUSD/H1"


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The bundled sample encoded by a tiny model: 9500 records of Z = 8."""
    root = tmp_path_factory.mktemp("mql5latent")
    model = train_tiny(root / "tiny.npz")
    out = root / "XAUUSD_H1.mt5b"
    assert encode_cli(["--model", str(model), "--data", str(sample_path()), "--format", "mt5", "--symbol", "XAUUSD",
                       "--out", str(out)]) == 0
    return out


@pytest.fixture(autouse=True)
def fresh_twin():
    mql5.reset()
    mql5files.reset()
    yield
    mql5.reset()
    mql5files.reset()


class Recorder(CMt5BridgeSubscriber):
    """An EA's subclass: OnLatent sees every new bar's message (kept whole, with its floats' bits)."""

    def __init__(self):
        super().__init__()
        self.seen: list[tuple[str, int, int]] = []
        self.latents: list[dict] = []
        self.events: list[str] = []

    def OnLatent(self, msg):
        self.seen.append((msg.symbol, msg.timeframe, msg.stream_sequence))
        self.latents.append({"symbol": msg.symbol, "timeframe": msg.timeframe, "bar_time": msg.bar_time,
                             "flags": msg.flags, "stream_sequence": msg.stream_sequence, "sequence": msg.sequence,
                             "bits": _bits(msg)})

    def OnConnectionEvent(self, text):
        self.events.append(text)


def _bits(m: Mt5bLatent) -> list[int]:
    return [struct.unpack("<I", struct.pack("<f", v))[0] for v in (m.recon_error, m.anomaly_pct, *m.latent)]


class Terminal:
    """One terminal: the twin's built-ins, or a Bridge process running the compiled MQL5 code, with the common Files
    folder at `common`, a chart of `symbol` and `period`, and MQLInfoInteger(MQL_TESTER) = `tester`."""

    def __init__(self, impl: str, request, common: Path, tester: bool = True, symbol: str = "XAUUSD",
                 period: int = H1):
        self.impl = impl
        if impl == "twin":
            mql5files.COMMON_FILES, mql5files.TESTER = str(common), tester
            mql5files.CHART_SYMBOL, mql5files.CHART_PERIOD = symbol, period
            self.bridge = None
        else:
            env = {"MQL5_COMMON_FILES": str(common), "MQL5_SYMBOL": symbol, "MQL5_PERIOD": str(period),
                   "MQL5_TESTER": "1" if tester else "0"}
            self.bridge = native.Bridge(env=env)
            request.node.processes.append(self.bridge)

    def chart(self, times) -> None:
        """The chart's bars by open time, oldest first; the last one is forming."""
        times = [int(t) for t in times]
        if self.bridge is None:
            mql5files.chart[:] = times
        else:
            self.bridge.call("chart", *times)

    def time(self, t: int) -> None:
        if self.bridge is None:
            mql5files.server_time = int(t)
        else:
            self.bridge.call("time", int(t))

    def subscriber(self):
        return Recorder() if self.bridge is None else native.NativeSubscriber(self.bridge)

    def reader(self):
        return latentfile.CMt5bLatentFile() if self.bridge is None else native.NativeLatentFile(self.bridge)

    def file_name(self, symbol: str, tf: int) -> str:
        if self.bridge is None:
            return latentfile.Mt5bLatentFileName(symbol, tf)
        return self.bridge.call("fname", symbol, tf)

    def topic(self, topic: str):
        if self.bridge is None:
            return latentfeed.Mt5bParseLatentTopic(topic)
        parsed = self.bridge.call("ftopic", topic)
        return None if parsed is None else tuple(parsed)


def _latent_dict(m) -> dict:
    """A delivered or found message, twin or compiled, in one form."""
    if isinstance(m, dict):
        return m
    return {"bar_time": m.bar_time, "flags": m.flags, "bits": getattr(m, "bits", None) or _bits(m)}


def _record_bits(records: np.ndarray, i: int) -> list[int]:
    r = records[i]
    floats = np.concatenate([[r["recon_error"], r["anomaly_pct"]], r["latent"]]).astype("<f4")
    return floats.view("<u4").tolist()


def _install(common: Path, source: Path, name: str = "XAUUSD_H1.mt5b") -> Path:
    folder = common / "Mt5Bridge"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, folder / name)
    return folder / name


def _rewrite(source: Path, target: Path, *, drop=(), **header_fields) -> None:
    """A copy of a latent file with some records left out or other header fields (the reference writer)."""
    got = read_latent_file(source)
    records = np.delete(got.records, list(drop))
    write_latent_file(target, replace(got.header, **header_fields), records)


def _stream(sub, symbol: str = "XAUUSD", tf: int = H1) -> Mt5bStreamState:
    out = Mt5bStreamState()
    assert sub.Stream(symbol, tf, out)
    return out


# --- the reader


def test_the_reader_finds_every_record_bit_for_bit(impl, request, reference, tmp_path):
    _install(tmp_path, reference)
    term = Terminal(impl, request, tmp_path)
    ref = read_latent_file(reference).records
    f = term.reader()
    assert f.Open("Mt5Bridge\\XAUUSD_H1.mt5b"), f.Why()
    assert (f.Symbol(), f.Timeframe(), f.LatentSize(), f.Count()) == ("XAUUSD", H1, 8, len(ref))
    assert (f.FirstBarTime(), f.LastBarTime()) == (int(ref["bar_time"][0]), int(ref["bar_time"][-1]))
    assert f.ModelSha256() == read_latent_file(reference).header.model_sha256
    order = list(range(len(ref)))
    order = order[:50] + order[::-1][:50] + order[50::97]  # in order (the cursor), backwards, and jumping
    for i in order:
        out = Mt5bLatent()
        assert f.Find(int(ref["bar_time"][i]), out) == 1, i
        got = _latent_dict(out)
        assert got["bar_time"] == ref["bar_time"][i] and got["flags"] == ref["flags"][i], i
        assert got["bits"] == _record_bits(ref, i), f"record {i}: not bit for bit"
    times = ref["bar_time"]
    for absent in (times[0] - 3600, times[100] + 60, times[-1] + 3600, 0):
        assert f.Find(int(absent), Mt5bLatent()) == 0, absent
    f.Close()
    assert not f.IsOpen() and f.Find(int(times[0]), Mt5bLatent()) == -1 and "not open" in f.Why()


def test_the_reader_checks_every_record_in_all_of_them(impl, request, reference, tmp_path):
    """Every record of the file, in order: the whole file equals the reference reader's records."""
    _install(tmp_path, reference)
    term = Terminal(impl, request, tmp_path)
    ref = read_latent_file(reference).records
    f = term.reader()
    assert f.Open("Mt5Bridge\\XAUUSD_H1.mt5b")
    for i in range(len(ref)):
        out = Mt5bLatent()
        assert f.Find(int(ref["bar_time"][i]), out) == 1
        assert _latent_dict(out)["bits"] == _record_bits(ref, i), f"record {i}"


# The MQL5 reader's words for each damage of test_latentfile.damaged_files (the reference reader's).
MQL5_WHY = {
    "bad magic": "bad magic", "newer version": "format version 2", "header size": "header_bytes 160",
    "record size": "do not hold latent_size 8 floats", "no latent": "latent_size 0", "no records": "record_count 0",
    "truncated": "truncated or grown", "grown": "truncated or grown", "header only": "shorter than the 152-byte",
    "unknown timeframe": "timeframe 7 is not", "unsorted": "record 6: bar_time", "repeated": "record 6: bar_time",
    "first time": "the header's first_bar_time is 1",
}


def test_the_reader_refuses_damaged_files_naming_them(impl, request, reference, tmp_path):
    folder = tmp_path / "Mt5Bridge"
    folder.mkdir()
    cases = damaged_files(reference.read_bytes())
    assert set(cases) == set(MQL5_WHY)
    term = Terminal(impl, request, tmp_path)
    f = term.reader()
    for name, (data, _) in cases.items():
        (folder / "d.mt5b").write_bytes(data)
        assert not f.Open("Mt5Bridge\\d.mt5b"), name
        assert f.Why().startswith("Mt5Bridge\\d.mt5b: ") and MQL5_WHY[name] in f.Why(), (name, f.Why())
        assert not f.IsOpen()
    last = bytearray(reference.read_bytes())
    struct.pack_into("<q", last, 48, struct.unpack_from("<q", last, 48)[0] + 1)
    (folder / "d.mt5b").write_bytes(bytes(last))
    assert not f.Open("Mt5Bridge\\d.mt5b") and "is not the header's last_bar_time" in f.Why()
    assert not f.Open("Mt5Bridge\\none.mt5b") and "cannot open it (error 5004)" in f.Why()
    assert not f.Open("..\\escape.mt5b") and "cannot open it (error 5004)" in f.Why()


def test_file_names_and_topics_as_the_python_side_names_them(impl, request, tmp_path):
    term = Terminal(impl, request, tmp_path)
    for symbol, tf, name in [("XAUUSD", H1, "H1"), ("EUR/USD", 15, "M15"), ('A\\B:C*D?E"F<G>H|I', 16408, "D1"),
                             ("Ölpreis.m", 49153, "MN1")]:
        assert term.file_name(symbol, tf) == latent_file_name(symbol, name)
    assert term.topic(TOPIC) == ("XAUUSD", H1)
    assert term.topic("mt5bridge/latent/EUR/USD/M15") == ("EUR/USD", 15)
    for prefix in ("mt5bridge/", "mt5bridge/latent/", "mt5bridge/latent/XAUUSD/", "mt5bridge/latent/XAUUSD/H7",
                   "mt5bridge/heartbeat", "mt5bridge/latent//H1", ""):
        assert term.topic(prefix) is None, prefix


# --- the subscriber in the tester


def _started(term: Terminal, *topics: str, expect_z: int = 0):
    sub = term.subscriber()
    assert sub.FileMode()
    if expect_z:
        sub.ExpectLatentSize(expect_z)
    for t in topics:
        sub.Subscribe(t)
    sub.Start()
    return sub


def test_the_tester_gets_every_closed_bar_in_order_bit_for_bit(impl, request, reference, tmp_path):
    _install(tmp_path, reference)
    term = Terminal(impl, request, tmp_path)
    ref = read_latent_file(reference).records
    times = [int(t) for t in ref["bar_time"]]
    k = 1000  # the forming bar: bar k - 1 is the newest closed one
    term.chart(times[:k + 1])
    sub = _started(term, TOPIC)
    assert sub.IsConnected() and sub.PublisherAlive() and "1 stream(s)" in sub.ConnectionText()
    assert any("XAUUSD H1 from Mt5Bridge\\XAUUSD_H1.mt5b: 9500 bars" in e for e in sub.events), sub.events
    assert _stream(sub).received == 0 and not sub.IsFresh("XAUUSD", H1) and sub.AgeMs("XAUUSD", H1) == -1
    term.time(times[k] + 5)
    assert sub.Poll() == 1  # the newest closed bar, as the daemon's cache gives a late joiner
    delivered = [k - 1]
    assert sub.Poll() == 0  # nothing closed since
    for step in (1, 3, 1, 5):  # one bar, then several closing between two polls
        term.chart(times[:k + 1 + step])
        assert not sub.IsFresh("XAUUSD", H1)  # the chart moved on, the poll has not
        term.time(times[k + step] + 5)
        assert sub.Poll() == step
        delivered += list(range(k, k + step))
        k += step
        assert sub.IsFresh("XAUUSD", H1)
    latents = [_latent_dict(m) for m in sub.latents]
    assert [m["bar_time"] for m in latents] == [times[i] for i in delivered]
    for m, i in zip(latents, delivered):
        assert m["flags"] == ref["flags"][i] and m["bits"] == _record_bits(ref, i), i
    assert sub.seen == [("XAUUSD", H1, n) for n in range(1, len(delivered) + 1)]
    s = _stream(sub)
    assert (s.received, s.missed, s.gap_events, s.last_sequence) == (len(delivered), 0, 0, len(delivered))
    latest = Mt5bLatent()
    assert sub.Latest("XAUUSD", H1, latest) and latest.bar_time == times[k - 1] and latest.stream_sequence == 11
    assert sub.Gaps("XAUUSD", H1) == 0 and sub.Malformed() == 0
    term.time(times[k - 1] + 3600 + 5 + 120)  # two minutes of the tester's clock after the last poll
    assert sub.AgeMs("XAUUSD", H1) == 120_000 and sub.SilenceMs() == 120_000
    sub.Stop()
    assert not sub.IsConnected()
    sub.Start()  # again: numbered anew, as a daemon restarted without its state; the newest bar is not taken twice
    assert sub.IsConnected() and sub.Poll() == 0 and len(sub.seen) == len(delivered)
    s = _stream(sub)
    assert (s.resends, s.restarts, s.last_sequence) == (1, 1, 1)


def test_closed_bars_missing_from_the_file_are_reported_never_delivered(impl, request, reference, tmp_path):
    ref = read_latent_file(reference).records
    times = [int(t) for t in ref["bar_time"]]
    k = 2000
    # the file lacks bars k+2, k+3 (one run) and k+6, k+7 (a run seen over two polls), and ends at k+10
    folder = tmp_path / "Mt5Bridge"
    folder.mkdir()
    _rewrite(reference, folder / "XAUUSD_H1.mt5b", drop=[k + 2, k + 3, k + 6, k + 7, *range(k + 11, len(ref))])
    term = Terminal(impl, request, tmp_path)
    term.chart(times[:k + 1])
    sub = _started(term, TOPIC)
    assert sub.Poll() == 1
    term.chart(times[:k + 6])  # bars k .. k+4 close
    assert sub.Poll() == 3
    s = _stream(sub)
    assert (s.received, s.missed, s.gap_events, s.last_sequence) == (4, 2, 1, 6)
    gaps = [e for e in sub.events if "missing from" in e]
    assert len(gaps) == 1 and gaps[0].startswith("XAUUSD H1: closed bar " + mql5files.TimeToString(times[k + 2]))
    assert "Mt5Bridge\\XAUUSD_H1.mt5b" in gaps[0]
    for close, fresh in ((k + 5, 1), (k + 6, 0), (k + 7, 0), (k + 8, 1)):
        term.chart(times[:close + 2])
        assert sub.Poll() == fresh, close
    s = _stream(sub)
    assert (s.received, s.missed, s.gap_events) == (6, 4, 2)
    assert len([e for e in sub.events if "missing from" in e]) == 2  # one line per run
    assert [q for _, _, q in sub.seen] == [1, 2, 3, 6, 7, 10]  # the jumps show the missing bars, as live
    assert all(_latent_dict(m)["bar_time"] not in (times[k + 2], times[k + 3], times[k + 6], times[k + 7])
               for m in sub.latents)
    term.chart(times[:k + 14])  # past the file's end
    assert sub.Poll() == 2 and sub.Gaps("XAUUSD", H1) == 4 + 2  # k+9, k+10 found; k+11, k+12 not
    assert "(it ends at " + mql5files.TimeToString(times[k + 10]) in sub.events[-1]
    assert not sub.IsFresh("XAUUSD", H1)


@pytest.mark.parametrize("case", ["other symbol", "other timeframe", "truncated", "bad magic", "missing",
                                  "other latent size"])
def test_a_file_of_the_wrong_stream_or_damaged_is_refused_naming_it(impl, request, reference, tmp_path, case):
    folder = tmp_path / "Mt5Bridge"
    folder.mkdir()
    target = folder / "XAUUSD_H1.mt5b"
    data = reference.read_bytes()
    expected = {"other symbol": "holds EURUSD H1, not XAUUSD H1", "other timeframe": "holds XAUUSD H4, not XAUUSD H1",
                "truncated": "truncated or grown", "bad magic": "bad magic", "missing": "cannot open it (error 5004)",
                "other latent size": "has latent size 8, the EA expects 16"}[case]
    if case == "other symbol":
        _rewrite(reference, target, symbol="EURUSD")
    elif case == "other timeframe":
        _rewrite(reference, target, timeframe=H4)
    elif case == "truncated":
        target.write_bytes(data[:-7])
    elif case == "bad magic":
        target.write_bytes(b"M5BR" + data[4:])
    elif case != "missing":
        target.write_bytes(data)
    term = Terminal(impl, request, tmp_path)
    term.chart(read_latent_file(reference).records["bar_time"][:500])
    sub = _started(term, TOPIC, expect_z=16 if case == "other latent size" else 0)
    refused = [e for e in sub.events if expected in e]
    assert len(refused) == 1 and "Mt5Bridge\\XAUUSD_H1.mt5b" in refused[0], sub.events
    assert sub.Malformed() == 1 and sub.StreamCount() == 0 and not sub.IsConnected()
    assert sub.Poll() == 0 and not sub.Latest("XAUUSD", H1, Mt5bLatent())


def test_a_prefix_reads_every_file_it_covers_in_name_order(impl, request, reference, tmp_path):
    folder = tmp_path / "Mt5Bridge"
    folder.mkdir()
    shutil.copyfile(reference, folder / "XAUUSD_H1.mt5b")
    _rewrite(reference, folder / "EURUSD_H1.mt5b", symbol="EURUSD")
    _rewrite(reference, folder / "XAUUSD_H4.mt5b", timeframe=H4)
    (folder / "broken.mt5b").write_bytes(b"nothing of the sort")
    (folder / "notes.txt").write_text("not a latent file")
    (folder / "old.mt5b").mkdir()  # a folder with the suffix: FileFindFirst lists it as "old.mt5b\"
    times = [int(t) for t in read_latent_file(reference).records["bar_time"]]
    term = Terminal(impl, request, tmp_path)
    term.chart(times[:3001])
    sub = _started(term, "mt5bridge/latent/")
    assert sub.StreamCount() == 3 and sub.Malformed() == 1
    assert any("Mt5Bridge\\broken.mt5b: " in e and "shorter than the 152-byte header" in e for e in sub.events)
    assert sub.Poll() == 3  # the newest closed bar of each, the same bar time: in the streams' (name) order
    assert sub.seen == [("EURUSD", H1, 1), ("XAUUSD", H1, 1), ("XAUUSD", H4, 1)]
    term.chart(times[:3003])
    assert sub.Poll() == 2  # only the chart's own symbol and period have bar times here (the runtime's one chart)
    assert sub.seen[3:] == [("XAUUSD", H1, 2), ("XAUUSD", H1, 3)]
    warned = [e for e in sub.events if "cannot copy the bar times" in e]
    assert len(warned) == 2 and {w.split(":")[0] for w in warned} == {"EURUSD H1", "XAUUSD H4"}
    term.chart(times[:3004])
    assert sub.Poll() == 1 and len([e for e in sub.events if "cannot copy" in e]) == 2  # said once, not per poll

    narrow = Terminal(impl, request, tmp_path)  # a prefix of one symbol: the others are none of its business
    narrow.chart(times[:3001])
    sub = _started(narrow, "mt5bridge/latent/XAUUSD/")
    assert sub.StreamCount() == 2 and sub.Malformed() == 1  # broken.mt5b could be anyone's: still reported
    assert sub.Poll() == 2 and sub.seen == [("XAUUSD", H1, 1), ("XAUUSD", H4, 1)]


def test_a_file_open_elsewhere_is_shared_for_reading(impl, request, reference, tmp_path):
    """The tester's agents read one common file at once: every open must allow shared reading."""
    _install(tmp_path, reference)
    term = Terminal(impl, request, tmp_path)
    term.chart(read_latent_file(reference).records["bar_time"][:101])
    other = term.reader()
    assert other.Open("Mt5Bridge\\XAUUSD_H1.mt5b")
    sub = _started(term, TOPIC)
    assert sub.StreamCount() == 1 and sub.Malformed() == 0 and sub.Poll() == 1


def test_live_outside_the_tester_unless_asked(impl, request, reference, tmp_path):
    _install(tmp_path, reference)
    term = Terminal(impl, request, tmp_path, tester=False)
    term.chart(read_latent_file(reference).records["bar_time"][:101])
    sub = term.subscriber()
    assert not sub.FileMode()
    sub.UseLatentFiles(True, "Mt5Bridge")
    assert sub.FileMode()
    sub.Subscribe(TOPIC)
    sub.Start()
    assert sub.Poll() == 1 and sub.seen == [("XAUUSD", H1, 1)]


@pytest.mark.parametrize("mqh, twin", [("LatentFile.mqh", "latentfile"), ("LatentFeed.mqh", "latentfeed")])
def test_the_twins_have_the_same_functions_methods_and_constants(mqh, twin, monkeypatch):
    from tests import test_mql5_gate  # the check the other twins pass, given these two as well

    monkeypatch.setitem(test_mql5_gate.TWINS, mqh, twin)
    test_mql5_gate.test_twin_has_the_same_functions_methods_and_constants(mqh)
