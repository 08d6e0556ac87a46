"""Checkpoint files: round trip, RNG state, atomic write, validation errors."""

from __future__ import annotations

import io

import numpy as np
import pytest

from nitro_hw.golden.checkpoint import (
    CHECKPOINT_FORMAT_VERSION,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)


def _ckpt(rng=None, **kw):
    rng = rng or np.random.RandomState(4)
    rng.randint(0, 10, 37)
    rng.standard_normal()  # leaves a cached gaussian in the state
    base = dict(epoch=2, parameters={"block0.encoder": np.arange(-6, 6, dtype=np.int32).reshape(3, 4),
                                     "output": np.array([[2**31 - 1, -(2**31)]], dtype=np.int32)},
                lr_inv=1536, rng_state=rng.get_state(),
                schedulers={"lr": {"kind": "ConstantLR", "lr_inv": 1536}},
                config={"name": "toy", "hidden": [3]}, meta={"seed": 4, "dataset": "digits"},
                metrics=[{"epoch": 1, "test_acc": 0.5}, {"epoch": 2, "test_acc": 0.75}])
    base.update(kw)
    return Checkpoint(**base)


def test_roundtrip(tmp_path):
    rng = np.random.RandomState(4)
    c = _ckpt(rng)
    p = save_checkpoint(tmp_path / "c.npz", c)
    assert p == tmp_path / "c.npz" and [f.name for f in tmp_path.iterdir()] == ["c.npz"]
    d = load_checkpoint(p)
    assert d.epoch == 2 and d.lr_inv == 1536
    assert d.parameters.keys() == c.parameters.keys()
    for k, v in c.parameters.items():
        assert d.parameters[k].dtype == np.int32 and np.array_equal(d.parameters[k], v)
    assert d.schedulers == c.schedulers and d.config == c.config and d.meta == c.meta
    assert d.metrics == c.metrics
    r2 = restore_rng(d)
    assert r2.standard_normal() == rng.standard_normal()  # cached gaussian restored
    assert np.array_equal(r2.randint(0, 2**31, 1000), rng.randint(0, 2**31, 1000))
    with np.load(p, allow_pickle=False) as z:
        assert int(z["format_version"]) == CHECKPOINT_FORMAT_VERSION


def test_overwrite_is_atomic(tmp_path, monkeypatch):
    p = tmp_path / "c.npz"
    save_checkpoint(p, _ckpt())

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(p, _ckpt(epoch=3, metrics=[{}] * 3))
    monkeypatch.undo()
    assert load_checkpoint(p).epoch == 2  # old file intact
    assert [f.name for f in tmp_path.iterdir()] == ["c.npz"]  # no temporary left behind


def test_save_rejects_bad_input(tmp_path):
    with pytest.raises(CheckpointError, match="'w' must be an int32 array"):
        save_checkpoint(tmp_path / "c.npz", _ckpt(parameters={"w": np.zeros(3, np.int64)}))
    with pytest.raises(ValueError, match="lr_inv must be positive"):
        save_checkpoint(tmp_path / "c.npz", _ckpt(lr_inv=0))
    with pytest.raises(ValueError, match="lr_inv must be positive"):
        save_checkpoint(tmp_path / "c.npz", _ckpt(lr_inv=-3))
    with pytest.raises(CheckpointError, match="rng_state"):
        save_checkpoint(tmp_path / "c.npz", _ckpt(rng_state=("PCG64", 1)))


def _rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    for k, v in changes.items():
        if v is None:
            d.pop(k)
        else:
            d[k] = v
    np.savez(path, **d)


@pytest.mark.parametrize("changes, message", [
    ({"format_version": np.int64(99)}, "format_version 99"),
    ({"format_version": None}, "no format_version"),
    ({"lr_inv": None}, "missing field.*lr_inv"),
    ({"lr_inv": np.int64(0)}, "lr_inv must be positive"),
    ({"lr_inv": np.int64(-512)}, "lr_inv must be positive"),
    ({"param/output": np.zeros((1, 2), np.int64)}, "'output' has dtype int64"),
    ({"rng_keys": np.zeros(10, np.uint32)}, "rng_keys must be uint32"),
    ({"rng_pos": np.int64(700)}, "rng_pos 700"),
    ({"config_json": np.array("{nope")}, "config_json is not valid JSON"),
    ({"metrics_json": np.array("[]")}, "one record per finished epoch"),
    ({"epoch": np.int64(-1)}, "negative epoch"),
])
def test_load_validation(tmp_path, changes, message):
    p = tmp_path / "c.npz"
    save_checkpoint(p, _ckpt())
    _rewrite(p, **changes)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(p)
    assert str(p) in str(info.value)


def test_load_missing_and_garbage(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "none.npz")
    (tmp_path / "g.npz").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="g.npz: not a readable .npz"):
        load_checkpoint(tmp_path / "g.npz")
    buf = io.BytesIO()
    np.savez(buf, something=np.arange(3))
    (tmp_path / "o.npz").write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="not a nitro_hw checkpoint"):
        load_checkpoint(tmp_path / "o.npz")


def test_load_rejects_pickled_objects(tmp_path):
    p = tmp_path / "c.npz"
    save_checkpoint(p, _ckpt())
    _rewrite(p, config_json=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(p)
