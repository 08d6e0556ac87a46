"""Versioned, atomic ``.npz`` checkpoints of a golden training run.

A checkpoint holds everything needed to continue a run bit-identically: the integer
weights, ``lr_inv``, the scheduler / early-stopping states, the number of finished
epochs, the full state of the legacy NumPy RNG (``RandomState.get_state()``), the model
config, run metadata (data set, seed, ...) and the metrics of every finished epoch.

File layout (``np.savez``, no pickle; JSON stored as 0-d unicode arrays)::

    format_version      int64            CHECKPOINT_FORMAT_VERSION
    epoch               int64            finished epochs
    lr_inv              int64            inverse learning rate for the next epoch
    param/<name>        int32 arrays     model.parameters()
    rng_keys            uint32 (624,)    MT19937 key
    rng_pos, rng_has_gauss  int64
    rng_cached_gaussian float64
    schedulers_json, config_json, meta_json, metrics_json   str
    train_order         int64 (N,)       optional: current order of the training samples
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import atomic_write_bytes
from .schedule import check_lr_inv

CHECKPOINT_FORMAT_VERSION = 1
PARAM_PREFIX = "param/"
_JSON_FIELDS = ("schedulers", "config", "meta", "metrics")
_REQUIRED = ("format_version", "epoch", "lr_inv", "rng_keys", "rng_pos", "rng_has_gauss",
             "rng_cached_gaussian") + tuple(f"{f}_json" for f in _JSON_FIELDS)


class CheckpointError(Exception):
    """A checkpoint file is missing, corrupt, of another format version or inconsistent."""


@dataclass
class Checkpoint:
    """In-memory form of a checkpoint.

    Attributes
    ----------
    epoch : int
        Number of finished epochs.
    parameters : dict of str to numpy.ndarray (int32)
        ``model.parameters()``.
    lr_inv : int
        Inverse learning rate for the next epoch.
    rng_state : tuple
        ``RandomState.get_state()`` after the last finished epoch.
    schedulers : dict
        JSON-able states of the LR holder, the plateau rule and early stopping.
    config : dict
        ``ModelConfig.to_dict()``.
    meta : dict
        Run metadata (data set, seed, epochs requested, ...).
    metrics : list of dict
        One record per finished epoch.
    train_order : numpy.ndarray of int64, optional
        Current order of the training samples (the per-epoch shuffles compose).
    """

    epoch: int
    parameters: dict[str, np.ndarray]
    lr_inv: int
    rng_state: tuple
    schedulers: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    train_order: np.ndarray | None = None


def _rng_arrays(state: tuple) -> dict[str, np.ndarray]:
    if not (isinstance(state, tuple) and len(state) == 5 and state[0] == "MT19937"):
        raise CheckpointError(f"rng_state must be the 5-tuple of RandomState.get_state(), got {state!r:.80}")
    keys = np.asarray(state[1])
    if keys.shape != (624,):
        raise CheckpointError(f"rng_state key must have 624 words, got shape {keys.shape}")
    return {"rng_keys": keys.astype(np.uint32), "rng_pos": np.int64(state[2]),
            "rng_has_gauss": np.int64(state[3]), "rng_cached_gaussian": np.float64(state[4])}


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` to ``path`` atomically (temporary file in the same directory, then rename).

    Raises
    ------
    CheckpointError
        If a parameter is not an int32 array or the RNG state is malformed.
    ValueError
        If ``lr_inv`` is not a positive integer.
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {
        "format_version": np.int64(CHECKPOINT_FORMAT_VERSION),
        "epoch": np.int64(ckpt.epoch),
        "lr_inv": np.int64(check_lr_inv(ckpt.lr_inv)),
    }
    for name, value in ckpt.parameters.items():
        if not isinstance(value, np.ndarray) or value.dtype != np.int32:
            raise CheckpointError(f"parameter {name!r} must be an int32 array, got "
                                  f"{getattr(value, 'dtype', type(value))}")
        arrays[PARAM_PREFIX + name] = value
    arrays.update(_rng_arrays(ckpt.rng_state))
    if ckpt.train_order is not None:
        order = np.asarray(ckpt.train_order)
        if order.ndim != 1 or order.dtype.kind not in "iu":
            raise CheckpointError(f"train_order must be a 1-D integer array, got {order.dtype} {order.shape}")
        arrays["train_order"] = order.astype(np.int64)
    for f in _JSON_FIELDS:
        arrays[f"{f}_json"] = np.array(json.dumps(getattr(ckpt, f), sort_keys=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, lambda fh: np.savez(fh, **arrays))
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and validate a checkpoint.

    Raises
    ------
    CheckpointError
        Missing file, not an npz, wrong format version, missing fields, wrong dtypes or
        shapes, invalid JSON or an invalid RNG state; the message names the file and field.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError, EOFError ...
        raise CheckpointError(f"{path}: not a readable .npz checkpoint: {exc}") from exc
    if "format_version" not in data:
        raise CheckpointError(f"{path}: no format_version field: not a nitro_hw checkpoint")
    version = int(data["format_version"])
    if version != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format_version {version}, this nitro_hw reads "
                              f"{CHECKPOINT_FORMAT_VERSION}")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"{path}: missing field(s) {', '.join(missing)}")
    params = {k[len(PARAM_PREFIX):]: v for k, v in data.items() if k.startswith(PARAM_PREFIX)}
    if not params:
        raise CheckpointError(f"{path}: no parameters stored")
    for name, v in params.items():
        if v.dtype != np.int32:
            raise CheckpointError(f"{path}: parameter {name!r} has dtype {v.dtype}, expected int32")
    keys = data["rng_keys"]
    if keys.dtype != np.uint32 or keys.shape != (624,):
        raise CheckpointError(f"{path}: rng_keys must be uint32 (624,), got {keys.dtype} {keys.shape}")
    pos = int(data["rng_pos"])
    if not 0 <= pos <= 624:
        raise CheckpointError(f"{path}: rng_pos {pos} outside [0, 624]")
    rng_state = ("MT19937", keys, pos, int(data["rng_has_gauss"]), float(data["rng_cached_gaussian"]))
    try:
        lr_inv = check_lr_inv(int(data["lr_inv"]))
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    epoch = int(data["epoch"])
    if epoch < 0:
        raise CheckpointError(f"{path}: negative epoch {epoch}")
    decoded = {}
    for f in _JSON_FIELDS:
        raw = data[f"{f}_json"]
        if raw.dtype.kind != "U" or raw.ndim != 0:
            raise CheckpointError(f"{path}: {f}_json must be a string")
        try:
            decoded[f] = json.loads(str(raw))
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{path}: {f}_json is not valid JSON: {exc}") from exc
    if not isinstance(decoded["metrics"], list) or len(decoded["metrics"]) != epoch:
        raise CheckpointError(f"{path}: metrics must list one record per finished epoch ({epoch})")
    order = data.get("train_order")
    if order is not None and (order.ndim != 1 or order.dtype != np.int64):
        raise CheckpointError(f"{path}: train_order must be int64 (N,), got {order.dtype} {order.shape}")
    return Checkpoint(epoch=epoch, parameters=params, lr_inv=lr_inv, rng_state=rng_state,
                      train_order=order, **decoded)


def restore_rng(ckpt: Checkpoint) -> np.random.RandomState:
    """A ``RandomState`` in the checkpoint's RNG state."""
    rng = np.random.RandomState()
    rng.set_state(ckpt.rng_state)
    return rng
