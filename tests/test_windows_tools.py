"""The developer tools run on Windows too: the g++ check names the platform's null device, and the benchmarks
start without the POSIX-only `resource` module (peak memory is then reported as not measured), and read its peak
memory in the platform's unit where it exists.

Windows is imitated on Linux: os.devnull is "nul" there (CPython's ntpath), and `import resource` raises
ImportError there, which a None entry in sys.modules reproduces.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ("daemon_latency", "inference_speed", "train_epoch")


def test_gxx_discards_the_object_file_into_the_platforms_null_device(monkeypatch):
    from mql5check import gxx

    monkeypatch.setattr(os, "devnull", "nul")
    command = gxx._command(ROOT, "mql5/Experts/Mt5BridgeMonitor.mq5")
    assert command[command.index("-o") + 1] == "nul" and "/dev/null" not in command


def _load(name: str, monkeypatch):
    """The benchmark script as a module, with a fresh benchmarks.peak_memory (which reads `resource` on import)."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # the scripts put the repository on sys.path
    monkeypatch.delitem(sys.modules, "benchmarks.peak_memory", raising=False)
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmarks_load_without_resource_and_say_memory_is_not_measured(monkeypatch, name):
    monkeypatch.setitem(sys.modules, "resource", None)  # `import resource` now raises ImportError, as on Windows
    module = _load(name, monkeypatch)
    assert module.peak_rss_mib() is None and "Windows" in module.NO_RSS
    assert module.rss_cell(None) == "peak RSS not measured (Windows)"


@pytest.mark.skipif(sys.platform == "win32", reason="`resource` is POSIX only")
@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmarks_still_measure_peak_memory_where_resource_exists(monkeypatch, name):
    peak = _load(name, monkeypatch).peak_rss_mib()
    assert 10 < peak < 1_000_000  # MiB: this test process, not KiB or bytes


@pytest.mark.parametrize("system, expected", [("linux", 1024.0), ("darwin", 1.0)])
def test_peak_memory_reads_ru_maxrss_in_the_platforms_unit(monkeypatch, system, expected):
    """getrusage(2): ru_maxrss is in kilobytes on Linux and in bytes on macOS."""
    from types import SimpleNamespace

    sys.path.insert(0, str(ROOT))
    from benchmarks import peak_memory

    usage = SimpleNamespace(ru_maxrss=2**20)  # 1 GiB in KiB (Linux), 1 MiB in bytes (macOS)
    monkeypatch.setattr(peak_memory, "resource", SimpleNamespace(RUSAGE_SELF=0, getrusage=lambda who: usage))
    monkeypatch.setattr(sys, "platform", system)
    assert peak_memory.peak_rss_mib() == expected
