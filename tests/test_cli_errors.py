"""The CLI's error boundary, as a new user meets it: a table of bad inputs through every command. Each must end with
exit status 2 and one line naming the thing at fault — no traceback — and leave every input file as it was."""

from __future__ import annotations

import gzip
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from mt5bridge.config import get_preset
from mt5bridge.data import sample_path
from mt5bridge.training.series import load_series
from mt5bridge.training.trainer import Trainer
from tests.cli_support import run_main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    sample = root / "bars.csv.gz"
    sample.write_bytes(sample_path().read_bytes())
    lines = gzip.decompress(sample.read_bytes()).splitlines(keepends=True)
    good = b"".join(lines[:1200])
    model = root / "model.npz"
    chosen = get_preset("tiny")
    series = load_series(sample, chosen.train.feature_set).slice(0, 600)
    Trainer([series], chosen.model, replace(chosen.train, epochs=1), model, device="numpy", progress=False,
            echo=lambda s: None, preset_name="tiny").run()
    broken_gz = bytearray(gzip.compress(good))
    broken_gz[40:60] = b"\0" * 20
    text_npz = root / "notes.npz"
    text_npz.write_text("this is not a model\n")
    state_file = root / "state-is-a-file"
    state_file.write_text("x")
    config = root / "run.toml"
    config.write_text(f"[source]\nspec = '{sample}'\n[[streams]]\nsymbol = 'XAUUSD'\ntimeframe = 'H1'\n"
                      f"model = '{model}'\n[publisher]\nendpoint = 'tcp://127.0.0.1:*'\n"
                      f"[daemon]\nstate_dir = '{state_file}'\ndevice = 'numpy'\nmax_bars = 1\nwarmup_bars = 5\n")
    keys = root / "keys"
    paths = {
        "root": root, "sample": sample, "model": model, "text_npz": text_npz, "config": config, "keys": keys,
        "broken_gz": _write(root / "broken.csv.gz", bytes(broken_gz)),
        "utf16": _write(root / "export.csv", "<DATE>\t<TIME>\t<OPEN>\n".encode("utf-16") + b"\x00\xd8\x41"),
        "no_year": _write(root / "no_year.csv", good + b"0001.01.02,12:00,1.1,1.2,1.0,1.15,100\n"),
        "header_only": _write(root / "header.csv", b"<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\n"),
    }
    return paths


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}


CASES = [
    # (name, argv with {placeholders}, message pattern)
    ("history: damaged gzip", ["history", "X", "H1", "--source", "{broken_gz}", "--out", "{root}/o.parquet"],
     r"broken.csv.gz: broken gzip data"),
    ("history: damaged UTF-16", ["history", "X", "H1", "--source", "{utf16}", "--out", "{root}/o.parquet"],
     r"export.csv: damaged UTF-16 text at byte \d+, line \d"),
    ("history: a date MT5 cannot hold", ["history", "X", "H1", "--source", "{no_year}", "--out", "{root}/o.parquet"],
     r"line 1201: cannot read the time '0001.01.02 12:00'"),
    ("history: header only", ["history", "X", "H1", "--source", "{header_only}", "--out", "{root}/o.parquet"],
     r"no closed bars; nothing written"),
    ("history: --from after --to", ["history", "X", "H1", "--source", "{sample}", "--out", "{root}/o.parquet",
                                    "--from", "2025-01-01", "--to", "2024-01-01"], r"--from .* is not before --to"),
    ("train: replacing a model", ["train", "--data", "{sample}", "--out", "{model}", "--preset", "tiny"],
     r"model file .*model.npz already exists; --resume continues its training, or pass --force"),
    ("train: output is the input", ["train", "--data", "{sample}", "--out", "{sample}", "--force"],
     r"--out .*bars.csv.gz is the --data file"),
    ("train: --from after --to", ["train", "--data", "{sample}", "--out", "{root}/new.npz", "--from", "2025-01-01",
                                  "--to", "2024-01-01"], r"--from 2025-01-01 is not before --to 2024-01-01"),
    ("train: resume a finished run", ["train", "--data", "{sample}", "--out", "{model}", "--resume"],
     r"cannot resume: .*model.npz has finished training"),
    ("train: resume with other settings", ["train", "--data", "{sample}", "--out", "{model}", "--resume",
                                           "--preset", "default"], r"cannot resume .* model.lstm = "),
    ("evaluate: --json over the model", ["evaluate", "--model", "{model}", "--data", "{sample}", "--json", "{model}"],
     r"--json .*model.npz is the --model file"),
    ("evaluate: --plot over the data", ["evaluate", "--model", "{model}", "--data", "{sample}", "--plot", "{sample}"],
     r"--plot .*bars.csv.gz is the --data file"),
    ("evaluate: burn-in longer than the data", ["evaluate", "--model", "{model}", "--data", "{sample}",
                                                "--burn-in", "100000", "--device", "numpy"], r"leave 0 to score"),
    ("evaluate: --from after the data", ["evaluate", "--model", "{model}", "--data", "{sample}", "--from",
                                         "2030-01-01", "--device", "numpy"], r"no bars from 2030.01.01 00:00 on"),
    ("evaluate: negative burn-in", ["evaluate", "--model", "{model}", "--data", "{sample}", "--burn-in", "-5"],
     r"--burn-in"),
    ("evaluate: a text file named .npz", ["evaluate", "--model", "{text_npz}", "--data", "{sample}"],
     r"notes.npz is not a model file \(not an .npz archive"),
    ("encode: output is the input", ["encode", "--model", "{model}", "--data", "{sample}", "--out", "{sample}"],
     r"--out .*bars.csv.gz is the --data file"),
    ("encode: output is the model", ["encode", "--model", "{model}", "--data", "{sample}", "--out", "{model}"],
     r"--out .*model.npz is the --model file"),
    ("export: output is the model", ["export", "--model", "{model}", "--out", "{model}"],
     r"--out .*model.npz is the --model file"),
    ("export: a text file named .npz", ["export", "--model", "{text_npz}", "--out", "{root}/x.onnx"],
     r"notes.npz is not a model file"),
    ("info: a missing file", ["info", "{root}/missing.npz"], r"missing.npz does not exist"),
    ("subscribe: malformed endpoint", ["subscribe", "--endpoint", "tcp://nowhere", "--timeout", "1"],
     r"endpoint 'tcp://nowhere'"),
    ("subscribe: missing key files", ["subscribe", "--curve-client", "{root}/none.key_secret", "--curve-server",
                                      "{root}/none.key", "--timeout", "1"], r"--curve-client .*none.key_secret: not a"),
    ("run: state_dir is a file", ["run", "--config", "{config}"], r"daemon.state_dir .*state-is-a-file is a file"),
    ("devices: no such device", ["devices", "--device", "9:9"], r"no OpenCL device 9:9|no such device|9:9"),
    ("demo: no bars", ["demo", "--bars", "0"], r"--bars"),
    ("demo: a replay that never moves", ["demo", "--rate", "0"], r"--rate"),
    ("keys: a name with a folder in it", ["keys", "--out", "{keys}", "--name", "../escape"], r"--name"),
]


