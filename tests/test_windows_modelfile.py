"""Windows file locks on the model file: an antivirus scanning a freshly copied model while the daemon starts.

The daemon's start reads the model (load_model) and then hashes it (file_sha256); both opens meet the scanner.
The doubles raise what the Windows build of CPython raises (see test_windows_fileio.py, which explains them).
"""

from __future__ import annotations

import errno
import io
from pathlib import Path

import numpy as np
import pytest

from mt5bridge import fileio, modelfile
from mt5bridge.config import preset
from mt5bridge.engine.reference import ReferenceEngine
from mt5bridge.errors import ModelFileError
from mt5bridge.fileio import FileLockedError
from mt5bridge.modelfile import Model, file_sha256, load_model, save_model
from mt5bridge.normalize import Standardizer
from tests.test_windows_fileio import FakeTime, windows_error


@pytest.fixture
def fake_time(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(fileio, "DEFAULT_RETRY", fake.retry())  # the model reads take the default retry
    return fake


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    model = Model.from_engine(ReferenceEngine(preset("tiny"), 1, np.float32), Standardizer.identity(12),
                              "scale-free-v1")
    path = tmp_path_factory.mktemp("model") / "model.npz"
    save_model(path, model)
    return path


def lock_reads(monkeypatch, path: Path, failures: float, exc=None) -> dict:
    """Path.read_bytes and open() of `path` (the model's two reads) fail `failures` times each, then work."""
    real_read, calls = Path.read_bytes, {"read_bytes": 0, "open": 0}

    def fail(kind: str) -> None:
        calls[kind] += 1
        if calls[kind] <= failures:
            raise exc or windows_error(32, path)

    def read_bytes(self):
        if self == path:
            fail("read_bytes")
        return real_read(self)

    def fake_open(file, mode="r", *args, **kwargs):
        if Path(file) == path:
            fail("open")
        return io.open(file, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr(modelfile, "open", fake_open, raising=False)  # module global shadows the builtin
    return calls


def test_the_daemon_starts_while_its_model_is_scanned(model_file, monkeypatch, fake_time):
    from mt5bridge.daemon.streams import ModelGroup

    expected = file_sha256(model_file)
    calls = lock_reads(monkeypatch, model_file, failures=3)
    group = ModelGroup(model_file, "numpy")  # what the daemon's start does: load the model, then hash it
    assert group.model.config == preset("tiny") and group.sha256 == expected
    assert calls == {"read_bytes": 4, "open": 4} and len(fake_time.sleeps) == 6


def test_a_model_locked_for_good_is_reported_locked_not_corrupted(model_file, monkeypatch, fake_time):
    lock_reads(monkeypatch, model_file, failures=float("inf"))
    for read in (load_model, file_sha256):
        with pytest.raises(FileLockedError, match="cannot read the model file") as caught:
            read(model_file)
        message = str(caught.value)
        assert str(model_file) in message and "corrupted" not in message and "\n" not in message


def test_an_unreadable_model_is_not_called_corrupted(model_file, monkeypatch, fake_time):
    """POSIX EACCES (no winerror) is not waited for, and the message points at the permissions."""
    lock_reads(monkeypatch, model_file, failures=1, exc=PermissionError(errno.EACCES, "Permission denied"))
    with pytest.raises(ModelFileError, match="cannot be read \\(Permission denied\\); check its permissions") as c:
        load_model(model_file)
    assert "corrupted" not in str(c.value) and str(model_file) in str(c.value) and fake_time.sleeps == []
