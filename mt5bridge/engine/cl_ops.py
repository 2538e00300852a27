"""Device-level operations: one method per kernel family, on DeviceArrays, shared by the engine and kernel tests.

The kernel tests call exactly these methods, so what is tested is what the engine runs. Nothing here reads back
to the host. Shapes follow the kernels' comments: T steps, B streams, H hidden, Z latent, N rows, O outputs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import DeviceError
from ..opencl.runtime import DeviceArray, DeviceInfo, Runtime

GEMM_TILE = (64, 64, 4, 4)  # (TSM, TSN, WPTM, WPTN) in gemm.cl unless MT5BRIDGE_GEMM_TILE ("128x64x8x4") says
GEMM_TILE_ENV = "MT5BRIDGE_GEMM_TILE"
BLOCK_ROWS, BLOCK_COLS = 6, 16  # MR, NR in gemm_cpu.cl
BLOCK_GROUP = (1, 1)  # work-items per work-group for gemm_blocked on PoCL
BLOCK_DEPTH = 256  # rows of the reduction per slice in long transposed products (weight gradients)
TRANSPOSE_TILE = 16
VARIANT_ENV = "MT5BRIDGE_KERNELS"  # force "cpu" or "gpu" kernels (tests run both on one device)
LSTM_TILE = (16, 8, 1, 64)  # (LJ, LBW, RB, LK) in lstm.cl (the H100 sweep's best) unless MT5BRIDGE_LSTM_TILE says
LSTM_TILE_ENV = "MT5BRIDGE_LSTM_TILE"
# gpu kernels: from this many streams on, the forward step runs as a tiled GEMM (W_hh read once per 64 streams)
# plus the pointwise gate kernel, instead of the fused step kernel (0 = always fused)
LSTM_SPLIT_ENV = "MT5BRIDGE_LSTM_SPLIT"
# Inference: all T steps of a layer in one launch (lstm_persistent.cl), where safe (persistent_plan); "0" turns it off
PERSISTENT_ENV = "MT5BRIDGE_PERSISTENT_LSTM"
PERSISTENT_UNITS_ENV = "MT5BRIDGE_PERSISTENT_LSTM_UNITS"  # hidden units per work-group instead of the planned count
# Platforms where several groups may spin on each other: each compute unit holds whole work-groups (an Intel GPU
# reports execution units instead, so G <= compute units would prove nothing there), and the kernel has a checked
# device-scope fence (lstm_persistent.cl: inline PTX membar.gl; OpenCL 1.2's global mem_fence is work-group wide).
PERSISTENT_VENDORS = ("NVIDIA",)
PERSISTENT_MIN_STEPS = 2  # one step is one launch either way
PERSISTENT_SUMS = 128  # gate sums per group worth aiming for: up to about here they run side by side for free
PERSISTENT_STAGERS = 256  # work-items per group (when there is that much h to stage): they load h_{t-1}
REDUCE_GROUP = 256  # RED in loss.cl
MAX_PARTIALS = 256  # partial sums per reduction (a fixed count keeps results deterministic)
ACTIVATIONS = {"identity": 0, "tanh": 1}


@dataclass(frozen=True)
class PersistentPlan:
    groups: int  # G, each on its own compute unit for the whole launch
    units: int  # U hidden units per group (all four gates of each)
    group_size: int  # work-items per group, at least 4*U*B
    tile: int  # KT: h_{t-1} staged in local memory this many units at a time (H when it fits)
    local_bytes: int  # the group's __local arguments


def _checked_vendor(device: DeviceInfo) -> bool:
    return any(vendor in device.platform.upper() for vendor in PERSISTENT_VENDORS)


def persistent_locals(streams: int, hidden: int, units: int, tile: int) -> tuple[int, int, int]:
    """Elements of w_loc (4U, H|1), h_loc (B, KT|1) and a_loc (4U, B), as lstm_persistent.cl lays them out."""
    return 4 * units * (hidden | 1), streams * (tile | 1), 4 * units * streams


def persistent_plan(device: DeviceInfo, limits: tuple[int, int], streams: int, hidden: int, itemsize: int,
                    units: int | None = None, tile: int | None = None) -> tuple[PersistentPlan | None, str]:
    """The launch of lstm_persistent_forward for B streams of H units on `device`, or None and why not.

    limits: the kernel's (work-group size, static local bytes) on the device (Kernel.limits). One group (G = 1)
    waits for nobody and is safe anywhere. G > 1 groups spin on each other, so they must all be resident at once:
    only on a GPU of PERSISTENT_VENDORS, with G <= compute units, each group small enough in work-items (the limit
    counts registers) and local memory to fit on a compute unit alone. Units: one group if it fits, else as many
    per group as keep the h staging in one tile (fewer groups meet faster), else the fewest."""
    max_group, static_local = limits
    budget = device.local_memory - static_local

    def fits(u: int, kt: int) -> bool:
        return 4 * u * streams <= max_group and sum(persistent_locals(streams, hidden, u, kt)) * itemsize <= budget

    if units is None:
        fewest = -(-hidden // max(device.compute_units, 1))
        most = max(fewest, PERSISTENT_SUMS // (4 * streams))
        units = hidden if fits(hidden, hidden) else next(
            (u for u in range(min(most, hidden), fewest - 1, -1) if fits(u, hidden)), fewest)
    if tile is None:
        tile = hidden
        while tile > 1 and not fits(units, tile):
            tile -= 1
    groups = -(-hidden // units)
    if not 1 <= units <= hidden or not 1 <= tile <= hidden:
        return None, f"units {units} and tile {tile} must lie in 1..H = {hidden}"
    if 4 * units * streams > max_group:
        return None, f"4*U*B = {4 * units * streams} sums exceed the kernel's work-group limit {max_group}"
    need = sum(persistent_locals(streams, hidden, units, tile)) * itemsize
    if need > budget:
        return None, f"{need} B of local memory per group, the device has {budget} B left for it"
    if groups > 1:
        if device.kind != "gpu":
            return None, f"{groups} groups on a {device.kind} device, whose work-groups may run one after another"
        if not _checked_vendor(device):
            return None, f"platform {device.platform!r}: no checked device-wide fence and residency rule"
        if groups > device.compute_units:
            return None, f"{groups} groups for {device.compute_units} compute units"
    sums = 4 * units * streams
    size = max(-(-sums // 32) * 32, min(PERSISTENT_STAGERS, streams * tile))
    return PersistentPlan(groups, units, min(size, max_group), tile, need), "ok"


class PersistentLstm:
    """lstm_persistent_forward of one build (grid barrier on or compiled out, spin cap) and its sync buffer
    [arrivals, gave up]: zeroed before the first launch after gave_up(); `base` counts the arrivals since."""

    def __init__(self, runtime: Runtime, dtype, *, grid_sync: bool = True, spin_cap: int | None = None):
        defines = {"GRID_SYNC": int(grid_sync), "PTX_FENCE": int(_checked_vendor(runtime.device_info))}
        defines |= {} if spin_cap is None else {"SPIN_CAP": spin_cap}
        self.rt, self.grid_sync, self.itemsize = runtime, grid_sync, np.dtype(dtype).itemsize
        self.kernel = runtime.program("lstm_persistent", dtype, defines).lstm_persistent_forward
        self.limits = self.kernel.limits()
        self._sync = runtime.empty(2, np.int32)
        self._base: int | None = None  # None: zero the buffer first
        self._plans: dict[tuple, tuple[PersistentPlan | None, str]] = {}

    def plan(self, device: DeviceInfo, streams: int, hidden: int, units: int | None = None,
             tile: int | None = None) -> tuple[PersistentPlan | None, str]:
        key = (device, streams, hidden, units, tile)
        if key not in self._plans:
            plan, why = persistent_plan(device, self.limits, streams, hidden, self.itemsize, units, tile)
            if plan is not None and plan.groups > 1 and not self.grid_sync:
                plan, why = None, "built without the grid barrier: one work-group only"
            self._plans[key] = plan, why
        return self._plans[key]

    def launch(self, plan: PersistentPlan, steps: int, streams: int, hidden: int, pre: DeviceArray,
               w_hh: DeviceArray, bias: DeviceArray, hs: DeviceArray, cs: DeviceArray) -> None:
        if self._base is None:
            self.rt.fill(self._sync, 0)
            self._base = 0
        if self._base + plan.groups * steps >= 2**31:
            raise DeviceError("persistent LSTM: arrival counter would overflow; call gave_up() between chunks")
        local = [self.rt.local(n * self.itemsize) for n in persistent_locals(streams, hidden, plan.units, plan.tile)]
        self.kernel((plan.groups * plan.group_size,), (plan.group_size,), steps, streams, hidden, plan.units,
                    plan.tile, self._base, pre, w_hh, bias, hs, cs, self._sync, *local)
        if plan.groups > 1:  # one arrival per group at each barrier (none after the last step)
            self._base += plan.groups * (steps - 1)

    def gave_up(self) -> bool:
        """Whether a group gave up waiting in the launches since the last call (waits for them to finish)."""
        if self._base is None:
            return False
        self._base = None
        return bool(self.rt.read(self._sync)[1])


class ClOps:
    """Kernels come in two variants. `gpu`: tiled through local memory, the LSTM step fused into one launch.
    `cpu` (PoCL): register-blocked vector GEMMs without barriers, and the LSTM step as GEMM + pointwise kernel.
    Both compute the maths of reference.py and are tested against it."""

    def __init__(self, runtime: Runtime, dtype, variant: str | None = None):
        self.rt = runtime
        self.dtype = np.dtype(dtype)
        self.real = self.dtype.type
        default = "cpu" if runtime.device_info.kind == "cpu" else "gpu"
        self.variant = variant or os.environ.get(VARIANT_ENV) or default
        if self.variant not in ("cpu", "gpu"):
            raise ValueError(f"kernel variant must be 'cpu' or 'gpu', not {self.variant!r}")
        self._scratch: dict[str, DeviceArray] = {}
        if self.variant == "cpu":
            self._cpu = runtime.program("gemm_cpu", dtype)
        gemm_tile = os.environ.get(GEMM_TILE_ENV)
        self.gemm_tile = tuple(int(v) for v in gemm_tile.lower().split("x")) if gemm_tile else GEMM_TILE
        tsm, tsn, wptm, wptn = self.gemm_tile
        self._gemm = runtime.program("gemm", dtype, {"TSM": tsm, "TSN": tsn, "WPTM": wptm, "WPTN": wptn})
        tile = os.environ.get(LSTM_TILE_ENV)
        values = tuple(int(v) for v in tile.lower().split("x")) if tile else LSTM_TILE
        self.lstm_tile = values + LSTM_TILE[len(values):]  # missing trailing values: the defaults
        if len(values) < 4:
            self.lstm_tile = (*self.lstm_tile[:3], self.lstm_tile[0])  # LK follows LJ unless given
        lj, lbw, rb, lk = self.lstm_tile
        self._lstm = runtime.program("lstm", dtype, {"LJ": lj, "LBW": lbw, "RB": rb, "LK": lk})
        self._lstm_group = (lj, lbw)  # work-items per work-group; it covers lj units and lbw * rb streams
        self.lstm_split = int(os.environ.get(LSTM_SPLIT_ENV, "0"))
        self._dense = runtime.program("dense", dtype)
        self._vae = runtime.program("vae", dtype)
        self._loss = runtime.program("loss", dtype)
        self._adam = runtime.program("adam", dtype)
        self._partials = runtime.empty(MAX_PARTIALS, dtype)
        self._unused = runtime.zeros(1, dtype)  # bound to pointer arguments a kernel will not touch
        self.persistent_device = runtime.device_info  # what persistent_plan checks (tests put in a fake one)
        self.persistent_off = self._persistent_off()  # why inference runs the stepped kernels only, or None
        self.persistent_units = int(os.environ.get(PERSISTENT_UNITS_ENV, "0")) or None
        self.persistent: PersistentLstm | None = None  # built on first use

    def _persistent_off(self) -> str | None:
        if os.environ.get(PERSISTENT_ENV, "1").strip() == "0":
            return f"{PERSISTENT_ENV}=0"
        if self.variant != "gpu" or self.rt.device_info.kind != "gpu":
            return "not a GPU (a CPU's work-groups may run one after another)"
        return None

    def scratch(self, name: str, size: int) -> DeviceArray:
        """A reusable device buffer of at least `size` elements (the queue is in order, so reuse is safe)."""
        buf = self._scratch.get(name)
        if buf is None or buf.size < size:
            buf = self._scratch[name] = self.rt.empty(max(size, 1), self.dtype)
        return buf

    # --- matrix products --------------------------------------------------------------------------------------------
    def gemm(self, m: int, n: int, k: int, a: DeviceArray, b: DeviceArray, c: DeviceArray, *, alpha: float = 1.0,
             beta: float = 0.0, trans_a: bool = False, trans_b: bool = False, a_off: int = 0, b_off: int = 0,
             c_off: int = 0, lda: int | None = None, ldb: int | None = None, ldc: int | None = None) -> None:
        """c[m,n] = alpha * op(a) @ op(b) + beta * c, row-major; leading dimensions default to dense storage."""
        lda = lda if lda is not None else (m if trans_a else k)
        ldb = ldb if ldb is not None else (k if trans_b else n)
        ldc = ldc if ldc is not None else n
        if self.variant == "gpu":
            tsm, tsn, wptm, wptn = self.gemm_tile
            group = (tsn // wptn, tsm // wptm)
            grid = (-(-n // tsn) * group[0], -(-m // tsm) * group[1])
            self._gemm.gemm(grid, group, m, n, k, alpha, a, a_off, lda, int(trans_a),
                            b, b_off, ldb, int(trans_b), beta, c, c_off, ldc)
            return
        if trans_b:  # the blocked kernel wants B as (K, N): transpose (N, K) into scratch first
            bt = self.scratch("gemm_b", n * k)
            self.transpose(n, k, b, bt, src_off=b_off, ld_src=ldb)
            b, b_off, ldb = bt, 0, n
        self.gemm_blocked(m, n, k, a, b, c, alpha=alpha, beta=beta, trans_a=trans_a, a_off=a_off, lda=lda,
                          b_off=b_off, ldb=ldb, c_off=c_off, ldc=ldc)

    def linear(self, rows: int, inputs: int, outputs: int, x: DeviceArray, w: DeviceArray, y: DeviceArray, *,
               x_off: int = 0, w_t: DeviceArray | None = None) -> None:
        """y (N,O) = x (N,I) @ w^T for weights w (O,I). The cpu variant reads w_t = w^T (I,O) when the caller keeps
        one (weights change once per chunk, their products run every step)."""
        if self.variant == "cpu" and w_t is not None:
            self.gemm(rows, outputs, inputs, x, w_t, y, a_off=x_off)
        else:
            self.gemm(rows, outputs, inputs, x, w, y, trans_b=True, a_off=x_off)

    def gemm_blocked(self, m: int, n: int, k: int, a: DeviceArray, b: DeviceArray, c: DeviceArray, *, alpha: float,
                     beta: float, trans_a: bool, a_off: int, lda: int, b_off: int, ldb: int, c_off: int,
                     ldc: int) -> None:
        global_size = (-(-m // BLOCK_ROWS), -(-n // BLOCK_COLS))
        if trans_a and k > 2 * BLOCK_DEPTH:
            # Weight gradients sum over thousands of rows: walked in slices that keep both operands' panels in
            # cache, each slice added into C (training only, so inference keeps its single-pass arithmetic).
            for k0 in range(0, k, BLOCK_DEPTH):
                depth = min(BLOCK_DEPTH, k - k0)
                self._cpu.gemm_blocked(global_size, BLOCK_GROUP, m, n, depth, alpha, a, a_off + k0 * lda, lda,
                                       1, b, b_off + k0 * ldb, ldb, beta if k0 == 0 else 1.0, c, c_off, ldc)
            return
        self._cpu.gemm_blocked(global_size, BLOCK_GROUP, m, n, k, alpha, a, a_off, lda, int(trans_a), b, b_off, ldb,
                               beta, c, c_off, ldc)

    def transpose(self, rows: int, cols: int, src: DeviceArray, out: DeviceArray, *, src_off: int = 0,
                  ld_src: int | None = None) -> None:
        """out (cols, rows) = src (rows, cols)^T (cpu variant only)."""
        global_size = (-(-cols // TRANSPOSE_TILE), -(-rows // TRANSPOSE_TILE))
        self._cpu.transpose(global_size, None, rows, cols, src, src_off, cols if ld_src is None else ld_src, out)

    def column_sum(self, x: DeviceArray, rows: int, cols: int, out: DeviceArray, *, x_off: int = 0,
                   beta: float = 0.0) -> None:
        """out (cols) = beta * out + sum over rows of x (rows, cols)."""
        self._gemm.column_sum((cols,), None, rows, cols, x, x_off, beta, out)

    # --- LSTM -------------------------------------------------------------------------------------------------------
    def lstm_forward(self, steps: int, streams: int, hidden: int, pre: DeviceArray, w_hh: DeviceArray,
                     bias: DeviceArray, hs: DeviceArray, cs: DeviceArray, gates: DeviceArray | None, *,
                     w_hh_t: DeviceArray | None = None) -> str:
        """Steps 0..T-1; pre (T,B,4H) holds x W_ih^T; hs/cs (T+1,B,H) slot 0 is the carried-in state. Returns the
        path taken: "persistent" (inference on a GPU: check persistent_gave_up() before using the results) or
        "stepped".

        The cpu variant adds h_{t-1} W_hh^T into pre in place, with w_hh_t = W_hh^T (H,4H) if the caller keeps it."""
        store = gates is not None
        if not store and steps >= PERSISTENT_MIN_STEPS and self.persistent_off is None:
            if self.persistent is None:
                self.persistent = PersistentLstm(self.rt, self.dtype)
            plan, _ = self.persistent.plan(self.persistent_device, streams, hidden, self.persistent_units)
            if plan is not None:
                self.persistent.launch(plan, steps, streams, hidden, pre, w_hh, bias, hs, cs)
                return "persistent"
        global_size = (hidden, streams)
        # Only training may split (inference stays fused, so its numbers never depend on the number of streams).
        if self.variant == "cpu" or (store and 0 < self.lstm_split <= streams):
            w_t = w_hh_t
            if w_t is None and self.variant == "cpu":
                w_t = self.scratch("w_hh_t", 4 * hidden * hidden)  # (H, 4H), transposed once for all T steps
                self.transpose(4 * hidden, hidden, w_hh, w_t)
            for t in range(steps):
                if self.variant == "cpu":
                    self.gemm_blocked(streams, 4 * hidden, hidden, hs, w_t, pre, alpha=1.0, beta=1.0,
                                      trans_a=False, a_off=t * streams * hidden, lda=hidden, b_off=0,
                                      ldb=4 * hidden, c_off=t * streams * 4 * hidden, ldc=4 * hidden)
                else:
                    self.gemm(streams, 4 * hidden, hidden, hs, w_hh, pre, beta=1.0, trans_b=True,
                              a_off=t * streams * hidden, c_off=t * streams * 4 * hidden)
                self._lstm.lstm_gates_forward(global_size, None, streams, hidden, t, pre, bias, hs, cs,
                                              gates if store else self._unused, int(store))
            return "stepped"
        args = (streams, hidden, 0, pre, w_hh, bias, hs, cs, gates if store else self._unused, int(store))
        self._lstm.lstm_step_forward.series(self._lstm_grid(hidden, streams), self._lstm_group, args, 2,
                                            range(steps))
        return "stepped"

    def persistent_gave_up(self) -> bool:
        """After a chunk: whether a persistent launch in it gave up (its results are then incomplete; the caller
        redoes the chunk). A give-up turns the persistent path off for these ops."""
        if self.persistent is None or not self.persistent.gave_up():
            return False
        self.persistent_off = "a work-group gave up waiting at the grid barrier (not all groups were resident)"
        return True

    def lstm_backward_steps(self, steps: int, streams: int, hidden: int, dh_out: DeviceArray, w_hh: DeviceArray,
                            gates: DeviceArray, cs: DeviceArray, da: DeviceArray, dc: DeviceArray) -> None:
        """Backpropagation through time: da (T,B,4H) from dh_out (T,B,H); dc (B,H) is scratch.

        The cpu variant adds the recurrent gradient da_{t+1} W_hh into dh_out in place."""
        self.rt.fill(dc, 0)
        global_size = (hidden, streams)
        if self.variant == "cpu":
            for t in reversed(range(steps)):
                if t + 1 < steps:
                    self.gemm_blocked(streams, hidden, 4 * hidden, da, w_hh, dh_out, alpha=1.0, beta=1.0,
                                      trans_a=False, a_off=(t + 1) * streams * 4 * hidden, lda=4 * hidden, b_off=0,
                                      ldb=hidden, c_off=t * streams * hidden, ldc=hidden)
                self._lstm.lstm_gates_backward(global_size, None, streams, hidden, t, dh_out, gates, cs, da, dc)
            return
        args = (streams, hidden, 0, steps, dh_out, w_hh, gates, cs, da, dc)
        self._lstm.lstm_step_backward.series(self._lstm_grid(hidden, streams), self._lstm_group, args, 2,
                                             range(steps - 1, -1, -1))

    def _lstm_grid(self, hidden: int, streams: int) -> tuple[int, int]:
        lj, lbw, rb, _ = self.lstm_tile
        return (-(-hidden // lj) * lj, -(-streams // (lbw * rb)) * lbw)

    def lstm_weight_grads(self, rows: int, inputs: int, hidden: int, da: DeviceArray, x: DeviceArray, x_off: int,
                          hs: DeviceArray, dw_ih: DeviceArray, dw_hh: DeviceArray, db: DeviceArray) -> None:
        """Whole-chunk GEMMs: dW_ih = da^T x, dW_hh = da^T h_{t-1}, db = column sums of da (rows = T*B)."""
        gates = 4 * hidden
        self.gemm(gates, inputs, rows, da, x, dw_ih, trans_a=True, b_off=x_off)
        self.gemm(gates, hidden, rows, da, hs, dw_hh, trans_a=True)  # hs slots 0..T-1 are h_{t-1}
        self.column_sum(da, rows, gates, db)

    # --- dense ------------------------------------------------------------------------------------------------------
    def bias_activation(self, rows: int, cols: int, y: DeviceArray, bias: DeviceArray, act: str) -> None:
        self._dense.bias_activation((cols, rows), None, rows, cols, y, bias, ACTIVATIONS[act])

    def activation_backward(self, count: int, dy: DeviceArray, y: DeviceArray, dz: DeviceArray, act: str) -> None:
        self._dense.activation_backward((count,), None, count, dy, y, dz, ACTIVATIONS[act])

    def dense_forward(self, rows: int, inputs: int, outputs: int, x: DeviceArray, w: DeviceArray, b: DeviceArray,
                      y: DeviceArray, act: str, *, x_off: int = 0, w_t: DeviceArray | None = None) -> None:
        """y (N,O) = act(x (N,I) w^T + b)."""
        self.linear(rows, inputs, outputs, x, w, y, x_off=x_off, w_t=w_t)
        self.bias_activation(rows, outputs, y, b, act)

    def dense_backward(self, rows: int, inputs: int, outputs: int, dy: DeviceArray, x: DeviceArray, y: DeviceArray,
                       w: DeviceArray, dw: DeviceArray, db: DeviceArray, dx: DeviceArray | None, act: str, *,
                       x_off: int = 0) -> None:
        """dy (N,O) is overwritten with the pre-activation gradient; dx (N,I) = that @ w (skipped when None)."""
        if act != "identity":
            self.activation_backward(rows * outputs, dy, y, dy, act)
        self.gemm(outputs, inputs, rows, dy, x, dw, trans_a=True, b_off=x_off)
        self.column_sum(dy, rows, outputs, db)
        if dx is not None:
            self.gemm(rows, inputs, outputs, dy, w, dx)

    # --- latent -----------------------------------------------------------------------------------------------------
    def vae_forward(self, rows: int, latent: int, p: DeviceArray, eps: DeviceArray | None, z: DeviceArray,
                    sample: bool, *, p_off: int = 0) -> None:
        """z (N,Z) from p (N,2Z) = [mean | logvar] at element offset p_off."""
        self._vae.vae_forward((latent, rows), None, rows, latent, p, p_off, eps if sample else self._unused, z,
                              int(sample))

    def vae_backward(self, rows: int, latent: int, p: DeviceArray, eps: DeviceArray | None, dz: DeviceArray,
                     dp: DeviceArray, sample: bool, kl_scale: float, *, p_off: int = 0) -> None:
        """dp (N,2Z) from dz (N,Z) and, when sampling, kl_scale times the KL gradient."""
        self._vae.vae_backward((latent, rows), None, rows, latent, p, p_off, eps if sample else self._unused, dz,
                               dp, int(sample), kl_scale)

    # --- losses and reductions (results land in out[index], on the device) -------------------------------------------
    def _groups(self, count: int) -> int:
        return int(min(MAX_PARTIALS, max(1, -(-count // (REDUCE_GROUP * 4)))))

    def _reduce(self, groups: int, out: DeviceArray, index: int) -> None:
        self._loss.reduce_partials((REDUCE_GROUP,), (REDUCE_GROUP,), groups, self._partials, out, index)

    def squared_error(self, count: int, y_hat: DeviceArray, y: DeviceArray, dy_hat: DeviceArray, grad_scale: float,
                      out: DeviceArray, index: int) -> None:
        """out[index] = sum (y_hat - y)^2; dy_hat = grad_scale * (y_hat - y)."""
        groups = self._groups(count)
        self._loss.squared_error((groups * REDUCE_GROUP,), (REDUCE_GROUP,), count, y_hat, y, dy_hat, grad_scale,
                                 self._partials)
        self._reduce(groups, out, index)

    def kl_divergence(self, rows: int, latent: int, p: DeviceArray, out: DeviceArray, index: int, *,
                      p_off: int = 0) -> None:
        """out[index] = sum over rows of KL(q(z|x) || N(0,1)); p (N,2Z) at element offset p_off."""
        groups = self._groups(rows * latent)
        self._loss.kl_divergence((groups * REDUCE_GROUP,), (REDUCE_GROUP,), rows, latent, p, p_off, self._partials)
        self._reduce(groups, out, index)

    def sum_squares(self, count: int, x: DeviceArray, out: DeviceArray, index: int) -> None:
        groups = self._groups(count)
        self._loss.sum_squares((groups * REDUCE_GROUP,), (REDUCE_GROUP,), count, x, self._partials)
        self._reduce(groups, out, index)

    # --- optimizer --------------------------------------------------------------------------------------------------
    def adam_update(self, count: int, param: DeviceArray, grad: DeviceArray, m: DeviceArray, v: DeviceArray, *,
                    step: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
                    clip_norm: float, norm_sq: DeviceArray) -> None:
        """One AdamW step (step counts from 1); norm_sq[0] must hold the squared gradient norm when clipping."""
        bias1, bias2 = 1.0 - beta1 ** step, 1.0 - beta2 ** step
        self._adam.adam_update((count,), None, count, param, grad, m, v, lr, beta1, beta2, eps, weight_decay,
                               bias1, bias2, clip_norm, norm_sq)
