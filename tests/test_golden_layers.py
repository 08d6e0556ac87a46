"""Every golden layer's forward and backward against straightforward Python-int loops."""

from __future__ import annotations

import numpy as np
import pytest

from nitro_hw.golden.intmath import new_overflow_counter
from nitro_hw.golden.layers import (
    DROPOUT_RESCALE,
    Dropout,
    Flatten,
    IntegerConv2d,
    IntegerLinear,
    MaxPool2d,
    NitroRelu,
    NitroScaling,
    PocketLeakyReLU,
    PocketReLU,
)

MEAN = {3: 31, 4: 36, 5: 38, 7: 40, 8: 42, 10: 43, 15: 44, 16: 44, 20: 45}


def tdiv(a: int, d: int) -> int:
    q = abs(a) // abs(d)
    return q if (a >= 0) == (d > 0) else -q


def w32(v: int) -> int:
    v %= 1 << 32
    return v - (1 << 32) if v >= 1 << 31 else v


def sgd(w: int, g: int, lr_inv: int, amp: int, decay: int) -> tuple[int, int]:
    u = tdiv(g, lr_inv * amp)
    if decay:
        u = w32(u + tdiv(w, decay))
    return u, w32(w - u)


def rand_w(rng, shape, big=False):
    if big:
        return rng.randint(-(2**31), 2**31, size=shape, dtype=np.int64).astype(np.int32)
    return rng.randint(-3000, 3001, size=shape).astype(np.int32)


@pytest.mark.parametrize("big", [False, True])
def test_linear_forward_backward(big):
    rng = np.random.RandomState(1 + big)
    b, n_in, n_out = 4, 7, 3
    lay = IntegerLinear(n_in, n_out, rng, amp=5, decay_inv=700, propagate_backward=True)
    lay.weight = rand_w(rng, (n_out, n_in), big)
    w0 = lay.weight.tolist()
    x = rng.randint(-128, 128, size=(b, n_in)).astype(np.int8)
    cnt = new_overflow_counter()
    z = lay.forward(x, cnt, store=True)
    X = x.tolist()
    zw = [[w32(sum(X[m][i] * w0[o][i] for i in range(n_in))) for o in range(n_out)] for m in range(b)]
    assert z.dtype == np.int32 and z.tolist() == zw
    delta = rand_w(rng, (b, n_out), big)
    D = delta.tolist()
    r = lay.backward(delta, 3, cnt)
    assert r.d_in.tolist() == [
        [w32(sum(D[m][o] * w0[o][i] for o in range(n_out))) for i in range(n_in)] for m in range(b)
    ]
    g = [[w32(sum(D[m][o] * X[m][i] for m in range(b))) for i in range(n_in)] for o in range(n_out)]
    assert r.grad.tolist() == g
    uw = [[sgd(w0[o][i], g[o][i], 3, 5, 700) for i in range(n_in)] for o in range(n_out)]
    assert r.update.tolist() == [[t[0] for t in row] for row in uw]
    assert r.weight.tolist() == [[t[1] for t in row] for row in uw]
    assert lay.weight.tolist() == r.weight.tolist()
    assert r.weight.dtype == np.int32 and r.grad.dtype == np.int32
    if big:
        assert cnt["z"] > 0 and cnt["grad"] > 0 and cnt["back_error"] > 0


def test_linear_no_propagate_and_errors():
    rng = np.random.RandomState(0)
    lay = IntegerLinear(4, 2, rng)
    x = rng.randint(-128, 128, size=(3, 4)).astype(np.int8)
    with pytest.raises(RuntimeError):
        lay.backward(np.zeros((3, 2), np.int32), 1)
    lay.forward(x, store=True)
    assert lay.backward(np.ones((3, 2), np.int32), 1).d_in is None
    with pytest.raises(TypeError, match="x must have dtype"):
        lay.forward(x.astype(np.int32))
    with pytest.raises(TypeError, match="x must have dtype"):
        lay.forward(x.astype(np.float64))
    with pytest.raises(ValueError, match="features"):
        lay.forward(np.zeros((3, 5), np.int8))
    with pytest.raises(ValueError, match="lr_inv"):
        lay.backward(np.ones((3, 2), np.int32), 0)
    with pytest.raises(ValueError, match="delta shape"):
        lay.backward(np.ones((3, 3), np.int32), 1)


