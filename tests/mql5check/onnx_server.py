"""The ONNX Runtime behind the C++ MQL5 runtime's Onnx* functions (mql5_runtime_market.h): the pip wheel of
onnxruntime has no C headers, so the compiled MQL5 program starts this script and speaks to it through its
stdin/stdout. It ends when the program closes the pipe (the program ended).

Requests: command (1 byte), handle (u32), payload length (u32), payload. Replies: status (1 byte, 0 = ok),
length (u32), body. Little-endian throughout.
- C(reate)  payload: the model's bytes. body: "<handle>" then one "in|out <name> <element type> <rank> <dims>"
            per tensor (symbolic dimensions as -1), or the reason it does not load.
- R(un)     payload: input count (u32), then per input rank (u32), dims (i64 each), float32 data.
            body: every output's float32 data, in the model's order.
- X         release the handle.

A model ONNX Runtime 1.14 could not read does not load (MetaTrader 5 runs 1.14, per its ONNX docs): IR version
> 8 or an ai.onnx opset > 18 (1.14 was built on ONNX 1.13: IR 8, opset 18).
"""

from __future__ import annotations

import struct
import sys

import numpy as np

MAX_IR_VERSION = 8
MAX_OPSET = 18


def _read(stream, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _create(payload: bytes, sessions: dict, next_handle: int) -> tuple[int, str]:
    import onnx
    import onnxruntime as ort

    try:
        proto = onnx.load_from_string(payload)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the terminal's "cannot create"
        return 1, f"the buffer is not an ONNX model: {exc}"
    opsets = [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    if proto.ir_version > MAX_IR_VERSION or max(opsets, default=0) > MAX_OPSET:
        return 1, (f"Unsupported model IR version {proto.ir_version} / opset {max(opsets, default=0)}: ONNX Runtime "
                   f"1.14 reads IR <= {MAX_IR_VERSION}, opset <= {MAX_OPSET}")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(payload, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001
        return 1, f"cannot create the session: {exc}"
    sessions[next_handle] = session
    lines = [str(next_handle)]
    types = {"tensor(float)": 1, "tensor(double)": 11, "tensor(int64)": 7, "tensor(int32)": 6}
    for side, tensors in (("in", session.get_inputs()), ("out", session.get_outputs())):
        for t in tensors:
            dims = [d if isinstance(d, int) else -1 for d in t.shape]
            lines.append(" ".join([side, t.name, str(types.get(t.type, 0)), str(len(dims)), *map(str, dims)]))
    return 0, "\n".join(lines)


def _run(session, payload: bytes) -> tuple[int, bytes]:
    (count,) = struct.unpack_from("<I", payload, 0)
    at, feeds = 4, {}
    for tensor in session.get_inputs()[:count]:
        (rank,) = struct.unpack_from("<I", payload, at)
        shape = struct.unpack_from(f"<{rank}q", payload, at + 4)
        at += 4 + 8 * rank
        n = int(np.prod(shape))
        feeds[tensor.name] = np.frombuffer(payload, np.float32, n, at).reshape(shape)
        at += 4 * n
    try:
        outputs = session.run(None, feeds)
    except Exception as exc:  # noqa: BLE001
        return 1, str(exc).encode()
    return 0, b"".join(np.ascontiguousarray(o, np.float32).tobytes() for o in outputs)


def main() -> int:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sessions: dict[int, object] = {}
    next_handle = 1
    while True:
        head = _read(stdin, 9)
        if head is None:
            return 0
        command, handle, size = head[:1], *struct.unpack("<II", head[1:])
        payload = _read(stdin, size) if size else b""
        if payload is None:
            return 0
        if command == b"C":
            status, text = _create(payload, sessions, next_handle)
            next_handle += status == 0
            body = text.encode()
        elif command == b"R" and handle in sessions:
            status, body = _run(sessions[handle], payload)
        elif command == b"X":
            status, body = (0, b"") if sessions.pop(handle, None) is not None else (1, b"no such session")
        else:
            status, body = 1, f"unknown request {command!r} for handle {handle}".encode()
        stdout.write(bytes([status]) + struct.pack("<I", len(body)) + body)
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
