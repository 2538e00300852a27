"""`mt5bridge info MODEL`: what a model file is, as plain data (`--json`) or a short text.

Everything comes from the verified file (mt5bridge.modelfile checks every array's checksum on load); the file's own
SHA-256 is the one the daemon and encode record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .drift import training_range
from .inference import QUANTILES_KEY as ERROR_QUANTILES_KEY
from .modelfile import file_sha256, load_model


def describe(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    model = load_model(path)
    cfg = model.config
    training = model.metadata.get("training") or {}
    history = training.get("history") or []
    convergence = training.get("convergence") or {}
    best_epoch = convergence.get("best_epoch") or (history[-1]["epoch"] if history else None)
    best = next((h for h in history if h["epoch"] == best_epoch), None)
    train_cfg = training.get("train_config") or {}
    return {
        "file": str(path),
        "sha256": file_sha256(path),
        "bytes": path.stat().st_size,
        "preset": model.metadata.get("preset"),
        "feature_set": model.feature_set,
        "dtype": np.dtype(model.dtype).name,
        "sizes": {"window": cfg.window, "target_bars": cfg.target_bars, "features": cfg.features,
                  "lstm": list(cfg.lstm), "latent": cfg.latent, "decoder": list(cfg.decoder),
                  "variational": cfg.variational,
                  "parameters": int(sum(int(np.prod(p.shape)) for p in model.params.values()))},
        "trained_on": model.metadata.get("trained_on"),
        "training": {
            "finished": training.get("finished"),
            "epochs_run": len(history),
            "epoch_budget": train_cfg.get("epochs"),
            "stopped_early": convergence.get("stopped_early"),
            "best_epoch": best_epoch,
            "val_nmse": best.get("val_nmse") if best else None,
            "val_bars": best.get("val_bars") if best else None,
            "train_mse": best.get("train_mse") if best else None,
            "seconds": float(sum(h["seconds"] for h in history)) if history else None,
            "lr_schedule": train_cfg.get("lr_schedule"),
        },
        "has_optimizer_state": model.adam_m is not None,
        "has_error_distribution": ERROR_QUANTILES_KEY in model.extras,
        "has_input_quantiles": training_range(model.extras) is not None,
        "has_baseline": "baseline.weights" in model.extras,
    }


def format_info(info: dict[str, Any]) -> str:
    s, t, on = info["sizes"], info["training"], info["trained_on"] or {}
    lines = [
        f"{info['file']}  sha256 {info['sha256']}  ({info['bytes'] / 2**20:.1f} MiB)",
        f"preset {info['preset'] or 'unknown'}; feature set {info['feature_set']}; {info['dtype']}",
        f"sizes: window {s['window']}, target {s['target_bars']} bars x {s['features']} features; LSTM "
        f"{'/'.join(map(str, s['lstm']))} -> latent {s['latent']} ({'VAE' if s['variational'] else 'deterministic'})"
        f" -> decoder {'/'.join(map(str, s['decoder']))}; {s['parameters']:,} parameters",
    ]
    if on:
        symbols = ", ".join(on.get("symbols") or []) or "unknown symbols"
        files = ", ".join(f["name"] for f in on.get("files", []))
        lines.append(f"trained on: {symbols}, {on.get('timeframe') or 'unknown timeframe'}, {on.get('from')} .. "
                     f"{on.get('to')} ({files})")
    else:
        lines.append("trained on: not recorded (a file from before mt5bridge recorded it)")
    if t["epochs_run"]:
        how = "stopped early" if t["stopped_early"] else ("finished" if t["finished"] else "in progress")
        val = f"validation nmse {t['val_nmse']:.4f} on {t['val_bars']} bars" if t["val_nmse"] is not None \
            else "no validation"
        lines.append(f"training: {t['epochs_run']} of {t['epoch_budget']} epochs ({how}, {t['lr_schedule']} lr, "
                     f"{t['seconds']:.0f} s); best epoch {t['best_epoch']}: {val}")
    else:
        lines.append("training: no history recorded")
    lines.append("has: " + ", ".join(name for name, ok in (
        ("error distribution", info["has_error_distribution"]), ("input quantiles (drift)",
                                                                  info["has_input_quantiles"]),
        ("no-memory baseline", info["has_baseline"]), ("optimizer state", info["has_optimizer_state"])) if ok))
    return "\n".join(lines)
