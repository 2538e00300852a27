"""The PyTorch twin of our model and training protocol (dev-only; the package never imports torch).

Same network (nn.LSTM per layer, gate order i, f, g, o; one bias = b_ih with b_hh = 0), same loss, same data,
same B streams and truncated BPTT over K steps with the state carried across chunks, same Adam settings, same
initial weights and the same eps draws. Two uses:

    python benchmarks/torch_twin.py compare --preset tiny [--epochs 3] [--data FILE] [--device numpy|cpu|...]
        our training and the twin's side by side, per-epoch loss (the curves must agree within noise)
    python benchmarks/torch_twin.py speed --preset article --streams 32 --tbptt 40 [--torch-device cuda]
        seconds per epoch of the twin alone (benchmarks/train_epoch.py runs ours and the twin in one process)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mt5bridge.config import ModelConfig, TrainConfig, get_preset  # noqa: E402
from mt5bridge.training.protocol import Prepared, prepare  # noqa: E402


class TorchTwin(torch.nn.Module):
    def __init__(self, cfg: ModelConfig, params: dict[str, np.ndarray]):
        super().__init__()
        self.cfg = cfg
        self.lstms = torch.nn.ModuleList()
        width = cfg.inputs
        for layer, hidden in enumerate(cfg.lstm):
            lstm = torch.nn.LSTM(width, hidden)
            with torch.no_grad():
                lstm.weight_ih_l0.copy_(torch.from_numpy(params[f"lstm{layer}.w_ih"]))
                lstm.weight_hh_l0.copy_(torch.from_numpy(params[f"lstm{layer}.w_hh"]))
                lstm.bias_ih_l0.copy_(torch.from_numpy(params[f"lstm{layer}.b"]))
                lstm.bias_hh_l0.zero_()
            lstm.bias_hh_l0.requires_grad_(False)  # ours has one bias: keep the twin's sum the same parameter
            self.lstms.append(lstm)
            width = hidden
        self.dense = torch.nn.ModuleList()
        width = cfg.latent
        names = [f"dec{i}" for i in range(len(cfg.decoder))] + ["out"]
        for name, size in zip(names, [*cfg.decoder, cfg.outputs]):
            linear = torch.nn.Linear(width, size)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(params[f"{name}.w"]))
                linear.bias.copy_(torch.from_numpy(params[f"{name}.b"]))
            self.dense.append(linear)
            width = size

    def forward(self, x, state, eps):
        """x (T,B,I) -> reconstruction (T*B,O), latent params (T*B,2Z), new state."""
        new_state, h = [], x
        for lstm, (h0, c0) in zip(self.lstms, state):
            h, (hn, cn) = lstm(h, (h0, c0))
            new_state.append((hn.detach(), cn.detach()))  # carried, not backpropagated into (truncated BPTT)
        p = h.reshape(-1, 2 * self.cfg.latent)
        mean, logvar = p[:, : self.cfg.latent], p[:, self.cfg.latent:]
        z = mean + torch.exp(0.5 * logvar) * eps if eps is not None else mean
        for i, linear in enumerate(self.dense):
            z = linear(z)
            act = self.cfg.decoder_activation if i < len(self.dense) - 1 else self.cfg.output_activation
            z = torch.tanh(z) if act == "tanh" else z
        return z, p, new_state

    def loss(self, y_hat, p, y, sample: bool):
        rows, outputs = y_hat.shape
        sq = ((y_hat - y.reshape(rows, outputs)) ** 2).sum()
        kl = torch.zeros((), device=y_hat.device)
        if sample:
            mean, logvar = p[:, : self.cfg.latent], p[:, self.cfg.latent:]
            kl = (-0.5 * (1 + logvar - mean ** 2 - torch.exp(logvar))).sum()
        return (sq + self.cfg.beta * kl) / (rows * outputs)


def train_epochs(cfg: ModelConfig, tcfg: TrainConfig, prep: Prepared, params: dict, epochs: int, device: str,
                 log=print) -> list[dict]:
    """The trainer's protocol (mt5bridge/training/trainer.py), in PyTorch; per-epoch mean loss and seconds."""
    torch.manual_seed(0)
    model = TorchTwin(cfg, params).to(device)
    opt = cfg.optimizer
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=opt.lr, betas=(opt.beta1, opt.beta2), eps=opt.eps,
                                  weight_decay=opt.weight_decay)
    chunks = prep.chunks(tcfg.tbptt)
    total = tcfg.epochs * len(chunks)
    rng = np.random.default_rng(tcfg.seed)
    history, step = [], 0
    for epoch in range(epochs):
        state = [(torch.zeros(1, tcfg.streams, h, device=device), torch.zeros(1, tcfg.streams, h, device=device))
                 for h in cfg.lstm]
        sums, started = np.zeros(2), time.perf_counter()
        for t0, t1 in chunks:
            x, y = prep.batch(t0, t1, cfg)
            eps = rng.standard_normal((t1 - t0, tcfg.streams, cfg.latent)) if cfg.variational else None
            lr = opt.lr
            if tcfg.lr_schedule == "cosine":
                lr *= tcfg.lr_floor + (1 - tcfg.lr_floor) * 0.5 * (1 + np.cos(np.pi * min(step / total, 1.0)))
            for group in optimizer.param_groups:
                group["lr"] = lr
            xt = torch.as_tensor(x, dtype=torch.float32, device=device)
            yt = torch.as_tensor(y, dtype=torch.float32, device=device)
            et = None if eps is None else torch.as_tensor(eps.reshape(-1, cfg.latent), dtype=torch.float32,
                                                           device=device)
            y_hat, p, state = model(xt, state, et)
            loss = model.loss(y_hat, p, yt, cfg.variational)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if opt.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(trainable, opt.clip_norm)
            optimizer.step()
            step += 1
            rows = (t1 - t0) * tcfg.streams
            sums += (loss.item() * rows, rows)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        history.append({"epoch": epoch + 1, "train_loss": sums[0] / sums[1],
                        "seconds": time.perf_counter() - started})
        log(f"torch epoch {epoch + 1}: loss {history[-1]['train_loss']:.5f}, {history[-1]['seconds']:.2f} s")
    return history


