"""Training epoch time and memory against B, H and K: ours beside the PyTorch twin, in one process, one device each.

    python benchmarks/scaling.py --device gpu --torch-device cuda --out-dir $OUT/scaling      (the full grid)
    python benchmarks/scaling.py --device cpu --torch-device cpu --points B=8,32,128 H=64,256 --chunks 6
    python benchmarks/scaling.py --replot docs/results/scaling-cpu.json scaling-gpu.json  (scaling-combined.png)

One axis at a time around a base point: the preset's network (`default`: LSTM 256/256, Z=128, decoder 256/512), B=32
streams, K=40 steps per chunk. The H axis sets every LSTM layer to H and Z = H/2 (the last layer outputs 2Z, so it
stays H); the decoder keeps the preset's widths. An epoch is every bar of the file (no validation split), as in
train_epoch.py; its time is seconds per chunk x chunks per epoch (the last, shorter chunk counted as a full one).
After `--warmup` chunks, `--chunks` chunks are timed at the base point and fewer at larger ones (in proportion to
their FLOPs, at least 3), in up to 5 blocks; the fastest block counts (a busy neighbour slows some; the mean and the
load average are kept too). `--repeats N` sweeps N times and keeps each side's fastest (for a shared machine).

Memory: ours the OpenCL buffers the engine allocated (Runtime.allocated_bytes before and after); PyTorch on CUDA
torch.cuda.max_memory_allocated; both the growth of the process's peak resident memory over their run (Linux). The
bound of each side, from measurements (the largest of the three fractions names it):
    compute = model FLOPs per chunk / chunk time / the device's measured FP32 GEMM ceiling
    memory  = modelled bytes per chunk / chunk time / the device's measured copy bandwidth
    launch  = launches per chunk x the measured cost of one launch / chunk time
Ceilings: the better of ours and PyTorch's own large GEMM and copy on that device, at the start and the end. Launches:
counted on one profiled chunk (ours: OpenCL profiling events; PyTorch: torch.profiler's device operations on CUDA,
leaf aten ops on a CPU); one launch's cost: back-to-back tiny kernels (ours) or ops (PyTorch). Strict FP32: TF32 off
in cuBLAS and cuDNN unless --tf32 (OpenCL gives our kernels no tensor cores).
Writes OUT_DIR/scaling-DEVICE.json (every point), .md (the table) and .png (3 panels, one per axis, log-log).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "EURUSD_H1_2000_2021.csv.gz"

from mt5bridge.config import ModelConfig, get_preset  # noqa: E402
from mt5bridge.engine.layout import init_params, param_shapes  # noqa: E402
from mt5bridge.fileio import atomic_path  # noqa: E402

AXES = {"B": (8, 16, 32, 64, 128, 256, 512), "H": (64, 128, 256, 512, 1024), "K": (10, 20, 40, 100, 200)}
BASE = {"B": 32, "K": 40}  # H: the preset's own LSTM widths
AXIS_LABELS = {"B": "B (streams)", "H": "H (units per LSTM layer; Z = H/2)", "K": "K (steps per chunk)"}
MIB, FLOAT, BLOCKS = 2**20, 4, 5
CEILING_SIZES = {"gpu": (4096, 128 * MIB), "cpu": (1024, 16 * MIB)}  # GEMM n, copied floats: milliseconds each
TOUCH_KERNEL = "__kernel void touch(__global real *a) { if (get_global_id(0) == 0) a[0] += (real)1; }"


def network(base: ModelConfig, hidden: int | None) -> ModelConfig:
    """The preset's network, or every LSTM layer H wide with Z = H/2 (the last layer's 2Z outputs stay H)."""
    if hidden is None:
        return base
    if hidden < 2 or hidden % 2:
        raise SystemExit(f"--points H={hidden}: H must be even and >= 2 (Z = H/2)")
    return replace(base, lstm=(hidden,) * len(base.lstm), latent=hidden // 2)


def products(cfg: ModelConfig, streams: int, steps: int) -> list[tuple[int, int, int, int]]:
    """(m, n, k, times) of every matrix product in one training chunk, as our engine runs it."""
    rows, out, widths = streams * steps, [], [cfg.inputs, *cfg.lstm]
    for layer, hidden in enumerate(cfg.lstm):
        inputs, gates = widths[layer], 4 * hidden
        out += [(rows, gates, inputs, 1),  # input projection x W_ih^T, all steps at once
                (streams, gates, hidden, steps),  # h_{t-1} W_hh^T, one step at a time
                (streams, hidden, gates, steps),  # da_t W_hh back into dh_{t-1}
                (gates, inputs, rows, 1), (gates, hidden, rows, 1)]  # dW_ih, dW_hh
        if layer > 0:
            out.append((rows, inputs, gates, 1))  # dx into the layer below (the data needs none)
    dense = [cfg.latent, *cfg.decoder, cfg.outputs]
    for fan_in, fan_out in zip(dense, dense[1:]):  # forward, dW, dX (the first dX feeds the latent's gradient)
        out += [(rows, fan_out, fan_in, 1), (fan_out, fan_in, rows, 1), (rows, fan_in, fan_out, 1)]
    return out


def work(cfg: ModelConfig, streams: int, steps: int) -> tuple[float, float]:
    """Model FLOPs and bytes of one training chunk. Bytes: each product reads its operands and writes its result
    once (W_hh once per step: a kernel per step cannot keep it on chip), plus the LSTM pointwise passes (about 11 H
    floats per row forward and 11 backward), the loss (3 O) and Adam (read p, g, m, v; write p, m, v; a norm pass)."""
    prods, rows = products(cfg, streams, steps), streams * steps
    params = sum(math.prod(shape) for _, shape in param_shapes(cfg))
    floats = sum((m * k + k * n + m * n) * times for m, n, k, times in prods)
    floats += rows * (22 * sum(cfg.lstm) + 3 * cfg.outputs) + 8 * params
    return sum(2.0 * m * n * k * times for m, n, k, times in prods), float(floats * FLOAT)


def load_average() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # POSIX only


def _status_mib(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            return int(next(s for s in status if s.startswith(field + ":")).split()[1]) / 1024  # kB
    except (OSError, StopIteration):
        return None


def reset_peak_rss() -> float | None:
    """Give freed heap back (glibc malloc_trim: else what an earlier point freed stays resident and hides this
    point's growth), reset the peak resident memory (Linux: proc(5), clear_refs "5"); resident MiB now, or None."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return None
    return _status_mib("VmRSS")


def rss_growth(start: float | None) -> float | None:
    peak = _status_mib("VmHWM")
    return None if start is None or peak is None else peak - start


def ceilings_of(gemm, copy, launch, sync, gpu: bool, reps: int = 5) -> dict:
    """GFLOP/s of an n^3 product, GB/s of a copy (read + write), microseconds per tiny launch (None without one);
    each the best of `reps` after a warm-up. `gemm(n)`, `copy(words)` and `launch()` return the callable to time."""
    n, words = CEILING_SIZES["gpu" if gpu else "cpu"]

    def best(fn, count: int = 1) -> float:
        fn()
        sync()
        times = []
        for _ in range(reps):
            started = time.perf_counter()
            for _ in range(count):
                fn()
            sync()
            times.append(time.perf_counter() - started)
        return min(times) / count

    return {"gemm_gflops": 2 * n**3 / best(gemm(n)) / 1e9, "copy_gbs": 2 * FLOAT * words / best(copy(words)) / 1e9,
            "launch_us": best(launch(), 400) * 1e6 if launch else None}


def timed_blocks(run, warmup: int, timed: int) -> dict:
    """`run(first, count)` runs chunks first.. and waits: -> (seconds, losses). Warm-up, then up to 5 timed blocks."""
    run(0, warmup)
    blocks = min(BLOCKS, timed)
    sizes = [timed // blocks + (i < timed % blocks) for i in range(blocks)]
    first, per_chunk, losses = warmup, [], []
    for size in sizes:
        seconds, block = run(first, size)
        first, per_chunk, losses = first + size, per_chunk + [seconds / size], losses + block
    return {"chunk_s": min(per_chunk), "chunk_s_mean": float(np.dot(per_chunk, sizes)) / timed,
            "loss": float(np.mean(losses))}


# --- ours ---------------------------------------------------------------------------------------------------------
def ours_ceilings(choice) -> dict:
    rng = np.random.default_rng(0)
    if choice.is_numpy:
        def copy(words):
            src, dst = np.ones(words, np.float32), np.empty(words, np.float32)
            return lambda: np.copyto(dst, src)
        def gemm(n):
            a = rng.standard_normal((n, n), dtype=np.float32)
            return lambda: a @ a
        return ceilings_of(gemm, copy, None, lambda: None, gpu=False)
    from mt5bridge.engine.cl_ops import ClOps
    from mt5bridge.opencl.runtime import get_runtime

    rt = get_runtime(choice.device)
    ops = ClOps(rt, np.float32)

    def gemm(n):
        a, c = rt.to_device(rng.standard_normal((n, n), dtype=np.float32)), rt.empty((n, n), np.float32)
        return lambda: ops.gemm(n, n, n, a, a, c)

    def copy(words):
        src, dst = rt.zeros(words, np.float32), rt.empty(words, np.float32)
        return lambda: rt.copy(dst, src, words)

    def launch():
        touch, cell = rt.build_source("touch", TOUCH_KERNEL).touch, rt.zeros(1, np.float32)
        return lambda: touch((1,), None, cell)

    return ceilings_of(gemm, copy, launch, rt.finish, gpu=choice.device.kind == "gpu")


def run_ours(choice, cfg, params, streams, chunks, warmup: int, timed: int) -> dict:
    from mt5bridge.engine import make_engine
    from mt5bridge.opencl.runtime import get_runtime

    def runner(engine):
        def run(first: int, count: int) -> tuple[float, list[float]]:
            started = time.perf_counter()
            for i in range(first, first + count):
                engine.train_step(*chunks[i % len(chunks)], wait=False)  # queued, as the trainer does
            losses = engine.collect_losses()  # waits for the device
            return time.perf_counter() - started, [loss.total for loss in losses]
        return run

    rt = None if choice.is_numpy else get_runtime(choice.device)
    start_rss, before = reset_peak_rss(), rt.allocated_bytes if rt else 0
    engine = make_engine(cfg, streams=streams, device=choice)
    engine.set_params(params)
    result = timed_blocks(runner(engine), warmup, timed)
    result.update(device=engine.device_label, rss_growth_mib=rss_growth(start_rss), launches=None, busy_s=None,
                  buffers_mib=(rt.allocated_bytes - before) / MIB if rt else None)
    del engine
    if rt is not None:  # one chunk on a profiling queue: launches and device time (the timing above ran without)
        engine = make_engine(cfg, streams=streams, device=choice, profiling=True)
        engine.set_params(params)
        runner(engine)(0, 1)
        engine.rt.kernel_profile()  # drop the warm-up's events
        wall, _ = runner(engine)(1, 1)
        profile = engine.rt.kernel_profile().values()  # (launches, device seconds) per kernel name
        result.update(launches=sum(n for n, _ in profile), busy_s=sum(s for _, s in profile), profiled_chunk_s=wall)
    return result  # the engines' buffers go with this frame (the next reset_peak_rss collects)


# --- PyTorch ------------------------------------------------------------------------------------------------------
def torch_ceilings(device: str) -> dict:
    import torch

    def gemm(n):
        a = torch.randn(n, n, device=device)
        return lambda: a @ a

    def copy(words):
        src, dst = torch.ones(words, device=device), torch.empty(words, device=device)
        return lambda: dst.copy_(src)

    cell, cuda = torch.zeros(1, device=device), device.startswith("cuda")
    return ceilings_of(gemm, copy, lambda: lambda: cell.add_(1), torch.cuda.synchronize if cuda else lambda: None,
                       gpu=cuda)


def run_torch(device: str, cfg, params, streams, chunks, warmup: int, timed: int) -> dict:
    import torch
    from torch.autograd import DeviceType
    from torch_twin import TorchTwin

    cuda = device.startswith("cuda")
    start_rss = reset_peak_rss()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model, opt = TorchTwin(cfg, params).to(device), cfg.optimizer
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=opt.lr, betas=(opt.beta1, opt.beta2), eps=opt.eps,
                                  weight_decay=opt.weight_decay)  # torch_twin.train_epochs' optimizer and clipping
    state = [[tuple(torch.zeros(1, streams, h, device=device) for _ in "hc") for h in cfg.lstm]]  # carried

    def run(first: int, count: int) -> tuple[float, list[float]]:
        started, losses = time.perf_counter(), []
        for i in range(first, first + count):
            x, y, eps = (None if a is None else torch.from_numpy(a).to(device) for a in chunks[i % len(chunks)])
            y_hat, p, state[0] = model(x, state[0], None if eps is None else eps.reshape(-1, cfg.latent))
            loss = model.loss(y_hat, p, y, cfg.variational)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if opt.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(trainable, opt.clip_norm)
            optimizer.step()
            losses.append(loss.detach())  # read after the block: no wait inside it
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - started, [float(loss) for loss in losses]

    result = timed_blocks(run, warmup, timed)
    result.update(device=torch.cuda.get_device_name() if cuda else f"cpu, {torch.get_num_threads()} threads",
                  rss_growth_mib=rss_growth(start_rss), launches=None, busy_s=None,
                  device_mib=torch.cuda.max_memory_allocated() / MIB if cuda else None)
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if cuda else [])
    with torch.profiler.profile(activities=activities) as prof:
        wall, _ = run(warmup + timed, 1)
    if cuda:  # kernels, copies and fills the GPU ran; none at all when CUPTI is not allowed: unknown, not zero
        ran = [e for e in prof.events() if e.device_type == DeviceType.CUDA]
        if ran:
            result.update(launches=len(ran), busy_s=sum(e.time_range.elapsed_us() for e in ran) * 1e-6,
                          profiled_chunk_s=wall)
    else:  # ops that did work themselves (no aten op below them)
        result["launches"] = sum(1 for e in prof.events() if e.name.startswith("aten::") and not any(
            c.name.startswith("aten::") for c in e.cpu_children))
    return result  # the model goes with this frame; the next run_torch empties the CUDA cache


