"""The OpenCL engine: the network of reference.py driven through the kernels, with buffers kept on the device.

Parameters, gradients and Adam moments are four flat device vectors with one layout (layout.py); each tensor is a
sub-buffer view. Activations live in a workspace sized for B streams and up to T steps; the recurrent state of
each LSTM layer is slot 0 of its (T+1,B,H) h and c buffers and is carried there from chunk to chunk. A training
step uploads x, y and eps, runs forward, backward and Adam on the device, and reads back only the loss.
"""

from __future__ import annotations

import logging

import numpy as np

from ..config import ModelConfig
from ..opencl.runtime import DeviceArray, DeviceInfo, get_runtime
from .base import Engine, LossParts, State, loss_parts
from .cl_ops import ClOps
from .layout import ParamLayout

log = logging.getLogger(__name__)

LOSS_LOG_STEPS = 1024  # training steps whose losses may wait on the device before the host reads them


class _LstmBuffers:
    def __init__(self, rt, steps: int, streams: int, inputs: int, hidden: int, dtype):
        self.inputs, self.hidden = inputs, hidden
        self.pre = rt.empty((steps, streams, 4 * hidden), dtype)  # x W_ih^T, then reused as da (T,B,4H)
        self.hs = rt.zeros((steps + 1, streams, hidden), dtype)  # slot 0: carried state
        self.cs = rt.zeros((steps + 1, streams, hidden), dtype)
        self.gates = self.dh = self.dc = None  # training only, see _Workspace.for_training

    def for_training(self, rt, steps: int, streams: int, dtype) -> None:
        self.gates = rt.empty((steps, streams, 4 * self.hidden), dtype)
        self.dh = rt.empty((steps, streams, self.hidden), dtype)  # gradient arriving from the layer above
        self.dc = rt.empty((streams, self.hidden), dtype)


class _Workspace:
    """Activation buffers for B streams and up to `steps` time steps; the gradient buffers only once the engine
    trains (an inference-only engine, the daemon's or encode's, holds about half the memory)."""

    def __init__(self, rt, config: ModelConfig, steps: int, streams: int, dtype):
        self.steps, self.streams = steps, streams
        rows = steps * streams
        self.x = rt.empty((steps, streams, config.inputs), dtype)
        widths = [config.inputs, *config.lstm]
        self.lstm = [_LstmBuffers(rt, steps, streams, widths[i], h, dtype) for i, h in enumerate(config.lstm)]
        self.dense_widths = [config.latent, *config.decoder, config.outputs]
        self.acts = [rt.empty((rows, w), dtype) for w in self.dense_widths]  # z, decoder outputs..., y_hat
        self.training = False
        self.y = self.eps = self.grads = None

    def for_training(self, rt, config: ModelConfig, dtype) -> "_Workspace":
        if not self.training:
            steps, streams = self.steps, self.streams
            self.y = rt.empty((steps, streams, config.outputs), dtype)
            self.eps = rt.empty((steps, streams, config.latent), dtype)
            self.grads = [rt.empty((steps * streams, w), dtype) for w in self.dense_widths]  # d(acts)
            for buf in self.lstm:
                buf.for_training(rt, steps, streams, dtype)
            self.training = True
        return self


