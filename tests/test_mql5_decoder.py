"""The MQL5 decoder against the reference decoder (mt5bridge.wire) and the golden vectors: the same payloads give
the same result and the same fields, field by field. Each test runs on both decoders: the twin
(tests/mql5twin/protocol.py, the readable specification) and Protocol.mqh itself, compiled against the C++ MQL5
runtime (tests/mql5check/native.py; skipped without g++)."""

from __future__ import annotations

import atexit
import json
import math
import random
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from mt5bridge import wire
from mql5check import native
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


_bridge: list[native.Bridge] = []


def mql5_decode(payload: bytes, bridge: native.Bridge | None = None) -> tuple[str, dict | None, str]:
    """Protocol.mqh's Mt5bDecode, compiled and run (one process for the session): as twin_decode."""
    if bridge is None:
        if not _bridge:
            _bridge.append(native.Bridge())
            atexit.register(_bridge[0].close)
        bridge = _bridge[0]
    r = bridge.decode(payload)
    return r["r"], r.get("fields"), r.get("why", "")


DECODERS = native.implementations()


def decode(decoder: str, payload: bytes) -> tuple[str, dict | None, str]:
    return twin_decode(payload) if decoder == "twin" else mql5_decode(payload)


def reference_decode(payload: bytes) -> tuple[str, dict | None]:
    try:
        message = wire.decode(payload)
    except wire.WireError:
        return "error", None
    if message is None:
        return "skip", None
    return "ok", wire.to_json_dict(message)


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_vector_decodes_as_vectors_json_and_wire(decoder, name):
    payload = (VECTORS / f"{name}.bin").read_bytes()
    expected = EXPECTED[name]
    result, fields, _ = decode(decoder, payload)
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


@pytest.mark.skipif(not native.available(), reason="g++ is not installed")
def test_the_selftest_script_passes_in_the_runtime():
    """mql5/Scripts/Mt5BridgeSelfTest.mq5 itself, compiled and run: it reads the golden vectors from
    MQL5/Files/Mt5Bridge as in a terminal and must pass them all."""
    script = native.Program("mql5/Scripts/Mt5BridgeSelfTest.mq5", env={"MQL5_FILES": str(MQL5_FILES.parent)})
    try:
        script.call("start")
    finally:
        script.close()
    assert script.log[-1] == f"Mt5BridgeSelfTest: {len(EXPECTED)} of {len(EXPECTED)} vectors passed", script.log
    assert sorted(line.split()[1] for line in script.log[:-1] if line.startswith("PASS")) == sorted(EXPECTED)


def test_nan_error_is_nan_in_the_twin():
    latent, why = P.Mt5bLatent(), [""]
    payload = uchar_array((VECTORS / "latent_no_error_replay.bin").read_bytes())
    assert P.Mt5bDecode(payload, P.Mt5bHeader(), latent, P.Mt5bHeartbeat(), why) == P.MT5B_DECODE_OK
    assert math.isnan(latent.recon_error) and math.isnan(latent.anomaly_pct)
    assert P.Mt5bFlagsText(latent.flags) == "NO_ERROR REPLAY"


GOLDEN = [(VECTORS / f"{n}.bin").read_bytes() for n in sorted(EXPECTED)]


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("name", [n for n in sorted(EXPECTED) if EXPECTED[n]["result"] == "ok"])
@pytest.mark.parametrize("change", [b"\0", b"\0" * 4, -1, -4])
def test_one_byte_or_one_float_too_many_or_too_few_is_malformed(decoder, name, change):
    payload = (VECTORS / f"{name}.bin").read_bytes()
    payload = payload + change if isinstance(change, bytes) else payload[:change]
    assert decode(decoder, payload)[0] == "error" and reference_decode(payload)[0] == "error"


@pytest.mark.parametrize("decoder", DECODERS)
@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from(GOLDEN), data=st.data())
def test_damaged_payloads_decode_alike(decoder, base, data):
    """Flipped bytes, cuts and extensions: the twin and wire.py agree on every outcome (never a crash)."""
    payload = bytearray(base)
    for _ in range(data.draw(st.integers(0, 3))):
        if payload:
            i = data.draw(st.integers(0, len(payload) - 1))
            payload[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(payload)))
    payload = payload[:cut] + data.draw(st.binary(max_size=12)) if data.draw(st.booleans()) else payload
    result, fields, _ = decode(decoder, bytes(payload))
    assert (result, fields) == reference_decode(bytes(payload))


f32 = st.floats(width=32, allow_nan=True, allow_infinity=True)
symbols = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=10).filter(
    lambda s: len(s.encode()) < 32)


@pytest.mark.parametrize("decoder", DECODERS)
@settings(max_examples=150, deadline=None)
@given(seq=st.integers(0, 2**64 - 1), sent=st.integers(-2**63, 2**63 - 1), symbol=symbols,
       tf=st.integers(0, 2**32 - 1), flags=st.integers(0, 2**32 - 1), bar=st.integers(-2**63, 2**63 - 1),
       stream_seq=st.integers(0, 2**64 - 1), err=f32, pct=f32, latent=st.lists(f32, max_size=70))