# --- the sweep ----------------------------------------------------------------------------------------------------
def classify(side: dict, flops: float, nbytes: float, ceiling: dict) -> None:
    """Achieved rates, the three fractions and the bound (the largest fraction), into one side's result."""
    seconds = side["chunk_s"]
    side["gflops"], side["gbs"] = flops / seconds / 1e9, nbytes / seconds / 1e9
    fractions = {"compute": side["gflops"] / ceiling["gemm_gflops"], "memory": side["gbs"] / ceiling["copy_gbs"]}
    if side["launches"] is not None and ceiling["launch_us"] is not None:
        fractions["launch"] = side["launches"] * ceiling["launch_us"] * 1e-6 / seconds
    side.update(fractions=fractions, bound=max(fractions, key=fractions.get))
    if side["busy_s"] is not None:  # device time / wall time of the profiled chunk: the rest are host-side gaps
        side["busy_fraction"] = side["busy_s"] / side["profiled_chunk_s"]


def classify_all(points: list[dict], ceilings: dict, sides: tuple, shared: bool) -> None:
    """Each side against its device's ceilings: the better of both sides' where they share one device."""
    for point, side in ((p, s) for p in points for s in sides):
        best = {k: max(ceilings[s][k] for s in (sides if shared else (side,))) for k in ("gemm_gflops", "copy_gbs")}
        classify(point[side], point["gflop_per_chunk"] * 1e9, point["modelled_mb_per_chunk"] * 1e6,
                 best | {"launch_us": ceilings[side]["launch_us"]})


