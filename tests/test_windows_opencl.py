"""The "no OpenCL platform" help names what to install on the platform at hand, and what the numpy fallback costs.

On Windows `pip install "mt5bridge[cpu]"` installs nothing (pocl-binary-distribution ships Linux and macOS wheels
only; pyproject's marker skips it), so recommending it there is a dead end. The platform is injected through
`platform.system()` (CPython docs: 'Linux', 'Darwin', 'Windows'), so the Windows text is checked on Linux.
"""

from __future__ import annotations

import platform
import warnings

import pytest

import mt5bridge.opencl.runtime as rt
from mt5bridge.errors import DeviceError


@pytest.fixture
def no_opencl(monkeypatch):
    """The ICD loader finds no driver: clGetPlatformIDs returns CL_PLATFORM_NOT_FOUND_KHR (-1001), which pyopencl
    raises as LogicError (as it does here with OCL_ICD_VENDORS pointing at an empty folder)."""
    if rt.cl is None:
        pytest.skip("pyopencl cannot be imported")

    def get_platforms():
        raise rt.cl.LogicError("clGetPlatformIDs failed: PLATFORM_NOT_FOUND_KHR")

    monkeypatch.setattr(rt.cl, "get_platforms", get_platforms)


def _on(monkeypatch, system: str) -> None:
    monkeypatch.setattr(platform, "system", lambda: system)


def test_windows_help_names_windows_runtimes_not_the_cpu_extra(monkeypatch, no_opencl):
    _on(monkeypatch, "Windows")
    with pytest.raises(DeviceError) as caught:
        rt.list_devices()
    message = str(caught.value)
    assert "CPU Runtime for OpenCL Applications" in message
    assert all(vendor in message for vendor in ("NVIDIA", "AMD", "Intel")) and "driver" in message
    assert 'pip install "mt5bridge[cpu]"' not in message and "nvidia.icd" not in message
    assert "numpy device" in message and "bars/s" in message


@pytest.mark.parametrize("system", ["Linux", "Darwin"])
def test_linux_and_macos_help_keeps_the_cpu_extra_and_names_the_numpy_speed(monkeypatch, no_opencl, system):
    _on(monkeypatch, system)
    with pytest.raises(DeviceError) as caught:
        rt.list_devices()
    message = str(caught.value)
    assert 'pip install "mt5bridge[cpu]"' in message and "CPU Runtime for OpenCL" not in message
    assert "numpy device" in message and "bars/s" in message


def test_auto_falls_back_to_numpy_with_the_windows_help(monkeypatch, no_opencl):
    _on(monkeypatch, "Windows")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        choice = rt.resolve_device("auto")
    assert choice.is_numpy and len(caught) == 1
    assert "CPU Runtime for OpenCL Applications" in str(caught[0].message)
    assert "NumPy device" in str(caught[0].message)


def test_devices_command_shows_the_windows_help(monkeypatch, no_opencl):
    from typer.testing import CliRunner

    from mt5bridge.cli import app

    _on(monkeypatch, "Windows")
    monkeypatch.setenv("MT5BRIDGE_DEVICE", "auto")
    result = CliRunner().invoke(app, ["devices"])
    assert result.exit_code == 0, result.output
    assert "CPU Runtime for OpenCL Applications" in result.output and "selected: numpy" in result.output
