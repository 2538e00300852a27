"""Fuzz the wire decoder: N payloads (default 1,000,000) made by damaging the golden vectors (bit flips, cut,
grown, spliced, header fields rewritten) and by random bytes, each through `mt5bridge.wire.decode`.

    python benchmarks/wire_fuzz.py [--count 1000000] [--seed 0]

The contract (docs/PROTOCOL.md): decode returns a message, returns None (unknown kind: skip), or raises WireError —
nothing else, ever. Decoded messages are also re-encoded, and the tally says how many come back byte-identical
(the decoder ignores reserved fields and the bytes after a symbol's NUL, and shows a symbol that is not UTF-8 with
U+FFFD, as the protocol allows). Prints the tally and the first few
violations; exits 1 if there is any. Results go into docs/PROTOCOL.md ("Robustness").
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mt5bridge import wire  # noqa: E402

VECTORS = sorted((ROOT / "tests" / "data" / "wire").glob("*.bin"))


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    base = bytearray(rng.choice(seeds))
    how = rng.randrange(7)
    if how == 0 and base:  # flip 1-8 bits
        for _ in range(rng.randint(1, 8)):
            base[rng.randrange(len(base))] ^= 1 << rng.randrange(8)
    elif how == 1:  # cut
        del base[rng.randrange(len(base) + 1):]
    elif how == 2:  # grow
        base += rng.randbytes(rng.randint(1, 64))
    elif how == 3:  # splice two vectors
        other = rng.choice(seeds)
        cut = rng.randrange(len(base) + 1)
        base = base[:cut] + other[rng.randrange(len(other) + 1):]
    elif how == 4 and len(base) >= 32:  # rewrite a count or size field: stream_count, latent_size
        offset = rng.choice([28, 88]) if len(base) > 90 else 28
        base[offset:offset + 2] = struct.pack("<H", rng.choice([0, 1, 2, 255, 65535, rng.randrange(65536)]))
    elif how == 5 and len(base) >= 8:  # another version or kind
        base[4:8] = struct.pack("<HH", rng.choice([0, 1, 2, 65535]), rng.choice([0, 1, 2, 3, 65535]))
    else:  # random bytes, sometimes with a valid header
        base = bytearray(rng.randbytes(rng.randint(0, 400)))
        if rng.random() < 0.5 and len(base) >= 8:
            base[:8] = wire.MAGIC + struct.pack("<HH", wire.VERSION, rng.choice([1, 2]))
    return bytes(base)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    seeds = [p.read_bytes() for p in VECTORS]
    tally: Counter[str] = Counter()
    violations: list[str] = []
    started = time.perf_counter()
    for _ in range(args.count):
        payload = mutate(rng, seeds)
        try:
            message = wire.decode(payload)
        except wire.WireError:
            tally["WireError"] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - the very thing this script looks for
            tally["other exception"] += 1
            if len(violations) < 10:
                violations.append(f"{type(exc).__name__}: {exc} for {payload.hex()}")
            continue
        if message is None:
            tally["skipped (unknown kind)"] += 1
            continue
        try:
            again = wire.encode(message)
        except wire.WireError:  # the decoder shows a symbol field that is not NUL-terminated UTF-8 with U+FFFD
            tally[f"decoded {type(message).__name__}, symbol bytes not UTF-8 text (shown replaced)"] += 1
            continue
        if again != payload:  # reserved fields, bytes after a symbol's NUL and NaN payloads are not kept: allowed
            tally[f"decoded {type(message).__name__}, ignored bytes (reserved, padding, NaN bits)"] += 1
        else:
            tally[f"decoded {type(message).__name__}, byte-identical on re-encode"] += 1
    seconds = time.perf_counter() - started
    print(f"{args.count:,} payloads (seed {args.seed}) in {seconds:.1f} s ({args.count / seconds:,.0f}/s):")
    for key, n in sorted(tally.items()):
        print(f"  {key}: {n:,}")
    for line in violations:
        print("VIOLATION", line)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
