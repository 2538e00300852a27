// Runs the real mql5/Include/Mt5Bridge/*.mqh (after gxx.py's rewrite, against mql5_runtime.h) under a line
// protocol, so pytest drives the same scenarios as the Python twin's (tests/mql5check/native.py):
//   stdin:  one command a line: a name, then arguments (decimal integers, or x<hex> for strings and bytes)
//   stdout: one JSON object a line per command: {"r": <result>, ...}
// Commands: decode, clock, now, sockets; z.* (CZmtpSubscriber), s.* (CMt5BridgeSubscriber); for the latent files
// f.* (CMt5bLatentFile), fheader, fname, ftopic, and the terminal's chart (chart <open times...>) and time (time <t>).
// Members are reached as the twin's tests reach them (m_backoff_ms, m_out, ...), hence private -> public.
#include <iostream>
#include <sstream>

#define private public
#define protected public
#include <Mt5Bridge/Subscriber.mqh>
#undef private
#undef protected

namespace {

std::string Hex(const uchar *p, size_t n) {
  static const char *digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; i++) { out.push_back(digits[p[i] >> 4]); out.push_back(digits[p[i] & 15]); }
  return out;
}

std::string Unhex(const std::string &h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back((char)std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

MqlArray<uchar> Bytes(const std::string &raw) {
  MqlArray<uchar> a;
  a.v.assign(raw.begin(), raw.end());
  return a;
}

std::string Num(double v) {
  if (std::isnan(v)) return "null";  // as wire.to_json_dict writes NaN
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";  // a float stays a float in JSON (-0.0 too)
  return s;
}
std::string Num(long v) { return std::to_string(v); }
std::string Num(ulong v) { return std::to_string(v); }
std::string Num(uint v) { return std::to_string(v); }
std::string Num(int v) { return std::to_string(v); }
std::string Str(const string &s) { return mql5rt::Json(s.utf8()); }
std::string Bool(bool b) { return b ? "true" : "false"; }

std::string LatentJson(const Mt5bLatent &m) {
  std::string z = "[";
  for (int k = 0; k < ArraySize(m.latent); k++) z += (k ? ", " : "") + Num((double)m.latent[k]);
  return "{\"topic\": \"\", \"kind\": \"latent\", \"sequence\": " + Num(m.sequence) + ", \"publish_time_ms\": " +
         Num(m.publish_time_ms) + ", \"symbol\": " + Str(m.symbol) + ", \"timeframe\": " + Num(m.timeframe) +
         ", \"flags\": " + Num(m.flags) + ", \"bar_time\": " + Num((long)m.bar_time) + ", \"stream_sequence\": " +
         Num(m.stream_sequence) + ", \"recon_error\": " + Num((double)m.recon_error) + ", \"anomaly_pct\": " +
         Num((double)m.anomaly_pct) + ", \"latent\": " + z + "]}";
}

std::string HeartbeatJson(const Mt5bHeartbeat &b) {
  std::string streams = "[";
  for (int i = 0; i < ArraySize(b.streams); i++) {
    const Mt5bStream &s = b.streams[i];
    streams += std::string(i ? ", " : "") + "{\"symbol\": " + Str(s.symbol) + ", \"timeframe\": " +
               Num(s.timeframe) + ", \"status\": " + Num(s.status) + ", \"last_bar_time\": " +
               Num((long)s.last_bar_time) + ", \"last_stream_sequence\": " + Num(s.last_stream_sequence) +
               ", \"last_poll_ms\": " + Num(s.last_poll_ms) + "}";
  }
  return "{\"topic\": \"\", \"kind\": \"heartbeat\", \"sequence\": " + Num(b.sequence) + ", \"publish_time_ms\": " +
         Num(b.publish_time_ms) + ", \"interval_ms\": " + Num(b.interval_ms) + ", \"streams\": " + streams + "]}";
}

// The raw bits of recon_error, anomaly_pct and the latent floats, as u32: "bit for bit" survives NaN and JSON.
std::string Bits(const Mt5bLatent &m) {
  auto bits = [](float f) { uint u; std::memcpy(&u, &f, 4); return std::to_string(u); };
  std::string out = "[" + bits(m.recon_error) + ", " + bits(m.anomaly_pct);
  for (int k = 0; k < ArraySize(m.latent); k++) out += ", " + bits(m.latent[k]);
  return out + "]";
}

std::string LatentBitsJson(const Mt5bLatent &m) {
  std::string json = LatentJson(m);
  return json.substr(0, json.size() - 1) + ", \"bits\": " + Bits(m) + "}";
}

std::string StreamJson(const Mt5bStreamState &s) {
  return "{\"symbol\": " + Str(s.symbol) + ", \"timeframe\": " + Num(s.timeframe) + ", \"has_latest\": " +
         Bool(s.has_latest) + ", \"latest\": " + LatentJson(s.latest) + ", \"received_ms\": " + Num(s.received_ms) +
         ", \"received\": " + Num(s.received) + ", \"missed\": " + Num(s.missed) + ", \"gap_events\": " +
         Num(s.gap_events) + ", \"resends\": " + Num(s.resends) + ", \"restarts\": " + Num(s.restarts) +
         ", \"last_sequence\": " + Num(s.last_sequence) + ", \"rebase\": " + Bool(s.rebase) + "}";
}

std::string List(const std::vector<std::string> &items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); i++) out += (i ? ", " : "") + items[i];
  return out + "]";
}

