"""Faults: the daemon killed (SIGKILL) at random points, random terminal fault schedules (hypothesis), bad configs,
protocol violations seen by the reference subscriber, and the metrics endpoint."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mt5bridge.testing.clock import ManualClock
from mt5bridge.testing.mt5sim import RES_E_INTERNAL_FAIL_RECEIVE, RES_E_INTERNAL_FAIL_TIMEOUT, Mt5Simulator
from mt5bridge.testing.rpyc_server import serving
from tests.daemon_support import HOUR, START, Harness, Recorder, sample_bars, train_tiny
from tests.test_daemon import assert_complete, free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("model") / "tiny.npz")


def _config(path: Path, model: Path, source: str, endpoint: str, extra: str = "") -> Path:
    # Paths go in single-quoted (literal) TOML strings: in double quotes a Windows path's backslashes are escapes.
    path.write_text(f"""
[source]
spec = '{source}'
[[streams]]
symbol = "XAUUSD"
timeframe = "H1"
model = '{model}'
[publisher]
endpoint = "{endpoint}"
heartbeat_interval_s = 0.3
[daemon]
state_dir = '{path.parent / 'state'}'
warmup_bars = 100
poll_interval_s = 0.02
device = "numpy"
{extra}
""")
    return path


def _start(config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mt5bridge", "run", "--config", str(config), "--log-level",
                             "WARNING"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_sigkill_at_random_points_then_restart_loses_and_duplicates_nothing(tmp_path, model):
    rng = random.Random(20261126)
    bars = sample_bars()
    clock = ManualClock(float(bars["time"][START]) + 1)
    sim = Mt5Simulator(clock=clock)
    sim.add_bars("XAUUSD", "H1", bars)
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    with serving(sim) as rpyc_port:
        config = _config(tmp_path / "run.toml", model, f"mt5rpyc://127.0.0.1:{rpyc_port}", endpoint)
        recorder = Recorder(endpoint)
        process = _start(config)
        try:
            for _ in range(5):
                for _ in range(rng.randint(2, 6)):
                    clock.advance(HOUR)
                    recorder.drain(rng.uniform(0.05, 0.6))
                process.kill()  # SIGKILL: no chance to persist or flush anything
                process.wait(timeout=30)
                clock.advance(rng.randint(0, 2) * HOUR)  # bars close while the daemon is down
                process = _start(config)
            clock.advance(3 * HOUR)
            closed = bars["time"][: int(bars["time"].searchsorted(int(clock()), "right")) - 1]

            def expected():  # from the bar the first start published (the newest closed bar at that moment) on
                return closed[closed >= recorder.messages[0].bar_time] if recorder.messages else closed[:0]

            recorder.drain(until=lambda: recorder.messages and [m.bar_time for m in recorder.messages] ==
                           [int(t) for t in expected()])
        finally:
            process.kill()
            stderr = process.communicate(timeout=30)[1].decode(errors="replace")
            recorder.close()
    assert recorder.messages[0].stream_sequence == 1, stderr[-2000:]
    assert_complete(recorder.messages, expected()), stderr[-2000:]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(faults=st.lists(st.tuples(st.sampled_from(["outage", "disconnect", "burst"]), st.integers(0, 40),
                                 st.integers(1, 8)), min_size=1, max_size=4))
def test_random_terminal_fault_schedules_lose_nothing(tmp_path_factory, model, faults):
    h = Harness(tmp_path_factory.mktemp("faults"), model)
    try:
        h.start_daemon()
        t0 = h.clock()
        for kind, start, hours in faults:
            a, b = t0 + start * HOUR + 7, t0 + (start + hours) * HOUR
            if kind == "outage":
                h.sim.schedule_outage(a, b, RES_E_INTERNAL_FAIL_TIMEOUT)
            elif kind == "disconnect":
                h.sim.schedule_disconnect(a, b)
            else:
                h.sim.fail_next(hours, RES_E_INTERNAL_FAIL_RECEIVE)
        h.hours(60, drain=0.01)  # faults end by hour 48; backoff is at most 30 minutes
        h.recorder.drain(0.3)
        assert_complete(h.recorder.messages, h.closed_times()[START - 1:])
        assert not h.recorder.kinds("violation")
    finally:
        h.close()


@pytest.mark.parametrize("body, message", [
    ('[daemon]\nwarmup = 5\n', "unknown key"),
    ('[daemon]\npoll_interval_s = "fast"\n', "poll_interval_s: expected float"),
    ('[publisher]\nsndhwm = 0\n', "publisher.sndhwm"),
    ('[plugins]\nx = 1\n', "unknown section"),
])
def test_bad_config_is_a_clean_error_naming_the_key(tmp_path, model, body, message):
    config = tmp_path / "bad.toml"
    config.write_text(f"[[streams]]\nsymbol = 'X'\ntimeframe = 'H1'\nmodel = '{model}'\n" + body)
    result = subprocess.run([sys.executable, "-m", "mt5bridge", "run", "--config", str(config)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_bad_environment_override_and_missing_model_are_named(tmp_path, model):
    from mt5bridge.daemon.config import load_run_config
    from mt5bridge.errors import ConfigError

    config = tmp_path / "ok.toml"
    config.write_text(f"[[streams]]\nsymbol = 'X'\ntimeframe = 'H1'\nmodel = '{model}'\n")
    assert load_run_config(config, {"MT5BRIDGE__PUBLISHER__SNDHWM": "50"}).publisher.sndhwm == 50
    with pytest.raises(ConfigError, match="MT5BRIDGE__DAEMON__POLL_INTERVAL_S='soon': expected float"):
        load_run_config(config, {"MT5BRIDGE__DAEMON__POLL_INTERVAL_S": "soon"})
    with pytest.raises(ConfigError, match=r"\[daemon\] has no key 'speed'"):
        load_run_config(config, {"MT5BRIDGE__DAEMON__SPEED": "1"})
    config.write_text('[[streams]]\nsymbol = "X"\ntimeframe = "H7"\nmodel = "nope.npz"\n')
    with pytest.raises(ConfigError, match=r"streams\[0\].timeframe"):
        load_run_config(config, {})


def _raw_publisher():
    import zmq  # the test plays a foreign publisher

    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    return ctx, pub, f"tcp://127.0.0.1:{port}"


def test_subscribe_prints_json_and_check_fails_on_a_violation(tmp_path):
    vectors = ROOT / "tests" / "data" / "wire"
    ctx, pub, endpoint = _raw_publisher()
    try:
        good = subprocess.Popen([sys.executable, "-m", "mt5bridge", "subscribe", "--endpoint", endpoint, "--json",
                                 "--count", "1", "--timeout", "20"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        checked = subprocess.Popen([sys.executable, "-m", "mt5bridge", "subscribe", "--endpoint", endpoint,
                                    "--check", "--timeout", "20"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (good.poll() is None or checked.poll() is None):
            pub.send_multipart([b"mt5bridge/latent/EURUSD/H1", (vectors / "latent_eurusd_h1.bin").read_bytes()])
            pub.send_multipart([b"mt5bridge/latent/EURUSD/H1", (vectors / "bad_magic.bin").read_bytes()])
            time.sleep(0.1)
        out = good.communicate(timeout=30)[0].splitlines()
        checked.communicate(timeout=30)
        first = json.loads(out[0])
        assert good.returncode == 0 and first["symbol"] == "EURUSD" and first["stream_sequence"] == 4321
        assert checked.returncode == 3
    finally:
        pub.close(0)
        ctx.term()


def test_metrics_endpoint_serves_counters(tmp_path, model):
    port = free_port()
    h = Harness(tmp_path, model)
    from mt5bridge.daemon.metrics import Metrics

    metrics = Metrics(port)
    try:
        h.start_daemon(metrics=metrics)
        h.hours(3)
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        assert 'mt5bridge_bars_published_total{stream="XAUUSD/H1"}' in text
        assert "mt5bridge_publish_latency_seconds_bucket" in text and "mt5bridge_reconstruction_error" in text
        drift = re.search(r'mt5bridge_input_drift\{stream="XAUUSD/H1"\} ([0-9.e+-]+)', text)
        assert drift and float(drift[1]) == pytest.approx(h.daemon.streams[0].drift)  # the stream's own score
    finally:
        metrics.close()
        h.close()


def test_demo_runs_the_whole_pipeline():
    env = dict(os.environ, MT5BRIDGE_DEVICE="numpy")
    result = subprocess.run([sys.executable, "-m", "mt5bridge", "demo", "--bars", "12", "--rate", "20"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("XAUUSD ")]
    published = int(re.search(r"published (\d+) bars", result.stdout)[1])
    assert published >= 12 and len(lines) == published and f"the subscriber received {published}" in result.stdout
