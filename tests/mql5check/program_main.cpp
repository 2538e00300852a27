// Runs one MQL5 program (an .mq5 file after gxx.py's rewrite, included as MQL5_PROGRAM) against mql5_runtime.h,
// its event handlers called as a terminal calls them, each on a test's command (tests/mql5check/native.py):
//   init | deinit <reason> | timer | tick | start | calculate      the handlers (absent ones are skipped)
//   chart <first open time> <period seconds> <bars> | bars <n>      the chart: regular bars; n more bars
//   market x<file> <visible> | advance <n>     the chart from full bars (mql5_runtime_market.h): the file's first
//                                              <visible> bars shown, the last one forming; n more bars appear
//   buffer <i> | gv x<name> | gvset x<name> <value> | comment | timer_ms | redraws | clock <ms>   the terminal
// Every reply: {"r": <result>, "log": [what Print wrote]}.
#include <iostream>
#include <sstream>

// The handlers a program may define; those it does not stay null.
int OnInit() __attribute__((weak));
void OnDeinit(const int reason) __attribute__((weak));
void OnTimer() __attribute__((weak));
void OnTick() __attribute__((weak));
void OnStart() __attribute__((weak));
int OnCalculate(const int rates_total, const int prev_calculated, const MqlArray<datetime> &time,
                const MqlArray<double> &open, const MqlArray<double> &high, const MqlArray<double> &low,
                const MqlArray<double> &close, const MqlArray<long> &tick_volume, const MqlArray<long> &volume,
                const MqlArray<int> &spread) __attribute__((weak));

#include MQL5_PROGRAM

namespace {

int prev_calculated = 0;

std::string Value(double v) {
  if (v == EMPTY_VALUE || std::isnan(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// The terminal calls OnCalculate with the chart's bars (not series) and indicator buffers sized to them; a
// buffer's new elements are not initialised (the indicator must fill them), so they hold junk here.
int Calculate() {
  int n = (int)mql5rt::chart.size();
  MqlArray<datetime> time;
  time.v = mql5rt::chart;
  MqlArray<double> price;
  price.v.assign((size_t)n, 1.0);
  MqlArray<long> volume;
  volume.v.assign((size_t)n, 0);
  MqlArray<int> spread;
  spread.v.assign((size_t)n, 0);
  for (MqlArray<double> *b : mql5rt::buffers)
    if (b != nullptr) b->v.resize((size_t)n, -123456789.0);
  return OnCalculate(n, prev_calculated, time, price, price, price, price, volume, volume, spread);
}

std::string Buffer(size_t i) {
  if (i >= mql5rt::buffers.size() || mql5rt::buffers[i] == nullptr) return "null";
  const std::vector<double> &v = mql5rt::buffers[i]->v;
  std::string out = "[";
  for (size_t k = 0; k < v.size(); k++)
    out += (k ? ", [" : "[") + std::to_string(k < mql5rt::chart.size() ? mql5rt::chart[k] : 0) + ", " + Value(v[k]) + "]";
  return out + "]";
}

// A string argument as native.py sends it: x<hex of the UTF-8 bytes>.
std::string Unhex(const std::string &arg) {
  std::string out;
  for (size_t i = 1; i + 1 < arg.size(); i += 2) out.push_back((char)std::stoi(arg.substr(i, 2), nullptr, 16));
  return out;
}

}  // namespace

int main() {
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string command;
    in >> command;
    std::vector<std::string> a;
    std::string item;
    while (in >> item) a.push_back(item);
    std::string r = "null";
    if (command == "init") r = OnInit ? std::to_string(OnInit()) : "0";
    else if (command == "deinit") { if (OnDeinit) OnDeinit(std::stoi(a.at(0))); }
    else if (command == "timer") {
      bool due = OnTimer && mql5rt::timer_ms > 0;
      if (due) OnTimer();
      r = due ? "true" : "false";
    }
    else if (command == "tick") { if (OnTick) OnTick(); }
    else if (command == "start") { if (OnStart) OnStart(); }
    else if (command == "calculate") {
      if (OnCalculate) { prev_calculated = Calculate(); r = std::to_string(prev_calculated); }
    }
    else if (command == "reload") prev_calculated = 0;  // the terminal recalculates everything
    else if (command == "chart") {
      long first = std::stol(a.at(0)), period = std::stol(a.at(1)), bars = std::stol(a.at(2));
      mql5rt::chart.clear();
      for (long k = 0; k < bars; k++) mql5rt::chart.push_back(first + k * period);
    }
    else if (command == "bars") {
      long period = mql5rt::PeriodSeconds(_Period);
      for (long k = 0; k < std::stol(a.at(0)); k++)
        mql5rt::chart.push_back(mql5rt::chart.empty() ? 0 : mql5rt::chart.back() + period);
    }
    else if (command == "market") mql5rt::LoadMarket(Unhex(a.at(0)), (size_t)std::stoul(a.at(1)));
    else if (command == "advance") mql5rt::Reveal((size_t)std::stoul(a.at(0)));
    else if (command == "buffer") r = Buffer((size_t)std::stoul(a.at(0)));
    else if (command == "gv" || command == "gvset") {  // a global variable, as any program of the terminal sees it
      std::string name = Unhex(a.at(0));
      if (command == "gvset") GlobalVariableSet(string(name.c_str()), std::stod(a.at(1)));
      r = GlobalVariableCheck(string(name.c_str())) ? Value(GlobalVariableGet(string(name.c_str()))) : "null";
    }
    else if (command == "comment") r = mql5rt::Json(mql5rt::comment);
    else if (command == "timer_ms") r = std::to_string(mql5rt::timer_ms);
    else if (command == "redraws") r = std::to_string(mql5rt::redraws);
    else if (command == "clock") mql5rt::Advance(std::stol(a.at(0)));
    else r = "\"unknown command\"";
    std::string log = "[";
    for (size_t i = 0; i < mql5rt::log.size(); i++) log += (i ? ", " : "") + mql5rt::Json(mql5rt::log[i]);
    mql5rt::log.clear();
    std::cout << "{\"r\": " << r << ", \"log\": " << log << "]}\n" << std::flush;
  }
  return 0;
}
