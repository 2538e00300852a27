"""Train a preset on the first 80% of EURUSD H1 2000-2021 and evaluate it on the last 20% (the training issue's bar).

    python benchmarks/quality_eurusd.py --preset default --out results/ [--config FILE] [--epochs N] [--device D]

Reads ../shared/data/EURUSD_H1_2000_2021.csv.gz (no license: never copied into the repository; override with
--data). Writes <out>/<name>.npz (the model), <name>.json (training time, device, every evaluate metric) and
<name>.png (the per-lag R^2 plot).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "EURUSD_H1_2000_2021.csv.gz"
SPLIT = "2017-08-01 14:00"  # bar 109,134 of 136,418: the first 80% train, the last 20% evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--device")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--name")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()

    from mt5bridge.config import get_preset, load_config_file
    from mt5bridge.data.bars import parse_time
    from mt5bridge.modelfile import load_model
    from mt5bridge.training.evaluate import evaluate, plot
    from mt5bridge.training.series import load_series
    from mt5bridge.training.trainer import Trainer

    chosen = load_config_file(args.config) if args.config else get_preset(args.preset)
    if args.epochs:
        chosen = replace(chosen, train=replace(chosen.train, epochs=args.epochs))
    name = args.name or (args.config.stem if args.config else args.preset)
    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / f"{name}.npz"
    split = parse_time(SPLIT)
    series = load_series(args.data, chosen.train.feature_set, end=split)
    started = time.perf_counter()
    result = Trainer([series], chosen.model, chosen.train, model_path, device=args.device, resume=args.resume,
                     progress=False).run()
    train_seconds = time.perf_counter() - started
    model = load_model(model_path)
    metrics = evaluate(model, load_series(args.data, model.feature_set), start_time=split, device=args.device)
    plot(metrics, args.out / f"{name}.png", title=f"{name}: nmse {metrics['nmse']:.3f} (ridge "
         f"{metrics['baseline_nmse']:.3f}), memory horizon {metrics['memory_horizon']}, "
         f"{metrics['memory_lags']} lags")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    report = {"name": name, "date": date.today().isoformat(), "commit": commit.stdout.strip(),
              "host": platform.node(), "processor": platform.processor(),
              "epochs": result.epochs, "train_seconds": train_seconds, "model": chosen.model.to_dict(),
              "train": chosen.train.to_dict(), "history": result.history, **metrics}
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=1))
    lags = [10, 20, 30, 39]
    print(f"{name}: {train_seconds:.0f} s; nmse {metrics['nmse']:.3f} vs ridge {metrics['baseline_nmse']:.3f}; "
          f"price R2 {[round(metrics['per_lag_r2_price'][k], 2) for k in lags]} vs ridge "
          f"{[round(metrics['baseline_per_lag_r2_price'][k], 2) for k in lags]}; horizon {metrics['memory_horizon']},"
          f" lags {metrics['memory_lags']}, active {metrics['latent_active_units']}")


if __name__ == "__main__":
    main()