// An EA's subclass: the hooks record what they see, as the twin tests' Recorder does.
class CDriverSubscriber : public CMt5BridgeSubscriber {
 public:
  std::vector<std::string> seen;
  std::vector<std::string> latents;  // the whole messages, with their bits
  std::vector<std::string> events;
  void OnLatent(const Mt5bLatent &msg) override {
    seen.push_back("[" + Str(msg.symbol) + ", " + Num(msg.timeframe) + ", " + Num(msg.stream_sequence) + "]");
    latents.push_back(LatentBitsJson(msg));
  }
  void OnConnectionEvent(const string text) override { events.push_back(Str(text)); }
};

CZmtpSubscriber *z = nullptr;
CDriverSubscriber *s = nullptr;
CMt5bLatentFile *lf = nullptr;

std::string Messages(CZmtpSubscriber &zmtp) {
  std::vector<std::string> out;
  ZmtpMessage msg;
  while (zmtp.NextMessage(msg)) {
    std::vector<std::string> parts;
    for (int i = 0; i < msg.parts; i++)
      parts.push_back("\"" + Hex(msg.data.v.data() + msg.start[i], (size_t)msg.size[i]) + "\"");
    out.push_back(List(parts));
  }
  return List(out);
}

std::string Events(CZmtpSubscriber &zmtp) {
  std::vector<std::string> out;
  string text = "";
  while (zmtp.NextEvent(text)) out.push_back(Str(text));
  return List(out);
}

struct Args {
  std::vector<std::string> items;
  long Int(size_t i) const { return std::stol(items.at(i)); }
  std::string Raw(size_t i) const { return Unhex(items.at(i).substr(1)); }
  string Text(size_t i) const { return string(Raw(i).c_str()); }
};

std::string Decode(const std::string &payload) {
  MqlArray<uchar> p = Bytes(payload);
  Mt5bHeader h;
  Mt5bLatent latent;
  Mt5bHeartbeat beat;
  string why = "";
  ENUM_MT5B_DECODE r = Mt5bDecode(p, h, latent, beat, why);
  if (r == MT5B_DECODE_ERROR) return "{\"r\": \"error\", \"why\": " + Str(why) + "}";
  if (r == MT5B_DECODE_SKIP) return "{\"r\": \"skip\", \"why\": " + Str(why) + "}";
  return std::string("{\"r\": \"ok\", \"fields\": ") +
         (h.kind == MT5B_KIND_LATENT ? LatentJson(latent) : HeartbeatJson(beat)) + "}";
}

