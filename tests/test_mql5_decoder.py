"""The MQL5 decoder's twin (tests/mql5twin/protocol.py) against the reference decoder (mt5bridge.wire) and the
golden vectors: the same payloads give the same result and the same fields, field by field."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from mt5bridge import wire
from mql5twin import protocol as P
from mql5twin.mql5 import uchar_array

VECTORS = Path(__file__).parent / "data" / "wire"
EXPECTED = json.loads((VECTORS / "vectors.json").read_text())
MQL5_FILES = Path(__file__).parents[1] / "mql5" / "Files" / "Mt5Bridge"


def twin_decode(payload: bytes) -> tuple[str, dict | None, str]:
    """('ok'|'skip'|'error', the message as wire.to_json_dict writes it, why)."""
    h, latent, beat, why = P.Mt5bHeader(), P.Mt5bLatent(), P.Mt5bHeartbeat(), [""]
    r = P.Mt5bDecode(uchar_array(payload), h, latent, beat, why)
    if r == P.MT5B_DECODE_ERROR:
        return "error", None, why[0]
    if r == P.MT5B_DECODE_SKIP:
        return "skip", None, why[0]

    def clean(v: float) -> float | None:
        return None if math.isnan(v) else v

    if h.kind == P.MT5B_KIND_LATENT:
        return "ok", {"topic": "", "kind": "latent", "sequence": latent.sequence,
                      "publish_time_ms": latent.publish_time_ms, "symbol": latent.symbol,
                      "timeframe": latent.timeframe, "flags": latent.flags, "bar_time": latent.bar_time,
                      "stream_sequence": latent.stream_sequence, "recon_error": clean(latent.recon_error),
                      "anomaly_pct": clean(latent.anomaly_pct), "latent": [clean(v) for v in latent.latent]}, ""
    return "ok", {"topic": "", "kind": "heartbeat", "sequence": beat.sequence,
                  "publish_time_ms": beat.publish_time_ms, "interval_ms": beat.interval_ms,
                  "streams": [s.__dict__.copy() for s in beat.streams]}, ""


def reference_decode(payload: bytes) -> tuple[str, dict | None]:
    try:
        message = wire.decode(payload)
    except wire.WireError:
        return "error", None
    if message is None:
        return "skip", None
    return "ok", wire.to_json_dict(message)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_vector_twin_equals_vectors_json_and_wire(name):
    payload = (VECTORS / f"{name}.bin").read_bytes()
    expected = EXPECTED[name]
    result, fields, _ = twin_decode(payload)
    assert result == expected["result"]
    assert reference_decode(payload) == (result, fields)
    if result == "ok":
        for key, value in expected.items():
            if key not in ("bytes", "result"):
                assert fields[key] == value, key


def test_mql5_files_are_the_golden_vectors():
    """The self-test script reads mql5/Files/Mt5Bridge: the copies must be the vectors tests use."""
    names = sorted(p.name for p in VECTORS.glob("*.bin")) + ["vectors.json"]
    assert sorted(p.name for p in MQL5_FILES.iterdir()) == sorted(names)
    for n in names:
        assert (MQL5_FILES / n).read_bytes() == (VECTORS / n).read_bytes(), n


def test_nan_error_is_nan_in_the_twin():
    latent, why = P.Mt5bLatent(), [""]
    payload = uchar_array((VECTORS / "latent_no_error_replay.bin").read_bytes())
    assert P.Mt5bDecode(payload, P.Mt5bHeader(), latent, P.Mt5bHeartbeat(), why) == P.MT5B_DECODE_OK
    assert math.isnan(latent.recon_error) and math.isnan(latent.anomaly_pct)
    assert P.Mt5bFlagsText(latent.flags) == "NO_ERROR REPLAY"


GOLDEN = [(VECTORS / f"{n}.bin").read_bytes() for n in sorted(EXPECTED)]


@pytest.mark.parametrize("name", [n for n in sorted(EXPECTED) if EXPECTED[n]["result"] == "ok"])
@pytest.mark.parametrize("change", [b"\0", b"\0" * 4, -1, -4])
def test_one_byte_or_one_float_too_many_or_too_few_is_malformed(name, change):
    payload = (VECTORS / f"{name}.bin").read_bytes()
    payload = payload + change if isinstance(change, bytes) else payload[:change]
    assert twin_decode(payload)[0] == "error" and reference_decode(payload)[0] == "error"


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from(GOLDEN), data=st.data())
def test_damaged_payloads_decode_alike(base, data):
    """Flipped bytes, cuts and extensions: the twin and wire.py agree on every outcome (never a crash)."""
    payload = bytearray(base)
    for _ in range(data.draw(st.integers(0, 3))):
        if payload:
            i = data.draw(st.integers(0, len(payload) - 1))
            payload[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(payload)))
    payload = payload[:cut] + data.draw(st.binary(max_size=12)) if data.draw(st.booleans()) else payload
    result, fields, _ = twin_decode(bytes(payload))
    assert (result, fields) == reference_decode(bytes(payload))


f32 = st.floats(width=32, allow_nan=True, allow_infinity=True)
symbols = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=10).filter(
    lambda s: len(s.encode()) < 32)


@settings(max_examples=150, deadline=None)
@given(seq=st.integers(0, 2**64 - 1), sent=st.integers(-2**63, 2**63 - 1), symbol=symbols,
       tf=st.integers(0, 2**32 - 1), flags=st.integers(0, 2**32 - 1), bar=st.integers(-2**63, 2**63 - 1),
       stream_seq=st.integers(0, 2**64 - 1), err=f32, pct=f32, latent=st.lists(f32, max_size=70))
def test_any_latent_decodes_alike(seq, sent, symbol, tf, flags, bar, stream_seq, err, pct, latent):
    payload = wire.encode(wire.LatentMessage(seq, sent, symbol, tf, flags, bar, stream_seq, err, pct, tuple(latent)))
    result, fields, _ = twin_decode(payload)
    assert result == "ok"
    assert json.dumps(fields) == json.dumps(reference_decode(payload)[1])  # NaN-safe, exact


@settings(max_examples=60, deadline=None)
@given(interval=st.integers(0, 2**32 - 1), streams=st.lists(st.tuples(
    symbols, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(-2**63, 2**63 - 1),
    st.integers(0, 2**64 - 1), st.integers(-2**63, 2**63 - 1)), max_size=5))
def test_any_heartbeat_decodes_alike(interval, streams):
    payload = wire.encode(wire.HeartbeatMessage(3, 4, interval, tuple(wire.StreamStatus(*s) for s in streams)))
    assert twin_decode(payload)[:2] == reference_decode(payload)


def test_timeframe_names_match_the_daemons():
    from mt5bridge.data.timeframes import TIMEFRAMES

    for name, tf in TIMEFRAMES.items():
        assert P.Mt5bTimeframeName(tf.code) == name
    assert P.Mt5bLatentTopic("EURUSD", 16385) == wire.latent_topic("EURUSD", "H1")
    assert P.Mt5bTimeframeName(0) == ""
