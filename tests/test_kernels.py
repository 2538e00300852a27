"""Every OpenCL kernel against its NumPy twin (mt5bridge.engine.reference), float32, at awkward sizes.

Sizes such as B=3, T=7, I=13, H=37 are multiples of no work-group size, so every bounds check in the tiled kernels
is exercised; one test runs the article's layer sizes.
"""

from __future__ import annotations

import numpy as np
import pytest

from mt5bridge.config import OptimizerConfig
from mt5bridge.engine import reference as ref
from tests.conftest import assert_close

F32 = dict(rtol=2e-5, atol=2e-6)


def upload(ops, array):
    return ops.rt.to_device(np.asarray(array), ops.dtype)


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
# N = 8 and 29 reach the cpu kernel's 8-column half block (29 = one 16-column block, one half block, 5 scalar
# columns); 37 and 17 only whole blocks and scalars.
@pytest.mark.parametrize("shape", [(1, 1, 1), (13, 37, 7), (35, 17, 50), (4, 8, 3), (9, 29, 13)])
def test_gemm_matches_numpy(ops32, rng, trans_a, trans_b, shape):
    m, n, k = shape
    a = rng.normal(size=(k, m) if trans_a else (m, k))
    b = rng.normal(size=(n, k) if trans_b else (k, n))
    c0 = rng.normal(size=(m, n))
    c = upload(ops32, c0)
    ops32.gemm(m, n, k, upload(ops32, a), upload(ops32, b), c, alpha=0.7, beta=0.3, trans_a=trans_a,
               trans_b=trans_b)
    expected = 0.7 * (a.T if trans_a else a) @ (b.T if trans_b else b) + 0.3 * c0
    assert_close(ops32.rt.read(c), expected, **F32, what="gemm")


def test_gemm_offsets_leading_dims_and_beta_zero_ignores_garbage(ops32, rng):
    # A is a window of a bigger matrix (offset + leading dimension); C starts as NaN, which beta=0 must not read.
    big_a = rng.normal(size=(9, 20))
    b = rng.normal(size=(11, 6))
    c = upload(ops32, np.full((2, 5, 6), np.nan))
    ops32.gemm(5, 6, 11, upload(ops32, big_a), upload(ops32, b), c, a_off=2 * 20 + 3, lda=20, c_off=30)
    out = ops32.rt.read(c)
    assert_close(out[1], big_a[2:7, 3:14] @ b, **F32, what="gemm window")
    assert np.isnan(out[0]).all()  # nothing outside the target written


def test_column_sum(ops32, rng):
    x = rng.normal(size=(29, 37))
    out = upload(ops32, np.ones(37))
    ops32.column_sum(upload(ops32, x), 29, 37, out, beta=2.0)
    assert_close(ops32.rt.read(out), 2.0 + x.sum(axis=0), **F32, what="column_sum")


def _lstm_case(rng, steps=7, streams=3, inputs=13, hidden=37):
    x = rng.normal(size=(steps, streams, inputs))
    w_ih = rng.normal(scale=0.3, size=(4 * hidden, inputs))
    w_hh = rng.normal(scale=0.3, size=(4 * hidden, hidden))
    b = rng.normal(scale=0.3, size=4 * hidden)
    h0 = rng.normal(scale=0.5, size=(streams, hidden))
    c0 = rng.normal(scale=0.5, size=(streams, hidden))
    return x, h0, c0, w_ih, w_hh, b


def _lstm_on_device(ops, x, h0, c0, w_ih, w_hh, b):
    rt = ops.rt
    steps, streams, inputs = x.shape
    hidden = w_hh.shape[1]
    pre = rt.empty((steps, streams, 4 * hidden), ops.dtype)
    hs = upload(ops, np.concatenate([h0[None], np.zeros((steps, streams, hidden))]))
    cs = upload(ops, np.concatenate([c0[None], np.zeros((steps, streams, hidden))]))
    gates = rt.empty((steps, streams, 4 * hidden), ops.dtype)
    dw = [upload(ops, w) for w in (w_ih, w_hh, b)]
    dx = upload(ops, x)
    ops.gemm(steps * streams, 4 * hidden, inputs, dx, dw[0], pre, trans_b=True)
    ops.lstm_forward(steps, streams, hidden, pre, dw[1], dw[2], hs, cs, gates)
    return dx, dw, pre, hs, cs, gates