def naive_conv(x, w, pad):
    b, c, h, wd = len(x), len(x[0]), len(x[0][0]), len(x[0][0][0])
    f, k = len(w), len(w[0][0])

    def xp(m, cc, i, j):
        i, j = i - pad, j - pad
        return x[m][cc][i][j] if 0 <= i < h and 0 <= j < wd else 0

    ho, wo = h + 2 * pad - k + 1, wd + 2 * pad - k + 1
    z = [
        [
            [
                [
                    sum(
                        w[ff][cc][u][v] * xp(m, cc, i + u, j + v)
                        for cc in range(c)
                        for u in range(k)
                        for v in range(k)
                    )
                    for j in range(wo)
                ]
                for i in range(ho)
            ]
            for ff in range(f)
        ]
        for m in range(b)
    ]
    return z, xp


@pytest.mark.parametrize("k,pad,big", [(3, 1, False), (3, 0, True), (2, 1, False), (1, 0, True)])
def test_conv_forward_backward(k, pad, big):
    rng = np.random.RandomState(k * 10 + pad + big)
    b, c, f, h = 2, 2, 3, 5
    lay = IntegerConv2d(c, f, k, pad, rng=rng, amp=7, decay_inv=1000)
    lay.weight = rand_w(rng, (f, c, k, k), big)
    w0 = lay.weight.tolist()
    x = rng.randint(-128, 128, size=(b, c, h, h)).astype(np.int8)
    z = lay.forward(x, store=True)
    zw, xp = naive_conv(x.tolist(), w0, pad)
    ho = h + 2 * pad - k + 1
    assert z.shape == (b, f, ho, ho) and z.dtype == np.int32
    assert z.tolist() == [[[[w32(v) for v in row] for row in ch] for ch in s] for s in zw]
    delta = rand_w(rng, (b, f, ho, ho), big)
    D = delta.tolist()
    r = lay.backward(delta, 2)
    assert r.d_in is None
    g = [
        [
            [
                [
                    w32(
                        sum(
                            D[m][ff][i][j] * xp(m, cc, i + u, j + v)
                            for m in range(b)
                            for i in range(ho)
                            for j in range(ho)
                        )
                    )
                    for v in range(k)
                ]
                for u in range(k)
            ]
            for cc in range(c)
        ]
        for ff in range(f)
    ]
    assert r.grad.tolist() == g
    flat_w, flat_g = np.array(w0).ravel().tolist(), np.array(g).ravel().tolist()
    assert r.weight.ravel().tolist() == [
        sgd(a, q, 2, 7, 1000)[1] for a, q in zip(flat_w, flat_g, strict=True)
    ]


def test_conv_errors():
    with pytest.raises(ValueError, match="stride=1"):
        IntegerConv2d(1, 1, 3, 1, stride=2)
    lay = IntegerConv2d(2, 1, 3, 1)
    with pytest.raises(ValueError, match="channels"):
        lay.forward(np.zeros((1, 3, 4, 4), np.int8))
    with pytest.raises(ValueError):
        lay.forward(np.zeros((1, 2, 4), np.int8))
    with pytest.raises(RuntimeError):
        lay.backward(np.zeros((1, 1, 4, 4), np.int32), 1)


def test_scaling_exhaustive_sample():
    rng = np.random.RandomState(5)
    z = np.concatenate(
        [
            rng.randint(-(2**31), 2**31, size=2000, dtype=np.int64),
            [-(2**31), 2**31 - 1, 0, -1, 1, 6911, -6912, 6912 * 127, -6912 * 128],
        ]
    ).astype(np.int32)
    for fan_in in (27, 784, 4608, 1):
        sc = NitroScaling(fan_in)
        assert sc.scale_factor == 256 * fan_in
        got = sc.forward(z)
        assert got.dtype == np.int8
        assert got.tolist() == [max(-127, min(127, tdiv(int(v), 256 * fan_in))) for v in z]
        d = np.arange(-3, 4, dtype=np.int32)
        assert sc.backward(d) is d


