"""reciprocal() exactness and the TruncatingDivider in the Amaranth simulator."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from nitro_hw.golden.primitives import INT32_MAX, INT32_MIN, tdiv
from nitro_hw.hw.divider import (
    MULTIPLIER_WIDTH,
    Reciprocal,
    TruncatingDivider,
    divider_constants,
    max_divisor,
    reciprocal,
)

SCALE_FACTORS = [2304, 6912, 12800, 25600, 51200, 131072, 200704, 262144, 294912, 524288, 589824,
                 768000, 786432, 917504, 1048576, 1179648, 16384, 8192, 4096]
LR_DIVISORS = ([327680 * 3**k for k in range(6)] + [512 * 3**k for k in range(6)]
               + [512 * 640 * 3**k for k in range(6, 9)])
DECAYS = [500, 3000, 3500, 4500, 6000, 7500, 8000, 10000, 12000, 19000, 25000, 28000, 29000, 30000]
SMALL = [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 25, 127, 255, 641, 1000, 65535, 65537]
HUGE = [2**31 - 1, 2**31, 2**31 + 1, 2**32 - 1, 3 * 2**30, 2**27, 2**27 - 1, 79626240]
ZOO = sorted(set(SCALE_FACTORS + LR_DIVISORS + DECAYS + SMALL + HUGE))


def int_tdiv(a: int, d: int) -> int:
    """Independent truncating division (Python ints), only used to cross-check tdiv itself."""
    q = abs(a) // d
    return q if a >= 0 else -q


def boundary_dividends(d: int, bits: int = 32) -> list[int]:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    out = {lo, lo + 1, lo + 2, -1, 0, 1, hi - 1, hi}
    kmax = (1 << (bits - 1)) // d
    for k in {0, 1, 2, kmax - 1, kmax, kmax + 1}:
        for delta in (-1, 0, 1):
            for sign in (1, -1):
                v = sign * (k * d + delta)
                if lo <= v <= hi:
                    out.add(v)
    return sorted(out)


# --- Python level ------------------------------------------------------------------------------


@pytest.mark.parametrize("d", ZOO)
def test_reciprocal_exact_all_16bit_and_boundaries(d):
    r = reciprocal(d)
    assert 0 <= r.multiplier < 2**MULTIPLIER_WIDTH and 0 <= r.shift <= 63
    a = np.arange(-(2**16), 2**16, dtype=np.int64)  # every 17-bit signed dividend
    assert np.array_equal(r.divide(a), tdiv(a, d))
    b = np.array(boundary_dividends(d), dtype=np.int64)
    assert np.array_equal(r.divide(b), tdiv(b, d))
    for v in boundary_dividends(d):  # exact Python ints as well
        assert r.divide(v) == int_tdiv(v, d) == tdiv(v, d)


def exact_for_every_magnitude(r: Reciprocal) -> bool:
    """True iff ``(n * m) >> s == n // d`` for EVERY ``0 <= n <= 2**(dividend_bits-1)``.

    ``f(n) = (n*m) >> s`` is non-decreasing in ``n`` and ``n // d`` is constant (= k) on
    each step ``[k*d, k*d + d - 1]``; so ``f`` equals it on the whole step iff it equals k
    at both ends. Checking both ends of every step is an exhaustive check with only
    ``2 * (n_max / d + 1)`` evaluations (independent of the proof in divider.py).
    """
    d, n_max = r.divisor, 1 << (r.dividend_bits - 1)
    k = np.arange(0, n_max // d + 1, dtype=np.int64)
    starts = k * d
    ends = np.minimum(starts + d - 1, n_max)
    m, s = np.int64(r.multiplier), np.int64(r.shift)
    return bool(np.array_equal((starts * m) >> s, k) and np.array_equal((ends * m) >> s, k))


@pytest.mark.parametrize("d", [d for d in ZOO if 500 <= d <= 2**32 - 1])
def test_reciprocal_exact_for_every_int32_dividend(d):
    """Every one of the 2**32 signed dividends, for every zoo divisor >= 500 (step ends)."""
    assert exact_for_every_magnitude(reciprocal(d))


def test_reciprocal_every_decay_divisor_every_int16_dividend():
    """Every decay_inv in 500..30000 (16-bit weights) for every 16-bit dividend."""
    for d in range(500, 30001):
        assert exact_for_every_magnitude(reciprocal(d, 16)), d


def test_step_end_check_can_fail():
    r = reciprocal(2304)
    assert not exact_for_every_magnitude(Reciprocal(2304, r.multiplier - 1, r.shift))
    assert not exact_for_every_magnitude(Reciprocal(2304, r.multiplier + 1, r.shift))


@pytest.mark.parametrize("d", DECAYS + [1, 2, 3, 7, 255, 32767, 32768, 32769, 65535])
def test_reciprocal_16bit_dividends_exhaustive(d):
    r = reciprocal(d, 16)
    assert r.multiplier < 2**16 and r.shift <= 31
    a = np.arange(-(2**15), 2**15, dtype=np.int64)
    assert np.array_equal(r.divide(a), tdiv(a, d))


@pytest.mark.parametrize("bits", [2, 3, 5, 8, 10, 12])
def test_reciprocal_every_divisor_every_dividend_small_widths(bits):
    """The proof is width-generic: check it exhaustively where that is cheap."""
    a = np.arange(-(2 ** (bits - 1)), 2 ** (bits - 1), dtype=np.int64)
    for d in range(1, 2**bits):
        r = reciprocal(d, bits)
        assert r.multiplier < 2**bits and r.shift <= 2 * bits - 1
        assert np.array_equal(r.divide(a), tdiv(a, d)), d


@settings(max_examples=400, deadline=None)
@given(d=st.integers(1, 2**32 - 1), data=st.data())
def test_reciprocal_random_divisors(d, data):
    r = reciprocal(d)
    assert r.multiplier < 2**32 and r.shift <= 63
    if d >= 4096:  # cheap enough to check every int32 dividend
        assert exact_for_every_magnitude(r)
    values = data.draw(st.lists(st.integers(INT32_MIN, INT32_MAX), min_size=1, max_size=50))
    values += boundary_dividends(d)
    for v in values:
        assert r.divide(v) == tdiv(v, d)
    arr = np.array(values, dtype=np.int64)
    assert np.array_equal(r.divide(arr), tdiv(arr, d))


def test_reciprocal_minimal_shift_and_powers_of_two():
    for k in range(32):
        assert reciprocal(2**k) == Reciprocal(2**k, 1, k, 32)
    # smallest shift: one less must violate the exactness condition
    for d in ZOO:
        r = reciprocal(d)
        if r.shift > 0:
            s = r.shift - 1
            m = -((-(1 << s)) // d)
            assert (m * d - (1 << s)) * 2**31 >= 1 << s


@pytest.mark.parametrize("bad", [0, -1, -(2**31), 2**32, 2**40, 1.5, True, "7", None])
def test_reciprocal_rejects_bad_divisor(bad):
    with pytest.raises(ValueError, match="divisor d"):
        reciprocal(bad)


def test_reciprocal_rejects_bad_width_and_limits():
    with pytest.raises(ValueError, match="dividend_bits"):
        reciprocal(3, dividend_bits=1)
    assert max_divisor(32) == 2**32 - 1
    assert reciprocal(np.int64(2304)) == reciprocal(2304)


def test_divider_constants_beyond_range():
    assert divider_constants(2**31 + 1) == (0, 0)
    assert divider_constants(327680 * 3**20) == (0, 0)
    r = reciprocal(2**31)
    assert divider_constants(2**31) == (r.multiplier, r.shift)
    with pytest.raises(ValueError, match="divisor d"):
        divider_constants(0)


# --- Amaranth simulator ------------------------------------------------------------------------


def run_stream(dut, config: dict, inputs: list, *, idle: float = 0.0, stall: float = 0.0,
               seed: int = 0) -> tuple[list, list[int], list[int]]:
    """Drive ``inputs`` into ``dut.i``, collect ``dut.o``; returns (outputs, accept cycles, output cycles)."""
    outputs: list = []
    acc_cycles: list[int] = []
    out_cycles: list[int] = []

    async def testbench(ctx):
        rng = random.Random(seed)
        for name, value in config.items():
            ctx.set(getattr(dut, name), value)
        idx, cycle, pending, quiet = 0, 0, False, 0
        while quiet < 2 * dut.latency + 8:
            if not pending and idx < len(inputs) and rng.random() >= idle:
                pending = True
                ctx.set(dut.i.payload, inputs[idx])
            ctx.set(dut.i.valid, pending)
            ctx.set(dut.o.ready, rng.random() >= stall)
            _, _, i_ready, o_valid, o_ready, o_payload = await ctx.tick().sample(
                dut.i.ready, dut.o.valid, dut.o.ready, dut.o.payload)
            if pending and i_ready:
                acc_cycles.append(cycle)
                pending, idx = False, idx + 1
            if o_valid and o_ready:
                outputs.append(o_payload)
                out_cycles.append(cycle)
            quiet = quiet + 1 if idx == len(inputs) and len(outputs) >= len(inputs) else 0
            cycle += 1
            assert cycle < 20 * len(inputs) + 200, "simulation stuck"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return outputs, acc_cycles, out_cycles


def check_latency(dut, acc_cycles, out_cycles, n):
    """Back-to-back input with o.ready high: output k at accept cycle + latency, none else."""
    assert acc_cycles == list(range(n)), "unit did not accept one input per cycle"
    assert out_cycles == [c + dut.latency for c in acc_cycles]


@pytest.mark.parametrize("d", [1, 3, 7, 2304, 200704, 327680, 1179648, 2**31 - 1, 2**31])
def test_divider_sim_latency_and_values(d):
    dut = TruncatingDivider(32)
    rng = random.Random(d)
    values = boundary_dividends(d) + [rng.randint(INT32_MIN, INT32_MAX) for _ in range(200)]
    outs, acc, out_c = run_stream(dut, dut.config(d), values)
    assert outs == [tdiv(v, d) for v in values]
    check_latency(dut, acc, out_c, len(values))


def test_divider_sim_backpressure_and_reconfiguration():
    """Random idle/stall; no value lost or duplicated; config changes mid-stream by chunks."""
    dut = TruncatingDivider(32)
    rng = random.Random(5)
    for d in [5, 16384, 589824, 79626240, 2**32 - 1, 2**40]:
        values = [rng.randint(INT32_MIN, INT32_MAX) for _ in range(150)] + boundary_dividends(min(d, 2**31))
        outs, _, _ = run_stream(dut, dut.config(d), values, idle=0.3, stall=0.4, seed=d % 1000)
        assert outs == [tdiv(v, d) for v in values]


def test_divider_config_sampled_with_each_input():
    """Change the divisor every cycle: each quotient uses the divisor present at acceptance."""
    dut = TruncatingDivider(32)
    rng = random.Random(11)
    divisors = [rng.choice(ZOO) for _ in range(120)]
    values = [rng.randint(INT32_MIN, INT32_MAX) for _ in range(120)]
    outputs = []

    async def testbench(ctx):
        ctx.set(dut.o.ready, 1)
        for d, v in zip(divisors, values, strict=True):
            for name, value in dut.config(d).items():
                ctx.set(getattr(dut, name), value)
            ctx.set(dut.i.payload, v)
            ctx.set(dut.i.valid, 1)
            _, _, o_valid, o_payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if o_valid:
                outputs.append(o_payload)
        ctx.set(dut.i.valid, 0)
        for _ in range(dut.latency + 2):
            _, _, o_valid, o_payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if o_valid:
                outputs.append(o_payload)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert outputs == [tdiv(v, d) for v, d in zip(values, divisors, strict=True)]


@pytest.mark.parametrize("width", [8, 16])
def test_divider_narrow_width_exhaustive_sim(width):
    dut = TruncatingDivider(width)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    values = list(range(lo, hi + 1)) if width == 8 else list(range(lo, lo + 300)) + list(range(-300, 300))
    for d in [1, 3, 100, 127, 128, 255] if width == 8 else [1, 500, 30000, 65535]:
        outs, acc, out_c = run_stream(dut, dut.config(d), values)
        assert outs == [tdiv(v, d) for v in values]
        check_latency(dut, acc, out_c, len(values))


def test_divider_rejects_bad_width():
    for bad in [1, 65, 32.0, True]:
        with pytest.raises(ValueError, match="width"):
            TruncatingDivider(bad)
    assert TruncatingDivider(32).dsp18 == 4 and TruncatingDivider(16).dsp18 == 1
    assert TruncatingDivider(32).latency == 8


@pytest.mark.parametrize("width", [2, 5, 24, 40, 64])
def test_divider_other_widths_sim(width):
    """Other slice geometries of the partial-product multiplier (1, 2, 3 and 4 slices)."""
    dut = TruncatingDivider(width)
    rng = random.Random(width)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    for d in {1, 2, 3, (1 << width) - 1, hi, rng.randint(1, (1 << width) - 1), rng.randint(1, 1000)}:
        values = [lo, lo + 1, -1, 0, 1, hi] + [rng.randint(lo, hi) for _ in range(60)]
        outs, _, _ = run_stream(dut, dut.config(d), values, idle=0.2, stall=0.2, seed=d % 97)
        assert outs == [tdiv(v, d) for v in values]