def _setup(args):
    from mt5bridge.data import sample_path
    from mt5bridge.engine.layout import init_params
    from mt5bridge.training.series import load_series

    chosen = get_preset(args.preset)
    tcfg = replace(chosen.train, epochs=args.epochs, **({"streams": args.streams} if args.streams else {}),
                   **({"tbptt": args.tbptt} if args.tbptt else {}))
    series = load_series(args.data or sample_path(), tcfg.feature_set)
    if args.bars:
        series = series.slice(0, args.bars)
    prep = prepare([series], chosen.model, tcfg)
    params = {k: v.astype(np.float32) for k, v in init_params(chosen.model).items()}
    return chosen.model, tcfg, series, prep, params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["compare", "speed"])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--data", type=Path)
    parser.add_argument("--bars", type=int, default=0, help="use only the first N bars")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--streams", type=int)
    parser.add_argument("--tbptt", type=int)
    parser.add_argument("--device", default=None, help="our device (compare mode)")
    parser.add_argument("--torch-device", default="cpu")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg, tcfg, series, prep, params = _setup(args)
    twin = train_epochs(cfg, tcfg, prep, params, args.epochs, args.torch_device)
    result = {"preset": args.preset, "streams": tcfg.streams, "tbptt": tcfg.tbptt, "torch": twin,
              "torch_device": args.torch_device, "torch_version": torch.__version__}
    if args.mode == "compare":
        import tempfile

        from mt5bridge.training.trainer import Trainer

        with tempfile.TemporaryDirectory() as folder:
            ours = Trainer([series], cfg, tcfg, Path(folder) / "m.npz", device=args.device, progress=False,
                           echo=lambda s: None).run().history
        result["ours"] = [{k: r[k] for k in ("epoch", "train_loss", "seconds")} for r in ours]
        for a, b in zip(ours, twin):
            print(f"epoch {a['epoch']}: ours {a['train_loss']:.5f}  torch {b['train_loss']:.5f}  "
                  f"relative difference {abs(a['train_loss'] - b['train_loss']) / b['train_loss']:.2%}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