def grid(args, model: ModelConfig) -> list[dict]:
    """One point per axis value; the other two coordinates at the base point."""
    points = []
    for axis in args.axes:
        for value in args.points.get(axis, AXES[axis]):
            cfg = network(model, value if axis == "H" else None)
            streams, tbptt = (value if axis == "B" else BASE["B"]), (value if axis == "K" else BASE["K"])
            flops, nbytes = work(cfg, streams, tbptt)
            points.append({"axis": axis, "value": value, "streams": streams, "tbptt": tbptt, "cfg": cfg,
                           "gflop_per_chunk": flops / 1e9, "modelled_mb_per_chunk": nbytes / 1e6})
    return points


def measure(args, choice, torch_device, cfg, prep, streams: int, tbptt: int, timed: int) -> dict:
    """Both sides on the same chunks (the epoch's first) and the same initial weights."""
    rng, chunks = np.random.default_rng(0), []
    for t0, t1 in prep.chunks(tbptt)[: args.warmup + timed + 1]:
        x, y = prep.batch(t0, t1, cfg)  # (T,B,W*F), (T,B,D*F)
        eps = rng.standard_normal((t1 - t0, streams, cfg.latent)) if cfg.variational else None  # (T,B,Z)
        chunks.append(tuple(None if a is None else a.astype(np.float32) for a in (x, y, eps)))
    params = {k: v.astype(np.float32) for k, v in init_params(cfg).items()}
    entry = {"ours": run_ours(choice, cfg, params, streams, chunks, args.warmup, timed)}
    if torch_device:
        entry["torch"] = run_torch(torch_device, cfg, params, streams, chunks, args.warmup, timed)
    return entry


