"""The expected values in mql5/Scripts/Mt5BridgeSelfTest.mq5, generated from tests/data/wire/vectors.json.

    PYTHONPATH=. python tests/mql5check/selftest.py   # rewrites the block between the markers

A test checks that the block in the script is exactly what this writes, so the script's expectations cannot
drift from vectors.json.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VECTORS_JSON = ROOT / "tests" / "data" / "wire" / "vectors.json"
SCRIPT = ROOT / "mql5" / "Scripts" / "Mt5BridgeSelfTest.mq5"
BEGIN = "//--- BEGIN EXPECTED (generated from tests/data/wire/vectors.json by tests/mql5check/selftest.py)"
END = "//--- END EXPECTED"
RESULTS = {"ok": "MT5B_DECODE_OK", "skip": "MT5B_DECODE_SKIP", "error": "MT5B_DECODE_ERROR"}


def _float(value: float | None) -> str:
    """A float32 value as an MQL5 literal: repr() round-trips the double, which holds the float exactly."""
    return "Nan()" if value is None else repr(float(value))


def _string(text: str) -> str:
    assert '"' not in text and "\\" not in text
    return f'"{text}"'


def _latent(name: str, v: dict) -> list[str]:
    array = f"z_{name}"
    assert None not in v["latent"], "an array initializer needs constants: no NaN latent values"
    values = [_float(x) for x in v["latent"]]
    rows = [", ".join(values[k:k + 4]) for k in range(0, len(values), 4)]
    return [
        f"   e[i].latent.sequence = {v['sequence']};",
        f"   e[i].latent.publish_time_ms = {v['publish_time_ms']};",
        f"   e[i].latent.symbol = {_string(v['symbol'])};",
        f"   e[i].latent.timeframe = {v['timeframe']};",
        f"   e[i].latent.flags = {v['flags']};",
        f"   e[i].latent.bar_time = (datetime){v['bar_time']};",
        f"   e[i].latent.stream_sequence = {v['stream_sequence']};",
        f"   e[i].latent.recon_error = (float){_float(v['recon_error'])};",
        f"   e[i].latent.anomaly_pct = (float){_float(v['anomaly_pct'])};",
        f"   double {array}[] =",
        "     {",
    ] + [f"      {row}{',' if k < len(rows) - 1 else ''}" for k, row in enumerate(rows)] + [
        "     };",
        f"   SetLatent(e[i].latent, {array});",
    ]


def _heartbeat(v: dict) -> list[str]:
    lines = [
        f"   e[i].beat.sequence = {v['sequence']};",
        f"   e[i].beat.publish_time_ms = {v['publish_time_ms']};",
        f"   e[i].beat.interval_ms = {v['interval_ms']};",
    ]
    for s in v["streams"]:
        lines.append(f"   AddStream(e[i].beat, {_string(s['symbol'])}, {s['timeframe']}, {s['status']}, "
                     f"{s['last_bar_time']}, {s['last_stream_sequence']}, {s['last_poll_ms']});")
    return lines


def block(vectors: dict) -> str:
    lines = [BEGIN, "void LoadExpected(Expected &e[])", "  {", "   int i = 0;"]
    for name in sorted(vectors):
        v = vectors[name]
        kind = {"latent": "MT5B_KIND_LATENT", "heartbeat": "MT5B_KIND_HEARTBEAT"}.get(v.get("kind"), "0")
        lines.append(f"   i = AddExpected(e, {_string(name)}, {v['bytes']}, {RESULTS[v['result']]}, {kind});")
        if v.get("kind") == "latent":
            lines += _latent(name, v)
        elif v.get("kind") == "heartbeat":
            lines += _heartbeat(v)
    lines += ["  }", END]
    return "\n".join(lines)


def expected_block() -> str:
    return block(json.loads(VECTORS_JSON.read_text()))


def current_block(text: str) -> str:
    match = re.search(re.escape(BEGIN) + r".*?" + re.escape(END), text, re.S)
    assert match, f"no generated block in {SCRIPT}"
    return match.group(0)


def main() -> None:
    text = SCRIPT.read_text()
    SCRIPT.write_text(text.replace(current_block(text), expected_block()))


if __name__ == "__main__":
    main()
