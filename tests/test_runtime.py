"""The OpenCL runtime: device choice, program cache, typed scalar arguments, build errors with their log, and
behaviour on a machine with no OpenCL platform at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from mt5bridge.config import preset
from mt5bridge.errors import DeviceError, KernelBuildError
from mt5bridge.opencl.runtime import resolve_device, scalar_dtypes
from tests.cli_support import run_main


def test_build_failure_raises_with_the_build_log(runtime):
    source = "__kernel void broken(__global float* x) { x[0] = no_such_symbol_here; }"
    with pytest.raises(KernelBuildError, match="no_such_symbol_here"):
        runtime.build_source("broken", source)


def test_each_program_is_built_once_per_context(runtime):
    assert runtime.program("gemm", np.float32) is runtime.program("gemm", np.float32)
    assert runtime.program("gemm", np.float32) is not runtime.program("gemm", np.float64)


def test_scalar_types_come_from_the_kernel_signature():
    source = """
    // comment with a (paren
    __kernel __attribute__((reqd_work_group_size(16, 4, 1)))
    void k(const int n,   // rows (N)
           __global const real* x, const real alpha, uint u, __global real *y, const float f) {}
    """
    assert scalar_dtypes(source, np.dtype(np.float64)) == {
        "k": [np.int32, None, np.float64, np.uint32, None, np.float32]}


def test_python_numbers_are_converted_and_argument_count_is_checked(runtime):
    program = runtime.build_source("axpy", "__kernel void axpy(const int n, const real a, __global real* y)"
                                           "{ int i = get_global_id(0); if (i < n) y[i] = a * y[i]; }")
    y = runtime.to_device(np.arange(5, dtype=np.float32))
    program.axpy((5,), None, 5, 2, y)  # a Python int for the real argument
    np.testing.assert_array_equal(runtime.read(y), [0, 2, 4, 6, 8])
    with pytest.raises(TypeError, match="takes 3 arguments"):
        program.axpy((5,), None, 5, y)


def test_device_specs(cl_device):
    assert resolve_device("numpy").is_numpy
    assert resolve_device(cl_device.index).device == cl_device
    assert resolve_device(cl_device.kind).device.kind == cl_device.kind
    with pytest.raises(DeviceError, match="bad device spec"):
        resolve_device("fastest")
    with pytest.raises(DeviceError, match="no OpenCL device 9:9; available"):
        resolve_device("9:9")


def test_environment_variable_picks_the_device(monkeypatch):
    from mt5bridge.engine import choose_device, make_engine
    from mt5bridge.engine.reference import ReferenceEngine

    monkeypatch.setenv("MT5BRIDGE_DEVICE", "numpy")
    assert choose_device().is_numpy
    assert isinstance(make_engine(preset("tiny")), ReferenceEngine)


def test_devices_without_any_opencl_platform_explains_and_falls_back(monkeypatch, capsys):
    """In process with the loader's answer injected (as in test_windows_opencl.py), not through OCL_ICD_VENDORS:
    Windows' OpenCL loader reads the registry, not that variable, so a subprocess there would still find drivers.
    platform.system() is pinned to Linux because the Linux help text is what is checked here."""
    import platform

    import mt5bridge.opencl.runtime as rt

    if rt.cl is not None:  # without pyopencl list_devices raises the same help without asking any loader
        def get_platforms():  # what pyopencl raises for CL_PLATFORM_NOT_FOUND_KHR (-1001)
            raise rt.cl.LogicError("clGetPlatformIDs failed: PLATFORM_NOT_FOUND_KHR")

        monkeypatch.setattr(rt.cl, "get_platforms", get_platforms)
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    monkeypatch.setenv("MT5BRIDGE_DEVICE", "auto")
    code, out, err = run_main(["devices"], capsys)
    assert code == 0, err
    assert "No OpenCL platform found" in out
    assert 'pip install "mt5bridge[cpu]"' in out and "nvidia.icd" in out
    assert "selected: numpy" in out
    code, out, err = run_main(["devices", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["devices"] == [] and data["selected"] == "numpy"
    code, out, err = run_main(["devices", "--device", "gpu"], capsys)
    assert code == 2 and "device 'gpu' requested" in err


@pytest.mark.skipif(sys.platform == "win32", reason="Windows' OpenCL loader reads its drivers from the registry, "
                    "not OCL_ICD_VENDORS, so the variable cannot hide them")
def test_auto_falls_back_to_numpy_with_a_warning_in_the_library():
    """A real loader that finds no driver (OCL_ICD_VENDORS at a missing folder), in a fresh process."""
    code = ("import warnings, numpy as np\n"
            "from mt5bridge.config import preset\n"
            "from mt5bridge.engine import make_engine\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            "    engine = make_engine(preset('tiny'))\n"
            "print(type(engine).__name__, any('NumPy device' in str(w.message) for w in caught))\n")
    env = dict(os.environ, OCL_ICD_VENDORS=os.devnull + "-no-such-dir")
    env.pop("MT5BRIDGE_DEVICE", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.stdout.split() == ["ReferenceEngine", "True"], result.stderr


def test_numpy_fallback_warning_mentions_the_fix(monkeypatch):
    import mt5bridge.opencl.runtime as rt

    def no_platform():
        raise DeviceError(rt.NO_PLATFORM_HELP)

    monkeypatch.setattr(rt, "list_devices", no_platform)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert rt.resolve_device("auto").is_numpy
    assert "mt5bridge[cpu]" in str(caught[0].message)