def test_any_latent_decodes_alike(decoder, seq, sent, symbol, tf, flags, bar, stream_seq, err, pct, latent):
    payload = wire.encode(wire.LatentMessage(seq, sent, symbol, tf, flags, bar, stream_seq, err, pct, tuple(latent)))
    result, fields, _ = decode(decoder, payload)
    assert result == "ok"
    assert json.dumps(fields) == json.dumps(reference_decode(payload)[1])  # NaN-safe, exact


@pytest.mark.parametrize("decoder", DECODERS)
@settings(max_examples=60, deadline=None)
@given(interval=st.integers(0, 2**32 - 1), streams=st.lists(st.tuples(
    symbols, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(-2**63, 2**63 - 1),
    st.integers(0, 2**64 - 1), st.integers(-2**63, 2**63 - 1)), max_size=5))
def test_any_heartbeat_decodes_alike(decoder, interval, streams):
    payload = wire.encode(wire.HeartbeatMessage(3, 4, interval, tuple(wire.StreamStatus(*s) for s in streams)))
    assert decode(decoder, payload)[:2] == reference_decode(payload)


def corpus(seed: int = 11, size: int = 600) -> list[bytes]:
    """A fixed corpus in the image of the fuzz tests above (every golden vector, damaged ones, random latents and
    heartbeats with extreme values, bad UTF-8 in symbols), for a quick check that needs no hypothesis: the
    mutation test (test_mql5_mutations.py) runs it on mutated builds."""
    rng = random.Random(seed)
    out = list(GOLDEN)

    def f32() -> float:
        return rng.choice([0.0, -0.0, 1.5, float("inf"), float("-inf"), float("nan"), 3.4e38, 1e-45,
                           struct.unpack("<f", rng.randbytes(4))[0]])

    for _ in range(size):
        kind = rng.random()
        if kind < 0.4:
            payload = bytearray(rng.choice(GOLDEN))
            for _ in range(rng.randint(1, 3)):
                payload[rng.randrange(len(payload))] = rng.randrange(256)
            if rng.random() < 0.3:
                payload = payload[:rng.randint(0, len(payload))] + rng.randbytes(rng.randint(0, 12))
            out.append(bytes(payload))
        elif kind < 0.75:
            symbol = rng.choice(["EURUSD", "GER40.cash_ecn-pro.2025", "é€𝄞", "X"])
            out.append(wire.encode(wire.LatentMessage(
                rng.getrandbits(64), rng.getrandbits(64) - 2**63, symbol, rng.getrandbits(32), rng.getrandbits(32),
                rng.getrandbits(64) - 2**63, rng.getrandbits(64), f32(), f32(),
                tuple(f32() for _ in range(rng.randint(0, 70))))))
        else:
            streams = tuple(wire.StreamStatus(rng.choice(["USDJPY", "a", "ÄÖ"]), rng.getrandbits(32),
                                              rng.getrandbits(32), rng.getrandbits(64) - 2**63, rng.getrandbits(64),
                                              rng.getrandbits(64) - 2**63) for _ in range(rng.randint(0, 4)))
            out.append(wire.encode(wire.HeartbeatMessage(rng.getrandbits(64), rng.getrandbits(64) - 2**63,
                                                         rng.getrandbits(32), streams)))
    bad_utf8 = bytearray(GOLDEN[sorted(EXPECTED).index("latent_eurusd_h1")])
    for raw in (b"\xff\xfe", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"a\xf0\x9f\x98"):
        bad_utf8[24:56] = raw.ljust(32, b"\0")
        out.append(bytes(bad_utf8))
    return out


def mismatches(decode_one, payloads: list[bytes]) -> list[str]:
    """Where a decoder and mt5bridge.wire differ (result or any field), by payload."""
    out = []
    for i, payload in enumerate(payloads):
        result, fields, _ = decode_one(payload)
        if json.dumps((result, fields)) != json.dumps(reference_decode(payload)):
            out.append(f"payload {i} ({payload[:8].hex()}...): {result} {fields} vs {reference_decode(payload)}")
    return out


@pytest.mark.parametrize("decoder", DECODERS)
def test_the_fixed_corpus_decodes_alike(decoder):
    bad = mismatches(lambda p: decode(decoder, p), corpus())
    assert not bad, "\n".join(bad[:5])


def test_timeframe_names_match_the_daemons():
    from mt5bridge.data.timeframes import TIMEFRAMES

    for name, tf in TIMEFRAMES.items():
        assert P.Mt5bTimeframeName(tf.code) == name
    assert P.Mt5bLatentTopic("EURUSD", 16385) == wire.latent_topic("EURUSD", "H1")
    assert P.Mt5bTimeframeName(0) == ""
