"""Do the tests bite? Apply each mutation below to a scratch copy of the repository, run the tests that guard that
code, and report caught / not caught (docs/TESTING.md has the table).

    python benchmarks/mutations.py [--only SUBSTRING] [--jobs 2]

A mutation is (file, original text, replacement, test files). The original text must occur exactly once; the scratch
copy is made with `git ls-files` (the working tree's versions), so the repository itself is never touched. A mutant
is "caught" when its tests fail (pytest exit status 1); an error of the mutation itself (text not found) is reported
as such. The MQL5 byte-order and offset mutations have their own runner (tests/test_mql5_mutations.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MUTATIONS: list[tuple[str, str, str, str, str]] = [
    # (what, file, original, replacement, tests)
    ("daemon: no state written", "mt5bridge/daemon/loop.py", "save_state(self.state_path, state)", "pass",
     "tests/test_daemon_crash_points.py tests/test_daemon.py"),
    ("daemon: publisher sequence not restored", "mt5bridge/daemon/loop.py", "self.sequence = saved.sequence",
     "pass", "tests/test_daemon_crash_points.py tests/test_daemon.py"),
    ("daemon: send before the state is written", "mt5bridge/daemon/loop.py",
     "for step in (self._write_state, self._send_outgoing):", "for step in (self._send_outgoing, self._write_state):",
     "tests/test_daemon_crash_points.py"),
    ("daemon: bad-price check off", "mt5bridge/daemon/loop.py", "h < max(o, c) or lo > min(o, c)", "False",
     "tests/test_daemon.py"),
    ("daemon: feed the model after 14 bars, not the warm-up", "mt5bridge/daemon/streams.py",
     "return max(fs.warmup, fs.first_valid)", "return 14", "tests/test_daemon.py"),
    ("daemon: drift warned every bar", "mt5bridge/daemon/loop.py", "if stream.drifting and not stream.drift_warned:",
     "if stream.drifting:", "tests/test_drift.py"),
    ("training: loss sums zeroed on resume", "mt5bridge/training/trainer.py",
     'self._sums = np.array(meta["epoch_sums"])', "self._sums = np.zeros(4)", "tests/test_training.py"),
    ("training: best weights not kept", "mt5bridge/training/trainer.py", "self.engine.set_params(self.best_params)",
     "pass", "tests/test_convergence.py"),
    ("training: convergence state lost on resume", "mt5bridge/training/trainer.py",
     'self.convergence = _Convergence(**meta.get("convergence", {}))', "self.convergence = _Convergence()",
     "tests/test_convergence.py"),
    ("training: streams cross files", "mt5bridge/training/protocol.py",
     "y[:, b] = lag_windows(self.z[s], start + steps, cfg.target_bars)",
     "y[:, b] = lag_windows(self.z[0], start + steps, cfg.target_bars)", "tests/test_convergence.py"),
    ("features: scale-free rescale skipped when streaming", "mt5bridge/features/streaming.py",
     "rescale_by_atr(row[None], np.array([c]))", "pass", "tests/test_features.py"),
    ("features: log(ATR) not relative to the close", "mt5bridge/features/sets.py", "np.log(unit / close)",
     "np.log(unit)", "tests/test_features.py"),
    ("drift: outside test inverted", "mt5bridge/drift.py", "((z < low) | (z > high))", "((z < low) & (z > high))",
     "tests/test_drift.py"),
    ("drift: window not kept between steps", "mt5bridge/drift.py", "self.recent = history[:, -self.window:]",
     "pass", "tests/test_drift.py"),
    ("model file: header entries not checked", "mt5bridge/modelfile.py",
     'missing = [k for k in ("shape", "dtype", "sha256") if not isinstance(meta, dict) or k not in meta]',
     "missing = []", "tests/test_modelfile.py"),
    ("zmq: tipc counts as loopback", "mt5bridge/zmq_io.py", "        return False\n    host = match[1]",
     "        return True\n    host = match[1]", "tests/test_daemon.py"),
    ("zmq: missed messages not counted", "mt5bridge/zmq_io.py", "self._count_missed(topic, first, last)", "pass",
     "tests/test_drop_accounting.py"),
    ("readers: damaged gzip not caught", "mt5bridge/data/files.py", "except (OSError, EOFError, zlib.error) as exc:",
     "except (OSError, EOFError) as exc:", "tests/test_fuzz_readers.py"),
    ("readers: out-of-range times accepted", "mt5bridge/data/files.py",
     "ok = (parsed.notna() & (parsed >= _FIRST_TIME) & (parsed <= _LAST_TIME)).to_numpy()",
     "ok = parsed.notna().to_numpy()", "tests/test_fuzz_readers.py"),
    ("cli: model replaced without --force", "mt5bridge/cli.py", "        if not force:\n            refuse_replacing(",
     "        if False:\n            refuse_replacing(", "tests/test_cli_errors.py"),
    ("cli: secret key left world-readable", "mt5bridge/zmq_io.py", "os.chmod(secret, 0o600)", "pass",
     "tests/test_cli_errors.py"),
    ("gemm: cpu half block uses the wrong row", "kernels/gemm_cpu.cl",
     "c00 += (real8)(a0) * b0; c10 += (real8)(a1) * b0;", "c00 += (real8)(a0) * b0; c10 += (real8)(a0) * b0;",
     "tests/test_kernels.py"),
]


def scratch_copy() -> Path:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split("\n")
    target = Path(tempfile.mkdtemp(prefix="mt5bridge-mutant-"))
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def run_one(mutation: tuple[str, str, str, str, str]) -> tuple[str, str, float]:
    what, file, original, replacement, tests = mutation
    started = time.perf_counter()
    copy = scratch_copy()
    try:
        path = copy / file
        text = path.read_text()
        if text.count(original) != 1:
            return what, f"MUTATION ERROR: found {text.count(original)} times in {file}", 0.0
        path.write_text(text.replace(original, replacement))
        # PYTHONPATH first: an editable install of mt5bridge would otherwise import the unmutated package
        env = {**os.environ, "PYTHONPATH": str(copy)}
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                                 *tests.split()], cwd=copy, capture_output=True, text=True, timeout=1800, env=env)
        verdict = {0: "NOT CAUGHT", 1: "caught"}.get(result.returncode, f"pytest exit {result.returncode}")
        return what, verdict, time.perf_counter() - started
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if args.only in m[0]]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run_one, chosen))
    print("| mutation | tests | result |\n|---|---|---|")
    for (what, verdict, seconds), mutation in zip(results, chosen):
        print(f"| {what} | `{mutation[4]}` | {verdict} ({seconds:.0f} s) |")
    return 0 if all(v == "caught" for _, v, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
