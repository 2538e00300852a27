// The ONNX functions and #resource of the MQL5 runtime (included at the end of mql5_runtime_market.h), for the
// in-EA encoder (Include/Mt5Bridge/OnnxEncoder.mqh); the Python twin is tests/mql5twin/onnx_runtime.py. As the rest
// of the runtime, the terminal's documented behaviour, unkind parts included; where the docs are silent, the harsher
// reading:
// - ONNX: the real onnxruntime, in a helper process (tests/mql5check/onnx_server.py, MQL5_ONNX_PYTHON running
//   MQL5_ONNX_SERVER) spoken to through pipes. What the docs leave open is strict here: a model beyond ONNX Runtime
//   1.14 (IR > 8 or opset > 18, MetaTrader's runtime per its ONNX docs) does not load; OnnxRun needs every input and
//   output shape set first, the argument count inputs + outputs, arrays of exactly the tensor's element count, and
//   float arrays for float tensors under ONNX_NO_CONVERSION (only float tensors are supported here);
// - #resource "path" as uchar Name[] (gxx.py rewrites it to mql5rt::Resource): the file's bytes, read once at
//   program start as MetaEditor embeds them at compile time; a missing file stops the program (MetaEditor would not
//   compile). A path starting with '\' is relative to the MQL5 folder (MQL5_ROOT, else the build tree's mql5/),
//   another one to the folder of the file that declares it (the MQL5 book, "Describing resources using the
//   #resource directive").
// Environment: MQL5_ONNX_PYTHON, MQL5_ONNX_SERVER, MQL5_FILES (MQL5/Files), MQL5_COMMON_FILES (Common/Files),
// MQL5_ROOT.
#pragma once

#include <fcntl.h>

#include <csignal>
#include <sstream>

// Runtime errors (MQL5 Reference, "Runtime Errors")
const int ERR_ONNX_INTERNAL = 5800;
const int ERR_ONNX_NOT_INITIALIZED = 5801;
const int ERR_ONNX_NOT_SUPPORTED = 5802;
const int ERR_ONNX_RUN_FAILED = 5803;
const int ERR_ONNX_INVALID_PARAMETERS_COUNT = 5804;
const int ERR_ONNX_INVALID_PARAMETER = 5805;
const int ERR_ONNX_INVALID_PARAMETER_TYPE = 5806;
const int ERR_ONNX_INVALID_PARAMETER_SIZE = 5807;
const int ERR_ONNX_WRONG_DIMENSION = 5808;
namespace mql5rt {
const int kErrInvalidHandle = 4024;  // ERR_INVALID_HANDLE
const int kErrFileNotExist = 5019;   // ERR_FILE_NOT_EXIST
}  // namespace mql5rt

//--- ONNX models (MQL5 Reference, "ONNX models"; ENUM_ONNX_FLAGS and the structures of "Data structures")
const ulong ONNX_DEBUG_LOGS = 1;
const ulong ONNX_NO_CONVERSION = 2;
const ulong ONNX_COMMON_FOLDER = 4096;  // "equal to the FILE_COMMON flag"
enum ENUM_ONNX_TYPE { ONNX_TYPE_UNKNOWN, ONNX_TYPE_TENSOR, ONNX_TYPE_SEQUENCE, ONNX_TYPE_MAP, ONNX_TYPE_OPAQUE,
                      ONNX_TYPE_SPARSETENSOR };
enum ENUM_ONNX_DATA_TYPE { ONNX_DATA_TYPE_UNDEFINED, ONNX_DATA_TYPE_FLOAT, ONNX_DATA_TYPE_UINT8, ONNX_DATA_TYPE_INT8,
                           ONNX_DATA_TYPE_UINT16, ONNX_DATA_TYPE_INT16, ONNX_DATA_TYPE_INT32, ONNX_DATA_TYPE_INT64,
                           ONNX_DATA_TYPE_STRING, ONNX_DATA_TYPE_BOOL, ONNX_DATA_TYPE_FLOAT16, ONNX_DATA_TYPE_DOUBLE };
struct OnnxTensorTypeInfo {
  ENUM_ONNX_DATA_TYPE data_type;
  MqlArray<long> dimensions;
};
struct OnnxMapTypeInfo {};
struct OnnxSequenceTypeInfo {};
struct OnnxTypeInfo {
  ENUM_ONNX_TYPE type;
  OnnxTensorTypeInfo tensor;
  OnnxMapTypeInfo map;
  OnnxSequenceTypeInfo sequence;
};

