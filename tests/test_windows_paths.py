"""Windows paths in source specs: drive letters, backslashes, UNC shares, the long-path prefix, '#' in names.

urllib's urlsplit reads `C:` as a URL scheme (CPython's urllib.parse docs: a scheme is letters, digits, + - .
before ':'), so `replay:C:\\data\\x.csv` used to lose its drive letter, and it cuts a path at '#'.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import PureWindowsPath

import pytest

from mt5bridge.data import sample_path
from mt5bridge.data.sources import ReplaySource, open_source, parse_replay_spec
from mt5bridge.errors import ConfigError


@pytest.mark.parametrize("path", [
    r"C:\data\eurusd.csv",
    r"c:\Users\Trader\AppData\Roaming\MetaQuotes\Terminal\Common\Files\eurusd.csv",
    "C:/data/eurusd.csv",
    r"D:\bars #2\eurusd h1.csv",
    r"\\fileserver\share\bars\eurusd.csv",
    r"\\?\C:\very\long\path\eurusd.csv",
    r"data\eurusd.csv",
    "/srv/bars/eurusd.csv",
])
@pytest.mark.parametrize("query, options", [
    ("", {}),
    ("?speed=7200&start=500", {"speed": "7200", "start": "500"}),
    ("?start=5", {"start": "5"}),
])
def test_replay_spec_keeps_the_path_as_written(path, query, options):
    got, opts = parse_replay_spec(f"replay:{path}{query}")
    assert got == path and opts == options
    assert PureWindowsPath(got).drive == PureWindowsPath(path).drive  # C:, \\fileserver\share, \\?\C: kept


def test_open_source_passes_the_windows_path_and_options_through(monkeypatch):
    seen = {}
    record = classmethod(lambda cls, path, tf, **kw: seen.update(path=path, **kw))
    monkeypatch.setattr(ReplaySource, "from_file", record)
    open_source(r"replay:C:\data\eurusd.csv?speed=7200&start=500", "EURUSD", "H1")
    assert seen["path"] == r"C:\data\eurusd.csv" and (seen["speed"], seen["start"]) == (7200.0, 500)
    assert PureWindowsPath(seen["path"]).drive == "C:"


@pytest.mark.skipif(sys.platform == "win32", reason="on Linux a backslash is an ordinary file-name character, so a "
                    "file named C:\\data\\x.csv can exist in the current folder; on Windows that is drive C:")
def test_a_file_named_like_a_windows_path_replays(tmp_path, monkeypatch):
    """End to end on Linux: the whole string reaches the file system (before the fix it looked for \\data\\...)."""
    name = r"C:\data\xauusd.csv"
    shutil.copy(sample_path(), tmp_path / name)
    monkeypatch.chdir(tmp_path)
    replay = open_source(f"replay:{name}?speed=0&start=5", "XAUUSD", "H1")
    assert len(replay.closed_bars_after(None)) == 5 and replay.name == f"replay:{name}"


@pytest.mark.parametrize("spec, message", [
    (r"replay:C:\data\x.csv?speed", "bad replay option 'speed'"),
    (r"replay:C:\data\x.csv?speed=1&&start=2", "bad replay option ''"),
    ("replay:?speed=1", "names no file"),
])
def test_malformed_replay_options_are_named(spec, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_replay_spec(spec)
