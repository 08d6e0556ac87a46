"""SerialDivider: q = sign(a) * ((|a| * multiplier) >> shift) on one 16x16 multiplier, fixed latency."""

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nitro_hw.golden.primitives import tdiv
from nitro_hw.hw.divider import divider_constants
from nitro_hw.hw.serial_divider import SerialDivider

INT32 = st.integers(-2**31, 2**31 - 1)


def _reference(a: int, mult: int, shift: int) -> int:
    mag = (abs(a) * mult) >> shift
    return -mag if a < 0 else mag


def _run(cases: list[tuple[int, int, int]], gap: int = 0) -> list[tuple[int, int]]:
    """(quotient, cycles from start to done) of every case, one division after the other."""
    dut = SerialDivider()
    got = []

    async def bench(ctx):
        for a, mult, shift in cases:
            ctx.set(dut.a, a)
            ctx.set(dut.multiplier, mult)
            ctx.set(dut.shift, shift)
            ctx.set(dut.start, 1)
            await ctx.tick()
            # the operands may change once the start cycle is over
            ctx.set(dut.start, 0)
            ctx.set(dut.a, ~a)
            ctx.set(dut.multiplier, mult ^ 0xFFFF)
            ctx.set(dut.shift, 63 - shift)
            cycles = 1
            while not ctx.get(dut.done):
                assert ctx.get(dut.busy)
                await ctx.tick()
                cycles += 1
            got.append((ctx.get(dut.q), cycles))
            for _ in range(gap):
                await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got


@st.composite
def _operands(draw):
    """A dividend and a reciprocal-like ``multiplier <= 2**shift`` (so ``|q| <= |a|`` fits 32 bits)."""
    shift = draw(st.integers(0, 63))
    return draw(INT32), draw(st.integers(0, min(2**32 - 1, 2**shift))), shift


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_operands(), min_size=1, max_size=8))
def test_quotient_and_fixed_latency(cases):
    got = _run(cases)
    assert [q for q, _ in got] == [_reference(*c) for c in cases]
    assert {n for _, n in got} == {SerialDivider.latency}


@pytest.mark.parametrize("d", [1, 2, 3, 4, 7, 100, 12000, 2**31 - 1, 2**31])
def test_truncating_division_with_reciprocal_constants(d):
    # with divider_constants(d) the divider is tdiv(a, d) for every int32 a (the engine divides by
    # alpha and by 2**31 - 1 this way); the extremes and random dividends
    rng = np.random.RandomState(d % 1000)
    a = [0, 1, -1, d - 1, -(d - 1), d, -d, 2**31 - 1, -2**31, *rng.randint(-2**31, 2**31, size=12).tolist()]
    a = [v for v in a if -2**31 <= v < 2**31]
    mult, shift = divider_constants(d)
    got = [q for q, _ in _run([(v, mult, shift) for v in a], gap=2)]
    assert got == [int(tdiv(np.array([v]), d)[0]) for v in a]
