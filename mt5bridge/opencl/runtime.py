"""The OpenCL runtime: the only module that imports pyopencl.

Four small pieces, in the spirit of tinygrad's ops_cl: device discovery and choice, a shared `Runtime` per device
(context + in-order queue + program cache), `Program`/`Kernel` wrappers that keep the built Kernel objects and type
every scalar argument from the kernel's own signature, and `DeviceArray`, a buffer with a shape.
"""

from __future__ import annotations

import platform as host  # `platform` names OpenCL platforms below
import re
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import DeviceError, KernelBuildError
from .sources import kernel_source, with_common_header

try:  # pyopencl is a hard dependency, but a broken install must not make the package unimportable
    import pyopencl as cl
except ImportError as _exc:  # pragma: no cover - exercised only on broken installs
    cl = None
    _IMPORT_ERROR: Exception | None = _exc
else:
    _IMPORT_ERROR = None

NO_PLATFORM_HELP = (
    "No OpenCL platform found. For a CPU device install PoCL: pip install \"mt5bridge[cpu]\". "
    "On an NVIDIA GPU inside a container the driver library (libnvidia-opencl.so.1) is often present but its ICD "
    "file is missing: create /etc/OpenCL/vendors/nvidia.icd containing 'libnvidia-opencl.so.1' (or point "
    "OCL_ICD_VENDORS at a folder holding such a file)."
)
# pip cannot give Windows an OpenCL driver: PoCL's wheels (the cpu extra) exist for Linux and macOS only, and a
# Windows driver must be registered with the system's OpenCL loader by its own installer.
WINDOWS_HELP = (
    "No OpenCL platform found. On Windows pip installs none (the cpu extra's PoCL is for Linux and macOS): install "
    "your GPU maker's current driver (NVIDIA, AMD or Intel graphics drivers include an OpenCL driver), or for the "
    "CPU Intel's \"CPU Runtime for OpenCL Applications\" (w_opencl_runtime_p_*.exe, for Intel Core and Xeon "
    "processors); then check with: mt5bridge devices."
)
# Measured (README, "Windows"): numpy's OpenBLAS matrix products keep up with PoCL on a CPU, except with many streams.
NUMPY_SPEED = ("Without OpenCL mt5bridge runs on the numpy device: the same results, and on a CPU about as fast as "
               "PoCL for training and one stream (2 cores: encode about 7,000 bars/s with the default model, a "
               "fast-preset epoch over 136k H1 bars about 15 s), half as fast for 28 streams; a GPU is far faster.")


def no_platform_help(system: str | None = None) -> str:
    """What to install for an OpenCL device on `system` (platform.system(): "Windows", "Linux", "Darwin")."""
    system = system or host.system()
    return (WINDOWS_HELP if system == "Windows" else NO_PLATFORM_HELP) + " " + NUMPY_SPEED


@dataclass(frozen=True)
class DeviceInfo:
    platform_index: int
    device_index: int
    platform: str
    name: str
    kind: str  # "gpu", "cpu" or "other"
    version: str
    compute_units: int
    global_memory: int  # bytes
    local_memory: int  # bytes
    max_work_group: int
    float64: bool

    @property
    def index(self) -> str:
        return f"{self.platform_index}:{self.device_index}"


@dataclass(frozen=True)
class DeviceChoice:
    """What a device spec resolved to: an OpenCL device, or the NumPy reference implementation."""

    device: DeviceInfo | None  # None means numpy
    reason: str

    @property
    def is_numpy(self) -> bool:
        return self.device is None

    @property
    def label(self) -> str:
        if self.device is None:
            return "numpy"
        return f"{self.device.index} {self.device.name} ({self.device.platform})"


