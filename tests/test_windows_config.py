"""Config files written on Windows: Notepad's BOM and UTF-16, Windows paths in TOML strings, the docs' examples.

TOML 1.0 (toml.io, "String"): in a basic string ("...") a backslash starts an escape, and only \\b \\t \\n \\f \\r
\\" \\\\ \\uXXXX \\UXXXXXXXX exist, so "C:\\data" is an error and "C:\\new" silently holds a newline; a literal string
('...') has no escapes. Notepad saves "UTF-8 with BOM" (EF BB BF first) and "Unicode" as UTF-16 LE with a BOM.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path, PureWindowsPath

import pytest

from mt5bridge.config import load_config_file, read_toml
from mt5bridge.daemon.config import load_run_config
from mt5bridge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
BOM = b"\xef\xbb\xbf"


def write(tmp_path: Path, text: str, prefix: bytes = b"") -> Path:
    path = tmp_path / "config.toml"
    path.write_bytes(prefix + text.encode("utf-8"))
    return path


def test_a_config_saved_with_a_bom_loads(tmp_path):
    (tmp_path / "tiny.npz").write_bytes(b"")
    daemon = write(tmp_path, '[[streams]]\nsymbol = "EURUSD"\ntimeframe = "H1"\nmodel = "tiny.npz"\n', BOM)
    assert load_run_config(daemon, {}).streams[0].symbol == "EURUSD"
    model = write(tmp_path, 'preset = "tiny"\n[train]\nepochs = 3\n', BOM)
    assert load_config_file(model).train.epochs == 3


def test_a_utf16_config_is_a_clear_error(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('preset = "tiny"\n', encoding="utf-16")
    with pytest.raises(ConfigError, match=f"config file {re.escape(str(path))} is not UTF-8 text.*save it as UTF-8"):
        read_toml(path)


@pytest.mark.parametrize("line, key, value", [
    (r'state_dir = "C:\data\mt5bridge-state"', "state_dir", r"C:\data\mt5bridge-state"),  # \d: no such escape
    (r'state_dir = "C:\Users\trader\state"', "state_dir", r"C:\Users\trader\state"),  # \U needs 8 hex digits
    (r'state_dir = "\\server\share\state"  # a comment', "state_dir", r"\\server\share\state"),
])
def test_a_windows_path_in_double_quotes_gets_a_hint(tmp_path, line, key, value):
    path = write(tmp_path, f"[daemon]\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        load_run_config(path, {})
    message = str(caught.value)
    assert message.startswith(f"config file {path}: ") and "line 2" in message and "\n" not in message
    assert f"use single quotes for Windows paths ({key} = '{value}')" in message


def test_the_daemon_command_prints_the_hint_in_one_line(tmp_path):
    path = write(tmp_path, '[daemon]\nstate_dir = "C:\\data\\state"\n')
    result = subprocess.run([sys.executable, "-m", "mt5bridge", "run", "--config", str(path)], capture_output=True,
                            text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "use single quotes for Windows paths (state_dir = 'C:\\data\\state')" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_windows_path_that_parses_into_control_characters_is_refused(tmp_path):
    """"C:\\new\\temp" is valid TOML: a newline and a tab. Such a path would only fail later, as a missing file."""
    path = write(tmp_path, '[[streams]]\nsymbol = "X"\ntimeframe = "H1"\nmodel = "C:\\new\\temp.npz"\n')
    with pytest.raises(ConfigError, match=re.escape(
            "streams[0].model = \"C:\\new\\temp.npz\" holds a control character; use single quotes for "
            "Windows paths (model = 'C:\\new\\temp.npz')")):
        load_run_config(path, {})
    with pytest.raises(ConfigError, match=r"train.feature_set = .*use single quotes"):
        load_config_file(write(tmp_path, '[train]\nfeature_set = "a\\tb"\n'))


def test_other_toml_errors_get_no_windows_hint(tmp_path):
    with pytest.raises(ConfigError) as caught:
        read_toml(write(tmp_path, '[daemon]\nstate_dir = "unterminated\n'))
    assert "single quotes" not in str(caught.value) and "line 2" in str(caught.value)


def test_windows_paths_in_single_quotes_are_kept_as_written(tmp_path):
    data = read_toml(write(tmp_path, "[source]\nspec = 'replay:C:\\data\\eurusd.csv?speed=7200'\n[daemon]\n"
                                     "state_dir = 'C:\\Users\\trader\\mt5bridge-state'\n"))
    assert data["source"]["spec"] == r"replay:C:\data\eurusd.csv?speed=7200"
    assert PureWindowsPath(data["daemon"]["state_dir"]).drive == "C:"


def _toml_blocks() -> list[tuple[str, str]]:
    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        found += [(doc.name, block) for block in re.findall(r"```toml\n(.*?)```", doc.read_text(), re.S)]
    return found


def test_docs_toml_examples_load_and_write_windows_paths_in_single_quotes(tmp_path):
    blocks = _toml_blocks()
    assert any("'C:\\" in block for _, block in blocks)  # the docs show a Windows path, in single quotes
    for name, block in blocks:
        read_toml(write(tmp_path, block))  # parses, no control characters
        for line in block.splitlines():
            assert not re.search(r'"[^"]*\\', line.split("#")[0]), f"{name}: {line}"