std::string Zmtp(const std::string &name, const Args &a) {
  if (name == "new") { delete z; z = new CZmtpSubscriber(); return "null"; }
  CZmtpSubscriber &q = *z;
  if (name == "Configure") { q.Configure(a.Text(0), (uint)a.Int(1)); return "null"; }
  if (name == "SetTimeouts") { q.SetTimeouts((int)a.Int(0), (int)a.Int(1), (int)a.Int(2), (int)a.Int(3)); return "null"; }
  if (name == "SetBackoff") { q.SetBackoff((int)a.Int(0), (int)a.Int(1)); return "null"; }
  if (name == "SetLimits") { q.SetLimits((int)a.Int(0), (int)a.Int(1)); return "null"; }
  if (name == "SetZmtpMinor") { q.SetZmtpMinor((int)a.Int(0)); return "null"; }
  if (name == "Subscribe") return Bool(q.Subscribe(a.Text(0)));
  if (name == "Start") { q.Start(); return "null"; }
  if (name == "Stop") { q.Stop(); return "null"; }
  if (name == "Pump") return Num(q.Pump());
  if (name == "step") {  // an OnTimer: Pump, then every complete message and event; how long Pump blocked
    long long began = mql5rt::NowUs();
    int got = q.Pump();
    long long blocked = mql5rt::NowUs() - began;
    std::string messages = Messages(q);
    return "{\"got\": " + Num(got) + ", \"blocked_us\": " + std::to_string(blocked) + ", \"messages\": " + messages +
           ", \"events\": " + Events(q) + "}";
  }
  if (name == "drain") return Messages(q);
  if (name == "events") return Events(q);
  if (name == "State") return Num((int)q.State());
  if (name == "IsReady") return Bool(q.IsReady());
  if (name == "PeerMinor") return Num(q.PeerMinor());
  if (name == "Connects") return Num(q.Connects());
  if (name == "Attempts") return Num(q.Attempts());
  if (name == "PingsIn") return Num(q.PingsIn());
  if (name == "PongsOut") return Num(q.PongsOut());
  if (name == "PingsOut") return Num(q.PingsOut());
  if (name == "PongsIn") return Num(q.PongsIn());
  if (name == "BytesIn") return Num(q.BytesIn());
  if (name == "LastFailure") return Str(q.LastFailure());
  if (name == "Disconnect") { q.Disconnect(a.Text(0)); return "null"; }
  if (name == "Append") { MqlArray<uchar> b = Bytes(a.Raw(0)); q.Append(b, ArraySize(b)); return "null"; }
  if (name == "ReadGreeting") return Bool(q.ReadGreeting());
  if (name == "ReadReady") return Bool(q.ReadReady());
  if (name == "QueueGreeting") { q.QueueGreeting(); return "null"; }
  if (name == "QueueReady") { q.QueueReady(); return "null"; }
  if (name == "QueueSubscription") { q.QueueSubscription(a.Text(0)); return "null"; }
  if (name == "QueueFrame") {
    MqlArray<uchar> b = Bytes(a.Raw(1));
    q.QueueFrame((int)a.Int(0), b, ArraySize(b));
    return "null";
  }
  if (name == "set") {
    std::string member = a.items.at(0);
    if (member == "m_state") q.m_state = (ENUM_ZMTP_STATE)a.Int(1);
    else if (member == "m_peer_minor") q.m_peer_minor = (int)a.Int(1);
    else return "\"unknown member\"";
    return "null";
  }
  if (name == "get") {
    std::string member = a.items.at(0);
    if (member == "m_backoff_ms") return Num(q.m_backoff_ms);
    if (member == "m_connect_timeout_ms") return Num(q.m_connect_timeout_ms);
    if (member == "m_backoff_min_ms") return Num(q.m_backoff_min_ms);
    if (member == "m_backoff_max_ms") return Num(q.m_backoff_max_ms);
    if (member == "m_pongs_out") return Num(q.m_pongs_out);
    if (member == "m_in_size") return Num(ArraySize(q.m_in));
    if (member == "m_out") return "\"" + Hex(q.m_out.v.data(), (size_t)q.m_out_len) + "\"";
    if (member == "m_topics") {
      std::vector<std::string> t;
      for (int i = 0; i < ArraySize(q.m_topics); i++) t.push_back(Str(q.m_topics[i]));
      return List(t);
    }
    return "\"unknown member\"";
  }
  return "";
}