class OpenCLEngine(Engine):
    def __init__(self, config: ModelConfig, streams: int = 1, dtype=np.float32, *, device: DeviceInfo,
                 profiling: bool = False, variant: str | None = None):
        super().__init__(config, streams, dtype)
        self.rt = get_runtime(device, profiling)
        self.device_label = f"opencl {device.index} {device.name}"
        self.ops = ClOps(self.rt, self.dtype, variant)  # kernel variant: the device's own unless forced
        align = max(1, self.rt.base_align_bytes // self.dtype.itemsize)
        self.layout = ParamLayout(config, align)
        total = self.layout.total
        self._flat = {key: self.rt.zeros(total, self.dtype) for key in ("param", "grad", "m", "v")}
        self._param = self._views(self._flat["param"])
        self._grad = self._views(self._flat["grad"])
        self._norm_sq = self.rt.zeros(1, self.dtype)  # squared global gradient norm, for clipping
        # Per training step [sum of squared errors, sum over rows of KL], read when the caller waits or collects.
        self._loss_log = self.rt.zeros(2 * LOSS_LOG_STEPS, self.dtype)
        self._collected: list[LossParts] = []  # losses moved off a full log, not yet collected
        # cpu kernels: transposed copies of the weight matrices, refreshed when the weights change
        self._matrices = [s for s in self.layout.specs if len(s.shape) == 2]
        self._transposed = {s.name: self.rt.empty(s.shape[::-1], self.dtype) for s in self._matrices} \
            if self.ops.variant == "cpu" else {}
        self._transposed_stale = True
        self._ws: _Workspace | None = None
        self.lstm_paths: tuple[str, ...] = ()  # per LSTM layer, the kernel path of the last inference forward
        self.set_params(self.initial_params())

    def _views(self, flat: DeviceArray) -> dict[str, DeviceArray]:
        return {s.name: self.rt.view(flat, s.offset, s.shape) for s in self.layout.specs}

    def _workspace(self, steps: int) -> _Workspace:
        """The workspace for at least `steps` steps; growing it keeps the carried state."""
        ws = self._ws
        if ws is not None and ws.steps >= steps and ws.streams == self.streams:
            return ws
        state = self.get_state() if ws is not None and ws.streams == self.streams else self.zero_state()
        self._ws = _Workspace(self.rt, self.config, max(steps, ws.steps if ws else 1), self.streams, self.dtype)
        self._set_state(state)
        return self._ws

    # --- parameters and optimizer state -------------------------------------------------------------------------
    def get_params(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.layout.unflatten(self.rt.read(self._flat["param"])).items()}

    def _set_params(self, params: dict[str, np.ndarray]) -> None:
        self.rt.write(self._flat["param"], self.layout.flatten(params, self.dtype))
        self._transposed_stale = True

    def _weights_t(self) -> dict[str, DeviceArray]:
        """W^T of every weight matrix for the cpu kernels (empty for gpu kernels), transposed once per change."""
        if self._transposed and self._transposed_stale:
            for spec in self._matrices:
                self.ops.transpose(spec.shape[0], spec.shape[1], self._param[spec.name], self._transposed[spec.name])
            self._transposed_stale = False
        return self._transposed

    def get_optimizer_state(self) -> tuple[dict, dict, int]:
        m = self.layout.unflatten(self.rt.read(self._flat["m"]))
        v = self.layout.unflatten(self.rt.read(self._flat["v"]))
        return {k: a.copy() for k, a in m.items()}, {k: a.copy() for k, a in v.items()}, self.step

    def _set_optimizer_state(self, m: dict, v: dict, step: int) -> None:
        self.rt.write(self._flat["m"], self.layout.flatten(m, self.dtype))
        self.rt.write(self._flat["v"], self.layout.flatten(v, self.dtype))
        self.step = step

    # --- recurrent state ----------------------------------------------------------------------------------------
    def get_state(self) -> State:
        ws = self._ws
        if ws is None or ws.streams != self.streams:
            return self.zero_state()
        size = self.streams
        return [(self.rt.read(buf.hs, 0, size * buf.hidden).reshape(size, buf.hidden),
                 self.rt.read(buf.cs, 0, size * buf.hidden).reshape(size, buf.hidden)) for buf in ws.lstm]

    def _set_state(self, state: State) -> None:
        ws = self._ws
        if ws is None or ws.streams != self.streams:
            ws = self._ws = _Workspace(self.rt, self.config, ws.steps if ws else 1, self.streams, self.dtype)
        for buf, (h, c) in zip(ws.lstm, state):
            self.rt.write(buf.hs, np.asarray(h))  # slot 0
            self.rt.write(buf.cs, np.asarray(c))

    def _carry_state(self, ws: _Workspace, steps: int) -> None:
        """Slot T of h and c becomes slot 0: the next chunk starts where this one ended."""
        for buf in ws.lstm:
            size = self.streams * buf.hidden
            self.rt.copy(buf.hs, buf.hs, size, dst_offset=0, src_offset=steps * size)
            self.rt.copy(buf.cs, buf.cs, size, dst_offset=0, src_offset=steps * size)

    # --- compute ------------------------------------------------------------------------------------------------
    def _run_forward(self, ws: _Workspace, steps: int, sample: bool, training: bool) -> tuple[str, ...]:
        """Enqueues the forward pass; returns each LSTM layer's kernel path (ClOps.lstm_forward)."""
        cfg, ops = self.config, self.ops
        rows = steps * self.streams
        x, x_off = ws.x, 0
        p, wt = self._param, self._weights_t()
        paths = []
        for layer, buf in enumerate(ws.lstm):
            w_ih, w_hh = f"lstm{layer}.w_ih", f"lstm{layer}.w_hh"
            ops.linear(rows, buf.inputs, 4 * buf.hidden, x, p[w_ih], buf.pre, x_off=x_off, w_t=wt.get(w_ih))
            paths.append(ops.lstm_forward(steps, self.streams, buf.hidden, buf.pre, p[w_hh], p[f"lstm{layer}.b"],
                                          buf.hs, buf.cs, buf.gates if training else None, w_hh_t=wt.get(w_hh)))
            x, x_off = buf.hs, self.streams * buf.hidden  # slots 1..T are this layer's outputs
        ops.vae_forward(rows, cfg.latent, x, ws.eps, ws.acts[0], sample, p_off=x_off)
        widths = [cfg.latent, *cfg.decoder, cfg.outputs]
        for layer in range(len(widths) - 1):
            name, act = self._dense_layer(layer)
            ops.dense_forward(rows, widths[layer], widths[layer + 1], ws.acts[layer], p[f"{name}.w"],
                              p[f"{name}.b"], ws.acts[layer + 1], act, w_t=wt.get(f"{name}.w"))
        return tuple(paths)

    def _dense_layer(self, layer: int) -> tuple[str, str]:
        if layer < len(self.config.decoder):
            return f"dec{layer}", self.config.decoder_activation
        return "out", self.config.output_activation

    def _run_backward(self, ws: _Workspace, steps: int, sample: bool) -> None:
        cfg, ops, p, g = self.config, self.ops, self._param, self._grad
        rows = steps * self.streams
        widths = [cfg.latent, *cfg.decoder, cfg.outputs]
        slot = 2 * len(self._pending)  # this step's entries in the loss log
        ops.squared_error(rows * cfg.outputs, ws.acts[-1], ws.y, ws.grads[-1], 2.0 / (rows * cfg.outputs),
                          self._loss_log, slot)
        for layer in reversed(range(len(widths) - 1)):
            name, act = self._dense_layer(layer)
            ops.dense_backward(rows, widths[layer], widths[layer + 1], ws.grads[layer + 1], ws.acts[layer],
                               ws.acts[layer + 1], p[f"{name}.w"], g[f"{name}.w"], g[f"{name}.b"], ws.grads[layer], act)
        top = ws.lstm[-1]
        p_off = self.streams * top.hidden
        if sample:
            ops.kl_divergence(rows, cfg.latent, top.hs, self._loss_log, slot + 1, p_off=p_off)
        ops.vae_backward(rows, cfg.latent, top.hs, ws.eps, ws.grads[0], top.dh, sample,
                         cfg.beta / (rows * cfg.outputs), p_off=p_off)
        for layer in reversed(range(len(ws.lstm))):
            buf = ws.lstm[layer]
            da = buf.pre  # the input projection is no longer needed: reuse it for the gate gradients
            ops.lstm_backward_steps(steps, self.streams, buf.hidden, buf.dh, p[f"lstm{layer}.w_hh"], buf.gates,
                                    buf.cs, da, buf.dc)
            x, x_off = (ws.x, 0) if layer == 0 else (ws.lstm[layer - 1].hs, self.streams * buf.inputs)
            ops.lstm_weight_grads(rows, buf.inputs, buf.hidden, da, x, x_off, buf.hs, g[f"lstm{layer}.w_ih"],
                                  g[f"lstm{layer}.w_hh"], g[f"lstm{layer}.b"])
            if layer > 0:  # gradient into the outputs of the layer below: da (N,4H) @ W_ih (4H,I)
                ops.gemm(rows, buf.inputs, 4 * buf.hidden, da, p[f"lstm{layer}.w_ih"], ws.lstm[layer - 1].dh)

    def _upload(self, x: np.ndarray, y: np.ndarray | None = None, eps: np.ndarray | None = None) -> _Workspace:
        ws = self._workspace(x.shape[0])
        if y is not None:
            ws.for_training(self.rt, self.config, self.dtype)
        for host, dev in ((x, ws.x), (y, ws.y), (eps, ws.eps)):
            if host is not None:  # a private copy: the caller may reuse its array while the copy is under way
                self.rt.write(dev, np.array(host, self.dtype), blocking=False)  # the leading T steps
        return ws

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        steps, streams, z_size = x.shape[0], self.streams, self.config.latent
        ws = self._upload(x)
        self.lstm_paths = self._run_forward(ws, steps, sample=False, training=False)
        if self.ops.persistent_gave_up():
            # Not all work-groups of a persistent launch were resident: its outputs are incomplete. The inputs (x,
            # the carried state in slot 0) are untouched, so the chunk is redone with the stepped kernels, which
            # the ops now use for good.
            log.warning("%s: persistent LSTM kernel gave up (%s); this engine runs the stepped kernels from now on",
                        self.device_label, self.ops.persistent_off)
            self.lstm_paths = self._run_forward(ws, steps, sample=False, training=False)
        rows = steps * streams
        p = self.rt.read(ws.lstm[-1].hs, streams * 2 * z_size, rows * 2 * z_size).reshape(rows, 2 * z_size)
        y_hat = self.rt.read(ws.acts[-1], 0, rows * self.config.outputs)
        self._carry_state(ws, steps)
        return p[:, :z_size].reshape(steps, streams, z_size), y_hat.reshape(steps, streams, self.config.outputs)

    def _forward_backward(self, x, y, eps) -> tuple[_Workspace, int, bool]:
        steps, sample = x.shape[0], self.config.variational
        ws = self._upload(x, y, eps)
        self._run_forward(ws, steps, sample, training=True)
        self._run_backward(ws, steps, sample)
        self._carry_state(ws, steps)
        return ws, steps, sample

    def _resolve(self, pending: list) -> list[LossParts]:
        """(rows, sample) records -> LossParts, from one read of the loss log."""
        if not pending:
            return []
        log = self.rt.read(self._loss_log, 0, 2 * len(pending))
        return [loss_parts(self.config, float(log[2 * i]), float(log[2 * i + 1]), rows, sample)
                for i, (rows, sample) in enumerate(pending)]

    def _loss_and_grad(self, x, y, eps) -> tuple[LossParts, dict[str, np.ndarray]]:
        ws, steps, sample = self._forward_backward(x, y, eps)
        loss = self._resolve(self._pending + [(steps * self.streams, sample)])[-1]
        grads = self.layout.unflatten(self.rt.read(self._flat["grad"]))
        return loss, {k: v.copy() for k, v in grads.items()}

    def _train_step(self, x, y, eps, lr: float, wait: bool) -> LossParts | None:
        if len(self._pending) >= LOSS_LOG_STEPS:  # the log is full: move its losses to the host first
            self._collected += self._resolve(self._pending)
            self._pending = []
        ws, steps, sample = self._forward_backward(x, y, eps)
        opt = self.config.optimizer
        self.step += 1
        if opt.clip_norm > 0:
            self.ops.sum_squares(self.layout.total, self._flat["grad"], self._norm_sq, 0)
        self.ops.adam_update(self.layout.total, self._flat["param"], self._flat["grad"], self._flat["m"],
                             self._flat["v"], step=self.step, lr=lr, beta1=opt.beta1, beta2=opt.beta2,
                             eps=opt.eps, weight_decay=opt.weight_decay, clip_norm=opt.clip_norm,
                             norm_sq=self._norm_sq)
        self._transposed_stale = True
        record = (steps * self.streams, sample)
        if wait:
            return self._resolve(self._pending + [record])[-1]
        self._pending.append(record)
        return None

    def collect_losses(self) -> list[LossParts]:
        collected, self._collected = self._collected, []
        return collected + super().collect_losses()
