"""The real MQL5 sources, compiled and run: gxx.py's line-preserving rewrite (runtime=True) of every file under
mql5/ into a temporary tree, compiled by g++ against mql5_runtime.h into small programs whose drivers live here:

- bridge_main.cpp: Protocol.mqh, Zmtp.mqh, Subscriber.mqh and the latent-file includes under a line protocol (stdin
  commands, JSON lines out), which `Bridge` speaks; `NativeZmtp`, `NativeSubscriber` and `NativeLatentFile` give it
  the twin's interface, so the twin's test scenarios run on the MQL5 code itself;
- program_main.cpp: an .mq5 program (the EA, the indicator, the self-test script) with its event handlers called
  as a terminal calls them, through `Program`.

Builds are cached by the hash of everything that goes into them, in the system's temporary folder (never in the
repository), so a test session compiles each program once, and an edited or mutated source compiles anew.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from mql5check import gate, gxx

HERE = Path(__file__).parent
RUNTIME = HERE / "mql5_runtime.h"
RUNTIME_PARTS = [RUNTIME, *(HERE / f"mql5_runtime_{part}.h" for part in ("market", "onnx"))]  # and what it includes
# The Onnx* functions run the real onnxruntime in this helper, started by the program (mql5_runtime_market.h).
ONNX_ENV = {"MQL5_ONNX_PYTHON": sys.executable, "MQL5_ONNX_SERVER": str(HERE / "onnx_server.py")}
CACHE = Path(tempfile.gettempdir()) / "mt5bridge-mql5rt"
FLAGS = ["-std=c++17", "-O0", "-g0", "-w", "-pthread"]
_lock = threading.Lock()


class BuildError(RuntimeError):
    pass


class Crash(RuntimeError):
    """The program stopped: an MQL5 critical error (array out of range, ...) or a crash."""


def available() -> bool:
    return shutil.which("g++") is not None


def implementations() -> list:
    """pytest parameters for a scenario run on both: the twin, and the compiled MQL5 code (skipped without g++)."""
    import pytest

    return ["twin", pytest.param("mql5", marks=pytest.mark.skipif(not available(), reason="g++ is not installed"))]


def _compiler() -> str:
    return subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]


def build(driver: str, program: str | None = None, texts: dict[str, str] | None = None) -> Path:
    """The compiled `driver` (a .cpp here) with every MQL5 file rewritten; `program` (an .mq5 path relative to
    the repository) is what program_main.cpp includes; `texts` replaces some files' text (by the same paths)."""
    sources = {str(p.relative_to(gate.ROOT)): p.read_text() for p in gate.sources()}
    sources.update(texts or {})
    rewritten = {path: gxx.rewrite(text, runtime=True) for path, text in sorted(sources.items())}
    digest = hashlib.sha256()
    for part in [_compiler(), " ".join(FLAGS), *(p.read_text() for p in RUNTIME_PARTS), (HERE / driver).read_text(),
                 str(program)]:
        digest.update(part.encode() + b"\0")
    for path, text in rewritten.items():
        digest.update(path.encode() + b"\0" + text.encode() + b"\0")
    out = CACHE / digest.hexdigest()[:20]
    binary = out / "program"
    with _lock:
        _prune()
        if binary.exists():
            os.utime(out)  # used: kept by _prune
            return binary
        tree = out / "src"
        for path, text in rewritten.items():
            (tree / path).parent.mkdir(parents=True, exist_ok=True)
            (tree / path).write_text(text)
        command = ["g++", *FLAGS, "-include", str(RUNTIME), "-I", str(tree / "mql5" / "Include")]
        if program is not None:
            command.append(f'-DMQL5_PROGRAM="{tree / program}"')
        partial = out / f"program.{os.getpid()}.tmp"
        run = subprocess.run([*command, str(HERE / driver), "-o", str(partial)], capture_output=True, text=True)
        if run.returncode != 0:
            raise BuildError(run.stderr.replace(str(tree) + "/", ""))
        os.replace(partial, binary)
    return binary


class Word(str):
    """An argument sent as it is (a member's name), not as x<hex>."""


_pruned: list[bool] = []


def _prune(days: float = 7.0) -> None:
    """Once a session: forgets builds unused for a week (each is about half a megabyte)."""
    if _pruned or not CACHE.is_dir():
        return
    _pruned.append(True)
    for build_dir in CACHE.iterdir():
        if time.time() - build_dir.stat().st_mtime > days * 86400:
            shutil.rmtree(build_dir, ignore_errors=True)


def _arg(value) -> str:
    if isinstance(value, Word):
        return str(value)
    if isinstance(value, (bool, int)):
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        value = value.encode()
    return "x" + bytes(value).hex()