def list_devices() -> list[DeviceInfo]:
    """All OpenCL devices of all platforms. Raises DeviceError (with install help) when there is no platform."""
    if cl is None:
        raise DeviceError(f"pyopencl cannot be imported ({_IMPORT_ERROR}). " + no_platform_help())
    try:
        platforms = cl.get_platforms()
    except cl.Error:  # PLATFORM_NOT_FOUND_KHR from the ICD loader
        platforms = []
    devices = []
    for p_index, platform in enumerate(platforms):
        try:
            platform_devices = platform.get_devices()
        except cl.Error:
            continue
        for d_index, dev in enumerate(platform_devices):
            devices.append(_describe(p_index, d_index, platform, dev))
    if not devices:
        raise DeviceError(no_platform_help())
    return devices


def _describe(p_index: int, d_index: int, platform: Any, dev: Any) -> DeviceInfo:
    if dev.type & cl.device_type.GPU:
        kind = "gpu"
    elif dev.type & cl.device_type.CPU:
        kind = "cpu"
    else:
        kind = "other"
    return DeviceInfo(
        platform_index=p_index,
        device_index=d_index,
        platform=platform.name.strip(),
        name=dev.name.strip(),
        kind=kind,
        version=dev.version.strip(),
        compute_units=int(dev.max_compute_units),
        global_memory=int(dev.global_mem_size),
        local_memory=int(dev.local_mem_size),
        max_work_group=int(dev.max_work_group_size),
        float64=bool(dev.double_fp_config) or "cl_khr_fp64" in dev.extensions,
    )


def resolve_device(spec: str) -> DeviceChoice:
    """Turn a device spec into a choice: `auto` (GPU if any, else CPU, else numpy with a warning), `cpu`, `gpu`,
    `P:D` (platform:device index), or `numpy`."""
    spec = (spec or "auto").strip().lower()
    if spec == "numpy":
        return DeviceChoice(None, "requested")
    try:
        devices = list_devices()
    except DeviceError as exc:
        if spec == "auto":
            warnings.warn(f"{exc} Falling back to the NumPy device.", RuntimeWarning, stacklevel=2)
            return DeviceChoice(None, "auto: no OpenCL platform")
        raise DeviceError(f"device {spec!r} requested, but: {exc}") from None
    if spec in ("auto", "gpu", "cpu"):
        for kind in ("gpu", "cpu") if spec == "auto" else (spec,):
            for dev in devices:
                if dev.kind == kind:
                    return DeviceChoice(dev, f"{spec}: first {kind.upper()} device")
        if spec == "auto":
            return DeviceChoice(devices[0], "auto: first device")
        raise DeviceError(f"no OpenCL {spec.upper()} device; available: {[d.index + ' ' + d.name for d in devices]}")
    match = re.fullmatch(r"(\d+):(\d+)", spec)
    if not match:
        raise DeviceError(f"bad device spec {spec!r}; use auto, cpu, gpu, numpy or PLATFORM:DEVICE such as 0:1")
    for dev in devices:
        if (dev.platform_index, dev.device_index) == (int(match[1]), int(match[2])):
            return DeviceChoice(dev, "by index")
    raise DeviceError(f"no OpenCL device {spec}; available: {[d.index + ' ' + d.name for d in devices]}")


@dataclass
class DeviceArray:
    """A device buffer with a host-side shape and dtype (C order). `base` keeps a parent alive for sub-buffers."""

    buffer: Any
    shape: tuple[int, ...]
    dtype: np.dtype
    base: Any = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize


_SCALAR_TYPES = {"int": np.int32, "uint": np.uint32, "long": np.int64, "ulong": np.uint64, "float": np.float32,
                 "double": np.float64}
_ATTRIBUTE = r"__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)"
_KERNEL_SIGNATURE = re.compile(rf"__kernel\s+(?:{_ATTRIBUTE}\s*)*void\s+(\w+)\s*\(([^)]*)\)", re.S)


