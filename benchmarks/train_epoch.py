"""Seconds per training epoch: ours and the PyTorch twin, in the same process on the same device.

    python benchmarks/train_epoch.py --device cpu --torch-device cpu [--streams 32 128] [--preset article]
    python benchmarks/train_epoch.py --device gpu --torch-device cuda

The article preset on EURUSD H1 2000-2021 (136,418 bars; ../shared/data, never copied into the repository), every
bar a training bar, B streams, truncated BPTT over K=40 steps. The chunks (inputs, targets, eps) are built once
and reused, so both sides time the same work: forward, backward through time, Adam. One warm-up epoch, then the
mean of `--epochs` timed epochs. Also reports the loss after each epoch (the two must agree within noise), the
process's peak resident memory (null on Windows, which has no `resource` module), and, on CUDA, the twin's
peak device memory.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "EURUSD_H1_2000_2021.csv.gz"

from benchmarks.peak_memory import NO_RSS, peak_rss_mib, rss_cell  # noqa: E402,F401 - ROOT is on sys.path



def chunks_of(prep, cfg, tcfg, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for t0, t1 in prep.chunks(tcfg.tbptt):
        x, y = prep.batch(t0, t1, cfg)
        eps = rng.standard_normal((t1 - t0, tcfg.streams, cfg.latent)) if cfg.variational else None
        out.append((x.astype(np.float32), y.astype(np.float32), None if eps is None else eps.astype(np.float32)))
    return out


def ours_epoch(engine, chunks) -> tuple[float, float]:
    engine.reset_state()
    started = time.perf_counter()
    for x, y, eps in chunks:
        engine.train_step(x, y, eps, wait=False)  # losses read once at the end, as the trainer does in batches
    losses = engine.collect_losses()
    seconds = time.perf_counter() - started
    weights = [x.shape[0] * x.shape[1] for x, _, _ in chunks]
    return seconds, float(np.dot([loss.total for loss in losses], weights) / sum(weights))


def torch_epoch(model, optimizer, chunks, cfg, device) -> tuple[float, float]:
    import torch

    streams = chunks[0][0].shape[1]
    state = [(torch.zeros(1, streams, h, device=device), torch.zeros(1, streams, h, device=device)) for h in cfg.lstm]
    started, total, rows = time.perf_counter(), 0.0, 0
    losses = []
    for x, y, eps in chunks:
        xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        et = None if eps is None else torch.from_numpy(eps.reshape(-1, cfg.latent)).to(device)
        y_hat, p, state = model(xt, state, et)
        loss = model.loss(y_hat, p, yt, cfg.variational)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach() * (x.shape[0] * x.shape[1]))  # read at the end: no sync inside the epoch
        rows += x.shape[0] * x.shape[1]
    total = float(sum(losses))
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - started, total / rows


def run(args, streams: int) -> dict:
    import torch

    from mt5bridge.config import get_preset
    from mt5bridge.engine import make_engine
    from mt5bridge.engine.layout import init_params
    from mt5bridge.training.protocol import prepare
    from mt5bridge.training.series import load_series
    from torch_twin import TorchTwin

    chosen = get_preset(args.preset)
    cfg = chosen.model
    tcfg = replace(chosen.train, streams=streams, tbptt=args.tbptt, validation=0.0)
    series = load_series(args.data, tcfg.feature_set, warmup_bars=1)  # every bar of the file trains
    prep = prepare([series], cfg, tcfg)
    chunks = chunks_of(prep, cfg, tcfg)
    params = {k: v.astype(np.float32) for k, v in init_params(cfg).items()}
    result = {"preset": args.preset, "streams": streams, "tbptt": args.tbptt, "bars": prep.length * streams,
              "chunks_per_epoch": len(chunks)}

    engine = make_engine(cfg, streams=streams, device=args.device)
    engine.set_params(params)
    ours = [ours_epoch(engine, chunks) for _ in range(args.epochs + 1)]
    result.update(ours_device=engine.device_label, ours_s=float(np.mean([t for t, _ in ours[1:]])),
                  ours_losses=[loss for _, loss in ours])
    del engine

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.torch_device
    model = TorchTwin(cfg, params).to(device)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.optimizer.lr,
                                 betas=(cfg.optimizer.beta1, cfg.optimizer.beta2), eps=cfg.optimizer.eps)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    twin = [torch_epoch(model, optimizer, chunks, cfg, device) for _ in range(args.epochs + 1)]
    result.update(torch_device=device if not device.startswith("cuda") else torch.cuda.get_device_name(),
                  torch_version=torch.__version__, torch_s=float(np.mean([t for t, _ in twin[1:]])),
                  torch_losses=[loss for _, loss in twin], torch_threads=torch.get_num_threads())
    if device.startswith("cuda"):
        result["torch_peak_device_mib"] = torch.cuda.max_memory_allocated() / 2**20
    result["ratio_ours_over_torch"] = result["ours_s"] / result["torch_s"]
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="ours: cpu, gpu, P:D")
    parser.add_argument("--torch-device", default="cpu")
    parser.add_argument("--preset", default="article")
    parser.add_argument("--streams", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--tbptt", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs after the warm-up epoch")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    for streams in args.streams:
        result = run(args, streams)
        result.update(date=date.today().isoformat(), host=platform.node(), command=" ".join(sys.argv))
        print(json.dumps(result))
        if result["peak_rss_mib"] is None:
            print(NO_RSS, file=sys.stderr)
        print(f"| train epoch | {result['preset']} B={streams} K={args.tbptt} | ours {result['ours_device']}: "
              f"{result['ours_s']:.2f} s | torch {result['torch_device']}: {result['torch_s']:.2f} s | "
              f"ratio {result['ratio_ours_over_torch']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
