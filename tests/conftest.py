"""Shared fixtures: the OpenCL device under test (PoCL in CI), device-level ops per dtype, and tolerances."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from mt5bridge.errors import DeviceError


def _opencl_device():
    from mt5bridge.opencl.runtime import resolve_device

    spec = os.environ.get("MT5BRIDGE_TEST_DEVICE", "auto")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            choice = resolve_device(spec)
        except DeviceError:
            return None
    return choice.device


@pytest.fixture(scope="session")
def cl_device():
    """The OpenCL device the kernel tests run on; MT5BRIDGE_TEST_DEVICE picks one (default: auto)."""
    device = _opencl_device()
    if device is None:
        pytest.skip('no OpenCL device: pip install "mt5bridge[cpu]" for PoCL')
    return device


@pytest.fixture(scope="session")
def runtime(cl_device):
    from mt5bridge.opencl.runtime import get_runtime

    return get_runtime(cl_device)


KERNEL_VARIANTS = ["cpu", "gpu"]  # both run on any device; each device uses its own by default


@pytest.fixture(scope="session", params=KERNEL_VARIANTS)
def ops32(runtime, request):
    from mt5bridge.engine.cl_ops import ClOps

    return ClOps(runtime, np.float32, variant=request.param)


@pytest.fixture(scope="session", params=KERNEL_VARIANTS)
def variant(request):
    """Kernel variant for engine-level tests."""
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def assert_close(actual, expected, rtol, atol, what=""):
    """tol + |ref| * eps style check (llm.c), reporting the first mismatches and the max difference."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    bad = np.abs(actual - expected) > atol + rtol * np.abs(expected)
    if bad.any():
        idx = np.argwhere(bad)[:5]
        details = ", ".join(f"{tuple(i)}: {actual[tuple(i)]:.8g} vs {expected[tuple(i)]:.8g}" for i in idx)
        raise AssertionError(f"{what}: {bad.sum()} of {bad.size} differ; max |diff| "
                             f"{np.abs(actual - expected).max():.3g}; first: {details}")


@pytest.fixture
def ctx():
    """A ZeroMQ context for tests that play the publisher, destroyed without lingering."""
    import zmq

    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def _mql5_implementations() -> list:
    from mql5check import native  # tests/ is on sys.path (rootdir conftest)

    return native.implementations()


@pytest.fixture(params=_mql5_implementations())
def impl(request):
    """Which code runs an MQL5 scenario (the twin, or the .mqh compiled against the C++ runtime); the programs a
    test starts are closed after it."""
    request.node.processes = []
    yield request.param
    for process in request.node.processes:
        process.close()