def scalar_dtypes(source: str, real: np.dtype) -> dict[str, list[Any]]:
    """Per kernel, the numpy dtype of each argument (None for pointers), read from the kernel's own signature."""
    kernels = {}
    source = re.sub(r"//[^\n]*|/\*.*?\*/", " ", source, flags=re.S)  # comments may sit inside parameter lists
    for name, params in _KERNEL_SIGNATURE.findall(source):
        types: list[Any] = []
        for param in params.split(","):
            tokens = param.replace("*", " * ").split()
            if "*" in tokens:
                types.append(None)
                continue
            base = next((t for t in tokens if t in _SCALAR_TYPES or t == "real"), None)
            if base is None:
                raise DeviceError(f"kernel {name}: cannot type argument {param.strip()!r}")
            types.append(real.type if base == "real" else _SCALAR_TYPES[base])
        kernels[name] = types
    return kernels


class Kernel:
    """A built kernel kept for reuse, with typed scalar arguments and local-size-rounded launches."""

    def __init__(self, runtime: "Runtime", kernel: Any, name: str, arg_types: list[Any]):
        self.runtime = runtime
        self.name = name
        self._kernel = kernel
        self._arg_types = arg_types
        kernel.set_scalar_arg_dtypes(arg_types)

    def __call__(self, global_size: Sequence[int], local_size: Sequence[int] | None, *args: Any) -> Any:
        if len(args) != len(self._arg_types):
            raise TypeError(f"kernel {self.name} takes {len(self._arg_types)} arguments, got {len(args)}")
        if local_size is not None:
            global_size = tuple(-(-g // n) * n for g, n in zip(global_size, local_size))
        if any(g == 0 for g in global_size):
            return None
        raw = [a.buffer if isinstance(a, DeviceArray) else a for a in args]
        try:
            event = self._kernel(self.runtime.queue, tuple(global_size), None if local_size is None else
                                 tuple(local_size), *raw)
        except cl.Error as exc:
            raise DeviceError(f"kernel {self.name} failed to launch ({global_size}, {local_size}): {exc}") from exc
        if self.runtime.profiling:
            self.runtime.events.append((self.name, event))
        return event

    def limits(self) -> tuple[int, int]:
        """(largest work-group, bytes of local memory it declares itself) for this kernel on its device: the
        work-group limit counts the kernel's registers, so a group of that size fits on one compute unit."""
        device, info = self.runtime.device, cl.kernel_work_group_info
        return (int(self._kernel.get_work_group_info(info.WORK_GROUP_SIZE, device)),
                int(self._kernel.get_work_group_info(info.LOCAL_MEM_SIZE, device)))

    def series(self, global_size: Sequence[int], local_size: Sequence[int] | None, args: Sequence[Any],
               vary: int, values: Sequence[int]) -> None:
        """One launch per value of integer argument `vary`, the other arguments set once: a recurrent layer's
        time loop costs one enqueue per step instead of a full argument set-up."""
        if len(args) != len(self._arg_types):
            raise TypeError(f"kernel {self.name} takes {len(self._arg_types)} arguments, got {len(args)}")
        if local_size is not None:
            global_size = tuple(-(-g // n) * n for g, n in zip(global_size, local_size))
        if any(g == 0 for g in global_size) or not len(values):
            return
        self._kernel.set_args(*[a.buffer if isinstance(a, DeviceArray) else a for a in args])
        kind = self._arg_types[vary]
        queue, local = self.runtime.queue, None if local_size is None else tuple(local_size)
        try:
            for value in values:
                self._kernel.set_arg(vary, kind(value))
                event = cl.enqueue_nd_range_kernel(queue, self._kernel, tuple(global_size), local)
                if self.runtime.profiling:
                    self.runtime.events.append((self.name, event))
        except cl.Error as exc:
            raise DeviceError(f"kernel {self.name} failed to launch ({global_size}, {local_size}): {exc}") from exc


class Program:
    """One `.cl` file built for one scalar type; its kernels are attributes (`program.gemm`)."""

    def __init__(self, runtime: "Runtime", name: str, dtype: np.dtype, source: str,
                 defines: dict[str, int] | None = None):
        options = ["-cl-std=CL1.2"]
        if dtype == np.float64:
            options.append("-DREAL_IS_DOUBLE=1")
        options += [f"-D{key}={int(value)}" for key, value in sorted((defines or {}).items())]
        try:
            program = cl.Program(runtime.context, source).build(options=options)
        except cl.Error as exc:
            raise KernelBuildError(
                f"OpenCL program {name!r} ({dtype}) failed to build on {runtime.device_info.name}:\n{exc}"
            ) from None
        self.name = name
        self.kernels = {
            kname: Kernel(runtime, getattr(program, kname), kname, types)
            for kname, types in scalar_dtypes(source, dtype).items()
        }

    def __getattr__(self, name: str) -> Kernel:
        try:
            return self.__dict__["kernels"][name]
        except KeyError:
            raise AttributeError(f"program {self.__dict__.get('name')!r} has no kernel {name!r}") from None


class Runtime:
    """Context, queue and program cache for one device. Get it with `get_runtime`, which shares it per device."""

    def __init__(self, device_info: DeviceInfo, profiling: bool = False):
        platform = cl.get_platforms()[device_info.platform_index]
        self.device = platform.get_devices()[device_info.device_index]
        self.device_info = device_info
        self.context = cl.Context([self.device])
        props = cl.command_queue_properties.PROFILING_ENABLE if profiling else 0
        self.queue = cl.CommandQueue(self.context, self.device, properties=props)
        self.profiling = profiling
        self.allocated_bytes = 0
        self.events: list[tuple[str, Any]] = []  # (kernel name, event) of every launch, when profiling
        self.base_align_bytes = max(int(self.device.mem_base_addr_align) // 8, 1)
        self._programs: dict[tuple, Program] = {}

    def program(self, name: str, dtype: Any, defines: dict[str, int] | None = None) -> Program:
        """`kernels/<name>.cl` built for `dtype` (float32 or float64) and compile-time `defines` (tile sizes), once
        per context."""
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise DeviceError(f"kernels compile for float32 or float64, not {dtype}")
        if dtype == np.float64 and not self.device_info.float64:
            raise DeviceError(f"device {self.device_info.name} has no float64 support")
        key = (name, dtype.str, tuple(sorted((defines or {}).items())))
        if key not in self._programs:
            self._programs[key] = Program(self, name, dtype, kernel_source(name), defines)
        return self._programs[key]

    def build_source(self, name: str, source: str, dtype: Any = np.float32) -> Program:
        """Build a program from text (after common.h; not cached), for tests and experiments."""
        return Program(self, name, np.dtype(dtype), with_common_header(source))

    # --- memory -------------------------------------------------------------------------------------------------
    def empty(self, shape: Sequence[int] | int, dtype: Any) -> DeviceArray:
        shape = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
        dtype = np.dtype(dtype)
        nbytes = max(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize, dtype.itemsize)
        self.allocated_bytes += nbytes  # device memory asked for (never decreases; for benchmarks)
        return DeviceArray(cl.Buffer(self.context, cl.mem_flags.READ_WRITE, nbytes), shape, dtype)

    def zeros(self, shape: Sequence[int] | int, dtype: Any) -> DeviceArray:
        array = self.empty(shape, dtype)
        self.fill(array, 0)
        return array

    def to_device(self, host: np.ndarray, dtype: Any | None = None) -> DeviceArray:
        host = np.ascontiguousarray(host, dtype=dtype or host.dtype)
        array = self.empty(host.shape, host.dtype)
        self.write(array, host)
        return array

    def write(self, array: DeviceArray, host: np.ndarray, offset: int = 0, blocking: bool = True) -> None:
        """Copy `host` into `array` starting at element `offset` (a leading part is fine). Non-blocking copies
        keep `host` alive until done (pyopencl's NannyEvent); later commands on the in-order queue see the data."""
        host = np.ascontiguousarray(host, dtype=array.dtype)
        if offset < 0 or offset + host.size > array.size:
            raise ValueError(f"writing {host.size} elements at {offset} into a device array of shape {array.shape}")
        if host.size:
            cl.enqueue_copy(self.queue, array.buffer, host, dst_offset=offset * array.dtype.itemsize,
                            is_blocking=blocking)

    def read(self, array: DeviceArray, offset: int = 0, count: int | None = None) -> np.ndarray:
        """The whole array in its shape, or `count` elements from `offset` as a flat array."""
        if count is None and offset == 0:
            host = np.empty(array.shape, array.dtype)
        else:
            count = array.size - offset if count is None else count
            if offset < 0 or offset + count > array.size:
                raise ValueError(f"reading {count} elements at {offset} from a device array of shape {array.shape}")
            host = np.empty(count, array.dtype)
        if host.size:
            cl.enqueue_copy(self.queue, host, array.buffer, src_offset=offset * array.dtype.itemsize,
                            is_blocking=True)
        return host

    def fill(self, array: DeviceArray, value: float) -> None:
        if array.size:
            cl.enqueue_fill_buffer(self.queue, array.buffer, array.dtype.type(value), 0, array.nbytes)

    def copy(self, dst: DeviceArray, src: DeviceArray, count: int, dst_offset: int = 0, src_offset: int = 0) -> None:
        """Device-to-device copy of `count` elements (offsets in elements)."""
        size = dst.dtype.itemsize
        if count:
            cl.enqueue_copy(self.queue, dst.buffer, src.buffer, byte_count=count * size,
                            dst_offset=dst_offset * size, src_offset=src_offset * size)

    def local(self, nbytes: int) -> Any:
        """A `__local` pointer argument of `nbytes` bytes (sized per launch)."""
        return cl.LocalMemory(max(int(nbytes), 1))

    def view(self, parent: DeviceArray, offset: int, shape: Sequence[int]) -> DeviceArray:
        """A sub-buffer of `parent` starting at element `offset`, which must honour the device's base alignment."""
        shape = tuple(shape)
        nbytes = int(np.prod(shape, dtype=np.int64)) * parent.dtype.itemsize
        origin = offset * parent.dtype.itemsize
        if origin % self.base_align_bytes:
            raise ValueError(f"sub-buffer origin {origin} B is not a multiple of {self.base_align_bytes} B")
        sub = parent.buffer.get_sub_region(origin, max(nbytes, parent.dtype.itemsize))
        return DeviceArray(sub, shape, parent.dtype, base=parent)

    def finish(self) -> None:
        self.queue.finish()

    def kernel_profile(self) -> dict[str, tuple[int, float]]:
        """Launches and device seconds per kernel name since the last call (profiling runtimes only)."""
        self.queue.finish()
        summary: dict[str, tuple[int, float]] = {}
        for name, event in self.events:
            count, seconds = summary.get(name, (0, 0.0))
            summary[name] = (count + 1, seconds + (event.profile.end - event.profile.start) * 1e-9)
        self.events.clear()
        return summary


_RUNTIMES: dict[tuple[int, int, bool], Runtime] = {}


def get_runtime(device: DeviceInfo, profiling: bool = False) -> Runtime:
    key = (device.platform_index, device.device_index, profiling)
    if key not in _RUNTIMES:
        try:
            _RUNTIMES[key] = Runtime(device, profiling)
        except cl.Error as exc:
            raise DeviceError(f"cannot open OpenCL device {device.index} {device.name}: {exc}") from exc
    return _RUNTIMES[key]


def event_seconds(event: Any) -> float:
    """Device time of a finished, profiled event."""
    event.wait()
    return (event.profile.end - event.profile.start) * 1e-9
