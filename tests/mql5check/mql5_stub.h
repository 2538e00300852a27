// The MQL5 built-ins our files use, declared for g++ -fsyntax-only (tests/mql5check/gxx.py). Only their
// signatures matter: nothing here runs. Names and parameter lists follow the MQL5 Reference.
#include <initializer_list>
#include <string>
#include <vector>

typedef unsigned char uchar;
typedef unsigned short ushort;
typedef unsigned int uint;
typedef unsigned long ulong;  // 64-bit on the Linux g++ this runs on, as MQL5's ulong
typedef long datetime;        // seconds since 1970, 64-bit
typedef uint color;

class string {
 public:
  string() {}
  string(const char *s) : s_(s) {}
  string operator+(const string &o) const { return string((s_ + o.s_).c_str()); }
  string &operator+=(const string &o) { s_ += o.s_; return *this; }
  bool operator==(const string &o) const { return s_ == o.s_; }
  bool operator!=(const string &o) const { return s_ != o.s_; }
 private:
  std::string s_;
};
inline string operator+(const char *a, const string &b) { return string(a) + b; }
inline bool operator==(const char *a, const string &b) { return b == string(a); }
inline bool operator!=(const char *a, const string &b) { return b != string(a); }

// T name[] of MQL5 (gxx.py rewrites array declarations and array parameters to this).
template <typename T>
class MqlArray {
 public:
  MqlArray() {}
  MqlArray(std::initializer_list<T> values) : v_(values) {}
  static MqlArray Fixed(int n) { MqlArray a; a.v_.resize(n); return a; }
  T &operator[](int i) { return v_[i]; }
  const T &operator[](int i) const { return v_[i]; }
 private:
  std::vector<T> v_;
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
const uint CP_UTF8 = 65001;
const int FILE_READ = 1;
const int FILE_BIN = 4;
const double EMPTY_VALUE = 1.7976931348623157e308;

extern string _Symbol;
extern ENUM_TIMEFRAMES _Period;

// Array Functions
template <typename T> int ArraySize(const MqlArray<T> &array);
template <typename T> int ArrayResize(MqlArray<T> &array, int new_size, int reserve_size = 0);
template <typename T> int ArrayCopy(MqlArray<T> &dst_array, const MqlArray<T> &src_array, int dst_start = 0,
                                   int src_start = 0, int count = WHOLE_ARRAY);
// Conversion and String Functions
string CharArrayToString(const MqlArray<uchar> &array, int start = 0, int count = -1, uint codepage = 0);
int StringToCharArray(const string &text_string, MqlArray<uchar> &array, int start = 0, int count = -1,
                      uint codepage = 0);
string IntegerToString(long number, int str_len = 0, ushort fill_symbol = ' ');
string TimeToString(datetime value, int mode = 3);
template <typename... A> string StringFormat(const string &format, const A &...args);
int StringLen(const string &string_value);
string StringSubstr(const string &string_value, int start_pos, int length = -1);
int StringSplit(const string &string_value, ushort separator, MqlArray<string> &result);
bool StringToLower(string &string_var);
int StringTrimLeft(string &string_var);
int StringTrimRight(string &string_var);
// Math
bool MathIsValidNumber(double number);
double MathSqrt(double value);
// Common, Checkup, Events
int GetLastError();
void ResetLastError();
ulong GetTickCount64();
template <typename... A> void Print(const A &...args);
template <typename... A> void PrintFormat(const string &format, const A &...args);
template <typename... A> void Comment(const A &...args);
bool EventSetMillisecondTimer(int milliseconds);
void EventKillTimer();
// Network Functions
int SocketCreate(uint flags = 0);
bool SocketConnect(int socket, const string &server, uint port, uint timeout_receive_ms);
bool SocketIsConnected(int socket);
uint SocketIsReadable(int socket);
int SocketRead(int socket, MqlArray<uchar> &buffer, uint buffer_maxlen, uint timeout_ms);
int SocketSend(int socket, const MqlArray<uchar> &buffer, uint buffer_len);
bool SocketClose(int socket);
bool SocketTimeouts(int socket, uint timeout_send_ms, uint timeout_receive_ms);
// File Functions
int FileOpen(const string &file_name, int open_flags, short delimiter = '\t', uint codepage = 0);
ulong FileSize(int file_handle);
template <typename T> uint FileReadArray(int file_handle, MqlArray<T> &array, int start = 0, int count = WHOLE_ARRAY);
void FileClose(int file_handle);
// Global Variables of the Terminal
datetime GlobalVariableSet(const string &name, double value);
double GlobalVariableGet(const string &name);
bool GlobalVariableCheck(const string &name);
// Timeseries and Custom Indicators
datetime iTime(const string &symbol, ENUM_TIMEFRAMES timeframe, int shift);
int iBarShift(const string &symbol, ENUM_TIMEFRAMES timeframe, datetime time, bool exact = false);
bool SetIndexBuffer(int index, MqlArray<double> &buffer, ENUM_INDEXBUFFER_TYPE data_type = INDICATOR_DATA);
bool PlotIndexSetDouble(int plot_index, ENUM_PLOT_PROPERTY_DOUBLE prop_id, double prop_value);
bool IndicatorSetString(ENUM_CUSTOMIND_PROPERTY_STRING prop_id, const string &prop_value);
