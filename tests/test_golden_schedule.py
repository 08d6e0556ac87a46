"""Schedulers and early stopping, rule by rule (spec §4.3)."""

from __future__ import annotations

import numpy as np
import pytest

from nitro_hw.golden.schedule import (
    ConstantLR,
    EarlyStopping,
    ExponentialLR,
    HalvingLR,
    LinearLR,
    ReduceLROnPlateau,
    check_lr_inv,
)


def test_constant_lr_holder():
    s = ConstantLR()
    assert s.get_lr() == 512 and s.step() == 512 and s.step() == 512
    s.set_lr(1536)
    assert s.step() == 1536


@pytest.mark.parametrize("bad", [0, -512, 1.5, "512", True, None])
def test_lr_inv_must_be_positive_int(bad):
    with pytest.raises(ValueError, match="lr_inv"):
        ConstantLR(bad)
    with pytest.raises(ValueError, match="lr_inv"):
        ConstantLR().set_lr(bad)


def test_lr_inv_numpy_int_accepted():
    assert check_lr_inv(np.int64(7)) == 7 and type(check_lr_inv(np.int32(7))) is int


def test_plateau_from_epoch_ignores_early_epochs():
    lr = ConstantLR(512)
    p = ReduceLROnPlateau(lr)
    for _ in range(9):  # epochs 1..9: nothing, best not even recorded
        assert not p.step(0.99)
    assert p.best is None and p.counter == 0
    assert not p.step(0.10)  # epoch 10 is the first monitored one and sets best
    assert p.best == 0.10 and p.counter == 0


def test_plateau_fires_after_patience_and_resets():
    lr = ConstantLR(512)
    p = ReduceLROnPlateau(lr, factor=3, min_delta=0.01, patience=15, from_epoch=10)
    for _ in range(10):
        p.step(0.5)  # epoch 10 sets best = 0.5
    fired = [p.step(0.5) for _ in range(15)]  # epochs 11..25
    assert fired == [False] * 14 + [True]
    assert lr.get_lr() == 1536 and p.counter == 0 and p.best == 0.5
    fired = [p.step(0.5) for _ in range(15)]
    assert fired[-1] and not any(fired[:-1]) and lr.get_lr() == 4608


def test_plateau_min_delta_boundary():
    lr = ConstantLR(512)
    p = ReduceLROnPlateau(lr, min_delta=0.25, patience=3, from_epoch=1)
    p.step(0.5)  # best 0.5
    p.step(0.5 + 0.125)  # 0.625 < 0.75: not an improvement
    assert p.counter == 1 and p.best == 0.5
    p.step(0.75)  # exactly best + min_delta (exact in binary): improvement
    assert p.counter == 0 and p.best == 0.75
    p.step(0.75 + 0.25 - 2**-40)  # just below: not an improvement
    assert p.counter == 1


def test_plateau_counter_reset_on_improvement():
    lr = ConstantLR(512)
    p = ReduceLROnPlateau(lr, patience=3, from_epoch=1)
    p.step(0.5)
    p.step(0.5)
    p.step(0.5)
    assert p.counter == 2
    p.step(0.52)  # improvement by >= 0.01
    assert p.counter == 0 and p.best == 0.52
    assert not p.step(0.5) and not p.step(0.5) and p.step(0.5)
    assert lr.get_lr() == 1536


def test_plateau_worse_values_count():
    lr = ConstantLR(2)
    p = ReduceLROnPlateau(lr, factor=2, patience=2, from_epoch=1)
    p.step(0.9)
    assert not p.step(0.1) and p.step(0.2) and lr.get_lr() == 4


def test_early_stopping_rules():
    e = EarlyStopping()
    assert (e.min_delta, e.patience, e.from_epoch) == (0.01, 35, 30)
    results = [e.step(0.8) for _ in range(29)]
    assert not any(results) and e.best is None
    assert not e.step(0.8)  # epoch 30 sets best
    results = [e.step(0.8) for _ in range(35)]  # epochs 31..65
    assert results == [False] * 34 + [True]  # earliest stop: epoch 65
    assert e.step(0.8) and e.counter == 36  # counter is never reset


def test_early_stopping_improvement_resets():
    e = EarlyStopping(min_delta=0.01, patience=3, from_epoch=1)
    e.step(0.5)
    e.step(0.505)
    e.step(0.505)
    assert e.counter == 2
    assert not e.step(0.51)  # 0.51 >= 0.5 + 0.01: improvement
    assert e.counter == 0 and e.best == 0.51


def test_scheduler_state_roundtrip():
    lr = ConstantLR(512)
    p = ReduceLROnPlateau(lr, patience=4, from_epoch=2)
    for a in (0.1, 0.2, 0.2, 0.2):
        p.step(a)
    lr2 = ConstantLR(512)
    q = ReduceLROnPlateau(lr2, patience=4, from_epoch=2)
    q.load_state_dict(p.state_dict())
    lr2.load_state_dict(lr.state_dict())
    for a in (0.2, 0.2, 0.9, 0.1):
        assert p.step(a) == q.step(a)
    assert p.state_dict() == q.state_dict() and lr.get_lr() == lr2.get_lr()
    with pytest.raises(ValueError, match="patience"):
        ReduceLROnPlateau(ConstantLR(), patience=5).load_state_dict(p.state_dict())
    with pytest.raises(ValueError, match="expected EarlyStopping"):
        EarlyStopping().load_state_dict(p.state_dict())


def test_monitor_argument_checks():
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="min_delta"):
        EarlyStopping(min_delta=-1)
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(ConstantLR(), factor=0)


def test_unused_schedulers():
    lin = LinearLR(100, factor=10, from_epoch=2, max_lr_inv=125)
    assert [lin.step() for _ in range(6)] == [100, 100, 110, 120, 125, 125]
    exp = ExponentialLR(100, factor=10, from_epoch=0, max_lr_inv=10**6)
    assert [exp.step() for _ in range(3)] == [110, 121, 133]
    h = HalvingLR(512, num_epochs=2)
    assert [h.step() for _ in range(5)] == [512, 512, 1024, 1024, 2048]
    h2 = HalvingLR(512, num_epochs=2)
    h2.load_state_dict(h.state_dict())
    assert h2.step() == h.step()
