"""Mutation check of the compiled-runtime tests: a byte order or a field offset changed in the MQL5 sources (a
temporary copy, compiled once per mutation) must make them fail. Before the MQL5 code itself ran in tests, such
mutations passed every test (only names and constants tied the twin to the .mqh files).

The checks are the compiled-runtime tests' own scenarios, offline (no sockets, so a few seconds in all): the
decoder on every golden vector and the fixed fuzz corpus against mt5bridge.wire (test_mql5_decoder.py), and the
ZMTP framing (test_mql5_zmtp.py): frames split anywhere, PING/PONG, what we send, the peer's greeting and READY.

    PYTHONPATH=. python tests/test_mql5_mutations.py   # prints the table of mutations and what caught each
"""

from __future__ import annotations

import random
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from mql5check import native  # noqa: E402
from mql5twin import zmtp as Z  # noqa: E402
from mql5twin.peers import command, ready  # noqa: E402
import test_mql5_decoder as decoder_tests  # noqa: E402
import test_mql5_zmtp as zmtp_tests  # noqa: E402

pytestmark = pytest.mark.skipif(not native.available(), reason="g++ is not installed")

INCLUDE = "mql5/Include/Mt5Bridge/"
MUTATIONS = {  # name: (file, the code, the mutant); each code occurs once in its file
    "ZmtpReadU64BE byte order (frame length)": (
        "Zmtp.mqh", "v = (v << 8) | (ulong)b[at + i];", "v = (v << 8) | (ulong)b[at + 7 - i];"),
    "ZmtpReadU32BE byte order (READY property size)": (
        "Zmtp.mqh", "return ((uint)b[at] << 24) | ((uint)b[at + 1] << 16) | ((uint)b[at + 2] << 8) | (uint)b[at + 3];",
        "return (uint)b[at] | ((uint)b[at + 1] << 8) | ((uint)b[at + 2] << 16) | ((uint)b[at + 3] << 24);"),
    "QueueFrame long size byte order": (
        "Zmtp.mqh", "(((ulong)count >> (8 * (7 - i))) & 0xFF)", "(((ulong)count >> (8 * i)) & 0xFF)"),
    "PONG context offset": ("Zmtp.mqh", "int context_at = at + 1 + 4 + 2;", "int context_at = at + 1 + 4;"),
    "Mt5bReadU32 byte order": (
        "Protocol.mqh",
        "return (uint)b[at] | ((uint)b[at + 1] << 8) | ((uint)b[at + 2] << 16) | ((uint)b[at + 3] << 24);",
        "return ((uint)b[at] << 24) | ((uint)b[at + 1] << 16) | ((uint)b[at + 2] << 8) | (uint)b[at + 3];"),
    "Mt5bReadU64 halves swapped": (
        "Protocol.mqh", "return (ulong)Mt5bReadU32(b, at) | ((ulong)Mt5bReadU32(b, at + 4) << 32);",
        "return ((ulong)Mt5bReadU32(b, at) << 32) | (ulong)Mt5bReadU32(b, at + 4);"),
    "latent stream_sequence offset 72 -> 64": (
        "Protocol.mqh", "m.stream_sequence = Mt5bReadU64(p, 72);", "m.stream_sequence = Mt5bReadU64(p, 64);"),
    "heartbeat last_poll_ms offset +56 -> +48": (
        "Protocol.mqh", "s.last_poll_ms = Mt5bReadI64(p, at + 56);", "s.last_poll_ms = Mt5bReadI64(p, at + 48);"),
    "latent floats offset 92 -> 88": (
        "Protocol.mqh", "#define MT5B_LATENT_OFFSET     92", "#define MT5B_LATENT_OFFSET     88"),
}


def _decoder(bridge: native.Bridge) -> list[str]:
    return decoder_tests.mismatches(lambda p: decoder_tests.mql5_decode(p, bridge), decoder_tests.corpus(size=300))