def sweep(args) -> dict:
    from mt5bridge.engine import choose_device
    from mt5bridge.training.protocol import prepare
    from mt5bridge.training.series import load_series

    if not args.data.is_file():
        raise SystemExit(f"--data {args.data}: no such file (the default lives in ../shared/data, outside the repo)")
    chosen, choice = get_preset(args.preset), choose_device(args.device)
    torch_device = None if args.torch_device == "none" else args.torch_device
    if torch_device:
        import torch

        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = args.tf32
        if args.torch_threads:
            torch.set_num_threads(args.torch_threads)
    series = load_series(args.data, chosen.train.feature_set, warmup_bars=1)  # every bar of the file trains
    sides = ("ours", "torch") if torch_device else ("ours",)
    ceilings = {"ours": ours_ceilings(choice), "torch": torch_ceilings(torch_device) if torch_device else None}
    load, measured, preps, points = load_average(), {}, {}, grid(args, chosen.model)
    plan = {}  # the base point sits on every axis: measured once
    for point in points:
        plan.setdefault((point["cfg"].lstm, point["streams"], point["tbptt"]), point)
    base_gflop = work(chosen.model, BASE["B"], BASE["K"])[0] / 1e9
    for repeat in range(args.repeats):
        for number, (key, point) in enumerate(plan.items(), 1):
            started, cfg, streams, tbptt = time.perf_counter(), point["cfg"], point["streams"], point["tbptt"]
            prep = preps.setdefault(streams, prepare([series], cfg, replace(chosen.train, streams=streams,
                                                                                 validation=0.0)))
            if repeat == 0 and number == 1:  # each side's first use (library start-up, kernel builds) kept out
                measure(args, choice, torch_device, cfg, prep, streams, tbptt, 1)
            timed = max(3, round(args.chunks * min(1.0, base_gflop / point["gflop_per_chunk"])))
            entry = measure(args, choice, torch_device, cfg, prep, streams, tbptt, timed)
            entry.update(chunks_per_epoch=len(prep.chunks(tbptt)), timed_chunks=timed, load_average=load_average())
            kept = measured.setdefault(key, entry)
            for side in sides:  # over repeats each side keeps its fastest, all of them listed
                tries = kept[side].get("repeats_chunk_s", []) + [entry[side]["chunk_s"]]
                kept[side] = min(kept[side], entry[side], key=lambda measured_side: measured_side["chunk_s"])
                kept[side].update(repeats_chunk_s=tries, epoch_s=kept[side]["chunk_s"] * entry["chunks_per_epoch"])
            print(f"[{repeat + 1}.{number}/{len(plan)}] {point['axis']}={point['value']}: " + ", ".join(
                f"{side} {entry[side]['chunk_s'] * entry['chunks_per_epoch']:.2f} s/epoch" for side in sides) +
                f" ({time.perf_counter() - started:.1f} s; load average {entry['load_average'] or 0:.1f})",
                flush=True)
    for point in points:
        cfg = point.pop("cfg")
        point.update(lstm=list(cfg.lstm), latent=cfg.latent, **measured[(cfg.lstm, point["streams"], point["tbptt"])])
        if torch_device:
            point["ratio"] = point["ours"]["epoch_s"] / point["torch"]["epoch_s"]
    # Measured again at the end, the better kept: a ceiling taken while a neighbour was busy is too low.
    again = {"ours": ours_ceilings(choice), "torch": torch_ceilings(torch_device) if torch_device else None}
    for side in sides:
        ceilings[side] = {k: (min if k == "launch_us" else max)(v, again[side][k]) if v else v
                          for k, v in ceilings[side].items()}
    ours_kind = "cpu" if choice.is_numpy else choice.device.kind
    shared = torch_device is not None and ours_kind == ("gpu" if torch_device.startswith("cuda") else "cpu")
    classify_all(points, ceilings, sides, shared)
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    meta = {"date": date.today().isoformat(), "commit": git.stdout.strip() or None, "host": platform.node(),
            "command": " ".join(sys.argv), "preset": args.preset, "data": args.data.name, "bars": len(series),
            "device": args.device, "torch_device": torch_device, "tf32": args.tf32, "warmup": args.warmup,
            "chunks": args.chunks, "repeats": args.repeats, "ceilings": ceilings, "ceilings_shared": shared,
            "load_average_at_start": load, "base": BASE | {"lstm": list(chosen.model.lstm)}}
    if torch_device:
        meta["torch_version"] = torch.__version__
    return {"meta": meta, "points": points}


