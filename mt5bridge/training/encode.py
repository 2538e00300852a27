"""`mt5bridge encode`: the offline backfill of every historical bar's latent to Parquet.

One stream walks the file from its first usable bar (after the feature warm-up) through `ModelRunner`, the same
code path the live daemon steps, so a bar's latent here is what the daemon publishes for it after the same history.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..fileio import atomic_path
from ..inference import ModelRunner
from ..modelfile import Model
from .series import Series

CHUNK = 1024  # bars per forward call; the numbers do not depend on it


def encode_series(model: Model, series: Series, *, device: str | None = None, with_reconstruction: bool = False,
                  progress: Callable[[int], None] | None = None) -> pa.Table:
    """One row per bar: time, z0..z{Z-1} (latent mean), recon_error, anomaly_pct, input_drift; optionally the
    stacks."""
    runner = ModelRunner(model, streams=1, device=device)
    cfg = model.config
    latents, errors, percentiles, drifts, recons, targets = [], [], [], [], [], []
    for lo in range(0, len(series), CHUNK):
        out = runner.step(series.features[lo: lo + CHUNK, None])
        latents.append(out.latent[:, 0])
        errors.append(out.error[:, 0])
        percentiles.append(out.percentile[:, 0])
        drifts.append(out.drift[:, 0])
        if with_reconstruction:
            recons.append(out.reconstruction[:, 0].astype(np.float32))
            targets.append(out.target[:, 0].astype(np.float32))
        if progress:
            progress(len(out.error))
    latent = np.concatenate(latents) if latents else np.zeros((0, cfg.latent))
    columns = {
        "time": pa.array(series.times, pa.int64()),
        "datetime": pa.array(series.times.astype("datetime64[s]")),
        **{f"z{k}": pa.array(latent[:, k].astype(np.float32)) for k in range(cfg.latent)},
        "recon_error": pa.array(np.concatenate(errors) if errors else np.zeros(0)),
        "anomaly_pct": pa.array(np.concatenate(percentiles) if percentiles else np.zeros(0)),
        "input_drift": pa.array(np.concatenate(drifts) if drifts else np.zeros(0)),
    }
    if with_reconstruction:
        for name, parts in (("reconstruction", recons), ("target", targets)):
            flat = np.concatenate(parts).reshape(-1) if parts else np.zeros(0, np.float32)
            columns[name] = pa.FixedSizeListArray.from_arrays(pa.array(flat), cfg.outputs)
    return pa.table(columns)


def write_table(table: pa.Table, path: str | Path, metadata: dict) -> None:
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"mt5bridge": json.dumps(metadata).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
