"""The wire protocol against its golden vectors (tests/data/wire, regenerated only by make_vectors.py)."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest

from mt5bridge import wire

VECTORS = Path(__file__).parent / "data" / "wire"
EXPECTED = json.loads((VECTORS / "vectors.json").read_text())


def _same(decoded: dict, expected: dict) -> None:
    for key, value in expected.items():
        if key in ("bytes", "result", "reason"):
            continue
        assert decoded[key] == value, key


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_vector_decodes_to_its_expected_values(name):
    payload = (VECTORS / f"{name}.bin").read_bytes()
    expected = EXPECTED[name]
    assert len(payload) == expected["bytes"]
    if expected["result"] == "error":
        with pytest.raises(wire.WireError):
            wire.decode(payload)
    elif expected["result"] == "skip":
        assert wire.decode(payload) is None
    else:
        message = wire.decode(payload)
        _same(wire.to_json_dict(message), expected)
        assert wire.encode(message) == payload  # and encodes back to the same bytes


def test_layout_offsets_are_the_documented_ones():
    payload = (VECTORS / "latent_eurusd_h1.bin").read_bytes()
    assert payload[:4] == b"M5BR" and struct.unpack_from("<HH", payload, 4) == (1, 1)
    assert struct.unpack_from("<Q", payload, 8)[0] == 1234567
    assert payload[24:30] == b"EURUSD" and payload[30:56] == bytes(26)
    assert struct.unpack_from("<IIqQffHH", payload, 56) == (16385, 1, 1_699_999_200, 4321, 0.4375, 87.5, 25, 0)
    assert len(payload) == wire.LATENT_OFFSET + 4 * 25
    beat = (VECTORS / "heartbeat_two_streams.bin").read_bytes()
    assert struct.unpack_from("<IHH", beat, 24) == (5000, 2, 0)
    assert beat[32 + 64:32 + 64 + 6] == b"XAUUSD" and struct.unpack_from("<I", beat, 32 + 64 + 36)[0] == 12


def test_nan_error_survives_the_round_trip():
    message = wire.decode((VECTORS / "latent_no_error_replay.bin").read_bytes())
    assert math.isnan(message.recon_error) and message.flags & wire.FLAG_NO_ERROR
    assert wire.to_json_dict(message)["recon_error"] is None


@pytest.mark.parametrize("cut", [0, 10, 23, 91, 100])
def test_truncated_payloads_are_errors_not_crashes(cut):
    payload = (VECTORS / "latent_eurusd_h1.bin").read_bytes()[:cut]
    with pytest.raises(wire.WireError):
        wire.decode(payload)


def test_symbols_that_do_not_fit_are_refused():
    with pytest.raises(wire.WireError, match="does not fit"):
        wire.encode(wire.LatentMessage(1, 0, "X" * 32, 1, 0, 0, 1, 0.0, 0.0, ()))


def test_mql5_copies_of_the_vectors_are_identical():
    copies = Path(__file__).parents[1] / "mql5" / "Files" / "Mt5Bridge"
    for path in VECTORS.glob("*.bin"):
        assert (copies / path.name).read_bytes() == path.read_bytes(), path.name
    assert json.loads((copies / "vectors.json").read_text()) == EXPECTED
