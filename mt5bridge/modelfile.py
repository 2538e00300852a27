"""The model file: a versioned `.npz` with a JSON header, never pickle, written atomically.

Members (all plain numeric arrays, read with `allow_pickle=False`):
    header          uint8   UTF-8 JSON: format, version, config, feature set, dtype, Adam step, metadata, and the
                            shape, dtype and SHA-256 of every other member
    param.<name>    weights in the engine's dtype, named as in engine/layout.py
    adam_m.<name>   Adam first moments (absent in an inference-only file)
    adam_v.<name>   Adam second moments
    norm.mean       (F,) float64 frozen standardisation
    norm.std        (F,) float64
    extra.<key>     free-form arrays (e.g. a baseline model, an error distribution)
Loading checks the format, version, every checksum, every shape against the config, and the feature set, and names
the file and the problem in a ModelFileError.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import ModelConfig
from .engine.base import Engine
from .engine.layout import param_shapes
from .errors import ConfigError, ModelFileError
from .fileio import FileLockedError, atomic_path, read_bytes, retrying
from .normalize import Standardizer

FORMAT = "mt5bridge-model"
VERSION = 1


@dataclass
class Model:
    """Everything a model file holds, in memory."""

    config: ModelConfig
    params: dict[str, np.ndarray]
    standardizer: Standardizer
    feature_set: str
    adam_m: dict[str, np.ndarray] | None = None
    adam_v: dict[str, np.ndarray] | None = None
    adam_step: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def dtype(self) -> np.dtype:
        return next(iter(self.params.values())).dtype

    @classmethod
    def from_engine(cls, engine: Engine, standardizer: Standardizer, feature_set: str, *,
                    with_optimizer: bool = True, metadata: dict | None = None,
                    extras: dict[str, np.ndarray] | None = None) -> "Model":
        m = v = None
        step = engine.step
        if with_optimizer:
            m, v, step = engine.get_optimizer_state()
        return cls(engine.config, engine.get_params(), standardizer, feature_set, m, v, step,
                   dict(metadata or {}), dict(extras or {}))

    def load_into(self, engine: Engine) -> None:
        """Copy weights (and optimizer state, if present) into an engine built from the same config."""
        if engine.config != self.config:
            raise ModelFileError("the engine was built from a different config than the model's")
        engine.set_params(self.params)
        if self.adam_m is not None and self.adam_v is not None:
            engine.set_optimizer_state(self.adam_m, self.adam_v, self.adam_step)


def save_model(path: str | Path, model: Model) -> None:
    """Write atomically: a crash leaves the previous file intact, never a partial one."""
    arrays: dict[str, np.ndarray] = {"norm.mean": np.asarray(model.standardizer.mean, np.float64),
                                     "norm.std": np.asarray(model.standardizer.std, np.float64)}
    arrays.update({f"param.{k}": np.ascontiguousarray(v) for k, v in model.params.items()})
    if model.adam_m is not None and model.adam_v is not None:
        arrays.update({f"adam_m.{k}": np.ascontiguousarray(v) for k, v in model.adam_m.items()})
        arrays.update({f"adam_v.{k}": np.ascontiguousarray(v) for k, v in model.adam_v.items()})
    arrays.update({f"extra.{k}": np.ascontiguousarray(v) for k, v in model.extras.items()})
    for name, array in arrays.items():
        if array.dtype.hasobject:
            raise ModelFileError(f"{name}: object arrays cannot be stored (no pickle)")
    header = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "feature_set": model.feature_set,
        "dtype": np.dtype(model.dtype).name,
        "adam_step": int(model.adam_step),
        "metadata": model.metadata,
        "arrays": {k: {"shape": list(a.shape), "dtype": a.dtype.str, "sha256": _digest(a)} for k, a in arrays.items()},
    }
    arrays["header"] = np.frombuffer(json.dumps(header, sort_keys=True).encode("utf-8"), np.uint8)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def load_model(path: str | Path, *, feature_set: str | None = None) -> Model:
    """Read and verify a model file; `feature_set`, when given, must match the file's."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        arrays = _read_arrays(path)
    except (ModelFileError, FileLockedError):
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, zipfile.LargeZipFile) as exc:
        raise ModelFileError(f"model file {path} is truncated, corrupted or not a model file ({exc})") from None
    header = _parse_header(path, arrays.pop("header", None))
    _verify_arrays(path, header, arrays)
    try:
        config = ModelConfig.from_dict(header["config"], where=f"model file {path}: config")
    except ConfigError as exc:
        raise ModelFileError(str(exc)) from None
    if feature_set is not None and header["feature_set"] != feature_set:
        raise ModelFileError(f"model file {path} was trained on feature set {header['feature_set']!r}, "
                             f"but {feature_set!r} is in use")
    params = _group(arrays, "param.")
    _check_shapes(path, config, params, "param")
    adam_m, adam_v = _group(arrays, "adam_m.") or None, _group(arrays, "adam_v.") or None
    for name, group in (("adam_m", adam_m), ("adam_v", adam_v)):
        if group is not None:
            _check_shapes(path, config, group, name)
    mean, std = arrays.get("norm.mean"), arrays.get("norm.std")
    if mean is None or std is None or mean.shape != (config.features,) or std.shape != (config.features,):
        raise ModelFileError(f"model file {path}: normalisation statistics missing or not of shape "
                             f"({config.features},)")
    if not (np.all(np.isfinite(mean)) and np.all(std > 0)):
        raise ModelFileError(f"model file {path}: normalisation statistics are not finite/positive")
    return Model(config, params, Standardizer(mean, std), header["feature_set"], adam_m, adam_v,
                 int(header["adam_step"]), header.get("metadata", {}), _group(arrays, "extra."))