std::string Sub(const std::string &name, const Args &a) {
  if (name == "new") { delete s; s = new CDriverSubscriber(); return "null"; }
  CDriverSubscriber &q = *s;
  if (name == "Configure") { q.Configure(a.Text(0), (uint)a.Int(1)); return "null"; }
  if (name == "SetTimeouts") { q.SetTimeouts((int)a.Int(0), (int)a.Int(1), (int)a.Int(2), (int)a.Int(3)); return "null"; }
  if (name == "SetBackoff") { q.SetBackoff((int)a.Int(0), (int)a.Int(1)); return "null"; }
  if (name == "SetLimits") { q.SetLimits((int)a.Int(0), (int)a.Int(1), (int)a.Int(2)); return "null"; }
  if (name == "SetDefaultInterval") { q.SetDefaultInterval((uint)a.Int(0)); return "null"; }
  if (name == "Subscribe") return Bool(q.Subscribe(a.Text(0)));
  if (name == "Stop") { q.Stop(); return "null"; }
  if (name == "Poll") {
    int fresh = q.Poll();
    std::string out = "{\"fresh\": " + Num(fresh) + ", \"seen\": " + List(q.seen) + ", \"latents\": " +
                      List(q.latents) + ", \"events\": " + List(q.events) + "}";
    q.seen.clear();
    q.latents.clear();
    q.events.clear();
    return out;
  }
  if (name == "Start") {  // file mode logs its files at Start
    q.Start();
    std::string out = List(q.events);
    q.events.clear();
    return out;
  }
  if (name == "UseLatentFiles") { q.UseLatentFiles(a.Int(0) != 0, a.Text(1)); return "null"; }
  if (name == "ExpectLatentSize") { q.ExpectLatentSize((int)a.Int(0)); return "null"; }
  if (name == "FileMode") return Bool(q.FileMode());
  if (name == "StreamCount") return Num(q.StreamCount());
  ENUM_TIMEFRAMES tf = a.items.size() > 1 ? (ENUM_TIMEFRAMES)a.Int(1) : PERIOD_CURRENT;
  if (name == "Latest") {
    Mt5bLatent out;
    bool r = q.Latest(a.Text(0), tf, out);
    return r ? LatentJson(out) : "null";
  }
  if (name == "Stream") {
    Mt5bStreamState out;
    bool r = q.Stream(a.Text(0), tf, out);
    return r ? StreamJson(out) : "null";
  }
  if (name == "PublisherStatus") {
    uint status = 0;
    return q.PublisherStatus(a.Text(0), tf, status) ? Num(status) : "null";
  }
  if (name == "IsFresh") return Bool(q.IsFresh(a.Text(0), tf));
  if (name == "Gaps") return Num(q.Gaps(a.Text(0), tf));
  if (name == "AgeMs") return Num(q.AgeMs(a.Text(0), tf));
  if (name == "SilenceMs") return Num(q.SilenceMs());
  if (name == "IntervalMs") return Num(q.IntervalMs());
  if (name == "PublisherAlive") return Bool(q.PublisherAlive());
  if (name == "Heartbeats") return Num(q.Heartbeats());
  if (name == "Malformed") return Num(q.Malformed());
  if (name == "Skipped") return Num(q.Skipped());
  if (name == "Connects") return Num(q.Connects());
  if (name == "IsConnected") return Bool(q.IsConnected());
  if (name == "ConnectionText") return Str(q.ConnectionText());
  if (name == "Disconnect") { q.m_zmtp.Disconnect(a.Text(0)); return "null"; }
  if (name == "topics") {
    std::vector<std::string> t;
    for (int i = 0; i < ArraySize(q.m_zmtp.m_topics); i++) t.push_back(Str(q.m_zmtp.m_topics[i]));
    return List(t);
  }
  if (name == "in_size") return Num(ArraySize(q.m_zmtp.m_in));
  return "";
}

