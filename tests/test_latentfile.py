"""The latent file for MetaTrader 5's Strategy Tester (docs/LATENTFILE.md): `mt5bridge encode --format mt5` writes,
record for record and bit for bit, what the daemon would publish for each bar after the same history; the reader
refuses every kind of damage with the file and the field or record named; the command refuses to guess a symbol
and never replaces a file without --force. The MQL5 reader and the tester mode: tests/test_mql5_latentfile.py."""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mt5bridge import wire
from mt5bridge.config import get_preset
from mt5bridge.data import sample_path
from mt5bridge.latentfile import (HEADER, LatentFileError, decode_latent_file, encode_latent_file, latent_file_name,
                                  read_latent_file)
from mt5bridge.modelfile import file_sha256, load_model
from mt5bridge.training.encode import encode_series
from mt5bridge.training.series import load_series
from mt5bridge.training.trainer import Trainer
from tests.cli_support import run_main

H1 = 16385


def train_tiny(path: Path) -> Path:
    """A tiny model trained for one epoch on the first 600 bars of the bundled sample (numpy: no device needed)."""
    chosen = get_preset("tiny")
    series = load_series(sample_path(), chosen.train.feature_set).slice(0, 600)
    Trainer([series], chosen.model, replace(chosen.train, epochs=1), path, device="numpy", progress=False,
            echo=lambda s: None, preset_name="tiny").run()
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("latentfile") / "tiny.npz")