@pytest.mark.parametrize("sizes", [(7, 3, 13, 37), (1, 1, 1, 1), (4, 5, 17, 16)])
def test_lstm_forward_matches_numpy(ops32, rng, sizes):
    case = _lstm_case(rng, *sizes)
    _, _, _, hs, cs, gates = _lstm_on_device(ops32, *case)
    expected = ref.lstm_forward(*case)
    assert_close(ops32.rt.read(hs), expected.hs, **F32, what="h")
    assert_close(ops32.rt.read(cs), expected.cs, **F32, what="c")
    assert_close(ops32.rt.read(gates), expected.gates, **F32, what="gates")


@pytest.mark.parametrize("sizes", [(7, 3, 13, 37), (1, 1, 1, 1), (5, 4, 9, 20)])
def test_lstm_backward_through_time_matches_numpy(ops32, rng, sizes):
    x, h0, c0, w_ih, w_hh, b = case = _lstm_case(rng, *sizes)
    steps, streams, inputs = x.shape
    hidden = w_hh.shape[1]
    dx, dw, pre, hs, cs, gates = _lstm_on_device(ops32, *case)
    dh_out = rng.normal(size=(steps, streams, hidden))
    da = pre  # reused as the engine does
    dc = ops32.rt.empty((streams, hidden), ops32.dtype)
    ops32.lstm_backward_steps(steps, streams, hidden, upload(ops32, dh_out), dw[1], gates, cs, da, dc)
    grads = [ops32.rt.empty(w.shape, ops32.dtype) for w in (w_ih, w_hh, b)]
    ops32.lstm_weight_grads(steps * streams, inputs, hidden, da, dx, 0, hs, *grads)
    dx_dev = ops32.rt.empty(x.shape, ops32.dtype)
    ops32.gemm(steps * streams, inputs, 4 * hidden, da, dw[0], dx_dev)
    e_dx, e_dw_ih, e_dw_hh, e_db = ref.lstm_backward(dh_out, ref.lstm_forward(*case), w_ih, w_hh)
    tol = dict(rtol=1e-4, atol=1e-5)
    assert_close(ops32.rt.read(dx_dev), e_dx, **tol, what="dx")
    assert_close(ops32.rt.read(grads[0]), e_dw_ih, **tol, what="dW_ih")
    assert_close(ops32.rt.read(grads[1]), e_dw_hh, **tol, what="dW_hh")
    assert_close(ops32.rt.read(grads[2]), e_db, **tol, what="db")


def test_lstm_article_sizes(ops32, rng):
    """The article's first layer (I=120, H=500) and last (I=250, H=50), a few steps and streams."""
    for inputs, hidden in ((120, 500), (250, 50)):
        case = _lstm_case(rng, steps=3, streams=2, inputs=inputs, hidden=hidden)
        _, _, _, hs, cs, _ = _lstm_on_device(ops32, *case)
        expected = ref.lstm_forward(*case)
        assert_close(ops32.rt.read(hs), expected.hs, rtol=1e-4, atol=1e-5, what=f"h (H={hidden})")


@pytest.mark.parametrize("act", ["identity", "tanh"])
def test_dense_forward_and_backward(ops32, rng, act):
    rows, inputs, outputs = 29, 13, 37
    x, w, b = rng.normal(size=(rows, inputs)), rng.normal(size=(outputs, inputs)), rng.normal(size=outputs)
    dy = rng.normal(size=(rows, outputs))
    dev_x, dev_w, dev_b = upload(ops32, x), upload(ops32, w), upload(ops32, b)
    y = ops32.rt.empty((rows, outputs), ops32.dtype)
    ops32.dense_forward(rows, inputs, outputs, dev_x, dev_w, dev_b, y, act)
    expected_y = ref.dense_forward(x, w, b, act)
    assert_close(ops32.rt.read(y), expected_y, **F32, what="y")
    dev_dy = upload(ops32, dy)
    dw, db = ops32.rt.empty(w.shape, ops32.dtype), ops32.rt.empty(b.shape, ops32.dtype)
    dx = ops32.rt.empty(x.shape, ops32.dtype)
    ops32.dense_backward(rows, inputs, outputs, dev_dy, dev_x, y, dev_w, dw, db, dx, act)
    e_dx, e_dw, e_db = ref.dense_backward(dy, x, ops32.rt.read(y).astype(np.float64), w, act)
    tol = dict(rtol=1e-4, atol=1e-5)
    assert_close(ops32.rt.read(dx), e_dx, **tol, what="dx")
    assert_close(ops32.rt.read(dw), e_dw, **tol, what="dw")
    assert_close(ops32.rt.read(db), e_db, **tol, what="db")


