// A small MQL5 runtime in C++, so that the real mql5/ sources run in tests (tests/mql5check/native.py) after the
// line-preserving rewrite of gxx.py (T name[] -> MqlArray<T> name). It also serves g++'s type check (gxx.py).
//
// What MQL5 gives a program is reproduced here as the MQL5 Reference and the MQL5 book document it, unkind parts
// included, each with its source; where they say nothing we take the harsher reading and say so:
// - arrays stop the program on an index out of range ("array out of range" is a critical error in MQL5);
//   ArrayResize does not initialise new numeric elements (here they hold junk);
// - strings are UTF-16, as MQL5's; CharArrayToString decodes UTF-8 replacing bad sequences with U+FFFD;
// - sockets are real loopback POSIX sockets with the terminal's documented quirks: SocketIsReadable reports 1
//   byte when nothing is buffered, SocketRead returns -1 on a timeout, a timeout of 0 waits 120 s, a refused
//   connection takes the connect timeout (Windows retries the SYN), a read or send error breaks the connection;
// - the clock can be moved by hand (MQL5rtAdvance), and with MQL5_VIRTUAL_WAITS=1 the waits inside the
//   runtime (a refused connect) move it instead of sleeping, so a minute of outage is simulated in no time.
// Environment: MQL5_SYMBOL, MQL5_PERIOD (the chart), MQL5_EOF_VISIBLE=0 (SocketIsConnected does not notice a
// peer's close), MQL5_TIMEOUT_ERROR=<code> (a SocketRead timeout sets it), MQL5_VIRTUAL_WAITS=1, MQL5_GLOBALS=<file> (terminal global variables shared between
// processes), MQL5_FILES=<dir> (MQL5/Files), MQL5_COMMON_FILES=<dir> (Common/Files, FILE_COMMON), MQL5_TESTER=1
// (MQLInfoInteger(MQL_TESTER)), MQL5_INPUT_<name> (an input's value).
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <initializer_list>
#include <map>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

typedef unsigned char uchar;
typedef unsigned short ushort;
typedef unsigned int uint;
typedef unsigned long ulong;  // 64-bit on the Linux g++ this runs on, as MQL5's ulong
typedef long datetime;        // seconds since 1970, 64-bit
typedef uint color;