namespace mql5rt {
struct OnnxTensor {
  std::string name;
  int element;                 // ONNX TensorProto element type (1 = float)
  std::vector<long> dims;      // as declared; <= 0 for a symbolic dimension
  std::vector<long> shape;     // set by OnnxSetInputShape / OnnxSetOutputShape; empty until then
};
struct OnnxSession {
  std::vector<OnnxTensor> inputs, outputs;
};
inline std::map<long, OnnxSession> onnx_sessions;

// The onnxruntime helper process: started at the first use, ended by EOF when this program ends.
class OnnxServer {
 public:
  bool Ready() {
    if (pid_ > 0) return true;
    std::string python = Env("MQL5_ONNX_PYTHON", ""), script = Env("MQL5_ONNX_SERVER", "");
    int to_child[2], from_child[2];
    if (python.empty() || script.empty() || pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0)
      return false;
    std::signal(SIGPIPE, SIG_IGN);  // a helper that died makes a write fail (ERR_ONNX_NOT_INITIALIZED), not kill us
    pid_ = fork();
    if (pid_ == 0) {
      dup2(to_child[0], 0);
      dup2(from_child[1], 1);
      execlp(python.c_str(), python.c_str(), script.c_str(), (char *)nullptr);
      _exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    out_ = to_child[1];
    in_ = from_child[0];
    return pid_ > 0;
  }
  // One request (command, handle, payload) -> the reply's status (0 = ok) and body; false if the server is gone.
  bool Call(char command, long handle, const std::string &payload, int &status, std::string &body) {
    if (!Ready()) return false;
    std::string head(1, command);
    Put(head, (uint32_t)handle);
    Put(head, (uint32_t)payload.size());
    if (!Write(head) || !Write(payload)) return false;
    std::string reply;
    if (!Read(reply, 5)) return false;
    status = (unsigned char)reply[0];
    uint32_t size;
    std::memcpy(&size, reply.data() + 1, 4);
    return Read(body, size);
  }
  template <typename T> static void Put(std::string &s, T v) { s.append((const char *)&v, sizeof v); }

 private:
  bool Write(const std::string &s) {
    for (size_t at = 0; at < s.size();) {
      ssize_t n = ::write(out_, s.data() + at, s.size() - at);
      if (n <= 0) return false;
      at += (size_t)n;
    }
    return true;
  }
  bool Read(std::string &s, size_t n) {
    s.resize(n);
    for (size_t at = 0; at < n;) {
      ssize_t got = ::read(in_, &s[at], n - at);
      if (got <= 0) return false;
      at += (size_t)got;
    }
    return true;
  }
  pid_t pid_ = -1;
  int out_ = -1, in_ = -1;
};
inline OnnxServer onnx_server;

inline long CreateSession(const std::string &bytes) {
  int status = 0;
  std::string body;
  if (!onnx_server.Call('C', 0, bytes, status, body)) { last_error = ERR_ONNX_NOT_INITIALIZED; return INVALID_HANDLE; }
  if (status != 0) {
    log.push_back("ONNX: " + body);  // the terminal's journal names the runtime's complaint
    last_error = ERR_ONNX_INTERNAL;
    return INVALID_HANDLE;
  }
  std::istringstream lines(body);
  long handle = 0;
  lines >> handle;
  OnnxSession session;
  std::string side;
  while (lines >> side) {
    OnnxTensor t;
    size_t rank = 0;
    lines >> t.name >> t.element >> rank;
    t.dims.resize(rank);
    for (long &d : t.dims) lines >> d;
    (side == "in" ? session.inputs : session.outputs).push_back(t);
  }
  onnx_sessions[handle] = session;
  return handle;
}
inline OnnxSession *Session(long handle) {
  auto it = onnx_sessions.find(handle);
  if (it == onnx_sessions.end()) { last_error = kErrInvalidHandle; return nullptr; }  // undocumented: 4024
  return &it->second;
}
// The model's file: MQL5/Files or Common/Files, retried with ".onnx" appended (MQL5 Reference, OnnxCreate).
inline bool ReadModelFile(const string &filename, ulong flags, std::string &bytes) {
  std::string name = filename.utf8();
  std::replace(name.begin(), name.end(), '\\', '/');
  std::string folder = (flags & ONNX_COMMON_FOLDER) ? Env("MQL5_COMMON_FILES", ".") : Env("MQL5_FILES", ".");
  for (const std::string &path : {folder + "/" + name, folder + "/" + name + ".onnx"}) {
    std::FILE *f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) continue;
    char chunk[65536];
    size_t n;
    while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) bytes.append(chunk, n);
    std::fclose(f);
    return true;
  }
  last_error = kErrFileNotExist;
  return false;
}
template <typename S> bool SetShape(long handle, long index, const MqlArray<S> &shape, bool input) {
  OnnxSession *s = Session(handle);
  if (s == nullptr) return false;
  std::vector<OnnxTensor> &side = input ? s->inputs : s->outputs;
  if (index < 0 || index >= (long)side.size()) { last_error = ERR_ONNX_INVALID_PARAMETER; return false; }
  OnnxTensor &t = side[(size_t)index];
  bool fits = shape.v.size() == t.dims.size();
  for (size_t k = 0; fits && k < t.dims.size(); k++)
    fits = (long)shape.v[k] > 0 && (t.dims[k] <= 0 || (long)shape.v[k] == t.dims[k]);
  if (!fits) { last_error = ERR_ONNX_WRONG_DIMENSION; return false; }  // undocumented code: the closest one
  t.shape.assign(shape.v.begin(), shape.v.end());
  return true;
}
inline long Elements(const std::vector<long> &shape) {
  long n = 1;
  for (long d : shape) n *= d;
  return n;
}
// One OnnxRun argument: its element type, size, and where its floats come from or go.
struct RunParam {
  bool is_float, is_double, writable;
  size_t size;
  void *array;
};
template <typename A> RunParam Param(A &array) {
  using T = std::remove_cv_t<std::remove_reference_t<decltype(array.v[0])>>;
  return RunParam{std::is_same_v<T, float>, std::is_same_v<T, double>, !std::is_const_v<A>, array.v.size(),
                  (void *)&array};
}
template <typename T> void ToFloats(const RunParam &p, std::string &out) {
  for (T x : ((MqlArray<T> *)p.array)->v) OnnxServer::Put(out, (float)x);
}
template <typename T> void FromFloats(const RunParam &p, const char *data) {
  MqlArray<T> &a = *(MqlArray<T> *)p.array;
  for (size_t k = 0; k < a.v.size(); k++) {
    float x;
    std::memcpy(&x, data + 4 * k, 4);
    a.v[k] = (T)x;
  }
}
inline bool Run(long handle, ulong flags, const std::vector<RunParam> &params) {
  OnnxSession *s = Session(handle);
  if (s == nullptr) return false;
  if (params.size() != s->inputs.size() + s->outputs.size()) { last_error = ERR_ONNX_INVALID_PARAMETERS_COUNT; return false; }
  std::string payload;
  OnnxServer::Put(payload, (uint32_t)s->inputs.size());
  for (size_t k = 0; k < params.size(); k++) {
    bool input = k < s->inputs.size();
    const OnnxTensor &t = input ? s->inputs[k] : s->outputs[k - s->inputs.size()];
    const RunParam &p = params[k];
    if (t.shape.empty()) { last_error = ERR_ONNX_WRONG_DIMENSION; return false; }  // "dimension not set"
    if (t.element != 1) { last_error = ERR_ONNX_NOT_SUPPORTED; return false; }
    if (!p.is_float && !(p.is_double && !(flags & ONNX_NO_CONVERSION))) {
      last_error = ERR_ONNX_INVALID_PARAMETER_TYPE;
      return false;
    }
    if ((long)p.size != Elements(t.shape) || (!input && !p.writable)) {
      last_error = ERR_ONNX_INVALID_PARAMETER_SIZE;
      return false;
    }
    if (!input) continue;
    OnnxServer::Put(payload, (uint32_t)t.shape.size());
    for (long d : t.shape) OnnxServer::Put(payload, (int64_t)d);
    if (p.is_float) ToFloats<float>(p, payload);
    else ToFloats<double>(p, payload);
  }
  int status = 0;
  std::string body;
  if (!onnx_server.Call('R', handle, payload, status, body)) { last_error = ERR_ONNX_NOT_INITIALIZED; return false; }
  if (status != 0) {
    log.push_back("ONNX: " + body);
    last_error = ERR_ONNX_RUN_FAILED;
    return false;
  }
  size_t at = 0;  // the outputs' floats, one after another, in the declared order
  for (size_t k = s->inputs.size(); k < params.size(); k++) {
    const RunParam &p = params[k];
    if (at + 4 * p.size > body.size()) { last_error = ERR_ONNX_RUN_FAILED; return false; }
    if (p.is_float) FromFloats<float>(p, body.data() + at);
    else FromFloats<double>(p, body.data() + at);
    at += 4 * p.size;
  }
  return true;
}
inline bool TypeInfo(long handle, long index, OnnxTypeInfo &type_info, bool input) {
  OnnxSession *s = Session(handle);
  if (s == nullptr) return false;
  const std::vector<OnnxTensor> &side = input ? s->inputs : s->outputs;
  if (index < 0 || index >= (long)side.size()) { last_error = ERR_ONNX_INVALID_PARAMETER; return false; }
  const OnnxTensor &t = side[(size_t)index];
  type_info.type = ONNX_TYPE_TENSOR;
  type_info.tensor.data_type = t.element <= 11 ? (ENUM_ONNX_DATA_TYPE)t.element : ONNX_DATA_TYPE_UNDEFINED;
  type_info.tensor.dimensions.v.assign(t.dims.begin(), t.dims.end());
  return true;
}
}  // namespace mql5rt