class Process:
    """A compiled program: one command a line in, one JSON reply a line out."""

    def __init__(self, binary: Path, env: dict[str, str] | None = None):
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.log: list[str] = []  # what the program printed (Program replies carry it)
        self.proc = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, bufsize=1,
                                     env={**os.environ, **ONNX_ENV, **(env or {})})

    def call(self, command: str, *args):
        try:
            self.proc.stdin.write(" ".join([command, *map(_arg, args)]) + "\n")
            self.proc.stdin.flush()
            reply = self.proc.stdout.readline()
        except BrokenPipeError:
            reply = ""
        if not reply:
            self.proc.wait(timeout=5)
            self.stderr.seek(0)
            raise Crash(f"{command}: exit {self.proc.returncode}: {self.stderr.read().strip()}")
        data = json.loads(reply)
        self.log += data.get("log", [])
        return data["r"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


class Bridge(Process):
    """bridge_main.cpp: the three include files."""

    def __init__(self, binary: Path | None = None, env: dict[str, str] | None = None):
        super().__init__(binary or build("bridge_main.cpp"), env)

    def decode(self, payload: bytes) -> dict:
        return self.call("decode", payload)


class NativeZmtp:
    """CZmtpSubscriber of Zmtp.mqh in a Bridge, with the twin's interface (tests/mql5twin/zmtp.py)."""

    def __init__(self, bridge: Bridge):
        self.bridge = bridge
        bridge.call("z.new")

    def __getattr__(self, name):
        if name.startswith("m_"):
            return self.bridge.call("z.get", Word(name))
        return lambda *args: self.bridge.call("z." + name, *args)

    def NextEvent(self) -> str | None:
        events = self.bridge.call("z.events")
        return events[0] if events else None

    def step(self) -> dict:
        """Pump(), then every complete message (hex parts) and event: what a test's OnTimer does."""
        return self.bridge.call("z.step")


class NativeSubscriber:
    """CMt5BridgeSubscriber of Subscriber.mqh in a Bridge, with the twin's interface (tests/mql5twin/subscriber.py)
    and the hooks recording as the twin tests' Recorder does (seen, events)."""

    def __init__(self, bridge: Bridge):
        self.bridge = bridge
        self.seen: list[tuple[str, int, int]] = []
        self.latents: list[dict] = []  # every OnLatent's message, with its floats' raw bits ("bits")
        self.events: list[str] = []
        bridge.call("s.new")

    def __getattr__(self, name):
        return lambda *args: self.bridge.call("s." + name, *args)

    def Start(self) -> None:
        self.events += self.bridge.call("s.Start")  # file mode reports its files here

    def Poll(self) -> int:
        r = self.bridge.call("s.Poll")
        self.seen += [tuple(x) for x in r["seen"]]
        self.latents += r["latents"]
        self.events += r["events"]
        return r["fresh"]

    def Latest(self, symbol: str, tf: int, out) -> bool:
        fields = self.bridge.call("s.Latest", symbol, tf)
        return fields is not None and _fill_latent(out, fields)

    def Stream(self, symbol: str, tf: int, out) -> bool:
        state = self.bridge.call("s.Stream", symbol, tf)
        if state is None:
            return False
        for key, value in state.items():
            if key == "latest":
                _fill_latent(out.latest, value)
            else:
                setattr(out, key, value)
        return True

    def PublisherStatus(self, symbol: str, tf: int) -> int | None:
        return self.bridge.call("s.PublisherStatus", symbol, tf)

    def topics(self) -> list[str]:
        return self.bridge.call("s.topics")


class NativeLatentFile:
    """CMt5bLatentFile of LatentFile.mqh in a Bridge, with the twin's interface (tests/mql5twin/latentfile.py)."""

    def __init__(self, bridge: Bridge):
        self.bridge = bridge
        bridge.call("f.new")

    def __getattr__(self, name):
        return lambda *args: self.bridge.call("f." + name, *args)

    def Find(self, bar_time: int, out) -> int:
        """As the twin's; `out` also gets `bits`: the raw u32 bits of recon_error, anomaly_pct and the latent."""
        r = self.bridge.call("f.Find", bar_time)
        if r["latent"] is not None:
            _fill_latent(out, r["latent"])
        return r["found"]


def _fill_latent(out, fields: dict) -> bool:
    for key, value in fields.items():
        if key not in ("topic", "kind"):
            setattr(out, key, float("nan") if value is None and key in ("recon_error", "anomaly_pct") else value)
    return True


class Program(Process):
    """program_main.cpp: an .mq5 program whose handlers a test calls as the terminal would (init, timer, tick,
    calculate, start, deinit); the terminal's state (chart, global variables, comment, log) is read back."""

    def __init__(self, program: str, env: dict[str, str] | None = None, texts: dict[str, str] | None = None):
        super().__init__(build("program_main.cpp", program, texts), env)