//--- runtime state and helpers (not MQL5)
namespace mql5rt {

inline int last_error = 0;
inline std::vector<std::string> log;     // what Print, PrintFormat wrote, taken by the driver
inline std::string comment;              // the chart comment (Comment)
inline const auto start = std::chrono::steady_clock::now();
inline long long clock_offset_us = 0;    // moved by Advance() and by virtual waits

inline std::string Env(const char *name, const char *fallback) {
  const char *v = std::getenv(name);
  return v ? std::string(v) : std::string(fallback);
}
inline bool EnvFlag(const char *name, bool fallback) {
  const char *v = std::getenv(name);
  return v ? (std::strcmp(v, "1") == 0 || std::strcmp(v, "true") == 0) : fallback;
}

// MQL5 stops a program on a critical runtime error ("array out of range", ...): so does this, visibly.
[[noreturn]] inline void Critical(const std::string &what) {
  std::fprintf(stderr, "MQL5 CRITICAL ERROR: %s\n", what.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  _exit(70);
}

inline long long NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count() +
         clock_offset_us;
}
inline void Advance(long long ms) { clock_offset_us += ms * 1000; }
// A wait inside a built-in (the terminal's thread is blocked): real, or virtual under MQL5_VIRTUAL_WAITS=1.
inline void Wait(long long ms) {
  if (ms <= 0) return;
  if (EnvFlag("MQL5_VIRTUAL_WAITS", false))
    Advance(ms);
  else
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// UTF-8 -> UTF-16 with U+FFFD for each maximal invalid subpart (the Unicode recommendation; Windows'
// MultiByteToWideChar and Python's "replace" handler do the same).
inline std::u16string FromUtf8(const unsigned char *s, size_t n) {
  std::u16string out;
  size_t i = 0;
  while (i < n) {
    unsigned b = s[i];
    if (b < 0x80) { out.push_back((char16_t)b); i++; continue; }
    int need = 0;
    unsigned lower = 0x80, upper = 0xBF, cp = 0;
    if (b >= 0xC2 && b <= 0xDF) { need = 1; cp = b & 0x1F; }
    else if (b == 0xE0) { need = 2; lower = 0xA0; cp = b & 0x0F; }
    else if (b == 0xED) { need = 2; upper = 0x9F; cp = b & 0x0F; }
    else if (b >= 0xE1 && b <= 0xEF) { need = 2; cp = b & 0x0F; }
    else if (b == 0xF0) { need = 3; lower = 0x90; cp = b & 0x07; }
    else if (b >= 0xF1 && b <= 0xF3) { need = 3; cp = b & 0x07; }
    else if (b == 0xF4) { need = 3; upper = 0x8F; cp = b & 0x07; }
    else { out.push_back(0xFFFD); i++; continue; }
    size_t j = i + 1;
    int k = 0;
    while (k < need && j < n && s[j] >= lower && s[j] <= upper) {
      cp = (cp << 6) | (s[j] & 0x3F);
      lower = 0x80; upper = 0xBF;
      j++; k++;
    }
    if (k < need) { out.push_back(0xFFFD); i = j; continue; }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back((char16_t)(0xD800 + (cp >> 10)));
      out.push_back((char16_t)(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back((char16_t)cp);
    }
    i = j;
  }
  return out;
}
inline std::u16string FromUtf8(const std::string &s) { return FromUtf8((const unsigned char *)s.data(), s.size()); }

inline std::string ToUtf8(const std::u16string &u) {
  std::string out;
  for (size_t i = 0; i < u.size(); i++) {
    unsigned cp = u[i];
    if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < u.size() && u[i + 1] >= 0xDC00 && u[i + 1] <= 0xDFFF) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (u[i + 1] - 0xDC00);
      i++;
    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
      cp = 0xFFFD;  // a lone surrogate has no UTF-8 form
    }
    if (cp < 0x80) out.push_back((char)cp);
    else if (cp < 0x800) { out.push_back((char)(0xC0 | (cp >> 6))); out.push_back((char)(0x80 | (cp & 0x3F))); }
    else if (cp < 0x10000) {
      out.push_back((char)(0xE0 | (cp >> 12)));
      out.push_back((char)(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back((char)(0x80 | (cp & 0x3F)));
    } else {
      out.push_back((char)(0xF0 | (cp >> 18)));
      out.push_back((char)(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back((char)(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back((char)(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

// A JSON string literal (for the drivers' output).
inline std::string Json(const std::string &s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') { out.push_back('\\'); out.push_back((char)c); }
    else if (c < 0x20) { char buf[8]; std::snprintf(buf, sizeof buf, "\\u%04x", c); out += buf; }
    else out.push_back((char)c);
  }
  return out + "\"";
}

}  // namespace mql5rt

//--- string: MQL5's is UTF-16 (StringLen counts UTF-16 units)
class string {
 public:
  std::u16string u;
  string() {}
  string(const char *utf8) : u(mql5rt::FromUtf8(std::string(utf8))) {}
  explicit string(std::u16string v) : u(std::move(v)) {}
  string &operator+=(const string &o) { u += o.u; return *this; }
  std::string utf8() const { return mql5rt::ToUtf8(u); }
};
inline string operator+(const string &a, const string &b) { string r(a); r += b; return r; }
inline bool operator==(const string &a, const string &b) { return a.u == b.u; }
inline bool operator!=(const string &a, const string &b) { return a.u != b.u; }
inline bool operator<(const string &a, const string &b) { return a.u < b.u; }
inline bool operator>(const string &a, const string &b) { return a.u > b.u; }

//--- T name[] of MQL5 (gxx.py rewrites array declarations and array parameters to this)
namespace mql5rt {
template <typename T> void Junk(std::vector<T> &v, size_t from) {
  // ArrayResize and a static array's declaration leave numeric elements uninitialised (MQL5 Reference,
  // ArrayInitialize exists for that): here they hold 0xCD bytes, so code that reads them before writing is seen.
  if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>)
    if (v.size() > from) std::memset((void *)(v.data() + from), 0xCD, (v.size() - from) * sizeof(T));
}
}  // namespace mql5rt

template <typename T>
class MqlArray {
 public:
  std::vector<T> v;
  bool fixed = false;   // a static array (T a[N], or T a[] = {...}): ArrayResize refuses it
  bool series = false;  // ArraySetAsSeries: index 0 is the last element
  MqlArray() {}
  MqlArray(std::initializer_list<T> values) : v(values), fixed(true) {}
  static MqlArray Fixed(int n) {
    MqlArray a;
    a.v.resize(n);
    mql5rt::Junk(a.v, 0);
    a.fixed = true;
    return a;
  }
  template <typename I> T &operator[](I i) { return v[Physical((long long)i)]; }
  template <typename I> const T &operator[](I i) const { return v[Physical((long long)i)]; }
  size_t Physical(long long i) const {
    if (i < 0 || i >= (long long)v.size())
      mql5rt::Critical("array out of range: [" + std::to_string(i) + "] of " + std::to_string(v.size()));
    return series ? v.size() - 1 - (size_t)i : (size_t)i;
  }
};

enum ENUM_TIMEFRAMES {
  PERIOD_CURRENT = 0, PERIOD_M1 = 1, PERIOD_M5 = 5, PERIOD_M15 = 15, PERIOD_M30 = 30,
  PERIOD_H1 = 16385, PERIOD_H4 = 16388, PERIOD_D1 = 16408, PERIOD_W1 = 32769, PERIOD_MN1 = 49153
};
enum ENUM_INIT_RETCODE { INIT_SUCCEEDED = 0, INIT_FAILED = 1, INIT_PARAMETERS_INCORRECT = 2 };
enum ENUM_INDEXBUFFER_TYPE { INDICATOR_DATA, INDICATOR_COLOR_INDEX, INDICATOR_CALCULATIONS };
enum ENUM_PLOT_PROPERTY_DOUBLE { PLOT_EMPTY_VALUE };
enum ENUM_CUSTOMIND_PROPERTY_STRING { INDICATOR_SHORTNAME, INDICATOR_LEVELTEXT };

const int INVALID_HANDLE = -1;
const int WHOLE_ARRAY = -1;
const uint CP_ACP = 0;
const uint CP_UTF8 = 65001;
const int FILE_READ = 1;
const int FILE_WRITE = 2;
const int FILE_BIN = 4;
const int TIME_DATE = 1;
const int TIME_MINUTES = 2;
const int TIME_SECONDS = 4;
const double EMPTY_VALUE = 1.7976931348623157e308;
// Runtime errors (MQL5 Reference, "Runtime Errors")
const int ERR_INVALID_ARRAY = 4006;
const int ERR_GLOBALVARIABLE_NOT_FOUND = 4501;
const int ERR_FUNCTION_NOT_ALLOWED = 4014;
const int ERR_NETSOCKET_INVALIDHANDLE = 5270;
const int ERR_NETSOCKET_CANNOT_CONNECT = 5272;
const int ERR_NETSOCKET_IO_ERROR = 5273;

inline string _Symbol = string(mql5rt::Env("MQL5_SYMBOL", "EURUSD").c_str());
inline ENUM_TIMEFRAMES _Period = (ENUM_TIMEFRAMES)std::atoi(mql5rt::Env("MQL5_PERIOD", "16385").c_str());

//--- Array Functions
template <typename T> int ArraySize(const MqlArray<T> &array) { return (int)array.v.size(); }
template <typename T> int ArrayResize(MqlArray<T> &array, int new_size, int reserve_size = 0) {
  (void)reserve_size;
  if (array.fixed || new_size < 0) {
    mql5rt::last_error = ERR_INVALID_ARRAY;
    return -1;
  }
  size_t old = array.v.size();
  array.v.resize((size_t)new_size);
  mql5rt::Junk(array.v, old);
  return new_size;
}
template <typename T> bool ArraySetAsSeries(MqlArray<T> &array, bool flag) { array.series = flag; return true; }
template <typename T> bool ArrayGetAsSeries(const MqlArray<T> &array) { return array.series; }
template <typename T, typename V> int ArrayInitialize(MqlArray<T> &array, V value) {
  std::fill(array.v.begin(), array.v.end(), (T)value);
  return (int)array.v.size();
}
// MQL5 Reference, ArrayCopy: a count < 0 or beyond the source copies the rest of it; a dynamic destination grows
// to fit, a static one takes what fits; returns the number of elements copied.
template <typename T> int ArrayCopy(MqlArray<T> &dst_array, const MqlArray<T> &src_array, int dst_start = 0,
                                   int src_start = 0, int count = WHOLE_ARRAY) {
  int src_size = (int)src_array.v.size();
  if (dst_start < 0 || src_start < 0 || src_start >= src_size) return 0;
  if (count < 0 || count > src_size - src_start) count = src_size - src_start;
  if (dst_start + count > (int)dst_array.v.size()) {
    if (dst_array.fixed)
      count = std::max(0, (int)dst_array.v.size() - dst_start);
    else
      dst_array.v.resize((size_t)(dst_start + count));
  }
  std::vector<T> tmp;
  for (int k = 0; k < count; k++) tmp.push_back(src_array[src_start + k]);  // the same array on both sides
  for (int k = 0; k < count; k++) dst_array[dst_start + k] = tmp[(size_t)k];
  return count;
}

//--- Conversion and String Functions
inline string CharArrayToString(const MqlArray<uchar> &array, int start = 0, int count = -1, uint codepage = CP_ACP) {
  int size = (int)array.v.size();
  if (start < 0 || start > size)
    mql5rt::Critical("CharArrayToString: start " + std::to_string(start) + " of " + std::to_string(size));
  int end = (count < 0) ? size : std::min(size, start + count);
  int stop = start;
  while (stop < end && array.v[(size_t)stop] != 0) stop++;  // the text ends at a NUL
  if (codepage == CP_UTF8) return string(mql5rt::FromUtf8(array.v.data() + start, (size_t)(stop - start)));
  std::u16string u;
  for (int i = start; i < stop; i++) u.push_back((char16_t)array.v[(size_t)i]);  // ANSI read as Latin-1 here
  return string(u);
}
// The text's bytes and a terminating NUL (count -1); a dynamic array grows to hold them. Returns the count.
inline int StringToCharArray(const string &text_string, MqlArray<uchar> &array, int start = 0, int count = -1,
                             uint codepage = CP_ACP) {
  std::string raw;
  if (codepage == CP_UTF8)
    raw = text_string.utf8();
  else
    for (char16_t c : text_string.u) raw.push_back(c < 256 ? (char)c : '?');
  raw.push_back('\0');
  if (count >= 0 && (size_t)count < raw.size()) raw.resize((size_t)count);
  if (start < 0) return 0;
  if ((size_t)start + raw.size() > array.v.size()) {
    if (array.fixed) raw.resize(array.v.size() > (size_t)start ? array.v.size() - (size_t)start : 0);
    else array.v.resize((size_t)start + raw.size());
  }
  std::memcpy(array.v.data() + start, raw.data(), raw.size());
  return (int)raw.size();
}
inline string IntegerToString(long number, int str_len = 0, ushort fill_symbol = ' ') {
  std::string s = std::to_string(number);
  while ((int)s.size() < str_len) s.insert(s.begin(), (char)fill_symbol);
  return string(s.c_str());
}
inline string DoubleToString(double value, int digits = 8) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "%.*f", digits, value);
  return string(buf);
}
inline string TimeToString(datetime value, int mode = TIME_DATE | TIME_MINUTES) {
  std::time_t t = (std::time_t)value;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64] = "";
  std::string s;
  if (mode & TIME_DATE) {
    std::snprintf(buf, sizeof buf, "%04d.%02d.%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    s = buf;
  }
  if (mode & (TIME_MINUTES | TIME_SECONDS)) {
    if (!s.empty()) s += " ";
    std::snprintf(buf, sizeof buf, (mode & TIME_SECONDS) ? "%02d:%02d:%02d" : "%02d:%02d", tm.tm_hour, tm.tm_min,
                  tm.tm_sec);
    s += buf;
  }
  return string(s.c_str());
}
inline int StringLen(const string &string_value) { return (int)string_value.u.size(); }
inline string StringSubstr(const string &string_value, int start_pos, int length = -1) {
  int size = (int)string_value.u.size();
  if (start_pos < 0 || start_pos >= size) return string();
  int n = (length < 0) ? size - start_pos : std::min(length, size - start_pos);
  return string(string_value.u.substr((size_t)start_pos, (size_t)n));
}
// MQL5 Reference: no separator gives the whole string as one element; an empty string gives 0 elements.
inline int StringSplit(const string &string_value, ushort separator, MqlArray<string> &result) {
  result.v.clear();
  if (string_value.u.empty()) return 0;
  std::u16string part;
  for (char16_t c : string_value.u) {
    if (c == separator) { result.v.push_back(string(part)); part.clear(); }
    else part.push_back(c);
  }
  result.v.push_back(string(part));
  return (int)result.v.size();
}
inline bool StringToLower(string &string_var) {
  for (auto &c : string_var.u)
    if (c >= 'A' && c <= 'Z') c = (char16_t)(c - 'A' + 'a');
  return true;
}
inline bool IsSpace(char16_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
inline int StringTrimLeft(string &string_var) {
  size_t n = 0;
  while (n < string_var.u.size() && IsSpace(string_var.u[n])) n++;
  string_var.u.erase(0, n);
  return (int)n;
}
inline int StringTrimRight(string &string_var) {
  size_t n = 0;
  while (n < string_var.u.size() && IsSpace(string_var.u[string_var.u.size() - 1 - n])) n++;
  string_var.u.resize(string_var.u.size() - n);
  return (int)n;
}

//--- StringFormat, Print: printf conversions with MQL5's I64 size prefix. Without it (or ll), %d and %u take a
// 32-bit value, as MQL5 documents I64 for long and ulong: a 64-bit value under plain %d is cut here, visibly.
namespace mql5rt {
struct Arg {
  enum Kind { I, U, D, S } kind = I;
  long long i = 0;
  unsigned long long u = 0;
  double d = 0;
  std::string s;
};
template <typename T> Arg MakeArg(const T &value) {
  using V = std::decay_t<T>;
  Arg a;
  if constexpr (std::is_same_v<V, string>) { a.kind = Arg::S; a.s = value.utf8(); }
  else if constexpr (std::is_same_v<V, const char *> || std::is_same_v<V, char *>) { a.kind = Arg::S; a.s = value; }
  else if constexpr (std::is_enum_v<V>) { a.kind = Arg::I; a.i = (long long)value; }
  else if constexpr (std::is_same_v<V, bool>) { a.kind = Arg::S; a.s = value ? "true" : "false"; a.i = value; }
  else if constexpr (std::is_floating_point_v<V>) { a.kind = Arg::D; a.d = (double)value; }
  else if constexpr (std::is_integral_v<V> && std::is_signed_v<V>) { a.kind = Arg::I; a.i = (long long)value; }
  else if constexpr (std::is_integral_v<V>) { a.kind = Arg::U; a.u = (unsigned long long)value; }
  else static_assert(sizeof(V) == 0, "no MQL5 conversion for this argument");
  return a;
}
inline std::string Text(const Arg &a) {
  char buf[64];
  switch (a.kind) {
    case Arg::I: return std::to_string(a.i);
    case Arg::U: return std::to_string(a.u);
    case Arg::D: std::snprintf(buf, sizeof buf, "%.16g", a.d); return buf;
    default: return a.s;
  }
}
inline std::string Format(const std::string &fmt, const std::vector<Arg> &args) {
  std::string out;
  size_t next = 0;
  for (size_t p = 0; p < fmt.size(); p++) {
    if (fmt[p] != '%') { out.push_back(fmt[p]); continue; }
    if (p + 1 < fmt.size() && fmt[p + 1] == '%') { out.push_back('%'); p++; continue; }
    size_t q = p + 1;
    std::string spec = "%";
    while (q < fmt.size() && std::strchr("-+ #0", fmt[q])) spec.push_back(fmt[q++]);
    while (q < fmt.size() && (std::isdigit((unsigned char)fmt[q]) || fmt[q] == '.')) spec.push_back(fmt[q++]);
    bool wide = false;
    if (fmt.compare(q, 3, "I64") == 0) { wide = true; q += 3; }
    else if (fmt.compare(q, 2, "ll") == 0) { wide = true; q += 2; }
    else if (q < fmt.size() && (fmt[q] == 'l' || fmt[q] == 'h')) q++;
    if (q >= fmt.size()) break;
    char conv = fmt[q];
    p = q;
    Arg a = next < args.size() ? args[next++] : Arg();
    char buf[512];
    if (std::strchr("di", conv)) {
      long long v = a.kind == Arg::I ? a.i : a.kind == Arg::U ? (long long)a.u : a.kind == Arg::D ? (long long)a.d : a.i;
      if (!wide) v = (int)v;
      std::snprintf(buf, sizeof buf, (spec + "lld").c_str(), v);
    } else if (std::strchr("uxXo", conv)) {
      unsigned long long v = a.kind == Arg::U ? a.u : a.kind == Arg::D ? (unsigned long long)a.d : (unsigned long long)a.i;
      if (!wide) v = (unsigned int)v;
      std::snprintf(buf, sizeof buf, (spec + "ll" + conv).c_str(), v);
    } else if (std::strchr("eEfFgGaA", conv)) {
      double v = a.kind == Arg::D ? a.d : a.kind == Arg::U ? (double)a.u : (double)a.i;
      std::snprintf(buf, sizeof buf, (spec + conv).c_str(), v);
    } else if (conv == 'c') {
      std::snprintf(buf, sizeof buf, "%c", (int)(a.kind == Arg::U ? a.u : a.i));
    } else {
      std::snprintf(buf, sizeof buf, (spec + "s").c_str(), Text(a).c_str());
    }
    out += buf;
  }
  return out;
}
}  // namespace mql5rt

template <typename... A> string StringFormat(const string &format, const A &...args) {
  return string(mql5rt::Format(format.utf8(), {mql5rt::MakeArg(args)...}).c_str());
}
template <typename... A> void Print(const A &...args) {
  std::string line;
  ((line += mql5rt::Text(mql5rt::MakeArg(args))), ...);
  mql5rt::log.push_back(line);
}
template <typename... A> void PrintFormat(const string &format, const A &...args) {
  mql5rt::log.push_back(mql5rt::Format(format.utf8(), {mql5rt::MakeArg(args)...}));
}
template <typename... A> void Comment(const A &...args) {
  std::string text;
  ((text += mql5rt::Text(mql5rt::MakeArg(args))), ...);
  mql5rt::comment = text;
}

//--- Math
inline bool MathIsValidNumber(double number) { return std::isfinite(number); }
inline double MathSqrt(double value) { return std::sqrt(value); }
inline double MathAbs(double value) { return std::fabs(value); }
template <typename T> T MathMax(T a, T b) { return a > b ? a : b; }
template <typename T> T MathMin(T a, T b) { return a < b ? a : b; }

//--- Common, Checkup
inline int GetLastError() { return mql5rt::last_error; }
inline void ResetLastError() { mql5rt::last_error = 0; }
inline ulong GetTickCount64() { return (ulong)(mql5rt::NowUs() / 1000); }
inline uint GetTickCount() { return (uint)(mql5rt::NowUs() / 1000); }
inline ulong GetMicrosecondCount() { return (ulong)mql5rt::NowUs(); }

//--- Events: one timer per program (the driver calls OnTimer at this period)
namespace mql5rt { inline int timer_ms = 0; }
inline bool EventSetMillisecondTimer(int milliseconds) {
  if (milliseconds <= 0) return false;
  mql5rt::timer_ms = milliseconds;
  return true;
}
inline bool EventSetTimer(int seconds) { return seconds > 0 && EventSetMillisecondTimer(seconds * 1000); }
inline void EventKillTimer() { mql5rt::timer_ms = 0; }

//--- Network Functions over POSIX sockets, with the terminal's documented behaviour
namespace mql5rt {
struct Socket {
  int fd = -1;
  bool connected = false;
  bool broken = false;  // a read or send error happened: the connection is gone (MQL5 Reference, SocketRead)
};
inline std::map<int, Socket> sockets;
inline int next_socket = 1;
inline Socket *FindSocket(int handle) {
  auto it = sockets.find(handle);
  if (it == sockets.end()) { last_error = ERR_NETSOCKET_INVALIDHANDLE; return nullptr; }
  return &it->second;
}
inline void Break(Socket &s) {
  s.broken = true;
  s.connected = false;
  last_error = ERR_NETSOCKET_IO_ERROR;
}
}  // namespace mql5rt

inline int SocketCreate(uint flags = 0) {
  (void)flags;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return INVALID_HANDLE;
  int handle = mql5rt::next_socket++;
  mql5rt::sockets[handle].fd = fd;
  return handle;
}
// Blocks up to timeout_receive_ms, as the terminal's does. A refused connection does not fail at once: Windows
// retries the SYN for about 2 s even on loopback (libuv/libuv#2896: "On Windows when connecting to an
// unavailable port, the connect() will retry for 2s, even on loopback devices"), so the terminal's thread waits
// min(timeout, 2 s) before the error. Linux refuses at once; the rest of that wait is added here.
inline bool SocketConnect(int socket, const string &server, uint port, uint timeout_receive_ms) {
  mql5rt::Socket *s = mql5rt::FindSocket(socket);
  if (s == nullptr) return false;
  long long began = mql5rt::NowUs();
  auto fail = [&](bool refused) {
    if (refused) {
      long long waited = (mql5rt::NowUs() - began) / 1000;
      mql5rt::Wait(std::min<long long>(timeout_receive_ms, 2000) - waited);
    }
    mql5rt::last_error = ERR_NETSOCKET_CANNOT_CONNECT;
    return false;
  };
  addrinfo hints{}, *found = nullptr;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(server.utf8().c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || found == nullptr)
    return fail(false);
  sockaddr_in address = *(sockaddr_in *)found->ai_addr;
  freeaddrinfo(found);
  int fl = fcntl(s->fd, F_GETFL, 0);
  fcntl(s->fd, F_SETFL, fl | O_NONBLOCK);
  if (::connect(s->fd, (sockaddr *)&address, sizeof address) != 0) {
    if (errno != EINPROGRESS) return fail(errno == ECONNREFUSED);
    pollfd p{s->fd, POLLOUT, 0};
    if (::poll(&p, 1, (int)timeout_receive_ms) <= 0) return fail(false);
    int error = 0;
    socklen_t len = sizeof error;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) return fail(error == ECONNREFUSED);
  }
  s->connected = true;
  return true;
}
// With MQL5_EOF_VISIBLE=0 it stays true after the peer's close (until an error or SocketClose): a terminal may
// not notice, so the code must not rely on it.
inline bool SocketIsConnected(int socket) {
  mql5rt::Socket *s = mql5rt::FindSocket(socket);
  if (s == nullptr || !s->connected || s->broken) return false;
  if (!mql5rt::EnvFlag("MQL5_EOF_VISIBLE", true)) return true;
  char c;
  ssize_t r = ::recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (r == 0) return false;
  if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
  return true;
}
// The MQL5 book (Network functions, "Checking socket status"): "With an empty system socket buffer, it
// speculatively returns 1, deferring the actual check for data availability until the next call to one of the
// read functions ... as a rule, the first time a function is called on a socket". Here: every time it is empty.
inline uint SocketIsReadable(int socket) {
  mql5rt::Socket *s = mql5rt::FindSocket(socket);
  if (s == nullptr) return 0;
  if (s->broken) { mql5rt::last_error = ERR_NETSOCKET_IO_ERROR; return 0; }
  int n = 0;
  if (ioctl(s->fd, FIONREAD, &n) != 0) { mql5rt::Break(*s); return 0; }
  return n > 0 ? (uint)n : 1u;
}
// MQL5 Reference and book, SocketRead: waits up to timeout_ms; nothing within it returns -1 (no error code is
// documented for that case); an error returns -1 with ERR_NETSOCKET_IO_ERROR and breaks the connection (a closed
// peer is one); a timeout of 0 means the default, 120000 ms. A dynamic buffer "increases by the number of bytes
// read": taken literally, the bytes are appended to what the array held.
inline int SocketRead(int socket, MqlArray<uchar> &buffer, uint buffer_maxlen, uint timeout_ms) {
  mql5rt::Socket *s = mql5rt::FindSocket(socket);
  if (s == nullptr) return -1;
  if (s->broken || buffer_maxlen == 0) { mql5rt::last_error = ERR_NETSOCKET_IO_ERROR; return -1; }
  long long wait_ms = timeout_ms == 0 ? 120000 : timeout_ms;
  pollfd p{s->fd, POLLIN, 0};
  // the timeout: no error code is documented for it; MQL5_TIMEOUT_ERROR=5273 tries a terminal that sets one
  auto timeout = [] {
    int code = std::atoi(mql5rt::Env("MQL5_TIMEOUT_ERROR", "0").c_str());
    if (code != 0) mql5rt::last_error = code;
    return -1;
  };
  int ready = ::poll(&p, 1, (int)wait_ms);
  if (ready == 0) return timeout();
  std::vector<uchar> data(buffer_maxlen);
  ssize_t got = ::recv(s->fd, data.data(), buffer_maxlen, MSG_DONTWAIT);
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return timeout();
  if (got <= 0) { mql5rt::Break(*s); return -1; }
  size_t at = buffer.fixed ? 0 : buffer.v.size();
  if (buffer.fixed && (size_t)got > buffer.v.size()) got = (ssize_t)buffer.v.size();
  if (!buffer.fixed) buffer.v.resize(at + (size_t)got);
  std::memcpy(buffer.v.data() + at, data.data(), (size_t)got);
  return (int)got;
}
// Bytes sent (0 when the socket's buffer is full), -1 on an error, which breaks the connection.
inline int SocketSend(int socket, const MqlArray<uchar> &buffer, uint buffer_len) {
  mql5rt::Socket *s = mql5rt::FindSocket(socket);
  if (s == nullptr) return -1;
  if (s->broken || !s->connected) { mql5rt::last_error = ERR_NETSOCKET_IO_ERROR; return -1; }
  if (buffer_len > buffer.v.size()) mql5rt::Critical("SocketSend: buffer_len beyond the array");
  ssize_t sent = ::send(s->fd, buffer.v.data(), buffer_len, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
  if (sent < 0) { mql5rt::Break(*s); return -1; }
  return (int)sent;
}
inline bool SocketClose(int socket) {
  mql5rt::Socket *s = mql5rt::FindSocket(socket);
  if (s == nullptr) return false;
  ::close(s->fd);
  mql5rt::sockets.erase(socket);
  return true;
}
inline bool SocketTimeouts(int socket, uint timeout_send_ms, uint timeout_receive_ms) {
  (void)timeout_send_ms;
  (void)timeout_receive_ms;
  return mql5rt::FindSocket(socket) != nullptr;
}

//--- File Functions: MQL5/Files is MQL5_FILES, the terminals' common Files folder (FILE_COMMON) MQL5_COMMON_FILES;
// names use '\' as on Windows. Without MQL5_COMMON_FILES a FILE_COMMON name cannot be opened (a test that forgets it
// fails instead of reading MQL5/Files by mistake). Error codes: MQL5 Reference, "Runtime Errors".
#include <dirent.h>
const int FILE_SHARE_READ = 128;  // MQL5 Reference, "File Opening Flags"
const int FILE_COMMON = 4096;
const int ERR_TOO_MANY_FILES = 5001;      // "More than 64 files cannot be opened at the same time"
const int ERR_WRONG_FILENAME = 5002;
const int ERR_CANNOT_OPEN_FILE = 5004;
const int ERR_INVALID_FILEHANDLE = 5007;  // "A file with this handle was closed, or was not opening at all"
const int ERR_FILE_IS_DIRECTORY = 5018;
// SEEK_SET, SEEK_CUR, SEEK_END (ENUM_FILE_POSITION) are <cstdio>'s macros here, with MQL5's values 0, 1, 2.
namespace mql5rt {
struct File {
  std::FILE *f = nullptr;
  std::string path;
  int flags = 0;
};
inline std::map<int, File> files;
inline int next_file = 1;
// The host path of an MQL5 file name; "" when the terminal refuses the name (absolute, or climbing out of the
// sandbox with "..": MQL5 programs reach only their Files folders) or the common folder is not set.
inline std::string FilePath(const string &file_name, int flags) {
  std::string name = file_name.utf8();
  std::replace(name.begin(), name.end(), '\\', '/');
  if (name.empty() || name[0] == '/' || name.find(':') != std::string::npos || ("/" + name + "/").find("/../") !=
      std::string::npos)
    return "";
  std::string root = Env((flags & FILE_COMMON) ? "MQL5_COMMON_FILES" : "MQL5_FILES", (flags & FILE_COMMON) ? "" : ".");
  return root.empty() ? "" : root + "/" + name;
}
inline File *FindFile(int handle) {
  auto it = files.find(handle);
  if (it == files.end()) { last_error = ERR_INVALID_FILEHANDLE; return nullptr; }
  return &it->second;
}
}  // namespace mql5rt
// Windows sharing, as the terminal opens files: a second handle on an open file is refused unless both were opened
// for reading only with FILE_SHARE_READ (the tester's agents read one common file at once: each needs the flag).
inline int FileOpen(const string &file_name, int open_flags, short delimiter = '\t', uint codepage = CP_ACP) {
  (void)delimiter;
  (void)codepage;
  std::string path = mql5rt::FilePath(file_name, open_flags);
  if (path.empty()) {
    mql5rt::last_error = (open_flags & FILE_COMMON) ? ERR_CANNOT_OPEN_FILE : ERR_WRONG_FILENAME;
    return INVALID_HANDLE;
  }
  if (mql5rt::files.size() >= 64) { mql5rt::last_error = ERR_TOO_MANY_FILES; return INVALID_HANDLE; }
  struct stat st{};
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) { mql5rt::last_error = ERR_FILE_IS_DIRECTORY; return INVALID_HANDLE; }
  auto shared = [](int flags) { return (flags & FILE_SHARE_READ) && !(flags & FILE_WRITE); };
  for (auto &kv : mql5rt::files)
    if (kv.second.path == path && !(shared(kv.second.flags) && shared(open_flags))) {
      mql5rt::last_error = ERR_CANNOT_OPEN_FILE;
      return INVALID_HANDLE;
    }
  std::FILE *f = std::fopen(path.c_str(), (open_flags & FILE_WRITE) ? "wb" : "rb");
  if (f == nullptr) { mql5rt::last_error = ERR_CANNOT_OPEN_FILE; return INVALID_HANDLE; }
  int handle = mql5rt::next_file++;
  mql5rt::files[handle] = mql5rt::File{f, path, open_flags};
  return handle;
}
inline ulong FileSize(int file_handle) {
  mql5rt::File *file = mql5rt::FindFile(file_handle);
  if (file == nullptr) return 0;
  struct stat st{};
  fstat(fileno(file->f), &st);
  return (ulong)st.st_size;
}
// MQL5 Reference, FileSeek: a position before the start of the file is set to the start; one beyond its end is
// allowed (a read there gets nothing). An unknown origin fails (ERR_INVALID_PARAMETER, 4003: the harsher reading).
inline bool FileSeek(int file_handle, long offset, int origin) {
  mql5rt::File *file = mql5rt::FindFile(file_handle);
  if (file == nullptr) return false;
  long base;
  if (origin == SEEK_SET) base = 0;
  else if (origin == SEEK_CUR) base = std::ftell(file->f);
  else if (origin == SEEK_END) base = (long)FileSize(file_handle);
  else { mql5rt::last_error = 4003; return false; }
  return std::fseek(file->f, std::max(0L, base + offset), SEEK_SET) == 0;
}
// Reads whole elements up to `count` (the rest of the file for WHOLE_ARRAY) and returns how many: fewer at the end
// of the file, with no error code (none is documented for it); a dynamic array grows to hold them.
template <typename T> uint FileReadArray(int file_handle, MqlArray<T> &array, int start = 0, int count = WHOLE_ARRAY) {
  mql5rt::File *file = mql5rt::FindFile(file_handle);
  if (file == nullptr || start < 0) return 0;
  std::vector<T> data;
  T item;
  while ((count < 0 || (int)data.size() < count) && std::fread(&item, sizeof(T), 1, file->f) == 1)
    data.push_back(item);
  if (array.v.size() < (size_t)start + data.size()) {
    if (array.fixed) data.resize(array.v.size() > (size_t)start ? array.v.size() - (size_t)start : 0);
    else array.v.resize((size_t)start + data.size());
  }
  std::copy(data.begin(), data.end(), array.v.begin() + start);
  return (uint)data.size();
}
inline void FileClose(int file_handle) {
  mql5rt::File *file = mql5rt::FindFile(file_handle);
  if (file == nullptr) return;
  std::fclose(file->f);
  mql5rt::files.erase(file_handle);
}
// The MQL5 book, "Searching for files and folders": '*' stands for any run of characters, '?' for at most one;
// folders are found too, their names ending with '\'; names without their folder. Windows compares without case.
// The order is not documented: here the reverse of the name order, so code that needs an order must sort. No match:
// INVALID_HANDLE (error code undocumented: ERR_FILE_NOT_EXIST, 5019, here).
namespace mql5rt {
struct Search {
  std::vector<std::string> names;
  size_t next = 0;
};
inline std::map<long, Search> searches;
inline long next_search = 1;
inline bool Matches(const char *pattern, const char *name) {
  if (*pattern == '\0') return *name == '\0';
  if (*pattern == '*') return Matches(pattern + 1, name) || (*name != '\0' && Matches(pattern, name + 1));
  if (*pattern == '?') return Matches(pattern + 1, name) || (*name != '\0' && Matches(pattern + 1, name + 1));
  return *name != '\0' && std::tolower((unsigned char)*pattern) == std::tolower((unsigned char)*name) &&
         Matches(pattern + 1, name + 1);
}
}  // namespace mql5rt
inline long FileFindFirst(const string &file_filter, string &returned_filename, int common_flag = 0) {
  std::string filter = file_filter.utf8();
  size_t cut = filter.find_last_of('\\');
  std::string folder = cut == std::string::npos ? "" : filter.substr(0, cut), pattern = filter.substr(cut + 1);
  std::string path = mql5rt::FilePath(string((folder.empty() ? "." : folder).c_str()), common_flag);
  mql5rt::Search search;
  DIR *dir = path.empty() ? nullptr : opendir(path.c_str());
  for (dirent *e = dir ? readdir(dir) : nullptr; e != nullptr; e = readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || !mql5rt::Matches(pattern.c_str(), name.c_str())) continue;
    struct stat st{};
    bool is_dir = stat((path + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    search.names.push_back(is_dir ? name + "\\" : name);
  }
  if (dir) closedir(dir);
  if (search.names.empty()) { mql5rt::last_error = 5019; return INVALID_HANDLE; }
  std::sort(search.names.rbegin(), search.names.rend());
  returned_filename = string(search.names[0].c_str());
  search.next = 1;
  long handle = mql5rt::next_search++;
  mql5rt::searches[handle] = search;
  return handle;
}
inline bool FileFindNext(long search_handle, string &returned_filename) {
  auto it = mql5rt::searches.find(search_handle);
  if (it == mql5rt::searches.end() || it->second.next >= it->second.names.size()) return false;
  returned_filename = string(it->second.names[it->second.next++].c_str());
  return true;
}
inline void FileFindClose(long search_handle) { mql5rt::searches.erase(search_handle); }

//--- Checkup: MQLInfoInteger(MQL_TESTER) is 1 under MQL5_TESTER=1 (the program runs in the Strategy Tester)
enum ENUM_MQL_INFO_INTEGER { MQL_TESTER };
inline int MQLInfoInteger(ENUM_MQL_INFO_INTEGER property_id) {
  return property_id == MQL_TESTER && mql5rt::EnvFlag("MQL5_TESTER", false) ? 1 : 0;
}

//--- Global Variables of the Terminal: one store per terminal; with MQL5_GLOBALS, a file that several
// processes (an EA and an indicator) share, re-read before each access and rewritten after each change.
namespace mql5rt {
inline std::map<std::string, double> globals;
inline void LoadGlobals() {
  std::string path = Env("MQL5_GLOBALS", "");
  if (path.empty()) return;
  std::FILE *f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return;
  globals.clear();
  char name[256];
  double value;
  while (std::fscanf(f, "%255s %lf", name, &value) == 2) globals[name] = value;
  std::fclose(f);
}
inline void SaveGlobals() {
  std::string path = Env("MQL5_GLOBALS", "");
  if (path.empty()) return;
  std::string tmp = path + ".tmp" + std::to_string(getpid());
  std::FILE *f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return;
  for (auto &kv : globals) std::fprintf(f, "%s %.17g\n", kv.first.c_str(), kv.second);
  std::fclose(f);
  std::rename(tmp.c_str(), path.c_str());
}
}  // namespace mql5rt
// The MQL5 book (Client terminal global variables): a name is "no more than 63 characters". A longer one fails
// here (the terminal's error code for it is not documented).
inline datetime GlobalVariableSet(const string &name, double value) {
  std::string key = name.utf8();
  if (name.u.size() > 63 || key.find_first_of(" \t\n") != std::string::npos) {
    mql5rt::last_error = ERR_GLOBALVARIABLE_NOT_FOUND;
    return 0;
  }
  mql5rt::LoadGlobals();
  mql5rt::globals[key] = value;
  mql5rt::SaveGlobals();
  return (datetime)std::time(nullptr);
}
inline bool GlobalVariableCheck(const string &name) {
  mql5rt::LoadGlobals();
  return mql5rt::globals.count(name.utf8()) > 0;
}
inline double GlobalVariableGet(const string &name) {
  mql5rt::LoadGlobals();
  auto it = mql5rt::globals.find(name.utf8());
  if (it == mql5rt::globals.end()) { mql5rt::last_error = ERR_GLOBALVARIABLE_NOT_FOUND; return 0; }
  return it->second;
}
inline bool GlobalVariableDel(const string &name) {
  mql5rt::LoadGlobals();
  bool had = mql5rt::globals.erase(name.utf8()) > 0;
  mql5rt::SaveGlobals();
  return had;
}

//--- Timeseries: one chart (_Symbol, _Period), its bars' open times oldest first, set by the driver
namespace mql5rt {
inline std::vector<datetime> chart;
inline int redraws = 0;
inline int PeriodSeconds(int tf) {
  if (tf == 0) tf = _Period;
  if (tf < 0x4000) return tf * 60;
  if ((tf & 0xC000) == 0x4000) return (tf & 0x3FFF) * 3600;
  if ((tf & 0xC000) == 0x8000) return 7 * 86400;
  return 30 * 86400;
}
}  // namespace mql5rt
inline int PeriodSeconds(ENUM_TIMEFRAMES period = PERIOD_CURRENT) { return mql5rt::PeriodSeconds(period); }
inline int Bars(const string &symbol, ENUM_TIMEFRAMES timeframe) {
  (void)symbol; (void)timeframe;
  return (int)mql5rt::chart.size();
}
// shift counts from the newest bar (0), as in a timeseries.
inline datetime iTime(const string &symbol, ENUM_TIMEFRAMES timeframe, int shift) {
  (void)symbol; (void)timeframe;
  int n = (int)mql5rt::chart.size();
  if (shift < 0 || shift >= n) return 0;
  return mql5rt::chart[(size_t)(n - 1 - shift)];
}
// MQL5 Reference, iBarShift: the bar the time falls into; without one, exact=true gives -1, exact=false the nearest
// older bar (-1 when there is none).
inline int iBarShift(const string &symbol, ENUM_TIMEFRAMES timeframe, datetime time, bool exact = false) {
  (void)symbol;
  const auto &c = mql5rt::chart;
  auto it = std::upper_bound(c.begin(), c.end(), time);  // first bar opening after time
  if (it == c.begin()) return -1;
  size_t i = (size_t)(it - c.begin()) - 1;
  bool inside = time < c[i] + mql5rt::PeriodSeconds(timeframe);
  if (exact && !inside) return -1;
  return (int)(c.size() - 1 - i);
}
// MQL5 Reference, CopyTime (by start and stop time): the open times of the bars in [start_time, stop_time], copied
// "so that the oldest element will be located at the start of the physical memory allocated for the array" whatever
// its series flag; a dynamic array is resized to them, a static one too small fails (the harsher reading). Only the
// chart's own symbol and period have bars here (other ones: -1, ERR_HISTORY_NOT_FOUND 4401, as CopyRates in
// mql5_runtime_market.h); no bar in the range, or stop before start: -1 too (the Reference promises nothing else).
inline int CopyTime(const string &symbol_name, ENUM_TIMEFRAMES timeframe, datetime start_time, datetime stop_time,
                    MqlArray<datetime> &time_array) {
  const auto &c = mql5rt::chart;
  auto first = std::lower_bound(c.begin(), c.end(), start_time), last = std::upper_bound(c.begin(), c.end(), stop_time);
  bool ours = symbol_name == _Symbol && (timeframe == PERIOD_CURRENT || timeframe == _Period);
  if (!ours || stop_time < start_time || first >= last) { mql5rt::last_error = 4401; return -1; }
  size_t n = (size_t)(last - first);
  if (time_array.fixed && time_array.v.size() < n) { mql5rt::last_error = 5052; return -1; }  // ERR_SMALL_ARRAY
  if (!time_array.fixed) time_array.v.resize(n);
  std::copy(first, last, time_array.v.begin());
  return (int)n;
}
// MQL5 Reference, TimeCurrent: the last known server time; in the Strategy Tester the simulated one. Here the time
// the driver sets (mql5rt::server_time), never before the chart's newest bar opened.
namespace mql5rt { inline datetime server_time = 0; }
inline datetime TimeCurrent() { return std::max(mql5rt::server_time, mql5rt::chart.empty() ? 0L : mql5rt::chart.back()); }
inline void ChartRedraw(long chart_id = 0) { (void)chart_id; mql5rt::redraws++; }

//--- Custom Indicators: the buffers the terminal sizes to rates_total
namespace mql5rt {
inline std::vector<MqlArray<double> *> buffers;
inline std::map<int, double> plot_empty;
inline std::string short_name;
}  // namespace mql5rt
inline bool SetIndexBuffer(int index, MqlArray<double> &buffer, ENUM_INDEXBUFFER_TYPE data_type = INDICATOR_DATA) {
  (void)data_type;
  if (index < 0) return false;
  if ((size_t)index >= mql5rt::buffers.size()) mql5rt::buffers.resize((size_t)index + 1, nullptr);
  mql5rt::buffers[(size_t)index] = &buffer;
  buffer.fixed = true;  // MQL5 Reference: the terminal manages an indicator buffer's size, not ArrayResize
  return true;
}
inline bool PlotIndexSetDouble(int plot_index, ENUM_PLOT_PROPERTY_DOUBLE prop_id, double prop_value) {
  (void)prop_id;
  mql5rt::plot_empty[plot_index] = prop_value;
  return true;
}
inline bool IndicatorSetString(ENUM_CUSTOMIND_PROPERTY_STRING prop_id, const string &prop_value) {
  if (prop_id == INDICATOR_SHORTNAME) mql5rt::short_name = prop_value.utf8();
  return true;
}

//--- input variables: gxx.py's runtime rewrite turns `input T name = value;` into
// `T name = mql5rt::Input<T>("name", value);`, so a test sets an input through MQL5_INPUT_<name>.
namespace mql5rt {
template <typename T, typename D> T Input(const char *name, const D &fallback) {
  const char *v = std::getenv((std::string("MQL5_INPUT_") + name).c_str());
  if (v == nullptr) return T(fallback);
  if constexpr (std::is_same_v<T, string>) return string(v);
  else if constexpr (std::is_same_v<T, bool>) return std::strcmp(v, "true") == 0 || std::strcmp(v, "1") == 0;
  else if constexpr (std::is_floating_point_v<T>) return (T)std::atof(v);
  else return (T)std::atoll(v);
}
}  // namespace mql5rt

#include "mql5_runtime_market.h"  // the chart's bars, indicators, ONNX, #resource (the in-EA encoder)