@pytest.mark.parametrize("alpha", sorted(MEAN))
def test_nitro_relu_exhaustive(alpha):
    s = np.arange(-128, 128, dtype=np.int16).astype(np.int8)
    act = NitroRelu(alpha)
    h = act.forward(s, store=True)
    want = [(v if v >= 0 else tdiv(max(v, -127), alpha)) - MEAN[alpha] for v in range(-128, 128)]
    assert h.dtype == np.int8 and h.tolist() == want
    pocket = PocketLeakyReLU(alpha)
    assert pocket.forward(s).tolist() == [v + MEAN[alpha] for v in want]
    for dv in (0, 1, -1, 7, -7, 1000003, -1000003, 2**31 - 1, -(2**31) + 1, -(2**31)):
        d = np.full(256, dv, dtype=np.int32)
        got = act.backward(d)
        ginv = [1 if 0 <= v < 127 else alpha if -127 <= v < 0 else 2**31 - 1 for v in range(-128, 128)]
        assert got.dtype == np.int32 and got.tolist() == [tdiv(dv, g) for g in ginv]
    assert act.backward(np.full(256, 100, np.int32))[127 + 128] == 0  # s = 127 blocks
    assert act.backward(np.full(256, 100, np.int32))[-127 + 128] == 100 // alpha  # s = -127 passes


def test_alpha4_range_and_bad_alpha():
    h = NitroRelu(4).forward(np.arange(-127, 128, dtype=np.int16).astype(np.int8))
    assert int(h.min()) == -67 and int(h.max()) == 91
    with pytest.raises(ValueError, match="alpha"):
        NitroRelu(6)


def test_pocket_relu():
    x = np.arange(-128, 128, dtype=np.int16).astype(np.int8)
    act = PocketReLU()
    assert act.forward(x, store=True).tolist() == [max(0, v) for v in range(-128, 128)]
    d = np.full(256, 9, np.int32)
    assert act.backward(d).tolist() == [9 if 0 < v <= 127 else 0 for v in range(-128, 128)]


def naive_pool(x, kh, kw, ph, pw):
    """Zero-padded, first-max pooling with floor window count; returns (out, argmax cell or None)."""
    b, c, h, w = len(x), len(x[0]), len(x[0][0]), len(x[0][0][0])
    oh, ow = (h + 2 * ph - kh) // kh + 1, (w + 2 * pw - kw) // kw + 1
    out = [[[[0] * ow for _ in range(oh)] for _ in range(c)] for _ in range(b)]
    arg = [[[[None] * ow for _ in range(oh)] for _ in range(c)] for _ in range(b)]
    for m in range(b):
        for cc in range(c):
            for i in range(oh):
                for j in range(ow):
                    best, where = None, None
                    for u in range(kh):
                        for v in range(kw):
                            r, q = i * kh + u - ph, j * kw + v - pw
                            val = x[m][cc][r][q] if 0 <= r < h and 0 <= q < w else 0
                            if best is None or val > best:
                                best, where = val, ((r, q) if 0 <= r < h and 0 <= q < w else None)
                    out[m][cc][i][j], arg[m][cc][i][j] = best, where
    return out, arg


@pytest.mark.parametrize(
    "shape,kernel,pad",
    [
        ((2, 2, 8, 8), (2, 2), (0, 0)),
        ((2, 3, 7, 7), (2, 2), (0, 0)),
        ((1, 2, 14, 14), (8, 4), (4, 2)),
        ((2, 2, 7, 7), (4, 2), (2, 1)),
        ((2, 2, 3, 3), (2, 1), (1, 0)),
        ((1, 2, 28, 28), (8, 4), (4, 0)),
    ],
)
def test_maxpool_forward_backward(shape, kernel, pad):
    rng = np.random.RandomState(sum(shape) + kernel[0])
    x = rng.randint(-6, 3, size=shape).astype(
        np.int8
    )  # few distinct values: many ties, many all-negative windows
    pool = MaxPool2d(kernel, pad)
    out = pool.forward(x, store=True)
    want, arg = naive_pool(x.tolist(), *kernel, *pad)
    assert out.dtype == np.int8 and out.tolist() == want
    delta = rng.randint(-1000, 1000, size=out.shape).astype(np.int32)
    back = pool.backward(delta)
    exp = np.zeros(shape, dtype=np.int64)
    for idx in np.ndindex(out.shape):
        cell = arg[idx[0]][idx[1]][idx[2]][idx[3]]
        if cell is not None:
            exp[idx[0], idx[1], cell[0], cell[1]] = delta[idx]
    assert back.dtype == np.int32 and back.tolist() == exp.tolist()
    assert pool.gather(x).tolist() == want  # values at the argmax cells are the maxima