@pytest.mark.parametrize("sample", [True, False])
def test_vae_forward_backward_and_kl(ops32, rng, sample):
    rows, latent = 23, 5
    pad = 7  # p sits at an offset inside a bigger buffer, as in the engine
    p = rng.normal(scale=0.7, size=(rows, 2 * latent))
    eps, dz = rng.normal(size=(rows, latent)), rng.normal(size=(rows, latent))
    dev_p = upload(ops32, np.concatenate([np.zeros(pad), p.ravel()]))
    z = ops32.rt.empty((rows, latent), ops32.dtype)
    ops32.vae_forward(rows, latent, dev_p, upload(ops32, eps), z, sample, p_off=pad)
    assert_close(ops32.rt.read(z), ref.vae_forward(p, eps, sample), **F32, what="z")
    dp = ops32.rt.empty(p.shape, ops32.dtype)
    ops32.vae_backward(rows, latent, dev_p, upload(ops32, eps), upload(ops32, dz), dp, sample, 0.37, p_off=pad)
    assert_close(ops32.rt.read(dp), ref.vae_backward(dz, p, eps, sample, 0.37), **F32, what="dp")
    out = ops32.rt.zeros(3, ops32.dtype)
    ops32.kl_divergence(rows, latent, dev_p, out, 2, p_off=pad)
    assert_close(ops32.rt.read(out)[2], ref.kl_divergence(p), rtol=1e-5, atol=1e-5, what="kl")


@pytest.mark.parametrize("count", [1, 257, 100_003])
def test_squared_error_and_sum_squares(ops32, rng, count):
    y_hat, y = rng.normal(size=count), rng.normal(size=count)
    out = ops32.rt.zeros(2, ops32.dtype)
    dy = ops32.rt.empty(count, ops32.dtype)
    ops32.squared_error(count, upload(ops32, y_hat), upload(ops32, y), dy, 0.5, out, 0)
    ops32.sum_squares(count, upload(ops32, y), out, 1)
    sq, grad = ref.squared_error(y_hat, y, 0.5)
    assert_close(ops32.rt.read(out), [sq, np.sum(y * y)], rtol=1e-5, atol=1e-5, what="sums")
    assert_close(ops32.rt.read(dy), grad, **F32, what="grad")


@pytest.mark.parametrize("clip_norm, weight_decay", [(0.0, 0.0), (0.5, 0.01), (1e6, 0.1)])
def test_adam_update(ops32, rng, clip_norm, weight_decay):
    opt = OptimizerConfig(lr=0.01, clip_norm=clip_norm, weight_decay=weight_decay)
    shapes = {"a": (13,), "b": (7, 3)}
    params = {k: rng.normal(size=s) for k, s in shapes.items()}
    m = {k: rng.normal(scale=0.1, size=s) for k, s in shapes.items()}
    v = {k: rng.uniform(0, 0.1, size=s) for k, s in shapes.items()}
    grads = {k: rng.normal(size=s) for k, s in shapes.items()}
    flat = {name: upload(ops32, np.concatenate([d[k].ravel() for k in shapes]))
            for name, d in (("p", params), ("m", m), ("v", v), ("g", grads))}
    count = 13 + 21
    norm_sq = ops32.rt.zeros(1, ops32.dtype)
    ops32.sum_squares(count, flat["g"], norm_sq, 0)
    for step in (1, 2, 3):
        ops32.adam_update(count, flat["p"], flat["g"], flat["m"], flat["v"], step=step, lr=opt.lr, beta1=opt.beta1,
                          beta2=opt.beta2, eps=opt.eps, weight_decay=opt.weight_decay, clip_norm=opt.clip_norm,
                          norm_sq=norm_sq)
        ref.adam_update(params, grads, m, v, step, opt)
    for name, d in (("p", params), ("m", m), ("v", v)):
        expected = np.concatenate([d[k].ravel() for k in shapes])
        assert_close(ops32.rt.read(flat[name]), expected, rtol=1e-5, atol=1e-6, what=f"adam {name}")