def _framing(bridge: native.Bridge) -> list[str]:
    rng = random.Random(5)
    bad = []
    for _ in range(40):
        messages = [[rng.randbytes(rng.choice([0, 1, 255, 256, 300, 70_000])) for _ in range(rng.randint(1, 3))]
                    for _ in range(rng.randint(1, 4))]
        wire = zmtp_tests.frames(messages, [b"ctx"])
        cuts = [rng.randint(0, len(wire)) for _ in range(rng.randint(0, 6))]
        if zmtp_tests.Offline("mql5", bridge=bridge).feed(wire, cuts) != messages:
            bad.append(f"{len(messages)} messages, parts of {[len(p) for m in messages for p in m]} bytes")
    return bad


def _ping_pong(bridge: native.Bridge) -> list[str]:
    z = zmtp_tests.Offline("mql5", bridge=bridge)
    got, out = z.feed(zmtp_tests.PING_PONG_IN, []), z.out()
    return [] if (got, out) == ([[b"m"]], zmtp_tests.PING_PONG_OUT) else [f"{got} {out.hex()}"]


def _what_we_send(bridge: native.Bridge) -> list[str]:
    out = zmtp_tests.what_we_send(zmtp_tests.Offline("mql5", bridge=bridge))
    return [] if out == zmtp_tests.WHAT_WE_SEND else [out[:40].hex()]


def _handshake(bridge: native.Bridge) -> list[str]:
    state, minor, events, out = zmtp_tests.handshake_offline("mql5", bridge)
    ok = (state, minor, out) == (Z.ZMTP_READY, 1, ready(b"SUB") + command(b"SUBSCRIBE", b"mt5bridge/"))
    return [] if ok else [f"state {state}, {events}"]


CHECKS = {"decoder": _decoder, "framing": _framing, "ping/pong": _ping_pong, "what we send": _what_we_send,
          "handshake": _handshake}


def failed_checks(binary: Path) -> dict[str, str]:
    """Each check on its own program (a crash in one does not hide another): {check: why} for those that fail."""
    out = {}
    for name, check in CHECKS.items():
        bridge = native.Bridge(binary)
        try:
            problems = check(bridge)
        except native.Crash as crash:
            problems = [f"the program stopped: {crash}"]
        except AssertionError as failure:
            problems = [str(failure)]
        finally:
            bridge.close()
        if problems:
            out[name] = f"{len(problems)} failure(s), first: {problems[0][:100]}"
    return out


def mutated(name: str) -> dict[str, str]:
    file, code, mutant = MUTATIONS[name]
    path = INCLUDE + file
    text = (native.gate.ROOT / path).read_text()
    assert text.count(code) == 1, f"{name}: the code to mutate is not found once in {file}"
    return {path: text.replace(code, mutant)}


@pytest.fixture(scope="module")
def binaries() -> dict[str, Path]:
    """The real sources and every mutant, compiled two at a time (CI's cores)."""
    names = [None, *MUTATIONS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        built = pool.map(lambda n: native.build("bridge_main.cpp", texts=mutated(n) if n else None), names)
        return dict(zip(names, built))


def test_every_check_passes_on_the_real_sources(binaries):
    assert failed_checks(binaries[None]) == {}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_the_mutation_is_caught(binaries, name):
    assert failed_checks(binaries[name]), f"mutation '{name}' passed every check"


def main() -> int:
    names = [None, *MUTATIONS]
    width = max(map(len, MUTATIONS))
    print(f"| {'mutation'.ljust(width)} | caught by |\n|{'-' * (width + 2)}|---|")
    caught_all = True
    for name in names:
        failed = failed_checks(native.build("bridge_main.cpp", texts=mutated(name) if name else None))
        label = name or "(none: the real sources)"
        print(f"| {label.ljust(width)} | {', '.join(failed) or '-'} |")
        caught_all &= bool(failed) == (name is not None)
    return 0 if caught_all else 1


if __name__ == "__main__":
    sys.exit(main())
