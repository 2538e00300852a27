"""Windows file locks: another program (antivirus, Search indexer, OneDrive) briefly holding a file we replace or read.

The doubles raise what the Windows build of CPython raises there, so these run on Linux:
- `os.replace` is MoveFileExW(MOVEFILE_REPLACE_EXISTING) (CPython's os.replace docs and posixmodule.c); while
  another process holds the target open without FILE_SHARE_DELETE it fails with ERROR_ACCESS_DENIED (5) or
  ERROR_SHARING_VIOLATION (32) (Microsoft Learn, "System Error Codes (0-499)"; Microsoft's "Creating and Opening
  Files" on share modes), and the target keeps its old bytes.
- CPython turns both into PermissionError with errno EACCES, `winerror` set to the Windows code, the system's
  message as strerror, and for os.replace filename=src, filename2=dst (Python docs, OSError.winerror: "Under
  Windows, this gives you the native Windows error code"). On Linux `winerror` does not exist, so it is set here.
- Opening a file another process holds with no FILE_SHARE_READ fails the same way, with winerror 32.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from mt5bridge import fileio
from mt5bridge.daemon.state import DaemonState, StreamRecord, load_state, save_state
from mt5bridge.errors import DataError, Mt5BridgeError
from mt5bridge.fileio import FileLockedError, Retry, atomic_write_bytes

MESSAGES = {5: "Access is denied", 32: "The process cannot access the file because it is being used by another process"}


def windows_error(winerror: int, filename, filename2=None) -> PermissionError:
    """The exception CPython on Windows raises for ERROR_ACCESS_DENIED / ERROR_SHARING_VIOLATION."""
    exc = OSError(errno.EACCES, MESSAGES[winerror], str(filename), None, None if filename2 is None else str(filename2))
    assert isinstance(exc, PermissionError)  # CPython picks the subclass from errno, as on Windows
    exc.winerror = winerror
    return exc


class FakeTime:
    """Injected sleep and clock: sleeping advances the clock, so a 10 s retry budget runs in no real time."""

    def __init__(self):
        self.now, self.sleeps = 1000.0, []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    def retry(self, **kwargs) -> Retry:
        return Retry(sleep=self.sleep, clock=self.clock, **kwargs)


@pytest.fixture
def fake_time(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(fileio, "DEFAULT_RETRY", fake.retry())  # code that takes the default (model, daemon)
    return fake


def lock_replace(monkeypatch, target: Path, failures: float, winerror: int = 32) -> list:
    """os.replace onto `target` fails `failures` times (inf: always), then works; returns the calls made."""
    real, calls = os.replace, []

    def replace(src, dst, *args, **kwargs):
        if Path(dst) == target:
            calls.append(src)
            if len(calls) <= failures:
                raise windows_error(winerror, src, dst)
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return calls


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("winerror", [5, 32])
def test_replace_waits_out_a_brief_lock(tmp_path, monkeypatch, fake_time, winerror):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    calls = lock_replace(monkeypatch, target, failures=3, winerror=winerror)
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and len(calls) == 4 and leftovers(tmp_path) == []
    assert len(fake_time.sleeps) == 3 and fake_time.sleeps == sorted(fake_time.sleeps)  # backoff grows


def test_a_lock_that_never_ends_is_a_clear_error_and_keeps_the_old_file(tmp_path, monkeypatch, fake_time):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    calls = lock_replace(monkeypatch, target, failures=float("inf"))
    with pytest.raises(FileLockedError) as caught:
        atomic_write_bytes(target, b"new", fake_time.retry(timeout_s=5.0))
    message = str(caught.value)
    assert str(target) in message and "locked by another program" in message and "antivirus" in message
    assert "WinError 32" in message and "\n" not in message
    assert isinstance(caught.value, Mt5BridgeError) and isinstance(caught.value, PermissionError)
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []
    assert 5.0 <= sum(fake_time.sleeps) <= 5.0 + 1e-9 and 3 < len(calls) < 40  # bounded in time and in tries


def test_a_real_permission_error_is_not_retried(tmp_path, monkeypatch, fake_time):
    """POSIX EACCES (no winerror), e.g. a read-only folder: waiting would not help, so it is raised at once."""
    target = tmp_path / "out.bin"

    def replace(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied", str(dst))

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(PermissionError, match="Permission denied") as caught:
        atomic_write_bytes(target, b"new")
    assert not isinstance(caught.value, FileLockedError) and fake_time.sleeps == [] and leftovers(tmp_path) == []


def _state() -> DaemonState:
    record = StreamRecord("ab" * 32, 1_700_000_000, 7, 600, 100, {"n": 1}, {"h0": np.zeros((1, 4), np.float32)},
                          [(7, b"payload")])
    return DaemonState(sequence=7, streams={"EURUSD/H1": record})


def test_daemon_state_survives_a_scanner_on_save_and_on_load(tmp_path, monkeypatch, fake_time):
    path = tmp_path / "state" / "state.npz"
    lock_replace(monkeypatch, path, failures=2)
    save_state(path, _state())
    real, reads = Path.read_bytes, []

    def read_bytes(self):
        if self == path and len(reads) < 2:
            reads.append(self)
            raise windows_error(32, self)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    loaded = load_state(path)
    assert loaded.sequence == 7 and loaded.streams["EURUSD/H1"].recent == [(7, b"payload")] and len(reads) == 2


def test_a_locked_state_file_is_reported_locked_not_damaged(tmp_path, monkeypatch, fake_time):
    path = tmp_path / "state.npz"
    save_state(path, _state())
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: (_ for _ in ()).throw(windows_error(32, self))
                        if self == path else real(self))
    with pytest.raises(FileLockedError, match="locked by another program") as caught:
        load_state(path)
    assert "damaged" not in str(caught.value) and str(path) in str(caught.value) and fake_time.sleeps


def test_an_unreadable_state_file_is_not_called_damaged(tmp_path, monkeypatch, fake_time):
    path = tmp_path / "state.npz"
    save_state(path, _state())
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: (_ for _ in ()).throw(
        PermissionError(errno.EACCES, "Permission denied", str(self))) if self == path else real(self))
    with pytest.raises(DataError, match="cannot be read \\(Permission denied\\)") as caught:
        load_state(path)
    assert "damaged" not in str(caught.value) and fake_time.sleeps == []


def test_a_training_checkpoint_survives_a_scanner(tmp_path, monkeypatch, fake_time):
    from mt5bridge.config import preset
    from mt5bridge.engine.reference import ReferenceEngine
    from mt5bridge.modelfile import Model, load_model, save_model
    from mt5bridge.normalize import Standardizer

    model = Model.from_engine(ReferenceEngine(preset("tiny"), 1, np.float32), Standardizer.identity(12),
                              "scale-free-v1", with_optimizer=True)
    path = tmp_path / "checkpoint.npz"
    calls = lock_replace(monkeypatch, path, failures=3, winerror=5)
    save_model(path, model)
    assert len(calls) == 4 and load_model(path).config == model.config and leftovers(tmp_path) == []


def test_the_daemon_keeps_publishing_while_its_state_file_is_scanned(tmp_path, monkeypatch, fake_time):
    """Every persist after a bar meets a scanner twice; before the fix the first one stopped the daemon."""
    from tests.daemon_support import Harness, train_tiny

    model = train_tiny(tmp_path / "tiny.npz")
    h = Harness(tmp_path, model)
    state = Path(h.config.daemon.state_dir) / "state.npz"
    real, calls = os.replace, []

    def replace(src, dst):
        if Path(dst) == state:
            calls.append(dst)
            if len(calls) % 3:  # two failures, then success, for every save
                raise windows_error(32, src, dst)
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    try:
        h.start_daemon()
        h.hours(4)
        assert len(h.recorder.messages) == 5 and len(calls) >= 15
        assert load_state(state).sequence == h.daemon.sequence
    finally:
        h.close()
