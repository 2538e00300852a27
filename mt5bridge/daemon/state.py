"""The daemon's persisted state: one `.npz` (never pickle) written atomically after every processed batch of bars.

Per stream: the model runner's state (every layer's h and c, the last D-1 standardised bars, bars seen), the
streaming features' state, the last bar time and sequence numbers, the model file's hash, and the recent messages
(for re-sends after a restart). A restart resumes exactly where the file left off; a stream whose model file changed
is warmed up again instead.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..fileio import FileLockedError, Retry, atomic_path, read_bytes

FORMAT = "mt5bridge-daemon-state"
VERSION = 1


@dataclass
class StreamRecord:
    model_sha256: str
    last_bar_time: int | None
    stream_sequence: int
    bars_seen: int  # bars given to the feature stream
    bars_fed: int  # bars given to the model
    features: dict[str, Any]  # FeatureStream.to_dict()
    runner: dict[str, np.ndarray]  # ModelRunner.get_state() of this stream alone (leading dimension 1)
    recent: list[tuple[int, bytes]] = field(default_factory=list)  # (stream_sequence, payload)


@dataclass
class DaemonState:
    sequence: int = 0  # the last latent sequence number published
    streams: dict[str, StreamRecord] = field(default_factory=dict)  # "EURUSD/H1" -> record


def save_state(path: Path, state: DaemonState, retry: Retry | None = None) -> None:
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {"format": FORMAT, "version": VERSION, "sequence": state.sequence, "streams": {}}
    for i, (key, rec) in enumerate(state.streams.items()):
        prefix = f"s{i}."
        for name, array in rec.runner.items():
            arrays[prefix + "runner." + name] = np.asarray(array)
        blobs = [payload for _, payload in rec.recent]
        arrays[prefix + "recent"] = np.frombuffer(b"".join(blobs), np.uint8)
        meta["streams"][key] = {
            "index": i, "model_sha256": rec.model_sha256, "last_bar_time": rec.last_bar_time,
            "stream_sequence": rec.stream_sequence, "bars_seen": rec.bars_seen, "bars_fed": rec.bars_fed,
            "features": rec.features, "runner": sorted(rec.runner),
            "recent": [[seq, len(payload)] for seq, payload in rec.recent],
        }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)
    with atomic_path(path, retry) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def load_state(path: Path, retry: Retry | None = None) -> DaemonState | None:
    """The saved state, None if there is none. A damaged file is an error naming it (never silently ignored); a
    file another program keeps locked (FileLockedError, after retrying) or cannot read is not called damaged:
    moving it away would throw a good state away."""
    if not path.exists():
        return None
    try:
        data = read_bytes(path, retry, "read the daemon state")
    except FileLockedError:  # already one line naming the file and what probably holds it
        raise
    except OSError as exc:
        raise DataError(f"daemon state {path} cannot be read ({exc.strerror or exc}); check its permissions") from None
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ValueError(f"format {meta.get('format')!r} version {meta.get('version')!r}")
        state = DaemonState(sequence=int(meta["sequence"]))
        for key, m in meta["streams"].items():
            prefix = f"s{m['index']}."
            blob = arrays[prefix + "recent"].tobytes()
            recent, at = [], 0
            for seq, size in m["recent"]:
                recent.append((int(seq), blob[at: at + size]))
                at += size
            state.streams[key] = StreamRecord(
                m["model_sha256"], m["last_bar_time"], int(m["stream_sequence"]), int(m["bars_seen"]),
                int(m["bars_fed"]), m["features"], {n: arrays[prefix + "runner." + n] for n in m["runner"]}, recent)
        return state
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, TypeError, EOFError) as exc:
        raise DataError(f"daemon state {path} is damaged ({exc}); move it away to start fresh (the daemon then "
                        "warms up again and continues the sequence numbers from 0)") from None
