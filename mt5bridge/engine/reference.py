"""The NumPy reference: every layer and the whole network, forward and backward, in any float dtype.

This module is the living definition of the maths (docs/MODEL.md): the OpenCL kernels are tested against it, and
`ReferenceEngine` doubles as the `numpy` device where no OpenCL exists. It is written for clarity, not speed: one
function per kernel, same argument meanings, same order of operations where that matters.
Shapes: T time steps, B streams, I inputs, H hidden, Z latent, O outputs, N = T*B rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from ..config import ModelConfig, OptimizerConfig
from .base import Engine, LossParts, loss_parts

# --- layers ----------------------------------------------------------------------------------------------------------


def sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-x) = inf for x < -709 (inputs far outside training): 1/inf = 0, exact
        return 1.0 / (1.0 + np.exp(-x))


def activate(x: np.ndarray, act: str) -> np.ndarray:
    return np.tanh(x) if act == "tanh" else x


def activation_grad(y: np.ndarray, act: str) -> np.ndarray:
    """d act / d x expressed through the output y."""
    return 1.0 - y * y if act == "tanh" else np.ones_like(y)


@dataclass
class LstmCache:
    x: np.ndarray  # (T,B,I) inputs
    hs: np.ndarray  # (T+1,B,H) hidden states; hs[0] is the carried-in state
    cs: np.ndarray  # (T+1,B,H) cell states; cs[0] is the carried-in state
    gates: np.ndarray  # (T,B,4H) activated gates i, f, g, o


def lstm_forward(x: np.ndarray, h0: np.ndarray, c0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                 b: np.ndarray) -> LstmCache:
    """x (T,B,I), h0/c0 (B,H), w_ih (4H,I), w_hh (4H,H), b (4H). Gate order i, f, g, o."""
    steps, streams, _ = x.shape
    hidden = w_hh.shape[1]
    hs = np.empty((steps + 1, streams, hidden), x.dtype)
    cs = np.empty_like(hs)
    gates = np.empty((steps, streams, 4 * hidden), x.dtype)
    hs[0], cs[0] = h0, c0
    pre = x @ w_ih.T  # (T,B,4H): the input projection of the whole chunk at once
    for t in range(steps):
        a = pre[t] + b + hs[t] @ w_hh.T  # (B,4H)
        i, f = sigmoid(a[:, :hidden]), sigmoid(a[:, hidden: 2 * hidden])
        g, o = np.tanh(a[:, 2 * hidden: 3 * hidden]), sigmoid(a[:, 3 * hidden:])
        cs[t + 1] = f * cs[t] + i * g
        hs[t + 1] = o * np.tanh(cs[t + 1])
        gates[t] = np.concatenate([i, f, g, o], axis=1)
    return LstmCache(x, hs, cs, gates)


def lstm_backward(dh_out: np.ndarray, cache: LstmCache, w_ih: np.ndarray, w_hh: np.ndarray):
    """Backpropagation through time over the whole chunk.

    dh_out (T,B,H) is the gradient arriving from the layer above at each step; the gradient also flows through
    h_{t-1} and c_{t-1} into earlier steps. The state carried in from before the chunk is treated as a constant
    (truncated BPTT). Returns dx (T,B,I), dw_ih (4H,I), dw_hh (4H,H), db (4H).
    """
    steps, streams, hidden = dh_out.shape
    da = np.zeros((steps, streams, 4 * hidden), dh_out.dtype)  # (T,B,4H) pre-activation gradients
    dc = np.zeros((streams, hidden), dh_out.dtype)  # (B,H) carried backwards in time
    for t in reversed(range(steps)):
        i, f, g, o = np.split(cache.gates[t], 4, axis=1)
        dh = dh_out[t] + (da[t + 1] @ w_hh if t + 1 < steps else 0.0)
        tc = np.tanh(cache.cs[t + 1])
        dcell = dc + dh * o * (1.0 - tc * tc)
        da[t] = np.concatenate([
            dcell * g * i * (1.0 - i),
            dcell * cache.cs[t] * f * (1.0 - f),
            dcell * i * (1.0 - g * g),
            dh * tc * o * (1.0 - o),
        ], axis=1)
        dc = dcell * f
    da_rows = da.reshape(-1, 4 * hidden)  # (N,4H)
    dw_ih = da_rows.T @ cache.x.reshape(-1, cache.x.shape[2])
    dw_hh = da_rows.T @ cache.hs[:-1].reshape(-1, hidden)
    db = da_rows.sum(axis=0)
    dx = da @ w_ih
    return dx, dw_ih, dw_hh, db


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, act: str) -> np.ndarray:
    """x (N,I), w (O,I), b (O) -> y (N,O) = act(x w^T + b)."""
    return activate(x @ w.T + b, act)


def dense_backward(dy: np.ndarray, x: np.ndarray, y: np.ndarray, w: np.ndarray, act: str):
    """Returns dx (N,I), dw (O,I), db (O)."""
    dz = dy * activation_grad(y, act)
    return dz @ w, dz.T @ x, dz.sum(axis=0)


def vae_forward(p: np.ndarray, eps: np.ndarray | None, sample: bool) -> np.ndarray:
    """p (N,2Z) = [mean | logvar] -> z (N,Z): mean + exp(logvar/2) * eps when sampling, else mean."""
    z_size = p.shape[1] // 2
    mean, logvar = p[:, :z_size], p[:, z_size:]
    return mean + np.exp(0.5 * logvar) * eps if sample else mean.copy()


def vae_backward(dz: np.ndarray, p: np.ndarray, eps: np.ndarray | None, sample: bool, kl_scale: float) -> np.ndarray:
    """dp (N,2Z) from dz (N,Z) plus, when sampling, kl_scale times the gradient of the summed KL."""
    z_size = p.shape[1] // 2
    mean, logvar = p[:, :z_size], p[:, z_size:]
    if not sample:
        return np.concatenate([dz, np.zeros_like(dz)], axis=1)
    dmean = dz + kl_scale * mean
    dlogvar = dz * eps * 0.5 * np.exp(0.5 * logvar) + kl_scale * 0.5 * (np.exp(logvar) - 1.0)
    return np.concatenate([dmean, dlogvar], axis=1)


def kl_divergence(p: np.ndarray) -> float:
    """Sum over rows of KL(N(mean, exp(logvar)) || N(0, 1)) for p (N,2Z)."""
    z_size = p.shape[1] // 2
    mean, logvar = p[:, :z_size], p[:, z_size:]
    return float(np.sum(-0.5 * (1.0 + logvar - mean * mean - np.exp(logvar))))


def squared_error(y_hat: np.ndarray, y: np.ndarray, grad_scale: float) -> tuple[float, np.ndarray]:
    """Sum of squared errors and its scaled gradient grad_scale * (y_hat - y)."""
    diff = y_hat - y
    return float(np.sum(diff * diff)), grad_scale * diff


def adam_update(params: dict, grads: dict, m: dict, v: dict, step: int, opt: OptimizerConfig) -> None:
    """One AdamW step in place (step counts from 1); clips by the global gradient norm first when asked."""
    scale = 1.0
    if opt.clip_norm > 0:
        norm = np.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
        if norm > opt.clip_norm:
            scale = opt.clip_norm / norm
    bias1, bias2 = 1.0 - opt.beta1 ** step, 1.0 - opt.beta2 ** step
    for name, p in params.items():
        g = grads[name] * scale
        p -= opt.lr * opt.weight_decay * p
        m[name] = opt.beta1 * m[name] + (1.0 - opt.beta1) * g
        v[name] = opt.beta2 * v[name] + (1.0 - opt.beta2) * g * g
        p -= opt.lr * (m[name] / bias1) / (np.sqrt(v[name] / bias2) + opt.eps)


# --- the network ----------------------------------------------------------------------------------------------------


@dataclass
class ForwardCache:
    lstm: list[LstmCache]
    p: np.ndarray  # (N,2Z) latent parameters [mean | logvar]
    dense_inputs: list[np.ndarray]  # input of each decoder layer, the output layer last
    dense_outputs: list[np.ndarray]
    y_hat: np.ndarray  # (N,O)


def network_forward(params: dict, config: ModelConfig, x: np.ndarray, state: Sequence[tuple[np.ndarray, np.ndarray]],
                    eps: np.ndarray | None, sample: bool) -> ForwardCache:
    """x (T,B,I) -> caches of every layer. `sample` draws z with eps (T,B,Z); otherwise z is the mean."""
    caches = []
    h = x
    for layer, (h0, c0) in enumerate(state):
        cache = lstm_forward(h, h0, c0, params[f"lstm{layer}.w_ih"], params[f"lstm{layer}.w_hh"],
                             params[f"lstm{layer}.b"])
        caches.append(cache)
        h = cache.hs[1:]
    rows = x.shape[0] * x.shape[1]
    p = h.reshape(rows, -1)  # (N,2Z)
    z = vae_forward(p, None if eps is None else eps.reshape(rows, -1), sample)
    inputs, outputs = [], []
    for layer in range(len(config.decoder) + 1):
        name, act = (f"dec{layer}", config.decoder_activation) if layer < len(config.decoder) else \
            ("out", config.output_activation)
        inputs.append(z)
        z = dense_forward(z, params[f"{name}.w"], params[f"{name}.b"], act)
        outputs.append(z)
    return ForwardCache(caches, p, inputs, outputs, z)


def network_backward(params: dict, config: ModelConfig, cache: ForwardCache, y: np.ndarray,
                     eps: np.ndarray | None, sample: bool) -> tuple[LossParts, dict]:
    """Loss (docs/MODEL.md) and the gradient of every parameter, for targets y (T,B,O)."""
    rows = cache.p.shape[0]
    outputs = config.outputs
    sq_sum, dy = squared_error(cache.y_hat, y.reshape(rows, outputs), 2.0 / (rows * outputs))
    kl_sum = kl_divergence(cache.p) if sample else 0.0
    grads: dict[str, np.ndarray] = {}
    names = [f"dec{i}" for i in range(len(config.decoder))] + ["out"]
    acts = [config.decoder_activation] * len(config.decoder) + [config.output_activation]
    for layer in reversed(range(len(names))):
        dy, grads[f"{names[layer]}.w"], grads[f"{names[layer]}.b"] = dense_backward(
            dy, cache.dense_inputs[layer], cache.dense_outputs[layer], params[f"{names[layer]}.w"], acts[layer])
    kl_scale = config.beta / (rows * outputs)
    dp = vae_backward(dy, cache.p, None if eps is None else eps.reshape(rows, -1), sample, kl_scale)
    dh = dp.reshape(cache.lstm[-1].gates.shape[0], cache.lstm[-1].gates.shape[1], -1)
    for layer in reversed(range(len(cache.lstm))):
        dh, grads[f"lstm{layer}.w_ih"], grads[f"lstm{layer}.w_hh"], grads[f"lstm{layer}.b"] = lstm_backward(
            dh, cache.lstm[layer], params[f"lstm{layer}.w_ih"], params[f"lstm{layer}.w_hh"])
    return loss_parts(config, sq_sum, kl_sum, rows, sample), grads


def network_infer(params: dict, config: ModelConfig, x: np.ndarray,
                  state: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, list]:
    """Inference one row at a time: x (T,B,I) -> latent mean (T,B,Z), reconstruction (T,B,O), new state.

    Every product is a vector-matrix product of one stream at one step, so a bar's numbers do not depend on how
    many steps or streams are computed together (BLAS picks other kernels, with other rounding, for other shapes).
    That keeps the offline backfill and the live daemon bit-identical on this device too.
    """
    steps, streams, _ = x.shape
    z_size = config.latent
    hs = [h.copy() for h, _ in state]
    cs = [c.copy() for _, c in state]
    latent = np.empty((steps, streams, z_size), x.dtype)
    recon = np.empty((steps, streams, config.outputs), x.dtype)
    layers = [(f"dec{i}", config.decoder_activation) for i in range(len(config.decoder))]
    layers.append(("out", config.output_activation))
    for t in range(steps):
        for b in range(streams):
            v = x[t, b]
            for k in range(len(hs)):
                hidden = hs[k].shape[1]
                a = v @ params[f"lstm{k}.w_ih"].T + params[f"lstm{k}.b"] + hs[k][b] @ params[f"lstm{k}.w_hh"].T
                i, f = sigmoid(a[:hidden]), sigmoid(a[hidden: 2 * hidden])
                g, o = np.tanh(a[2 * hidden: 3 * hidden]), sigmoid(a[3 * hidden:])
                cs[k][b] = f * cs[k][b] + i * g
                hs[k][b] = o * np.tanh(cs[k][b])
                v = hs[k][b]
            latent[t, b] = v[:z_size]
            v = v[:z_size]
            for name, act in layers:
                v = activate(v @ params[f"{name}.w"].T + params[f"{name}.b"], act)
            recon[t, b] = v
    return latent, recon, list(zip(hs, cs))


class ReferenceEngine(Engine):
    """The `numpy` device: the reference maths above driven like the OpenCL engine."""

    device_label = "numpy"

    def __init__(self, config: ModelConfig, streams: int = 1, dtype=np.float64):
        super().__init__(config, streams, dtype)
        self._params = {k: v.astype(self.dtype) for k, v in self.initial_params().items()}
        self._m = {k: np.zeros_like(v) for k, v in self._params.items()}
        self._v = {k: np.zeros_like(v) for k, v in self._params.items()}
        self._state = self.zero_state()

    # parameters and optimizer state
    def get_params(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self._params.items()}

    def _set_params(self, params: dict[str, np.ndarray]) -> None:
        self._params = {k: np.array(params[k], self.dtype) for k in self._params}

    def get_optimizer_state(self) -> tuple[dict, dict, int]:
        return {k: a.copy() for k, a in self._m.items()}, {k: a.copy() for k, a in self._v.items()}, self.step

    def _set_optimizer_state(self, m: dict, v: dict, step: int) -> None:
        self._m = {k: np.array(m[k], self.dtype) for k in self._m}
        self._v = {k: np.array(v[k], self.dtype) for k in self._v}
        self.step = step

    # recurrent state
    def get_state(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(h.copy(), c.copy()) for h, c in self._state]

    def _set_state(self, state: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self._state = [(np.array(h, self.dtype), np.array(c, self.dtype)) for h, c in state]

    # compute
    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        latent, recon, self._state = network_infer(self._params, self.config, x, self._state)
        return latent, recon

    def _loss_and_grad(self, x, y, eps) -> tuple[LossParts, dict[str, np.ndarray]]:
        sample = self.config.variational
        cache = network_forward(self._params, self.config, x, self._state, eps, sample)
        loss, grads = network_backward(self._params, self.config, cache, y, eps, sample)
        self._state = [(c.hs[-1].copy(), c.cs[-1].copy()) for c in cache.lstm]
        return loss, grads

    def _train_step(self, x, y, eps, lr: float, wait: bool) -> LossParts | None:
        loss, grads = self._loss_and_grad(x, y, eps)
        self.step += 1
        adam_update(self._params, grads, self._m, self._v, self.step, replace(self.config.optimizer, lr=lr))
        if wait:
            return loss
        self._pending.append(loss)
        return None
