"""Regenerate the golden wire vectors: python tests/data/wire/make_vectors.py

Writes <name>.bin and vectors.json (expected decoded values; NaN as null). The files are committed; tests check that
mt5bridge.wire encodes exactly these bytes and decodes them to exactly these values, and the MQL5 self-test script
decodes the same files (copied to mql5/Files/Mt5Bridge/) in a terminal.
"""

from __future__ import annotations

import json
import math
import shutil
import struct
from pathlib import Path

from mt5bridge import wire

HERE = Path(__file__).resolve().parent
MQL5_FILES = HERE.parents[2] / "mql5" / "Files" / "Mt5Bridge"


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def vectors() -> dict[str, bytes]:
    latent25 = tuple(f32(math.sin(k) * (k + 1) / 7.0) for k in range(25))
    latent64 = tuple(f32((k - 32) / 16.0) for k in range(64))
    good = {
        "latent_eurusd_h1": wire.LatentMessage(
            sequence=1234567, publish_time_ms=1_700_000_000_123, symbol="EURUSD", timeframe=16385,
            flags=wire.FLAG_WARM, bar_time=1_699_999_200, stream_sequence=4321, recon_error=f32(0.4375),
            anomaly_pct=f32(87.5), latent=latent25),
        "latent_no_error_replay": wire.LatentMessage(
            sequence=1, publish_time_ms=1_600_000_000_000, symbol="XAUUSD", timeframe=16385,
            flags=wire.FLAG_NO_ERROR | wire.FLAG_REPLAY, bar_time=1_599_998_400, stream_sequence=1,
            recon_error=float("nan"), anomaly_pct=float("nan"), latent=tuple(f32(0.125 * k) for k in range(8))),
        "latent_z64_catchup_long_symbol": wire.LatentMessage(
            sequence=2**40 + 5, publish_time_ms=1_750_000_000_999, symbol="GER40.cash_ecn-pro.2025",
            timeframe=5, flags=wire.FLAG_WARM | wire.FLAG_CATCHUP, bar_time=1_749_999_700, stream_sequence=2**33,
            recon_error=f32(1e-6), anomaly_pct=f32(0.0), latent=latent64),
        "heartbeat_two_streams": wire.HeartbeatMessage(
            sequence=1234567, publish_time_ms=1_700_000_005_000, interval_ms=5000, streams=(
                wire.StreamStatus("EURUSD", 16385, wire.STATUS_CONNECTED | wire.STATUS_WARM, 1_699_999_200, 4321,
                                  1_700_000_004_900),
                wire.StreamStatus("XAUUSD", 16388, wire.STATUS_ERROR | wire.STATUS_CATCHING_UP, 1_699_990_000, 77,
                                  0))),
        "heartbeat_no_streams": wire.HeartbeatMessage(sequence=0, publish_time_ms=1_700_000_000_000, interval_ms=250),
        # Input drift (a model trained on another market): the DRIFT bits; 0x100 stands for a bit a newer daemon may
        # add within version 1, which decoders carry through and ignore.
        "latent_drift_usdjpy": wire.LatentMessage(
            sequence=77, publish_time_ms=1_760_000_000_500, symbol="USDJPY", timeframe=16385,
            flags=wire.FLAG_WARM | wire.FLAG_DRIFT, bar_time=1_759_996_800, stream_sequence=12,
            recon_error=f32(3.75), anomaly_pct=f32(100.0), latent=tuple(f32(-0.5 + k / 4) for k in range(5))),
        "heartbeat_drift": wire.HeartbeatMessage(
            sequence=77, publish_time_ms=1_760_000_001_000, interval_ms=5000, streams=(
                wire.StreamStatus("USDJPY", 16385, wire.STATUS_CONNECTED | wire.STATUS_WARM | wire.STATUS_DRIFT,
                                  1_759_996_800, 12, 1_760_000_000_900),
                wire.StreamStatus("EURUSD", 16385, wire.STATUS_CONNECTED | wire.STATUS_WARM | 0x100, 1_759_996_800,
                                  4400, 1_760_000_000_900))),
    }
    out = {name: wire.encode(msg) for name, msg in good.items()}
    header = struct.pack("<4sHHQq", b"M5BR", 1, 99, 7, 1_700_000_000_000)
    out["unknown_kind"] = header + b"future message kind, to be skipped"
    out["bad_version"] = struct.pack("<4sHHQq", b"M5BR", 2, 1, 7, 1_700_000_000_000) + out["latent_eurusd_h1"][24:]
    out["bad_magic"] = b"XXXX" + out["latent_eurusd_h1"][4:]
    out["truncated_latent"] = out["latent_eurusd_h1"][:-3]
    return out


def expected(name: str, payload: bytes) -> dict:
    try:
        message = wire.decode(payload)
    except wire.WireError as exc:
        return {"result": "error", "reason": str(exc)}
    if message is None:
        return {"result": "skip"}
    return {"result": "ok", **wire.to_json_dict(message)}


def main() -> None:
    data = vectors()
    table = {}
    for name, payload in data.items():
        (HERE / f"{name}.bin").write_bytes(payload)
        table[name] = {"bytes": len(payload), **expected(name, payload)}
    (HERE / "vectors.json").write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    MQL5_FILES.mkdir(parents=True, exist_ok=True)
    for path in HERE.glob("*.bin"):
        shutil.copyfile(path, MQL5_FILES / path.name)
    shutil.copyfile(HERE / "vectors.json", MQL5_FILES / "vectors.json")


if __name__ == "__main__":
    main()
