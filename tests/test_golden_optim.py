"""IntegerSGD (spec §4.1) against Python ints, including wrap-around and the soft-clamp decay."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nitro_hw.golden.intmath import new_overflow_counter
from nitro_hw.golden.optim import IntegerSGD

I32 = st.integers(-(2**31), 2**31 - 1)


def tdiv(a, d):
    q = abs(a) // abs(d)
    return q if (a >= 0) == (d > 0) else -q


def w32(v):
    v %= 1 << 32
    return v - (1 << 32) if v >= 1 << 31 else v


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(I32, I32), min_size=1, max_size=16),
    st.integers(1, 5000),
    st.integers(1, 700),
    st.integers(0, 40000),
)
def test_sgd_matches_python(pairs, lr_inv, amp, decay):
    w = np.array([p[0] for p in pairs], dtype=np.int32)
    g = np.array([p[1] for p in pairs], dtype=np.int32)
    cnt = new_overflow_counter()
    u, wn = IntegerSGD(amp, decay).step(w, g, lr_inv, cnt)
    wrapped = 0
    want_u, want_w = [], []
    for wi, gi in pairs:
        ui = tdiv(gi, lr_inv * amp) + (tdiv(wi, decay) if decay else 0)
        wrapped += w32(ui) != ui
        ui = w32(ui)
        wrapped += w32(wi - ui) != wi - ui
        want_u.append(ui)
        want_w.append(w32(wi - ui))
    assert u.dtype == np.int32 and wn.dtype == np.int32
    assert u.tolist() == want_u and wn.tolist() == want_w
    assert cnt["update"] == wrapped
    assert w.tolist() == [p[0] for p in pairs]  # inputs untouched


def test_decay_is_a_soft_clamp():
    w = np.array([2999, 3000, -3000, 6001, -2999], dtype=np.int32)
    _, wn = IntegerSGD(1, 3000).step(w, np.zeros_like(w), 512)
    assert wn.tolist() == [2999, 2999, -2999, 5999, -2999]


def test_overflow_wraps():
    w = np.array([-(2**31)], dtype=np.int32)
    cnt = new_overflow_counter()
    _, wn = IntegerSGD(1, 0).step(w, np.array([1], np.int32), 1, cnt)
    assert wn.tolist() == [2**31 - 1] and cnt["update"] == 1


@pytest.mark.parametrize("kw", [{"amp": 0}, {"amp": -640}, {"amp": 1.5}, {"decay_inv": -1}, {"amp": True}])
def test_bad_parameters(kw):
    with pytest.raises(ValueError):
        IntegerSGD(**kw)


@pytest.mark.parametrize("lr_inv", [0, -512, 2.0, None])
def test_bad_lr_inv(lr_inv):
    w = np.zeros(3, np.int32)
    with pytest.raises(ValueError, match="lr_inv"):
        IntegerSGD().step(w, w, lr_inv)


def test_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        IntegerSGD().step(np.zeros(3, np.int32), np.zeros(4, np.int32), 1)