def file_sha256(path: str | Path) -> str:
    """Hash of the whole file, to notice that a model changed (e.g. the daemon re-warms its state)."""
    digest = hashlib.sha256()
    path = Path(path)
    # The open is retried like the read in _read_arrays: the daemon hashes the file right after loading it, and
    # on Windows a scanner can take the file between the two.
    with retrying(lambda: open(path, "rb"), path, "read the model file") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        # Retried: on Windows an antivirus scanning a freshly copied model holds it for a moment, and the daemon's
        # start should not fail over that.
        data = read_bytes(path, what="read the model file")
    except FileLockedError:  # already one line naming the file and what probably holds it
        raise
    except OSError as exc:  # the file may be fine; calling it corrupted would send the user the wrong way
        raise ModelFileError(f"model file {path} cannot be read ({exc.strerror or exc}); check its "
                             "permissions") from None
    if not data.startswith(b"PK\x03\x04"):  # else numpy would try pickle and talk of allow_pickle
        raise ModelFileError(f"model file {path} is not a model file (not an .npz archive: it starts with "
                             f"{data[:8]!r}); give the file written by `mt5bridge train`")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}  # reading each member checks its zip CRC


def _parse_header(path: Path, raw: np.ndarray | None) -> dict[str, Any]:
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(f"model file {path} has no header: not an mt5bridge model file")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"model file {path}: header is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"model file {path}: not an mt5bridge model file (format {header.get('format')!r})"
                             if isinstance(header, dict) else f"model file {path}: header is not a JSON object")
    if header.get("version") != VERSION:
        raise ModelFileError(f"model file {path} has format version {header.get('version')!r}; this mt5bridge "
                             f"reads version {VERSION}")
    missing = [k for k in ("config", "feature_set", "dtype", "adam_step", "arrays") if k not in header]
    if missing:
        raise ModelFileError(f"model file {path}: header lacks {missing}")
    return header


def _verify_arrays(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    listed = header["arrays"]
    if not isinstance(listed, dict):
        raise ModelFileError(f"model file {path}: the header's arrays is not a table")
    for name, meta in listed.items():
        missing = [k for k in ("shape", "dtype", "sha256") if not isinstance(meta, dict) or k not in meta]
        if missing:
            raise ModelFileError(f"model file {path}: the header entry of {name} lacks {missing[0]!r}")
    if set(listed) != set(arrays):
        raise ModelFileError(f"model file {path}: members {sorted(set(arrays) ^ set(listed))} do not match the "
                             "header's list")
    for name, meta in listed.items():
        array = arrays[name]
        if list(array.shape) != meta["shape"] or array.dtype.str != meta["dtype"]:
            raise ModelFileError(f"model file {path}: {name} is {array.dtype.str}{list(array.shape)}, header says "
                                 f"{meta['dtype']}{meta['shape']}")
        if _digest(array) != meta["sha256"]:
            raise ModelFileError(f"model file {path}: checksum mismatch in {name} (the file was altered)")


def _group(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _check_shapes(path: Path, config: ModelConfig, group: dict[str, np.ndarray], what: str) -> None:
    expected = dict(param_shapes(config))
    if set(group) != set(expected):
        raise ModelFileError(f"model file {path}: {what} tensors {sorted(set(group) ^ set(expected))} do not match "
                             "the config")
    for name, shape in expected.items():
        if group[name].shape != shape:
            raise ModelFileError(f"model file {path}: {what}.{name} has shape {group[name].shape}, the config "
                                 f"needs {shape}")
