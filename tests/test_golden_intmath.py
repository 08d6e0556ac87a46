"""Exact integer GEMM / convolution kernels against Python int arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nitro_hw.golden import intmath
from nitro_hw.golden.intmath import (
    conv2d_exact,
    conv2d_weight_grad_exact,
    conv2d_wrap32,
    matmul_exact,
    matmul_wrap32,
    new_overflow_counter,
    tdiv_const,
    wrap32_counted,
)

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def py_wrap32(v: int) -> int:
    v %= 1 << 32
    return v - (1 << 32) if v >= 1 << 31 else v


def py_matmul(a, b):
    a, b = a.tolist(), b.tolist()
    return [[sum(a[i][t] * b[t][j] for t in range(len(b))) for j in range(len(b[0]))] for i in range(len(a))]


def rand_i32(rng, shape, lo=I32_MIN, hi=I32_MAX):
    return rng.randint(lo, hi + 1, size=shape, dtype=np.int64).astype(np.int32)


@pytest.mark.parametrize("wide", [60, 30000, 2**31 - 1])
def test_matmul_exact_and_wrap(wide):
    rng = np.random.RandomState(wide % 1000)
    a = rng.randint(-128, 128, size=(5, 37)).astype(np.int8)
    b = rand_i32(rng, (37, 4), -wide, wide)
    b[0, 0] = -wide
    want = py_matmul(a, b)
    assert matmul_exact(a, b).tolist() == want
    cnt = new_overflow_counter()
    got = matmul_wrap32(a, b, "z", cnt)
    assert got.dtype == np.int32
    assert got.tolist() == [[py_wrap32(v) for v in row] for row in want]
    assert cnt["z"] == sum(1 for row in want for v in row if not I32_MIN <= v <= I32_MAX)


def test_matmul_int32_min_operand():
    a = np.array([[-128, -128]], dtype=np.int8)
    b = np.array([[I32_MIN], [I32_MIN]], dtype=np.int32)
    assert matmul_exact(a, b).tolist() == [[2 * 128 * 2**31]]
    cnt = new_overflow_counter()
    assert matmul_wrap32(a, b, "grad", cnt).tolist() == [[py_wrap32(2 * 128 * 2**31)]]
    assert cnt == {"z": 0, "back_error": 0, "grad": 1, "update": 0}


def test_matmul_limb_split_large_k():
    """K * 128 * 2^31 >= 2^53 forces the limb split; the result is still exact."""
    rng = np.random.RandomState(3)
    k = 40000
    a = rng.randint(-128, 128, size=(2, k)).astype(np.int8)
    a[:, :100] = -128
    b = rand_i32(rng, (k, 2))
    b[:100, :] = I32_MIN
    want = py_matmul(a, b)
    assert matmul_exact(a, b).tolist() == want
    assert matmul_wrap32(a, b, "grad").tolist() == [[py_wrap32(v) for v in row] for row in want]


@pytest.mark.parametrize("limit", [2**12, 2**20, 2**30])
def test_forced_small_exact_limit(monkeypatch, limit):
    """Lowering the float exactness limit exercises the multi-limb and int64 paths."""
    monkeypatch.setattr(intmath, "EXACT_LIMIT", limit)
    rng = np.random.RandomState(limit % 97)
    a = rng.randint(-128, 128, size=(3, 20)).astype(np.int8)
    b = rand_i32(rng, (20, 3))
    assert matmul_exact(a, b).tolist() == py_matmul(a, b)
    x = rng.randint(-128, 128, size=(2, 2, 5, 5)).astype(np.int8)
    w = rand_i32(rng, (3, 2, 3, 3))
    assert conv2d_exact(x, w).tolist() == naive_conv(x, w)
    d = rand_i32(rng, (2, 3, 3, 3))
    assert conv2d_weight_grad_exact(x, d, 3).tolist() == naive_conv_grad(x, d, 3)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(1, 6),
    st.integers(1, 4),
    st.sampled_from([1, 100, 2**15, 2**31 - 1]),
    st.integers(0, 2**32 - 1),
)
def test_matmul_property(m, k, n, wide, seed):
    rng = np.random.RandomState(seed)
    a = rng.randint(-128, 128, size=(m, k)).astype(np.int8)
    b = rand_i32(rng, (k, n), -wide, wide)
    assert matmul_exact(a, b).tolist() == py_matmul(a, b)


def test_matmul_shape_error():
    with pytest.raises(ValueError, match="incompatible"):
        matmul_exact(np.zeros((2, 3), np.int8), np.zeros((4, 2), np.int32))


def naive_conv(xpad, w):
    bsz, c, hp, wp = xpad.shape
    f, _, k, _ = w.shape
    h, wo = hp - k + 1, wp - k + 1
    X, W = xpad.tolist(), w.tolist()
    return [
        [
            [
                [
                    sum(
                        W[ff][cc][u][v] * X[m][cc][i + u][j + v]
                        for cc in range(c)
                        for u in range(k)
                        for v in range(k)
                    )
                    for j in range(wo)
                ]
                for i in range(h)
            ]
            for ff in range(f)
        ]
        for m in range(bsz)
    ]


def naive_conv_grad(xpad, d, k):
    bsz, c, hp, wp = xpad.shape
    f = d.shape[1]
    h, wo = hp - k + 1, wp - k + 1
    X, D = xpad.tolist(), d.tolist()
    return [
        [
            [
                [
                    sum(
                        D[m][ff][i][j] * X[m][cc][i + u][j + v]
                        for m in range(bsz)
                        for i in range(h)
                        for j in range(wo)
                    )
                    for v in range(k)
                ]
                for u in range(k)
            ]
            for cc in range(c)
        ]
        for ff in range(f)
    ]


@pytest.mark.parametrize("k,wide", [(3, 64), (3, 2**31 - 1), (1, 1000), (2, 2**20)])
def test_conv_exact_and_grad(k, wide):
    rng = np.random.RandomState(k * 7 + wide % 13)
    x = rng.randint(-128, 128, size=(3, 2, 6, 5)).astype(np.int8)
    w = rand_i32(rng, (4, 2, k, k), -wide, wide)
    want = naive_conv(x, w)
    assert conv2d_exact(x, w).tolist() == want
    cnt = new_overflow_counter()
    got = conv2d_wrap32(x, w, "z", cnt)
    assert got.dtype == np.int32
    flat = np.array(want, dtype=object).ravel()
    assert got.ravel().tolist() == [py_wrap32(v) for v in flat]
    assert cnt["z"] == sum(1 for v in flat if not I32_MIN <= v <= I32_MAX)
    d = rand_i32(rng, (3, 4, 7 - k, 6 - k), -wide, wide)
    assert conv2d_weight_grad_exact(x, d, k).tolist() == naive_conv_grad(x, d, k)


def test_conv_chunking(monkeypatch):
    """Batch chunking of im2col (forced tiny chunks) does not change results."""
    monkeypatch.setattr(intmath, "_CONV_CHUNK_ELEMS", 50)
    rng = np.random.RandomState(11)
    x = rng.randint(-128, 128, size=(5, 2, 5, 5)).astype(np.int8)
    w = rand_i32(rng, (3, 2, 3, 3))
    assert conv2d_exact(x, w).tolist() == naive_conv(x, w)
    d = rand_i32(rng, (5, 3, 3, 3))
    assert conv2d_weight_grad_exact(x, d, 3).tolist() == naive_conv_grad(x, d, 3)


def test_conv_shape_errors():
    with pytest.raises(ValueError):
        conv2d_exact(np.zeros((1, 2, 4, 4), np.int8), np.zeros((1, 3, 3, 3), np.int32))
    with pytest.raises(ValueError):
        conv2d_exact(np.zeros((1, 1, 2, 2), np.int8), np.zeros((1, 1, 3, 3), np.int32))
    with pytest.raises(ValueError):
        conv2d_weight_grad_exact(np.zeros((1, 1, 4, 4), np.int8), np.zeros((1, 1, 3, 3), np.int32), 3)


def py_tdiv(a, d):
    q = abs(a) // abs(d)
    return q if (a >= 0) == (d > 0) else -q


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(I32_MIN, I32_MAX), min_size=1, max_size=20), st.integers(1, 2**31 - 1))
def test_tdiv_const_int32(vals, d):
    got = tdiv_const(np.array(vals, dtype=np.int32), d)
    assert got.tolist() == [py_tdiv(v, d) for v in vals]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=20), st.integers(1, 2**40))
def test_tdiv_const_int64(vals, d):
    assert tdiv_const(np.array(vals, dtype=np.int64), d).tolist() == [py_tdiv(v, d) for v in vals]


def test_tdiv_const_near_integers_and_errors():
    # quotients just below an integer: the float path must not round up
    d = 2**27 - 1
    vals = [d * q - 1 for q in range(-16, 17)] + [d * q for q in range(-16, 17)] + [I32_MIN, I32_MAX]
    vals = [v for v in vals if I32_MIN <= v <= I32_MAX]
    assert tdiv_const(np.array(vals, dtype=np.int32), d).tolist() == [py_tdiv(v, d) for v in vals]
    with pytest.raises(ValueError):
        tdiv_const(np.array([1]), 0)
    with pytest.raises(ValueError):
        tdiv_const(np.array([1]), -3)


def test_wrap32_counted():
    v = np.array([2**31, -(2**31) - 1, 5, -(2**31), 2**40 + 7], dtype=np.int64)
    cnt = new_overflow_counter()
    got = wrap32_counted(v, "update", cnt)
    assert got.dtype == np.int32 and got.tolist() == [py_wrap32(int(x)) for x in v]
    assert cnt["update"] == 3
    with pytest.raises(ValueError):
        wrap32_counted(v, "nope", cnt)


@pytest.mark.parametrize("wide", [2**20, 2**31 - 1])
def test_conv_medium_scale_against_int64_einsum(wide):
    """A medium layer (BLAS-sized GEMMs; limb path for the int32 extremes), checked against an
    independent int64 einsum (exact here: every sum is far below 2^63)."""
    rng = np.random.RandomState(wide % 101)
    x = rng.randint(-128, 128, size=(6, 48, 18, 18)).astype(np.int8)
    w = rand_i32(rng, (40, 48, 3, 3), -wide, wide)
    x64, w64 = x.astype(np.int64), w.astype(np.int64)
    want = np.zeros((6, 40, 16, 16), dtype=np.int64)
    for u in range(3):
        for v in range(3):
            want += np.einsum("mchw,fc->mfhw", x64[:, :, u : u + 16, v : v + 16], w64[:, :, u, v])
    assert np.array_equal(conv2d_exact(x, w), want)
    assert np.array_equal(conv2d_wrap32(x, w), ((want + 2**31) % 2**32 - 2**31).astype(np.int32))
    d = rand_i32(rng, (6, 40, 16, 16), -wide, wide).astype(np.int64)
    g = np.zeros((40, 48, 3, 3), dtype=np.int64)
    for u in range(3):
        for v in range(3):
            g[:, :, u, v] = np.einsum("mfhw,mchw->fc", d, x64[:, :, u : u + 16, v : v + 16])
    assert np.array_equal(conv2d_weight_grad_exact(x, d.astype(np.int32), 3), g)
    a = rng.randint(-128, 128, size=(64, 700)).astype(np.int8)
    b = rand_i32(rng, (700, 300), -wide, wide)
    assert np.array_equal(matmul_exact(a, b), a.astype(np.int64) @ b.astype(np.int64))
