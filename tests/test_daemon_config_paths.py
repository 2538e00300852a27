"""Relative source paths in the daemon's config are relative to the config file's folder (docs/DAEMON.md), as the
model and state_dir paths are, whatever folder the daemon is started from (a Windows scheduled task or service
starts in System32). Terminal specs (mt5, mt5rpyc://) are passed on as written."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mt5bridge.config import preset
from mt5bridge.daemon.config import load_run_config
from mt5bridge.daemon.loop import Daemon
from mt5bridge.data import read_bars, sample_path
from mt5bridge.data.sources import FileSource, ReplaySource
from mt5bridge.engine.reference import ReferenceEngine
from mt5bridge.modelfile import Model, save_model
from mt5bridge.normalize import Standardizer


@pytest.fixture
def folders(tmp_path, monkeypatch) -> Path:
    """The config's folder holds the model and data/bars.csv.gz; the working directory is another folder."""
    config_dir = tmp_path / "config"
    (config_dir / "data").mkdir(parents=True)
    shutil.copy(sample_path(), config_dir / "data" / "bars.csv.gz")
    model = Model.from_engine(ReferenceEngine(preset("tiny"), 1, np.float32), Standardizer.identity(12),
                              "scale-free-v1")
    save_model(config_dir / "model.npz", model)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return config_dir


def _daemon(config_dir: Path, spec: str) -> Daemon:
    (config_dir / "run.toml").write_text(f"""
[source]
spec = '{spec}'
[[streams]]
symbol = "XAUUSD"
timeframe = "H1"
model = 'model.npz'
[publisher]
endpoint = "tcp://127.0.0.1:*"
[daemon]
state_dir = 'state'
device = "numpy"
""")
    return Daemon(load_run_config(config_dir / "run.toml", {}))


@pytest.mark.parametrize("written", ["data/bars.csv.gz", "./data/../data/bars.csv.gz"])
def test_relative_replay_path_is_opened_from_the_config_folder(folders, written):
    daemon = _daemon(folders, f"replay:{written}?speed=0&start=500")
    try:
        source = daemon._open_source(daemon.streams[0])
        assert isinstance(source, ReplaySource) and (source.speed, source.start) == (0.0, 500)
        assert (source.bars == read_bars(sample_path()).bars).all() and source.symbol == "XAUUSD"
        assert str(folders) in source.name  # the log names the file that was actually opened
    finally:
        daemon.close()


def test_relative_bar_file_is_opened_from_the_config_folder(folders):
    daemon = _daemon(folders, "data/bars.csv.gz")
    try:
        source = daemon._open_source(daemon.streams[0])
        assert isinstance(source, FileSource) and len(source.bars) == len(read_bars(sample_path()).bars)
    finally:
        daemon.close()


def test_absolute_paths_and_terminal_specs_are_passed_on_as_written(folders, monkeypatch):
    import mt5bridge.data.sources as sources

    absolute = folders / "data" / "bars.csv.gz"
    seen = []
    monkeypatch.setattr(sources, "open_source", lambda spec, *args, **kwargs: seen.append(spec))
    for spec in ("mt5", "mt5rpyc://127.0.0.1:18812", f"replay:{absolute}?speed=7200", str(absolute)):
        daemon = _daemon(folders, spec)
        try:
            daemon._open_source(daemon.streams[0])
        finally:
            daemon.close()
    assert seen == ["mt5", "mt5rpyc://127.0.0.1:18812", f"replay:{absolute}?speed=7200", str(absolute)]
