"""Packaging: the wheel ships the kernels and an installed copy finds them; README's quick start and CI agree;
the package imports without MetaTrader5; each foreign library has one owner module."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_installed_wheel_finds_and_builds_its_kernels(tmp_path):
    wheel_dir, site = tmp_path / "wheel", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheel_dir)], check=True, timeout=300)
    wheel = next(wheel_dir.glob("mt5bridge-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).name for n in names if n.startswith("mt5bridge/kernels/")}
    assert {p.name for p in (ROOT / "kernels").iterdir() if p.suffix in (".cl", ".h")} <= shipped
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, timeout=300)
    code = ("import mt5bridge.opencl.sources as s; print(s.kernels_dir()); "
            "print(all('__kernel' in s.kernel_source(n) for n in s.program_names()))")
    # Run from tmp_path with only the installed copy on the path: the source checkout must not be visible.
    result = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    lines = result.stdout.split()
    assert result.returncode == 0, result.stderr
    assert Path(lines[0]) == site / "mt5bridge" / "kernels" and lines[1] == "True"


def _quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.S)[1]
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_readme_quick_start_has_two_lines_and_ci_runs_the_test_line_verbatim():
    commands = _quick_start_commands()
    assert len(commands) == 2
    assert commands[0].endswith("mt5bridge demo") and "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci


def test_package_imports_without_metatrader5():
    code = ("import sys, pkgutil, importlib; sys.modules['MetaTrader5'] = None; sys.modules['rpyc'] = None\n"
            "import mt5bridge\n"
            "for m in pkgutil.walk_packages(mt5bridge.__path__, 'mt5bridge.'):\n"
            "    if m.name != 'mt5bridge.__main__': importlib.import_module(m.name)\n"
            "print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize("library, owner", [
    ("pyopencl", "mt5bridge/opencl/runtime.py"),
    ("MetaTrader5", None),
    ("rpyc", None),
    ("zmq", None),
])
def test_each_foreign_library_is_imported_by_one_module(library, owner):
    pattern = re.compile(rf"^\s*(import {library}\b|from {library}\b)", re.M)
    importers = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "mt5bridge").rglob("*.py")
                       if pattern.search(p.read_text()))
    assert len(importers) <= 1, f"{library} imported by {importers}"
    if owner:
        assert importers == [owner]