@pytest.mark.parametrize("name, argv, pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(files, capsys, name, argv, pattern):
    import re

    before = _snapshot(files["root"])
    code, out, err = run_main([a.format(**files) for a in argv], capsys)
    assert code == 2, f"{name}: exit {code}\n{out}\n{err}"
    assert "Traceback" not in err and "internal error" not in err, err
    assert re.search(pattern, out + err), f"{name}: {err!r} does not match {pattern!r}"
    after = _snapshot(files["root"])
    changed = [p for p in before if before[p] != after.get(p)]
    assert not changed, f"{name} changed {changed}"
    assert not (files["root"] / "o.parquet").exists()


def test_keys_are_private_and_never_replaced_silently(files, capsys):
    keys = files["keys"]
    code, _, _ = run_main(["keys", "--out", str(keys), "--name", "alice"], capsys)
    assert code == 0
    secret = keys / "alice.key_secret"
    if os.name == "posix":  # Windows: chmod only sets read-only; the folder's ACL decides (docs/DAEMON.md)
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    before = secret.read_bytes()
    code, _, err = run_main(["keys", "--out", str(keys), "--name", "alice"], capsys)
    assert code == 2 and "already exist" in err and "--force" in err and secret.read_bytes() == before
    code, _, _ = run_main(["keys", "--out", str(keys), "--name", "alice", "--force"], capsys)
    assert code == 0 and secret.read_bytes() != before


def test_train_into_a_new_folder_and_resume_with_the_checkpoints_own_settings(files, capsys, tmp_path):
    out = tmp_path / "new" / "folder" / "m.npz"
    config = tmp_path / "c.toml"
    config.write_text('preset = "tiny"\n[train]\nepochs = 2\n')
    args = ["train", "--data", str(files["sample"]), "--out", str(out), "--device", "numpy", "--no-progress",
            "--to", "2024-06-01"]

    def stop_after_first_step(trainer):  # Ctrl-C after the first optimizer step
        trainer.request_stop()

    original = Trainer.__init__

    def patched(self, *a, **kw):
        original(self, *a, **{**kw, "on_chunk": stop_after_first_step})

    Trainer.__init__ = patched
    try:
        code, out_text, _ = run_main([*args, "--config", str(config)], capsys)
    finally:
        Trainer.__init__ = original
    assert code == 130 and "--resume" in out_text and out.exists()
    code, out_text, err = run_main([*args, "--resume", "--epochs", "3"], capsys)  # no --config: the checkpoint's
    assert code == 0, err
    from mt5bridge.modelfile import load_model

    model = load_model(out)
    assert model.metadata["training"]["train_config"]["epochs"] == 3 and len(model.metadata["training"]["history"]) == 3


def test_an_unexpected_error_says_it_is_a_bug(capsys, monkeypatch):
    import mt5bridge.model_info

    def broken(path):
        raise RuntimeError("boom")

    monkeypatch.setattr(mt5bridge.model_info, "describe", broken)
    code, _, err = run_main(["info", "x.npz"], capsys)
    assert code == 1 and "RuntimeError: boom" in err and "this is a bug" in err