# --- output -------------------------------------------------------------------------------------------------------
HEADER = ("| axis | B | LSTM | K | ours s/epoch | PyTorch s/epoch | ours/PyTorch | ours buffers / RSS+ MiB | "
          "PyTorch MiB | ours bound (C/M/L %) | PyTorch bound (C/M/L %) |\n" + "|---" * 11 + "|")


def row(point: dict) -> str:
    def num(value, fmt=".0f"):
        return "–" if value is None else format(value, fmt)

    def bound(side):
        shares = "/".join(num(side["fractions"].get(k) and 100 * side["fractions"][k]) for k in
                          ("compute", "memory", "launch"))
        return f"{side['bound']} ({shares})"

    ours, twin = point["ours"], point.get("torch")
    twin_mib = twin and (twin["device_mib"] if twin["device_mib"] is not None else twin["rss_growth_mib"])
    cells = [point["axis"], point["streams"], "/".join(map(str, point["lstm"])), point["tbptt"],
             num(ours["epoch_s"], ".2f"), num(twin and twin["epoch_s"], ".2f"), num(point.get("ratio"), ".2f"),
             f"{num(ours['buffers_mib'])} / {num(ours['rss_growth_mib'])}", num(twin_mib), bound(ours),
             bound(twin) if twin else "–"]
    return "| " + " | ".join(map(str, cells)) + " |"


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, panels = plt.subplots(1, 3, figsize=(14, 4.2), dpi=90)
    for colour, result in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], results):
        for panel, axis in zip(panels, AXES):
            points = [p for p in result["points"] if p["axis"] == axis]
            for side, style, name in (("ours", "o-", "ours"), ("torch", "s--", "PyTorch")):
                if points and side in points[0]:
                    panel.plot([p["value"] for p in points], [p[side]["epoch_s"] for p in points], style,
                               color=colour, label=f"{name}, {points[0][side]['device']}")
    for panel, axis in zip(panels, AXES):
        panel.set(xscale="log", yscale="log", xlabel=AXIS_LABELS[axis], title=f"epoch time against {axis}")
        values = sorted({p["value"] for result in results for p in result["points"] if p["axis"] == axis})
        panel.set_xticks(values, [str(v) for v in values], minor=False)
        panel.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        panel.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 1.5, 2, 3, 5, 7)))  # within a decade too
        panel.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        panel.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        panel.grid(alpha=0.3, which="both")
    bars = {result["meta"]["bars"] for result in results}
    panels[0].set_ylabel("seconds per epoch" + (f" ({bars.pop():,} bars)" if len(bars) == 1 else ""))
    next((panel for panel in panels if panel.lines), panels[0]).legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def parse_points(specs: list[str]) -> dict[str, tuple[int, ...]]:
    points = {}
    for spec in specs:
        axis, _, values = spec.partition("=")
        try:
            points[axis] = tuple(int(v) for v in values.split(","))
        except ValueError:
            raise SystemExit(f"--points {spec!r}: values must be integers, e.g. B=8,32,128") from None
        if axis not in AXES or min(points[axis]) < 1:
            raise SystemExit(f"--points {spec!r}: want AXIS=V1,V2,... with AXIS one of {list(AXES)}, values >= 1")
    return points


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="ours: cpu, gpu, P:D or numpy")
    parser.add_argument("--torch-device", default="cpu", help="cpu, cuda, cuda:N, or none (ours alone)")
    parser.add_argument("--axes", nargs="+", choices=list(AXES), default=list(AXES))
    parser.add_argument("--points", nargs="*", default=[], help="AXIS=V1,V2,... replaces that axis' values")
    parser.add_argument("--chunks", type=int, default=20, help="timed chunks at the base point (fewer above it)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed chunks first")
    parser.add_argument("--repeats", type=int, default=1, help="sweeps; each point keeps each side's fastest")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--torch-threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    parser.add_argument("--tf32", action="store_true", help="let cuBLAS/cuDNN use TF32 (PyTorch's cuDNN default)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--replot", nargs="+", type=Path, help="only draw OUT_DIR/scaling-combined.png from these")
    args = parser.parse_args(argv)
    if args.replot:
        plot([json.loads(path.read_text()) for path in args.replot], args.out_dir / "scaling-combined.png")
        return None
    if args.chunks < 1 or args.warmup < 0 or args.repeats < 1:
        parser.error("--chunks and --repeats must be >= 1, --warmup >= 0")
    args.points = parse_points(args.points)
    result = sweep(args)
    stem, text = args.out_dir / f"scaling-{args.device.replace(':', '-')}", "\n".join(
        [HEADER, *map(row, result["points"])])
    with atomic_path(stem.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    with atomic_path(stem.with_suffix(".md")) as tmp:
        tmp.write_text(text + "\n")
    plot([result], stem.with_suffix(".png"))
    print(text + f"\nwrote {stem}.json, .md, .png", flush=True)
    return result


if __name__ == "__main__":
    main()