def test_maxpool_quirks():
    # all-negative padded window gives 0 (zero padding, spec §2.6), -inf padding gives the real max
    x = np.full((1, 1, 2, 2), -5, dtype=np.int8)
    assert MaxPool2d(2, 1).forward(x).tolist() == [[[[0, 0], [0, 0]]]]
    assert MaxPool2d(2, 1, pad_value="neg_inf").forward(x).tolist() == [[[[-5, -5], [-5, -5]]]]
    # ties go to the first cell in row-major window order
    p = MaxPool2d((2, 2))
    p.forward(np.array([[[[1, 3], [3, 3]]]], dtype=np.int8), store=True)
    assert p.backward(np.array([[[[7]]]], np.int32)).tolist() == [[[[0, 7], [0, 0]]]]
    # trailing rows not covered by a window get no error; int16 input keeps its dtype
    x = np.arange(25, dtype=np.int16).reshape(1, 1, 5, 5)
    out = p.forward(x, store=True)
    assert out.dtype == np.int16 and out.tolist() == [[[[6, 8], [16, 18]]]]
    back = p.backward(np.ones((1, 1, 2, 2), np.int32))
    assert back[0, 0, 4].tolist() == [0] * 5 and back[0, 0, :, 4].tolist() == [0] * 5
    with pytest.raises(ValueError, match="padding"):
        MaxPool2d(2, 2)
    with pytest.raises(ValueError, match="stride"):
        MaxPool2d(2, 0, stride=1)
    assert MaxPool2d((2, 1), 0, stride=(2, 1)).kernel_size == (2, 1)
    with pytest.raises(ValueError, match="pad_value"):
        MaxPool2d(2, 0, pad_value="min")


def test_flatten():
    x = np.arange(24, dtype=np.int8).reshape(2, 3, 2, 2)
    fl = Flatten()
    y = fl.forward(x, store=True)
    assert y.tolist() == [list(range(12)), list(range(12, 24))]
    assert fl.backward(y).tolist() == x.tolist()


@pytest.mark.parametrize("p", [0.1, 0.15, 0.5, 0.95])
def test_dropout(p):
    assert DROPOUT_RESCALE[round(100 * p)] == int(1000 // (1 - p) + 1e-9) or p == 0.95
    x = np.random.RandomState(2).randint(-67, 92, size=(4, 30)).astype(np.int8)
    drop = Dropout(p)
    rng_a, rng_b = np.random.RandomState(9), np.random.RandomState(9)
    out = drop.forward(x, True, rng_a)
    mask = rng_b.binomial(1, 1 - p, size=x.shape)  # the same draw, made independently
    f = {0.1: 1111, 0.15: 1176, 0.5: 2000, 0.95: 20000}[p]
    assert out.dtype == np.int16
    assert out.tolist() == [
        [tdiv(int(v) * int(m) * f, 1000) for v, m in zip(r, mr, strict=True)]
        for r, mr in zip(x.tolist(), mask.tolist(), strict=True)
    ]
    assert rng_a.randint(1 << 30) == rng_b.randint(1 << 30)  # the stream advanced identically
    assert drop.forward(x, False) is x
    d = np.full(x.shape, -1000, np.int32)
    assert drop.backward(d).tolist() == (-mask * f).tolist()


def test_dropout_errors():
    for bad in (0.0, 0.07, 1.0, -0.05):
        with pytest.raises(ValueError, match="multiple of 0.05"):
            Dropout(bad)
    with pytest.raises(TypeError, match="rng"):
        Dropout(0.1).forward(np.zeros((1, 2), np.int8), True, None)