inline long OnnxCreateFromBuffer(const MqlArray<uchar> &buffer, ulong flags) {
  (void)flags;
  return mql5rt::CreateSession(std::string(buffer.v.begin(), buffer.v.end()));
}
inline long OnnxCreate(const string &filename, ulong flags) {
  std::string bytes;
  if (!mql5rt::ReadModelFile(filename, flags, bytes)) return INVALID_HANDLE;
  return mql5rt::CreateSession(bytes);
}
inline bool OnnxRelease(long onnx_handle) {
  if (mql5rt::Session(onnx_handle) == nullptr) return false;
  int status = 0;
  std::string body;
  mql5rt::onnx_server.Call('X', onnx_handle, "", status, body);
  mql5rt::onnx_sessions.erase(onnx_handle);
  return true;
}
inline long OnnxGetInputCount(long onnx_handle) {
  mql5rt::OnnxSession *s = mql5rt::Session(onnx_handle);
  return s == nullptr ? -1 : (long)s->inputs.size();
}
inline long OnnxGetOutputCount(long onnx_handle) {
  mql5rt::OnnxSession *s = mql5rt::Session(onnx_handle);
  return s == nullptr ? -1 : (long)s->outputs.size();
}
inline string OnnxGetInputName(long onnx_handle, long index) {
  mql5rt::OnnxSession *s = mql5rt::Session(onnx_handle);
  if (s == nullptr || index < 0 || index >= (long)s->inputs.size()) return string();
  return string(s->inputs[(size_t)index].name.c_str());
}
inline string OnnxGetOutputName(long onnx_handle, long index) {
  mql5rt::OnnxSession *s = mql5rt::Session(onnx_handle);
  if (s == nullptr || index < 0 || index >= (long)s->outputs.size()) return string();
  return string(s->outputs[(size_t)index].name.c_str());
}
inline bool OnnxGetInputTypeInfo(long onnx_handle, long index, OnnxTypeInfo &type_info) {
  return mql5rt::TypeInfo(onnx_handle, index, type_info, true);
}
inline bool OnnxGetOutputTypeInfo(long onnx_handle, long index, OnnxTypeInfo &type_info) {
  return mql5rt::TypeInfo(onnx_handle, index, type_info, false);
}
template <typename S> bool OnnxSetInputShape(long onnx_handle, long input_index, const MqlArray<S> &shape) {
  return mql5rt::SetShape(onnx_handle, input_index, shape, true);
}
template <typename S> bool OnnxSetOutputShape(long onnx_handle, long output_index, const MqlArray<S> &shape) {
  return mql5rt::SetShape(onnx_handle, output_index, shape, false);
}
// Inputs are passed first, then outputs, each an array (MQL5 also takes vectors and matrices: not emulated).
template <typename... A> bool OnnxRun(long onnx_handle, ulong flags, A &...params) {
  return mql5rt::Run(onnx_handle, flags, {mql5rt::Param(params)...});
}

//--- #resource "path" as uchar Name[] (gxx.py's rewrite): the bytes MetaEditor embeds at compile time
namespace mql5rt {
inline MqlArray<uchar> Resource(const char *path, const char *source_file) {
  std::string name = path, source = source_file;
  std::replace(name.begin(), name.end(), '\\', '/');
  std::string full;
  if (!name.empty() && name[0] == '/') {
    size_t at = source.rfind("/mql5/");
    std::string root = Env("MQL5_ROOT", at == std::string::npos ? "." : source.substr(0, at + 5).c_str());
    full = root + name;
  } else {
    full = source.substr(0, source.rfind('/') + 1) + name;
  }
  std::FILE *f = std::fopen(full.c_str(), "rb");
  if (f == nullptr) Critical(std::string("#resource \"") + path + "\": no such file (" + full + "): MetaEditor "
                             "would not compile the program");
  MqlArray<uchar> out;
  int c;
  while ((c = std::fgetc(f)) != EOF) out.v.push_back((uchar)c);
  std::fclose(f);
  out.fixed = true;  // a resource array is the program's, not resizable
  return out;
}
}  // namespace mql5rt
