"""Integer initializers (spec §5.1): bounds table, gains, cap 64 and the legacy RNG stream."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nitro_hw.golden.init import INIT_CAP, LEAKY_RELU_GAINS, init_bound, init_weights

# spec §5.1: fan_in -> Kaiming leaky bound (alpha = 4, gain 1372, capped at 64)
KAIMING_TABLE = {
    9: 64,
    27: 60,
    50: 43,
    100: 30,
    200: 21,
    512: 13,
    784: 10,
    1024: 9,
    1152: 9,
    2048: 6,
    2304: 6,
    3000: 5,
    3072: 5,
    3584: 5,
    4096: 4,
    4608: 4,
}


@pytest.mark.parametrize("fan_in,bound", sorted(KAIMING_TABLE.items()))
def test_kaiming_leaky_table(fan_in, bound):
    assert init_bound("uniform_kaiming_leaky_relu", fan_in, 10) == bound


def test_gains_table_matches_formula():
    for alpha, g in LEAKY_RELU_GAINS.items():
        assert g == round(1000 * math.sqrt(2 / (1 + 1 / alpha**2)))  # rounded, not floored


def test_other_schemes():
    # independent evaluation of the §5.1 formulas
    for fan_in, fan_out in [(1, 1), (9, 1152), (784, 100), (4608, 4608), (100000, 10)]:
        r = math.isqrt(fan_in)
        assert init_bound("uniform_kaiming_relu", fan_in, fan_out) == min(
            64, 1414 * 128 * 1732 // (r * 10**6)
        )
        rx = math.isqrt(fan_in + fan_out)
        assert init_bound("uniform_xavier", fan_in, fan_out) == min(64, 1667 * 128 * 2449 // (rx * 10**6))
        assert init_bound("uniform_std", fan_in, fan_out) == min(64, math.isqrt(64 * 32767 // fan_in))
        assert init_bound("uniform_fixed", fan_in, fan_out) == 64
        for s in ("uniform_kaiming_leaky_relu", "uniform_kaiming_relu", "uniform_xavier", "uniform_std"):
            assert 0 <= init_bound(s, fan_in, fan_out) <= INIT_CAP
    assert init_bound("uniform_std", 100000, 1) == 4


def test_draw_is_randint_int32_inclusive():
    shape = (50, 784)
    w = init_weights(shape, "uniform_kaiming_leaky_relu", 784, 50, np.random.RandomState(42))
    np.random.seed(42)  # the legacy global stream the reference uses
    ref = np.random.randint(-10, 11, size=shape, dtype=np.int32)
    assert w.dtype == np.int32 and np.array_equal(w, ref)
    assert int(w.min()) == -10 and int(w.max()) == 10  # both ends included


def test_zeros_ones_draw_nothing():
    rng = np.random.RandomState(1)
    assert not init_weights((3, 2), "zeros", 2, 3, rng).any()
    assert (init_weights((3, 2), "ones", 2, 3, rng) == 1).all()
    assert rng.randint(1 << 30) == np.random.RandomState(1).randint(1 << 30)


def test_errors():
    with pytest.raises(ValueError, match="unknown init scheme"):
        init_bound("he", 10, 10)
    with pytest.raises(ValueError):
        init_bound("uniform_std", 0, 10)
    with pytest.raises(TypeError, match="RandomState"):
        init_weights((2,), "uniform_std", 2, 2, np.random.default_rng(0))
