"""Model files: bit-exact round trips, resumable optimizer state, and a clear error for every kind of damage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mt5bridge.config import ModelConfig
from mt5bridge.engine.reference import ReferenceEngine
from mt5bridge.errors import ModelFileError
from mt5bridge.modelfile import Model, load_model, save_model
from mt5bridge.normalize import Standardizer

CONFIG = ModelConfig(window=2, features=3, lstm=(9, 4), latent=2, decoder=(5,), target_bars=2, seed=2)


def _trained(engine, rng, steps=3):
    for _ in range(steps):
        engine.train_step(*(rng.normal(size=(4, engine.streams, w)) for w in (CONFIG.inputs, CONFIG.outputs,
                                                                             CONFIG.latent)))
    return engine


def _model(engine):
    return Model.from_engine(engine, Standardizer(np.arange(3.0), np.ones(3) * 2), "mt5-v1",
                             metadata={"note": "test"}, extras={"errors": np.linspace(0, 1, 11)})


@pytest.fixture
def saved(tmp_path, rng):
    engine = _trained(ReferenceEngine(CONFIG, streams=2, dtype=np.float32), rng)
    path = tmp_path / "model.npz"
    save_model(path, _model(engine))
    return path, engine


def _rewrite(path: Path, edit) -> None:
    """Rewrite a model file through `edit(header, arrays)`, keeping it a valid zip."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(arrays.pop("header").tobytes())
    edit(header, arrays)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


@pytest.mark.parametrize("device", ["numpy", "opencl"])
def test_save_load_gives_identical_outputs_bit_for_bit(device, tmp_path, rng, request):
    if device == "numpy":
        make = lambda: ReferenceEngine(CONFIG, streams=2, dtype=np.float32)  # noqa: E731
    else:
        from mt5bridge.engine.cl_engine import OpenCLEngine

        cl_device = request.getfixturevalue("cl_device")
        make = lambda: OpenCLEngine(CONFIG, streams=2, dtype=np.float32, device=cl_device)  # noqa: E731
    engine = _trained(make(), rng)
    path = tmp_path / "m.npz"
    save_model(path, _model(engine))
    loaded = load_model(path, feature_set="mt5-v1")
    again = make()
    loaded.load_into(again)
    probe = rng.normal(size=(5, 2, CONFIG.inputs))
    engine.reset_state()
    z1, y1 = engine.forward(probe)
    z2, y2 = again.forward(probe)
    assert np.array_equal(z1, z2) and np.array_equal(y1, y2)
    # Training resumes exactly: same next step from the saved optimizer state.
    x, y, eps = (rng.normal(size=(3, 2, w)) for w in (CONFIG.inputs, CONFIG.outputs, CONFIG.latent))
    assert engine.train_step(x, y, eps) == again.train_step(x, y, eps)
    assert all(np.array_equal(a, b) for a, b in zip(engine.get_params().values(), again.get_params().values()))
    assert loaded.metadata == {"note": "test"} and np.array_equal(loaded.extras["errors"], np.linspace(0, 1, 11))
    assert loaded.adam_step == 3 and loaded.feature_set == "mt5-v1" and loaded.config == CONFIG
    np.testing.assert_array_equal(loaded.standardizer.std, [2, 2, 2])


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nope.npz")


def test_truncated_file(saved):
    path, _ = saved
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 5):
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match=str(path)):
            load_model(path)


def test_flipped_byte_is_detected(saved):
    path, _ = saved
    data = bytearray(path.read_bytes())
    with np.load(path) as npz:  # flip a byte inside the largest weight tensor's stored data
        big = max((k for k in npz.files if k.startswith("param.")), key=lambda k: npz[k].size)
        raw = npz[big].tobytes()
    at = bytes(data).index(raw[:64]) + 40
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="corrupted|checksum"):
        load_model(path)


def test_not_a_model_file(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_text("hello, I am not a zip")
    with pytest.raises(ModelFileError, match="not a model file"):
        load_model(path)
    np.savez(path, weights=np.zeros(3))  # a valid npz without our header
    with pytest.raises(ModelFileError, match="no header"):
        load_model(path)


def test_newer_format_version(saved):
    path, _ = saved
    _rewrite(path, lambda h, a: h.update(version=99))
    with pytest.raises(ModelFileError, match="format version 99"):
        load_model(path)


def test_feature_set_mismatch(saved):
    path, _ = saved
    with pytest.raises(ModelFileError, match="feature set 'mt5-v1'.*'robust-v1'"):
        load_model(path, feature_set="robust-v1")


def test_shape_that_does_not_match_the_config(saved):
    path, _ = saved

    def edit(header, arrays):
        arrays["param.dec0.w"] = np.zeros((4, 2), np.float32)  # config says (5, 2)
        del header["arrays"]["param.dec0.w"]
        import hashlib

        header["arrays"]["param.dec0.w"] = {"shape": [4, 2], "dtype": "<f4",
                                            "sha256": hashlib.sha256(arrays["param.dec0.w"].tobytes()).hexdigest()}

    _rewrite(path, edit)
    with pytest.raises(ModelFileError, match=r"param.dec0.w has shape \(4, 2\), the config needs \(5, 2\)"):
        load_model(path)


def test_altered_array_without_matching_checksum(saved):
    path, _ = saved
    _rewrite(path, lambda h, a: a.__setitem__("param.out.b", a["param.out.b"] + 1))
    with pytest.raises(ModelFileError, match="checksum mismatch in param.out.b"):
        load_model(path)


def test_bad_config_key_is_named(saved):
    path, _ = saved
    _rewrite(path, lambda h, a: h["config"].update(lstm_sizes=[3]))
    with pytest.raises(ModelFileError, match="unknown key.*lstm_sizes"):
        load_model(path)


class _Trap:
    def __reduce__(self):  # would run on unpickling
        return (Path.touch, (Path(_Trap.target),))


def test_pickled_member_is_refused_not_unpickled(saved, tmp_path):
    path, _ = saved
    _Trap.target = str(tmp_path / "pwned")
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["param.out.b"] = np.array([_Trap()], dtype=object)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    with pytest.raises(ModelFileError):
        load_model(path)
    assert not (tmp_path / "pwned").exists()


def test_failed_save_keeps_the_old_file_and_leaves_no_temp(saved, monkeypatch):
    path, engine = saved
    before = path.read_bytes()

    def broken_savez(handle, **arrays):
        handle.write(b"PK partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save_model(path, _model(engine))
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def _listing(header, arrays, name):
    header["arrays"][name] = dict(header["arrays"]["norm.mean"])


@pytest.mark.parametrize("damage, message", [
    # the header lists a member the file lacks
    (lambda h, a: _listing(h, a, "param.extra"), r"members \['param.extra'\] do not match the header's list"),
    # the file holds a member the header does not list
    (lambda h, a: a.__setitem__("extra.smuggled", np.zeros(3)), r"members \['extra.smuggled'\] do not match"),
    # a header entry without its checksum or shape
    (lambda h, a: h["arrays"]["norm.std"].pop("sha256"), r"header entry of norm.std lacks 'sha256'"),
    (lambda h, a: h["arrays"]["norm.std"].pop("shape"), r"header entry of norm.std lacks 'shape'"),
    (lambda h, a: h.__setitem__("arrays", ["norm.std"]), r"header's arrays is not a table"),
])
def test_header_and_members_must_agree(saved, damage, message):
    path, _ = saved
    _rewrite(path, damage)
    with pytest.raises(ModelFileError, match=message):
        load_model(path)
