"""What a model was trained on, recorded in its file: files, symbols, timeframe, date ranges, and the distribution of
its standardised inputs (the reference of the input-drift score, mt5bridge/drift.py).

Symbol and timeframe come from a Parquet file's mt5bridge metadata (`mt5bridge history` writes them); otherwise the
timeframe is inferred from the bar spacing and the symbol is left unknown (a file name is not a symbol).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.bars import format_time
from ..drift import INPUT_LEVELS, LEVELS_KEY, QUANTILES_KEY
from ..errors import ConfigError
from ..modelfile import Model
from .protocol import Prepared
from .series import Series


def training_provenance(series: list[Series], prep: Prepared) -> dict[str, Any]:
    """Plain JSON data for the model file's metadata["trained_on"]."""
    files = []
    for s, (a, b), (c, d) in zip(series, prep.train, prep.validation):
        files.append({"name": s.name, "symbol": s.symbol, "timeframe": s.timeframe, "bars": len(s),
                      "train_from": format_time(int(s.times[a])), "train_to": format_time(int(s.times[b - 1])),
                      "validation_from": format_time(int(s.times[c])) if d > c else None,
                      "validation_to": format_time(int(s.times[d - 1])) if d > c else None})
    timeframes = {s.timeframe for s in series}
    return {"files": files, "symbols": sorted({s.symbol for s in series if s.symbol}),
            "timeframe": timeframes.pop() if len(timeframes) == 1 else None,
            "from": min(f["train_from"] for f in files), "to": max(f["validation_to"] or f["train_to"] for f in files)}


def input_quantiles(prep: Prepared) -> dict[str, np.ndarray]:
    """Model extras: the quantiles (len(INPUT_LEVELS), F) of the standardised features over the training parts."""
    rows = np.concatenate([z[:b] for z, (_, b) in zip(prep.z, prep.train)])  # (N, F): what the standardiser saw
    return {LEVELS_KEY: np.array(INPUT_LEVELS), QUANTILES_KEY: np.quantile(rows, INPUT_LEVELS, axis=0)}


def trained_timeframe(model: Model) -> str | None:
    """The timeframe a model was trained on ("H1"); None for files that predate the record or unknown spacing."""
    return (model.metadata.get("trained_on") or {}).get("timeframe")


def check_timeframe(model: Model, timeframe: str | None, *, what: str, allow: bool, option: str) -> str | None:
    """Refuse a model on bars of another timeframe (its memory counts bars: 40 bars of M15 are not 40 hours).
    Returns a warning to show when `allow` lets a mismatch through or a side is unknown, else None."""
    trained = trained_timeframe(model)
    if trained is None or timeframe is None:
        side = "the model file does not record its timeframe" if trained is None else \
            f"the timeframe of {what} is unknown"
        return f"cannot check the timeframe: {side}"
    if trained == timeframe:
        return None
    message = f"the model was trained on {trained} bars, {what} is {timeframe}"
    if not allow:
        raise ConfigError(f"{message}; train a model on {timeframe} bars, or pass {option} to use it anyway")
    return f"{message} ({option})"
