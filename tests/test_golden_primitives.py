"""Property tests of the golden integer primitives against plain Python int arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nitro_hw.golden.primitives import (
    INT32_MAX,
    INT32_MIN,
    clamp,
    isqrt,
    nitro_scaling,
    scale_factor,
    tdiv,
    wrap8,
    wrap32,
)

I32 = st.integers(INT32_MIN, INT32_MAX)
BIG = st.integers(-(2**62), 2**62)
NONZERO = st.integers(-(2**40), 2**40).filter(lambda d: d != 0)


def py_tdiv(a: int, d: int) -> int:
    """Truncation toward zero, from the definition sign(a)*sign(d)*floor(|a|/|d|)."""
    sign = -1 if (a < 0) != (d < 0) else 1
    return sign * (abs(a) // abs(d))


def py_wrap(v: int, bits: int) -> int:
    m = 1 << bits
    v %= m
    return v - m if v >= m // 2 else v


@settings(max_examples=300, deadline=None)
@given(BIG, NONZERO)
def test_tdiv_scalar(a, d):
    assert tdiv(a, d) == py_tdiv(a, d)
    q = tdiv(a, d)
    assert abs(q * d) <= abs(a)  # truncation never overshoots
    assert a - q * d == 0 or (a - q * d > 0) == (a > 0)  # remainder takes the sign of the dividend


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(I32, st.integers(-(2**31), 2**31).filter(lambda d: d != 0)), min_size=1, max_size=30)
)
def test_tdiv_array_matches_scalar(pairs):
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    d = np.array([p[1] for p in pairs], dtype=np.int64)
    got = tdiv(a, d)
    assert got.dtype == np.int64
    assert got.tolist() == [py_tdiv(x, y) for x, y in pairs]


def test_tdiv_corners():
    assert tdiv(INT32_MIN, 1) == INT32_MIN
    assert tdiv(INT32_MIN, -1) == 2**31
    assert tdiv(-7, 2) == -3 and tdiv(7, -2) == -3 and tdiv(-7, -2) == 3 and tdiv(-1, 4) == 0
    arr = np.array([INT32_MIN, -1, 0, 1, INT32_MAX], dtype=np.int32)
    assert tdiv(arr, 4).tolist() == [py_tdiv(int(v), 4) for v in arr]
    # a power-of-two tdiv is not an arithmetic shift for negatives
    assert tdiv(-5, 4) == -1 and (-5 >> 2) == -2


def test_tdiv_zero_divisor():
    with pytest.raises(ZeroDivisionError):
        tdiv(5, 0)
    with pytest.raises(ZeroDivisionError):
        tdiv(np.array([1, 2]), np.array([1, 0]))


@settings(max_examples=300, deadline=None)
@given(BIG)
def test_wraps(v):
    assert wrap32(v) == py_wrap(v, 32)
    assert wrap8(v) == py_wrap(v, 8)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=30))
def test_wraps_array(vals):
    a = np.array(vals, dtype=np.int64)
    w32, w8 = wrap32(a), wrap8(a)
    assert w32.dtype == np.int32 and w8.dtype == np.int8
    assert w32.tolist() == [py_wrap(v, 32) for v in vals]
    assert w8.tolist() == [py_wrap(v, 8) for v in vals]


def test_wrap_corners():
    assert wrap32(2**31) == INT32_MIN and wrap32(INT32_MIN - 1) == INT32_MAX
    assert wrap8(-129) == 127 and wrap8(128) == -128 and wrap8(-97 - 32) == 127


@settings(max_examples=200, deadline=None)
@given(BIG, st.integers(-1000, 1000), st.integers(0, 1000))
def test_clamp(v, lo, width):
    hi = lo + width
    assert clamp(v, lo, hi) == max(lo, min(hi, v))
    assert clamp(np.array([v], dtype=np.int64), lo, hi).tolist() == [max(lo, min(hi, v))]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**80))
def test_isqrt(n):
    r = isqrt(n)
    assert r * r <= n < (r + 1) * (r + 1)


def test_isqrt_small_and_negative():
    assert [isqrt(n) for n in range(10)] == [0, 1, 1, 1, 2, 2, 2, 2, 2, 3]
    with pytest.raises(ValueError):
        isqrt(-1)


@settings(max_examples=300, deadline=None)
@given(I32, st.integers(1, 2**27))
def test_nitro_scaling(z, sf):
    want = max(-127, min(127, py_tdiv(z, sf)))
    assert nitro_scaling(z, sf) == want
    got = nitro_scaling(np.array([z], dtype=np.int32), sf)
    assert got.dtype == np.int8 and got.tolist() == [want]


def test_scaling_never_minus_128_and_errors():
    z = np.array([INT32_MIN, -(2**20), 2**20, INT32_MAX], dtype=np.int32)
    assert nitro_scaling(z, 1).tolist() == [-127, -127, 127, 127]
    with pytest.raises(ValueError):
        nitro_scaling(1, 0)
    with pytest.raises(ValueError):
        scale_factor(0)
    assert scale_factor(784) == 200704 and scale_factor(27) == 6912