std::string HeaderJson(const Mt5bFileHeader &h) {
  return "{\"version\": " + Num((uint)h.version) + ", \"record_bytes\": " + Num(h.record_bytes) +
         ", \"latent_size\": " + Num(h.latent_size) + ", \"timeframe\": " + Num(h.timeframe) + ", \"warmup_bars\": " +
         Num(h.warmup_bars) + ", \"drift_threshold\": " + Num(h.drift_threshold) + ", \"count\": " + Num(h.count) +
         ", \"first_bar_time\": " + Num((long)h.first_bar_time) + ", \"last_bar_time\": " +
         Num((long)h.last_bar_time) + ", \"symbol\": " + Str(h.symbol) + ", \"model_sha256\": " +
         Str(h.model_sha256) + ", \"feature_set\": " + Str(h.feature_set) + "}";
}

std::string File(const std::string &name, const Args &a) {
  if (name == "new") { delete lf; lf = new CMt5bLatentFile(); return "null"; }
  CMt5bLatentFile &f = *lf;
  if (name == "Open") return Bool(f.Open(a.Text(0)));
  if (name == "Close") { f.Close(); return "null"; }
  if (name == "Find") {
    Mt5bLatent out;
    int r = f.Find((datetime)a.Int(0), out);
    return "{\"found\": " + Num(r) + ", \"latent\": " + (r == 1 ? LatentBitsJson(out) : "null") + "}";
  }
  if (name == "IsOpen") return Bool(f.IsOpen());
  if (name == "Name") return Str(f.Name());
  if (name == "Why") return Str(f.Why());
  if (name == "Symbol") return Str(f.Symbol());
  if (name == "Timeframe") return Num(f.Timeframe());
  if (name == "LatentSize") return Num(f.LatentSize());
  if (name == "Count") return Num(f.Count());
  if (name == "FirstBarTime") return Num((long)f.FirstBarTime());
  if (name == "LastBarTime") return Num((long)f.LastBarTime());
  if (name == "ModelSha256") return Str(f.ModelSha256());
  return "";
}

std::string FileHeader(const std::string &raw, long size) {
  MqlArray<uchar> b = Bytes(raw);
  Mt5bFileHeader h;
  string why = "";
  bool ok = Mt5bDecodeFileHeader(b, size, h, why);
  return "{\"ok\": " + Bool(ok) + ", \"why\": " + Str(why) + ", \"header\": " + (ok ? HeaderJson(h) : "null") + "}";
}

std::string Topic(const string &topic) {
  string symbol = "";
  uint tf = 0;
  return Mt5bParseLatentTopic(topic, symbol, tf) ? "[" + Str(symbol) + ", " + Num(tf) + "]" : "null";
}

}  // namespace

int main() {
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string command;
    in >> command;
    Args a;
    std::string item;
    while (in >> item) a.items.push_back(item);
    std::string result;
    if (command == "decode") result = Decode(a.Raw(0));
    else if (command == "clock") { mql5rt::Advance(a.Int(0)); result = "null"; }
    else if (command == "now") result = Num((ulong)GetTickCount64());
    else if (command == "sockets") result = Num((int)mql5rt::sockets.size());
    else if (command == "chart") {  // the chart's bars by open time, oldest first; the last one is forming
      mql5rt::chart.clear();
      for (size_t i = 0; i < a.items.size(); i++) mql5rt::chart.push_back((datetime)a.Int(i));
      result = "null";
    }
    else if (command == "time") { mql5rt::server_time = (datetime)a.Int(0); result = "null"; }
    else if (command == "fheader") result = FileHeader(a.Raw(0), a.Int(1));
    else if (command == "fname") result = Str(Mt5bLatentFileName(a.Text(0), (uint)a.Int(1)));
    else if (command == "ftopic") result = Topic(a.Text(0));
    else if (command.rfind("f.", 0) == 0) result = File(command.substr(2), a);
    else if (command.rfind("z.", 0) == 0) result = Zmtp(command.substr(2), a);
    else if (command.rfind("s.", 0) == 0) result = Sub(command.substr(2), a);
    if (result.empty()) result = "\"unknown command\"";
    std::cout << "{\"r\": " << result << "}\n" << std::flush;
  }
  delete lf;
  delete s;
  delete z;
  return 0;
}
