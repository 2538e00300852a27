"""The persistent LSTM forward kernel (kernels/lstm_persistent.cl): its per-step maths, the host's residency check
and the fall-back to the stepped kernels when a work-group gives up.

Here (PoCL) only one-group launches run for real: a grid barrier needs all groups resident, which a CPU device does
not promise. Launches of several groups run here only in a build whose spin cap is 0, which gives up at the first
barrier without spinning. The GPU tests at the end (MT5BRIDGE_TEST_DEVICE=gpu) check that the real thing, with
many groups and the barrier, gives the stepped kernel's bits over 1,100 steps.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from mt5bridge.config import get_preset
from mt5bridge.engine import reference as ref
from mt5bridge.engine.cl_ops import PERSISTENT_ENV, ClOps, PersistentLstm, persistent_plan
from mt5bridge.opencl.runtime import DeviceInfo
from tests.conftest import assert_close

F32 = dict(rtol=2e-5, atol=2e-6)
H200 = DeviceInfo(platform_index=0, device_index=0, platform="NVIDIA CUDA", name="NVIDIA H200", kind="gpu",
                  version="OpenCL 3.0 CUDA", compute_units=132, global_memory=141 << 30, local_memory=48 << 10,
                  max_work_group=1024, float64=True)
LIMITS = (1024, 4)  # the kernel's work-group limit and its own local bytes (the `status` flag)


def fake_gpu(device: DeviceInfo, **changes) -> DeviceInfo:
    """The test device described as an NVIDIA GPU, for the host-side checks only (nothing here spins on it)."""
    return dataclasses.replace(device, kind="gpu", platform="NVIDIA CUDA", **changes)


def _case(rng, steps, streams, inputs, hidden):
    return (rng.normal(size=(steps, streams, inputs)), rng.normal(scale=0.5, size=(streams, hidden)),
            rng.normal(scale=0.5, size=(streams, hidden)), rng.normal(scale=0.3, size=(4 * hidden, inputs)),
            rng.normal(scale=0.3, size=(4 * hidden, hidden)), rng.normal(scale=0.3, size=4 * hidden))


def _layer(ops, case, run):
    """hs, cs (T+1,B,H) of one layer; run(pre, w_hh, bias, hs, cs) does the recurrent part."""
    x, h0, c0, w_ih, w_hh, b = case
    rt, (steps, streams, inputs), hidden = ops.rt, x.shape, w_hh.shape[1]
    pre = rt.empty((steps, streams, 4 * hidden), ops.dtype)
    hs = rt.to_device(np.concatenate([h0[None], np.zeros((steps, streams, hidden))]), ops.dtype)
    cs = rt.to_device(np.concatenate([c0[None], np.zeros((steps, streams, hidden))]), ops.dtype)
    w = [rt.to_device(np.asarray(a), ops.dtype) for a in (w_ih, w_hh, b)]
    ops.gemm(steps * streams, 4 * hidden, inputs, rt.to_device(x, ops.dtype), w[0], pre, trans_b=True)
    run(pre, w[1], w[2], hs, cs)
    return rt.read(hs), rt.read(cs)


def _stepped(ops, case):
    """The stepped GPU kernel (lstm_step_forward), one launch per step, as the daemon runs it."""
    steps, streams, _ = case[0].shape
    hidden = case[4].shape[1]
    return _layer(ops, case, lambda pre, w_hh, bias, hs, cs: ops._lstm.lstm_step_forward.series(
        ops._lstm_grid(hidden, streams), ops._lstm_group, (streams, hidden, 0, pre, w_hh, bias, hs, cs,
                                                           ops._unused, 0), 2, range(steps)))


def _persistent(ops, case, kernel, device, units=None, tile=None):
    steps, streams, _ = case[0].shape
    hidden = case[4].shape[1]
    plan, why = kernel.plan(device, streams, hidden, units, tile)
    if plan is None and "work-group limit" in why:  # the kernel's registers on this device (256 on an H200)
        pytest.skip(f"no persistent launch for B={streams}, H={hidden} here ({why}): the stepped kernels run")
    assert plan is not None, why
    out = _layer(ops, case, lambda *args: kernel.launch(plan, steps, streams, hidden, *args))
    return out, plan, kernel.gave_up()


def bits(a):
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


@pytest.fixture(scope="module")
def gpu_ops(runtime):
    return ClOps(runtime, np.float32, variant="gpu")


@pytest.fixture(scope="module")
def builds(runtime):
    """Built once per module (each build and work-group size costs PoCL seconds)."""
    return {grid_sync: PersistentLstm(runtime, np.float32, grid_sync=grid_sync) for grid_sync in (False, True)}


# T = 1, 7; B = 1, 3, 5; H = 37 and 20 are no multiple of anything; tile 10 stages h_{t-1} in four pieces. The
# build with the grid barrier (the one the engine runs) takes the branch that skips it for one group.
@pytest.mark.parametrize("sizes, tile, grid_sync", [
    ((7, 3, 13, 37), None, False), ((1, 1, 5, 1), None, False), ((7, 5, 13, 37), 10, False),
    ((1, 5, 9, 20), None, False), ((7, 1, 13, 37), 7, False), ((7, 3, 6, 20), 20, False),
    ((7, 3, 13, 37), None, True), ((7, 1, 13, 37), 7, True)])
def test_one_group_matches_numpy_and_the_stepped_kernel_bit_for_bit(gpu_ops, builds, rng, sizes, tile, grid_sync):
    case = _case(rng, *sizes)
    hidden = sizes[3]
    (hs, cs), plan, gave_up = _persistent(gpu_ops, case, builds[grid_sync], gpu_ops.rt.device_info, hidden, tile)
    assert plan.groups == 1 and not gave_up
    expected = ref.lstm_forward(*case)
    assert_close(hs, expected.hs, **F32, what="h")
    assert_close(cs, expected.cs, **F32, what="c")
    stepped_hs, stepped_cs = _stepped(gpu_ops, case)
    assert np.array_equal(bits(hs), bits(stepped_hs)), "h differs from lstm_step_forward's bits"
    assert np.array_equal(bits(cs), bits(stepped_cs)), "c differs from lstm_step_forward's bits"


def test_a_give_up_is_reported_and_the_next_launch_starts_clean(gpu_ops, runtime, rng):
    """Spin cap 0: every group gives up at its first barrier (no spinning, so safe here). The flag reaches the
    host; the next launch after gave_up() starts from a zeroed counter and flag."""
    kernel = PersistentLstm(runtime, np.float32, spin_cap=0)
    case = _case(rng, 5, 2, 7, 16)
    device = fake_gpu(runtime.device_info, compute_units=4)
    (hs, _), plan, gave_up = _persistent(gpu_ops, case, kernel, device, units=4)
    assert plan.groups == 4 and gave_up
    assert not np.array_equal(bits(hs), bits(_stepped(gpu_ops, case)[0]))  # the results are indeed incomplete
    (hs, _), plan, gave_up = _persistent(gpu_ops, case, kernel, device)  # one group: waits for nobody
    assert plan.groups == 1 and not gave_up
    assert np.array_equal(bits(hs), bits(_stepped(gpu_ops, case)[0]))


@pytest.mark.parametrize("streams, hidden, groups, units, one_tile", [
    (1, 500, 100, 5, True), (1, 256, 24, 11, True), (1, 250, 23, 11, True), (1, 50, 1, 50, True),
    (28, 500, 125, 4, False), (28, 256, 128, 2, True), (32, 256, 128, 2, True)])
def test_plan_on_an_h200(streams, hidden, groups, units, one_tile):
    plan, why = persistent_plan(H200, LIMITS, streams, hidden, 4)
    assert plan is not None, why
    assert (plan.groups, plan.units, plan.tile == hidden) == (groups, units, one_tile)
    assert plan.groups <= H200.compute_units and plan.local_bytes <= H200.local_memory - LIMITS[1]
    assert 4 * plan.units * streams <= plan.group_size <= LIMITS[0]


@pytest.mark.parametrize("device, limits, streams, hidden, units, why", [
    (dataclasses.replace(H200, kind="cpu"), LIMITS, 1, 500, None, "work-groups may run one after another"),
    (dataclasses.replace(H200, platform="Intel(R) OpenCL Graphics"), LIMITS, 1, 500, None, "no checked"),
    (H200, LIMITS, 1, 500, 2, "250 groups for 132 compute units"),
    (dataclasses.replace(H200, compute_units=60), LIMITS, 1, 500, None, "local memory"),
    (H200, (64, 4), 28, 256, None, "work-group limit 64"),
    (dataclasses.replace(H200, local_memory=256), LIMITS, 1, 16, None, "local memory"),
])
def test_plan_refuses_what_cannot_be_resident(device, limits, streams, hidden, units, why):
    plan, reason = persistent_plan(device, limits, streams, hidden, 4, units)
    assert plan is None and why in reason


def test_one_group_needs_no_residency_proof():
    plan, why = persistent_plan(dataclasses.replace(H200, kind="cpu", platform="Portable Computing Language",
                                                    compute_units=1), LIMITS, 3, 37, 4)
    assert plan is not None and plan.groups == 1, why


def test_ops_run_it_on_gpus_only_and_the_switch_turns_it_off(runtime, monkeypatch):
    ops = ClOps(runtime, np.float32, variant="gpu")
    assert (ops.persistent_off is None) == (runtime.device_info.kind == "gpu")
    monkeypatch.setenv(PERSISTENT_ENV, "0")
    assert ClOps(runtime, np.float32, variant="gpu").persistent_off == f"{PERSISTENT_ENV}=0"


def _engines(cl_device, config, streams, **persistent):
    """An engine on the persistent path (the test device passed off as a GPU) and one on the stepped path."""
    from mt5bridge.engine.cl_engine import OpenCLEngine

    fast = OpenCLEngine(config, streams, np.float32, device=cl_device, variant="gpu")
    fast.ops.persistent_off = None
    fast.ops.persistent_device = fake_gpu(cl_device, compute_units=8)
    fast.ops.persistent_units = persistent.pop("units", None)
    if persistent:
        fast.ops.persistent = PersistentLstm(fast.rt, np.float32, **persistent)
    slow = OpenCLEngine(config, streams, np.float32, device=cl_device, variant="gpu")
    slow.ops.persistent_off = "test"
    return fast, slow


def test_engine_encode_equals_one_step_at_a_time_bit_for_bit(cl_device, rng):
    config = get_preset("tiny").model
    fast, slow = _engines(cl_device, config, 3)
    x = rng.normal(size=(40, 3, config.inputs))
    z, y = fast.forward(x)
    assert fast.lstm_paths == ("persistent", "persistent")
    steps = [slow.forward(x[t: t + 1]) for t in range(len(x))]  # the live daemon's way
    assert slow.lstm_paths == ("stepped", "stepped")
    assert np.array_equal(bits(z), bits(np.concatenate([s[0] for s in steps])))
    assert np.array_equal(bits(y), bits(np.concatenate([s[1] for s in steps])))
    for (h1, c1), (h2, c2) in zip(fast.get_state(), slow.get_state()):
        assert np.array_equal(bits(h1), bits(h2)) and np.array_equal(bits(c1), bits(c2))


def test_engine_redoes_the_chunk_with_stepped_kernels_when_a_group_gives_up(cl_device, rng, caplog):
    config = get_preset("tiny").model  # LSTM 32/16: 8 units per group -> 4 and 2 groups
    fast, slow = _engines(cl_device, config, 2, units=8, spin_cap=0)
    x = rng.normal(size=(2, 9, 2, config.inputs))
    with caplog.at_level(logging.WARNING, logger="mt5bridge.engine.cl_engine"):
        for chunk in x:
            z, y = fast.forward(chunk)
            assert fast.lstm_paths == ("stepped", "stepped")
            expected = slow.forward(chunk)
            assert np.array_equal(bits(z), bits(expected[0])) and np.array_equal(bits(y), bits(expected[1]))
    gave_up = [r for r in caplog.records if "gave up" in r.getMessage()]
    assert len(gave_up) == 1, "logged once, then the engine stays on the stepped kernels"
    assert "gave up" in fast.ops.persistent_off


# --- on a real GPU -------------------------------------------------------------------------------------------------

@pytest.fixture
def gpu(cl_device):
    if cl_device.kind != "gpu":
        pytest.skip("needs a GPU (MT5BRIDGE_TEST_DEVICE=gpu): several groups spinning at a grid barrier")
    return cl_device


# Both presets' layers: (inputs, hidden); B = 1 (encode) and 28 (many streams; H = 500 then stages h in tiles)
@pytest.mark.parametrize("inputs, hidden", [(120, 500), (500, 250), (250, 50), (120, 256), (256, 256)])
@pytest.mark.parametrize("streams", [1, 28])
def test_gpu_many_groups_give_the_stepped_bits_over_1100_steps(gpu, gpu_ops, rng, inputs, hidden, streams):
    case = _case(rng, 1100, streams, inputs, hidden)
    if gpu_ops.persistent is None:
        gpu_ops.persistent = PersistentLstm(gpu_ops.rt, np.float32)
    (hs, cs), plan, gave_up = _persistent(gpu_ops, case, gpu_ops.persistent, gpu)
    assert not gave_up, plan
    stepped_hs, stepped_cs = _stepped(gpu_ops, case)
    assert np.array_equal(bits(hs), bits(stepped_hs)), (plan, np.abs(hs - stepped_hs).max())
    assert np.array_equal(bits(cs), bits(stepped_cs)), plan


@pytest.mark.parametrize("preset", ["default", "article"])
@pytest.mark.parametrize("streams", [1, 28])
def test_gpu_encode_equals_live_steps_bit_for_bit(gpu, rng, preset, streams):
    from mt5bridge.engine.cl_engine import OpenCLEngine

    config = get_preset(preset).model
    fast = OpenCLEngine(config, streams, np.float32, device=gpu)
    live = OpenCLEngine(config, streams, np.float32, device=gpu)
    x = rng.normal(size=(1100, streams, config.inputs))
    z, y = fast.forward(x)
    assert "persistent" in fast.lstm_paths and fast.ops.persistent_off is None
    steps = [live.forward(x[t: t + 1]) for t in range(200)]  # one bar at a time: the stepped kernel
    assert live.lstm_paths == ("stepped",) * len(config.lstm)
    assert np.array_equal(bits(z[:200]), bits(np.concatenate([s[0] for s in steps])))
    assert np.array_equal(bits(y[:200]), bits(np.concatenate([s[1] for s in steps])))
    live.ops.persistent_off = "test"
    live.reset_state()
    expected = live.forward(x)  # the whole chunk, stepped
    assert np.array_equal(bits(z), bits(expected[0])) and np.array_equal(bits(y), bits(expected[1]))
