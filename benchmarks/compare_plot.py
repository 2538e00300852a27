"""Per-lag R^2 (price action) of several quality_eurusd.py reports on one evaluated file, in one plot.

    python benchmarks/compare_plot.py --file XAUUSD_H1_2014_2025.csv.gz --out docs/results/default-vs-old-xauusd.png \
        "default, all EURUSD=docs/results/default-full.json" "old default=docs/results/old-default-eurusd.json" ...

Each report is LABEL=PATH or a PATH (labelled with the report's run name).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+")
    parser.add_argument("--file", required=True, help="The evaluated file's name, a key of each report's evaluations.")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    baseline_drawn = False
    for item in args.reports:
        name, _, path = item.rpartition("=")
        report = json.loads(Path(path).read_text())
        metrics = report["evaluations"][args.file]
        lags = range(len(metrics["per_lag_r2_price"]))
        label = (f"{name or report['name']} ({report['train']['feature_set']}, {report['epochs']} epochs): nmse "
                 f"{metrics['nmse']:.3f}")
        ax.plot(lags, metrics["per_lag_r2_price"], "o-", markersize=3, label=label)
        if not baseline_drawn:
            ax.plot(lags, metrics["baseline_per_lag_r2_price"], "s--", markersize=3, color="gray",
                    label=f"ridge, no memory (of {name or report['name']}): nmse {metrics['baseline_nmse']:.3f}")
            baseline_drawn = True
    ax.axvspan(-0.5, 9.5, color="tab:green", alpha=0.08, label="inside the encoder's window")
    ax.set_xlabel("lag (bars back; 0 = the current bar)")
    ax.set_ylabel("R² on standardised targets (price action)")
    ax.set_ylim(-0.5, 1.0)
    ax.set_title(f"evaluated on {args.file}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=7)
    fig.savefig(args.out, format="png")
    plt.close(fig)


if __name__ == "__main__":
    main()
