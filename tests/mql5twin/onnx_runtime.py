"""The ONNX functions the twin of OnnxEncoder.mqh calls (tests only), through onnxruntime itself, refusing what the
C++ runtime (tests/mql5check/mql5_runtime_onnx.h) refuses: a model beyond MetaTrader's ONNX Runtime 1.14 (IR > 8
or opset > 18), OnnxRun before every shape is set, a wrong argument count, a wrong element count, a double array
under ONNX_NO_CONVERSION; with the error codes of the MQL5 Reference's "Runtime Errors" (4024 ERR_INVALID_HANDLE for
a bad session handle: the docs name no ONNX code for it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import mql5

INVALID_HANDLE = -1
ONNX_NO_CONVERSION = 2
ONNX_COMMON_FOLDER = 4096
ONNX_TYPE_TENSOR = 1
ONNX_DATA_TYPE_FLOAT = 1
ERR_INVALID_HANDLE = 4024
ERR_FILE_NOT_EXIST = 5019
ERR_ONNX_INTERNAL = 5800
ERR_ONNX_NOT_SUPPORTED = 5802
ERR_ONNX_RUN_FAILED = 5803
ERR_ONNX_INVALID_PARAMETERS_COUNT = 5804
ERR_ONNX_INVALID_PARAMETER = 5805
ERR_ONNX_INVALID_PARAMETER_TYPE = 5806
ERR_ONNX_INVALID_PARAMETER_SIZE = 5807
ERR_ONNX_WRONG_DIMENSION = 5808
MAX_IR_VERSION, MAX_OPSET = 8, 18  # ONNX Runtime 1.14 (tests/mql5check/onnx_server.py)

FILES, COMMON_FILES = Path("."), Path(".")  # MQL5/Files and Common/Files, for OnnxCreate
_sessions: dict[int, dict] = {}
_next_session = 1


class float_array(list):  # noqa: N801 - MQL5's float[]: values are stored as float32 by the (float) casts
    pass


def reset() -> None:
    global _next_session
    _sessions.clear()
    _next_session = 1


@dataclass
class OnnxTensorTypeInfo:
    data_type: int = 0
    dimensions: list = field(default_factory=list)


@dataclass
class OnnxTypeInfo:
    type: int = 0
    tensor: OnnxTensorTypeInfo = field(default_factory=OnnxTensorTypeInfo)


def _session_create(model: bytes) -> int:
    global _next_session
    import onnx
    import onnxruntime as ort

    try:
        proto = onnx.load_from_string(bytes(model))
        opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
        if proto.ir_version > MAX_IR_VERSION or opset > MAX_OPSET:
            raise ValueError(f"Unsupported model IR version {proto.ir_version} / opset {opset}")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(bytes(model), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - whatever the runtime refuses, the terminal reports as one error
        mql5.Print(f"ONNX: {exc}")
        mql5._error(ERR_ONNX_INTERNAL)
        return INVALID_HANDLE
    tensors = {side: [{"name": t.name, "float": t.type == "tensor(float)",
                       "dims": [d if isinstance(d, int) else -1 for d in t.shape], "shape": None} for t in items]
               for side, items in (("in", session.get_inputs()), ("out", session.get_outputs()))}
    handle = _next_session
    _next_session += 1
    _sessions[handle] = {"session": session, **tensors}
    return handle


def _session(handle: int) -> dict | None:
    s = _sessions.get(handle)
    if s is None:
        mql5._error(ERR_INVALID_HANDLE)
    return s


def OnnxCreateFromBuffer(buffer, flags: int) -> int:
    return _session_create(bytes(buffer))


def OnnxCreate(filename: str, flags: int) -> int:
    """MQL5/Files (or Common/Files), retried with ".onnx" appended (MQL5 Reference, OnnxCreate)."""
    folder = COMMON_FILES if flags & ONNX_COMMON_FOLDER else FILES
    for path in (folder / filename.replace("\\", "/"), folder / (filename.replace("\\", "/") + ".onnx")):
        if path.is_file():
            return _session_create(path.read_bytes())
    mql5._error(ERR_FILE_NOT_EXIST)
    return INVALID_HANDLE


def OnnxRelease(onnx_handle: int) -> bool:
    return _session(onnx_handle) is not None and _sessions.pop(onnx_handle) is not None


def OnnxGetInputCount(onnx_handle: int) -> int:
    s = _session(onnx_handle)
    return -1 if s is None else len(s["in"])


def OnnxGetOutputCount(onnx_handle: int) -> int:
    s = _session(onnx_handle)
    return -1 if s is None else len(s["out"])


def _type_info(onnx_handle: int, index: int, type_info: OnnxTypeInfo, side: str) -> bool:
    s = _session(onnx_handle)
    if s is None:
        return False
    if not 0 <= index < len(s[side]):
        mql5._error(ERR_ONNX_INVALID_PARAMETER)
        return False
    t = s[side][index]
    type_info.type = ONNX_TYPE_TENSOR
    type_info.tensor.data_type = ONNX_DATA_TYPE_FLOAT if t["float"] else 0
    type_info.tensor.dimensions = list(t["dims"])
    return True


def OnnxGetInputTypeInfo(onnx_handle: int, index: int, type_info: OnnxTypeInfo) -> bool:
    return _type_info(onnx_handle, index, type_info, "in")


def OnnxGetOutputTypeInfo(onnx_handle: int, index: int, type_info: OnnxTypeInfo) -> bool:
    return _type_info(onnx_handle, index, type_info, "out")


def _set_shape(onnx_handle: int, index: int, shape: list, side: str) -> bool:
    s = _session(onnx_handle)
    if s is None:
        return False
    if not 0 <= index < len(s[side]):
        mql5._error(ERR_ONNX_INVALID_PARAMETER)
        return False
    dims = s[side][index]["dims"]
    if len(shape) != len(dims) or any(n <= 0 or (d > 0 and n != d) for n, d in zip(shape, dims)):
        mql5._error(ERR_ONNX_WRONG_DIMENSION)
        return False
    s[side][index]["shape"] = list(shape)
    return True


def OnnxSetInputShape(onnx_handle: int, input_index: int, shape: list) -> bool:
    return _set_shape(onnx_handle, input_index, shape, "in")


def OnnxSetOutputShape(onnx_handle: int, output_index: int, shape: list) -> bool:
    return _set_shape(onnx_handle, output_index, shape, "out")


def OnnxRun(onnx_handle: int, flags: int, *params) -> bool:
    """Inputs first, then outputs; outputs are filled in place, as float32 values."""
    s = _session(onnx_handle)
    if s is None:
        return False
    tensors = s["in"] + s["out"]
    if len(params) != len(tensors):
        mql5._error(ERR_ONNX_INVALID_PARAMETERS_COUNT)
        return False
    feeds = {}
    for k, (t, p) in enumerate(zip(tensors, params)):
        if t["shape"] is None:
            mql5._error(ERR_ONNX_WRONG_DIMENSION)
            return False
        if not t["float"]:
            mql5._error(ERR_ONNX_NOT_SUPPORTED)
            return False
        if flags & ONNX_NO_CONVERSION and not isinstance(p, float_array):
            mql5._error(ERR_ONNX_INVALID_PARAMETER_TYPE)
            return False
        if len(p) != int(np.prod(t["shape"])):
            mql5._error(ERR_ONNX_INVALID_PARAMETER_SIZE)
            return False
        if k < len(s["in"]):
            feeds[t["name"]] = np.asarray(p, np.float32).reshape(t["shape"])
    try:
        outputs = s["session"].run(None, feeds)
    except Exception as exc:  # noqa: BLE001
        mql5.Print(f"ONNX: {exc}")
        mql5._error(ERR_ONNX_RUN_FAILED)
        return False
    for p, o in zip(params[len(s["in"]):], outputs):
        p[:] = [float(v) for v in np.asarray(o, np.float32).ravel()]
    return True
