"""The command line as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys


def run_cli(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mt5bridge", *args], capture_output=True, text=True, timeout=300,
                          env=env)


def test_devices_json_lists_the_selected_device(cl_device):
    data = json.loads(run_cli("devices", "--json").stdout)
    assert data["selected"] in [d["index"] for d in data["devices"]]
    assert {"name", "version", "compute_units", "global_memory", "float64"} <= set(data["devices"][0])


def test_bad_device_is_a_clean_error():
    result = run_cli("demo", "--device", "7:7")
    assert result.returncode == 2
    assert "error:" in result.stderr and "Traceback" not in result.stderr