@pytest.fixture(scope="module")
def written(model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("written") / "XAUUSD_H1.mt5b"
    code = encode_cli(["--model", str(model), "--data", str(sample_path()), "--format", "mt5", "--symbol", "XAUUSD",
                    "--out", str(out)])
    assert code == 0
    return out


def encode_cli(args: list[str]) -> int:
    """`mt5bridge encode ARGS` in this process (CliRunner: the module fixtures have no capsys)."""
    from typer.testing import CliRunner

    from mt5bridge.cli import app

    result = CliRunner().invoke(app, ["encode", *args, "--device", "numpy", "--no-progress"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code


def _expected_payloads(model_path: Path, warmup_bars: int = 500, threshold: float = 0.075) -> list[bytes]:
    """What the daemon would publish for each bar (its rules for the flags written out here, not imported), as
    wire payloads: the reference the file's records must equal byte for byte."""
    m = load_model(model_path)
    series = load_series(sample_path(), m.feature_set)
    table = encode_series(m, series, device="numpy").to_pandas()
    payloads = []
    for i, row in enumerate(table.itertuples(index=False)):
        fed = i + 1
        flags = (wire.FLAG_WARM if fed >= warmup_bars else 0) | (0 if np.isfinite(row.recon_error) else
                                                                 wire.FLAG_NO_ERROR)
        if fed >= 100 and row.input_drift > threshold:  # drift.py: DRIFT_MIN_BARS, the score over the threshold
            flags |= wire.FLAG_DRIFT
        latent = tuple(float(getattr(row, f"z{k}")) for k in range(m.config.latent))
        message = wire.LatentMessage(i + 1, 0, "XAUUSD", H1, flags, int(row.time), i + 1, float(row.recon_error),
                                     float(row.anomaly_pct), latent)
        payloads.append(wire.encode(message))
    return payloads


def _assert_records_are_the_wire_payloads(records: np.ndarray, payloads: list[bytes]) -> None:
    assert len(records) == len(payloads)
    raw = records.tobytes()
    size = records.dtype.itemsize
    for i, payload in enumerate(payloads):
        record = raw[i * size:(i + 1) * size]
        # bar_time, flags, recon_error + anomaly_pct, latent: the wire's bytes at its own offsets
        assert record[0:8] == payload[64:72], f"record {i}: bar_time"
        assert record[8:12] == payload[60:64], f"record {i}: flags"
        assert record[12:20] == payload[80:88], f"record {i}: recon_error, anomaly_pct"
        assert record[20:] == payload[92:], f"record {i}: latent"


def test_encode_mt5_writes_what_the_daemon_would_publish_bit_for_bit(model, written):
    got = read_latent_file(written)
    h = got.header
    m = load_model(model)
    assert (h.symbol, h.timeframe, h.feature_set, h.latent_size) == ("XAUUSD", H1, m.feature_set, m.config.latent)
    assert h.model_sha256 == file_sha256(model) and (h.warmup_bars, h.drift_threshold) == (500, 0.075)
    assert h.count == 9500 and (h.first_bar_time, h.last_bar_time) == tuple(got.records["bar_time"][[0, -1]])
    payloads = _expected_payloads(model)
    _assert_records_are_the_wire_payloads(got.records, payloads)
    flags = got.records["flags"]
    assert flags[0] & wire.FLAG_NO_ERROR and not flags[-1] & wire.FLAG_NO_ERROR  # the D-bar target fills up
    assert not flags[498] & wire.FLAG_WARM and flags[499] & wire.FLAG_WARM
    assert not (flags & (wire.FLAG_CATCHUP | wire.FLAG_REPLAY)).any()


def test_warmup_and_drift_threshold_options_set_the_flags_as_the_daemon_would(model, tmp_path):
    out = tmp_path / "x.mt5b"
    assert encode_cli(["--model", str(model), "--data", str(sample_path()), "--format", "mt5", "--symbol", "XAUUSD",
                    "--out", str(out), "--warmup-bars", "7", "--drift-threshold", "0.001"]) == 0
    got = read_latent_file(out)
    assert (got.header.warmup_bars, got.header.drift_threshold) == (7, 0.001)
    drift = (got.records["flags"] & wire.FLAG_DRIFT) != 0
    assert drift.any() and not drift[:99].any()  # never before DRIFT_MIN_BARS bars were fed
    _assert_records_are_the_wire_payloads(got.records, _expected_payloads(model, 7, 0.001))


def test_symbol_from_the_parquet_metadata_and_the_default_name(model, tmp_path, monkeypatch, capsys):
    data = tmp_path / "xau.parquet"
    code, _, err = run_main(["history", "XAUUSD", "H1", "--source", str(sample_path()), "--out", str(data),
                             "--no-progress"], capsys)
    assert code == 0, err
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(["encode", "--model", str(model), "--data", str(data), "--format", "mt5", "--device",
                               "numpy", "--no-progress"], capsys)
    assert code == 0, err
    assert "XAUUSD_H1.mt5b: XAUUSD H1, 9500 bars" in out
    assert read_latent_file(tmp_path / "XAUUSD_H1.mt5b").header.symbol == "XAUUSD"
    code, _, err = run_main(["encode", "--model", str(model), "--data", str(data), "--format", "mt5", "--symbol",
                             "XAUUSD.m", "--device", "numpy", "--no-progress"], capsys)
    assert code == 0 and "says its bars are XAUUSD; writing them as XAUUSD.m" in err
    assert read_latent_file(tmp_path / "XAUUSD.m_H1.mt5b").header.symbol == "XAUUSD.m"


def test_a_file_name_is_not_a_symbol(model, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(["encode", "--model", str(model), "--data", str(sample_path()), "--format", "mt5",
                             "--device", "numpy", "--no-progress"], capsys)
    assert code == 2 and "does not say which symbol its bars are" in err and "--symbol" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["mt5", "parquet"])
def test_an_output_is_never_replaced_without_force(model, tmp_path, capsys, fmt):
    out = tmp_path / f"out.{fmt}"
    out.write_bytes(b"keep me")
    argv = ["encode", "--model", str(model), "--data", str(sample_path()), "--format", fmt, "--out", str(out),
            "--device", "numpy", "--no-progress", *(["--symbol", "XAUUSD"] if fmt == "mt5" else [])]
    code, _, err = run_main(argv, capsys)
    assert code == 2 and "already exists" in err and "--force" in err and out.read_bytes() == b"keep me"
    code, _, err = run_main([*argv, "--force"], capsys)
    assert code == 0, err
    assert out.read_bytes() != b"keep me"


@pytest.mark.parametrize("argv, message", [
    (["--format", "csv"], "--format 'csv': parquet or mt5"),
    (["--format", "parquet"], "--format parquet needs --out"),
    (["--out", "x.parquet", "--symbol", "XAUUSD"], "--symbol only apply to --format mt5"),
    (["--format", "mt5", "--symbol", "XAUUSD", "--with-reconstruction"], "--with-reconstruction only applies"),
    (["--format", "mt5", "--symbol", "A" * 32], "--symbol 'AAAA"),
])
def test_bad_options_are_one_line(model, tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(["encode", "--model", str(model), "--data", str(sample_path()), *argv, "--device",
                             "numpy", "--no-progress"], capsys)
    assert code == 2 and message in err and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


def test_file_names_hold_no_character_windows_refuses():
    assert latent_file_name("XAUUSD", "H1") == "XAUUSD_H1.mt5b"
    assert latent_file_name('A/B\\C:D*E?F"G<H>I|J', "M15") == "A_B_C_D_E_F_G_H_I_J_M15.mt5b"
    assert latent_file_name("Ölpreis.m", "D1") == "Ölpreis.m_D1.mt5b"


def damaged_files(data: bytes) -> dict[str, tuple[bytes, str]]:
    z = struct.unpack_from("<H", data, 12)[0]
    size = 20 + 4 * z

    def header(**fields) -> bytes:
        offsets = {"version": (4, "<H"), "header_bytes": (6, "<H"), "record_bytes": (8, "<I"), "z": (12, "<H"),
                   "timeframe": (16, "<I"), "count": (32, "<Q"), "first": (40, "<q"), "last": (48, "<q")}
        out = bytearray(data)
        for name, value in fields.items():
            at, fmt = offsets[name]
            struct.pack_into(fmt, out, at, value)
        return bytes(out)

    swapped, repeated = bytearray(data), bytearray(data)
    a, b = HEADER.size + 5 * size, HEADER.size + 6 * size
    swapped[a:a + 8], swapped[b:b + 8] = data[b:b + 8], data[a:a + 8]
    repeated[b:b + 8] = data[a:a + 8]  # record 6 at record 5's time
    return {
        "bad magic": (b"XXXX" + data[4:], "magic b'XXXX'"),
        "newer version": (header(version=2), "format version 2"),
        "header size": (header(header_bytes=160), "header_bytes 160"),
        "record size": (header(record_bytes=size + 4), f"record_bytes {size + 4} do not hold latent_size {z}"),
        "no latent": (header(z=0), "latent_size 0"),
        "no records": (header(count=0), "record_count 0"),
        "truncated": (data[:-3], "truncated or grown"),
        "grown": (data + b"\0" * size, "truncated or grown"),
        "header only": (data[:100], "shorter than the 152-byte header"),
        "unknown timeframe": (header(timeframe=7), "timeframe 7"),
        "unsorted": (bytes(swapped), "record 6: bar_time"),
        "repeated": (bytes(repeated), "record 6: bar_time"),
        "first time": (header(first=1), "first/last_bar_time 1/"),
    }


def test_the_reader_refuses_damage_naming_the_file_and_the_field(written):
    data = written.read_bytes()
    for name, (damaged, message) in damaged_files(data).items():
        with pytest.raises(LatentFileError) as err:
            decode_latent_file(damaged, "some/file.mt5b")
        assert str(err.value).startswith("some/file.mt5b: ") and message in str(err.value), (name, str(err.value))


def test_the_writer_refuses_what_it_cannot_write(written):
    got = read_latent_file(written)
    unsorted = got.records.copy()
    unsorted["bar_time"][3] = unsorted["bar_time"][2]
    with pytest.raises(Exception, match="not strictly increasing at record 3"):
        encode_latent_file(got.header, unsorted)
    with pytest.raises(Exception, match="symbol"):
        encode_latent_file(replace(got.header, symbol="X" * 32), got.records)
    with pytest.raises(Exception, match="timeframe"):
        encode_latent_file(replace(got.header, timeframe=7), got.records)
    with pytest.raises(Exception, match="no bars"):
        encode_latent_file(got.header, got.records[:0])
    assert encode_latent_file(got.header, got.records) == written.read_bytes()  # the same bytes again
